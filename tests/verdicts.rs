//! Verdicts you can trust: one recording gets one verdict (the checkers' budget is counted in
//! search steps, never time), `undecided` is a verdict of its own with exit 3 everywhere, and
//! every reported seed is run twice so a seed that is not reproducible is reported as such.
mod common;

use common::{faultline_in, TempDir};
use faultline::campaign::{fuzz, FuzzOptions, Share};
use faultline::prelude::*;
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Busy-loop processes burning every core while they live (killed when dropped).
struct Burners(Vec<Child>);

impl Burners {
    fn start(n: usize) -> Burners {
        Burners(
            (0..n)
                .map(|_| {
                    Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .stdout(Stdio::null())
                        .spawn()
                        .expect("sh starts")
                })
                .collect(),
        )
    }
}

impl Drop for Burners {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn verdict_of(v: &Value) -> String {
    v["verdict"].as_str().unwrap_or("?").to_string()
}

/// (exit code, verdict) of `check-history` and of `run` and of a one-seed `fuzz`, for one
/// budget, with `--jobs` as given.
fn verdicts(dir: &TempDir, history: &str, budget: u64, jobs: &str) -> Vec<(i32, String)> {
    let b = budget.to_string();
    let ch = faultline_in(
        dir.path(),
        &[
            "check-history",
            history,
            "--spec",
            "append",
            "--check-budget",
            &b,
            "--json",
        ],
    );
    let run = faultline_in(
        dir.path(),
        &[
            "run",
            "primary-backup",
            "--seed",
            "0",
            "--check-budget",
            &b,
            "--json",
            "--out",
            "run-out",
        ],
    );
    let fz = faultline_in(
        dir.path(),
        &[
            "fuzz",
            "primary-backup",
            "--seeds",
            "1",
            "--jobs",
            jobs,
            "--check-budget",
            &b,
            "--json",
            "--out",
            "fuzz-out",
        ],
    );
    let ch_v = match ch.json()["verdict"].as_str() {
        Some("linearizable") => "pass".to_string(),
        Some(v) => v.to_string(),
        None => "?".into(),
    };
    vec![
        (ch.code, ch_v),
        (run.code, verdict_of(&run.json())),
        (fz.code, verdict_of(&fz.json())),
    ]
}

/// A history that exhausts a small budget gets `undecided` (exit 3) from `check-history`, from
/// `run` and from `fuzz`, with `--jobs 1`, `--jobs 2` and while other processes burn both
/// cores; one step more and it is decided, everywhere alike.
#[test]
fn one_recording_one_verdict_under_any_load() {
    let dir = TempDir::new("budget");
    // Record seed 0's history (a budget of one step leaves it undecided, so it is written).
    let first = faultline_in(
        dir.path(),
        &[
            "run",
            "primary-backup",
            "--seed",
            "0",
            "--check-budget",
            "1",
            "--json",
            "--out",
            "rec",
        ],
    );
    assert_eq!(first.code, 3, "{}", first.stdout);
    let j = first.json();
    assert_eq!(j["verdict"], "undecided");
    let undecided: Vec<&str> = j["undecided"]
        .as_array()
        .expect("an undecided list")
        .iter()
        .filter_map(|u| u["checker"].as_str())
        .collect();
    assert_eq!(undecided, ["linearizability", "cap"]);
    assert_eq!(j["violations"].as_array().map(Vec::len), Some(0));
    let history = dir.join("rec/history.jsonl").display().to_string();
    // How many steps deciding it takes, unlimited.
    let full = faultline_in(
        dir.path(),
        &["check-history", &history, "--spec", "append", "--json"],
    );
    assert_eq!(full.code, 0, "{}", full.stdout);
    let steps = full.json()["steps"].as_u64().expect("steps");
    assert!(steps > 10, "a real search: {steps} steps");
    let short = steps - 1;
    let undecided = vec![(3, "undecided".to_string()); 3];
    let decided = vec![(0, "pass".to_string()); 3];
    for jobs in ["1", "2"] {
        assert_eq!(
            verdicts(&dir, &history, short, jobs),
            undecided,
            "--jobs {jobs}"
        );
        assert_eq!(
            verdicts(&dir, &history, steps, jobs),
            decided,
            "--jobs {jobs}"
        );
    }
    let _load = Burners::start(2);
    for jobs in ["1", "2"] {
        assert_eq!(
            verdicts(&dir, &history, short, jobs),
            undecided,
            "--jobs {jobs} under load"
        );
        assert_eq!(
            verdicts(&dir, &history, steps, jobs),
            decided,
            "--jobs {jobs} under load"
        );
    }
}

/// Each seed's verdict (pass, fail or undecided) as campaign.json lists them.
fn seed_verdicts(campaign: &Value) -> (u64, Vec<u64>, Vec<u64>) {
    let seeds = |k: &str| -> Vec<u64> {
        campaign[k]
            .as_array()
            .expect("a list")
            .iter()
            .filter_map(|f| f["seed"].as_u64())
            .collect()
    };
    (
        campaign["seeds_passed"].as_u64().expect("a count"),
        seeds("failures"),
        seeds("undecided"),
    )
}

/// A campaign's per-seed verdicts do not depend on `--jobs`, with all three verdicts present.
#[test]
fn campaign_verdict_counts_are_the_same_under_any_jobs() {
    let dir = TempDir::new("counts");
    let mut seen = Vec::new();
    for jobs in ["1", "2"] {
        let out = format!("c{jobs}");
        let r = faultline_in(
            dir.path(),
            &[
                "fuzz",
                "primary-backup",
                "--bug",
                "async-ack",
                "--seeds",
                "24",
                "--jobs",
                jobs,
                "--check-budget",
                "190",
                "--json",
                "--out",
                &out,
            ],
        );
        assert_eq!(r.code, 1, "some seeds fail: {}", r.stdout);
        let summary: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(&out).join("campaign.json")).unwrap(),
        )
        .unwrap();
        let j = r.json();
        assert_eq!(
            j["seeds_passed"].as_u64().unwrap()
                + j["seeds_failed"].as_u64().unwrap()
                + j["seeds_undecided"].as_u64().unwrap(),
            24
        );
        seen.push(seed_verdicts(&summary));
    }
    let (pass, fail, undecided) = &seen[0];
    assert!(
        *pass > 0 && !fail.is_empty() && !undecided.is_empty(),
        "all three verdicts occur: {seen:?}"
    );
    assert_eq!(seen[0], seen[1]);
}

