//! `raft`'s leader leases: a leader answers reads from its own state while its lease holds (see
//! `models/src/raft/node.rs`, `lease_len`), and the two classic lease mistakes are caught by
//! `linearizability` under the `lease-drift` schedule (drifting clocks within raft's declared
//! bound, leaders cut off), while the correct variant passes the very seed.
//!
//! A stale lease read shows only when a client that still talks to the old leader reads after
//! another client's write reached the new one, inside a window of at most
//! `MIN_ELECTION * (1/(1-d) - 1/(1+d))` of true time per isolation, so these tests run six
//! clients (the reads that land in the window) and 400 operations (more isolations per run).
use faultline::prelude::*;
use faultline::run::RunReport;
use faultline_models::raft::model;

mod common;

const SCHEDULE: &str = "lease-drift";
const CLIENTS: usize = 6;
const OPS: usize = 400;

/// The lowest seed in `0..n` at which `bug` fails `linearizability` (and nothing a lease bug
/// cannot cause) under `schedule` (with buggify if `buggify`); the correct variant passes that
/// seed under the same settings.
fn caught(bug: &str, schedule: &str, n: u64, buggify: bool) -> RunReport {
    let result = Check::new(model())
        .bug(bug)
        .schedule(schedule)
        .buggify(buggify)
        .clients(CLIENTS)
        .ops(OPS)
        .seeds(0..n)
        .stop_on_first()
        .run();
    let f = result
        .first_failure()
        .unwrap_or_else(|| panic!("--bug {bug} --schedule {schedule}: no failure in 0..{n}"));
    let violated = f.violated_checkers();
    assert!(
        violated.iter().any(|c| c == "linearizability"),
        "seed {}: expected linearizability, got {violated:?}",
        f.seed
    );
    for c in &violated {
        // A stale read is not linearizable, which breaks a CP store's CAP choice too.
        assert!(
            c == "linearizability" || c == "cap",
            "seed {}: unexpected `{c}`",
            f.seed
        );
    }
    assert_eq!(f.config.bug.as_deref(), Some(bug));
    let correct = Check::new(model())
        .schedule(schedule)
        .buggify(buggify)
        .clients(CLIENTS)
        .ops(OPS)
        .seeds(f.seed..f.seed + 1)
        .run();
    assert!(
        correct.ok(),
        "the correct variant fails seed {} of {schedule} too",
        f.seed
    );
    f.clone()
}

#[test]
fn raft_declares_the_drift_bound_its_leases_are_shortened_by() {
    let m = model();
    let names: Vec<&str> = m.bugs().iter().map(|b| b.name.as_str()).collect();
    assert!(names.contains(&"lease-no-drift-margin"), "{names:?}");
    assert!(names.contains(&"lease-after-step-down"), "{names:?}");
    let p = faultline_models::raft::Raft::new(&m.config(None)).unwrap();
    let d = p.max_drift();
    assert!(d > 0.0 && d < 0.5, "a realistic bound, got {d}");
}

#[test]
fn lease_without_drift_margin_serves_stale_reads_when_clocks_drift() {
    let seed = caught("lease-no-drift-margin", SCHEDULE, 100, false).seed;
    // The same seeds with every clock at true speed: the lease without a margin is exactly the
    // followers' promise then, so the bug cannot show. It is a drift bug, not a timing bug.
    let text = include_str!("../schedules/lease-drift.yaml");
    let still = text
        .replace("drift: -200", "drift: 0")
        .replace("drift: 200", "drift: 0");
    assert_ne!(still, text, "the schedule drifts clocks");
    let dir = common::TempDir::new("lease-no-drift");
    let path = dir.join("lease-still.yaml");
    std::fs::write(&path, still).unwrap();
    let no_drift = Check::new(model())
        .bug("lease-no-drift-margin")
        .schedule(path.to_str().unwrap())
        .clients(CLIENTS)
        .ops(OPS)
        .seeds(0..seed + 1)
        .run();
    assert!(
        no_drift.ok(),
        "lease-no-drift-margin failed with drift 0: {:?}",
        no_drift
            .first_failure()
            .map(|f| (f.seed, f.violated_checkers()))
    );
}

#[test]
fn the_correct_variant_passes_lease_drift_and_clock_skew() {
    for schedule in [SCHEDULE, "clock-skew"] {
        let r = Check::new(model())
            .schedule(schedule)
            .clients(CLIENTS)
            .ops(OPS)
            .seeds(0..40)
            .run();
        assert!(
            r.ok(),
            "{schedule}: {:?}",
            r.first_failure().map(|f| f.seed)
        );
    }
}

/// `lease-after-step-down` needs a new leader elected within the old leader's lease, which the
/// followers' guard allows only through a leadership transfer (the buggify point
/// `transfer-leadership`: the leader tells an up-to-date follower to stand, and voters waive
/// their guard for it). The correct leader gives its lease up when it starts the transfer.
#[test]
fn lease_after_step_down_serves_stale_reads_after_a_leadership_transfer() {
    let f = caught("lease-after-step-down", SCHEDULE, 200, true);
    let transfer = &f.recording.buggify["transfer-leadership"];
    assert!(
        transfer.enabled && transfer.fired > 0,
        "seed {}: the transfer did not happen: {transfer:?}",
        f.seed
    );
    // The same seed without buggify: no transfer, and the bug does not show.
    let plain = Check::new(model())
        .bug("lease-after-step-down")
        .schedule(SCHEDULE)
        .clients(CLIENTS)
        .ops(OPS)
        .seeds(f.seed..f.seed + 1)
        .no_regressions()
        .run();
    assert!(
        plain.ok(),
        "lease-after-step-down failed seed {} without buggify",
        f.seed
    );
}
