//! Determinism: a seed is a complete description of a run. The same seed gives the same trace
//! fingerprint on any thread and in any process; a different seed or a different workload gives a
//! different one.
use faultline::run::{run, Faults, RunReport, RunRequest};
use faultline::schedule::Schedule;
use faultline_models::primary_backup::model;
use serde_json::Value;
use std::process::Command;

fn run_seed(seed: u64, ops: Option<usize>, schedule: &str) -> RunReport {
    let m = model();
    let mut config = m.config(None);
    if let Some(ops) = ops {
        config.ops = ops;
    }
    let req = RunRequest {
        seed,
        config,
        faults: Faults::Schedule(Schedule::load(schedule).expect("built-in schedule")),
        fail_on: vec![],
        trace: false,
    };
    run(&m, &req).expect("a valid configuration")
}

/// The whole observable run, not just the hash: the history and the faults as applied.
fn trace_of(r: &RunReport) -> (String, String, String) {
    (
        r.fingerprint.clone(),
        r.recording.history.to_jsonl(),
        serde_json::to_string(&r.recording.faults).unwrap(),
    )
}

fn cli_run(args: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .current_dir(std::env::temp_dir())
        .output()
        .expect("the faultline binary runs");
    let stdout = String::from_utf8(out.stdout).expect("utf-8 stdout");
    let json: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().expect("exited normally"), json)
}

#[test]
fn same_seed_same_trace_on_two_threads() {
    // Two runs of seed 7 at the same time, from two different threads.
    let a = std::thread::spawn(|| run_seed(7, None, "swarm"));
    let b = std::thread::spawn(|| run_seed(7, None, "swarm"));
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    assert!(a.passed, "seed 7 should pass: {:?}", a.violations);
    assert!(
        a.stats.messages > 0 && a.stats.ops > 0,
        "the run did something"
    );
    assert_eq!(trace_of(&a), trace_of(&b), "same seed, different runs");
    // And a third run on this very thread, after the others.
    assert_eq!(trace_of(&a), trace_of(&run_seed(7, None, "swarm")));
}

#[test]
fn same_seed_same_fingerprint_in_two_processes() {
    let args = ["run", "primary-backup", "--seed", "7", "--json"];
    let (code1, first) = cli_run(&args);
    let (code2, second) = cli_run(&args);
    assert_eq!((code1, code2), (0, 0), "seed 7 passes: {first}");
    assert_eq!(first["verdict"], "pass");
    let fp = first["fingerprint"].as_str().expect("a fingerprint string");
    assert_eq!(fp.len(), 16, "a 64-bit hex fingerprint: {fp}");
    assert_eq!(first["fingerprint"], second["fingerprint"]);
    assert_eq!(first["stats"]["messages"], second["stats"]["messages"]);
    assert_eq!(first["stats"]["ops"], second["stats"]["ops"]);
    // The library, in this process, agrees with the binary.
    assert_eq!(run_seed(7, None, "swarm").fingerprint, fp);
}

#[test]
fn different_seeds_give_different_fingerprints() {
    let a = run_seed(7, None, "swarm");
    let b = run_seed(8, None, "swarm");
    assert_ne!(a.fingerprint, b.fingerprint);
    // Even without faults the seed drives latencies, think times and the workload.
    let a = run_seed(7, None, "none");
    let b = run_seed(8, None, "none");
    assert_ne!(a.fingerprint, b.fingerprint);
}

#[test]
fn the_fingerprint_covers_the_workload() {
    let base = run_seed(7, None, "none");
    let fewer = run_seed(7, Some(base.config.ops - 1), "none");
    assert_ne!(
        base.fingerprint, fewer.fingerprint,
        "--ops changes the trace"
    );
    let more = run_seed(7, Some(base.config.ops + 50), "swarm");
    assert_ne!(run_seed(7, None, "swarm").fingerprint, more.fingerprint);
    // Through the CLI too.
    let (_, a) = cli_run(&["run", "primary-backup", "--seed", "7", "--json"]);
    let (_, b) = cli_run(&[
        "run",
        "primary-backup",
        "--seed",
        "7",
        "--ops",
        "120",
        "--json",
    ]);
    assert_eq!(
        b["stats"]["ops"].as_u64().map(|n| n >= 120),
        Some(true),
        "{b}"
    );
    assert_ne!(a["fingerprint"], b["fingerprint"]);
}

#[test]
fn check_determinism_passes() {
    let (code, j) = cli_run(&[
        "run",
        "primary-backup",
        "--seed",
        "7",
        "--check-determinism",
        "--json",
    ]);
    assert_eq!(code, 0, "{j}");
    assert_eq!(j["verdict"], "pass");
    let violations = j["violations"].as_array().expect("violations array");
    assert!(
        violations.iter().all(|v| v["checker"] != "determinism"),
        "{j}"
    );
}

/// A reproducer records each step as it resolved (`node: any` becomes the node drawn), so its
/// replay skips the resolution's draws; the storage faults' effects (which sectors a torn power
/// loss keeps, which calls a disk-error window fails, what a strike damages) must not depend on
/// them. Raft uses the file API and declares a corruption budget, so every storage fault bites.
#[test]
fn a_reproducer_of_storage_faults_replays_bit_for_bit() {
    let m = faultline_models::raft::model();
    let text = "steps:\n  - {at_ms: 300, fault: disk-error, node: any, op: fsync, rate: 0.5, for_ms: 1500}\n  - {at_ms: 900, fault: corrupt, node: any}\n  - {at_ms: 1000, fault: power-loss, node: any, for_ms: 300}\n  - {at_ms: 1500, fault: misdirect, node: any}\n  - {at_ms: 2000, fault: disk-error, node: any, op: write, rate: 0.5, for_ms: 800}\n  - {at_ms: 2600, fault: power-loss, nodes: majority, for_ms: 300}\n";
    let schedule = Schedule::parse("replay-storage.yaml", text).expect("a valid schedule");
    let mut struck = 0;
    for seed in 0..4 {
        let req = |faults| RunRequest {
            seed,
            config: m.config(None),
            faults,
            fail_on: vec![],
            trace: false,
        };
        let first = run(&m, &req(Faults::Schedule(schedule.clone()))).expect("valid run");
        struck += first.stats.faults;
        let again = run(&m, &req(Faults::Steps(first.steps.clone()))).expect("valid run");
        assert_eq!(trace_of(&first), trace_of(&again), "seed {seed}");
    }
    assert!(struck >= 16, "the storage faults ran: {struck} applied");
}
