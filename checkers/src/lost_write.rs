//! `lost-write`: a write acknowledged to a client is missing after the final phase.
//!
//! List-append histories (with `append` operations) are checked element by element by
//! [`crate::lost_element`]; register histories as follows. The final read of a key returns some value `v`. An acknowledged write `w` is lost when the
//! write that produced `v` completed before `w` was even invoked (so `w` must be ordered after
//! it), or when `v` is the initial value although `w` was acknowledged. This needs unique write
//! values, which Faultline's workloads guarantee.
use crate::finding::{Finding, FindingKind};
use crate::history::{EventType, History};
use serde_json::{json, Value};
use std::collections::BTreeMap;

struct Write {
    value: Value,
    invoke_ns: u64,
    ok_ns: Option<u64>,
}

/// Checks the final reads (ops by processes `>= final_process_base`) against acknowledged writes
/// (list-append histories: see [`crate::lost_element::check_lost_elements`]).
///
/// ```
/// use faultline_checkers::{history::*, lost_write::check_lost_writes};
/// use serde_json::json;
/// let mut h = History::default();
/// h.push(Event::invoke(0, "write", Some("k"), json!(1), 1));
/// h.push(Event::complete(0, EventType::Ok, "write", Some("k"), json!(1), 2));
/// h.push(Event::invoke(100, "read", Some("k"), json!(null), 10));
/// h.push(Event::complete(100, EventType::Ok, "read", Some("k"), json!(null), 11));
/// assert_eq!(check_lost_writes(&h, 100).len(), 1);
/// ```
pub fn check_lost_writes(history: &History, final_process_base: u64) -> Vec<Finding> {
    if crate::lost_element::is_append_history(history) {
        return crate::lost_element::check_lost_elements(history, final_process_base);
    }
    let mut writes: BTreeMap<&str, Vec<Write>> = BTreeMap::new();
    let mut open: BTreeMap<u64, (usize, u64)> = BTreeMap::new(); // process -> (event idx, invoke ns)
    let mut final_reads: BTreeMap<&str, (Value, u64)> = BTreeMap::new();
    for (i, e) in history.events.iter().enumerate() {
        match e.kind {
            EventType::Invoke => {
                open.insert(e.process, (i, e.time_ns));
            }
            EventType::Ok | EventType::Info | EventType::Fail => {
                let Some((inv_idx, inv_ns)) = open.remove(&e.process) else {
                    continue;
                };
                let inv = &history.events[inv_idx];
                let Some(key) = inv.key.as_deref() else {
                    continue;
                };
                let written = match inv.f.as_str() {
                    "write" => Some(inv.value.clone()),
                    "cas" => inv.value.get(1).cloned(),
                    _ => None,
                };
                if let Some(value) = written {
                    if e.kind != EventType::Fail {
                        writes.entry(key).or_default().push(Write {
                            value,
                            invoke_ns: inv_ns,
                            ok_ns: (e.kind == EventType::Ok).then_some(e.time_ns),
                        });
                    }
                } else if inv.f == "read"
                    && e.kind == EventType::Ok
                    && e.process >= final_process_base
                {
                    final_reads.insert(key, (e.value.clone(), e.time_ns));
                }
            }
        }
    }
    let mut findings = Vec::new();
    for (key, (seen, at_ns)) in &final_reads {
        let ws = writes.get(key).map(Vec::as_slice).unwrap_or(&[]);
        let producer = ws.iter().find(|w| &w.value == seen);
        let lost: Vec<&Write> = ws
            .iter()
            .filter(|w| w.ok_ns.is_some())
            .filter(|w| match producer {
                None => seen.is_null(),
                Some(p) => p.ok_ns.is_some_and(|pok| pok < w.invoke_ns),
            })
            .collect();
        if let Some(first) = lost.first() {
            findings.push(
                Finding::new(
                    "lost-write",
                    FindingKind::Safety,
                    format!(
                        "key {key}: the final read returned {seen}, but the write of {} was acknowledged at {} ms{}",
                        first.value,
                        first.ok_ns.unwrap_or(0) / 1_000_000,
                        if lost.len() > 1 { format!(" ({} acknowledged writes lost)", lost.len()) } else { String::new() }
                    ),
                )
                .at_ms(at_ns / 1_000_000)
                .detail(json!({
                    "key": key,
                    "final_value": seen,
                    "lost": lost.iter().map(|w| w.value.clone()).collect::<Vec<_>>(),
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
    use serde_json::json;

    /// One completed op on key `k`: (process, f, input, invoke ns, complete ns, outcome, output).
    type Op<'a> = (u64, &'a str, Value, u64, u64, EventType, Value);

    fn history(ops: Vec<Op>) -> History {
        let mut h = History::default();
        for (p, f, v, t0, t1, kind, out) in ops {
            h.push(Event::invoke(p, f, Some("k"), v, t0));
            h.push(Event::complete(p, kind, f, Some("k"), out, t1));
        }
        h
    }

    fn write(p: u64, v: u64, t0: u64, t1: u64, kind: EventType) -> Op<'static> {
        (p, "write", json!(v), t0, t1, kind, json!(null))
    }

    fn final_read(v: Value) -> Op<'static> {
        (100, "read", json!(null), 10, 11, EventType::Ok, v)
    }

    #[test]
    fn newest_write_survives_is_fine() {
        let h = history(vec![
            write(0, 1, 1, 2, EventType::Ok),
            write(1, 2, 3, 4, EventType::Ok),
            final_read(json!(2)),
        ]);
        assert!(check_lost_writes(&h, 100).is_empty());
    }

    #[test]
    fn concurrent_writes_either_may_win() {
        let mut h = History::default();
        h.push(Event::invoke(0, "write", Some("k"), json!(1), 1));
        h.push(Event::invoke(1, "write", Some("k"), json!(2), 2));
        h.push(Event::complete(
            0,
            EventType::Ok,
            "write",
            Some("k"),
            json!(null),
            3,
        ));
        h.push(Event::complete(
            1,
            EventType::Ok,
            "write",
            Some("k"),
            json!(null),
            4,
        ));
        h.events.extend(history(vec![final_read(json!(1))]).events);
        assert!(check_lost_writes(&h, 100).is_empty());
    }

    #[test]
    fn older_value_after_acked_write_is_lost() {
        let h = history(vec![
            write(0, 1, 1, 2, EventType::Ok),
            write(1, 2, 3, 4, EventType::Ok),
            final_read(json!(1)),
        ]);
        let f = check_lost_writes(&h, 100);
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("write of 2"), "{}", f[0].message);
    }

    #[test]
    fn initial_value_after_acked_write_is_lost() {
        let h = history(vec![
            write(0, 1, 1, 2, EventType::Ok),
            final_read(json!(null)),
        ]);
        assert_eq!(check_lost_writes(&h, 100).len(), 1);
    }

    #[test]
    fn unacknowledged_writes_may_vanish() {
        let h = history(vec![
            write(0, 1, 1, 2, EventType::Ok),
            write(1, 2, 3, 4, EventType::Info),
            final_read(json!(1)),
        ]);
        assert!(check_lost_writes(&h, 100).is_empty());
    }

    #[test]
    fn reads_before_the_final_phase_are_not_final() {
        let h = history(vec![
            write(0, 1, 1, 2, EventType::Ok),
            (5, "read", json!(null), 3, 4, EventType::Ok, json!(null)),
        ]);
        assert!(check_lost_writes(&h, 100).is_empty());
    }
}
