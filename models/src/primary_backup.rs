//! `primary-backup`: leader-follower replication as in PostgreSQL, MySQL or MongoDB replica sets.
//!
//! One primary orders every operation in a log and streams it to the followers; an entry commits
//! once a majority holds it durably (fsynced), and only then does the client get its answer.
//! Reads go through the log too, so they are linearizable. When followers stop hearing from the
//! primary, one of them runs a failover round in a higher **epoch** (the fencing token): a majority
//! promises not to accept the old epoch any more and sends its log; the candidate adopts the most
//! up-to-date one (highest epoch in which it was accepted, then the longest — Viewstamped
//! Replication's rule) and installs it on the followers before serving. CP.
//!
//! Bug variants:
//! - `async-ack`: the primary acknowledges a write as soon as it is in its own log, before any
//!   follower has it. A failover then loses acknowledged writes.
//! - `follower-reads`: reads go to any replica and are answered from its local state: stale reads.
//! - `no-fencing`: followers accept the log of a deposed primary (no epoch check), and the old
//!   primary never steps down: split brain after a failover.
use faultline_harness::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const HEARTBEAT: Duration = Duration::from_millis(50);
const ELECTION_MIN_MS: u64 = 300;
const ELECTION_MAX_MS: u64 = 600;

/// One replicated operation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The epoch of the primary that appended it.
    pub epoch: u64,
    /// The client operation id (answers are matched on it).
    pub op_id: u64,
    pub client: usize,
    pub f: String,
    pub key: String,
    pub value: Value,
}

#[derive(Clone, Debug)]
pub enum Msg {
    Request {
        id: u64,
        op: Invocation,
    },
    Reply {
        id: u64,
        result: Result<Value, String>,
    },
    NotPrimary {
        id: u64,
        hint: Option<usize>,
    },
    Prepare {
        epoch: u64,
    },
    PrepareOk {
        epoch: u64,
        normal: u64,
        log: Vec<Entry>,
    },
    Append {
        epoch: u64,
        start: usize,
        entries: Vec<Entry>,
        commit: usize,
    },
    AppendOk {
        epoch: u64,
        len: usize,
    },
    /// The follower needs the whole log (it has not joined this epoch yet, or it is behind).
    AppendNeed {
        epoch: u64,
        from: usize,
    },
    /// The follower has promised a higher epoch: the sender is deposed.
    Deposed {
        epoch: u64,
    },
}

/// What a replica keeps on disk.
#[derive(Clone, Debug, Default)]
struct Durable {
    /// The highest epoch this node has promised (it refuses lower ones).
    promised: u64,
    /// The epoch whose primary's log this node holds.
    normal: u64,
    log: Vec<Entry>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bug {
    None,
    AsyncAck,
    FollowerReads,
    NoFencing,
}

pub struct PrimaryBackup {
    bug: Bug,
}

impl PrimaryBackup {
    pub fn new(cfg: &ModelConfig) -> Result<Self, String> {
        let bug = match cfg.bug.as_deref() {
            None => Bug::None,
            Some("async-ack") => Bug::AsyncAck,
            Some("follower-reads") => Bug::FollowerReads,
            Some("no-fencing") => Bug::NoFencing,
            Some(other) => return Err(format!("unknown bug `{other}`")),
        };
        Ok(PrimaryBackup { bug })
    }
}

/// The registered model.
pub fn model() -> Model {
    Model::new("primary-backup", PrimaryBackup::new)
        .describe(
            "leader-follower replication with majority-durable acks and epoch-fenced failover",
        )
        .version("1")
        .bug(
            "async-ack",
            "acknowledges writes before replicating them: failover loses acknowledged writes",
        )
        .bug(
            "follower-reads",
            "serves reads from any replica's local state: stale reads",
        )
        .bug(
            "no-fencing",
            "followers accept a deposed primary's log: split brain after failover",
        )
        .nodes(5)
}

enum Role {
    Follower,
    Candidate {
        epoch: u64,
        votes: BTreeMap<usize, (u64, Vec<Entry>)>,
    },
    Primary {
        epoch: u64,
        next: Vec<usize>,
        matched: Vec<usize>,
    },
}

struct Replica<'a> {
    ctx: &'a NodeCtx<Msg>,
    bug: Bug,
    d: Durable,
    role: Role,
    commit: usize,
    applied: usize,
    kv: BTreeMap<String, Value>,
    primary_hint: Option<usize>,
    /// Answers owed, by log index (primary only).
    waiting: BTreeMap<usize, (usize, u64)>,
    /// Client op ids in the log: a duplicated or retried request is logged at most once.
    ids: BTreeSet<u64>,
    /// How much of the log the log file holds (`None`: it must be rewritten).
    log_on_disk: Option<usize>,
    election_deadline: Instant,
}

