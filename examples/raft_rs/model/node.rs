//! One server: a raft-rs `RawNode` driven by the harness (ticks from its timers, messages over
//! its network, storage on its disk), with a key-value state machine on top.
use super::storage::Durable;
use super::wal::OnDamage;
use super::{Bug, Msg};
use faultline::prelude::*;
use raft::prelude::{Entry, EntryType, Message};
use raft::storage::MemStorage;
use raft::{Config, RawNode, StateRole};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// The nominal tick. Each tick waits a random 50-150% of it, drawn from the harness's rng: the
/// randomness that makes split votes resolve comes from the seed, not from the OS.
const TICK_MS: u64 = 20;
/// raft-rs's heartbeat and (base) election timeouts, in ticks: ~100 ms and 300-600 ms, as the
/// built-in `raft` model uses.
const HEARTBEAT_TICKS: usize = 5;
const ELECTION_TICKS: usize = 15;
/// `ack-before-fsync`: how long acknowledged writes sit unsynced (an fsync batched on a timer).
const LAZY_FSYNC: Duration = Duration::from_millis(100);

struct Server<'a> {
    ctx: &'a NodeCtx<Msg>,
    bug: Bug,
    raw: RawNode<MemStorage>,
    durable: Durable,
    kv: BTreeMap<String, Value>,
    /// Results of applied operations by op id: a retried request is applied at most once.
    results: BTreeMap<u64, Result<Value, String>>,
    /// Op ids this node proposed and has not applied yet: the client to answer, and the term of
    /// the proposal (a retry in a later term proposes again: the first may have been dropped).
    waiting: BTreeMap<u64, (usize, u64)>,
    /// Commit indices already reported as `committed` (or learned before this node led).
    reported_commit: u64,
    next_tick: Instant,
    /// `ack-before-fsync`: when the pending batched fsync is due.
    lazy_sync: Option<Instant>,
}

/// The server loop of one node, from its durable state. A node whose log holds a damaged record
/// never starts raft-rs: it stays down (every restart finds the same damage).
pub(super) async fn run(ctx: &NodeCtx<Msg>, bug: Bug) {
    let voters: Vec<u64> = (1..=ctx.servers() as u64).collect();
    let on_damage = match bug {
        Bug::TruncateOnCorruption => OnDamage::Truncate,
        _ => OnDamage::Refuse,
    };
    let (mut durable, storage) = match Durable::load(ctx, &voters, on_damage).await {
        Ok(loaded) => loaded,
        Err(c) => {
            // raft-rs trusts its storage and cannot ask peers for one entry: starting on a log
            // with a hole, or on one cut at the damage, could vote or ack against a committed
            // entry. Staying down is safe while only a minority is damaged.
            ctx.observe("wal-corrupt", &json!({"offset": c.offset, "why": c.why}));
            return;
        }
    };
    if bug == Bug::FsyncRetry {
        durable.retry_fsync_blindly();
    }
    let mut cfg = Config {
        id: raft_id(ctx.id()),
        heartbeat_tick: HEARTBEAT_TICKS,
        election_tick: ELECTION_TICKS,
        // Entries are applied from index 1 again after every restart: the state machine lives
        // in memory and is rebuilt from the log.
        applied: 0,
        max_size_per_msg: 1 << 20,
        max_inflight_msgs: 256,
        check_quorum: true,
        pre_vote: true,
        ..Config::default()
    };
    if bug != Bug::ThreadRng {
        // raft-rs draws each election timeout from [min_election_tick, max_election_tick) with
        // `rand::thread_rng()`, which the OS seeds: a one-value range makes the draw constant.
        // The value, per incarnation, and the tick lengths come from the harness's rng.
        let e = ctx.rng().gen_range(ELECTION_TICKS..2 * ELECTION_TICKS);
        cfg.min_election_tick = e;
        cfg.max_election_tick = e + 1;
    }
    let logger = slog::Logger::root(slog::Discard, slog::o!());
    let raw = RawNode::new(&cfg, storage, &logger).expect("a valid raft-rs configuration");
    let reported_commit = raw.raft.raft_log.committed;
    let mut s = Server {
        ctx,
        bug,
        raw,
        durable,
        kv: BTreeMap::new(),
        results: BTreeMap::new(),
        waiting: BTreeMap::new(),
        reported_commit,
        next_tick: ctx.instant(),
        lazy_sync: None,
    };
    s.schedule_tick();
    loop {
        let deadline = s.lazy_sync.map_or(s.next_tick, |t| t.min(s.next_tick));
        match ctx.recv_until(deadline).await {
            Some((from, msg)) => s.handle(from, msg),
            None => {
                let now = ctx.instant();
                if s.lazy_sync.is_some_and(|t| t <= now) {
                    s.lazy_sync = None;
                    s.durable.sync(ctx).await;
                }
                if now >= s.next_tick {
                    s.raw.tick();
                    s.schedule_tick();
                }
            }
        }
        while s.raw.has_ready() {
            s.on_ready().await;
        }
        s.report_commits();
    }
}

/// raft-rs ids start at 1 (0 means "none"); harness node ids at 0.
fn raft_id(node: usize) -> u64 {
    node as u64 + 1
}

fn node_of(raft_id: u64) -> usize {
    usize::try_from(raft_id - 1).expect("raft ids fit")
}

