//! `progress`: while no fault is active, a system that is asked to do something must get
//! something done. A quiet window (no fault active) of at least [`MIN_QUIET_NS`] in which
//! operations were attempted (invoked in it, or still outstanding when it began) and none
//! succeeded is a violation; so is a run in which operations were attempted and not one ever
//! succeeded, whatever the faults were.
//!
//! Windows are maximal: one success anywhere in a quiet window clears it, so a system that takes
//! a moment to recover after a fault ends is not blamed for the moment. Time under a fault never
//! counts: a protocol that blocks while its coordinator is down (2PC) is a finding of the
//! blocking checker, not a progress violation.
use crate::finding::{Finding, FindingKind};
use crate::history::{EventType, History};
use serde_json::json;
use std::collections::BTreeMap;

/// The checker's name, as guarantees and `--fail-on` spell it.
pub const PROGRESS: &str = "progress";

/// The shortest quiet window judged (1 s simulated): shorter ones are recovery time.
pub const MIN_QUIET_NS: u64 = 1_000_000_000;

/// The `detail.rule` of the violation "no operation ever succeeded".
const NO_SUCCESS: &str = "no-success";

/// Whether `f` says that no operation of the run ever succeeded: the harness fails such a run
/// for every model, whatever its declared guarantees (a run that did nothing proves nothing).
///
/// ```
/// use faultline_checkers::history::{Event, EventType, History};
/// use faultline_checkers::progress::{check_progress, never_succeeded};
/// use serde_json::Value::Null;
/// let mut h = History::default();
/// h.push(Event::invoke(0, "read", Some("k"), Null, 10));
/// h.push(Event::complete(0, EventType::Fail, "read", Some("k"), Null, 20).with_error("refused"));
/// let v = check_progress(&h, &[], 100);
/// assert!(v.iter().any(never_succeeded));
/// ```
pub fn never_succeeded(f: &Finding) -> bool {
    f.checker == PROGRESS
        && f.detail
            .as_ref()
            .is_some_and(|d| d["rule"].as_str() == Some(NO_SUCCESS))
}

/// One operation: when it was invoked and how and when it completed (`None`: never).
struct Op {
    invoke_ns: u64,
    done: Option<(EventType, u64)>,
}

fn ops(history: &History) -> Vec<Op> {
    let mut out: Vec<Op> = Vec::new();
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    for e in &history.events {
        if e.kind == EventType::Invoke {
            open.insert(e.process, out.len());
            out.push(Op {
                invoke_ns: e.time_ns,
                done: None,
            });
        } else if let Some(i) = open.remove(&e.process) {
            out[i].done = Some((e.kind, e.time_ns));
        }
    }
    out
}

/// `[0, end_ns)` minus the union of the `active` fault windows.
fn quiet_windows(active: &[(u64, u64)], end_ns: u64) -> Vec<(u64, u64)> {
    let mut faults: Vec<(u64, u64)> = active.iter().copied().filter(|(s, e)| e > s).collect();
    faults.sort_unstable();
    let mut out = Vec::new();
    let mut from = 0;
    for (s, e) in faults {
        if s > from {
            out.push((from, s.min(end_ns)));
        }
        from = from.max(e);
    }
    if end_ns > from {
        out.push((from, end_ns));
    }
    out.retain(|(s, e)| e > s);
    out
}