fn majority(n: usize) -> usize {
    n / 2 + 1
}

impl<'a> Replica<'a> {
    fn set_log(&mut self, log: Vec<Entry>) {
        self.ids = log.iter().map(|e| e.op_id).collect();
        self.d.log = log;
        self.log_on_disk = None;
    }

    /// Writes the epochs and the log, then fsyncs. The log file is append-only within an
    /// epoch (one JSON line per entry) and rewritten only when a new epoch replaces it.
    async fn persist(&mut self) {
        let disk = self.ctx.disk();
        disk.put("meta", &(self.d.promised, self.d.normal));
        match self.log_on_disk {
            Some(n) => {
                let mut buf = Vec::new();
                for e in &self.d.log[n..] {
                    serde_json::to_writer(&mut buf, e).expect("entries serialize");
                    buf.push(b'\n');
                }
                disk.append("log", &buf);
            }
            None => {
                let mut buf = Vec::new();
                for e in &self.d.log {
                    serde_json::to_writer(&mut buf, e).expect("entries serialize");
                    buf.push(b'\n');
                }
                disk.write("log", buf);
            }
        }
        self.log_on_disk = Some(self.d.log.len());
        disk.fsync().await;
    }

    fn load(ctx: &NodeCtx<Msg>) -> Durable {
        let disk = ctx.disk();
        let (promised, normal) = disk.get::<(u64, u64)>("meta").unwrap_or_default();
        let log = disk
            .read("log")
            .map(|b| {
                b.split(|&c| c == b'\n')
                    .filter(|l| !l.is_empty())
                    // A crash can tear the last append: the log ends at the first partial line.
                    .map_while(|l| serde_json::from_slice(l).ok())
                    .collect()
            })
            .unwrap_or_default();
        Durable {
            promised,
            normal,
            log,
        }
    }

    fn reset_election(&mut self) {
        let ms = self.ctx.rng().gen_range(ELECTION_MIN_MS..=ELECTION_MAX_MS);
        self.election_deadline = self.ctx.instant() + Duration::from_millis(ms);
    }

    fn epoch_led(&self) -> Option<u64> {
        match &self.role {
            Role::Primary { epoch, .. } => Some(*epoch),
            _ => None,
        }
    }

    /// Applies committed entries; the primary answers the clients waiting on them.
    fn apply(&mut self) {
        while self.applied < self.commit.min(self.d.log.len()) {
            let e = self.d.log[self.applied].clone();
            self.applied += 1;
            let result = match e.f.as_str() {
                "write" => {
                    self.kv.insert(e.key.clone(), e.value.clone());
                    Ok(Value::Null)
                }
                "cas" => {
                    let cur = self.kv.get(&e.key).cloned().unwrap_or(Value::Null);
                    if e.value.get(0) == Some(&cur) {
                        self.kv.insert(e.key.clone(), e.value[1].clone());
                        Ok(Value::Null)
                    } else {
                        Err("cas mismatch".to_string())
                    }
                }
                _ => Ok(self.kv.get(&e.key).cloned().unwrap_or(Value::Null)),
            };
            if let Some((client, id)) = self.waiting.remove(&self.applied) {
                if !(self.bug == Bug::AsyncAck && e.f == "write") {
                    self.ctx.send(client, Msg::Reply { id, result });
                }
            }
        }
    }

