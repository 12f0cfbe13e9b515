//! The harness-side wrappers of `faultline_checkers::txn`.
use faultline_checkers::txn::{check_atomicity, check_blocking};
use faultline_harness::prelude::*;
use faultline_harness::recording::Recording;

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
}

/// `blocking`: a participant in doubt, holding locks, longer than `threshold_ms` while the
/// coordinator is down.
pub struct Blocking {
    pub threshold_ms: u64,
}

impl Checker for Blocking {
    fn name(&self) -> &'static str {
        "blocking"
    }
    fn check(&self, rec: &Recording) -> Vec<Finding> {
        check_blocking(
            &rec.observations,
            &rec.down_windows(),
            self.threshold_ms * 1_000_000,
            rec.sim_ns,
        )
    }
}
