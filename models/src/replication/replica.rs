//! One member of a replication group: its durable log and epochs, its role, and the handlers
//! for the replication messages and timeouts.
use super::store::Store;
use super::{Entry, Msg, StateMachine};
use faultline::prelude::*;
use faultline::Message;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const HEARTBEAT: Duration = Duration::from_millis(50);
const ELECTION_MIN_MS: u64 = 300;
const ELECTION_MAX_MS: u64 = 600;
/// How long a `slow-fsync` stalls a durable write.
const SLOW_FSYNC: Duration = Duration::from_millis(60);
/// The rate of `spurious-failover-timeout`, reached at every heartbeat: rare in time (at
/// buggify's default 1/4 a member would stand at every fourth heartbeat: constant failovers).
const RARE_PER_HEARTBEAT: f64 = 0.01;
/// The rate of `slow-fsync`, reached at every durable write (at 1/4 the disk is simply slow).
const RARE_PER_WRITE: f64 = 0.05;

/// The [buggify](faultline::NodeCtx::buggify) points a replica reaches; a model built on
/// [`Replica`] declares them in its `Protocol::buggify_points`.
/// - `slow-fsync` (at 1/20 of writes): a 60 ms stall before the log and epochs are made durable (a slow disk on one
///   call): the node answers nothing meanwhile, and the group moves on (failovers, retries).
/// - `spurious-failover-timeout` (at 1/100 of heartbeats): a member's failover timer fires at a tenth of its minimum (a
///   late heartbeat, a GC pause on the receiving side): it runs a failover round although its
///   primary is alive.
/// - `reply-lost-after-commit`: the primary applies a committed entry and its answer to the
///   client is lost (a connection reset after the commit): the client sees a timeout and must
///   treat the operation as indeterminate.
pub const POINTS: &[&str] = &[
    "slow-fsync",
    "spurious-failover-timeout",
    "reply-lost-after-commit",
];

/// Deliberate flaws (the `primary-backup` bug variants).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flaw {
    None,
    /// Acknowledge a write as soon as it is in the primary's own log.
    AsyncAck,
    /// Answer reads from any replica's local state.
    FollowerReads,
    /// Accept a deposed primary's log, and never step down as primary.
    NoFencing,
    /// Replace the log and metadata files by rename without syncing the directory: a power
    /// loss brings the old files back (the promise and the log this node acknowledged).
    RenameNoDirsync,
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

/// A group member. `M` is the node's message type; `S` the state machine its log drives.
pub struct Replica<'a, M: Message, S> {
    ctx: &'a NodeCtx<M>,
    /// The group's members (node ids, ascending), this node included.
    members: Vec<usize>,
    flaw: Flaw,
    d: Durable,
    role: Role,
    commit: usize,
    applied: usize,
    sm: S,
    primary_hint: Option<usize>,
    /// Answers owed, by log index (primary only).
    waiting: BTreeMap<usize, (usize, u64)>,
    /// Client op ids in the log: a duplicated or retried request is logged at most once.
    ids: BTreeSet<u64>,
    /// The log and metadata files.
    store: Store<M>,
    election_deadline: Instant,
    next_beat: Instant,
}

/// `async-ack` answers writes and appends (which need no result from the state machine) as soon
/// as they are logged.
fn acked_early(f: &str) -> bool {
    matches!(f, "write" | "append")
}

fn majority(n: usize) -> usize {
    n / 2 + 1
}

impl<'a, M: Message + From<Msg>, S: StateMachine> Replica<'a, M, S> {
    /// Loads the durable state and starts as a follower. A fresh group's first member stands
    /// first, so runs start with a primary quickly.
    pub fn new(ctx: &'a NodeCtx<M>, members: Vec<usize>, flaw: Flaw, sm: S) -> Self {
        let (store, loaded) = Store::load(ctx, flaw != Flaw::RenameNoDirsync);
        let d = Durable {
            promised: loaded.promised,
            normal: loaded.normal,
            log: Vec::new(),
        };
        let mut r = Replica {
            ctx,
            members,
            flaw,
            d,
            role: Role::Follower,
            commit: 0,
            applied: 0,
            sm,
            primary_hint: None,
            waiting: BTreeMap::new(),
            ids: BTreeSet::new(),
            store,
            election_deadline: ctx.instant(),
            next_beat: ctx.instant(),
        };
        r.ids = loaded.log.iter().map(|e| e.op_id).collect();
        r.d.log = loaded.log;
        r.reset_election();
        if r.members.first() == Some(&ctx.id()) && r.d.promised == 0 {
            r.election_deadline = ctx.instant() + Duration::from_millis(10);
        }
        r.next_beat = ctx.instant() + HEARTBEAT;
        r
    }

    fn send(&self, to: usize, msg: Msg) {
        self.ctx.send(to, M::from(msg));
    }

