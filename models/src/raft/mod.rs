//! `raft`: a key-value store replicated with Raft (Ongaro & Ousterhout, USENIX ATC 2014), the
//! consensus behind etcd, Consul, CockroachDB and TiKV.
//!
//! - **Leader election** with randomized timeouts drawn from the node's seeded rng, so split votes
//!   resolve; a vote goes only to a candidate whose log is at least as up to date as the voter's.
//! - **Log replication**: AppendEntries carries the previous entry's index and term (the
//!   log-matching check); a follower deletes a conflicting suffix before appending. A leader
//!   commits an index once a majority holds it *and* the entry is from its own term (Figure 8:
//!   counting replicas of an older term's entry is unsafe); earlier entries commit with it.
//! - **Durability**: the log is a file of checksummed records (`faultline::records`), appended and
//!   synced before the node acknowledges; term and vote live in two checksummed copies, each
//!   synced before the node answers. A failed write or fsync is never acknowledged: the node
//!   rewrites the file from memory and syncs again (fsyncgate), or answers later.
//! - **Protocol-aware recovery** (PAR, FAST '18): at startup a torn tail is cut off, but a corrupt
//!   record or an unreadable region is never truncated away nor applied: the node keeps those
//!   indices as faulty, fails the leader's consistency check on them so the leader re-sends them,
//!   and neither votes nor stands for election until repaired (see `node.rs` for why that is
//!   safe under a minority corruption budget).
//! - **Clients** are redirected to the leader; each client keeps its own idea of who leads. Writes
//!   go through the log; the state machine applies an operation id at most once, so a retried
//!   request never applies twice. CP.
//! - **Leader leases** (Raft thesis §6.4): the leader answers a read from its applied state, with
//!   no log round trip, while its lease holds: from the send time of the newest AppendEntries
//!   round a majority answered, for the minimum election timeout shortened by the declared drift
//!   bound (`max_drift` 0.2: 300 ms × 0.8/1.2 = 200 ms on its own clock; the argument is at
//!   `node.rs`, `lease_len`), and only once it has committed an entry of its own term. The
//!   followers' half: within the minimum election timeout of hearing from a leader (and of a
//!   restart) a node neither votes for another candidate nor adopts its term, nor stands. A
//!   leader that learns a higher term drops its lease at once (it may vote for the next leader).
//!   Otherwise reads go through the log, so answers are linearizable. There is no pre-vote or
//!   check-quorum: a leader cut off from a majority keeps its role, but its lease lapses and its
//!   reads wait on the log like its writes.
//!
//! Observations: `leader-elected` `{term}` (the nemesis targets `node: leader` with it),
//! `committed` and `applied` `{index, term, digest, chain}` (see `faultline_checkers::raft`).
//!
//! Bug variants, each a classic Raft mistake:
//! - `commit-old-term`: the leader commits an older term's entry by counting replicas (Figure 8).
//! - `no-vote-log-check`: votes are granted without the up-to-date-log check.
//! - `volatile-vote`: term and vote are written but not fsynced before answering.
//! - `ack-before-fsync`: followers acknowledge entries before they are durable (fsyncs batched).
//! - `leader-local-read`: a node that believes it leads answers reads from its own state.
//! - `no-truncate`: followers keep their conflicting entries instead of deleting them.
//! - `ack-unapplied`: the leader acknowledges a write once it is in its own (durable) log, before
//!   it commits: a leader deposed before replicating it loses an acknowledged write.
//! - `no-checksum`: reads its log and metadata without checking checksums, so a bit flip that
//!   still decodes is applied (state machine divergence).
//! - `truncate-on-corruption`: at startup cuts the log at the first corrupt record, as if it were
//!   a torn tail, and votes with the shorter log: committed entries are lost (PAR's finding).
//! - `fsync-retry`: on a failed fsync it retries, and acknowledges when the retry succeeds; the
//!   dirty pages were dropped by the failure, so a power loss loses acknowledged entries
//!   (fsyncgate).
//! - `process-crash-only`: never fsyncs, relying on the page cache: correct under process
//!   crashes, wrong under power loss.
//! - `lease-no-drift-margin`: the lease lasts the whole minimum election timeout, not shortened
//!   by the drift bound: right only while clocks keep true time, stale reads when the leader's
//!   clock runs slow and followers' fast (`lease-drift`; clean with drift 0).
//! - `lease-after-step-down`: a leader that hands leadership over (buggify point
//!   `transfer-leadership`) or learns a higher term keeps answering reads under its lease. The
//!   followers' lease guard lets a new leader be elected inside the old lease only through a
//!   transfer (voters waive the guard for the target of `TimeoutNow`), so it is caught with
//!   `--buggify` (first: seed 38 of `lease-drift` and of `swarm`, 9 and 12 of 500 seeds fail)
//!   and never without it (no failure in some 10,000 seeds: a deposed leader's vote needs a
//!   candidate holding its whole log, and its lease outlasts the election it would join).
//!
//! Workloads: `append` (the default: list-append, where each lost write shows by itself) and
//! `register` (`--workload register`).
//!
//! The default swarm schedule finds `no-truncate`, `leader-local-read`, `no-vote-log-check` and
//! `ack-before-fsync` within a few seeds, `volatile-vote` within a hundred or so. Two need a fault
//! timed against an election, which random schedules rarely produce: `volatile-vote` a power loss
//! just after one (the `power-loss` schedule), `commit-old-term` the three-leader
//! interleaving of Figure 8 (the `leader-churn` schedule). `lease-no-drift-margin` needs drifting
//! clocks around a leader isolation (the `lease-drift` schedule, with six clients).
mod client;
mod log;
mod meta;
mod node;

