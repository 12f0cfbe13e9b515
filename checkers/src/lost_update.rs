//! `lost-update`: last-writer-wins ordered two writes against real time, so the later write
//! loses wherever the two meet.
//!
//! Write `a` was acknowledged before write `b` was invoked, so every observer must see `b`
//! supersede `a`. A last-writer-wins store orders them by the versions it stamped (from node
//! clocks): if `b`'s version is lower, `b` is silently discarded by every replica holding `a`.
//! Versions come from the `version` field (an array compared element by element, e.g.
//! `[clock_ms, node]`) of [`REPLICA_STATE`] observations and
//! of [`WRITE_STAMPED`] ones, which a coordinator makes when it stamps a write — a write that
//! every replica discards as older is never stored, so only its stamp tells its version.
use crate::convergence::REPLICA_STATE;
use crate::finding::{Finding, FindingKind};
use crate::history::{EventType, History};
use crate::observation::Observation;
use crate::ops::pair;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The observation a last-writer-wins coordinator makes when it stamps a write:
/// `{"key": "k1", "value": 7, "version": [1203, 2]}`.
pub const WRITE_STAMPED: &str = "write-stamped";

/// A version as stamped by the store: compared lexicographically.
fn version(v: &Value) -> Option<Vec<i64>> {
    v.as_array()?.iter().map(Value::as_i64).collect()
}

/// One finding per key whose acknowledged writes were ordered against real time.
///
/// ```
/// use faultline_checkers::{history::*, lost_update::check_lost_updates, Observation};
/// use serde_json::json;
/// let mut h = History::default();
/// for (v, t) in [(1, 0), (2, 100)] {
///     h.push(Event::invoke(0, "write", Some("k"), json!(v), t));
///     h.push(Event::complete(0, EventType::Ok, "write", Some("k"), json!(v), t + 10));
/// }
/// // The node that stamped 2 had a clock running 5 s behind.
/// let obs = vec![
///     Observation::new(5, 0, "replica-state", json!({"key": "k", "value": 1, "version": [5, 0]})),
///     Observation::new(105, 1, "replica-state", json!({"key": "k", "value": 2, "version": [-4895, 1]})),
/// ];
/// assert_eq!(check_lost_updates(&h, &obs).len(), 1);
/// ```
pub fn check_lost_updates(history: &History, observations: &[Observation]) -> Vec<Finding> {
    // (key, value) -> the highest version any replica stored it with.
    let mut versions: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
    for o in observations
        .iter()
        .filter(|o| o.kind == REPLICA_STATE || o.kind == WRITE_STAMPED)
    {
        let (Some(key), Some(value), Some(v)) = (
            o.data.get("key").and_then(Value::as_str),
            o.data.get("value"),
            o.data.get("version").and_then(version),
        ) else {
            continue;
        };
        let e = versions
            .entry((key.to_string(), value.to_string()))
            .or_insert_with(|| v.clone());
        if v > *e {
            *e = v;
        }
    }
    // key -> acknowledged writes with a known version: (value, invoke, ok, version)
    type Stamped = (Value, u64, u64, Vec<i64>);
    let mut writes: BTreeMap<String, Vec<Stamped>> = BTreeMap::new();
    for o in pair(history) {
        let (Some(v), Some(key), EventType::Ok) = (o.written(), o.key.as_deref(), o.outcome) else {
            continue;
        };
        if let Some(ver) = versions.get(&(key.to_string(), v.to_string())) {
            writes.entry(key.to_string()).or_default().push((
                v.clone(),
                o.invoke_ns,
                o.end_ns(),
                ver.clone(),
            ));
        }
    }
    let mut findings = Vec::new();
    for (key, ws) in &writes {
        let mut lost: Vec<(&Value, &Value, u64)> = Vec::new();
        for b in ws {
            // The earlier write with the highest version: if it outranks `b`, `b` lost.
            if let Some(a) = ws.iter().filter(|a| a.2 < b.1).max_by(|x, y| x.3.cmp(&y.3)) {
                if a.3 > b.3 {
                    lost.push((&b.0, &a.0, b.2));
                }
            }
        }
        if let Some((b, a, at)) = lost.first() {
            findings.push(
                Finding::new(
                    "lost-update",
                    FindingKind::Safety,
                    format!(
                        "key {key}: the write of {b} (acknowledged at {} ms) lost to the earlier write of {a}, whose last-writer-wins timestamp is higher ({} updates lost)",
                        at / 1_000_000,
                        lost.len()
                    ),
                )
                .at_ms(at / 1_000_000)
                .value(lost.len() as f64)
                .detail(json!({
                    "key": key,
                    "lost": lost.iter().map(|(b, a, _)| json!({"write": b, "lost_to": a})).collect::<Vec<_>>(),
                })),
            );
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Event;

    fn write(h: &mut History, v: u64, t0: u64, t1: u64) {
        h.push(Event::invoke(0, "write", Some("k"), json!(v), t0));
        h.push(Event::complete(
            0,
            EventType::Ok,
            "write",
            Some("k"),
            json!(v),
            t1,
        ));
    }

    fn stored(node: usize, v: u64, ver: [i64; 2]) -> Observation {
        Observation::new(
            0,
            node,
            REPLICA_STATE,
            json!({"key": "k", "value": v, "version": ver}),
        )
    }

    #[test]
    fn versions_in_real_time_order_lose_nothing() {
        let mut h = History::default();
        write(&mut h, 1, 0, 10);
        write(&mut h, 2, 20, 30);
        let obs = vec![stored(0, 1, [5, 0]), stored(1, 2, [25, 1])];
        assert!(check_lost_updates(&h, &obs).is_empty());
    }

    #[test]
    fn a_later_write_stamped_lower_is_lost() {
        let mut h = History::default();
        write(&mut h, 1, 0, 10);
        write(&mut h, 2, 20, 30);
        let obs = vec![stored(0, 1, [5, 0]), stored(1, 2, [4, 1])];
        let f = check_lost_updates(&h, &obs);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FindingKind::Safety);
        assert_eq!(f[0].value, Some(1.0));
    }

    #[test]
    fn concurrent_writes_may_go_either_way() {
        let mut h = History::default();
        h.push(Event::invoke(0, "write", Some("k"), json!(1), 0));
        h.push(Event::invoke(1, "write", Some("k"), json!(2), 1));
        h.push(Event::complete(
            0,
            EventType::Ok,
            "write",
            Some("k"),
            json!(1),
            10,
        ));
        h.push(Event::complete(
            1,
            EventType::Ok,
            "write",
            Some("k"),
            json!(2),
            11,
        ));
        let obs = vec![stored(0, 1, [5, 0]), stored(1, 2, [4, 1])];
        assert!(check_lost_updates(&h, &obs).is_empty());
    }
}
