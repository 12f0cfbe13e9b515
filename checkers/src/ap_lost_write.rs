//! `ap-lost-write`: an acknowledged write to an available (AP) store is lost only when another
//! write replaced it; the final read after the heal shows what survived.
//!
//! An AP store may order concurrent — and, with last-writer-wins on skewed clocks, even
//! sequential — writes to a key differently from real time: a later write can lose to an earlier
//! one stamped with a higher clock. That is the store's declared trade-off, reported as
//! `lost-update`, so the CP rule of `lost-write` ("a write acknowledged after the final value's
//! write completed must win") does not hold. What still holds for every convergent store, LWW
//! included, is that an acknowledged write only ever gives way to *another write*:
//!
//! - **nothing replaced it**: if a key had any acknowledged write, its final read must not
//!   return the initial null (no write put null there) — every acknowledged write vanished;
//! - **the only write**: if an acknowledged write is the key's only write (no other write or cas
//!   was invoked on it, whatever its outcome, except refused ones, which certainly took no
//!   effect), the final read must return exactly its value.
//!
//! The stronger claim "the last acknowledged write, when every other write to the key completed
//! before it was invoked, must be read" is *not* sound here: under skew the earlier write wins
//! last-writer-wins, the `lost-update` case. So it is not made; only what no write could have
//! superseded is. Writes acknowledged only to be dropped (held in memory and lost in a crash,
//! never stored) are exactly what this catches. Judges register histories only
//! ([`is_register_history`]) and the final reads (processes `>= final_process_base`).
use crate::finding::{Finding, FindingKind};
use crate::history::{EventType, History};
use crate::ops::{pair, Op};
use crate::register::is_register_history;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The checker's name, as guarantees and `--fail-on` spell it.
pub const AP_LOST_WRITE: &str = "ap-lost-write";

