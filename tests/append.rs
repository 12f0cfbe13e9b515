//! The `append` workload (list-append, one key per op): each lost write is seen by itself.
//!
//! Under the register workload a lost write shows only when it is the last write to its key;
//! under `append`, every acknowledged element missing from its key's final read is a `lost-write`
//! violation naming the element. Each bug that loses acknowledged writes is caught that way
//! within a bounded number of swarm seeds, and the correct variant passes the same seed.
use faultline::prelude::*;
use faultline::run::{run, Faults, RunError, RunReport, RunRequest};
use faultline::schedule::Schedule;
use faultline_checkers::EventType;
use faultline_models::{primary_backup, raft, sharded_kv};
use serde_json::Value;

mod common;

/// One swarm seed of `model` (bug `bug`) under `workload`.
fn run_with(model: &Model, bug: Option<&str>, workload: Option<&str>, seed: u64) -> RunReport {
    let mut config = model.config(bug);
    config.workload = workload.map(str::to_string);
    let req = RunRequest {
        seed,
        config,
        faults: Faults::Schedule(Schedule::load("swarm").unwrap()),
        fail_on: vec![],
        trace: false,
    };
    run(model, &req).expect("valid run")
}

/// The `lost-write` violations of a run that name a lost element: (key, element).
fn lost_elements(r: &RunReport) -> Vec<(String, Value)> {
    r.violations
        .iter()
        .filter(|v| v.checker == "lost-write")
        .filter_map(|v| {
            let d = v.detail.as_ref()?;
            (d["anomaly"] == "lost")
                .then(|| (d["key"].as_str().unwrap().to_string(), d["element"].clone()))
        })
        .collect()
}

/// The first seed in `0..n` where `bug` loses an acknowledged element under the append workload.
/// Checks that the element it names was acknowledged in the history and is missing from its
/// key's final read, and that the correct variant passes that seed.
fn loses_an_element(model: fn() -> Model, bug: &str, n: u64) -> u64 {
    let m = model();
    for seed in 0..n {
        let r = run_with(&m, Some(bug), Some("append"), seed);
        let lost = lost_elements(&r);
        let Some((key, elem)) = lost.first() else {
            continue;
        };
        assert!(!r.passed, "a lost-write violation fails the run");
        let h = &r.recording.history.events;
        // Acknowledged: an append of it whose process's next event is `ok` (the element is
        // the invocation's value; the completion carries what the call returned).
        let acked = h.iter().enumerate().any(|(i, e)| {
            e.f == "append"
                && e.kind == EventType::Invoke
                && e.key.as_deref() == Some(key)
                && &e.value == elem
                && h[i + 1..]
                    .iter()
                    .find(|c| c.process == e.process)
                    .is_some_and(|c| c.kind == EventType::Ok)
        });
        assert!(
            acked,
            "seed {seed}: element {elem} was acknowledged on {key}"
        );
        let base = r.recording.final_process_base;
        let final_read = h
            .iter()
            .rev()
            .find(|e| {
                e.process >= base
                    && e.f == "read"
                    && e.kind == EventType::Ok
                    && e.key.as_deref() == Some(key)
            })
            .expect("a final read of the key");
        let list = final_read.value.as_array().cloned().unwrap_or_default();
        assert!(
            !list.contains(elem),
            "seed {seed}: {elem} is missing from {list:?}"
        );
        let message = &r.violation("lost-write").unwrap().message;
        assert!(message.contains(&format!("element {elem}")), "{message}");
        let fixed = run_with(&m, None, Some("append"), seed);
        assert!(
            fixed.passed,
            "the correct variant fails seed {seed} too: {:?}",
            fixed.violations
        );
        return seed;
    }
    panic!("--bug {bug} --workload append: no lost element in seeds 0..{n}")
}

#[test]
fn primary_backup_async_ack_loses_elements() {
    // Measured: 90 of seeds 0..200 lose an element, the first at seed 0.
    loses_an_element(primary_backup::model, "async-ack", 20);
}

#[test]
fn raft_ack_before_fsync_loses_elements() {
    // Measured: 23 of seeds 0..200 lose an element, the first at seed 15.
    loses_an_element(raft::model, "ack-before-fsync", 60);
}

#[test]
fn raft_ack_unapplied_loses_elements() {
    // Measured: 86 of seeds 0..200 lose an element, the first at seed 0.
    loses_an_element(raft::model, "ack-unapplied", 20);
}

