//! `primary-backup`: each bug variant is found within a bounded number of swarm seeds, by the
//! checker the bug should trip (and by `cap`: a CP model returning non-linearizable results
//! breaks its CAP promise), and the correct protocol passes the very seed that caught it.
use faultline::prelude::*;
use faultline_models::primary_backup::model;

mod common;

/// Runs `bug` over seeds `0..n` of the default (swarm) schedule: every checker in `must` fires
/// on some failing seed, no failure names a checker outside `allowed`, and the correct variant
/// passes the first failing seed.
fn found_by(bug: &str, n: u64, must: &[&str], allowed: &[&str]) -> u64 {
    common::hunt(model, bug, "swarm", n, common::Failures::All, must, allowed)
}

#[test]
fn async_ack_loses_acknowledged_writes() {
    // Acknowledging before replicating: a failover loses acknowledged writes, which no
    // linearization explains (and which the final reads show as lost, when no later write to the
    // key hides the loss).
    found_by(
        "async-ack",
        60,
        &["linearizability", "cap"],
        &["lost-write", "linearizability", "cap"],
    );
}

#[test]
fn follower_reads_are_stale() {
    // Stale reads lose nothing: only linearizability fires.
    found_by(
        "follower-reads",
        10,
        &["linearizability", "cap"],
        &["linearizability", "cap"],
    );
}

#[test]
fn no_fencing_splits_the_brain() {
    // A deposed primary keeps accepting writes: two primaries order operations differently.
    // Their logs can even disagree on which operation an entry is, so a client may be answered
    // with another key's value (`invented-value`, first seen on seed 79).
    found_by(
        "no-fencing",
        150,
        &["linearizability", "cap"],
        &["linearizability", "lost-write", "cap", "invented-value"],
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

#[test]
fn rename_without_dirsync_loses_writes_on_power_loss_only() {
    // The metadata and a new epoch's log replace their files by rename, and the bug never syncs
    // the directory: a power loss brings the old files back (a forgotten promise, a log missing
    // acknowledged entries), and failover loses acknowledged writes.
    let seed = common::found_by(
        model,
        "rename-no-dirsync",
        "power-loss",
        500,
        &["linearizability", "cap"],
        &["linearizability", "lost-write", "cap", "invented-value"],
    );
    // The same steps as process crashes: the page cache keeps the renames, so every seed up to
    // the one that caught the bug passes.
    let dir = common::TempDir::new("process-crashes");
    let steps = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schedules/power-loss.yaml"
    ))
    .expect("schedules/power-loss.yaml");
    assert!(steps.contains("fault: power-loss"));
    let process = dir.join("process-crashes.yaml");
    std::fs::write(&process, steps.replace("fault: power-loss", "fault: crash")).unwrap();
    Check::new(model())
        .bug("rename-no-dirsync")
        .schedule(process.to_str().unwrap())
        .seeds(0..seed + 1)
        .run()
        .assert_ok();
}