/// Judges a history against the fault windows that were active (`[start, end)`, ns) in a run
/// that ended at `end_ns`.
///
/// ```
/// use faultline_checkers::history::{Event, EventType, History};
/// use faultline_checkers::progress::check_progress;
/// use serde_json::Value::Null;
/// let s = 1_000_000_000;
/// let mut h = History::default();
/// h.push(Event::invoke(0, "write", Some("k"), serde_json::json!(1), s / 2));
/// h.push(Event::complete(0, EventType::Ok, "write", Some("k"), serde_json::json!(1), s / 2 + 5));
/// // Timeouts for 2 s with no fault active: a violation.
/// h.push(Event::invoke(1, "read", Some("k"), Null, 2 * s));
/// h.push(Event::complete(1, EventType::Info, "read", Some("k"), Null, 3 * s));
/// h.push(Event::invoke(2, "read", Some("k"), Null, 3 * s));
/// h.push(Event::complete(2, EventType::Info, "read", Some("k"), Null, 4 * s));
/// assert_eq!(check_progress(&h, &[(0, 2 * s)], 4 * s).len(), 1);
/// // The same under a fault: nothing to say.
/// assert!(check_progress(&h, &[(0, 2 * s), (2 * s, 4 * s)], 4 * s).is_empty());
/// ```
pub fn check_progress(history: &History, active: &[(u64, u64)], end_ns: u64) -> Vec<Finding> {
    let ops = ops(history);
    if ops.is_empty() {
        return vec![];
    }
    let ms = |ns: u64| ns / 1_000_000;
    let ok = |op: &Op| matches!(op.done, Some((EventType::Ok, _)));
    if !ops.iter().any(ok) {
        let count = |k: EventType| {
            ops.iter()
                .filter(|o| matches!(o.done, Some((kind, _)) if kind == k))
                .count()
        };
        let (fail, info) = (count(EventType::Fail), count(EventType::Info));
        let pending = ops.len() - fail - info;
        return vec![Finding::new(
            PROGRESS,
            FindingKind::Liveness,
            format!(
                "no operation ever succeeded: {} attempted ({fail} failed, {info} unknown, \
                 {pending} never answered)",
                ops.len()
            ),
        )
        .at_ms(ms(end_ns))
        .detail(json!({
            "rule": NO_SUCCESS,
            "attempted": ops.len(),
            "failed": fail,
            "unknown": info,
            "never_answered": pending,
        }))];
    }
    let mut out = Vec::new();
    for (start, end) in quiet_windows(active, end_ns) {
        if end - start < MIN_QUIET_NS {
            continue;
        }
        let in_window = |t: u64| t >= start && t < end;
        let invoked = ops.iter().filter(|o| in_window(o.invoke_ns)).count();
        let outstanding = ops
            .iter()
            .filter(|o| o.invoke_ns < start && o.done.is_none_or_after(start))
            .count();
        let succeeded = ops
            .iter()
            .filter(|o| matches!(o.done, Some((EventType::Ok, t)) if in_window(t)))
            .count();
        if invoked + outstanding == 0 || succeeded > 0 {
            continue;
        }
        let ended = |k: EventType| {
            ops.iter()
                .filter(|o| matches!(o.done, Some((kind, t)) if kind == k && in_window(t)))
                .count()
        };
        let (fail, info) = (ended(EventType::Fail), ended(EventType::Info));
        out.push(
            Finding::new(
                PROGRESS,
                FindingKind::Liveness,
                format!(
                    "no operation succeeded in {} ms with no fault active ({}..{} ms): {} \
                     attempted ({invoked} invoked in the window, {outstanding} outstanding when \
                     it began); {fail} failed and {info} timed out or were unknown in it",
                    ms(end - start),
                    ms(start),
                    ms(end),
                    invoked + outstanding,
                ),
            )
            .at_ms(ms(start))
            .detail(json!({
                "rule": "quiet-window",
                "start_ms": ms(start),
                "end_ms": ms(end),
                "invoked": invoked,
                "outstanding": outstanding,
                "failed": fail,
                "unknown": info,
            })),
        );
    }
    out
}

/// Whether an operation's completion is missing or not before `t`.
trait DoneAfter {
    fn is_none_or_after(&self, t: u64) -> bool;
}

