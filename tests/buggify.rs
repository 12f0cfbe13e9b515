//! Buggify points (`ctx.buggify`): deterministic per seed, off by default without touching a
//! run's fingerprint, only enabled points fire, a reproducer replays the recorded set bit for
//! bit, shrink disables a point the failure does not need, and an undeclared point fails the run.
use faultline::prelude::*;
use faultline::repro::Repro;
use faultline::run::{run, Faults, RunReport, RunRequest};
use faultline::schedule::Schedule;
use faultline::shrink::{shrink, ShrinkOptions};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

mod common;

/// A register on node 0. Point `ack-without-apply` acknowledges a write without applying it (a
/// real bug, reachable only through buggify); point `slow-reply` delays a reply by 1 ms
/// (harmless). With `--set calls=false` the node never reaches a point; with
/// `--set undeclared=true` it reaches one it did not declare.
struct Reg {
    calls: bool,
    undeclared: bool,
}

#[derive(Clone, Debug)]
enum Msg {
    Req(u64, Invocation),
    Rep(u64, Value),
}

impl Protocol for Reg {
    type Msg = Msg;

    fn cap(&self) -> Cap {
        Cap::CP
    }

    fn buggify_points(&self) -> &'static [&'static str] {
        &["ack-without-apply", "slow-reply"]
    }

    async fn node(&self, ctx: NodeCtx<Msg>) {
        let mut values: BTreeMap<String, Value> = BTreeMap::new();
        loop {
            let (from, msg) = ctx.recv().await;
            let Msg::Req(id, op) = msg else { continue };
            if ctx.id() != 0 {
                continue;
            }
            let key = op.key.clone().unwrap_or_default();
            let result = if op.f == "write" {
                if !(self.calls && ctx.buggify("ack-without-apply")) {
                    values.insert(key, op.value.clone());
                }
                Value::Null
            } else {
                values.get(&key).cloned().unwrap_or(Value::Null)
            };
            if self.calls && ctx.buggify_rate("slow-reply", 0.5) {
                ctx.sleep(Duration::from_millis(1)).await;
            }
            if self.undeclared {
                ctx.buggify("not-in-the-list");
            }
            ctx.send(from, Msg::Rep(id, result));
        }
    }

    async fn call(&self, client: &ClientCtx<Msg>, id: u64, op: &Invocation) -> Outcome {
        client.send(0, Msg::Req(id, op.clone()));
        while let Some((_, msg)) = client.recv_timeout(Duration::from_millis(500)).await {
            if let Msg::Rep(rid, v) = msg {
                if rid == id {
                    return Outcome::Ok(v);
                }
            }
        }
        Outcome::Unknown("no reply".into())
    }
}

fn model() -> Model {
    Model::new("buggify-reg", |cfg: &ModelConfig| {
        Ok(Reg {
            calls: cfg.param("calls", true)?,
            undeclared: cfg.param("undeclared", false)?,
        })
    })
    .param("calls", "false: the node never reaches a buggify point")
    .param(
        "undeclared",
        "true: the node reaches a point it did not declare",
    )
    .nodes(1)
    .clients(2)
    .ops(30)
}

fn request(seed: u64, f: impl FnOnce(&mut ModelConfig)) -> RunRequest {
    let m = model();
    let mut config = m.config(None);
    f(&mut config);
    RunRequest {
        seed,
        config,
        faults: Faults::Schedule(Schedule::load("none").unwrap()),
        fail_on: vec![],
        trace: false,
    }
}

fn go(req: &RunRequest) -> RunReport {
    run(&model(), req).unwrap()
}

fn only(points: &[&str]) -> Option<BTreeSet<String>> {
    Some(points.iter().map(|s| s.to_string()).collect())
}

#[test]
fn off_by_default_and_a_model_with_points_keeps_its_fingerprint() {
    for seed in 0..3 {
        let plain = go(&request(seed, |c| {
            c.set.insert("calls".into(), "false".into());
        }));
        let with_points = go(&request(seed, |_| {}));
        assert!(!model().config(None).buggify, "off by default");
        assert_eq!(plain.fingerprint, with_points.fingerprint, "seed {seed}");
        assert!(with_points.recording.buggify.is_empty());
        assert!(with_points.passed);
        assert!(with_points.to_json().get("buggify").is_none());
    }
}

#[test]
fn same_seed_same_fingerprint_with_buggify_and_the_points_are_drawn_per_seed() {
    let mut enabled_sets = BTreeSet::new();
    for seed in 0..12 {
        let a = go(&request(seed, |c| c.buggify = true));
        let b = go(&request(seed, |c| c.buggify = true));
        assert_eq!(a.fingerprint, b.fingerprint, "seed {seed}");
        assert_eq!(a.recording.buggify, b.recording.buggify);
        for (name, p) in &a.recording.buggify {
            assert_eq!(
                p.enabled,
                faultline::buggify::enabled_by_seed(seed, name),
                "enablement is the seed's and the name's alone"
            );
        }
        let set: Vec<String> = a
            .recording
            .buggify
            .iter()
            .filter(|(_, p)| p.enabled)
            .map(|(n, _)| n.clone())
            .collect();
        enabled_sets.insert(set);
    }
    assert!(enabled_sets.len() > 1, "seeds enable different points");
}

