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
