//! The liveness phase and the `progress` checker, from a user's side: stores written against the
//! public API only. A store that refuses every request and one that stops serving for good both
//! used to pass every seed (their final reads never succeeded and simply dropped out of
//! `lost-write`); now they fail with `liveness` and `progress` on the first seeds, while a
//! correct single-node register passes the same seeds.
use faultline::prelude::*;
use faultline::run::{run, Faults, RunReport, RunRequest};
use faultline::schedule::Schedule;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// How a test store behaves.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Behaviour {
    /// A correct register per key on node 0, durable before it answers.
    Correct,
    /// Answers "refused" to every request.
    RefuseAll,
    /// Serves its first `DEAF_AFTER` requests, then never answers again (even after a restart).
    DeafAfter,
}

/// Requests the deaf store serves before it stops for good (the measure used 30).
const DEAF_AFTER: u64 = 30;

#[derive(Clone, Debug)]
enum Wire {
    Req(u64, Invocation),
    Resp(u64, Value),
    Refused(u64),
}

/// A single-node store: node 0 serves, the other nodes idle.
struct Store {
    how: Behaviour,
    cap: Cap,
}

impl Protocol for Store {
    type Msg = Wire;

    fn cap(&self) -> Cap {
        self.cap
    }

    async fn node(&self, ctx: NodeCtx<Wire>) {
        if ctx.id() != 0 {
            // Idle replicas: they only receive.
            loop {
                ctx.recv().await;
            }
        }
        let disk = ctx.disk();
        let mut data: BTreeMap<String, Value> = disk.get("data").unwrap_or_default();
        let mut served: u64 = disk.get("served").unwrap_or(0);
        loop {
            let (from, msg) = ctx.recv().await;
            let Wire::Req(id, op) = msg else { continue };
            match self.how {
                Behaviour::RefuseAll => {
                    ctx.send(from, Wire::Refused(id));
                    continue;
                }
                Behaviour::DeafAfter if served >= DEAF_AFTER => continue,
                _ => {}
            }
            let key = op.key.clone().unwrap_or_default();
            let ret = if op.f == "write" {
                data.insert(key, op.value.clone());
                json!(null)
            } else {
                data.get(&key).cloned().unwrap_or(Value::Null)
            };
            served += 1;
            disk.put("data", &data);
            disk.put("served", &served);
            disk.fsync().await;
            ctx.send(from, Wire::Resp(id, ret));
        }
    }

    async fn call(&self, c: &ClientCtx<Wire>, id: u64, op: &Invocation) -> Outcome {
        c.send(0, Wire::Req(id, op.clone()));
        while let Some((_, msg)) = c.recv_timeout(Duration::from_millis(500)).await {
            match msg {
                Wire::Resp(rid, v) if rid == id => return Outcome::Ok(v),
                Wire::Refused(rid) if rid == id => return Outcome::Fail("refused".into()),
                _ => {}
            }
        }
        Outcome::Unknown("timeout".into())
    }
}

fn model(how: Behaviour) -> Model {
    model_with(how, Cap::CP)
}

fn model_with(how: Behaviour, cap: Cap) -> Model {
    Model::new("test-store", move |_| Ok(Store { how, cap })).nodes(3)
}

fn run_seed(m: &Model, seed: u64, liveness_ms: Option<u64>) -> RunReport {
    let mut config = m.config(None);
    config.liveness_ms = liveness_ms;
    let req = RunRequest {
        seed,
        config,
        faults: Faults::Schedule(Schedule::load("swarm").expect("built-in schedule")),
        fail_on: vec![],
        trace: false,
    };
    run(m, &req).expect("valid run")
}

const SEEDS: std::ops::Range<u64> = 0..4;

#[test]
fn a_correct_single_node_register_passes_with_liveness_and_progress_declared() {
    let m = model(Behaviour::Correct);
    let info = m.info(&m.config(None)).unwrap();
    for g in ["liveness", "progress"] {
        assert!(info.guarantees.iter().any(|x| x == g), "{g} not declared");
        assert!(info.checkers.iter().any(|x| x == g), "{g} not run");
    }
    for seed in SEEDS {
        let r = run_seed(&m, seed, None);
        assert!(r.passed, "seed {seed}: {:?}", r.violations);
        assert!(r.stats.ok > 0, "seed {seed}: nothing succeeded");
        // The heal and the bound are in the recording.
        assert!(r.recording.heal_ns.is_some());
        assert_eq!(r.recording.liveness_ms, Some(10_000));
    }
}