#[test]
fn the_register_workload_hides_what_append_shows() {
    // The same bug and seed under registers: the lost write is overwritten by later writes, so
    // no `lost-write` names it (linearizability still fails the run).
    let seed = loses_an_element(primary_backup::model, "async-ack", 20);
    let r = run_with(
        &primary_backup::model(),
        Some("async-ack"),
        Some("register"),
        seed,
    );
    assert!(r.recording.history.events.iter().all(|e| e.f != "append"));
    assert!(lost_elements(&r).is_empty(), "{:?}", r.violations);
}

#[test]
fn cp_models_default_to_append_and_accept_register() {
    for model in [raft::model, primary_backup::model, sharded_kv::model] {
        let m = model();
        let has = |r: &RunReport, f: &str| r.recording.history.events.iter().any(|e| e.f == f);
        let default = run_with(&m, None, None, 3);
        assert!(default.passed, "{}: {:?}", m.name(), default.violations);
        assert!(
            has(&default, "append") && !has(&default, "write"),
            "{}",
            m.name()
        );
        // Reads return whole lists (null only before the first append to a key).
        assert!(default
            .recording
            .history
            .events
            .iter()
            .filter(|e| e.f == "read" && e.kind == EventType::Ok)
            .all(|e| e.value.is_array() || e.value.is_null()));
        let registers = run_with(&m, None, Some("register"), 3);
        assert!(registers.passed, "{}: {:?}", m.name(), registers.violations);
        assert!(
            has(&registers, "write") && !has(&registers, "append"),
            "{}",
            m.name()
        );
    }
}

#[test]
fn an_unknown_workload_is_refused() {
    let m = raft::model();
    let mut config = m.config(None);
    config.workload = Some("bank".into());
    let err = common::refused(&m, config, "bank is no workload of raft");
    assert!(matches!(err, RunError::Config(..)), "{err}");
    assert!(err.to_string().contains("bank"), "{err}");
}

#[test]
fn check_history_judges_list_append_files() {
    // A history whose read misses an acknowledged element: the `append` spec is inferred from
    // the ops and says why; `--spec append` names it; a register spec refuses the ops.
    let dir = common::TempDir::new("append-history");
    let lines = [
        r#"{"process":0,"type":"invoke","f":"append","key":"k","value":1,"time_ns":1}"#,
        r#"{"process":0,"type":"ok","f":"append","key":"k","value":1,"time_ns":2}"#,
        r#"{"process":0,"type":"invoke","f":"append","key":"k","value":2,"time_ns":3}"#,
        r#"{"process":0,"type":"ok","f":"append","key":"k","value":2,"time_ns":4}"#,
        r#"{"process":1,"type":"invoke","f":"read","key":"k","value":null,"time_ns":5}"#,
        r#"{"process":1,"type":"ok","f":"read","key":"k","value":[1],"time_ns":6}"#,
    ];
    let bad = dir.join("lost.jsonl");
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let good = dir.join("ok.jsonl");
    std::fs::write(&good, lines.join("\n").replace("[1]", "[1,2]")).unwrap();
    let path = |p: &std::path::Path| p.display().to_string();
    let out = common::faultline_in(dir.path(), &["check-history", "--json", &path(&bad)]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let v = out.json();
    assert_eq!(v["spec"], "append");
    assert_eq!(v["linearizable"], false);
    let out = common::faultline_in(
        dir.path(),
        &["check-history", "--spec", "append", "--json", &path(&good)],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["linearizable"], true);
    let out = common::faultline_in(
        dir.path(),
        &["check-history", "--spec", "register", &path(&good)],
    );
    assert_eq!(out.code, 2, "append ops under a register spec are refused");
}

/// `Check` takes the same configuration as the command line: the workload (and a bad one is
/// refused loudly), the liveness bound, nodes and clients.
#[test]
fn check_takes_the_workload_and_the_liveness_bound() {
    use faultline::Check;
    let raft = || {
        faultline_models::all()
            .into_iter()
            .find(|m| m.name() == "raft")
            .unwrap()
    };
    let r = Check::new(raft())
        .seeds(0..3)
        .workload("register")
        .liveness_timeout(std::time::Duration::from_secs(5))
        .nodes(3)
        .clients(2)
        .no_regressions()
        .run();
    r.assert_ok();
    assert_eq!(r.seeds_run, 3);
    let bad = std::panic::catch_unwind(|| {
        Check::new(raft())
            .seeds(0..1)
            .workload("queue")
            .no_regressions()
            .run()
    });
    let msg = bad.err().and_then(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
    });
    assert!(
        msg.as_deref()
            .is_some_and(|m| m.contains("unknown workload `queue`")),
        "{msg:?}"
    );
}