#[test]
fn an_enabled_point_fires_and_one_not_enabled_never_does() {
    let r = go(&request(1, |c| c.buggify_only = only(&["slow-reply"])));
    let slow = &r.recording.buggify["slow-reply"];
    let ack = &r.recording.buggify["ack-without-apply"];
    assert!(
        slow.enabled && slow.fired > 0 && slow.fired < slow.reached,
        "{slow:?}"
    );
    assert!(!ack.enabled && ack.reached > 0 && ack.fired == 0, "{ack:?}");
    assert!(r.passed, "slow replies break nothing: {:?}", r.violations);
    let fired = r
        .recording
        .observations
        .iter()
        .filter(|o| o.kind == faultline::buggify::OBSERVATION)
        .count() as u64;
    assert_eq!(fired, slow.fired, "every fire is an observation");
    assert_eq!(r.to_json()["buggify"]["slow-reply"]["fired"], slow.fired);
}

/// Enabling `ack-without-apply` loses acknowledged writes; the same seed without it passes.
#[test]
fn a_point_reaches_a_real_bug_and_the_reproducer_replays_it_bit_for_bit() {
    let (seed, failing) = (0..20)
        .map(|s| {
            (
                s,
                go(&request(s, |c| {
                    c.buggify_only = only(&["ack-without-apply", "slow-reply"])
                })),
            )
        })
        .find(|(_, r)| !r.passed)
        .expect("a seed where an acknowledged write was not applied");
    let clean = go(&request(seed, |c| c.buggify_only = only(&["slow-reply"])));
    assert!(clean.passed, "{:?}", clean.violations);

    // The failure story tells the fired point (there are no fault steps to tell here).
    let story = faultline::story::story(&failing, None).to_text().join("\n");
    assert!(story.contains("buggify"), "{story}");
    let html = faultline::timeline::render(&failing);
    assert!(html.contains("ack-without-apply"));

    let repro = Repro::from_report(&failing, &[]);
    let recorded = repro
        .config
        .buggify
        .clone()
        .expect("the enabled set is recorded");
    assert!(recorded.contains("ack-without-apply"));
    let back: Repro = serde_yaml::from_str(&repro.to_yaml()).unwrap();
    let again = go(&RunRequest {
        seed: back.seed,
        config: back.config.apply(model().config(None)),
        faults: Faults::Steps(back.schedule.clone()),
        fail_on: vec![],
        trace: false,
    });
    assert_eq!(again.fingerprint, failing.fingerprint);
    assert_eq!(again.recording.buggify, failing.recording.buggify);
}

#[test]
fn a_reproducer_of_a_seeded_run_records_the_points_it_had_enabled() {
    let seed = (0..64)
        .find(|&s| faultline::buggify::enabled_by_seed(s, "slow-reply"))
        .unwrap();
    let r = go(&request(seed, |c| c.buggify = true));
    let repro = Repro::from_report(&r, &[]);
    let set = repro.config.buggify.clone().unwrap();
    assert!(set.contains("slow-reply"));
    let again = go(&RunRequest {
        config: repro.config.apply(model().config(None)),
        faults: Faults::Steps(repro.schedule.clone()),
        ..request(seed, |_| {})
    });
    assert_eq!(again.fingerprint, r.fingerprint, "replays bit for bit");
}

#[test]
fn shrink_disables_a_point_the_failure_does_not_need() {
    let req = (0..20)
        .map(|s| {
            request(s, |c| {
                c.buggify_only = only(&["ack-without-apply", "slow-reply"])
            })
        })
        .find(|r| !go(r).passed)
        .expect("a failing seed");
    let opts = ShrinkOptions {
        time: Duration::from_secs(120),
        ..ShrinkOptions::default()
    };
    let s = shrink(&model(), &req, &opts, &mut |_| {}).unwrap();
    assert_eq!(s.result.config.buggify_only, only(&["ack-without-apply"]));
    assert!(!s.result.passed);
}

#[test]
fn an_undeclared_point_fails_the_run_naming_it() {
    let r = go(&request(0, |c| {
        c.set.insert("undeclared".into(), "true".into());
    }));
    let v = r.violation("panic").expect("a panic violation");
    assert!(
        v.message
            .contains("buggify point `not-in-the-list` is not declared"),
        "{}",
        v.message
    );
}