    fn step_down(&mut self, epoch: u64) {
        if self.bug == Bug::NoFencing && matches!(self.role, Role::Primary { .. }) {
            return; // the deposed primary never notices
        }
        if epoch > self.d.promised {
            self.d.promised = epoch;
        }
        if !matches!(self.role, Role::Follower) {
            self.role = Role::Follower;
            // Uncommitted requests may still commit under the next primary: the client's
            // timeout reports them as unknown.
            self.waiting.clear();
        }
        self.reset_election();
    }

    async fn start_election(&mut self) {
        let epoch = self.d.promised.max(self.d.normal) + 1;
        self.d.promised = epoch;
        self.persist().await;
        let mut votes = BTreeMap::new();
        votes.insert(self.ctx.id(), (self.d.normal, self.d.log.clone()));
        self.role = Role::Candidate { epoch, votes };
        for p in self.ctx.peers().collect::<Vec<_>>() {
            self.ctx.send(p, Msg::Prepare { epoch });
        }
        self.reset_election();
        self.maybe_win().await;
    }

    async fn maybe_win(&mut self) {
        let n = self.ctx.servers();
        let Role::Candidate { epoch, votes } = &self.role else {
            return;
        };
        if votes.len() < majority(n) {
            return;
        }
        let epoch = *epoch;
        // Viewstamped Replication's rule: the log accepted in the highest epoch, then the longest.
        let (normal, log) = votes
            .values()
            .max_by_key(|(normal, log)| (*normal, log.len()))
            .cloned()
            .expect("a majority is not empty");
        let _ = normal;
        self.set_log(log);
        self.d.normal = epoch;
        self.persist().await;
        // `leader-elected` is the kind the nemesis follows for `node: leader`.
        self.ctx.observe(
            "leader-elected",
            &serde_json::json!({"term": epoch, "node": self.ctx.id()}),
        );
        let mut matched = vec![0; n];
        matched[self.ctx.id()] = self.d.log.len();
        self.role = Role::Primary {
            epoch,
            next: vec![0; n],
            matched,
        };
        self.primary_hint = Some(self.ctx.id());
        self.broadcast();
    }

    fn broadcast(&mut self) {
        let Role::Primary { epoch, next, .. } = &self.role else {
            return;
        };
        for p in self.ctx.peers() {
            let start = next[p].min(self.d.log.len());
            self.ctx.send(
                p,
                Msg::Append {
                    epoch: *epoch,
                    start,
                    entries: self.d.log[start..].to_vec(),
                    commit: self.commit,
                },
            );
        }
    }

    fn advance_commit(&mut self) {
        let n = self.ctx.servers();
        let Role::Primary { matched, .. } = &self.role else {
            return;
        };
        let mut m = matched.clone();
        m.sort_unstable_by(|a, b| b.cmp(a));
        let c = m[majority(n) - 1];
        if c > self.commit {
            self.commit = c;
            self.ctx
                .observe("committed", &serde_json::json!({"index": c}));
            self.apply();
        }
    }

