//! What the atomic-commitment models (`twopc`, `threepc`) share: where keys live, the
//! transaction workload and its client, the messages both exchange, the coordinator's log and
//! decision announcements, the participants' locks, votes and durable state, and the
//! `atomicity` / `blocking` checkers as the harness runs them.
//!
//! Node 0 is the coordinator; participants are nodes `1..=n` (`--nodes n` counts participants,
//! docs/reference.md, so each protocol declares `servers(n) = n + 1`). Key `k{i}` lives at participant
//! `1 + i % n`; a transaction writes two or three keys on distinct participants.
mod checks;
pub mod coordinator;
mod msg;
pub mod participant;
mod workload;

pub use checks::{Atomicity, Blocking, ClientOutcome};
pub(crate) use msg::commit_msg;
pub use msg::{CommitMsg, Data};
pub use workload::{call, owner, txn_workload};

use faultline::prelude::*;
use faultline::Message;
use std::time::Duration;

/// The coordinator's node id.
pub const COORDINATOR: usize = 0;

/// When a node with timers due at `deadlines` next wakes: the earliest, or in a second if none.
pub fn wake_at<M: Message>(ctx: &NodeCtx<M>, deadlines: impl Iterator<Item = Instant>) -> Instant {
    deadlines
        .min()
        .unwrap_or_else(|| ctx.instant() + Duration::from_secs(1))
}

/// The most participants one transaction touches.
pub const MAX_PARTICIPANTS: usize = 3;

/// How long a participant in doubt holding locks may wait for a dead coordinator before the
/// `blocking` checker reports it.
pub const BLOCKING_THRESHOLD_MS: u64 = 1000;

/// A commit protocol's registration: `--nodes` (participants) defaults to 3.
pub fn model<P, F>(name: &str, factory: F, description: &str) -> Model
where
    P: Protocol,
    F: Fn(&ModelConfig) -> Result<P, String> + Send + Sync + 'static,
{
    Model::new(name, factory)
        .describe(description)
        .version("1")
        .nodes(3)
}

/// The checkers both protocols run: `atomicity`, `client-outcome` and `blocking` (a participant
/// in doubt longer than `blocking_ms`; with `recovered_may_wait`, not counting its doubt after
/// its own crash).
pub fn checkers(blocking_ms: u64, recovered_may_wait: bool) -> Vec<Box<dyn Checker>> {
    vec![
        Box::new(Atomicity),
        Box::new(ClientOutcome),
        Box::new(Blocking {
            threshold_ms: blocking_ms,
            recovered_may_wait,
        }),
    ]
}
