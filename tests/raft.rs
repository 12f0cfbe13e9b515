//! `raft`: each bug variant is found within a bounded number of seeds, by the checkers the bug
//! should trip, and the correct protocol passes the very seed (and schedule) that caught it.
//!
//! Four bugs surface under the default swarm schedule. Two need a fault timed against an election,
//! which uniform random schedules rarely hit, so their tests use the built-in schedules made for
//! them: `volatile-vote` a power loss right after an election (`power-loss`), and
//! `commit-old-term` the chain of leader isolations that replays the Raft paper's Figure 8
//! (`leader-churn`).
//!
//! The storage bugs need storage faults: `no-checksum` corruption (`corruption`, and `par`),
//! `truncate-on-corruption` a corrupted replica of committed entries while others lag (`par`, PAR's
//! scenario), `fsync-retry` failed fsyncs just before power losses (`fsyncgate`), and
//! `process-crash-only` a power loss (`power-loss`), while process crashes alone
//! (`process-crashes`) never catch it.
use faultline::prelude::*;
use faultline::run::RunReport;
use faultline_models::raft::model;

mod common;
use common::run_seed;

const POWER_LOSS: &str = "power-loss";
const FIGURE8: &str = "leader-churn";

/// Every checker a Raft run can fail on.
const ALL: &[&str] = &[
    "linearizability",
    "lost-write",
    "cap",
    "raft-election-safety",
    "raft-log-matching",
    "raft-state-machine-safety",
    "raft-lost-commit",
    "raft-acked-applied",
];

/// Runs one seed of the correct variant under `schedule`.
fn correct_run(seed: u64, schedule: &str) -> RunReport {
    run_seed(&model(), None, schedule, seed, &[])
}

/// Finds the first failing seed of `bug` in `0..n` under `schedule`: every checker in `must` is
/// among its violations, none outside `allowed`, and the correct variant passes that seed.
fn found_by(bug: &str, schedule: &str, n: u64, must: &[&str], allowed: &[&str]) -> u64 {
    common::found_by(model, bug, schedule, n, must, allowed)
}

#[test]
fn the_contract_bug_variants_exist() {
    let m = model();
    let names: Vec<&str> = m.bugs().iter().map(|b| b.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "commit-old-term",
            "no-vote-log-check",
            "volatile-vote",
            "ack-before-fsync",
            "leader-local-read",
            "no-truncate",
            "ack-unapplied",
            "no-checksum",
            "truncate-on-corruption",
            "fsync-retry",
            "process-crash-only",
            "lease-no-drift-margin",
            "lease-after-step-down"
        ]
    );
    let info = m.info(&m.config(None)).unwrap();
    for c in ALL {
        assert!(info.guarantees.iter().any(|g| g == c), "{c} not guaranteed");
        assert!(info.checkers.iter().any(|g| g == c), "{c} not checked");
    }
}

#[test]
fn no_vote_log_check_elects_leaders_that_overwrite_commits() {
    // A candidate missing committed entries wins and makes followers truncate them: the commit is
    // lost, nodes apply different entries at one index, and clients see it.
    found_by(
        "no-vote-log-check",
        "swarm",
        40,
        &["raft-lost-commit", "raft-state-machine-safety"],
        ALL,
    );
}

#[test]
fn leader_local_read_serves_stale_reads() {
    // The logs stay perfect; only the answers are stale.
    found_by(
        "leader-local-read",
        "swarm",
        30,
        &["linearizability"],
        &["linearizability", "cap"],
    );
}

#[test]
fn no_truncate_keeps_conflicting_entries() {
    // A follower keeps a deposed leader's entry under the new leader's entries: two logs with the
    // same entry at one index differ before it, and the follower applies its stale entry.
    found_by(
        "no-truncate",
        "swarm",
        20,
        &["raft-log-matching", "raft-state-machine-safety"],
        ALL,
    );
}

#[test]
fn ack_before_fsync_loses_commits_on_crashes() {
    found_by("ack-before-fsync", "swarm", 60, &["raft-lost-commit"], ALL);
    // A power loss right after an election finds it at once.
    let seed = found_by(
        "ack-before-fsync",
        POWER_LOSS,
        10,
        &["raft-lost-commit"],
        ALL,
    );
    assert!(seed < 10);
}

#[test]
fn volatile_vote_elects_two_leaders_in_one_term() {
    // A power loss before the votes of a fresh election reached the disk: the cluster holds the
    // same election again and may pick another node.
    found_by(
        "volatile-vote",
        POWER_LOSS,
        10,
        &["raft-election-safety"],
        ALL,
    );
}