/// Every point every built-in model declares is reached and fires for one of the first seeds
/// when it alone is enabled (so no declared point is dead code), deterministically: the same
/// seed gives the same fingerprint and the same counts again.
#[test]
fn every_built_in_point_fires_for_some_seed_and_replays() {
    for m in faultline_models::all() {
        let points = m.info(&m.config(None)).unwrap().buggify_points;
        for point in &points {
            let req = |seed: u64| {
                let mut config = m.config(None);
                config.buggify_only = only(&[point.as_str()]);
                RunRequest {
                    seed,
                    config,
                    faults: Faults::Schedule(Schedule::load("swarm").unwrap()),
                    fail_on: vec![],
                    trace: false,
                }
            };
            let (seed, r) = (0..8)
                .map(|seed| (seed, run(&m, &req(seed)).unwrap()))
                .find(|(_, r)| r.recording.buggify.get(point).is_some_and(|p| p.fired > 0))
                .unwrap_or_else(|| panic!("{} point `{point}` never fired", m.name()));
            assert!(
                r.passed,
                "{} seed {seed} with `{point}`: {:?}",
                m.name(),
                r.violations
            );
            assert!(
                r.recording
                    .buggify
                    .values()
                    .all(|p| p.fired == 0 || p.enabled),
                "only the enabled point fires"
            );
            let again = run(&m, &req(seed)).unwrap();
            assert_eq!(again.fingerprint, r.fingerprint, "{} `{point}`", m.name());
            assert_eq!(again.recording.buggify, r.recording.buggify);
        }
    }
}

/// The titles that read as commands (`MODEL --bug B seed N`) name `--buggify` when the run had
/// it, so the command a person copies from them makes the same run; without it they are as
/// before.
#[test]
fn a_run_with_buggify_is_titled_with_the_flag() {
    let on = go(&request(2, |c| c.buggify = true));
    assert_eq!(on.label(), "buggify-reg --buggify seed 2");
    let exact = go(&request(2, |c| c.buggify_only = only(&["slow-reply"])));
    assert_eq!(exact.label(), "buggify-reg --buggify seed 2");
    let off = go(&request(2, |_| {}));
    assert_eq!(off.label(), "buggify-reg seed 2");
}

/// The CLI's summaries and titles name `--buggify` for a campaign or run that had it, and the
/// reproducer a failing seed leaves records the enabled set, so `replay` needs no flag.
#[test]
fn fuzz_and_run_print_buggify_where_they_name_the_run() {
    let dir = common::TempDir::new("buggify-cli");
    let args = |extra: &[&'static str]| {
        let mut a = vec!["fuzz", "payments", "--bug", "volatile-dedup", "--jobs", "1"];
        a.extend_from_slice(extra);
        a
    };
    let on = common::faultline_in(
        dir.path(),
        &args(&[
            "--buggify",
            "--seeds",
            "60",
            "--stop-on-first",
            "--out",
            "on",
        ]),
    );
    assert_eq!(on.code, 1, "{}{}", on.stdout, on.stderr);
    assert!(
        on.stdout
            .starts_with("payments --bug volatile-dedup --buggify: "),
        "{}",
        on.stdout
    );
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("on/campaign.json")).unwrap())
            .unwrap();
    let seed = summary["first_failure_seed"].as_u64().unwrap().to_string();
    let repro = Repro::load(&dir.join(&format!("on/seed-{seed}/repro.yaml"))).unwrap();
    assert!(
        repro.config.buggify.is_some(),
        "the reproducer records buggify"
    );
    let run = common::faultline_in(
        dir.path(),
        &[
            "run",
            "payments",
            "--bug",
            "volatile-dedup",
            "--buggify",
            "--seed",
            &seed,
        ],
    );
    assert!(
        run.stdout.starts_with(&format!(
            "payments --bug volatile-dedup --buggify seed {seed}: FAIL"
        )),
        "{}",
        run.stdout
    );
    let off = common::faultline_in(dir.path(), &args(&["--seeds", "1", "--out", "off"]));
    assert!(
        off.stdout.starts_with("payments --bug volatile-dedup: "),
        "{}",
        off.stdout
    );
}

/// `Check::assert_ok`'s panic names `--buggify` beside the model when the check had it on.
#[test]
fn a_failing_check_with_buggify_names_the_flag() {
    let dir = common::TempDir::new("buggify-check");
    let result = faultline::Check::new(faultline_models::payments::model())
        .bug("volatile-dedup")
        .buggify(true)
        .seeds(0..60)
        .no_regressions()
        .artifacts(dir.join("artifacts"))
        .run();
    let panic = std::panic::catch_unwind(|| result.assert_ok()).unwrap_err();
    let msg = panic.downcast_ref::<String>().unwrap();
    assert!(
        msg.starts_with("faultline: payments --bug volatile-dedup --buggify: "),
        "{msg}"
    );
}
