//! What the atomic-commitment models (`twopc`, `threepc`) share: where keys live, the
//! transaction workload and its client, and the `atomicity` / `blocking` checkers as the harness
//! runs them.
//!
//! Node 0 is the coordinator; participants are nodes `1..=n` (`--nodes n` counts participants,
//! SPEC.md, so each protocol declares `servers(n) = n + 1`). Key `k{i}` lives at participant
//! `1 + i % n`; a transaction writes two or three keys on distinct participants.
mod checks;
mod workload;

pub use checks::{Atomicity, Blocking};
pub use workload::{call, owner, txn_workload};

/// The coordinator's node id.
pub const COORDINATOR: usize = 0;
