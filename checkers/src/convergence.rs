//! Eventual consistency made measurable: do replicas converge once the network heals and writes
//! stop (`convergence`), how long did it take (`convergence-time`), and how far behind were the
//! reads in the meantime (`staleness`)?
//!
//! Replica state comes from observations of kind [`REPLICA_STATE`], which a replicated store
//! makes each time a replica's value for a key changes:
//! `ctx.observe("replica-state", &json!({"key": "k1", "value": 7, "version": [1203, 2],
//! "replicas": [1, 2, 3]}))`. `replicas` names every replica of the key, so one that never
//! received any write still counts (holding the initial null); `version` is optional (the
//! lost-update checker reads it).
use crate::finding::{Finding, FindingKind};
use crate::history::{EventType, History};
use crate::observation::Observation;
use crate::ops::pair;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The observation kind replicas report their state with.
pub const REPLICA_STATE: &str = "replica-state";

/// Checks that, for every key, all its replicas hold the same value by `deadline_ns` (e.g. when
/// the final reads begin), having been healed at `healed_ns`. Returns `convergence` findings for
/// keys still divergent at the deadline, and one `convergence-time` report (value: the slowest
/// key's time to converge after the heal, in ms).
///
/// ```
/// use faultline_checkers::convergence::*;
/// use faultline_checkers::Observation;
/// use serde_json::json;
/// let obs = vec![
///     Observation::new(10, 0, REPLICA_STATE, json!({"key": "k", "value": 1, "replicas": [0, 1]})),
///     Observation::new(20, 1, REPLICA_STATE, json!({"key": "k", "value": 1, "replicas": [0, 1]})),
/// ];
/// let f = check_convergence(&obs, 5, 100);
/// assert!(f.iter().all(|f| f.checker != "convergence"));
/// ```
pub fn check_convergence(
    observations: &[Observation],
    healed_ns: u64,
    deadline_ns: u64,
) -> Vec<Finding> {
    // key -> (replicas, node -> value), replayed up to the deadline.
    let mut keys: BTreeMap<String, (BTreeSet<usize>, BTreeMap<usize, Value>)> = BTreeMap::new();
    // key -> when its replicas last became equal (None: divergent now).
    let mut equal_since: BTreeMap<String, Option<u64>> = BTreeMap::new();
    for o in observations.iter().filter(|o| o.kind == REPLICA_STATE) {
        if o.at_ns > deadline_ns {
            break;
        }
        let Some(key) = o.data.get("key").and_then(Value::as_str) else {
            continue;
        };
        let (replicas, values) = keys.entry(key.to_string()).or_default();
        replicas.insert(o.node);
        if let Some(rs) = o.data.get("replicas").and_then(Value::as_array) {
            replicas.extend(rs.iter().filter_map(Value::as_u64).map(|r| r as usize));
        }
        values.insert(o.node, o.data.get("value").cloned().unwrap_or(Value::Null));
        let equal = agree(replicas, values);
        let since = equal_since.entry(key.to_string()).or_insert(None);
        match (equal, *since) {
            (true, None) => *since = Some(o.at_ns),
            (false, _) => *since = None,
            (true, Some(_)) => {}
        }
    }
    let mut findings = Vec::new();
    let mut slowest: u64 = 0;
    let mut times = BTreeMap::new();
    for (key, (replicas, values)) in &keys {
        match equal_since.get(key).copied().flatten() {
            Some(t) => {
                let after = t.saturating_sub(healed_ns) / 1_000_000;
                slowest = slowest.max(after);
                times.insert(key.clone(), after);
            }
            None => {
                let holding: BTreeMap<String, Value> = replicas
                    .iter()
                    .map(|r| {
                        (
                            format!("n{r}"),
                            values.get(r).cloned().unwrap_or(Value::Null),
                        )
                    })
                    .collect();
                findings.push(
                    Finding::new(
                        "convergence",
                        FindingKind::Convergence,
                        format!(
                            "key {key}: replicas still differ {} ms after the heal ({})",
                            deadline_ns.saturating_sub(healed_ns) / 1_000_000,
                            holding
                                .iter()
                                .map(|(n, v)| format!("{n}={v}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                    .at_ms(deadline_ns / 1_000_000)
                    .detail(json!({"key": key, "replicas": holding})),
                );
            }
        }
    }
    if findings.is_empty() && !keys.is_empty() {
        findings.push(
            Finding::new(
                "convergence-time",
                FindingKind::Convergence,
                format!("every key's replicas agreed at most {slowest} ms after the heal"),
            )
            .value(slowest as f64)
            .detail(json!({"per_key_ms": times})),
        );
    }
    findings
}

/// The observation kind of the harness's final inspection of each node: `{"state": {key:
/// value}}`, by the inspected node (see the harness's `Protocol::inspect`).
pub const FINAL_STATE: &str = "final-state";

/// `convergence` over the final inspection: every key's value is the same at every node whose
/// state holds the key. One finding per divergent key, naming each node's value.
///
/// ```
/// use faultline_checkers::convergence::*;
/// use faultline_checkers::Observation;
/// use serde_json::json;
/// let at = |node, v| Observation::new(9, node, FINAL_STATE, json!({"state": {"k1": v}}));
/// assert!(check_final_states(&[at(0, json!(3)), at(1, json!(3))]).is_empty());
/// assert_eq!(check_final_states(&[at(0, json!(3)), at(1, json!(2))]).len(), 1);
/// ```
pub fn check_final_states(observations: &[Observation]) -> Vec<Finding> {
    let mut keys: BTreeMap<&str, BTreeMap<usize, &Value>> = BTreeMap::new();
    let mut at_ns = 0;
    for o in observations.iter().filter(|o| o.kind == FINAL_STATE) {
        at_ns = at_ns.max(o.at_ns);
        let Some(state) = o.data.get("state").and_then(Value::as_object) else {
            continue; // malformed: the requirements report it
        };
        for (k, v) in state {
            keys.entry(k).or_default().insert(o.node, v);
        }
    }
    let mut out = Vec::new();
    for (key, held) in keys {
        let mut values = held.values();
        let first = values.next();
        if values.all(|v| Some(v) == first) {
            continue;
        }
        let holding: BTreeMap<String, &Value> =
            held.iter().map(|(n, v)| (format!("n{n}"), *v)).collect();
        out.push(
            Finding::new(
                "convergence",
                FindingKind::Convergence,
                format!(
                    "key {key}: replicas still differ after the heal, when the final reads began ({})",
                    holding
                        .iter()
                        .map(|(n, v)| format!("{n}={v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .at_ms(at_ns / 1_000_000)
            .detail(json!({"key": key, "replicas": holding, "source": FINAL_STATE})),
        );
    }
    out
}

fn agree(replicas: &BTreeSet<usize>, values: &BTreeMap<usize, Value>) -> bool {
    let mut it = replicas
        .iter()
        .map(|r| values.get(r).unwrap_or(&Value::Null));
    let first = it.next();
    it.all(|v| Some(v) == first)
}

/// The `staleness` report: reads (before the final phase) that returned a value older than one
/// already acknowledged when the read began. A read of `v` is stale when some write `b` was
/// acknowledged before the read was invoked and began after `v`'s write was acknowledged (so
/// `b` certainly supersedes `v`); its staleness is how long the newer value had been
/// acknowledged. `value`: the maximum staleness in ms; `detail.stale_reads`: how many.
///
/// ```
/// use faultline_checkers::{history::*, convergence::staleness};
/// use serde_json::json;
/// let mut h = History::default();
/// h.push(Event::invoke(0, "write", Some("k"), json!(1), 0));
/// h.push(Event::complete(0, EventType::Ok, "write", Some("k"), json!(1), 1_000_000));
/// h.push(Event::invoke(0, "read", Some("k"), json!(null), 5_000_000));
/// h.push(Event::complete(0, EventType::Ok, "read", Some("k"), json!(null), 6_000_000));
/// let f = staleness(&h, 100);
/// assert_eq!(f.value, Some(4.0));
/// ```
pub fn staleness(history: &History, final_process_base: u64) -> Finding {
    let ops = pair(history);
    // key -> acknowledged writes: (value, invoke, ok)
    let mut writes: BTreeMap<&str, Vec<(&Value, u64, u64)>> = BTreeMap::new();
    for o in &ops {
        if let (Some(v), Some(key), EventType::Ok) = (o.written(), o.key.as_deref(), o.outcome) {
            writes
                .entry(key)
                .or_default()
                .push((v, o.invoke_ns, o.end_ns()));
        }
    }
    let mut stale = 0u64;
    let mut reads = 0u64;
    let mut max_ns = 0u64;
    let mut worst: Option<Value> = None;
    for r in &ops {
        if !r.is_read() || r.outcome != EventType::Ok || r.process >= final_process_base {
            continue;
        }
        reads += 1;
        let Some(ws) = r.key.as_deref().and_then(|k| writes.get(k)) else {
            continue;
        };
        // When the value read was certainly in place; an unacknowledged or unknown write may
        // take effect at any time, so it makes no read stale.
        let seen_ok = if r.output.is_null() {
            Some(0)
        } else {
            ws.iter().find(|w| *w.0 == r.output).map(|w| w.2)
        };
        let Some(seen_ok) = seen_ok else { continue };
        let newer = ws
            .iter()
            .filter(|w| w.2 < r.invoke_ns && (r.output.is_null() || w.1 > seen_ok))
            .map(|w| w.2)
            .min();
        if let Some(acked) = newer {
            stale += 1;
            let behind = r.invoke_ns - acked;
            if behind >= max_ns {
                max_ns = behind;
                worst =
                    Some(json!({"key": r.key, "read": r.output, "at_ms": r.invoke_ns / 1_000_000}));
            }
        }
    }
    let f = Finding::new(
        "staleness",
        FindingKind::Convergence,
        format!(
            "{stale} of {reads} reads were stale; the stalest was {} ms behind",
            max_ns / 1_000_000
        ),
    )
    .value((max_ns / 1_000_000) as f64)
    .detail(json!({"stale_reads": stale, "reads": reads, "stalest": worst}));
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Event;

    fn state(at_ms: u64, node: usize, key: &str, value: Value) -> Observation {
        Observation::new(
            at_ms * 1_000_000,
            node,
            REPLICA_STATE,
            json!({"key": key, "value": value, "replicas": [0, 1, 2]}),
        )
    }

    #[test]
    fn replicas_that_catch_up_converge_and_report_the_time() {
        let obs = vec![
            state(10, 0, "k", json!(1)),
            state(11, 1, "k", json!(1)),
            // n2 catches up 300 ms after the heal at 100 ms.
            state(400, 2, "k", json!(1)),
        ];
        let f = check_convergence(&obs, 100_000_000, 3_000_000_000);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].checker, "convergence-time");
        assert_eq!(f[0].value, Some(300.0));
    }

    #[test]
    fn a_replica_that_never_got_the_write_diverges() {
        let obs = vec![state(10, 0, "k", json!(1)), state(11, 1, "k", json!(1))];
        let f = check_convergence(&obs, 100_000_000, 3_000_000_000);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].checker, "convergence");
        assert!(f[0].message.contains("n2=null"), "{}", f[0].message);
    }

    #[test]
    fn divergence_after_the_deadline_is_not_judged() {
        let obs = vec![
            state(10, 0, "k", json!(1)),
            state(10, 1, "k", json!(1)),
            state(10, 2, "k", json!(1)),
            state(5000, 2, "k", json!(2)),
        ];
        let f = check_convergence(&obs, 100_000_000, 3_000_000_000);
        assert_eq!(f[0].checker, "convergence-time");
    }

    fn op(h: &mut History, p: u64, f: &str, v: Value, t0: u64, t1: u64) {
        h.push(Event::invoke(p, f, Some("k"), v.clone(), t0));
        h.push(Event::complete(p, EventType::Ok, f, Some("k"), v, t1));
    }

    #[test]
    fn a_read_of_a_superseded_value_is_stale() {
        let mut h = History::default();
        op(&mut h, 0, "write", json!(1), 0, 10);
        op(&mut h, 0, "write", json!(2), 20, 30);
        op(&mut h, 1, "read", json!(1), 50, 60);
        let f = staleness(&h, 100);
        assert_eq!(f.detail.as_ref().unwrap()["stale_reads"], json!(1));
    }

    #[test]
    fn a_read_concurrent_with_the_newer_write_is_not_stale() {
        let mut h = History::default();
        op(&mut h, 0, "write", json!(1), 0, 10);
        op(&mut h, 0, "write", json!(2), 20, 55);
        op(&mut h, 1, "read", json!(1), 50, 60);
        let f = staleness(&h, 100);
        assert_eq!(f.detail.as_ref().unwrap()["stale_reads"], json!(0));
        assert_eq!(f.value, Some(0.0));
    }
}
