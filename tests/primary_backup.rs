//! `primary-backup`: each bug variant is found within a bounded number of swarm seeds, by the
//! checker the bug should trip, and the correct protocol passes the very seed that caught it.
use faultline_harness::prelude::*;
use faultline_harness::run::{run, Faults, RunReport, RunRequest};
use faultline_harness::schedule::Schedule;
use faultline_models::primary_backup::model;

/// Runs one seed of the correct variant under the default (swarm) schedule.
fn correct_run(seed: u64) -> RunReport {
    let m = model();
    let req = RunRequest {
        seed,
        config: m.config(None),
        faults: Faults::Schedule(Schedule::load("swarm").unwrap()),
        fail_on: vec![],
        trace: false,
    };
    run(&m, &req).expect("valid run")
}

/// Finds the first failing seed of `bug` in `0..n`, checks its violations, and checks that the
/// correct variant passes that seed.
fn found_by(bug: &str, n: u64, must: &[&str], allowed: &[&str]) -> u64 {
    let result = Check::new(model())
        .bug(bug)
        .seeds(0..n)
        .stop_on_first()
        .run();
    let failure = result
        .first_failure()
        .unwrap_or_else(|| panic!("--bug {bug}: no failure in seeds 0..{n}"));
    let checkers = failure.violated_checkers();
    for c in must {
        assert!(
            checkers.iter().any(|x| x == c),
            "--bug {bug} seed {}: expected a `{c}` violation, got {checkers:?}",
            failure.seed
        );
    }
    for c in &checkers {
        assert!(
            allowed.contains(&c.as_str()),
            "--bug {bug} seed {}: unexpected `{c}` violation: {:?}",
            failure.seed,
            failure.violations
        );
    }
    assert_eq!(failure.config.bug.as_deref(), Some(bug));
    let fixed = correct_run(failure.seed);
    assert!(
        fixed.passed,
        "the correct variant fails seed {} too: {:?}",
        failure.seed, fixed.violations
    );
    failure.seed
}

#[test]
fn async_ack_loses_acknowledged_writes() {
    // Acknowledging before replicating: a failover loses acknowledged writes, which the final
    // reads show (lost-write) and which no linearization explains.
    found_by(
        "async-ack",
        60,
        &["lost-write", "linearizability"],
        &["lost-write", "linearizability"],
    );
}

#[test]
fn follower_reads_are_stale() {
    // Stale reads lose nothing: only linearizability fires.
    found_by(
        "follower-reads",
        10,
        &["linearizability"],
        &["linearizability"],
    );
}

#[test]
fn no_fencing_splits_the_brain() {
    // A deposed primary keeps accepting writes: two primaries order operations differently.
    found_by(
        "no-fencing",
        150,
        &["linearizability"],
        &["linearizability", "lost-write"],
    );
}

#[test]
fn the_correct_variant_passes_swarm() {
    let result = Check::new(model()).seeds(0..100).run();
    assert_eq!(result.seeds_run, 100);
    result.assert_ok();
}

#[test]
fn the_correct_variant_passes_a_partition_heavy_schedule() {
    let result = Check::new(model())
        .seeds(0..30)
        .schedule("partitions")
        .run();
    result.assert_ok();
    let result = Check::new(model()).seeds(0..30).schedule("crashes").run();
    result.assert_ok();
}
