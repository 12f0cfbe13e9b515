//! Checkers as the harness runs them: pure functions over a [`Recording`].
use crate::recording::Recording;
use faultline_checkers::Finding;

/// Judges one recorded run. Must be a pure function of the recording.
///
/// ```
/// use faultline_harness::{checker::Checker, recording::Recording};
/// use faultline_checkers::{Finding, FindingKind};
/// struct NoPanics;
/// impl Checker for NoPanics {
///     fn name(&self) -> &'static str { "no-panics" }
///     fn check(&self, rec: &Recording) -> Vec<Finding> {
///         rec.panic.iter().map(|p| Finding::new("no-panics", FindingKind::Safety, p.clone())).collect()
///     }
/// }
/// assert!(NoPanics.check(&Recording::default()).is_empty());
/// ```
pub trait Checker: Send + Sync {
    fn name(&self) -> &'static str;
    fn check(&self, rec: &Recording) -> Vec<Finding>;
}

/// `lost-write`: an acknowledged write missing from the final reads.
pub struct LostWrite;

impl Checker for LostWrite {
    fn name(&self) -> &'static str {
        "lost-write"
    }
    fn check(&self, rec: &Recording) -> Vec<Finding> {
        faultline_checkers::lost_write::check_lost_writes(&rec.history, rec.final_process_base)
    }
}

/// The checkers every read/write store gets: linearizability and lost writes.
pub fn standard_kv_checkers() -> Vec<Box<dyn Checker>> {
    vec![
        Box::new(crate::linearizable::Linearizable),
        Box::new(LostWrite),
    ]
}