#[test]
fn commit_old_term_loses_commits_in_figure_8() {
    // A leader commits an older term's entry by counting replicas, loses leadership before an
    // entry of its own term is replicated, and a node holding a newer-term entry at that index
    // wins and overwrites it.
    found_by("commit-old-term", FIGURE8, 10, &["raft-lost-commit"], ALL);
}

#[test]
fn the_correct_variant_passes_swarm() {
    let result = Check::new(model()).seeds(0..300).run();
    assert_eq!(result.seeds_run, 300);
    result.assert_ok();
}

#[test]
fn the_correct_variant_passes_leader_faults_and_power_loss() {
    for schedule in [POWER_LOSS, FIGURE8, "isolate-leader", "leader-crash"] {
        let result = Check::new(model()).seeds(0..40).schedule(schedule).run();
        assert_eq!(result.seeds_run, 40);
        result.assert_ok();
    }
}

#[test]
fn the_correct_variant_makes_progress() {
    // Safety is cheap if nothing happens: without faults every operation succeeds, a leader is
    // elected once, and the run is deterministic.
    let a = correct_run(3, "none");
    assert!(a.passed, "{:?}", a.violations);
    assert_eq!(a.stats.ok, a.stats.ops, "{:?}", a.stats);
    assert_eq!(a.recording.observations_of("leader-elected").count(), 1);
    // Every write went through the log (reads are answered under the leader's lease, or
    // through the log before its first commit of the term), and every node applied what the
    // leader committed, but for the last entries, whose commit the followers learn only with
    // the next AppendEntries.
    let committed = a.recording.observations_of("committed").count();
    let writes = (a.recording.history.events.iter())
        .filter(|e| e.kind == faultline_checkers::history::EventType::Ok && e.f != "read")
        .count();
    assert!(
        writes > 0 && committed >= writes,
        "{committed} commits, {writes} writes"
    );
    assert!(
        committed <= a.stats.ops,
        "{committed} commits of {} ops",
        a.stats.ops
    );
    for node in 0..5 {
        let applied = a
            .recording
            .observations_of("applied")
            .filter(|o| o.node == node)
            .count();
        assert!(
            applied <= committed && applied + 3 >= committed,
            "n{node} applied {applied} of {committed}"
        );
    }
    let b = correct_run(3, "none");
    assert_eq!(a.fingerprint, b.fingerprint);
}

#[test]
fn no_checksum_applies_corrupted_entries() {
    // A bit flip in a synced log record that still decodes (a flipped integer is another
    // integer): the node applies a different entry at that index than the others did.
    found_by(
        "no-checksum",
        "corruption",
        40,
        &["raft-state-machine-safety"],
        ALL,
    );
}

#[test]
fn truncate_on_corruption_loses_commits() {
    // PAR's finding: the damaged replica cuts its log at the corruption, votes with the shorter
    // log, and a node that lagged wins and overwrites entries committed on a majority.
    found_by(
        "truncate-on-corruption",
        "par",
        40,
        &["raft-lost-commit"],
        ALL,
    );
}

#[test]
fn fsync_retry_loses_acknowledged_entries() {
    // fsyncgate: the retried fsync succeeds with the dropped data gone; entries acknowledged on
    // it vanish with the power loss. Some seeds instead leave every log with a hole that the
    // checksums see, and a cluster in which no node may vote (liveness, progress): the safety
    // violation is looked for over every failing seed.
    let mut allowed = ALL.to_vec();
    allowed.extend(["liveness", "progress"]);
    common::hunt(
        model,
        "fsync-retry",
        "fsyncgate",
        60,
        common::Failures::All,
        &["raft-lost-commit", "lost-write"],
        &allowed,
    );
}

#[test]
fn process_crash_only_survives_process_crashes_but_not_power_loss() {
    // Never fsyncing is invisible while the page cache survives every crash...
    let crashes = Check::new(model())
        .bug("process-crash-only")
        .schedule("process-crashes")
        .seeds(0..40)
        .run();
    assert_eq!(crashes.seeds_run, 40);
    crashes.assert_ok();
    // ...and a power loss right after an election shows it at once.
    found_by(
        "process-crash-only",
        POWER_LOSS,
        10,
        &["raft-lost-commit"],
        ALL,
    );
}

#[test]
fn the_correct_variant_passes_storage_faults() {
    // Corruption within the budget (a minority), I/O errors, fsyncgate, PAR's scenario.
    for schedule in ["corruption", "disk-errors", "fsyncgate", "par"] {
        let result = Check::new(model()).seeds(0..40).schedule(schedule).run();
        assert_eq!(result.seeds_run, 40, "{schedule}");
        result.assert_ok();
    }
}