#[test]
fn a_store_that_refuses_everything_fails_liveness_and_progress() {
    let m = model(Behaviour::RefuseAll);
    for seed in SEEDS {
        let r = run_seed(&m, seed, None);
        assert!(!r.passed, "seed {seed} passed");
        assert_eq!(r.stats.ok, 0);
        assert_eq!(
            r.violated_checkers(),
            ["liveness", "progress"],
            "seed {seed}: {:?}",
            r.violations
        );
        let live = r.violation("liveness").unwrap();
        // Names every key, the bound and the last error.
        assert!(
            live.message
                .starts_with("3 of 3 final operations did not succeed within 10000 ms"),
            "{}",
            live.message
        );
        for k in ["read k0", "read k1", "read k2"] {
            assert!(
                live.message.contains(&format!("{k} never succeeded")),
                "{}",
                live.message
            );
        }
        assert!(
            live.message.contains("last error: refused"),
            "{}",
            live.message
        );
        let prog = r.violation("progress").unwrap();
        assert!(
            prog.message.starts_with("no operation ever succeeded"),
            "{}",
            prog.message
        );
        // The error text reaches the history too.
        assert!(r
            .recording
            .history
            .events
            .iter()
            .any(|e| e.error.as_deref() == Some("refused")));
    }
}

#[test]
fn a_store_that_stops_serving_for_good_fails_liveness() {
    let m = model(Behaviour::DeafAfter);
    let correct = model(Behaviour::Correct);
    for seed in SEEDS {
        let r = run_seed(&m, seed, None);
        assert!(!r.passed, "seed {seed} passed");
        assert!(r.stats.ok > 0, "seed {seed}: it served at first");
        let v = r.violated_checkers();
        assert!(v.contains(&"liveness".to_string()), "seed {seed}: {v:?}");
        let live = r.violation("liveness").unwrap();
        assert!(
            live.message.contains("last error: timeout"),
            "{}",
            live.message
        );
        // The final reader kept trying until the bound had passed.
        let heal = r.recording.heal_ns.unwrap();
        let last_final = r
            .recording
            .history
            .events
            .iter()
            .filter(|e| e.process >= r.recording.final_process_base)
            .map(|e| e.time_ns)
            .max()
            .unwrap();
        assert!(
            last_final >= heal + 10_000_000_000,
            "seed {seed}: gave up {} ms after the heal",
            (last_final - heal) / 1_000_000
        );
        // Same seed, correct store: clean.
        let ok = run_seed(&correct, seed, None);
        assert!(ok.passed, "seed {seed}: {:?}", ok.violations);
    }
}

#[test]
fn the_deaf_store_is_caught_by_progress_where_a_fault_ends_after_it_stopped() {
    // Over a few seeds at least one has a quiet window after the store went deaf in which
    // clients kept asking: `progress` names it.
    let m = model(Behaviour::DeafAfter);
    let caught: Vec<u64> = (0..8)
        .filter(|&s| {
            run_seed(&m, s, None)
                .violated_checkers()
                .contains(&"progress".to_string())
        })
        .collect();
    assert!(!caught.is_empty(), "no seed of 0..8 caught by progress");
    let correct = model(Behaviour::Correct);
    for s in caught {
        assert!(run_seed(&correct, s, None).passed, "seed {s}");
    }
}

#[test]
fn the_liveness_bound_is_the_configured_one() {
    let m = model(Behaviour::RefuseAll);
    let r = run_seed(&m, 1, Some(2_000));
    let live = r.violation("liveness").unwrap();
    assert!(
        live.message.contains("within 2000 ms of the final heal"),
        "{}",
        live.message
    );
    assert_eq!(live.detail.as_ref().unwrap()["bound_ms"], 2_000);
    // A shorter bound ends the final phase sooner: the reader stops retrying at the bound.
    let long = run_seed(&m, 1, None);
    assert!(
        r.stats.sim_ms + 5_000 < long.stats.sim_ms,
        "{} vs {}",
        r.stats.sim_ms,
        long.stats.sim_ms
    );
    // The correct store meets the short bound.
    assert!(run_seed(&model(Behaviour::Correct), 1, Some(2_000)).passed);
}

#[test]
fn a_run_where_nothing_succeeded_fails_even_without_declared_guarantees() {
    // A model that declares nothing (Cap::None, no guarantees) still cannot pass doing nothing.
    struct Declares(Store);
    impl Protocol for Declares {
        type Msg = Wire;
        fn cap(&self) -> Cap {
            Cap::None
        }
        fn guarantees(&self) -> Vec<&'static str> {
            vec![]
        }
        fn checkers(&self) -> Vec<Box<dyn Checker>> {
            vec![]
        }
        async fn node(&self, ctx: NodeCtx<Wire>) {
            self.0.node(ctx).await
        }
        async fn call(&self, c: &ClientCtx<Wire>, id: u64, op: &Invocation) -> Outcome {
            self.0.call(c, id, op).await
        }
    }
    let make = |how| {
        Model::new("declares-nothing", move |_| {
            Ok(Declares(Store {
                how,
                cap: Cap::None,
            }))
        })
        .nodes(3)
    };
    let r = run_seed(&make(Behaviour::RefuseAll), 0, None);
    assert!(!r.passed);
    assert_eq!(r.violated_checkers(), ["progress"], "{:?}", r.violations);
    // Its other findings (liveness) are reported, not failing.
    assert!(r.findings.iter().any(|f| f.checker == "liveness"));
    assert!(run_seed(&make(Behaviour::Correct), 0, None).passed);
}
