//! `faultline check-history` end to end: exit codes 0/1/2/3, the JSON object, the HTML report,
//! and re-checking the history a failing run wrote.
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

mod common;
use common::TempDir;

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn json_of(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.trim().lines().count(), 1, "one JSON line: {text}");
    serde_json::from_str(text.trim()).expect("stdout is JSON")
}

/// The shared Jepsen/Porcupine histories, or `None` (and a note) when this clone has none.
fn shared_data() -> Option<PathBuf> {
    let dir = std::env::var_os("FAULTLINE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"))
        .join("linearizability");
    if dir.join("VERDICTS.tsv").is_file() {
        Some(dir)
    } else {
        // Straight to stderr, past the test harness's capture, so a CI log shows the skip.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: no shared data at {} (set FAULTLINE_SHARED_DATA)",
            dir.display()
        );
        None
    }
}

const STALE_READ: &str = r#"{"process":0,"type":"invoke","f":"write","key":"k","value":1,"time_ns":10}
{"process":0,"type":"ok","f":"write","key":"k","value":1,"time_ns":20}
{"process":1,"type":"invoke","f":"read","key":"k","value":null,"time_ns":30}
{"process":1,"type":"ok","f":"read","key":"k","value":null,"time_ns":40}
"#;

#[test]
fn a_stale_read_is_not_linearizable_and_the_html_shows_why() {
    let dir = TempDir::new("stale");
    let file = dir.join("h.jsonl");
    std::fs::write(&file, STALE_READ).unwrap();
    let html = dir.join("report.html");
    let out = faultline(&[
        "check-history",
        file.to_str().unwrap(),
        "--format",
        "jsonl",
        "--spec",
        "register",
        "--json",
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let j = json_of(&out);
    assert_eq!(j["linearizable"], Value::Bool(false));
    assert_eq!(j["ops"], 2);
    assert_eq!(j["partitions"], 1);
    assert!(j["elapsed_ms"].as_f64().is_some() && j["parse_ms"].as_f64().is_some());
    let ce = j["counterexample"].as_array().expect("a counterexample");
    assert!(!ce.is_empty() && ce.len() <= 2, "{ce:?}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!doctype html>") || page.starts_with("<!DOCTYPE html>"));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "self-contained"
    );
}

#[test]
fn a_linearizable_history_exits_zero_and_values_are_escaped_in_html() {
    let dir = TempDir::new("ok");
    let file = dir.join("h.jsonl");
    let text = STALE_READ
        .replace(
            r#""value":null,"time_ns":40"#,
            r#""value":"<script>x</script>","time_ns":40"#,
        )
        .replace(r#""value":1"#, r#""value":"<script>x</script>""#);
    std::fs::write(&file, text).unwrap();
    let html = dir.join("r.html");
    let out = faultline(&[
        "check-history",
        file.to_str().unwrap(),
        "--json",
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(json_of(&out)["linearizable"], Value::Bool(true));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(!page.contains("<script>x"), "values must be escaped");
    assert!(page.contains("&lt;script&gt;"));
}

#[test]
fn malformed_histories_exit_two_naming_file_and_line() {
    let dir = TempDir::new("bad");
    let file = dir.join("bad.jsonl");
    let mut text = STALE_READ.to_string();
    text.push_str("{\"process\": 2, \"type\": \"invoke\"\n");
    std::fs::write(&file, text).unwrap();
    let out = faultline(&["check-history", file.to_str().unwrap(), "--format", "jsonl"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.jsonl:5"), "names file and line: {err}");
    assert!(out.stdout.is_empty());
    let out = faultline(&["check-history", "/nonexistent/h.jsonl"]);
    assert_eq!(out.status.code(), Some(2));
    let out = faultline(&["check-history", file.to_str().unwrap(), "--spec", "queue"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_failing_runs_history_rechecks_as_not_linearizable() {
    let dir = TempDir::new("rerun");
    let out = faultline(&[
        "run",
        "primary-backup",
        "--bug",
        "follower-reads",
        "--seed",
        "0",
        "--workload",
        "register",
        "--out",
        dir.path().to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let run = json_of(&out);
    assert!(run["violations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["checker"] == "linearizability"));
    let history = dir.join("history.jsonl");
    let out = faultline(&[
        "check-history",
        history.to_str().unwrap(),
        "--format",
        "jsonl",
        "--spec",
        "cas-register",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(json_of(&out)["linearizable"], Value::Bool(false));
}

#[test]
fn shared_histories_keep_their_verdicts_through_the_cli() {
    let Some(dir) = shared_data() else { return };
    for (file, code) in [
        ("etcd/etcd_002.log", 0),
        ("kv/c10-bad.txt", 1),
        ("kv/c01-ok.txt", 0),
    ] {
        let path = dir.join(file);
        let out = faultline(&["check-history", path.to_str().unwrap(), "--json"]);
        assert_eq!(out.status.code(), Some(code), "{file}: {out:?}");
    }
}

#[test]
fn running_out_of_time_is_undecided_exit_three() {
    // 24 concurrent writes, then two sequential reads of different values with no write
    // between them: impossible, but only an exhaustive search over the writes' orders (about
    // 2^24 configurations) proves it, so a zero time budget cannot decide.
    let mut text = String::new();
    for p in 0..24u64 {
        text.push_str(&format!(
            "{{\"process\":{p},\"type\":\"invoke\",\"f\":\"write\",\"key\":\"k\",\"value\":{p},\"time_ns\":{}}}\n",
            10 + p
        ));
    }
    for p in 0..24u64 {
        text.push_str(&format!(
            "{{\"process\":{p},\"type\":\"ok\",\"f\":\"write\",\"key\":\"k\",\"value\":{p},\"time_ns\":{}}}\n",
            100 + p
        ));
    }
    for (i, v) in [(0u64, 0u64), (1, 1)] {
        let t = 1000 + 100 * i;
        text.push_str(&format!(
            "{{\"process\":100,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\",\"value\":null,\"time_ns\":{t}}}\n{{\"process\":100,\"type\":\"ok\",\"f\":\"read\",\"key\":\"k\",\"value\":{v},\"time_ns\":{}}}\n",
            t + 10
        ));
    }
    let dir = TempDir::new("hard");
    let file = dir.join("hard.jsonl");
    std::fs::write(&file, text).unwrap();
    let out = faultline(&[
        "check-history",
        file.to_str().unwrap(),
        "--format",
        "jsonl",
        "--timeout",
        "0s",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(json_of(&out)["linearizable"], Value::Null);
}
