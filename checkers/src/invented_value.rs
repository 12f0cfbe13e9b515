//! `invented-value`: every value a read returns was written by somebody.
//!
//! A read of key `k` that returns `v` (other than the initial null) needs a write or cas of `v`
//! to `k` that some client invoked, and invoked before the read completed: a store cannot know a
//! value before a client hands it over. Whatever the outcome of that write (ok, fail or
//! unknown), the value is not invented — reading a refused write is a different anomaly, left to
//! linearizability. This holds for any store, CP or AP: even a store that returns stale or
//! conflicting versions returns versions somebody wrote (Elle calls the violation a "garbage
//! read"). It needs unique write values, which Faultline's workloads guarantee, and judges
//! register histories only ([`is_register_history`]).
use crate::finding::{Finding, FindingKind};
use crate::history::{EventType, History};
use crate::ops::{pair, Op};
use crate::register::is_register_history;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The checker's name, as guarantees and `--fail-on` spell it.
pub const INVENTED_VALUE: &str = "invented-value";

/// What a read of one key returned that nobody wrote there (or not yet).
struct Bad<'a> {
    read: &'a Op,
    /// When the earliest write of the value was invoked, if it was written to this key at all.
    written_at: Option<u64>,
    /// Other keys the value was written to (a store that mixed keys up).
    other_keys: Vec<&'a str>,
}

/// One finding per key whose reads returned a value nobody wrote to it before the read ended.
///
/// ```
/// use faultline_checkers::{history::*, invented_value::check_invented_values};
/// use serde_json::json;
/// let mut h = History::default();
/// h.push(Event::invoke(0, "write", Some("k"), json!(1), 1));
/// h.push(Event::complete(0, EventType::Ok, "write", Some("k"), json!(1), 2));
/// h.push(Event::invoke(1, "read", Some("k"), json!(null), 3));
/// h.push(Event::complete(1, EventType::Ok, "read", Some("k"), json!(99), 4));
/// assert_eq!(check_invented_values(&h).len(), 1);
/// ```
pub fn check_invented_values(history: &History) -> Vec<Finding> {
    let ops = pair(history);
    if !is_register_history(&ops) {
        return vec![];
    }
    // (key, value as text) -> when its earliest write was invoked.
    let mut written: BTreeMap<(&str, String), u64> = BTreeMap::new();
    // value as text -> the keys it was written to.
    let mut keys_of: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for o in &ops {
        let (Some(v), Some(key)) = (o.written(), o.key.as_deref()) else {
            continue;
        };
        let at = written.entry((key, v.to_string())).or_insert(o.invoke_ns);
        *at = (*at).min(o.invoke_ns);
        keys_of.entry(v.to_string()).or_default().push(key);
    }
    let mut bad: BTreeMap<&str, Vec<Bad>> = BTreeMap::new();
    for o in &ops {
        let Some(key) = o.key.as_deref() else {
            continue;
        };
        if !o.is_read() || o.outcome != EventType::Ok || o.output.is_null() {
            continue;
        }
        let text = o.output.to_string();
        let written_at = written.get(&(key, text.clone())).copied();
        if written_at.is_some_and(|at| at <= o.end_ns()) {
            continue;
        }
        let mut other_keys: Vec<&str> = keys_of
            .get(&text)
            .into_iter()
            .flatten()
            .copied()
            .filter(|k| *k != key)
            .collect();
        other_keys.sort_unstable();
        other_keys.dedup();
        bad.entry(key).or_default().push(Bad {
            read: o,
            written_at,
            other_keys,
        });
    }
    bad.into_iter()
        .map(|(key, reads)| finding(key, &reads))
        .collect()
}

