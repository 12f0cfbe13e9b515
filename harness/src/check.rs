//! Running many seeds from a user's own `cargo test`.
use crate::model::Model;
use crate::run::{run, Faults, RunReport, RunRequest};
use crate::schedule::Schedule;
use std::ops::Range;

/// A batch of seeds against one model, for tests.
///
/// ```no_run
/// # use faultline_harness::prelude::*;
/// # fn model() -> Model { unimplemented!() }
/// let result = Check::new(model()).seeds(0..100).schedule("partitions").run();
/// result.assert_ok();
/// ```
pub struct Check {
    model: Model,
    seeds: Range<u64>,
    schedule: String,
    bug: Option<String>,
    fail_on: Vec<String>,
    ops: Option<usize>,
    stop_on_first: bool,
}

/// The outcome of a [`Check`]: the failing runs, lowest seed first.
pub struct CheckResult {
    pub seeds_run: u64,
    pub failures: Vec<RunReport>,
}

impl Check {
    pub fn new(model: Model) -> Check {
        Check {
            model,
            seeds: 0..100,
            schedule: "swarm".into(),
            bug: None,
            fail_on: vec![],
            ops: None,
            stop_on_first: false,
        }
    }

    pub fn seeds(mut self, seeds: Range<u64>) -> Self {
        self.seeds = seeds;
        self
    }

    /// A built-in schedule name or a schedule file path.
    pub fn schedule(mut self, s: &str) -> Self {
        self.schedule = s.into();
        self
    }

    pub fn bug(mut self, b: &str) -> Self {
        self.bug = Some(b.into());
        self
    }

    pub fn fail_on(mut self, checker: &str) -> Self {
        self.fail_on.push(checker.into());
        self
    }

    pub fn ops(mut self, n: usize) -> Self {
        self.ops = Some(n);
        self
    }

    /// Stop at the first failing seed.
    pub fn stop_on_first(mut self) -> Self {
        self.stop_on_first = true;
        self
    }

    /// Runs the seeds in order. Panics on a configuration error (a test should fail loudly).
    pub fn run(self) -> CheckResult {
        let schedule = Schedule::load(&self.schedule).unwrap_or_else(|e| panic!("{e}"));
        let mut config = self.model.config(self.bug.as_deref());
        if let Some(ops) = self.ops {
            config.ops = ops;
        }
        let mut failures = Vec::new();
        let mut seeds_run = 0;
        for seed in self.seeds {
            let req = RunRequest {
                seed,
                config: config.clone(),
                faults: Faults::Schedule(schedule.clone()),
                fail_on: self.fail_on.clone(),
                trace: false,
            };
            let report = run(&self.model, &req).unwrap_or_else(|e| panic!("{e}"));
            seeds_run += 1;
            if !report.passed {
                failures.push(report);
                if self.stop_on_first {
                    break;
                }
            }
        }
        CheckResult {
            seeds_run,
            failures,
        }
    }
}

impl CheckResult {
    /// Panics with the first failure's seed and violations when any seed failed.
    pub fn assert_ok(&self) {
        if let Some(f) = self.failures.first() {
            panic!(
                "{} of {} seeds failed; first: seed {} ({}): {}",
                self.failures.len(),
                self.seeds_run,
                f.seed,
                f.violated_checkers().join(", "),
                f.violations
                    .first()
                    .map(|v| v.message.as_str())
                    .unwrap_or("")
            );
        }
    }

    /// The lowest failing seed, if any.
    pub fn first_failure(&self) -> Option<&RunReport> {
        self.failures.first()
    }
}
