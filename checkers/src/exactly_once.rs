//! `exactly-once`: each request id takes effect once, whatever the retries, losses and crashes.
//!
//! Effects come from observations of one kind (e.g. `charged`) carrying a numeric `request`
//! field, reported by the service when the effect is durable. An effect reported again (the
//! same `id` from the same node: a service re-reports on recovery what it finds durable, since
//! a crash may have cut its first report off) counts once, see
//! [`crate::observation::distinct_effects`]. Requests come from the history:
//! operations whose invocation value carries the same `request` field (an `ok` completion
//! carries the call's result, not its input).
use crate::finding::{Finding, FindingKind};
use crate::history::{EventType, History};
use crate::observation::Observation;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Flags a request that took effect more than once, and one acknowledged (`ok`) that never did.
///
/// ```
/// use faultline_checkers::{exactly_once::check_exactly_once, History, Observation};
/// use serde_json::json;
/// let twice = vec![
///     Observation::new(1, 0, "charged", json!({"request": 4, "amount": 10})),
///     Observation::new(2, 0, "charged", json!({"request": 4, "amount": 10})),
/// ];
/// assert_eq!(check_exactly_once(&twice, "charged", &History::default()).len(), 1);
/// ```
pub fn check_exactly_once(obs: &[Observation], effect: &str, history: &History) -> Vec<Finding> {
    let mut effects: BTreeMap<u64, Vec<&Observation>> = BTreeMap::new();
    for o in crate::observation::distinct_effects(obs)
        .into_iter()
        .filter(|o| o.kind == effect)
    {
        if let Some(r) = o.u64("request") {
            effects.entry(r).or_default().push(o);
        }
    }
    let mut out = Vec::new();
    for (r, es) in &effects {
        if es.len() > 1 {
            let nodes: BTreeSet<usize> = es.iter().map(|o| o.node).collect();
            let times: Vec<u64> = es.iter().map(|o| o.at_ms()).collect();
            out.push(
                Finding::new(
                    "exactly-once",
                    FindingKind::Safety,
                    format!(
                        "request {r} took effect {} times (`{effect}` at {times:?} ms)",
                        es.len()
                    ),
                )
                .at_ms(es[1].at_ms())
                .value(es.len() as f64)
                .detail(json!({"request": r, "effects": es.len(), "nodes": nodes, "at_ms": times})),
            );
        }
    }
    // The request id is the invocation's: an `ok` completion carries what the call returned.
    for o in crate::ops::pair(history) {
        if o.outcome != EventType::Ok {
            continue;
        }
        let Some(r) = o.input.get("request").and_then(Value::as_u64) else {
            continue;
        };
        if !effects.contains_key(&r) {
            out.push(
                Finding::new(
                    "exactly-once",
                    FindingKind::Safety,
                    format!("request {r} was acknowledged but never took effect"),
                )
                .at_ms(o.end_ns() / 1_000_000)
                .detail(json!({"request": r, "effects": 0})),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Event;

    fn acked(r: u64) -> History {
        let mut h = History::default();
        h.push(Event::invoke(0, "pay", None, json!({"request": r}), 1));
        h.push(Event::complete(
            0,
            EventType::Ok,
            "pay",
            None,
            serde_json::Value::Null,
            9,
        ));
        h
    }

    #[test]
    fn one_effect_per_acknowledged_request_passes() {
        let obs = vec![Observation::new(5, 0, "charged", json!({"request": 1}))];
        assert!(check_exactly_once(&obs, "charged", &acked(1)).is_empty());
    }

    #[test]
    fn a_retried_request_applied_twice_is_flagged() {
        let obs = vec![
            Observation::new(5_000_000, 0, "charged", json!({"request": 1})),
            Observation::new(9_000_000, 0, "charged", json!({"request": 1})),
        ];
        let f = check_exactly_once(&obs, "charged", &acked(1));
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].checker, "exactly-once");
        assert!(
            f[0].message.contains("took effect 2 times"),
            "{}",
            f[0].message
        );
        assert_eq!(f[0].at_ms, Some(9));
    }

    #[test]
    fn an_acknowledged_request_without_effect_is_flagged() {
        let f = check_exactly_once(&[], "charged", &acked(3));
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("never took effect"));
    }
}