    async fn on_request(&mut self, from: usize, id: u64, op: Invocation) {
        let key = op.key.clone().unwrap_or_default();
        if self.bug == Bug::FollowerReads && op.f == "read" {
            let v = self.kv.get(&key).cloned().unwrap_or(Value::Null);
            self.ctx.send(from, Msg::Reply { id, result: Ok(v) });
            return;
        }
        let Some(epoch) = self.epoch_led() else {
            self.ctx.send(
                from,
                Msg::NotPrimary {
                    id,
                    hint: self.primary_hint,
                },
            );
            return;
        };
        if !self.ids.insert(id) {
            return; // a duplicate: the first copy is already in the log
        }
        self.d.log.push(Entry {
            epoch,
            op_id: id,
            client: from,
            f: op.f.clone(),
            key,
            value: op.value,
        });
        let index = self.d.log.len();
        self.waiting.insert(index, (from, id));
        if self.bug == Bug::AsyncAck && op.f == "write" {
            self.ctx.send(
                from,
                Msg::Reply {
                    id,
                    result: Ok(Value::Null),
                },
            );
        }
        self.persist().await;
        if let Role::Primary { matched, .. } = &mut self.role {
            matched[self.ctx.id()] = self.d.log.len();
        }
        self.broadcast();
        self.advance_commit();
    }

    async fn on_append(
        &mut self,
        from: usize,
        epoch: u64,
        start: usize,
        entries: Vec<Entry>,
        commit: usize,
    ) {
        if epoch < self.d.promised && self.bug != Bug::NoFencing {
            self.ctx.send(
                from,
                Msg::Deposed {
                    epoch: self.d.promised,
                },
            );
            return;
        }
        if self.epoch_led().is_some_and(|e| e >= epoch) && from != self.ctx.id() {
            return; // a primary ignores older primaries' appends (it deposes them via its own)
        }
        let mut changed = epoch > self.d.promised;
        if epoch > self.d.promised || !matches!(self.role, Role::Follower) {
            self.step_down(epoch);
        }
        self.primary_hint = Some(from);
        self.reset_election();
        if self.d.normal != epoch {
            if start != 0 {
                self.ctx.send(from, Msg::AppendNeed { epoch, from: 0 });
                return;
            }
            // Joining a new epoch: take the primary's log wholesale.
            changed = true;
            self.set_log(entries);
            self.d.normal = epoch;
            self.commit = 0;
            self.applied = 0;
            self.kv.clear();
        } else {
            if start > self.d.log.len() {
                self.ctx.send(
                    from,
                    Msg::AppendNeed {
                        epoch,
                        from: self.d.log.len(),
                    },
                );
                return;
            }
            // Within one epoch entries at an index never change: only append what is new, so a
            // stale or duplicated message can never shorten the log.
            let have = self.d.log.len() - start;
            let before = self.d.log.len();
            for e in entries.into_iter().skip(have) {
                self.ids.insert(e.op_id);
                self.d.log.push(e);
            }
            changed |= self.d.log.len() != before;
        }
        if changed {
            self.persist().await;
        }
        self.commit = self.commit.max(commit.min(self.d.log.len()));
        self.apply();
        self.ctx.send(
            from,
            Msg::AppendOk {
                epoch,
                len: self.d.log.len(),
            },
        );
    }

    async fn handle(&mut self, from: usize, msg: Msg) {
        match msg {
            Msg::Request { id, op } => self.on_request(from, id, op).await,
            Msg::Prepare { epoch } => {
                if epoch > self.d.promised {
                    self.step_down(epoch);
                    self.d.promised = epoch;
                    self.persist().await;
                    self.ctx.send(
                        from,
                        Msg::PrepareOk {
                            epoch,
                            normal: self.d.normal,
                            log: self.d.log.clone(),
                        },
                    );
                }
            }
            Msg::PrepareOk { epoch, normal, log } => {
                if let Role::Candidate { epoch: e, votes } = &mut self.role {
                    if *e == epoch {
                        votes.insert(from, (normal, log));
                        self.maybe_win().await;
                    }
                }
            }
            Msg::Append {
                epoch,
                start,
                entries,
                commit,
            } => self.on_append(from, epoch, start, entries, commit).await,
            Msg::AppendOk { epoch, len } => {
                if let Role::Primary {
                    epoch: e,
                    next,
                    matched,
                } = &mut self.role
                {
                    if *e == epoch {
                        matched[from] = matched[from].max(len);
                        next[from] = next[from].max(len);
                        self.advance_commit();
                    }
                }
            }
            Msg::AppendNeed { epoch, from: at } => {
                if let Role::Primary { epoch: e, next, .. } = &mut self.role {
                    if *e == epoch {
                        next[from] = at;
                    }
                }
            }
            Msg::Deposed { epoch } => {
                if epoch > self.d.promised || self.epoch_led().is_some_and(|e| e < epoch) {
                    self.step_down(epoch);
                    self.persist().await;
                }
            }
            Msg::Reply { .. } | Msg::NotPrimary { .. } => {}
        }
    }
}

