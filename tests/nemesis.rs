//! The nemesis beyond plain timed steps: observation triggers, role targets, pauses, power loss,
//! clock drift, and replays of such schedules taking the very same path.
//!
//! The protocol is a beacon: node k announces `leader-elected` at (k + 1) * 100 ms (so "the
//! leader" changes on a known timetable), and every node broadcasts a beat every 10 ms carrying
//! its local clock; receivers report each beat.
use faultline::prelude::*;
use faultline::run::{Faults, RunReport};
use faultline::schedule::{Schedule, Step};
use serde_json::{json, Value};
use std::time::Duration;

mod common;

#[derive(Clone, Debug)]
struct Beat {
    sent_ns: u64,
}

struct Beacon;

impl Protocol for Beacon {
    type Msg = Beat;

    fn cap(&self) -> Cap {
        Cap::None
    }

    fn checkers(&self) -> Vec<Box<dyn Checker>> {
        vec![]
    }

    async fn node(&self, ctx: NodeCtx<Beat>) {
        let me = ctx.id() as u64;
        let elect_at = (me + 1) * 100_000_000;
        let mut announced = ctx.now_ns() >= elect_at;
        let mut next = ctx.instant();
        ctx.observe("started", &json!({}));
        loop {
            match ctx.recv_until(next).await {
                Some((from, Beat { sent_ns })) => ctx.observe(
                    "beat",
                    &json!({"from": from, "sent_ns": sent_ns, "clock_ms": ctx.clock_ms()}),
                ),
                None => {
                    if !announced && ctx.now_ns() >= elect_at {
                        announced = true;
                        ctx.observe("leader-elected", &json!({"term": me + 1}));
                    }
                    let sent_ns = ctx.now_ns();
                    for p in ctx.peers().collect::<Vec<_>>() {
                        ctx.send(p, Beat { sent_ns });
                    }
                    next = ctx.instant() + Duration::from_millis(10);
                }
            }
        }
    }

    async fn call(&self, _: &ClientCtx<Beat>, _: u64, _: &Invocation) -> Outcome {
        Outcome::Ok(Value::Null)
    }
}

fn model() -> Model {
    // One client, 100 ops at ~40 ms each: the run lasts about 4 s before the final phase.
    Model::new("beacon", |_| Ok(Beacon))
        .nodes(5)
        .clients(1)
        .ops(100)
}

fn run_with(seed: u64, faults: Faults) -> RunReport {
    let r = common::run_faults(&model(), None, seed, faults, &[]);
    assert!(r.passed, "{:?}", r.violations);
    r
}

fn yaml(seed: u64, steps: &str) -> RunReport {
    let s = Schedule::parse("test.yaml", &format!("steps:\n{steps}")).expect("valid schedule");
    run_with(seed, Faults::Schedule(s))
}

/// (phase, ms, description) of every fault event.
fn faults(r: &RunReport) -> Vec<(String, f64, String)> {
    r.recording
        .faults
        .iter()
        .map(|f| (f.phase.clone(), f.at_ns as f64 / 1e6, f.description.clone()))
        .collect()
}

/// Beats node `to` received from `from` that were sent within `[lo_ms, hi_ms)`.
fn beats(r: &RunReport, from: usize, to: usize, lo_ms: f64, hi_ms: f64) -> Vec<(f64, f64)> {
    r.recording
        .observations_of("beat")
        .filter(|o| o.node == to && o.data["from"] == from)
        .map(|o| {
            (
                o.data["sent_ns"].as_u64().unwrap() as f64 / 1e6,
                o.at_ns as f64 / 1e6,
            )
        })
        .filter(|(sent, _)| *sent >= lo_ms && *sent < hi_ms)
        .collect()
}

#[test]
fn a_triggered_step_hits_the_leader_after_its_observation() {
    for seed in 0..3 {
        // The second `leader-elected` is node 1's, at ~200 ms: crash it 50 ms later.
        let r = yaml(
            seed,
            "  - {after: leader-elected, nth: 2, delay_ms: 50, fault: crash, node: leader, for_ms: 100}\n",
        );
        let f = faults(&r);
        assert_eq!(f.len(), 2, "{f:?}");
        assert_eq!(f[0].0, "start");
        assert_eq!(f[0].2, "crash n1");
        assert!((250.0..262.0).contains(&f[0].1), "{f:?}");
        assert!((f[1].1 - f[0].1 - 100.0).abs() < 1e-3, "{f:?}");
        // Node 1 sends nothing while down, and again after its restart.
        assert!(beats(&r, 1, 0, f[0].1 + 1.0, f[1].1).is_empty());
        assert!(!beats(&r, 1, 0, f[1].1, f[1].1 + 100.0).is_empty());
        // The reproducer names the resolved node and says how it was chosen.
        let step = &r.steps[0];
        assert!(step.select.is_none());
        let how = step.trigger.as_deref().unwrap();
        assert!(how.contains("after leader-elected by n1"), "{how}");
        assert!(how.contains("node leader = crash n1"), "{how}");
    }
}

#[test]
fn a_timed_role_step_resolves_when_it_starts_and_skips_without_a_holder() {
    let r = yaml(
        0,
        "  - {at_ms: 50, fault: crash, node: leader, for_ms: 100}\n  - {at_ms: 350, fault: partition, shape: isolate, node: leader, for_ms: 200}\n",
    );
    let f = faults(&r);
    // Nobody has led at 50 ms; at 350 ms the latest leader is node 2 (elected at 300 ms).
    assert_eq!(f[0].0, "skip", "{f:?}");
    assert!(f[0].2.contains("no node has observed `leader`"), "{f:?}");
    assert_eq!(f[1].0, "start");
    assert_eq!(f[1].2, "partition [[2], [0, 1, 3, 4]]");
    assert!(beats(&r, 2, 0, 351.0, 549.0).is_empty());
    assert!(!beats(&r, 3, 0, 351.0, 549.0).is_empty());
    assert!(r.steps[0]
        .trigger
        .as_deref()
        .unwrap()
        .starts_with("skipped"));
}

