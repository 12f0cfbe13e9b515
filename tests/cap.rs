//! The FAQ's CAP claim, measured: the same partition against a CP store (`primary-backup`) and
//! an AP store (`dynamo`). The CP store refuses on the minority side and stays linearizable; the
//! AP store answers on both sides, returns stale reads, and converges after the heal.
mod common;

use common::TempDir;
use faultline::run::{run, Faults, RunReport, RunRequest};
use faultline::schedule::Schedule;
use faultline::Model;
use serde_json::Value;
use std::process::Command;

/// Nodes 0 and 1 (the first primary, and one follower) cut off from 2, 3 and 4 for 3 s.
const PARTITION: &str =
    "steps:\n  - {at_ms: 1000, fault: partition, groups: [[0, 1], [2, 3, 4]], for_ms: 3000}\n";

fn partitioned(model: &Model, seed: u64) -> RunReport {
    let req = RunRequest {
        seed,
        config: model.config(None),
        faults: Faults::Schedule(Schedule::parse("faq-partition", PARTITION).unwrap()),
        fail_on: vec![],
        trace: false,
    };
    run(model, &req).expect("valid run")
}

fn availability(r: &RunReport) -> &Value {
    r.findings
        .iter()
        .find(|f| f.checker == "availability")
        .and_then(|f| f.detail.as_ref())
        .expect("an availability finding")
}

/// `(ops, ok)` on the side holding `node`, over the run's single partition.
fn side(r: &RunReport, node: u64) -> (u64, u64) {
    let d = availability(r);
    let sides = d["partitions"][0]["sides"].as_array().unwrap();
    let s = sides
        .iter()
        .find(|s| s["nodes"].as_array().unwrap().contains(&Value::from(node)))
        .unwrap();
    (s["ops"].as_u64().unwrap(), s["ok"].as_u64().unwrap())
}

#[test]
fn cp_refuses_on_the_minority_side_and_stays_linearizable() {
    let m = faultline_models::primary_backup::model();
    for seed in 0..3 {
        let r = partitioned(&m, seed);
        assert!(r.passed, "seed {seed}: {:?}", r.violations);
        assert_eq!(availability(&r)["consistency"], "linearizable");
        let (ops, ok) = side(&r, 0);
        assert!(
            ops > 0,
            "seed {seed}: no operation reached the minority side"
        );
        assert_eq!(
            ok, 0,
            "seed {seed}: the minority side answered {ok} of {ops}"
        );
    }
}

#[test]
fn ap_answers_on_both_sides_reads_stale_and_converges() {
    let m = faultline_models::dynamo::model();
    let mut stale = 0;
    for seed in 0..3 {
        let r = partitioned(&m, seed);
        assert!(r.passed, "seed {seed}: {:?}", r.violations);
        for node in [0, 2] {
            let (ops, ok) = side(&r, node);
            assert!(ops > 0, "seed {seed}: no operation reached n{node}'s side");
            assert_eq!(ok, ops, "seed {seed}: n{node}'s side refused");
        }
        let consistency = &availability(&r)["consistency"];
        assert_eq!(consistency["converged"], true, "seed {seed}");
        stale += consistency["stale_reads"].as_u64().unwrap();
        assert!(
            r.findings.iter().any(|f| f.checker == "convergence-time"),
            "seed {seed}: {:?}",
            r.findings
        );
    }
    assert!(stale > 0, "no stale read in 3 partitioned runs");
}

/// The contract's example, end to end: `faultline run MODEL --seed 5 --schedule partitions
/// --json` carries an `availability` finding with a value, per side in its detail.
fn cli_availability(model: &str) -> Value {
    let dir = TempDir::new("cap");
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "run",
            model,
            "--seed",
            "5",
            "--schedule",
            "partitions",
            "--json",
        ])
        .current_dir(dir.path())
        .output()
        .expect("the faultline binary runs");
    assert_eq!(out.status.code(), Some(0), "{model} fails seed 5");
    let j: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["checker"] == "availability")
        .cloned()
        .unwrap_or_else(|| panic!("{model}: no availability finding in {j}"))
}

#[test]
fn run_json_reports_availability_for_cp_and_ap() {
    let cp = cli_availability("primary-backup");
    let ap = cli_availability("dynamo");
    let cp_value = cp["value"].as_f64().expect("a value");
    assert!((0.0..=1.0).contains(&cp_value), "{cp}");
    assert_eq!(ap["value"].as_f64(), Some(1.0), "{ap}");
    // Every side that got requests answered all of them, the minority included.
    let sides: Vec<&Value> = ap["detail"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["sides"].as_array().unwrap())
        .filter(|s| s["ops"].as_u64().unwrap() > 0)
        .collect();
    assert!(sides.len() >= 2, "{ap}");
    assert!(sides.iter().all(|s| s["availability"] == 1.0), "{ap}");
}
