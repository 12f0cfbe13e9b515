//! AP data guarantees: an available store must still return only values somebody wrote
//! (`invented-value`) and keep every acknowledged write no other write replaced
//! (`ap-lost-write`). A toy AP store written against the public API, with two bug variants: one
//! acknowledges every write and discards it, one invents the values it reads. Each is caught, and
//! the correct toy passes the same seeds; correct dynamo passes with the new guarantees on.
use faultline::prelude::*;
use faultline::run::{run, Faults, RunReport, RunRequest};
use faultline::schedule::Schedule;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Clone, Copy, PartialEq)]
enum Bug {
    None,
    /// Acknowledges every write and keeps nothing.
    Discard,
    /// Reads return a value derived from the stored one, which nobody wrote.
    Invent,
}

#[derive(Clone, Debug)]
enum Msg {
    Request(u64, Invocation),
    Reply(u64, Value),
}

/// Every node is a full replica of its own: it answers from its local state at once (available
/// under any partition), stores writes durably before acknowledging them, and gossips what it has
/// with last-writer-wins by (true time of the write, node) so replicas converge after a heal.
struct Toy {
    bug: Bug,
}

/// Key -> (value, version). The version is (simulated ns when the write arrived, node).
type State = BTreeMap<String, (Value, (u64, usize))>;

impl Toy {
    fn merge(ctx: &NodeCtx<Msg>, state: &mut State, theirs: State) -> bool {
        let mut changed = false;
        for (k, (v, ver)) in theirs {
            if state.get(&k).is_none_or(|(_, mine)| *mine < ver) {
                state.insert(k, (v, ver));
                changed = true;
            }
        }
        if changed {
            ctx.disk().put("state", state);
        }
        changed
    }
}

/// Gossip between replicas rides on the same message type: a request with `f: "sync"`.
fn sync(state: &State) -> Invocation {
    Invocation {
        f: "sync".into(),
        key: None,
        value: serde_json::to_value(state).expect("serializable"),
    }
}

impl Protocol for Toy {
    type Msg = Msg;

    fn cap(&self) -> Cap {
        Cap::AP
    }

    async fn node(&self, ctx: NodeCtx<Msg>) {
        let mut state: State = ctx.disk().get("state").unwrap_or_default();
        let mut next_gossip = ctx.instant() + Duration::from_millis(100);
        loop {
            let Some((from, Msg::Request(id, op))) = ctx.recv_until(next_gossip).await else {
                if ctx.instant() >= next_gossip {
                    for p in ctx.peers().collect::<Vec<_>>() {
                        ctx.send(p, Msg::Request(0, sync(&state)));
                    }
                    next_gossip = ctx.instant() + Duration::from_millis(100);
                }
                continue;
            };
            let key = op.key.clone().unwrap_or_default();
            let reply = match op.f.as_str() {
                "sync" => {
                    let theirs: State = serde_json::from_value(op.value).unwrap_or_default();
                    if Toy::merge(&ctx, &mut state, theirs) {
                        ctx.disk().fsync().await;
                    }
                    continue;
                }
                "write" => {
                    if self.bug != Bug::Discard {
                        let ver = (ctx.now_ns(), ctx.id());
                        let mine = State::from([(key, (op.value.clone(), ver))]);
                        Toy::merge(&ctx, &mut state, mine);
                        ctx.disk().fsync().await;
                    }
                    Value::Null
                }
                // The harness's final inspection: every key's value on this replica.
                "inspect" => state
                    .iter()
                    .map(|(k, (v, _))| (k.clone(), v.clone()))
                    .collect::<serde_json::Map<_, _>>()
                    .into(),
                _ => match (state.get(&key), self.bug) {
                    (Some((v, _)), Bug::Invent) => json!(v.as_u64().unwrap_or(0) + 1_000_000),
                    (Some((v, _)), _) => v.clone(),
                    (None, _) => Value::Null,
                },
            };
            ctx.send(from, Msg::Reply(id, reply));
        }
    }

    async fn call(&self, c: &ClientCtx<Msg>, id: u64, op: &Invocation) -> Outcome {
        let target = c.rng().gen_range(0..c.servers());
        c.send(target, Msg::Request(id, op.clone()));
        while let Some((_, Msg::Reply(rid, v))) = c.recv_timeout(Duration::from_millis(300)).await {
            if rid == id {
                return Outcome::Ok(v);
            }
        }
        Outcome::Unknown("timeout".into())
    }

