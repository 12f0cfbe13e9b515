//! Checkers that cannot be starved: a protocol that declares the Raft guarantees and reports
//! nothing, or reports malformed observations, fails with a violation naming the missing
//! observation (never a silent pass); one that reports them properly passes.
//!
//! The store here is a single node holding registers and answering every request: trivially
//! correct, so any violation comes from what it reports, not from what it does.
use faultline::checker::raft_checkers;
use faultline::prelude::*;
use faultline::run::RunReport;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

mod common;

#[derive(Clone, Copy, PartialEq)]
enum Reports {
    /// `leader-elected`, `committed` and `applied`, as `faultline_checkers::raft` describes.
    Honest,
    /// Nothing at all.
    Silent,
    /// Each kind once per entry, but without the fields the checkers read.
    Malformed,
}

struct OneNodeRaft(Reports);

#[derive(Clone, Debug)]
enum Wire {
    Req(u64, Invocation),
    Resp(u64, Value),
}

impl Protocol for OneNodeRaft {
    type Msg = Wire;

    fn cap(&self) -> Cap {
        Cap::CP
    }

    fn guarantees(&self) -> Vec<&'static str> {
        faultline_checkers::raft::ALL.to_vec()
    }

    fn checkers(&self) -> Vec<Box<dyn Checker>> {
        raft_checkers()
    }

    async fn node(&self, ctx: NodeCtx<Wire>) {
        if ctx.id() != 0 {
            return std::future::pending().await;
        }
        let term = ctx.disk().get::<u64>("term").unwrap_or(0) + 1;
        ctx.disk().put("term", &term);
        ctx.disk().fsync().await;
        match self.0 {
            Reports::Honest => ctx.observe("leader-elected", &json!({"term": term})),
            Reports::Malformed => ctx.observe("leader-elected", &json!({"term": "mine"})),
            Reports::Silent => {}
        }
        // Volatile registers and log: a crash loses them, but the store is never crashed here.
        let mut values: BTreeMap<String, Value> = BTreeMap::new();
        let mut index = 0u64;
        loop {
            let (from, Wire::Req(id, op)) = ctx.recv().await else {
                continue;
            };
            let key = op.key.clone().unwrap_or_default();
            let ret = if op.f == "write" {
                index += 1;
                let fact = json!({"index": index, "term": term, "digest": id, "chain": index,
                                  "op": {"f": op.f, "key": key, "value": op.value}});
                match self.0 {
                    Reports::Honest => {
                        ctx.observe("committed", &fact);
                        ctx.observe("applied", &fact);
                    }
                    Reports::Malformed => {
                        ctx.observe("committed", &json!({"index": index}));
                        ctx.observe("applied", &json!({"index": index, "term": term}));
                    }
                    Reports::Silent => {}
                }
                values.insert(key, op.value.clone());
                Value::Null
            } else {
                values.get(&key).cloned().unwrap_or(Value::Null)
            };
            ctx.send(from, Wire::Resp(id, ret));
        }
    }

    async fn call(&self, c: &ClientCtx<Wire>, id: u64, op: &Invocation) -> Outcome {
        c.send(0, Wire::Req(id, op.clone()));
        while let Some((_, msg)) = c.recv_timeout(Duration::from_millis(500)).await {
            if let Wire::Resp(rid, v) = msg {
                if rid == id {
                    return Outcome::Ok(v);
                }
            }
        }
        Outcome::Unknown("timeout".into())
    }
}

fn model() -> Model {
    Model::new("one-node-raft", |cfg| {
        Ok(OneNodeRaft(match cfg.bug.as_deref() {
            None => Reports::Honest,
            Some("silent") => Reports::Silent,
            Some("malformed") => Reports::Malformed,
            Some(b) => return Err(format!("unknown bug {b}")),
        }))
    })
    .bug("silent", "reports no observation")
    .bug(
        "malformed",
        "reports observations without the fields the checkers read",
    )
    .nodes(3)
    .clients(2)
    .ops(40)
}

fn run(bug: Option<&str>, seed: u64) -> RunReport {
    common::run_seed(&model(), bug, "none", seed, &[])
}

#[test]
fn a_raft_that_reports_properly_passes() {
    for seed in 0..3 {
        let r = run(None, seed);
        assert!(r.passed, "seed {seed}: {:?}", r.violations);
    }
}

#[test]
fn a_raft_that_reports_nothing_fails_every_raft_checker() {
    let r = run(Some("silent"), 1);
    assert!(!r.passed, "a silent Raft must not pass");
    for checker in faultline_checkers::raft::ALL {
        let v = r
            .violation(checker)
            .unwrap_or_else(|| panic!("{checker} did not speak: {:?}", r.violations));
        assert!(
            v.message
                .contains("missing observation: the model never reported `"),
            "{}",
            v.message
        );
    }
}

