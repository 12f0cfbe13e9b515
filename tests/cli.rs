//! The command line as docs/reference.md describes it: exit codes, error messages, the JSON objects, the
//! artifacts of a failing run and `replay`.
use faultline::prelude::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

mod common;
use common::{faultline_in, Out, TempDir};

fn faultline(args: &[&str]) -> Out {
    let dir = TempDir::new("cwd");
    faultline_in(dir.path(), args)
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

fn assert_finding(f: &Value) {
    assert!(f["checker"].as_str().is_some_and(|c| !c.is_empty()), "{f}");
    assert!(
        [
            "safety",
            "liveness",
            "availability",
            "convergence",
            "undecided"
        ]
        .contains(&f["kind"].as_str().unwrap_or("")),
        "{f}"
    );
    assert!(f["message"].as_str().is_some_and(|m| !m.is_empty()), "{f}");
}

/// docs/reference.md's `run` / `replay` object.
fn assert_run_json(j: &Value) {
    for k in [
        "model",
        "bug",
        "seed",
        "verdict",
        "violations",
        "undecided",
        "findings",
        "fingerprint",
        "stats",
        "artifacts",
    ] {
        assert!(j.get(k).is_some(), "missing `{k}` in {j}");
    }
    assert!(j["model"].is_string());
    assert!(j["bug"].is_null() || j["bug"].is_string());
    assert!(j["seed"].is_u64());
    let verdict = j["verdict"].as_str().expect("verdict");
    assert!(verdict == "pass" || verdict == "fail" || verdict == "undecided");
    let violations = j["violations"].as_array().expect("violations");
    let undecided = j["undecided"].as_array().expect("undecided");
    assert_eq!(violations.is_empty(), verdict != "fail", "{j}");
    assert_eq!(
        undecided.is_empty() || verdict == "fail",
        verdict != "undecided",
        "{j}"
    );
    violations.iter().for_each(assert_finding);
    j["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .for_each(assert_finding);
    let fp = j["fingerprint"].as_str().expect("fingerprint");
    assert!(
        fp.len() == 16 && fp.chars().all(|c| c.is_ascii_hexdigit()),
        "{fp}"
    );
    let stats = &j["stats"];
    assert_eq!(
        keys(stats),
        ["fail", "faults", "info", "messages", "ok", "ops", "sim_ms", "skipped", "wall_ms"]
    );
    for k in [
        "ops", "ok", "fail", "info", "messages", "faults", "skipped", "sim_ms",
    ] {
        assert!(stats[k].is_u64(), "stats.{k} is a count: {stats}");
    }
    assert!(stats["wall_ms"].as_f64().is_some_and(|w| w >= 0.0));
    let n = |k: &str| stats[k].as_u64().unwrap();
    assert_eq!(
        n("ok") + n("fail") + n("info"),
        n("ops"),
        "every op completes: {stats}"
    );
    assert!(n("ops") > 0 && n("messages") > 0 && n("sim_ms") > 0);
}

#[test]
fn unknown_model_is_a_usage_error() {
    let o = faultline(&["run", "no-such-model", "--json"]);
    assert_eq!(o.code, 2);
    assert!(o.stdout.is_empty(), "nothing on stdout: {}", o.stdout);
    assert!(
        o.stderr.contains("unknown model") && o.stderr.contains("no-such-model"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("primary-backup"),
        "names the known models: {}",
        o.stderr
    );
    assert_eq!(
        faultline(&["fuzz", "no-such-model", "--seeds", "1"]).code,
        2
    );
}

#[test]
fn unknown_bug_is_a_usage_error() {
    let o = faultline(&["run", "primary-backup", "--bug", "no-such-bug"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("no-such-bug"), "{}", o.stderr);
    assert!(
        o.stderr.contains("async-ack"),
        "lists the variants: {}",
        o.stderr
    );
    let o = faultline(&[
        "fuzz",
        "primary-backup",
        "--bug",
        "no-such-bug",
        "--seeds",
        "1",
    ]);
    assert_eq!(o.code, 2, "{}", o.stderr);
}

#[test]
fn unknown_flags_and_schedules_are_usage_errors() {
    assert_eq!(
        faultline(&["run", "primary-backup", "--no-such-flag"]).code,
        2
    );
    let o = faultline(&["run", "primary-backup", "--schedule", "no-such-schedule"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("no-such-schedule"), "{}", o.stderr);
}

#[test]
fn a_malformed_schedule_names_the_file_and_line() {
    let dir = TempDir::new("schedule");
    let file = dir.join("bad.yaml");
    std::fs::write(
        &file,
        "# node 1 crashes, with a typo in the second step\nsteps:\n  - {at_ms: 100, fault: crash, nodee: 1, for_ms: 500}\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    for cmd in ["run", "fuzz"] {
        let o = faultline(&[cmd, "primary-backup", "--schedule", path, "--json"]);
        assert_eq!(o.code, 2, "{cmd}: {}", o.stderr);
        assert!(o.stdout.is_empty(), "{cmd}: {}", o.stdout);
        assert!(
            o.stderr.contains(&format!("{path}:3")),
            "{cmd}: the message names the file and line 3: {}",
            o.stderr
        );
        assert!(o.stderr.contains("nodee"), "and the problem: {}", o.stderr);
    }
    // Every other kind of malformed schedule names the file, the line and the problem too.
    for (text, line, problem) in [
        ("steps:\n  - {at_ms: 1, fault: loss, rate: 0.1}\n  - {at_ms: 100, fault: crash, node: 9}\n", 3, "node 9 does not exist"),
        ("steps:\n  - {at_ms: 100, fault: crash, node: 1\n", 3, "flow mapping"),
        ("steps:\n  - {at_ms: 100, fault: meteor, node: 1}\n", 2, "unknown fault `meteor`"),
        ("\nsteps:\n  - {at_ms: -5, fault: crash, node: 1}\n", 3, "-5"),
        ("steps:\n  - {after: leader-elected, fault: partition, shape: star}\n", 2, "unknown partition shape `star`"),
        ("steps:\n  - {at_ms: 5, fault: partition, shape: isolate, node: 7}\n", 2, "node 7 does not exist"),
        ("generate:\n  faults: [crash, meteor]\n", 2, "unknown fault `meteor`"),
    ] {
        std::fs::write(&file, text).unwrap();
        let o = faultline(&["run", "primary-backup", "--schedule", path]);
        assert_eq!(o.code, 2, "{text}: {}", o.stderr);
        assert!(
            o.stderr.contains(&format!("{path}:{line}")) && o.stderr.contains(problem),
            "{text}: want {path}:{line} and `{problem}` in: {}",
            o.stderr
        );
    }
}

#[test]
fn run_json_has_specs_fields() {
    let o = faultline(&["run", "primary-backup", "--seed", "3", "--json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let j = o.json();
    assert_run_json(&j);
    assert_eq!(j["model"], "primary-backup");
    assert_eq!(j["bug"], Value::Null);
    assert_eq!(j["seed"], 3);
    assert_eq!(j["verdict"], "pass");
    assert_eq!(j["artifacts"], Value::Null, "a passing run writes nothing");
}

#[test]
fn the_trace_goes_to_stderr() {
    let o = faultline(&["run", "primary-backup", "--seed", "3", "--json", "-v"]);
    assert_eq!(o.code, 0);
    assert_run_json(&o.json());
    assert!(
        o.stderr.contains("n0") && o.stderr.lines().count() > 100,
        "a readable trace on stderr"
    );
}

#[test]
fn list_json_shows_primary_backup() {
    let o = faultline(&["list", "--json"]);
    assert_eq!(o.code, 0);
    let j = o.json();
    let pb = j["models"]
        .as_array()
        .expect("models")
        .iter()
        .find(|m| m["name"] == "primary-backup")
        .expect("primary-backup is listed");
    let mut bugs: Vec<&str> = pb["bugs"]
        .as_array()
        .expect("bugs")
        .iter()
        .map(|b| b.as_str().unwrap())
        .collect();
    bugs.sort_unstable();
    assert_eq!(
        bugs,
        [
            "async-ack",
            "follower-reads",
            "no-fencing",
            "rename-no-dirsync"
        ]
    );
    assert_eq!(pb["cap"], "CP");
    assert_eq!(
        pb["corruption_budget"], 0,
        "one primary's disk holds the only copy of acknowledged data"
    );
    for c in ["linearizability", "lost-write"] {
        assert!(
            pb["guarantees"].as_array().unwrap().contains(&json!(c)),
            "{pb}"
        );
        assert!(
            pb["checkers"].as_array().unwrap().contains(&json!(c)),
            "{pb}"
        );
    }
    let schedules = j["schedules"].to_string();
    for s in ["swarm", "none"] {
        assert!(schedules.contains(&format!("\"{s}\"")), "{schedules}");
    }
    assert!(j["specs"].is_array());
}

fn assert_fuzz_json(j: &Value) {
    assert_eq!(
        keys(j),
        [
            "bug",
            "failures",
            "first_failure_seed",
            "model",
            "seeds_failed",
            "seeds_passed",
            "seeds_per_sec",
            "seeds_run",
            "seeds_undecided",
            "undecided",
            "verdict",
            "wall_ms"
        ]
    );
    assert_eq!(
        j["seeds_passed"].as_u64().unwrap()
            + j["seeds_failed"].as_u64().unwrap()
            + j["seeds_undecided"].as_u64().unwrap(),
        j["seeds_run"].as_u64().unwrap(),
        "{j}"
    );
    assert!(j["seeds_run"].is_u64());
    assert!(j["seeds_per_sec"].as_f64().is_some_and(|s| s > 0.0));
    assert!(j["wall_ms"].as_f64().is_some_and(|w| w > 0.0));
    for f in j["failures"].as_array().expect("failures") {
        assert!(f["seed"].is_u64() && f["repro"].is_string(), "{f}");
        let v = f["violations"].as_array().expect("violations");
        assert!(!v.is_empty());
        v.iter().for_each(assert_finding);
    }
}

#[test]
fn fuzz_json_of_a_passing_campaign() {
    let dir = TempDir::new("fuzz-pass");
    let out = dir.join("out");
    let o = faultline(&[
        "fuzz",
        "primary-backup",
        "--seeds",
        "6",
        "--jobs",
        "2",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let j = o.json();
    assert_fuzz_json(&j);
    assert_eq!(j["model"], "primary-backup");
    assert_eq!(j["bug"], Value::Null);
    assert_eq!(j["seeds_run"], 6);
    assert_eq!(j["failures"], json!([]));
    assert_eq!(j["first_failure_seed"], Value::Null);
}

#[test]
fn fuzz_finds_the_same_first_failure_whatever_the_jobs() {
    let dir = TempDir::new("fuzz-fail");
    let mut firsts = Vec::new();
    for jobs in ["1", "2"] {
        let out = dir.join(&format!("jobs-{jobs}"));
        let o = faultline(&[
            "fuzz",
            "primary-backup",
            "--bug",
            "async-ack",
            "--seeds",
            "60",
            "--stop-on-first",
            "--jobs",
            jobs,
            "--out",
            out.to_str().unwrap(),
            "--json",
        ]);
        assert_eq!(o.code, 1, "{}", o.stderr);
        let j = o.json();
        assert_fuzz_json(&j);
        assert_eq!(j["bug"], "async-ack");
        let first = j["first_failure_seed"].as_u64().expect("a failing seed");
        let failures = j["failures"].as_array().unwrap();
        assert_eq!(
            failures.len(),
            1,
            "--stop-on-first reports the lowest failure"
        );
        assert_eq!(failures[0]["seed"], first);
        let repro = PathBuf::from(failures[0]["repro"].as_str().unwrap());
        assert!(repro.is_file(), "{}", repro.display());
        assert!(repro.starts_with(&out));
        assert!(
            out.join("campaign.json").is_file(),
            "the campaign summary is written"
        );
        firsts.push(first);
    }
    assert_eq!(firsts[0], firsts[1]);
}

#[test]
fn a_failing_run_writes_artifacts_and_replays_bit_for_bit() {
    let dir = TempDir::new("artifacts");
    let out = dir.join("seed-0");
    let o = faultline(&[
        "run",
        "primary-backup",
        "--bug",
        "follower-reads",
        "--seed",
        "0",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(o.code, 1, "a violation exits 1: {}", o.stderr);
    let j = o.json();
    assert_run_json(&j);
    assert_eq!(j["verdict"], "fail");
    assert_eq!(j["bug"], "follower-reads");
    assert!(
        j["violations"].to_string().contains("linearizability"),
        "{j}"
    );
    let fingerprint = j["fingerprint"].as_str().unwrap().to_string();

    // The three artifacts, where --out said, and reported in the JSON.
    let repro = out.join("repro.yaml");
    let history = out.join("history.jsonl");
    let timeline = out.join("timeline.html");
    for (key, path) in [
        ("repro", &repro),
        ("history", &history),
        ("timeline", &timeline),
    ] {
        assert!(path.is_file(), "{} was written", path.display());
        let reported = PathBuf::from(j["artifacts"][key].as_str().expect("artifact path"));
        assert_eq!(
            std::fs::canonicalize(&reported).unwrap(),
            std::fs::canonicalize(path).unwrap()
        );
    }
    let r: Value = serde_yaml::from_str(&std::fs::read_to_string(&repro).unwrap()).unwrap();
    assert_eq!(r["faultline"], 1);
    assert_eq!(r["model"], "primary-backup");
    assert_eq!(r["bug"], "follower-reads");
    assert_eq!(r["seed"], 0);
    assert_eq!(r["fingerprint"], fingerprint.as_str());
    assert!(r["config"]["nodes"].is_u64() && r["schedule"].is_array());
    assert!(r["version"]["faultline"].is_string() && r["version"]["model"].is_string());
    let text = std::fs::read_to_string(&history).unwrap();
    assert!(text.lines().count() > 10);
    for line in text.lines() {
        let e: Value = serde_json::from_str(line).expect("one JSON op per line");
        assert!(e["process"].is_u64() && e["time_ns"].is_u64(), "{e}");
        assert!(["invoke", "ok", "fail", "info"].contains(&e["type"].as_str().unwrap()));
    }
    let html = std::fs::read_to_string(&timeline).unwrap();
    assert!(html.to_lowercase().starts_with("<!doctype html>"));
    assert!(html.contains("linearizability"));
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "self-contained"
    );

    // Replay: the same run, the same fingerprint, still failing.
    let replay_out = dir.join("replay");
    let o = faultline(&[
        "replay",
        repro.to_str().unwrap(),
        "--out",
        replay_out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(o.code, 1, "the bug is still there: {}", o.stderr);
    let rj = o.json();
    assert_run_json(&rj);
    assert_eq!(rj["diverged"], false);
    assert_eq!(rj["fingerprint"], fingerprint.as_str());
    assert_eq!(rj["recorded_fingerprint"], fingerprint.as_str());
    assert_eq!(rj["violations"], j["violations"]);
    assert_eq!(rj["stats"]["messages"], j["stats"]["messages"]);

    // "Did my fix work?": the same reproducer without the bug passes (exit 0), and its
    // fingerprint no longer matches.
    let text = std::fs::read_to_string(&repro).unwrap();
    assert!(text.contains("bug: follower-reads\n"));
    let fixed = dir.join("fixed.yaml");
    std::fs::write(&fixed, text.replace("bug: follower-reads\n", "")).unwrap();
    let o = faultline(&["replay", fixed.to_str().unwrap(), "--json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let fj = o.json();
    assert_eq!(fj["verdict"], "pass");
    assert_eq!(fj["diverged"], true);
    assert_eq!(fj["recorded_fingerprint"], fingerprint.as_str());

    // A broken reproducer is an input error naming the file.
    let broken = dir.join("broken.yaml");
    std::fs::write(&broken, text.replace("seed: 0", "seed: zero")).unwrap();
    let o = faultline(&["replay", broken.to_str().unwrap()]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("broken.yaml"), "{}", o.stderr);
}

/// A register whose every read answers with markup: a hostile history.
struct Hostile;

const XSS: &str = "<script>alert('owned')</script>";

impl Protocol for Hostile {
    type Msg = ();

    fn cap(&self) -> Cap {
        Cap::CP
    }

    async fn node(&self, ctx: NodeCtx<()>) {
        ctx.observe(XSS, &json!({"note": XSS}));
        loop {
            ctx.sleep(Duration::from_secs(1)).await;
        }
    }

    async fn call(&self, c: &ClientCtx<()>, _: u64, op: &Invocation) -> Outcome {
        c.sleep(Duration::from_millis(1)).await;
        if op.f == "read" {
            Outcome::Ok(json!(XSS))
        } else {
            Outcome::Ok(Value::Null)
        }
    }
}

#[test]
fn the_timeline_escapes_markup_from_the_run() {
    let dir = TempDir::new("xss");
    let out = dir.join("out");
    let model = Model::new("hostile", |_| Ok(Hostile))
        .bug("<script>bug</script>", XSS)
        .nodes(2)
        .clients(1)
        .ops(20);
    // The CLI as a library, on a user's own model.
    let code = faultline_cli::cli::run_cli(
        [
            "faultline",
            "run",
            "hostile",
            "--bug",
            "<script>bug</script>",
            "--out",
            out.to_str().unwrap(),
        ],
        vec![model],
    );
    assert_eq!(
        code, 1,
        "reads of values never written are not linearizable"
    );
    let html = std::fs::read_to_string(out.join("timeline.html")).expect("timeline written");
    assert!(
        !html.to_lowercase().contains("<script"),
        "no markup from the run survives"
    );
    assert!(
        html.contains("&lt;script&gt;"),
        "it is shown as text instead"
    );
    // The history keeps the raw value.
    let history = std::fs::read_to_string(out.join("history.jsonl")).unwrap();
    assert!(history.contains(XSS));
}