    async fn inspect(&self, c: &ClientCtx<Msg>, node: usize, _keys: &[String]) -> Option<Value> {
        let id = u64::MAX - node as u64;
        let op = Invocation {
            f: "inspect".into(),
            key: None,
            value: Value::Null,
        };
        c.send(node, Msg::Request(id, op));
        while let Some((_, Msg::Reply(rid, v))) = c.recv_timeout(Duration::from_millis(300)).await {
            if rid == id {
                return Some(v);
            }
        }
        None
    }
}

fn toy() -> Model {
    Model::new("toy-ap", |cfg| {
        let bug = match cfg.bug.as_deref() {
            None => Bug::None,
            Some("discard") => Bug::Discard,
            Some("invent") => Bug::Invent,
            Some(other) => return Err(format!("unknown bug `{other}`")),
        };
        Ok(Toy { bug })
    })
    .bug("discard", "acknowledges every write and keeps nothing")
    .bug("invent", "reads return values nobody wrote")
    .nodes(3)
    .ops(100)
}

fn run_toy(bug: Option<&str>, seed: u64, schedule: &str) -> RunReport {
    let m = toy();
    let req = RunRequest {
        seed,
        config: m.config(bug),
        faults: Faults::Schedule(Schedule::load(schedule).expect("a built-in schedule")),
        fail_on: vec![],
        trace: false,
    };
    run(&m, &req).expect("valid run")
}

const SEEDS: std::ops::Range<u64> = 0..6;

#[test]
fn the_default_ap_guarantees_include_the_data_checks() {
    let info = toy().info(&toy().config(None)).expect("info");
    for g in ["invented-value", "ap-lost-write", "cap", "convergence"] {
        assert!(info.guarantees.iter().any(|x| x == g), "{g} not guaranteed");
        assert!(info.checkers.iter().any(|x| x == g), "{g} not checked");
    }
}

#[test]
fn the_correct_toy_passes() {
    for seed in SEEDS {
        let r = run_toy(None, seed, "swarm");
        assert!(r.passed, "seed {seed}: {:?}", r.violations);
        assert!(
            r.stats.ok > 50,
            "seed {seed}: only {} ops succeeded",
            r.stats.ok
        );
    }
}

#[test]
fn a_store_that_discards_acknowledged_writes_fails_ap_lost_write() {
    for seed in SEEDS {
        let r = run_toy(Some("discard"), seed, "swarm");
        let lost: Vec<_> = r
            .violations
            .iter()
            .filter(|f| f.checker == "ap-lost-write")
            .collect();
        assert!(!lost.is_empty(), "seed {seed}: {:?}", r.violations);
        assert!(lost[0].message.contains("vanished"), "{}", lost[0].message);
        // Nothing was invented: the store returns only the initial null.
        assert!(!r.violated_checkers().iter().any(|c| c == "invented-value"));
    }
}

#[test]
fn a_store_that_invents_values_fails_invented_value() {
    for seed in SEEDS {
        let r = run_toy(Some("invent"), seed, "swarm");
        let invented: Vec<_> = r
            .violations
            .iter()
            .filter(|f| f.checker == "invented-value")
            .collect();
        assert!(!invented.is_empty(), "seed {seed}: {:?}", r.violations);
        assert!(
            invented[0].message.contains("no client ever wrote"),
            "{}",
            invented[0].message
        );
    }
}

/// Correct dynamo keeps the new guarantees under every built-in fault mix it is run with in CI,
/// including clock skew, where last-writer-wins loses updates (`lost-update`, reported) without
/// `ap-lost-write` firing.
#[test]
fn correct_dynamo_keeps_the_data_guarantees() {
    let m = faultline_models::dynamo::model();
    let mut lost_updates = 0;
    for (schedule, seeds) in [("swarm", 0..6), ("clock-skew", 0..10)] {
        for seed in seeds {
            let req = RunRequest {
                seed,
                config: m.config(None),
                faults: Faults::Schedule(Schedule::load(schedule).expect("built in")),
                fail_on: vec![],
                trace: false,
            };
            let r = run(&m, &req).expect("valid run");
            assert!(r.passed, "{schedule} seed {seed}: {:?}", r.violations);
            lost_updates += r
                .findings
                .iter()
                .filter(|f| f.checker == "lost-update")
                .count();
        }
    }
    assert!(
        lost_updates > 0,
        "clock skew lost no update: the case is not exercised"
    );
}
