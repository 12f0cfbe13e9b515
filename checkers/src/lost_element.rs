//! `lost-write` for list-append histories, element by element (Jepsen's `set` checker, per key).
//!
//! Under the `append` workload every write appends an element unique across the run to one
//! key's list, and every read returns the key's whole list. So the final read of a key must hold
//! every element whose append was acknowledged, whatever came after it: each one missing is a
//! lost write of its own, not only the last write to the key. Reads also show what must never
//! be there. Each of these is a `lost-write` finding, told apart by `detail.anomaly`:
//!
//! | anomaly | what | where |
//! |---|---|---|
//! | `lost` | an acknowledged append's element is missing from its key's final read | final reads |
//! | `unexpected` | an element no append to that key ever attempted | any read |
//! | `failed-visible` | an element whose append answered `fail` (a failed op must not take effect) | any read |
//! | `duplicate` | an element twice in one list (an append applied twice) | any read |
//! | `not-a-list` | a read that returned something other than a list (or null: empty) | any read |
//!
//! They share the `lost-write` name because they are one promise — the store holds exactly the
//! effects clients were told about — and so that every model declaring `lost-write` (built-in
//! or a user's) gets all of them without a new guarantee to add.
//!
//! An append whose outcome is unknown (`info`) may or may not be in the lists. A key with no
//! successful final read is not judged here (that is the liveness checker's business).
use crate::finding::{Finding, FindingKind};
use crate::history::{EventType, History};
use crate::ops::{pair, Op};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The history's operation function for an append.
pub const APPEND: &str = "append";

/// True when the history comes from a list-append workload (it has `append` operations).
pub fn is_append_history(history: &History) -> bool {
    history.events.iter().any(|e| e.f == APPEND)
}

/// One append as attempted: where, by whom, how it ended.
struct Attempt<'a> {
    key: &'a str,
    process: u64,
    /// 1-based line of its invocation in `history.jsonl` (the event's index + 1).
    line: usize,
    outcome: EventType,
    ack_ns: Option<u64>,
}

