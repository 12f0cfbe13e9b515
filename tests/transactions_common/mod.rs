//! Helpers shared by the transaction-model tests (`twopc`, `threepc`, `saga`, `payments`).
#![allow(dead_code)]
use faultline_harness::prelude::*;
use faultline_harness::run::{run, Faults, RunReport, RunRequest};
use faultline_harness::schedule::Schedule;

/// One seed of `model` (bug `bug`) under `schedule`, with `fail_on` added to its guarantees.
pub fn run_seed(
    model: &Model,
    bug: Option<&str>,
    schedule: &str,
    seed: u64,
    fail_on: &[&str],
) -> RunReport {
    let req = RunRequest {
        seed,
        config: model.config(bug),
        faults: Faults::Schedule(Schedule::load(schedule).unwrap()),
        fail_on: fail_on.iter().map(|s| s.to_string()).collect(),
        trace: false,
    };
    run(model, &req).expect("valid run")
}

/// The lowest seed in `0..n` at which `bug` fails under `schedule`. Asserts that the failure is
/// a violation of `checker` (and of no checker outside `allowed`), and that the correct variant
/// passes that very seed.
pub fn found_by(
    model: fn() -> Model,
    bug: &str,
    schedule: &str,
    n: u64,
    checker: &str,
    allowed: &[&str],
) -> u64 {
    let result = Check::new(model())
        .bug(bug)
        .schedule(schedule)
        .seeds(0..n)
        .stop_on_first()
        .run();
    let failure = result
        .first_failure()
        .unwrap_or_else(|| panic!("--bug {bug}: no failure in seeds 0..{n} under {schedule}"));
    let violated = failure.violated_checkers();
    assert!(
        violated.iter().any(|c| c == checker),
        "--bug {bug} seed {}: expected a `{checker}` violation, got {:?}",
        failure.seed,
        failure.violations
    );
    for c in &violated {
        assert!(
            c == checker || allowed.contains(&c.as_str()),
            "--bug {bug} seed {}: unexpected `{c}` violation: {:?}",
            failure.seed,
            failure.violations
        );
    }
    let fixed = run_seed(&model(), None, schedule, failure.seed, &[]);
    assert!(
        fixed.passed,
        "the correct variant fails seed {} too: {:?}",
        failure.seed, fixed.violations
    );
    failure.seed
}
