//! `progress`: while no fault is active, a system that is asked to do something must get
//! something done. A quiet window (no fault active) in which operations were invoked for at
//! least [`MIN_QUIET_NS`] (from the first request sent in it to the last answer to one of them)
//! and none succeeded is a violation; so is a run in which operations
//! were attempted and not one ever succeeded, whatever the faults were.
//!
//! Windows are maximal: one success anywhere in a quiet window clears it, so a system that takes
//! a moment to recover after a fault ends is not blamed for the moment. Time under a fault never
//! counts: a protocol that blocks while its coordinator is down (2PC) is a finding of the
//! blocking checker, not a progress violation. For the same reason an operation still
//! outstanding when a window opens is reported but is not what makes a violation: it was sent
//! while a fault was active (windows are maximal), and the fault may have lost it for good
//! (measured: 2PC requests sent to a crashed coordinator time out after its restart, in a window
//! where nothing else was asked).
use crate::finding::{Finding, FindingKind};
use crate::history::{EventType, History};
use serde_json::json;
use std::collections::BTreeMap;

/// The checker's name, as guarantees and `--fail-on` spell it.
pub const PROGRESS: &str = "progress";

/// The shortest time requests must have gone unserved in a quiet window (1 s simulated).
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
        let in_window = |t: u64| t >= start && t < end;
        let asked: Vec<&Op> = ops.iter().filter(|o| in_window(o.invoke_ns)).collect();
        // The time the system was being asked: from the first request sent in the window to
        // the last answer to one of them (the window's end if one got none).
        let (Some(first), Some(last)) = (
            asked.iter().map(|o| o.invoke_ns).min(),
            asked
                .iter()
                .map(|o| o.done.map_or(end, |(_, t)| t.min(end)))
                .max(),
        ) else {
            continue;
        };
        if last.saturating_sub(first) < MIN_QUIET_NS {
            continue;
        }
        let succeeded = ops
            .iter()
            .any(|o| matches!(o.done, Some((EventType::Ok, t)) if in_window(t)));
        if succeeded {
            continue;
        }
        let outstanding = ops
            .iter()
            .filter(|o| o.invoke_ns < start && o.done.is_none_or_after(start))
            .count();
        let ended = |k: EventType| {
            asked
                .iter()
                .filter(|o| matches!(o.done, Some((kind, t)) if kind == k && in_window(t)))
                .count()
        };
        let (fail, info) = (ended(EventType::Fail), ended(EventType::Info));
        out.push(
            Finding::new(
                PROGRESS,
                FindingKind::Liveness,
                format!(
                    "no operation succeeded for {} ms with no fault active ({}..{} ms, in the \
                     quiet window {}..{} ms): {} requests sent, {fail} failed, {info} timed out \
                     or unknown, {} unanswered ({outstanding} more outstanding from before the \
                     window)",
                    ms(last - first),
                    ms(first),
                    ms(last),
                    ms(start),
                    ms(end),
                    asked.len(),
                    asked.len() - fail - info,
                ),
            )
            .at_ms(ms(first))
            .detail(json!({
                "rule": "quiet-window",
                "start_ms": ms(start),
                "end_ms": ms(end),
                "asked_from_ms": ms(first),
                "asked_until_ms": ms(last),
                "invoked": asked.len(),
                "outstanding": outstanding,
                "failed": fail,
                "unknown": info,
            })),
        );
    }
    out
}

/// Whether an operation's completion is missing or strictly after `t`. An operation answered
/// at the very instant a window opens was not waiting in it (the last client operation's answer
/// is what starts the final heal).
trait DoneAfter {
    fn is_none_or_after(&self, t: u64) -> bool;
}

impl DoneAfter for Option<(EventType, u64)> {
    fn is_none_or_after(&self, t: u64) -> bool {
        !matches!(self, Some((_, at)) if *at <= t)
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
        h.push(Event::invoke(
            process,
            "write",
            Some("k"),
            json!(process),
            at * MS,
        ));
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
            op(
                &mut h,
                1 + i,
                2_000 + 300 * i,
                2_010 + 300 * i,
                EventType::Fail,
            );
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
            "no operation succeeded for 2710 ms with no fault active (2000..4710 ms, in the \
             quiet window 1000..6000 ms): 10 requests sent, 10 failed, 0 timed out or unknown, 0 \
             unanswered (0 more outstanding from before the window)"
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
        assert!(
            v[0].message.contains("quiet window 1500..6000 ms"),
            "{}",
            v[0].message
        );
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
    fn a_short_burst_of_refusals_in_a_long_window_is_not_a_stall() {
        // Refused for 300 ms after the fault, then nothing asked for 3 s (2PC aborting the last
        // transactions of its workload while locks are released).
        let mut h = History::default();
        op(&mut h, 0, 100, 110, EventType::Ok);
        for i in 0..5 {
            op(
                &mut h,
                1 + i,
                1_100 + 60 * i,
                1_110 + 60 * i,
                EventType::Fail,
            );
        }
        op(&mut h, 9, 1_350, 1_400, EventType::Fail);
        assert!(check_progress(&h, &[(0, S)], 5 * S).is_empty());
        // The same refusals spread over 1.2 s are.
        op(&mut h, 10, 2_150, 2_200, EventType::Fail);
        assert_eq!(check_progress(&h, &[(0, S)], 5 * S).len(), 1);
    }

    #[test]
    fn one_success_in_the_window_clears_it() {
        let mut h = stalls_after_2s();
        op(&mut h, 50, 5_000, 5_001, EventType::Ok);
        assert!(check_progress(&h, &[(0, 1_500 * MS)], 6 * S).is_empty());
    }

    #[test]
    fn an_outstanding_operation_alone_does_not_make_a_violation() {
        let mut h = History::default();
        op(&mut h, 0, 100, 110, EventType::Ok);
        // Invoked under the fault, answered "unknown" in a 3 s quiet window where nothing else
        // was asked: the fault may have lost it, nothing to say.
        h.push(Event::invoke(1, "read", Some("k"), Null, 500 * MS));
        h.push(Event::complete(
            1,
            EventType::Info,
            "read",
            Some("k"),
            Null,
            1_500 * MS,
        ));
        assert!(check_progress(&h, &[(0, S)], 4 * S).is_empty());
        // Requests sent in the window and refused for over a second: it fires, and names both.
        op(&mut h, 2, 2_000, 2_001, EventType::Fail);
        op(&mut h, 3, 3_000, 3_200, EventType::Fail);
        let v = check_progress(&h, &[(0, S)], 4 * S);
        assert_eq!(v.len(), 1, "{v:?}");
        let d = v[0].detail.as_ref().unwrap();
        assert_eq!(
            (d["invoked"].as_u64(), d["outstanding"].as_u64()),
            (Some(2), Some(1))
        );
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