/// Checks a list-append history: final reads are those of processes `>= final_process_base`.
///
/// ```
/// use faultline_checkers::{history::*, lost_element::check_lost_elements};
/// use serde_json::json;
/// let mut h = History::default();
/// h.push(Event::invoke(0, "append", Some("k"), json!(1), 1));
/// h.push(Event::complete(0, EventType::Ok, "append", Some("k"), json!(1), 2));
/// h.push(Event::invoke(0, "append", Some("k"), json!(2), 3));
/// h.push(Event::complete(0, EventType::Ok, "append", Some("k"), json!(2), 4_000_000));
/// h.push(Event::invoke(100, "read", Some("k"), json!(null), 10_000_000));
/// h.push(Event::complete(100, EventType::Ok, "read", Some("k"), json!([1]), 11_000_000));
/// let f = check_lost_elements(&h, 100);
/// assert_eq!(f.len(), 1);
/// assert_eq!(f[0].checker, "lost-write");
/// assert_eq!(f[0].detail.as_ref().unwrap()["element"], json!(2));
/// assert_eq!(f[0].detail.as_ref().unwrap()["ack_ms"], json!(4));
/// ```
pub fn check_lost_elements(history: &History, final_process_base: u64) -> Vec<Finding> {
    let ops = pair(history);
    let lines = invoke_lines(history);
    // Elements are unique across the run: the map from element to its append is exact. Keyed by
    // the element's JSON text (serde_json values are not Ord).
    let mut attempts: BTreeMap<String, Attempt> = BTreeMap::new();
    for (o, &line) in ops.iter().zip(&lines) {
        if o.f != APPEND {
            continue;
        }
        let Some(key) = o.key.as_deref() else {
            continue;
        };
        attempts.insert(
            o.input.to_string(),
            Attempt {
                key,
                process: o.process,
                line,
                outcome: o.outcome,
                ack_ns: (o.outcome == EventType::Ok).then_some(o.end_ns()),
            },
        );
    }
    let mut out = Vec::new();
    // (anomaly, element) already reported: a bad element shows in many reads, once is enough.
    let mut reported: BTreeSet<(&'static str, String)> = BTreeSet::new();
    let mut final_reads: BTreeMap<&str, (Vec<&Value>, u64)> = BTreeMap::new();
    for (r, &line) in ops.iter().zip(&lines) {
        if !r.is_read() || r.outcome != EventType::Ok {
            continue;
        }
        let Some(key) = r.key.as_deref() else {
            continue;
        };
        let at_ns = r.end_ns();
        let list: Vec<&Value> = match &r.output {
            Value::Null => vec![],
            Value::Array(a) => a.iter().collect(),
            other => {
                out.push(
                    finding(format!(
                        "key {key}: a read returned {other}, not a list (history.jsonl line {line})"
                    ))
                    .at_ms(at_ns / 1_000_000)
                    .detail(json!({"anomaly": "not-a-list", "key": key, "value": other,
                                   "process": r.process, "line": line})),
                );
                continue;
            }
        };
        read_anomalies(key, &list, r, line, &attempts, &mut reported, &mut out);
        if r.process >= final_process_base {
            final_reads.insert(key, (list, at_ns));
        }
    }
    for (key, (list, at_ns)) in &final_reads {
        let present: BTreeSet<String> = list.iter().map(|v| v.to_string()).collect();
        for (elem, a) in &attempts {
            let Some(ack_ns) = a.ack_ns else { continue };
            if a.key != *key || present.contains(elem) {
                continue;
            }
            out.push(
                finding(format!(
                    "key {key}: element {elem} was acknowledged at {} ms (process {}, history.jsonl \
                     line {}) but is missing from the final read at {} ms",
                    ack_ns / 1_000_000,
                    a.process,
                    a.line,
                    at_ns / 1_000_000
                ))
                .at_ms(at_ns / 1_000_000)
                .detail(json!({
                    "anomaly": "lost",
                    "key": key,
                    "element": element_json(elem),
                    // The register check's shape too, so reports that retell it work alike.
                    "lost": [element_json(elem)],
                    "process": a.process,
                    "line": a.line,
                    "ack_ms": ack_ns / 1_000_000,
                    "final_read_ms": at_ns / 1_000_000,
                    "final_length": list.len(),
                })),
            );
        }
    }
    out
}

/// Elements one read must not hold: never attempted on this key, failed, or duplicated.
fn read_anomalies(
    key: &str,
    list: &[&Value],
    r: &Op,
    line: usize,
    attempts: &BTreeMap<String, Attempt>,
    reported: &mut BTreeSet<(&'static str, String)>,
    out: &mut Vec<Finding>,
) {
    let at_ms = r.end_ns() / 1_000_000;
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for v in list {
        let elem = v.to_string();
        let (anomaly, why) = if !seen.insert(elem.clone()) {
            (
                "duplicate",
                "appears twice in one read (an append applied twice)".to_string(),
            )
        } else {
            match attempts.get(&elem) {
                None => ("unexpected", "was never appended by any client".to_string()),
                Some(a) if a.key != key => (
                    "unexpected",
                    format!("was appended to key {}, not to this key", a.key),
                ),
                Some(a) if a.outcome == EventType::Fail => (
                    "failed-visible",
                    format!(
                        "was appended by process {} (history.jsonl line {}), which was told the \
                         append failed",
                        a.process, a.line
                    ),
                ),
                Some(_) => continue,
            }
        };
        if !reported.insert((anomaly, elem.clone())) {
            continue;
        }
        out.push(
            finding(format!(
                "key {key}: element {elem} in a read at {at_ms} ms (process {}, history.jsonl line \
                 {line}) {why}",
                r.process
            ))
            .at_ms(at_ms)
            .detail(json!({
                "anomaly": anomaly,
                "key": key,
                "element": v,
                "read_process": r.process,
                "read_line": line,
            })),
        );
    }
}

fn finding(message: String) -> Finding {
    Finding::new("lost-write", FindingKind::Safety, message)
}

/// The element back as JSON (it was keyed by its JSON text).
fn element_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// For each op [`pair`] returns (in invocation order), the 1-based line of its invocation.
fn invoke_lines(history: &History) -> Vec<usize> {
    history
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.kind == EventType::Invoke)
        .map(|(i, _)| i + 1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Event;

    /// Builds histories op by op; each op is invoked and completed before the next.
    struct H {
        h: History,
        t: u64,
    }

    impl H {
        fn new() -> Self {
            H {
                h: History::default(),
                t: 0,
            }
        }
        fn op(
            mut self,
            p: u64,
            f: &str,
            key: &str,
            input: Value,
            kind: EventType,
            out: Value,
        ) -> Self {
            self.t += 1_000_000;
            self.h.push(Event::invoke(p, f, Some(key), input, self.t));
            self.t += 1_000_000;
            self.h
                .push(Event::complete(p, kind, f, Some(key), out, self.t));
            self
        }
        fn append(self, p: u64, key: &str, e: u64, kind: EventType) -> Self {
            self.op(p, "append", key, json!(e), kind, json!(e))
        }
        fn read(self, p: u64, key: &str, list: Value) -> Self {
            self.op(p, "read", key, Value::Null, EventType::Ok, list)
        }
        fn check(&self) -> Vec<Finding> {
            check_lost_elements(&self.h, 100)
        }
    }

    fn anomalies(f: &[Finding]) -> Vec<(String, Value)> {
        f.iter()
            .map(|f| {
                let d = f.detail.as_ref().expect("detail");
                (
                    d["anomaly"].as_str().unwrap().to_string(),
                    d["element"].clone(),
                )
            })
            .collect()
    }

    #[test]
    fn every_acknowledged_element_kept_is_clean() {
        let h = H::new()
            .append(0, "k", 1, EventType::Ok)
            .append(1, "k", 2, EventType::Ok)
            .read(2, "k", json!([1, 2]))
            .read(100, "k", json!([1, 2]));
        assert!(h.check().is_empty(), "{:?}", h.check());
    }

    #[test]
    fn a_lost_element_is_named_even_when_later_writes_survive() {
        // The register check would miss this: the last write (3) is there.
        let h = H::new()
            .append(0, "k", 1, EventType::Ok)
            .append(1, "k", 2, EventType::Ok)
            .append(0, "k", 3, EventType::Ok)
            .read(100, "k", json!([1, 3]));
        let f = h.check();
        assert_eq!(anomalies(&f), vec![("lost".to_string(), json!(2))]);
        let d = f[0].detail.as_ref().unwrap();
        assert_eq!(d["process"], json!(1));
        assert_eq!(
            d["line"],
            json!(3),
            "the invocation's line in history.jsonl"
        );
        assert_eq!(d["ack_ms"], json!(4));
        assert!(f[0].message.contains("element 2"), "{}", f[0].message);
    }

    #[test]
    fn each_lost_element_is_its_own_finding() {
        let h = H::new()
            .append(0, "k", 1, EventType::Ok)
            .append(0, "k", 2, EventType::Ok)
            .read(100, "k", json!(null));
        assert_eq!(
            anomalies(&h.check()),
            vec![("lost".into(), json!(1)), ("lost".into(), json!(2))]
        );
    }

    #[test]
    fn unknown_appends_may_vanish_or_appear() {
        let h = H::new()
            .append(0, "k", 1, EventType::Info)
            .append(1, "k", 2, EventType::Info)
            .read(100, "k", json!([2]));
        assert!(h.check().is_empty());
    }

    #[test]
    fn a_failed_append_that_took_effect_is_reported() {
        let h = H::new()
            .append(0, "k", 1, EventType::Fail)
            .read(2, "k", json!([1]))
            .read(100, "k", json!([1]));
        assert_eq!(
            anomalies(&h.check()),
            vec![("failed-visible".into(), json!(1))],
            "reported once, though two reads show it"
        );
    }

    #[test]
    fn elements_never_attempted_or_on_another_key_are_unexpected() {
        let h = H::new()
            .append(0, "a", 1, EventType::Ok)
            .read(2, "b", json!([1, 9]))
            .read(100, "a", json!([1]));
        assert_eq!(
            anomalies(&h.check()),
            vec![
                ("unexpected".into(), json!(1)),
                ("unexpected".into(), json!(9))
            ]
        );
    }

    #[test]
    fn duplicates_and_non_lists_are_reported() {
        let h = H::new()
            .append(0, "k", 1, EventType::Ok)
            .read(2, "k", json!([1, 1]))
            .read(100, "k", json!(7));
        let f = h.check();
        let kinds: Vec<String> = anomalies(&f).into_iter().map(|a| a.0).collect();
        assert_eq!(kinds, vec!["duplicate", "not-a-list"]);
    }

    #[test]
    fn reads_during_the_run_are_not_final() {
        let h = H::new()
            .append(0, "k", 1, EventType::Ok)
            .append(0, "k", 2, EventType::Ok)
            .read(5, "k", json!([1]));
        assert!(h.check().is_empty());
    }
}
