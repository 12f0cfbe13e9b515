//! Campaigns end to end: shards split the seeds exactly and `merge` reports their union; a
//! campaign killed with SIGKILL (or stopped with Ctrl-C) and resumed reports what an
//! uninterrupted one does; `Check` remembers failing seeds.
use faultline::prelude::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::TempDir;

fn faultline(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    faultline_env(cwd, args, &[])
}

fn faultline_env(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    common::faultline_env(cwd, args, env).into_parts()
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// (seed, violated checkers) of every failure.
fn failures(j: &Value) -> Vec<(u64, Vec<String>)> {
    j["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .map(|f| {
            let mut c: Vec<String> = f["violations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["checker"].as_str().unwrap().to_string())
                .collect();
            c.sort();
            c.dedup();
            (f["seed"].as_u64().unwrap(), c)
        })
        .collect()
}

const CAMPAIGN: &[&str] = &[
    "fuzz",
    "primary-backup",
    "--bug",
    "async-ack",
    "--ops",
    "60",
];

fn campaign_args<'a>(out: &'a str, seeds: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = CAMPAIGN.to_vec();
    a.extend(["--seeds", seeds, "--jobs", "2", "--out", out, "--json"]);
    a.extend(extra);
    a
}

#[test]
fn two_shards_run_every_seed_once_and_merge_reports_the_union() {
    let dir = TempDir::new("shards");
    let whole = dir.join("whole");
    // stderr is not a terminal here: plain progress lines (every millisecond for the test).
    let (code, stdout, stderr) = faultline_env(
        dir.path(),
        &campaign_args(whole.to_str().unwrap(), "200", &[]),
        &[("FAULTLINE_LOG_SECS", "0.001")],
    );
    assert_eq!(code, 1, "async-ack fails some seed: {stderr}");
    assert!(
        stderr.lines().any(|l| l.starts_with("faultline: ")
            && l.contains("/200 seeds")
            && l.contains("seeds/s")),
        "{stderr}"
    );
    let whole = json(&stdout);
    assert_eq!(whole["seeds_run"], 200);
    let mut shard_dirs = Vec::new();
    for i in 0..2u64 {
        let d = dir.join(&format!("shard-{i}"));
        let shard = format!("{i}/2");
        let (code, stdout, stderr) = faultline(
            dir.path(),
            &campaign_args(d.to_str().unwrap(), "200", &["--shard", &shard]),
        );
        assert!(code == 0 || code == 1, "{stderr}");
        let j = json(&stdout);
        assert_eq!(j["seeds_run"], 100, "shard {shard}");
        assert!(failures(&j).iter().all(|(s, _)| s % 2 == i), "{j}");
        // campaign.json lists the finished seeds: every seed of the shard, no other.
        let summary: Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("campaign.json")).unwrap())
                .unwrap();
        assert_eq!(summary["done"], serde_json::json!([[i, 198 + i]]));
        assert_eq!(summary["campaign"]["shard"], shard.as_str());
        assert_eq!(summary["complete"], true);
        shard_dirs.push(d);
    }
    let merged = dir.join("merged");
    let (code, stdout, stderr) = faultline(
        dir.path(),
        &[
            "merge",
            shard_dirs[0].to_str().unwrap(),
            shard_dirs[1].to_str().unwrap(),
            "--out",
            merged.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    let m = json(&stdout);
    assert_eq!(m["seeds_run"], 200);
    assert_eq!(failures(&m), failures(&whole), "the union of the shards");
    assert_eq!(m["first_failure_seed"], whole["first_failure_seed"]);
    for f in m["failures"].as_array().unwrap() {
        let repro = Path::new(f["repro"].as_str().unwrap());
        assert!(repro.is_file() && repro.starts_with(&merged), "{f}");
    }
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(merged.join("campaign.json")).unwrap())
            .unwrap();
    assert_eq!(summary["complete"], true);
    assert_eq!(summary["shards"].as_array().unwrap().len(), 2);
    let sigs = summary["signatures"].as_array().unwrap();
    let counted: u64 = sigs.iter().map(|s| s["count"].as_u64().unwrap()).sum();
    assert_eq!(counted as usize, failures(&whole).len());

    // The same shard twice is refused.
    let (code, _, stderr) = faultline(
        dir.path(),
        &[
            "merge",
            shard_dirs[0].to_str().unwrap(),
            shard_dirs[0].to_str().unwrap(),
            "--out",
            dir.join("bad").to_str().unwrap(),
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("same seeds"), "{stderr}");
}

fn journal_lines(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("checkpoint.journal")).map_or(0, |t| t.lines().count())
}

