//! Helpers shared by the end-to-end tests: temp dirs, running the `faultline` binary, running
//! one seed of a model, and hunting for the seed that catches a bug variant. Each test crate
//! uses only some of them.
#![allow(dead_code)]
use faultline::prelude::*;
use faultline::run::{run, Faults, RunError, RunReport, RunRequest};
use faultline::schedule::Schedule;
use serde_json::Value;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A unique folder under the system temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "faultline-cli-test-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a run of the `faultline` binary printed, and its exit code.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// stdout must be exactly one JSON object and nothing else.
    pub fn json(&self) -> Value {
        let text = self.stdout.trim();
        assert_eq!(
            text.lines().count(),
            1,
            "one line of JSON on stdout, got: {}",
            self.stdout
        );
        let v: Value = serde_json::from_str(text).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON value ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        });
        assert!(v.is_object(), "{v}");
        v
    }

    /// (exit code, stdout, stderr).
    pub fn into_parts(self) -> (i32, String, String) {
        (self.code, self.stdout, self.stderr)
    }
}

/// Runs the binary in `cwd` (a temp dir, so default output folders never land in the repo).
pub fn faultline_in(cwd: &Path, args: &[&str]) -> Out {
    faultline_env(cwd, args, &[])
}

/// [`faultline_in`] with `env` added to the environment.
pub fn faultline_env(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(cwd)
        .output()
        .expect("the faultline binary runs");
    Out {
        code: out.status.code().expect("exited normally"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

/// One run of `model` (bug `bug`) with `faults`, `fail_on` added to its guarantees.
pub fn run_faults(
    model: &Model,
    bug: Option<&str>,
    seed: u64,
    faults: Faults,
    fail_on: &[&str],
) -> RunReport {
    let req = RunRequest {
        seed,
        config: model.config(bug),
        faults,
        fail_on: fail_on.iter().map(|s| s.to_string()).collect(),
        trace: false,
    };
    run(model, &req).expect("valid run")
}

/// One seed of `model` with the whole configuration `config` under `schedule`.
pub fn run_config(model: &Model, seed: u64, config: ModelConfig, schedule: &str) -> RunReport {
    let req = RunRequest {
        seed,
        config,
        faults: Faults::Schedule(Schedule::load(schedule).unwrap()),
        fail_on: vec![],
        trace: false,
    };
    run(model, &req).expect("valid run")
}

/// Each seed of the correct `model` under `swarm` passes with the wire check (`--wire serde`),
/// counts bytes, and takes exactly the path it takes without the check (same fingerprint).
pub fn assert_same_run_with_wire(model: &Model, seeds: Range<u64>) {
    for seed in seeds {
        let with = |wire| {
            let config = ModelConfig {
                wire,
                ..model.config(None)
            };
            run_config(model, seed, config, "swarm")
        };
        let plain = with(None);
        let wired = with(Some(faultline::protocol::WireCheck::Serde));
        assert!(wired.passed, "seed {seed}: {:?}", wired.violations);
        assert_eq!(plain.fingerprint, wired.fingerprint, "seed {seed}");
        assert!(
            wired.stats.wire_bytes.unwrap() > 0,
            "seed {seed}: no bytes counted"
        );
    }
}

/// The error a run of `config` (seed 0, no faults) is refused with; `why` if it runs.
pub fn refused(model: &Model, config: ModelConfig, why: &str) -> RunError {
    let req = RunRequest {
        seed: 0,
        config,
        faults: Faults::Schedule(Schedule::load("none").unwrap()),
        fail_on: vec![],
        trace: false,
    };
    run(model, &req).expect_err(why)
}

/// One seed of `model` (bug `bug`) under `schedule`, with `fail_on` added to its guarantees.
pub fn run_seed(
    model: &Model,
    bug: Option<&str>,
    schedule: &str,
    seed: u64,
    fail_on: &[&str],
) -> RunReport {
    let faults = Faults::Schedule(Schedule::load(schedule).unwrap());
    run_faults(model, bug, seed, faults, fail_on)
}

/// Every seed in `seeds` of the correct variant passes under `schedule`.
pub fn assert_passes(model: Model, schedule: &str, seeds: Range<u64>) {
    Check::new(model)
        .schedule(schedule)
        .seeds(seeds)
        .run()
        .assert_ok();
}

/// Which failures [`hunt`] checks.
pub enum Failures {
    /// Stop at the lowest failing seed and check it alone.
    First,
    /// Run every seed and check every failure.
    All,
}

/// The lowest seed in `0..n` at which `bug` fails under `schedule`. Asserts that the failure
/// violates every checker in `must` and no checker outside `must` and `allowed`, that it ran
/// the bug variant, and that the correct variant passes that very seed.
pub fn found_by(
    model: fn() -> Model,
    bug: &str,
    schedule: &str,
    n: u64,
    must: &[&str],
    allowed: &[&str],
) -> u64 {
    hunt(model, bug, schedule, n, Failures::First, must, allowed)
}

/// Runs `bug` over the seeds `0..n` under `schedule`: every checker in `must` fires on some
/// checked failure, no checked failure violates a checker outside `must` and `allowed`, the
/// first failure ran the bug variant, and the correct variant passes its seed (returned).
pub fn hunt(
    model: fn() -> Model,
    bug: &str,
    schedule: &str,
    n: u64,
    which: Failures,
    must: &[&str],
    allowed: &[&str],
) -> u64 {
    let first_only = matches!(which, Failures::First);
    let mut check = Check::new(model()).bug(bug).schedule(schedule).seeds(0..n);
    if first_only {
        check = check.stop_on_first();
    }
    let result = check.run();
    let failure = result
        .first_failure()
        .unwrap_or_else(|| panic!("--bug {bug} --schedule {schedule}: no failure in 0..{n}"));
    let failures: &[RunReport] = if first_only {
        std::slice::from_ref(failure)
    } else {
        &result.failures
    };
    for c in must {
        assert!(
            failures
                .iter()
                .any(|f| f.violated_checkers().iter().any(|x| x == c)),
            "--bug {bug} --schedule {schedule}: expected a `{c}` violation, got {:?}",
            failures
                .iter()
                .map(|f| (f.seed, f.violated_checkers()))
                .collect::<Vec<_>>()
        );
    }
    for f in failures {
        for c in &f.violated_checkers() {
            assert!(
                must.contains(&c.as_str()) || allowed.contains(&c.as_str()),
                "--bug {bug} seed {}: unexpected `{c}` violation: {:?}",
                f.seed,
                f.violations
            );
        }
    }
    assert_eq!(failure.config.bug.as_deref(), Some(bug));
    let fixed = run_seed(&model(), None, schedule, failure.seed, &[]);
    assert!(
        fixed.passed,
        "the correct variant fails seed {} of {schedule} too: {:?}",
        failure.seed, fixed.violations
    );
    failure.seed
}
