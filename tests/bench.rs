//! `faultline bench` produces its figures from real runs: both sides of the network bench carry
//! the same traffic, every figure docs/reference.md names is there, and bad input is refused. Timings are
//! never asserted (they belong to the machine, not the code).
mod common;

use common::{faultline_in, TempDir};
use faultline_cli::bench::{self, models, net, BenchOptions};
use std::time::Duration;

const SMALL: net::Traffic = net::Traffic {
    rounds: 40,
    window: 4,
};

#[test]
fn both_sides_of_the_network_bench_carry_the_same_traffic() {
    assert_eq!(SMALL.messages(), 400);
    // Every message arrives on the raw side (each node counts what it received).
    assert_eq!(net::raw_seed(7, SMALL), SMALL.messages());
    // The harness records one message per send, and every node finishes its exchange.
    let m = net::model(SMALL);
    assert_eq!(net::harness_seed(&m, 7), SMALL.messages());
    let f = net::measure(SMALL, Duration::ZERO);
    assert_eq!(f.seeds, 3, "a zero budget still runs three seeds per side");
    assert_eq!(f.messages_per_seed, 400);
    assert!(f.raw_msgs_per_sec > 0.0 && f.harness_msgs_per_sec > 0.0);
}

/// The smallest bench: zero budgets (each stage still runs its minimum), these models only.
fn tiny(only: &[&str], tmp: &TempDir) -> BenchOptions {
    BenchOptions {
        net_budget: Duration::ZERO,
        traffic: SMALL,
        model_budget: Duration::ZERO,
        checker_runs: 1,
        scaling_budget: None,
        jobs: 1,
        memory: None,
        only: only.iter().map(|m| m.to_string()).collect(),
        porcupine: None,
        tmp: tmp.path().join("scratch"),
    }
}

#[test]
fn the_report_has_every_figure_the_spec_names() {
    let tmp = TempDir::new("bench");
    let o = tiny(&["raft", "twopc"], &tmp);
    let r = bench::run(&faultline_models::all(), &o).expect("the bench runs");
    let json = serde_json::to_value(&r).unwrap();
    for key in [
        "raw_madsim_msgs_per_sec",
        "harness_msgs_per_sec",
        "overhead",
    ] {
        assert!(json[key].as_f64().is_some_and(|v| v > 0.0), "{key}: {json}");
    }
    let overhead = r.raw_madsim_msgs_per_sec / r.harness_msgs_per_sec;
    assert!((r.overhead - overhead).abs() < 1e-9);
    let names: Vec<&String> = r.models.keys().collect();
    assert_eq!(names, ["raft", "twopc"], "only the models asked for");
    for (name, m) in &r.models {
        assert_eq!(m.seeds, 5, "{name}: a zero budget still runs five seeds");
        assert_eq!(m.failures, 0, "{name}: the correct variant fails no seed");
        assert!(m.msgs_per_seed > 100.0, "{name}: {m:?}");
        assert!(json["models"][name]["seeds_per_sec"].as_f64().unwrap() > 0.0);
    }
    match &r.checker {
        Some(c) => {
            assert_eq!(c.files, 66);
            assert_eq!(
                c.wrong_verdicts, 0,
                "every shared history gets its known verdict"
            );
            assert!(c.total_ms > 0.0);
            assert!(json["checker"]["total_ms"].as_f64().is_some());
        }
        None => {
            let why = r.checker_skipped.as_deref().unwrap();
            assert!(why.contains("FAULTLINE_SHARED_DATA"), "{why}");
            eprintln!("SKIPPED the checker figure: {why}");
        }
    }
    assert!(r.table().contains("overhead"));
}

#[test]
fn the_memory_figure_reads_peak_rss_after_each_stage() {
    let tmp = TempDir::new("bench-memory");
    let all = faultline_models::all();
    let raft = all.iter().find(|m| m.name() == "raft").unwrap();
    let m = models::memory(raft, 5, 20, 40, 1, tmp.path()).expect("memory bench");
    assert_eq!((m.seeds_first, m.seeds_total), (20, 40));
    assert!(m.peak_rss_mb_first > 1.0, "{m:?}");
    // VmHWM is a high-water mark, but Linux folds the current RSS into it lazily (at unmaps),
    // so a later reading can come out a little lower than an earlier one; it is still a peak,
    // and never below the resident set measured with it.
    assert!(m.peak_rss_mb_total > 1.0, "{m:?}");
    assert!(m.peak_rss_mb_total >= m.rss_mb_total, "{m:?}");
}

#[test]
fn an_unknown_model_is_refused() {
    let tmp = TempDir::new("bench-cli");
    let out = faultline_in(tmp.path(), &["bench", "--quick", "--model", "nope"]);
    let (code, _, stderr) = out.into_parts();
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unknown model `nope`"), "{stderr}");
    let out = faultline_in(tmp.path(), &["bench", "--memory", "5"]);
    let (code, _, stderr) = out.into_parts();
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--memory 5"), "{stderr}");
}

/// A speed-up is only claimed when Porcupine ran here: without a checkout the report says why,
/// and a checkout that is not one is refused with its path.
#[test]
fn porcupine_is_timed_only_when_it_can_run_here() {
    let tmp = TempDir::new("bench-porcupine");
    let o = tiny(&["twopc"], &tmp);
    let r = bench::run(&faultline_models::all(), &o).expect("the bench runs");
    assert!(r.porcupine.is_none());
    let why = r.porcupine_skipped.as_deref().unwrap();
    assert!(why.contains("--porcupine"), "{why}");
    assert!(
        r.table().contains("no speed-up is claimed"),
        "{}",
        r.table()
    );
    let not_a_checkout = tmp.path().join("empty");
    std::fs::create_dir_all(&not_a_checkout).unwrap();
    let err = bench::porcupine::measure(tmp.path(), &not_a_checkout, 1).unwrap_err();
    assert!(
        err.contains("go") || err.contains("not a Porcupine checkout"),
        "names what is missing: {err}"
    );
}