#[test]
fn replaying_the_resolved_steps_takes_the_same_path() {
    let text = "  - {after: leader-elected, nth: 3, delay_ms: 5, fault: partition, shape: bridge, node: leader, for_ms: 300}\n  - {at_ms: 700, fault: crash, nodes: majority, torn: true, for_ms: 200}\n  - {at_ms: 1200, fault: pause, node: follower, for_ms: 300}\n  - {after: never-observed, fault: crash, node: 0}\n  - {at_ms: 60000, fault: loss, rate: 0.5}\n";
    for seed in 0..3 {
        let first = yaml(seed, text);
        assert_eq!(
            first.steps.len(),
            5,
            "every step is kept: {:?}",
            first.steps
        );
        let again = run_with(seed, Faults::Steps(first.steps.clone()));
        assert_eq!(first.fingerprint, again.fingerprint, "seed {seed}");
        assert_eq!(faults(&first), faults(&again));
        // Written and read back as YAML, the steps still replay identically.
        let text = serde_yaml::to_string(&first.steps).unwrap();
        let back: Vec<Step> = serde_yaml::from_str(&text).unwrap();
        let third = run_with(seed, Faults::Steps(back));
        assert_eq!(first.fingerprint, third.fingerprint, "seed {seed}: {text}");
    }
}

#[test]
fn a_paused_node_keeps_its_messages_and_catches_up() {
    let r = yaml(1, "  - {at_ms: 1000, fault: pause, node: 3, for_ms: 300}\n");
    // Node 3 sends nothing while paused...
    assert!(beats(&r, 3, 0, 1001.0, 1299.0).is_empty());
    // ...but beats sent to it meanwhile are not lost: it handles them when it resumes.
    let late = beats(&r, 0, 3, 1001.0, 1299.0);
    assert!(late.len() >= 25, "{late:?}");
    assert!(late.iter().all(|(_, got)| *got >= 1300.0), "{late:?}");
}

#[test]
fn a_power_loss_stops_every_node_and_restarts_them() {
    let r = yaml(
        2,
        "  - {at_ms: 1000, fault: power-loss, nodes: all, for_ms: 200}\n",
    );
    assert_eq!(faults(&r)[0].2, "power-loss n0,n1,n2,n3,n4");
    for n in 0..5 {
        let to = (n + 1) % 5;
        assert!(beats(&r, n, to, 1001.0, 1199.0).is_empty(), "n{n}");
        assert!(!beats(&r, n, to, 1200.0, 1300.0).is_empty(), "n{n}");
    }
    // Each node started once at the beginning and once after the power came back.
    assert_eq!(r.recording.observations_of("started").count(), 10);
}

#[test]
fn a_skewed_clock_jumps_drifts_and_comes_back() {
    let r = yaml(
        0,
        "  - {at_ms: 1000, fault: clock-skew, node: 4, offset_ms: 5000, drift: 100, for_ms: 1000}\n",
    );
    let skew: Vec<(f64, i64)> = r
        .recording
        .observations_of("beat")
        .filter(|o| o.node == 4)
        .map(|o| {
            let t = o.at_ns as f64 / 1e6;
            (t, o.data["clock_ms"].as_i64().unwrap() - t.floor() as i64)
        })
        .collect();
    let at = |lo: f64, hi: f64| -> Vec<i64> {
        skew.iter()
            .filter(|(t, _)| *t >= lo && *t < hi)
            .map(|(_, s)| *s)
            .collect()
    };
    assert!(at(0.0, 999.0).iter().all(|s| s.abs() <= 1));
    // 5 s ahead at once, then 100 ms more per second: ~5090 ms ahead at 1.9 s.
    assert!(at(1001.0, 1010.0).iter().all(|s| (5000..5003).contains(s)));
    assert!(at(1890.0, 1900.0).iter().all(|s| (5087..5092).contains(s)));
    assert!(at(2001.0, 3000.0).iter().all(|s| s.abs() <= 1));
}

#[test]
fn every_named_schedule_runs() {
    let names = faultline::schedule::builtin_names();
    assert!(names.len() >= 8, "{names:?}");
    for name in names {
        let r = run_with(0, Faults::Schedule(Schedule::load(name).unwrap()));
        let again = run_with(0, Faults::Steps(r.steps.clone()));
        assert_eq!(r.fingerprint, again.fingerprint, "{name}");
    }
}

#[test]
fn leader_targeting_schedules_follow_the_leader() {
    let r = run_with(
        0,
        Faults::Schedule(Schedule::load("isolate-leader").unwrap()),
    );
    let f = faults(&r);
    // 200 ms after each of the first four elections (nodes 0..3, at 100..400 ms), whoever leads
    // at that moment is isolated.
    let starts: Vec<&(String, f64, String)> = f.iter().filter(|e| e.0 == "start").collect();
    assert!(starts.len() >= 4, "{f:?}");
    for (k, e) in starts.iter().take(4).enumerate() {
        let elected = (k as f64 + 1.0) * 100.0;
        assert!(e.1 >= elected + 200.0 && e.1 < elected + 215.0, "{f:?}");
        let leader = r
            .recording
            .observations_of("leader-elected")
            .filter(|o| (o.at_ns as f64 / 1e6) <= e.1)
            .last()
            .unwrap()
            .node;
        assert!(
            e.2.starts_with(&format!("partition [[{leader}], ")),
            "{f:?}"
        );
    }
}