    fn others(&self) -> impl Iterator<Item = usize> + '_ {
        let me = self.ctx.id();
        self.members.iter().copied().filter(move |&p| p != me)
    }

    /// This node's id.
    pub fn id(&self) -> usize {
        self.ctx.id()
    }

    /// The state machine as applied so far.
    pub fn state(&self) -> &S {
        &self.sm
    }

    /// When this replica next needs [`Replica::on_timeout`].
    pub fn deadline(&self) -> Instant {
        if self.epoch_led().is_some() {
            self.next_beat
        } else {
            self.election_deadline
        }
    }

    /// The deadline passed: a primary sends heartbeats, anyone else stands for election.
    pub async fn on_timeout(&mut self) {
        if self.epoch_led().is_some() {
            self.broadcast();
            self.next_beat = self.ctx.instant() + HEARTBEAT;
        } else {
            self.start_election().await;
        }
    }

    /// After any event: a primary busy with messages still sends its heartbeats on time.
    pub fn after_event(&mut self) {
        if self.epoch_led().is_some() && self.ctx.instant() >= self.next_beat {
            self.broadcast();
            self.next_beat = self.ctx.instant() + HEARTBEAT;
        }
    }

    fn set_log(&mut self, log: Vec<Entry>) {
        self.ids = log.iter().map(|e| e.op_id).collect();
        self.d.log = log;
        self.store.log_replaced();
    }

    /// Makes the log and the epochs durable (see [`Store::persist`]).
    async fn persist(&mut self) {
        let ctx = self.ctx;
        if ctx.buggify_rate("slow-fsync", RARE_PER_WRITE) {
            ctx.sleep(SLOW_FSYNC).await;
        }
        self.store
            .persist(ctx, self.d.promised, self.d.normal, &self.d.log)
            .await;
    }

    fn reset_election(&mut self) {
        let mut ms = self.ctx.rng().gen_range(ELECTION_MIN_MS..=ELECTION_MAX_MS);
        if self
            .ctx
            .buggify_rate("spurious-failover-timeout", RARE_PER_HEARTBEAT)
        {
            ms = ELECTION_MIN_MS / 10;
        }
        self.election_deadline = self.ctx.instant() + Duration::from_millis(ms);
    }

    /// The epoch this node leads, if it is the primary.
    pub fn epoch_led(&self) -> Option<u64> {
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
            let result = self.sm.apply(&e);
            if let Some((client, id)) = self.waiting.remove(&self.applied) {
                let acked = self.flaw == Flaw::AsyncAck && acked_early(&e.f);
                // The answer is lost after the commit (a connection reset): the client times
                // out and must count the operation indeterminate.
                let lost = !acked && self.ctx.buggify("reply-lost-after-commit");
                if !acked && !lost {
                    self.send(client, Msg::Reply { id, result });
                }
            }
        }
    }

    fn step_down(&mut self, epoch: u64) {
        if self.flaw == Flaw::NoFencing && matches!(self.role, Role::Primary { .. }) {
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
        for p in self.others().collect::<Vec<_>>() {
            self.send(p, Msg::Prepare { epoch });
        }
        self.reset_election();
        self.maybe_win().await;
    }

    async fn maybe_win(&mut self) {
        let n = self.ctx.servers();
        let Role::Candidate { epoch, votes } = &self.role else {
            return;
        };
        if votes.len() < majority(self.members.len()) {
            return;
        }
        let epoch = *epoch;
        // Viewstamped Replication's rule: the log accepted in the highest epoch, then the longest.
        let (_, log) = votes
            .values()
            .max_by_key(|(normal, log)| (*normal, log.len()))
            .cloned()
            .expect("a majority is not empty");
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
        for p in self.others() {
            let start = next[p].min(self.d.log.len());
            self.send(
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
        let Role::Primary { matched, .. } = &self.role else {
            return;
        };
        let mut m: Vec<usize> = self.members.iter().map(|&p| matched[p]).collect();
        m.sort_unstable_by(|a, b| b.cmp(a));
        let c = m[majority(self.members.len()) - 1];
        if c > self.commit {
            self.commit = c;
            self.ctx
                .observe("committed", &serde_json::json!({"index": c}));
            self.apply();
        }
    }

    async fn on_request(&mut self, from: usize, id: u64, op: Invocation) {
        let key = op.key.clone().unwrap_or_default();
        if self.flaw == Flaw::FollowerReads && op.f == "read" {
            let v = self.sm.read_local(&key);
            self.send(from, Msg::Reply { id, result: Ok(v) });
            return;
        }
        let Some(epoch) = self.epoch_led() else {
            self.send(
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
        if self.flaw == Flaw::AsyncAck && acked_early(&op.f) {
            self.send(
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
        if epoch < self.d.promised && self.flaw != Flaw::NoFencing {
            self.send(
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
                self.send(from, Msg::AppendNeed { epoch, from: 0 });
                return;
            }
            // Joining a new epoch: take the primary's log wholesale.
            changed = true;
            self.set_log(entries);
            self.d.normal = epoch;
            self.commit = 0;
            self.applied = 0;
            self.sm.reset();
        } else {
            if start > self.d.log.len() {
                self.send(
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
        self.send(
            from,
            Msg::AppendOk {
                epoch,
                len: self.d.log.len(),
            },
        );
    }

    /// Handles one replication or client message.
    pub async fn handle(&mut self, from: usize, msg: Msg) {
        match msg {
            Msg::Request { id, op } => self.on_request(from, id, op).await,
            Msg::Prepare { epoch } => {
                if epoch > self.d.promised {
                    self.step_down(epoch);
                    self.d.promised = epoch;
                    self.persist().await;
                    self.send(
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
