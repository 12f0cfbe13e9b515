//! The harness-side wrappers of `faultline_checkers::txn`.
use faultline::checker::Requirement;
use faultline::prelude::*;
use faultline::recording::Recording;
use faultline_checkers::txn::{
    atomicity_requirements, blocking_requirements, check_atomicity, check_blocking_with,
    check_client_outcome,
};

/// `atomicity`: no transaction commits at one participant and aborts at another, and none
/// commits without every yes-vote.
pub struct Atomicity;

impl Checker for Atomicity {
    fn name(&self) -> &'static str {
        "atomicity"
    }
    fn check(&self, rec: &Recording) -> Vec<Finding> {
        check_atomicity(&rec.observations)
    }
    fn requires(&self) -> Vec<Requirement> {
        atomicity_requirements()
    }
}

/// `client-outcome`: a transaction the client was told committed is visible at every one of
/// its keys after the heal, an aborted one nowhere (read from the participants' data by the
/// final reads, so it does not depend on what the model chooses to report).
pub struct ClientOutcome;

impl Checker for ClientOutcome {
    fn name(&self) -> &'static str {
        "client-outcome"
    }
    fn check(&self, rec: &Recording) -> Vec<Finding> {
        check_client_outcome(&rec.history, rec.final_process_base)
    }
}

/// `blocking`: a participant in doubt, holding locks, longer than `threshold_ms` while it
/// cannot learn the outcome: the coordinator is down, a partition cuts it off from the
/// coordinator and every peer that knows, or the live coordinator has not decided.
pub struct Blocking {
    pub threshold_ms: u64,
    /// Whether a participant's doubt stops counting when it crashes (3PC: a recovered site may
    /// not decide alone and waits to learn the outcome; 2PC: every wait counts).
    pub recovered_may_wait: bool,
}

impl Checker for Blocking {
    fn name(&self) -> &'static str {
        "blocking"
    }
    fn check(&self, rec: &Recording) -> Vec<Finding> {
        check_blocking_with(
            &rec.observations,
            &rec.down_windows(),
            &rec.partitions(),
            self.threshold_ms * 1_000_000,
            rec.sim_ns,
            self.recovered_may_wait,
        )
    }
    fn requires(&self) -> Vec<Requirement> {
        blocking_requirements()
    }
}
