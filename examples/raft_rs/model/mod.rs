//! `raft-rs`: tikv's production Raft library (the `raft` crate, 0.7) under a key-value store,
//! driven through Faultline's public API only — the way a user plugs in code they did not write
//! for the harness.
//!
//! - Each server owns a `RawNode` over a `MemStorage` rebuilt at every (re)start from a
//!   write-ahead log of checksummed records on the harness disk (`storage.rs`, `wal.rs`: entries,
//!   hard state, configuration). A torn tail is cut; a damaged record keeps the node down.
//! - raft-rs is ticked from the harness's timers and its messages travel over the harness's
//!   network, so partitions, loss, duplication, delay and crashes all reach it.
//! - The Ready loop follows raft-rs's documented order (`node.rs`), with the fsync before
//!   `persisted_messages` are sent.
//! - Clients propose every operation, reads included, through the leader's log, so answers are
//!   linearizable; the state machine applies an op id at most once. CP.
//! - Observations for the Raft checkers: `leader-elected` `{term}`, `committed` (by the leader)
//!   and `applied` `{index, term, digest, chain}`.
//!
//! **Determinism.** raft-rs draws election timeouts from `rand::thread_rng()`, which the OS
//! seeds through a raw `getrandom` syscall that madsim does not intercept: the same seed would
//! give different runs. The driver pins `min_election_tick`/`max_election_tick` to a one-value
//! range, so raft-rs's draw is constant, and takes the randomness from the harness instead (the
//! value per incarnation, and a jittered tick length). `--bug thread-rng` keeps raft-rs's own
//! randomized timeouts: `run --check-determinism` fails on it.
//!
//! Misuse variants (the driver's mistakes, not raft-rs's):
//! - `ack-before-fsync`: `persisted_messages` (votes, append acknowledgements) are sent before
//!   the entries and hard state are fsynced; the fsync is batched 100 ms later.
//! - `volatile-hardstate`: the hard state (term, vote, commit) is never written to disk.
//! - `thread-rng`: raft-rs's `thread_rng` election timeouts (nondeterministic, not unsafe).
//! - `truncate-on-corruption`: a boot cuts a damaged log at the first bad record and starts on
//!   the prefix, forgetting acknowledged entries, votes and terms (the correct driver refuses to
//!   start, `wal.rs`).
//! - `fsync-retry`: a failed fsync is retried without writing the dropped bytes again, and its
//!   success is taken for durability (fsyncgate).
//!
//! A panic raft-rs raises under misuse ("to_commit 7 is out of range [last_index 5]") is a `panic`
//! violation carrying its message.
mod client;
mod node;
mod storage;
mod wal;

use faultline::leader::LeaderClient;
use faultline::prelude::*;
use serde_json::Value;

/// The wire: raft-rs's own messages between servers, and the client protocol. Under `--wire
/// serde` a raft-rs message travels as its protobuf encoding, as raft-rs's users send it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Msg {
    Raft(#[serde(with = "protobuf_bytes")] Box<raft::prelude::Message>),
    Request {
        id: u64,
        op: Invocation,
    },
    Reply {
        id: u64,
        result: Result<Value, String>,
    },
    /// The node does not lead; `hint` is the leader it knows of.
    NotLeader {
        id: u64,
        hint: Option<usize>,
    },
}

/// A raft-rs message as the bytes of its protobuf encoding.
mod protobuf_bytes {
    use protobuf::Message as _;
    use raft::prelude::Message;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(m: &Message, s: S) -> Result<S::Ok, S::Error> {
        m.write_to_bytes()
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Box<Message>, D::Error> {
        let bytes = Vec::<u8>::deserialize(d)?;
        Message::parse_from_bytes(&bytes)
            .map(Box::new)
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bug {
    None,
    AckBeforeFsync,
    VolatileHardState,
    ThreadRng,
    TruncateOnCorruption,
    FsyncRetry,
}

/// The protocol for one run.
pub struct RaftRs {
    bug: Bug,
    /// `append` by default (list-append sees every lost write); `--workload register`.
    workload: Workload,
    /// The client side: find the leader, follow redirects, retry on silence.
    client: LeaderClient,
    /// Server nodes in the run (for the corruption budget).
    servers: usize,
}

impl RaftRs {
    pub fn new(cfg: &ModelConfig) -> Result<Self, String> {
        let bug = match cfg.bug.as_deref() {
            None => Bug::None,
            Some("ack-before-fsync") => Bug::AckBeforeFsync,
            Some("volatile-hardstate") => Bug::VolatileHardState,
            Some("thread-rng") => Bug::ThreadRng,
            Some("truncate-on-corruption") => Bug::TruncateOnCorruption,
            Some("fsync-retry") => Bug::FsyncRetry,
            Some(other) => return Err(format!("unknown bug `{other}`")),
        };
        if cfg.nodes == 0 {
            return Err("raft-rs needs at least one node".into());
        }
        Ok(RaftRs {
            bug,
            workload: Workload::named(cfg.workload_or("append"))?,
            client: LeaderClient::new(),
            servers: cfg.nodes,
        })
    }
}

/// The registered model.
pub fn model() -> Model {
    Model::new("raft-rs", RaftRs::new)
        .describe("tikv's raft-rs 0.7 (RawNode, storage on the harness disk) under a KV")
        .version("1")
        .bug(
            "ack-before-fsync",
            "persisted_messages (votes, append acks) are sent before the fsync, batched 100 ms later",
        )
        .bug(
            "volatile-hardstate",
            "the hard state (term, vote, commit) is never written to disk",
        )
        .bug(
            "thread-rng",
            "raft-rs picks election timeouts with rand::thread_rng: runs are not reproducible",
        )
        .bug(
            "truncate-on-corruption",
            "a boot cuts the log at its first damaged record and starts raft-rs on the prefix",
        )
        .bug(
            "fsync-retry",
            "a failed fsync (which dropped the unsynced writes) is retried as is and its success acknowledged",
        )
        .workloads(&["append", "register"])
        .nodes(5)
        .clients(3)
        .ops(200)
}

impl Protocol for RaftRs {
    type Msg = Msg;

    fn wire_codec(&self) -> Option<faultline::protocol::WireCodec<Msg>> {
        Some(faultline::protocol::WireCodec::serde())
    }

    fn cap(&self) -> Cap {
        Cap::CP
    }

    // Elected leaders (`leader-elected`): swarm aims crashes, pauses and isolations at them.
    fn roles(&self) -> Roles {
        Roles::LEADER
    }

    // A node whose log is damaged stays down (it detects the damage and refuses to start), and
    // every entry raft-rs acknowledges is durable on a majority: a minority of damaged nodes
    // still leaves an intact copy of every committed entry on every majority, so the largest
    // minority may be struck.
    fn corruption_budget(&self) -> usize {
        self.servers.saturating_sub(1) / 2
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
        let mut g = faultline::protocol::standard_guarantees(Cap::CP);
        g.extend(faultline::checkers::raft::ALL);
        g
    }

    // Raft's own safety properties on top of the standard read/write checkers.
    fn extra_checkers(&self) -> Vec<Box<dyn Checker>> {
        faultline::checker::raft_checkers()
    }
}