/// Undecided seeds and no failures: `fuzz` and `ci` exit 3, 0 when undecided seeds are allowed.
#[test]
fn undecided_only_campaigns_exit_three_unless_allowed() {
    let dir = TempDir::new("exit3");
    let args = |allow: bool| {
        let mut a = vec![
            "fuzz",
            "primary-backup",
            "--seeds",
            "2",
            "--jobs",
            "1",
            "--check-budget",
            "1",
            "--json",
            "--out",
            "fz",
        ];
        if allow {
            a.push("--allow-undecided");
        }
        a
    };
    let r = faultline_in(dir.path(), &args(false));
    assert_eq!(r.code, 3, "{}", r.stdout);
    let j = r.json();
    assert_eq!(j["verdict"], "undecided");
    assert_eq!(
        (j["seeds_undecided"].as_u64(), j["seeds_failed"].as_u64()),
        (Some(2), Some(0))
    );
    assert!(
        dir.join("fz/seed-0/repro.yaml").is_file(),
        "undecided seeds keep a reproducer"
    );
    assert_eq!(faultline_in(dir.path(), &args(true)).code, 0);
    // The reproducer records the budget: replaying it is undecided again.
    let replay = faultline_in(dir.path(), &["replay", "fz/seed-0/repro.yaml", "--json"]);
    assert_eq!(
        (replay.code, verdict_of(&replay.json())),
        (3, "undecided".into())
    );
    // ci: an expect-pass entry with undecided seeds is not met, exit 3 (JUnit says why).
    let suite = |extra: &str| {
        format!("- {{model: primary-backup, seeds: 2, expect: pass, check_budget: 1{extra}}}\n")
    };
    std::fs::write(dir.join("s.yaml"), suite("")).unwrap();
    std::fs::write(dir.join("allowed.yaml"), suite(", allow_undecided: true")).unwrap();
    let ci = faultline_in(
        dir.path(),
        &["ci", "s.yaml", "--jobs", "1", "--json", "--junit", "j.xml"],
    );
    assert_eq!(ci.code, 3, "{}", ci.stdout);
    let e = &ci.json()["entries"][0];
    assert_eq!(
        (e["met"].as_bool(), e["undecided"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!(e["counts"]["undecided"], 2);
    assert_eq!(e["seed"], 0, "the seed whose reproducer is written: {e}");
    let junit = std::fs::read_to_string(dir.join("j.xml")).unwrap();
    assert!(junit.contains("type=\"undecided\""), "{junit}");
    let ci = faultline_in(dir.path(), &["ci", "allowed.yaml", "--jobs", "1", "--json"]);
    assert_eq!(ci.code, 0, "{}", ci.stdout);
    let ci = faultline_in(
        dir.path(),
        &["ci", "s.yaml", "--jobs", "1", "--json", "--allow-undecided"],
    );
    assert_eq!(ci.code, 0, "{}", ci.stdout);
}

/// Counts every client call of every run in this process: a model that reads it depends on
/// something outside the seed.
static CALLS: AtomicU64 = AtomicU64::new(0);

/// A store that answers every call after a pause; `flaky` makes the pause depend on [`CALLS`]
/// (so a seed's second run differs), `doomed` declares a guarantee every run violates.
struct Echo {
    flaky: bool,
}

struct AlwaysFails;

impl Checker for AlwaysFails {
    fn name(&self) -> &'static str {
        "always"
    }
    fn check(&self, _: &faultline::recording::Recording) -> Vec<Finding> {
        vec![Finding::new(
            "always",
            FindingKind::Safety,
            "this model always fails",
        )]
    }
}

impl Protocol for Echo {
    type Msg = ();

    fn cap(&self) -> Cap {
        Cap::None
    }

    fn guarantees(&self) -> Vec<&'static str> {
        vec!["always"]
    }

    fn checkers(&self) -> Vec<Box<dyn Checker>> {
        vec![Box::new(AlwaysFails)]
    }

    async fn node(&self, ctx: NodeCtx<()>) {
        loop {
            ctx.sleep(Duration::from_millis(100)).await;
        }
    }

    async fn call(&self, c: &ClientCtx<()>, _: u64, _: &Invocation) -> Outcome {
        let pause = if self.flaky {
            1 + CALLS.fetch_add(1, Ordering::Relaxed) % 7
        } else {
            3
        };
        c.sleep(Duration::from_millis(pause)).await;
        Outcome::Ok(Value::Null)
    }
}

fn echo(flaky: bool) -> Model {
    Model::new(if flaky { "flaky" } else { "steady" }, move |_| {
        Ok(Echo { flaky })
    })
    .nodes(2)
    .clients(2)
    .ops(20)
}

fn campaign(model: &Model, dir: &TempDir, name: &str) -> faultline::campaign::CampaignReport {
    let mut o = FuzzOptions::new(model.config(None), dir.join(name));
    o.seeds = Some(3);
    o.jobs = 1;
    o.schedule = "none".into();
    fuzz(model, &o).expect("the campaign runs")
}

/// Every failing seed runs twice: a model whose runs depend on a process-global counter gets a
/// `determinism` violation naming both fingerprints and both verdicts; a deterministic model
/// with the same failures does not.
#[test]
fn failing_seeds_are_rerun_and_nondeterminism_is_reported() {
    let dir = TempDir::new("rerun");
    let steady = campaign(&echo(false), &dir, "steady");
    assert_eq!(steady.seeds_failed, 3);
    for f in &steady.failures {
        assert_eq!(
            f.checkers(),
            ["always"],
            "seed {}: {:?}",
            f.seed,
            f.violations
        );
    }
    let flaky = campaign(&echo(true), &dir, "flaky");
    assert_eq!(flaky.seeds_failed, 3);
    for f in &flaky.failures {
        assert_eq!(f.checkers(), ["always", "determinism"], "seed {}", f.seed);
        let d = f
            .violations
            .iter()
            .find(|v| v.checker == "determinism")
            .unwrap();
        let fps = d.detail.as_ref().expect("detail")["fingerprints"].clone();
        let (a, b) = (fps[0].as_str().unwrap(), fps[1].as_str().unwrap());
        assert_ne!(a, b);
        assert!(
            d.message.contains(a) && d.message.contains(b),
            "{}",
            d.message
        );
        assert!(d.message.contains("verdict fail"), "{}", d.message);
    }
    // The campaign file says it too.
    let summary = std::fs::read_to_string(dir.join("flaky/campaign.json")).unwrap();
    assert!(summary.contains("always+determinism"), "{summary}");
}

/// `--check-determinism` re-runs passing seeds too (all of them at 100%), chosen by a hash of
/// the seed; without it passing seeds run once.
#[test]
fn check_determinism_share_reruns_passing_seeds() {
    let dir = TempDir::new("share");
    let passing = |flaky: bool| {
        Model::new(if flaky { "flaky" } else { "steady" }, move |_| {
            Ok(Passing(Echo { flaky }))
        })
        .nodes(2)
        .clients(2)
        .ops(20)
    };
    let run = |m: &Model, name: &str, share: Share| {
        let mut o = FuzzOptions::new(m.config(None), dir.join(name));
        o.seeds = Some(3);
        o.jobs = 1;
        o.schedule = "none".into();
        o.check_determinism = share;
        fuzz(m, &o).expect("the campaign runs")
    };
    let once = run(&passing(true), "once", Share::NONE);
    assert_eq!((once.seeds_passed(), once.seeds_failed), (3, 0));
    let all = run(&passing(true), "all", Share::ALL);
    assert_eq!(all.seeds_failed, 3, "{:?}", all.failures);
    assert!(all.failures.iter().all(|f| f.checkers() == ["determinism"]));
    let steady = run(&passing(false), "steady", Share::ALL);
    assert_eq!((steady.seeds_passed(), steady.seeds_failed), (3, 0));
}

/// [`Echo`] without the failing guarantee.
struct Passing(Echo);

impl Protocol for Passing {
    type Msg = ();
    fn cap(&self) -> Cap {
        Cap::None
    }
    fn checkers(&self) -> Vec<Box<dyn Checker>> {
        vec![]
    }
    async fn node(&self, ctx: NodeCtx<()>) {
        self.0.node(ctx).await
    }
    async fn call(&self, c: &ClientCtx<()>, id: u64, inv: &Invocation) -> Outcome {
        self.0.call(c, id, inv).await
    }
}