#[test]
fn a_raft_whose_reports_lack_fields_fails_naming_the_field() {
    let r = run(Some("malformed"), 1);
    assert!(!r.passed);
    let said = |checker: &str, text: &str| {
        r.violations
            .iter()
            .any(|v| v.checker == checker && v.message.contains(text))
    };
    assert!(
        said("raft-election-safety", "`term` is \"mine\""),
        "{:?}",
        r.violations
    );
    assert!(said("raft-log-matching", "`chain` is missing"));
    assert!(said("raft-lost-commit", "`digest` is missing"));
    assert!(said("raft-acked-applied", "`op` is missing"));
}

/// An AP store of two replicas: node 0 serves every request and forwards writes to node 1.
/// It declares the AP guarantees (`cap`, `convergence`), so `convergence` needs its state.
#[derive(Clone, Copy, PartialEq)]
enum Replica {
    /// Answers the final inspection; node 1 applies every forwarded write.
    Inspectable,
    /// Does not implement `Protocol::inspect`.
    NoInspection,
    /// Answers the inspection, but node 1 drops the forwarded writes: the replicas diverge.
    Diverging,
}

struct TwoReplicas(Replica);

#[derive(Clone, Debug)]
enum Ap {
    Req(u64, Invocation),
    Resp(u64, Value),
    Copy(String, Value),
    Inspect(Vec<String>),
    State(BTreeMap<String, Value>),
}

impl Protocol for TwoReplicas {
    type Msg = Ap;

    fn cap(&self) -> Cap {
        Cap::AP
    }

    async fn node(&self, ctx: NodeCtx<Ap>) {
        let mut values: BTreeMap<String, Value> = BTreeMap::new();
        loop {
            let (from, msg) = ctx.recv().await;
            match msg {
                Ap::Req(id, op) => {
                    let key = op.key.clone().unwrap_or_default();
                    let ret = if op.f == "write" {
                        values.insert(key.clone(), op.value.clone());
                        ctx.send(1, Ap::Copy(key, op.value.clone()));
                        Value::Null
                    } else {
                        values.get(&key).cloned().unwrap_or(Value::Null)
                    };
                    ctx.send(from, Ap::Resp(id, ret));
                }
                Ap::Copy(k, v) if self.0 != Replica::Diverging => {
                    values.insert(k, v);
                }
                Ap::Inspect(keys) => {
                    // Both nodes replicate every key: null for one never written here.
                    let state = keys
                        .into_iter()
                        .map(|k| (k.clone(), values.get(&k).cloned().unwrap_or(Value::Null)))
                        .collect();
                    ctx.send(from, Ap::State(state));
                }
                _ => {}
            }
        }
    }

    async fn call(&self, c: &ClientCtx<Ap>, id: u64, op: &Invocation) -> Outcome {
        c.send(0, Ap::Req(id, op.clone()));
        while let Some((_, msg)) = c.recv_timeout(Duration::from_millis(500)).await {
            if let Ap::Resp(rid, v) = msg {
                if rid == id {
                    return Outcome::Ok(v);
                }
            }
        }
        Outcome::Unknown("timeout".into())
    }

    async fn inspect(&self, c: &ClientCtx<Ap>, node: usize, keys: &[String]) -> Option<Value> {
        if self.0 == Replica::NoInspection {
            return None;
        }
        c.send(node, Ap::Inspect(keys.to_vec()));
        while let Some((from, msg)) = c.recv_timeout(Duration::from_millis(500)).await {
            if let (true, Ap::State(s)) = (from == node, msg) {
                return Some(json!(s));
            }
        }
        None
    }
}

fn ap_model() -> Model {
    Model::new("two-replicas", |cfg| {
        Ok(TwoReplicas(match cfg.bug.as_deref() {
            None => Replica::Inspectable,
            Some("no-inspection") => Replica::NoInspection,
            Some("diverging") => Replica::Diverging,
            Some(b) => return Err(format!("unknown bug {b}")),
        }))
    })
    .bug("no-inspection", "offers no final inspection")
    .bug("diverging", "the second replica drops every write")
    .nodes(2)
    .clients(2)
    .ops(30)
}

#[test]
fn convergence_is_judged_on_the_state_every_replica_reports_at_the_end() {
    let ok = common::run_seed(&ap_model(), None, "none", 2, &[]);
    assert!(ok.passed, "{:?}", ok.violations);
    let states = ok.recording.observations_of("final-state").count();
    assert_eq!(states, 2, "one final state per replica");

    let bad = common::run_seed(&ap_model(), Some("diverging"), "none", 2, &[]);
    assert!(!bad.passed);
    assert!(
        bad.violations.iter().any(|v| v.checker == "convergence"
            && v.message.contains("replicas still differ")
            && v.message.contains("n1=")),
        "{:?}",
        bad.violations
    );
}

#[test]
fn a_model_that_declares_convergence_without_an_inspection_fails() {
    let r = common::run_seed(&ap_model(), Some("no-inspection"), "none", 2, &[]);
    assert!(!r.passed);
    let v = r
        .violation("convergence")
        .unwrap_or_else(|| panic!("{:?}", r.violations));
    assert!(
        v.message.contains("never reported `final-state`"),
        "{}",
        v.message
    );
}