impl DoneAfter for Option<(EventType, u64)> {
    fn is_none_or_after(&self, t: u64) -> bool {
        !matches!(self, Some((_, at)) if *at < t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Event;
    use serde_json::{json, Value::Null};

    const S: u64 = 1_000_000_000;
    const MS: u64 = 1_000_000;

    /// One operation by `process` from `at` to `end` (ms).
    fn op(h: &mut History, process: u64, at: u64, end: u64, kind: EventType) {
        h.push(Event::invoke(process, "write", Some("k"), json!(process), at * MS));
        h.push(Event::complete(
            process,
            kind,
            "write",
            Some("k"),
            json!(process),
            end * MS,
        ));
    }

    /// Succeeds at first, then refuses everything from 2 s on.
    fn stalls_after_2s() -> History {
        let mut h = History::default();
        op(&mut h, 0, 100, 110, EventType::Ok);
        for i in 0..10 {
            op(&mut h, 1 + i, 2_000 + 300 * i, 2_010 + 300 * i, EventType::Fail);
        }
        h
    }

    #[test]
    fn a_quiet_window_with_attempts_and_no_success_fires() {
        let v = check_progress(&stalls_after_2s(), &[(0, S)], 6 * S);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(!never_succeeded(&v[0]));
        assert_eq!(
            v[0].message,
            "no operation succeeded in 5000 ms with no fault active (1000..6000 ms): 10 \
             attempted (10 invoked in the window, 0 outstanding when it began); 10 failed and 0 \
             timed out or were unknown in it"
        );
        // Without the fault, the run is one quiet window and its first write succeeded in it:
        // a stall with no fault boundary after it is the liveness phase's to catch.
        assert!(check_progress(&stalls_after_2s(), &[], 6 * S).is_empty());
    }

    #[test]
    fn the_window_is_judged_whole_from_the_last_fault() {
        // A fault from 0 to 1.5 s: the quiet window is 1.5..6 s, with no success in it.
        let v = check_progress(&stalls_after_2s(), &[(0, 1_500 * MS)], 6 * S);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("(1500..6000 ms)"), "{}", v[0].message);
        assert_eq!(v[0].detail.as_ref().unwrap()["invoked"], 10);
    }

    #[test]
    fn a_window_with_a_fault_active_does_not_fire() {
        let h = stalls_after_2s();
        assert!(check_progress(&h, &[(1_900 * MS, 6 * S)], 6 * S).is_empty());
        // Two faults that overlap cover it just as well.
        let v = check_progress(&h, &[(1_900 * MS, 4 * S), (3 * S, 6 * S)], 6 * S);
        assert!(v.is_empty(), "{v:?}");
    }

    #[test]
    fn quiet_windows_shorter_than_a_second_are_recovery_time() {
        let h = stalls_after_2s();
        // Quiet only from 1.9 s to 2.8 s, and from 5.5 s on.
        let v = check_progress(&h, &[(0, 1_900 * MS), (2_800 * MS, 5_500 * MS)], 6 * S);
        assert!(v.is_empty(), "{v:?}");
    }

    #[test]
    fn one_success_in_the_window_clears_it() {
        let mut h = stalls_after_2s();
        op(&mut h, 50, 5_000, 5_001, EventType::Ok);
        assert!(check_progress(&h, &[(0, 1_500 * MS)], 6 * S).is_empty());
    }

    #[test]
    fn an_outstanding_operation_counts_as_attempted() {
        let mut h = History::default();
        op(&mut h, 0, 100, 110, EventType::Ok);
        // Invoked under the fault, never answered, in a 3 s quiet window.
        h.push(Event::invoke(1, "read", Some("k"), Null, 500 * MS));
        let v = check_progress(&h, &[(0, S)], 4 * S);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].detail.as_ref().unwrap()["outstanding"], 1);
        // Without it, nothing was asked of the system: nothing to say.
        h.events.pop();
        assert!(check_progress(&h, &[(0, S)], 4 * S).is_empty());
    }

    #[test]
    fn a_run_where_nothing_ever_succeeded_fires_whatever_the_faults() {
        let mut h = History::default();
        op(&mut h, 0, 100, 110, EventType::Fail);
        op(&mut h, 1, 200, 1_200, EventType::Info);
        // A fault over the whole run.
        let v = check_progress(&h, &[(0, 10 * S)], 10 * S);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(never_succeeded(&v[0]));
        assert_eq!(
            v[0].message,
            "no operation ever succeeded: 2 attempted (1 failed, 1 unknown, 0 never answered)"
        );
        // An empty history asked nothing.
        assert!(check_progress(&History::default(), &[], 10 * S).is_empty());
    }

    #[test]
    fn quiet_windows_are_the_complement_of_the_faults() {
        assert_eq!(quiet_windows(&[], 10), vec![(0, 10)]);
        assert_eq!(quiet_windows(&[(2, 4), (3, 6)], 10), vec![(0, 2), (6, 10)]);
        assert_eq!(quiet_windows(&[(0, 10)], 10), vec![]);
        assert_eq!(quiet_windows(&[(5, 20)], 10), vec![(0, 5)]);
    }
}