impl Protocol for PrimaryBackup {
    type Msg = Msg;

    fn cap(&self) -> Cap {
        Cap::CP
    }

    async fn node(&self, ctx: NodeCtx<Msg>) {
        let d = Replica::load(&ctx);
        let mut r = Replica {
            ctx: &ctx,
            bug: self.bug,
            d,
            role: Role::Follower,
            commit: 0,
            applied: 0,
            kv: BTreeMap::new(),
            primary_hint: None,
            waiting: BTreeMap::new(),
            ids: BTreeSet::new(),
            log_on_disk: None,
            election_deadline: ctx.instant(),
        };
        let log = std::mem::take(&mut r.d.log);
        r.set_log(log);
        r.log_on_disk = Some(r.d.log.len());
        r.reset_election();
        if ctx.id() == 0 && r.d.promised == 0 {
            // A fresh cluster: node 0 stands first, so runs start with a primary quickly.
            r.election_deadline = ctx.instant() + Duration::from_millis(10);
        }
        let mut next_beat = ctx.instant() + HEARTBEAT;
        loop {
            let deadline = if r.epoch_led().is_some() {
                next_beat
            } else {
                r.election_deadline
            };
            match ctx.recv_until(deadline).await {
                Some((from, msg)) => r.handle(from, msg).await,
                None if r.epoch_led().is_some() => {
                    r.broadcast();
                    next_beat = ctx.instant() + HEARTBEAT;
                }
                None => r.start_election().await,
            }
            if r.epoch_led().is_some() && ctx.instant() >= next_beat {
                r.broadcast();
                next_beat = ctx.instant() + HEARTBEAT;
            }
        }
    }

    async fn call(&self, c: &ClientCtx<Msg>, id: u64, op: &Invocation) -> Outcome {
        let n = c.servers();
        let mut target = if self.bug == Bug::FollowerReads && op.f == "read" {
            c.rng().gen_range(0..n)
        } else {
            PREFERRED.with(|p| p.get()).min(n - 1)
        };
        // Follow redirects; the primary logs an op id at most once, so a retried request cannot
        // apply twice. Giving up is still `Unknown`: a duplicated copy may have reached a primary.
        for _ in 0..2 * n {
            c.send(target, Msg::Request { id, op: op.clone() });
            loop {
                match c.recv_timeout(Duration::from_millis(800)).await {
                    None => return Outcome::Unknown("timeout".into()),
                    Some((_, Msg::Reply { id: rid, result })) if rid == id => {
                        PREFERRED.with(|p| p.set(target));
                        return match result {
                            Ok(v) => Outcome::Ok(v),
                            Err(e) => Outcome::Fail(e),
                        };
                    }
                    Some((from, Msg::NotPrimary { id: rid, hint }))
                        if rid == id && from == target =>
                    {
                        target = match hint {
                            Some(h) if h != target => h,
                            _ => (target + 1) % n,
                        };
                        PREFERRED.with(|p| p.set(target));
                        break;
                    }
                    Some(_) => {} // a late answer to an earlier request
                }
            }
        }
        Outcome::Unknown("no primary answered".into())
    }
}

thread_local! {
    /// The client's guess of the primary. Per thread = per seed, so it never leaks across runs.
    static PREFERRED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}
