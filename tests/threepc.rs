//! `threepc`: under crash-only faults three-phase commit neither blocks nor loses atomicity;
//! under partitions the harness finds the textbook flaw (an atomicity violation).
mod common;

use common::{assert_passes, run_faults, run_seed};
use faultline::run::Faults;
use faultline::schedule::Schedule;
use faultline::Check;
use faultline_models::threepc::model;

#[test]
fn crashes_neither_block_nor_break_atomicity() {
    // `blocking` is among threepc's guarantees: a blocked participant would fail the run.
    let info = model().info(&model().config(None)).unwrap();
    assert!(info.guarantees.iter().any(|g| g == "blocking"));
    assert!(info.guarantees.iter().any(|g| g == "atomicity"));
    assert_passes(model(), "crashes", 0..40);
}

#[test]
fn a_coordinator_crash_does_not_block() {
    // The schedule under which 2PC blocks: 3PC's participants terminate on their own.
    for seed in [3, 4, 5] {
        let r = run_seed(&model(), None, "crash-coordinator", seed, &[]);
        assert!(r.passed, "seed {seed}: {:?}", r.violations);
        assert!(r.findings.is_empty(), "seed {seed}: {:?}", r.findings);
        assert!(
            r.steps
                .iter()
                .any(|s| s.trigger.as_deref().is_some_and(|t| t.contains("crash"))),
            "seed {seed}: the coordinator crash happened: {:?}",
            r.steps
        );
    }
}

#[test]
fn partitions_break_atomicity() {
    let result = Check::new(model())
        .schedule("partitions")
        .seeds(0..30)
        .stop_on_first()
        .run();
    let failure = result
        .first_failure()
        .expect("an atomicity violation within 30 partition seeds");
    assert_eq!(failure.violated_checkers(), vec!["atomicity".to_string()]);
    assert!(
        failure.violations[0].message.contains("committed at"),
        "{:?}",
        failure.violations
    );
    assert!(!failure.recording.partition_windows().is_empty());
}

/// Seed 981 under `crashes`: the coordinator crashes after the PreAcks, then the termination
/// leader crashes inside its collection window; the survivor waits one more round and commits
/// (1,371 ms in doubt) without waiting for anyone to recover. That is termination, not blocking:
/// threepc is judged against its own termination bound, which covers a round per crashed leader.
#[test]
fn a_cascade_of_crashed_termination_leaders_is_not_blocking() {
    let r = run_seed(&model(), None, "crashes", 981, &[]);
    assert!(r.passed, "{:?}", r.violations);
    let crashes = r
        .recording
        .windows()
        .iter()
        .filter(|(_, _, f)| matches!(f.kind.as_str(), "crash" | "power-loss"))
        .count();
    assert!(crashes >= 2, "the coordinator and a participant crashed");
}

/// Seeds 247, 595 and 654 under `crashes`: a participant crashes uncertain, the coordinator
/// commits past its silence (Skeen: a silent participant is presumed failed), and when the
/// participant restarts the coordinator and every participant that committed are down. Deciding
/// alone from "everyone I reached is uncertain" aborted it: an atomicity break under crashes
/// alone. A recovered site now asks again until every participant has answered or someone knows
/// the outcome, and `blocking` does not count a recovered site's wait (the non-blocking property is
/// about operational sites; the liveness phase still requires the outcome after the heal).
#[test]
fn a_participant_that_recovers_in_doubt_never_aborts_alone() {
    for seed in [247, 595, 654] {
        let r = run_seed(&model(), None, "crashes", seed, &[]);
        assert!(r.passed, "seed {seed}: {:?}", r.violations);
        let starts_in_doubt = r.recording.observations.iter().any(|o| {
            o.kind == "participant-start"
                && o.data["in_doubt"].as_array().is_some_and(|l| !l.is_empty())
        });
        assert!(
            starts_in_doubt,
            "seed {seed}: a participant restarted in doubt"
        );
    }
}

/// Seed 850 under `crashes`, shrunk to three crashes (`faultline shrink`): the coordinator logs
/// txn 5's precommit and crashes before sending it; participant n2 crashes too, so n3's
/// termination round reaches nobody and aborts (everyone it reached was uncertain: sound, nobody
/// had precommitted). The coordinator used to resume phase 2 on restart — `PreCommit` again, then
/// commit past the silence of n3, which had aborted and crashed for 1 ms — and n2 committed:
/// "txn 5 committed at n2 but aborted at n3", with no partition. A coordinator that restarts in
/// doubt now learns the outcome from the participants instead of deciding.
#[test]
fn a_coordinator_that_recovers_in_doubt_does_not_resume_phase_two() {
    let yaml = "steps:\n\
        - {at_ms: 117, fault: crash, node: 0, for_ms: 886}\n\
        - {at_ms: 811, fault: crash, node: 2, for_ms: 172}\n\
        - {at_ms: 1009, fault: crash, node: 3, for_ms: 1}\n";
    let Schedule::Steps(steps) = Schedule::parse("seed-850.yaml", yaml).expect("valid") else {
        panic!("explicit steps")
    };
    let r = run_faults(&model().ops(6), None, 850, Faults::Steps(steps), &[]);
    assert!(r.passed, "{:?}", r.violations);
    // The scenario happened: n3 aborted txn 5 on its own while the coordinator was down.
    let aborted_alone = r.recording.observations.iter().any(|o| {
        o.node == 3 && o.kind == "aborted" && o.data["txn"] == 5 && o.at_ns < 1_003_000_000
    });
    assert!(
        aborted_alone,
        "n3 aborted txn 5 while the coordinator was down"
    );
    // And txn 5 settled the same way everywhere it settled (abort, as n3 decided).
    let committed_5 = r
        .recording
        .observations
        .iter()
        .any(|o| o.kind == "committed" && o.data["txn"] == 5);
    assert!(!committed_5, "nobody commits txn 5 after n3 aborted it");
}
