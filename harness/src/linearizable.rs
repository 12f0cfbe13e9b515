//! PLACEHOLDER until the checker API lands (replaced before commit).
use crate::checker::Checker;
use crate::recording::Recording;
use faultline_checkers::Finding;

pub struct Linearizable;

impl Checker for Linearizable {
    fn name(&self) -> &'static str {
        "linearizability"
    }
    fn check(&self, _rec: &Recording) -> Vec<Finding> {
        vec![]
    }
}