use faultline::leader::LeaderClient;
use faultline::prelude::*;
use log::Entry;
use serde_json::Value;

/// The wire protocol: client requests, and Raft's two RPCs with their answers.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Msg {
    Request {
        id: u64,
        op: Invocation,
    },
    Reply {
        id: u64,
        result: Result<Value, String>,
    },
    /// The node does not lead; `hint` is the leader it last heard from.
    NotLeader {
        id: u64,
        hint: Option<usize>,
    },
    RequestVote {
        term: u64,
        last_index: usize,
        last_term: u64,
        /// A leadership transfer's election (the candidate was told to stand by its leader,
        /// `TimeoutNow`): voters grant it even within their minimum election timeout of hearing
        /// from that leader (etcd's `campaignTransfer`).
        transfer: bool,
    },
    /// Leadership transfer (Raft thesis §3.10, etcd's `MsgTimeoutNow`): the leader of `term`
    /// tells a follower whose log matches its own to stand for election at once.
    TimeoutNow {
        term: u64,
    },
    Vote {
        term: u64,
        granted: bool,
    },
    Append {
        term: u64,
        prev_index: usize,
        prev_term: u64,
        entries: Vec<Entry>,
        commit: usize,
        /// The leader's log length when it sent this: a follower repairing a lost tail is whole
        /// again once it matches up to here.
        last: usize,
        /// When the leader sent it (ns on its clock since it started): echoed in the answer,
        /// so the leader knows which round a majority acknowledged (its read lease).
        sent: u64,
    },
    /// `matched`: on success, the last index known to match the leader's log; on failure, where
    /// the leader should retry from.
    AppendResp {
        term: u64,
        success: bool,
        matched: usize,
        /// The `sent` of the AppendEntries this answers.
        sent: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bug {
    None,
    CommitOldTerm,
    NoVoteLogCheck,
    VolatileVote,
    AckBeforeFsync,
    LeaderLocalRead,
    NoTruncate,
    AckUnapplied,
    NoChecksum,
    TruncateOnCorruption,
    FsyncRetry,
    ProcessCrashOnly,
    LeaseNoDriftMargin,
    LeaseAfterStepDown,
}

/// The `raft` protocol for one run.
pub struct Raft {
    bug: Bug,
    /// Servers in the cluster.
    nodes: usize,
    workload: Workload,
    /// The client side, one per client process (indexed by its node id): each client keeps its
    /// own idea of who leads, as independent client processes do, so a client that last talked
    /// to a deposed leader goes on asking it while others have moved on (per run: the protocol
    /// is built per seed).
    clients: Vec<LeaderClient>,
}

impl Raft {
    pub fn new(cfg: &ModelConfig) -> Result<Self, String> {
        let bug = match cfg.bug.as_deref() {
            None => Bug::None,
            Some("commit-old-term") => Bug::CommitOldTerm,
            Some("no-vote-log-check") => Bug::NoVoteLogCheck,
            Some("volatile-vote") => Bug::VolatileVote,
            Some("ack-before-fsync") => Bug::AckBeforeFsync,
            Some("leader-local-read") => Bug::LeaderLocalRead,
            Some("no-truncate") => Bug::NoTruncate,
            Some("ack-unapplied") => Bug::AckUnapplied,
            Some("no-checksum") => Bug::NoChecksum,
            Some("truncate-on-corruption") => Bug::TruncateOnCorruption,
            Some("fsync-retry") => Bug::FsyncRetry,
            Some("process-crash-only") => Bug::ProcessCrashOnly,
            Some("lease-no-drift-margin") => Bug::LeaseNoDriftMargin,
            Some("lease-after-step-down") => Bug::LeaseAfterStepDown,
            Some(other) => return Err(format!("unknown bug `{other}`")),
        };
        if cfg.nodes == 0 {
            return Err("raft needs at least one node".into());
        }
        Ok(Raft {
            bug,
            nodes: cfg.nodes,
            workload: Workload::named(cfg.workload_or(DEFAULT_WORKLOAD))?,
            clients: (0..cfg.nodes + cfg.clients.max(1))
                .map(|_| LeaderClient::new())
                .collect(),
        })
    }
}

/// The workload when `--workload` is not given: list-append sees every lost write.
const DEFAULT_WORKLOAD: &str = "append";

/// The registered model.
pub fn model() -> Model {
    Model::new("raft", Raft::new)
        .describe("Raft consensus (election, log replication, durable term/vote/log) under a KV")
        .version("1")
        .bug(
            "commit-old-term",
            "a leader commits an older term's entry by counting replicas (Raft paper, Figure 8)",
        )
        .bug(
            "no-vote-log-check",
            "votes are granted without checking that the candidate's log is up to date",
        )
        .bug(
            "volatile-vote",
            "term and vote are not fsynced before answering: a node can vote twice after a crash",
        )
        .bug(
            "ack-before-fsync",
            "followers acknowledge entries before they are durable (fsyncs batched later)",
        )
        .bug(
            "leader-local-read",
            "a node that believes it leads serves reads from local state: stale after deposition",
        )
        .bug(
            "no-truncate",
            "followers keep conflicting entries instead of deleting them",
        )
        .bug(
            "ack-unapplied",
            "the leader acknowledges a write once it is in its own log, before it commits",
        )
        .bug(
            "no-checksum",
            "reads its log and metadata without checking checksums: applies a corrupted entry",
        )
        .bug(
            "truncate-on-corruption",
            "cuts its log at the first corrupt record at startup, losing committed entries (PAR)",
        )
        .bug(
            "fsync-retry",
            "retries a failed fsync and acknowledges when the retry succeeds (fsyncgate)",
        )
        .bug(
            "process-crash-only",
            "never fsyncs, relying on the page cache: survives a process crash, not a power loss",
        )
        .bug(
            "lease-no-drift-margin",
            "the read lease is not shortened by the drift bound: stale reads when clocks drift",
        )
        .bug(
            "lease-after-step-down",
            "a leader keeps serving lease reads after it hands leadership over or learns a higher term",
        )
        .workloads(&["append", "register"])
        .nodes(5)
        .clients(3)
        .ops(200)
}

impl Protocol for Raft {
    type Msg = Msg;

    fn wire_codec(&self) -> Option<faultline::protocol::WireCodec<Msg>> {
        Some(faultline::protocol::WireCodec::serde())
    }

    fn buggify_points(&self) -> &'static [&'static str] {
        // spurious-election-timeout: a follower's election timer fires at a tenth of the
        // minimum; slow-fsync: a 60 ms stall before a synced log write; transfer-leadership:
        // the leader hands leadership to an up-to-date follower (a rolling restart, a
        // rebalance), the one path on which a new leader is elected within the old lease.
        &[
            "spurious-election-timeout",
            "slow-fsync",
            "transfer-leadership",
        ]
    }

    fn cap(&self) -> Cap {
        Cap::CP
    }

    // Leader leases are shortened by this bound (node.rs, `lease_len`): a clock that drifts
    // further breaks them, so the nemesis keeps clock-skew within it.
    fn max_drift(&self) -> f64 {
        node::MAX_DRIFT
    }

    // A committed entry is durable on a majority, and a node whose storage is damaged neither
    // votes nor stands until repaired (protocol-aware recovery): a minority may be struck.
    fn corruption_budget(&self) -> usize {
        (self.nodes - 1) / 2
    }

    // Elected leaders (`leader-elected`): swarm aims crashes, pauses and isolations at them.
    fn roles(&self) -> Roles {
        Roles::LEADER
    }

    async fn node(&self, ctx: NodeCtx<Msg>) {
        node::run(&ctx, self.bug).await
    }

    async fn call(&self, c: &ClientCtx<Msg>, id: u64, op: &Invocation) -> Outcome {
        client::call(self, c, id, op).await
    }

    fn workload(&self) -> Workload {
        self.workload.clone()
    }

    fn guarantees(&self) -> Vec<&'static str> {
        // A CP store's: linearizability, lost-write, cap (a CP store answering
        // non-linearizably breaks its CAP choice too), liveness and progress.
        let mut g = faultline::protocol::standard_guarantees(Cap::CP);
        g.extend(faultline_checkers::raft::ALL);
        g
    }

    // Raft's own safety properties on top of the standard read/write checkers.
    fn extra_checkers(&self) -> Vec<Box<dyn Checker>> {
        faultline::checker::raft_checkers()
    }
}