impl Server<'_> {
    fn schedule_tick(&mut self) {
        let ms = self.ctx.rng().gen_range(TICK_MS / 2..=TICK_MS * 3 / 2);
        self.next_tick = self.ctx.instant() + Duration::from_millis(ms);
    }

    fn handle(&mut self, from: usize, msg: Msg) {
        match msg {
            // Errors are messages raft-rs refuses (e.g. from a node it does not know): dropped,
            // as a real transport would.
            Msg::Raft(m) => drop(self.raw.step(*m)),
            Msg::Request { id, op } => self.on_request(from, id, op),
            Msg::Reply { .. } | Msg::NotLeader { .. } => {}
        }
    }

    /// A client operation: proposed through the leader's log, reads included (so every answer
    /// is linearizable), answered when applied.
    fn on_request(&mut self, from: usize, id: u64, op: Invocation) {
        if let Some(result) = self.results.get(&id) {
            let result = result.clone();
            self.ctx.send(from, Msg::Reply { id, result });
            return;
        }
        let term = self.raw.raft.term;
        if self.raw.raft.state == StateRole::Leader {
            if let Some(w) = self.waiting.get_mut(&id) {
                if w.1 == term {
                    w.0 = from; // already proposed in this term: answered when applied
                    return;
                }
            }
            let data = serde_json::to_vec(&(id, &op)).expect("operations serialize");
            if self.raw.propose(Vec::new(), data).is_ok() {
                self.waiting.insert(id, (from, term));
                return;
            }
        }
        let leader = self.raw.raft.leader_id;
        let hint = (leader != 0 && leader != self.raw.raft.id).then(|| node_of(leader));
        self.ctx.send(from, Msg::NotLeader { id, hint });
    }

    fn send_all(&self, msgs: Vec<Message>) {
        for m in msgs {
            self.ctx.send(node_of(m.to), Msg::Raft(Box::new(m)));
        }
    }

    /// One Ready, in raft-rs's documented order: send `messages`, apply committed entries,
    /// append entries and the hard state, **fsync**, send `persisted_messages`, `advance`, then
    /// handle the light Ready (commit index, messages, committed entries) and `advance_apply`.
    async fn on_ready(&mut self) {
        let mut ready = self.raw.ready();
        if let Some(ss) = ready.ss() {
            if ss.raft_state == StateRole::Leader {
                let term = self.raw.raft.term;
                self.ctx.observe("leader-elected", &json!({ "term": term }));
            }
        }
        // A leader's appends may go out before its own copy is durable (Raft allows this).
        self.send_all(ready.take_messages());
        assert!(
            ready.snapshot().is_empty(),
            "the log is never compacted, so no snapshots"
        );
        self.apply(ready.take_committed_entries());
        let volatile = self.bug == Bug::VolatileHardState;
        let store = self.raw.store().clone();
        self.durable.append(&store, ready.entries());
        if let Some(hs) = ready.hs() {
            self.durable.set_hard_state(&store, hs, volatile);
        }
        // Votes and append acknowledgements promise durability: only after the fsync (which
        // returns only once the writes are durable: never on a failed fsync).
        if ready.must_sync() {
            if self.bug == Bug::AckBeforeFsync {
                self.durable.flush(self.ctx).await;
                self.lazy_sync
                    .get_or_insert(self.ctx.instant() + LAZY_FSYNC);
            } else {
                self.durable.sync(self.ctx).await;
            }
        }
        self.send_all(ready.take_persisted_messages());
        let mut light = self.raw.advance(ready);
        if let Some(commit) = light.commit_index() {
            self.durable.set_commit(&store, commit, volatile);
        }
        // Whatever is left staged (a hard state without a sync) reaches the page cache now.
        self.durable.flush(self.ctx).await;
        self.send_all(light.take_messages());
        self.apply(light.take_committed_entries());
        self.raw.advance_apply();
    }

    /// A leader reports every index its commit index moves past (`committed`), as the Raft
    /// checkers expect; indices it learned as a follower were reported by their leader.
    fn report_commits(&mut self) {
        let committed = self.raw.raft.raft_log.committed;
        if self.raw.raft.state == StateRole::Leader {
            while self.reported_commit < committed {
                let Some(fact) = self.durable.fact(self.reported_commit + 1) else {
                    break; // not in the stable log yet: reported after the next Ready
                };
                self.ctx.observe("committed", &fact.json());
                self.reported_commit += 1;
            }
        } else {
            self.reported_commit = self.reported_commit.max(committed);
        }
    }

    /// Applies committed entries to the key-value state machine and answers waiting clients.
    fn apply(&mut self, entries: Vec<Entry>) {
        for e in entries {
            let fact = self
                .durable
                .fact(e.index)
                .expect("committed entries handed to apply are stable");
            let client_op = (!e.data.is_empty() && e.get_entry_type() == EntryType::EntryNormal)
                .then(|| {
                    serde_json::from_slice::<(u64, Invocation)>(&e.data)
                        .expect("entries hold operations")
                });
            // `op` ties the entry to the client operation the history records (null for a new
            // leader's empty entry), so acknowledged writes can be found in the log.
            let mut applied = fact.json();
            applied["op"] = match &client_op {
                Some((_, op)) => json!({"f": op.f, "key": op.key, "value": op.value}),
                None => Value::Null,
            };
            self.ctx.observe("applied", &applied);
            let Some((id, op)) = client_op else {
                continue; // a new leader's empty entry
            };
            let result = match self.results.get(&id) {
                Some(r) => r.clone(), // a retry proposed twice: applied once
                None => {
                    let r = self.execute(&op);
                    self.results.insert(id, r.clone());
                    r
                }
            };
            if let Some((client, _)) = self.waiting.remove(&id) {
                self.ctx.send(client, Msg::Reply { id, result });
            }
        }
    }

    /// The key-value state machine: registers or lists, as the workload's operations say.
    fn execute(&mut self, op: &Invocation) -> Result<Value, String> {
        let key = op.key.as_deref().unwrap_or_default();
        faultline::workload::apply(&mut self.kv, &op.f, key, &op.value)
    }
}
