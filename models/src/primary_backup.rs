//! `primary-backup`: leader-follower replication as in PostgreSQL, MySQL or MongoDB replica sets.
//!
//! One primary orders every operation in a log and streams it to the followers; an entry commits
//! once a majority holds it durably (fsynced), and only then does the client get its answer.
//! Reads go through the log too, so they are linearizable. When followers stop hearing from the
//! primary, one of them runs a failover round in a higher **epoch** (the fencing token): a majority
//! promises not to accept the old epoch any more and sends its log; the candidate adopts the most
//! up-to-date one (highest epoch in which it was accepted, then the longest — Viewstamped
//! Replication's rule) and installs it on the followers before serving. CP. The replication
//! itself lives in [`crate::replication`] (sharded-kv replicates each shard group with it); this
//! module is the register state machine, the client and the bug variants.
//!
//! Bug variants:
//! - `async-ack`: the primary acknowledges a write as soon as it is in its own log, before any
//!   follower has it. A failover then loses acknowledged writes.
//! - `follower-reads`: reads go to any replica and are answered from its local state: stale reads.
//! - `no-fencing`: followers accept the log of a deposed primary (no epoch check), and the old
//!   primary never steps down: split brain after a failover.
//! - `rename-no-dirsync`: a replica replaces its `meta` (promised epoch, log epoch) and `log`
//!   files by the atomic-replace idiom but skips the directory sync after the rename (ALICE's
//!   most common crash vulnerability). A process crash keeps the rename (the page cache
//!   survives); a power loss brings the old files back: a forgotten promise and a log missing
//!   acknowledged entries, so failover loses acknowledged writes. Caught under `power-loss`.
//!
//! Storage: each replica keeps `log` (JSON lines, appended and `sync_data`ed within an epoch) and
//! `meta`; a new epoch's log and every change of the epochs replace their file by writing a
//! temporary file, syncing it, renaming it over the old one and syncing the directory.
//!
//! Workloads: `append` (the default: list-append, where each lost write shows by itself) and
//! `register` (`--workload register`).
use crate::replication::{Flaw, Replica, StateMachine};
use faultline::prelude::*;
use serde_json::Value;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::time::Duration;

pub use crate::replication::{Entry, Msg};

pub struct PrimaryBackup {
    flaw: Flaw,
    /// Client side: the node this client last found to be the primary (each client has its own
    /// protocol value, so this is the client's own guess).
    preferred: Cell<usize>,
    workload: Workload,
}

impl PrimaryBackup {
    pub fn new(cfg: &ModelConfig) -> Result<Self, String> {
        let flaw = match cfg.bug.as_deref() {
            None => Flaw::None,
            Some("async-ack") => Flaw::AsyncAck,
            Some("follower-reads") => Flaw::FollowerReads,
            Some("no-fencing") => Flaw::NoFencing,
            Some("rename-no-dirsync") => Flaw::RenameNoDirsync,
            Some(other) => return Err(format!("unknown bug `{other}`")),
        };
        Ok(PrimaryBackup {
            flaw,
            preferred: Cell::new(0),
            workload: Workload::named(cfg.workload_or(DEFAULT_WORKLOAD))?,
        })
    }
}

/// The workload when `--workload` is not given: list-append sees every lost write.
const DEFAULT_WORKLOAD: &str = "append";

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
        .bug(
            "rename-no-dirsync",
            "replaces its log and epoch files by rename without syncing the directory: a power loss brings the old ones back",
        )
        .workloads(&["append", "register"])
        .nodes(5)
}

/// The replicated state: a register or a list per key, as the workload's operations say.
#[derive(Default)]
struct Kv(BTreeMap<String, Value>);

impl StateMachine for Kv {
    fn apply(&mut self, e: &Entry) -> Result<Value, String> {
        faultline::workload::apply(&mut self.0, &e.f, &e.key, &e.value)
    }

    fn reset(&mut self) {
        self.0.clear();
    }

    fn read_local(&self, key: &str) -> Value {
        self.0.get(key).cloned().unwrap_or(Value::Null)
    }
}

impl Protocol for PrimaryBackup {
    type Msg = Msg;

    // The replica's: slow-fsync, spurious-failover-timeout, reply-lost-after-commit
    // (`crate::replication::POINTS`).
    fn buggify_points(&self) -> &'static [&'static str] {
        crate::replication::POINTS
    }

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

    async fn node(&self, ctx: NodeCtx<Msg>) {
        let members = (0..ctx.servers()).collect();
        let mut r = Replica::new(&ctx, members, self.flaw, Kv::default());
        loop {
            match ctx.recv_until(r.deadline()).await {
                Some((from, msg)) => r.handle(from, msg).await,
                None => r.on_timeout().await,
            }
            r.after_event();
        }
    }

    fn workload(&self) -> Workload {
        self.workload.clone()
    }

    async fn call(&self, c: &ClientCtx<Msg>, id: u64, op: &Invocation) -> Outcome {
        let n = c.servers();
        let mut target = if self.flaw == Flaw::FollowerReads && op.f == "read" {
            c.rng().gen_range(0..n)
        } else {
            self.preferred.get().min(n - 1)
        };
        // Follow redirects; the primary logs an op id at most once, so a retried request cannot
        // apply twice. Giving up is still `Unknown`: a duplicated copy may have reached a primary.
        for _ in 0..2 * n {
            c.send(target, Msg::Request { id, op: op.clone() });
            loop {
                match c.recv_timeout(Duration::from_millis(800)).await {
                    None => return Outcome::Unknown("timeout".into()),
                    Some((_, Msg::Reply { id: rid, result })) if rid == id => {
                        self.preferred.set(target);
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
                        self.preferred.set(target);
                        break;
                    }
                    Some(_) => {} // a late answer to an earlier request
                }
            }
        }
        Outcome::Unknown("no primary answered".into())
    }
}