/// One finding per key whose final read lost an acknowledged write no other write replaced.
///
/// ```
/// use faultline_checkers::{history::*, ap_lost_write::check_ap_lost_writes};
/// use serde_json::json;
/// let mut h = History::default();
/// h.push(Event::invoke(0, "write", Some("k"), json!(1), 1));
/// h.push(Event::complete(0, EventType::Ok, "write", Some("k"), json!(1), 2));
/// // The final reader (process 100) finds the key empty.
/// h.push(Event::invoke(100, "read", Some("k"), json!(null), 10));
/// h.push(Event::complete(100, EventType::Ok, "read", Some("k"), json!(null), 11));
/// assert_eq!(check_ap_lost_writes(&h, 100).len(), 1);
/// ```
pub fn check_ap_lost_writes(history: &History, final_process_base: u64) -> Vec<Finding> {
    let ops = pair(history);
    if !is_register_history(&ops) {
        return vec![];
    }
    // key -> writes that may have taken effect (every outcome but a refusal).
    let mut writes: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    // key -> the last final read that succeeded.
    let mut finals: BTreeMap<&str, &Op> = BTreeMap::new();
    for o in &ops {
        let Some(key) = o.key.as_deref() else {
            continue;
        };
        if o.written().is_some() && o.outcome != EventType::Fail {
            writes.entry(key).or_default().push(o);
        } else if o.is_read() && o.outcome == EventType::Ok && o.process >= final_process_base {
            finals.insert(key, o);
        }
    }
    let mut findings = Vec::new();
    for (key, read) in finals {
        let ws = writes.get(key).map(Vec::as_slice).unwrap_or(&[]);
        let acked: Vec<&Op> = ws
            .iter()
            .copied()
            .filter(|w| w.outcome == EventType::Ok)
            .collect();
        let Some(first) = acked.first() else {
            continue;
        };
        let seen = &read.output;
        let null_written = ws.iter().any(|w| w.written().is_some_and(Value::is_null));
        let message = if seen.is_null() && !null_written {
            format!(
                "key {key}: the final read returned null, but {} acknowledged write{} (the first, of {}, at {} ms) vanished with no write replacing them",
                acked.len(),
                if acked.len() > 1 { "s" } else { "" },
                first.written().unwrap_or(&Value::Null),
                first.end_ns() / 1_000_000
            )
        } else if ws.len() == 1 && first.written() != Some(seen) {
            format!(
                "key {key}: the final read returned {seen}, but the key's only write, of {}, was acknowledged at {} ms",
                first.written().unwrap_or(&Value::Null),
                first.end_ns() / 1_000_000
            )
        } else {
            continue;
        };
        let at_ms = read.end_ns() / 1_000_000;
        findings.push(
            Finding::new(AP_LOST_WRITE, FindingKind::Safety, message)
                .at_ms(at_ms)
                .value(acked.len() as f64)
                .detail(json!({
                    "key": key,
                    "final_value": seen,
                    "lost": acked.iter().filter_map(|w| w.written().cloned()).collect::<Vec<_>>(),
                    "acknowledged_at_ms": acked.iter().map(|w| w.end_ns() / 1_000_000).collect::<Vec<_>>(),
                })),
        );
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Event;

    const FINAL: u64 = 100;

    fn write(h: &mut History, p: u64, v: u64, t0: u64, t1: u64, kind: EventType) {
        h.push(Event::invoke(p, "write", Some("k"), json!(v), t0));
        h.push(Event::complete(p, kind, "write", Some("k"), json!(v), t1));
    }

    fn final_read(h: &mut History, v: Value) {
        h.push(Event::invoke(FINAL, "read", Some("k"), json!(null), 1000));
        h.push(Event::complete(
            FINAL,
            EventType::Ok,
            "read",
            Some("k"),
            v,
            1001,
        ));
    }

    #[test]
    fn the_only_acknowledged_write_must_be_read() {
        let mut h = History::default();
        write(&mut h, 0, 1, 0, 10, EventType::Ok);
        final_read(&mut h, json!(1));
        assert!(check_ap_lost_writes(&h, FINAL).is_empty());

        let mut h = History::default();
        write(&mut h, 0, 1, 0, 10, EventType::Ok);
        final_read(&mut h, json!(2));
        let f = check_ap_lost_writes(&h, FINAL);
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("only write"), "{}", f[0].message);
    }

    #[test]
    fn an_empty_key_after_acknowledged_writes_lost_them_all() {
        let mut h = History::default();
        write(&mut h, 0, 1, 0, 10, EventType::Ok);
        write(&mut h, 1, 2, 20, 30, EventType::Ok);
        write(&mut h, 2, 3, 40, 50, EventType::Info);
        final_read(&mut h, Value::Null);
        let f = check_ap_lost_writes(&h, FINAL);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].value, Some(2.0));
        assert!(f[0].message.contains("vanished"), "{}", f[0].message);
    }

    /// Last-writer-wins on a skewed clock: the later write loses to the earlier one. That is
    /// `lost-update`'s finding, never this one.
    #[test]
    fn an_earlier_write_winning_is_not_this_checks_business() {
        let mut h = History::default();
        write(&mut h, 0, 1, 0, 10, EventType::Ok);
        write(&mut h, 1, 2, 20, 30, EventType::Ok);
        final_read(&mut h, json!(1));
        assert!(check_ap_lost_writes(&h, FINAL).is_empty());
    }

    #[test]
    fn another_write_of_any_outcome_but_refused_may_replace_it() {
        // An unknown write may have taken effect and replaced the acknowledged one.
        let mut h = History::default();
        write(&mut h, 0, 1, 0, 10, EventType::Ok);
        write(&mut h, 1, 2, 20, 30, EventType::Info);
        final_read(&mut h, json!(2));
        assert!(check_ap_lost_writes(&h, FINAL).is_empty());
        // A refused one certainly did not: the acknowledged write is still the only one.
        let mut h = History::default();
        write(&mut h, 0, 1, 0, 10, EventType::Ok);
        write(&mut h, 1, 2, 20, 30, EventType::Fail);
        final_read(&mut h, json!(2));
        assert_eq!(check_ap_lost_writes(&h, FINAL).len(), 1);
    }

    #[test]
    fn unacknowledged_writes_may_vanish() {
        let mut h = History::default();
        write(&mut h, 0, 1, 0, 10, EventType::Info);
        final_read(&mut h, Value::Null);
        assert!(check_ap_lost_writes(&h, FINAL).is_empty());
    }

    #[test]
    fn reads_before_the_final_phase_are_not_final() {
        let mut h = History::default();
        write(&mut h, 0, 1, 0, 10, EventType::Ok);
        h.push(Event::invoke(5, "read", Some("k"), json!(null), 20));
        h.push(Event::complete(
            5,
            EventType::Ok,
            "read",
            Some("k"),
            Value::Null,
            21,
        ));
        assert!(check_ap_lost_writes(&h, FINAL).is_empty());
    }
}
