//! `dynamo`: leaderless replication as in Amazon's Dynamo, Cassandra or Riak. AP.
//!
//! Every key lives on the first `n` nodes clockwise from its hash on a consistent-hash ring.
//! Any node coordinates a client's request: a write is stamped with the coordinator's local
//! clock (last writer wins, ties broken by node id) and sent to the key's replicas; it succeeds
//! once `w` acknowledge it. A read asks the replicas and returns the newest of the first `r`
//! answers. With `r + w > n` the quorums intersect, so without faults reads see the last write.
//!
//! Under a partition the store stays available rather than consistent:
//! - **sloppy quorum**: when fewer than `w` replicas answer, the next nodes on the ring accept
//!   the write on the missing replicas' behalf, as **hints**; if even those cannot be reached,
//!   the coordinator holds the hints itself and still answers (Cassandra's consistency level
//!   ANY): every request that reaches a live node is answered;
//! - **hinted handoff**: hint holders keep delivering hints until the replica takes them;
//! - **read repair**: a read brings the replicas that answered with an older version up to date;
//! - **anti-entropy**: every node periodically compares version digests with every peer for the
//!   keys they share and exchanges whatever differs. Hints live in memory, and a write that
//!   reached `w` replicas is never hinted for the others: only anti-entropy guarantees that
//!   replicas converge once the network heals.
//!
//! Reads during a partition can be stale, and a skewed clock makes last-writer-wins discard a
//! later write: both are reported (`staleness`, `lost-update`), not failed. The guarantees are
//! availability and convergence (`cap`, `convergence`), and the data guarantees every AP store
//! keeps: reads return only values clients wrote (`invented-value`), and an acknowledged write
//! is lost only to another write (`ap-lost-write`; `lost-write`, the CP rule, is reported only).
//!
//! Bug variants:
//! - `no-anti-entropy`: no digest exchange; a replica that missed a write never catches up.
//! - `strict-quorum`: refuses requests when `w` (or `r`) of the key's own replicas cannot be
//!   reached — consistent-ish, but not available, which breaks the AP promise.
mod msg;
mod node;
pub mod ring;
mod store;

use faultline::checker::{
    ApLostWrite, CapClassification, Checker, Convergence, InventedValue, LostUpdate, LostWrite,
};
use faultline::prelude::*;
use msg::Msg;
use std::time::Duration;

/// How long a client waits for one coordinator before trying another.
const ATTEMPT: Duration = Duration::from_millis(300);
/// Coordinators a client tries per operation (the workload's timeout bounds the total).
const ATTEMPTS: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bug {
    None,
    NoAntiEntropy,
    StrictQuorum,
}

/// Replication factor and quorum sizes (`--set n=3,r=2,w=2`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Params {
    pub n: usize,
    pub r: usize,
    pub w: usize,
}

pub struct Dynamo {
    params: Params,
    bug: Bug,
}

impl Dynamo {
    pub fn new(cfg: &ModelConfig) -> Result<Self, String> {
        let bug = match cfg.bug.as_deref() {
            None => Bug::None,
            Some("no-anti-entropy") => Bug::NoAntiEntropy,
            Some("strict-quorum") => Bug::StrictQuorum,
            Some(other) => return Err(format!("unknown bug `{other}`")),
        };
        let n = cfg.param("n", 3usize.min(cfg.nodes))?;
        let r = cfg.param("r", 2usize.min(n))?;
        let w = cfg.param("w", 2usize.min(n))?;
        if n == 0 || n > cfg.nodes {
            return Err(format!(
                "n={n} must be between 1 and the {} nodes",
                cfg.nodes
            ));
        }
        if r == 0 || r > n || w == 0 || w > n {
            return Err(format!("r={r} and w={w} must be between 1 and n={n}"));
        }
        Ok(Dynamo {
            params: Params { n, r, w },
            bug,
        })
    }
}

/// The registered model.
pub fn model() -> Model {
    Model::new("dynamo", Dynamo::new)
        .describe(
            "leaderless quorum replication on a consistent-hash ring: sloppy quorum, hinted \
             handoff, read repair, anti-entropy, last-writer-wins",
        )
        .version("1")
        .param("n", "replicas per key (default 3)")
        .param("r", "replies a read waits for (default 2)")
        .param("w", "acknowledgements a write waits for (default 2)")
        .bug(
            "no-anti-entropy",
            "no digest exchange: replicas that missed a write never converge",
        )
        .bug(
            "strict-quorum",
            "refuses requests when a strict quorum of the key's replicas is unreachable",
        )
        .nodes(5)
}

impl Protocol for Dynamo {
    type Msg = Msg;

    fn wire_codec(&self) -> Option<faultline::protocol::WireCodec<Msg>> {
        Some(faultline::protocol::WireCodec::serde())
    }

    fn buggify_points(&self) -> &'static [&'static str] {
        // handoff-stalls: a hint holder skips a round of hinted handoff; replica-drops-mutation:
        // a replica drops a replicated write it was sent (node.rs).
        &["handoff-stalls", "replica-drops-mutation"]
    }

    fn cap(&self) -> Cap {
        Cap::AP
    }

    async fn node(&self, ctx: NodeCtx<Msg>) {
        node::Node::new(&ctx, self.params, self.bug).run().await;
    }

    /// Sends the request to a random node (every node coordinates); if it does not answer in
    /// time, tries another. A write retried this way is stamped again by the new coordinator:
    /// harmless under last-writer-wins, the value is the same.
    async fn call(&self, c: &ClientCtx<Msg>, id: u64, op: &Invocation) -> Outcome {
        let n = c.servers();
        let mut target = c.rng().gen_range(0..n);
        for _ in 0..ATTEMPTS {
            c.send(target, Msg::Request { id, op: op.clone() });
            while let Some((_, msg)) = c.recv_timeout(ATTEMPT).await {
                if let Msg::Reply { id: rid, result } = msg {
                    if rid == id {
                        return match result {
                            Ok(v) => Outcome::Ok(v),
                            Err(e) => Outcome::Fail(e),
                        };
                    }
                }
            }
            target = (target + 1) % n;
        }
        Outcome::Unknown("no coordinator answered".into())
    }

    /// Stale reads are the AP trade-off, not a failure: no linearizability check (it would only
    /// restate the `staleness` report, at a search's cost).
    // Replaces the standard set: the standard ones but linearizability, which an AP store
    // does not promise (and which would cost the most).
    fn checkers(&self) -> Vec<Box<dyn Checker>> {
        vec![
            Box::new(LostWrite),
            Box::new(ApLostWrite),
            Box::new(InventedValue),
            Box::new(CapClassification),
            Box::new(Convergence),
            Box::new(LostUpdate),
        ]
    }

    /// What the replica `node` holds, for `convergence`.
    async fn inspect(
        &self,
        c: &ClientCtx<Msg>,
        node: usize,
        keys: &[String],
    ) -> Option<serde_json::Value> {
        for _ in 0..ATTEMPTS {
            c.send(
                node,
                Msg::Inspect {
                    keys: keys.to_vec(),
                },
            );
            while let Some((from, msg)) = c.recv_timeout(ATTEMPT).await {
                if let (true, Msg::State { values }) = (from == node, msg) {
                    return Some(serde_json::json!(values));
                }
            }
        }
        None
    }
}