/// Polls (bounded) until the campaign in `dir` has journaled a few seeds.
fn wait_for_progress(dir: &Path, child: &mut std::process::Child) {
    let t0 = Instant::now();
    while journal_lines(dir) < 5 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the campaign ended before it could be interrupted"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no progress in the checkpoint"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_campaign_killed_with_sigkill_and_resumed_reports_the_same_failures() {
    let dir = TempDir::new("resume");
    let reference = dir.join("reference");
    let (code, stdout, stderr) = faultline(
        dir.path(),
        &campaign_args(reference.to_str().unwrap(), "300", &[]),
    );
    assert_eq!(code, 1, "{stderr}");
    let reference = json(&stdout);

    let killed = dir.join("killed");
    let args = campaign_args(killed.to_str().unwrap(), "300", &[]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(&args)
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_progress(&killed, &mut child);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !killed.join("campaign.json").exists(),
        "killed before its summary"
    );

    let mut resumed = args.clone();
    resumed.push("--resume");
    let (code, stdout, stderr) = faultline(dir.path(), &resumed);
    assert_eq!(code, 1, "{stderr}");
    let note = stderr
        .lines()
        .find(|l| l.contains("resuming the campaign"))
        .unwrap_or_else(|| panic!("{stderr}"));
    let before: u64 = note
        .split(": ")
        .nth(2)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{note}"));
    assert!((5..300).contains(&before), "{note}");
    let j = json(&stdout);
    assert_eq!(j["seeds_run"], 300);
    assert_eq!(failures(&j), failures(&reference));
    assert_eq!(j["first_failure_seed"], reference["first_failure_seed"]);
    for f in j["failures"].as_array().unwrap() {
        assert!(Path::new(f["repro"].as_str().unwrap()).is_file(), "{f}");
    }

    // A finished campaign resumed runs nothing more and reports the same.
    let (code, stdout, _) = faultline(dir.path(), &resumed);
    assert_eq!(code, 1);
    assert_eq!(failures(&json(&stdout)), failures(&reference));

    // Resuming with other options is refused (more seeds would extend the campaign; fewer
    // cannot).
    let mut other = campaign_args(killed.to_str().unwrap(), "200", &[]);
    other.push("--resume");
    let (code, _, stderr) = faultline(dir.path(), &other);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("different campaign") && stderr.contains("seeds"),
        "{stderr}"
    );
}

#[test]
fn ctrl_c_stops_cleanly_with_a_summary() {
    let dir = TempDir::new("sigint");
    let out = dir.join("c");
    let args = campaign_args(out.to_str().unwrap(), "5000", &[]);
    let human: Vec<&str> = args.iter().copied().filter(|a| *a != "--json").collect();
    let child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(&human)
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = child;
    wait_for_progress(&out, &mut child);
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let o = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(o.stdout).unwrap();
    let stderr = String::from_utf8(o.stderr).unwrap();
    assert!(matches!(o.status.code(), Some(0 | 1)), "{stderr}");
    assert!(stdout.contains("interrupted"), "{stdout}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("campaign.json")).unwrap()).unwrap();
    assert_eq!(summary["interrupted"], true);
    assert_eq!(summary["complete"], false);
    let run = summary["seeds_run"].as_u64().unwrap();
    assert!(run > 0 && run < 5000, "{run}");
}

#[test]
fn check_reports_the_seed_and_replay_command_and_remembers_regressions() {
    let dir = TempDir::new("check");
    let regressions = dir.join("regressions/pb.txt");
    let artifacts = dir.join("artifacts");
    // A built-in model: the stock binary knows it, so its replay command works.
    let result = Check::new(faultline_models::primary_backup::model())
        .binary("faultline")
        .bug("async-ack")
        .ops(60)
        .seeds(0..30)
        .stop_on_first()
        .regressions(&regressions)
        .artifacts(&artifacts)
        .run();
    let seed = result.first_failure().expect("async-ack fails").seed;
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| result.assert_ok()))
        .expect_err("assert_ok panics");
    let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains(&format!("seed {seed}")), "{msg}");
    assert!(msg.contains("violation [linearizability]"), "{msg}");
    let repro = artifacts.join(format!("primary-backup-async-ack-{seed}/repro.yaml"));
    assert!(
        msg.contains(&format!("faultline replay {}", repro.display())),
        "{msg}"
    );
    assert!(repro.is_file());
    let text = std::fs::read_to_string(&regressions).unwrap();
    assert!(
        text.lines().any(|l| l.starts_with(&format!("{seed} "))),
        "{text}"
    );

    // Next time the regression seed runs first, even outside the range.
    let again = Check::new(faultline_models::primary_backup::model())
        .bug("async-ack")
        .ops(60)
        .seeds(1000..1001)
        .regressions(&regressions)
        .run();
    assert_eq!(again.regression_seeds, vec![seed]);
    assert_eq!(again.seeds_run, 2);
    assert_eq!(again.first_failure().map(|r| r.seed), Some(seed));
}