fn finding(key: &str, reads: &[Bad]) -> Finding {
    let first = &reads[0];
    let at_ms = first.read.end_ns() / 1_000_000;
    let why = match (first.written_at, first.other_keys.as_slice()) {
        (Some(w), _) => format!(
            "whose write was invoked only at {} ms, after the read ended",
            w / 1_000_000
        ),
        (None, []) => "which no client ever wrote".to_string(),
        (None, others) => format!("which was written only to {}", others.join(", ")),
    };
    let more = if reads.len() > 1 {
        format!(" ({} such reads)", reads.len())
    } else {
        String::new()
    };
    Finding::new(
        INVENTED_VALUE,
        FindingKind::Safety,
        format!(
            "key {key}: a read returned {} at {at_ms} ms, {why}{more}",
            first.read.output
        ),
    )
    .at_ms(at_ms)
    .value(reads.len() as f64)
    .detail(json!({
        "key": key,
        "reads": reads.iter().map(|b| json!({
            "value": b.read.output,
            "process": b.read.process,
            "at_ms": b.read.end_ns() / 1_000_000,
            "written_to": b.other_keys,
            "written_at_ms": b.written_at.map(|w| w / 1_000_000),
        })).collect::<Vec<Value>>(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Event;

    fn op(
        h: &mut History,
        p: u64,
        f: &str,
        key: &str,
        input: Value,
        out: (u64, u64, EventType, Value),
    ) {
        let (t0, t1, kind, output) = out;
        h.push(Event::invoke(p, f, Some(key), input, t0));
        h.push(Event::complete(p, kind, f, Some(key), output, t1));
    }

    fn write(h: &mut History, key: &str, v: u64, t0: u64, t1: u64, kind: EventType) {
        op(h, 0, "write", key, json!(v), (t0, t1, kind, json!(v)));
    }

    fn read(h: &mut History, key: &str, v: Value, t0: u64, t1: u64) {
        op(h, 1, "read", key, json!(null), (t0, t1, EventType::Ok, v));
    }

    #[test]
    fn reads_of_written_values_and_of_null_are_fine() {
        let mut h = History::default();
        read(&mut h, "k", json!(null), 0, 1);
        write(&mut h, "k", 1, 2, 3, EventType::Ok);
        // Unknown and even refused writes are not inventions.
        write(&mut h, "k", 2, 4, 5, EventType::Info);
        write(&mut h, "k", 3, 6, 7, EventType::Fail);
        for v in [1, 2, 3] {
            read(&mut h, "k", json!(v), 8, 9);
        }
        assert!(check_invented_values(&h).is_empty());
    }

    #[test]
    fn a_value_nobody_wrote_is_invented() {
        let mut h = History::default();
        write(&mut h, "k", 1, 0, 1, EventType::Ok);
        read(&mut h, "k", json!(7), 2, 3);
        read(&mut h, "k", json!(8), 4, 5);
        let f = check_invented_values(&h);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].checker, INVENTED_VALUE);
        assert_eq!(f[0].value, Some(2.0));
        assert!(
            f[0].message.contains("no client ever wrote"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn a_value_written_to_another_key_is_invented_here() {
        let mut h = History::default();
        write(&mut h, "a", 1, 0, 1, EventType::Ok);
        read(&mut h, "b", json!(1), 2, 3);
        let f = check_invented_values(&h);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message.contains("written only to a"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn a_value_read_before_its_write_was_invoked_is_invented() {
        let mut h = History::default();
        read(&mut h, "k", json!(1), 0, 1_000_000);
        write(&mut h, "k", 1, 2_000_000, 3_000_000, EventType::Ok);
        let f = check_invented_values(&h);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message.contains("after the read ended"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn a_read_concurrent_with_the_write_may_see_it() {
        let mut h = History::default();
        h.push(Event::invoke(0, "write", Some("k"), json!(1), 0));
        h.push(Event::invoke(1, "read", Some("k"), json!(null), 1));
        h.push(Event::complete(
            1,
            EventType::Ok,
            "read",
            Some("k"),
            json!(1),
            2,
        ));
        assert!(check_invented_values(&h).is_empty());
    }

    #[test]
    fn cas_writes_its_second_element() {
        let mut h = History::default();
        write(&mut h, "k", 1, 0, 1, EventType::Ok);
        op(
            &mut h,
            0,
            "cas",
            "k",
            json!([1, 2]),
            (2, 3, EventType::Ok, json!([1, 2])),
        );
        read(&mut h, "k", json!(2), 4, 5);
        assert!(check_invented_values(&h).is_empty());
    }

    #[test]
    fn other_workloads_are_not_judged() {
        let mut h = History::default();
        op(
            &mut h,
            0,
            "append",
            "k",
            json!(1),
            (0, 1, EventType::Ok, json!(1)),
        );
        read(&mut h, "k", json!([1]), 2, 3);
        assert!(check_invented_values(&h).is_empty());
    }
}
