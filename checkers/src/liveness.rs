//! `liveness`: once every fault has ended and every crashed node is back (the final heal), the
//! system must serve again. Every final operation (one read per key for a store, whatever a
//! protocol declares otherwise) must succeed within a bound measured from the heal.
//!
//! TigerBeetle's VOPR runs a liveness phase after its safety phase; Jepsen calls a test whose
//! final reads fail "not valid". Without this check, a store that refuses every request passes:
//! its final reads never succeed and simply drop out of `lost-write`.
//!
//! The final phase is one sequential reader (processes `>= final_process_base`): it retries an
//! operation until it succeeds or the bound has passed, then moves to the next one; once the
//! bound has passed it still tries each remaining operation once. So the attempts at one
//! operation are consecutive, and a new operation starts after a success or with a different
//! invocation.
use crate::finding::{Finding, FindingKind};
use crate::history::{Event, EventType, History};
use serde_json::{json, Value};

/// The checker's name, as guarantees and `--fail-on` spell it.
pub const LIVENESS: &str = "liveness";

/// The final phase as the harness ran it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FinalPhase {
    /// When the final heal happened (every fault ended, every crashed node restarted).
    pub heal_ns: u64,
    /// How long after the heal every final operation may take to succeed.
    pub bound_ns: u64,
    /// Process ids at or above this ran the final operations.
    pub final_process_base: u64,
}

/// One final operation and its attempts.
struct FinalOp<'a> {
    invoke: &'a Event,
    attempts: usize,
    succeeded_ns: Option<u64>,
    last_error: Option<String>,
}

impl FinalOp<'_> {
    fn name(&self) -> String {
        match &self.invoke.key {
            Some(k) => format!("{} {k}", self.invoke.f),
            None if self.invoke.value.is_null() => self.invoke.f.clone(),
            None => format!("{} {}", self.invoke.f, self.invoke.value),
        }
    }
}

/// Same operation: the reader retries with an identical invocation.
fn same_op(a: &Event, b: &Event) -> bool {
    a.f == b.f && a.key == b.key && a.value == b.value
}

/// The final operations in the order they ran, each with its attempts.
fn final_ops(history: &History, base: u64) -> Vec<FinalOp<'_>> {
    let mut ops: Vec<FinalOp> = Vec::new();
    let mut open: Option<&Event> = None;
    for e in history.events.iter().filter(|e| e.process >= base) {
        if e.kind == EventType::Invoke {
            if let Some(prev) = open.take() {
                // An attempt with no completion (the run ended inside it).
                attempt_done(&mut ops, prev, None, Some("no answer before the run ended"));
            }
            open = Some(e);
            continue;
        }
        let Some(inv) = open.take() else { continue };
        let ok = (e.kind == EventType::Ok).then_some(e.time_ns);
        let why = match e.kind {
            EventType::Ok => None,
            _ => Some(e.error.as_deref().unwrap_or(match e.kind {
                EventType::Fail => "failed (no reason recorded)",
                _ => "unknown outcome (no reason recorded)",
            })),
        };
        attempt_done(&mut ops, inv, ok, why);
    }
    if let Some(prev) = open {
        attempt_done(&mut ops, prev, None, Some("no answer before the run ended"));
    }
    ops
}

fn attempt_done<'a>(
    ops: &mut Vec<FinalOp<'a>>,
    inv: &'a Event,
    ok_ns: Option<u64>,
    error: Option<&str>,
) {
    let retry = ops
        .last()
        .is_some_and(|op| op.succeeded_ns.is_none() && same_op(op.invoke, inv));
    if !retry {
        ops.push(FinalOp {
            invoke: inv,
            attempts: 0,
            succeeded_ns: None,
            last_error: None,
        });
    }
    let op = ops.last_mut().expect("just pushed");
    op.attempts += 1;
    op.succeeded_ns = ok_ns;
    if let Some(e) = error {
        op.last_error = Some(e.to_string());
    }
}

/// Every final operation must have succeeded by `heal_ns + bound_ns`; one violation names those
/// that did not (never, or too late), with their attempts and last error.
///
/// ```
/// use faultline_checkers::history::{Event, EventType, History};
/// use faultline_checkers::liveness::{check_liveness, FinalPhase};
/// use serde_json::Value::Null;
/// let mut h = History::default();
/// h.push(Event::invoke(9, "read", Some("k0"), Null, 1_000));
/// h.push(Event::complete(9, EventType::Fail, "read", Some("k0"), Null, 2_000).with_error("no leader"));
/// let phase = FinalPhase { heal_ns: 0, bound_ns: 500, final_process_base: 9 };
/// let v = check_liveness(&h, phase);
/// assert_eq!(v.len(), 1);
/// assert!(v[0].message.contains("no leader"), "{}", v[0].message);
/// ```
pub fn check_liveness(history: &History, phase: FinalPhase) -> Vec<Finding> {
    let deadline = phase.heal_ns.saturating_add(phase.bound_ns);
    let ops = final_ops(history, phase.final_process_base);
    let late: Vec<&FinalOp> = ops
        .iter()
        .filter(|op| !matches!(op.succeeded_ns, Some(t) if t <= deadline))
        .collect();
    if late.is_empty() {
        return vec![];
    }
    let ms = |ns: u64| ns / 1_000_000;
    let bound_ms = ms(phase.bound_ns);
    let describe = |op: &FinalOp| -> String {
        let tried = format!(
            "{} attempt{}",
            op.attempts,
            if op.attempts == 1 { "" } else { "s" }
        );
        match (op.succeeded_ns, &op.last_error) {
            (Some(t), _) => format!(
                "{} succeeded only {} ms after the heal ({tried})",
                op.name(),
                ms(t - phase.heal_ns)
            ),
            (None, Some(e)) => format!("{} never succeeded ({tried}; last error: {e})", op.name()),
            (None, None) => format!("{} never succeeded ({tried})", op.name()),
        }
    };
    let detail: Vec<Value> = late
        .iter()
        .map(|op| {
            json!({
                "f": op.invoke.f,
                "key": op.invoke.key,
                "value": op.invoke.value,
                "attempts": op.attempts,
                "succeeded_after_heal_ms": op.succeeded_ns.map(|t| ms(t - phase.heal_ns)),
                "last_error": op.last_error,
            })
        })
        .collect();
    let message = format!(
        "{} of {} final operations did not succeed within {bound_ms} ms of the final heal \
         (at {} ms): {}",
        late.len(),
        ops.len(),
        ms(phase.heal_ns),
        late.iter()
            .map(|op| describe(op))
            .collect::<Vec<_>>()
            .join("; ")
    );
    vec![Finding::new(LIVENESS, FindingKind::Liveness, message)
        .at_ms(ms(deadline))
        .detail(json!({
            "heal_ms": ms(phase.heal_ns),
            "bound_ms": bound_ms,
            "final_ops": ops.len(),
            "late": detail,
        }))]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value::Null;

    const MS: u64 = 1_000_000;
    const BASE: u64 = 10;

    fn phase() -> FinalPhase {
        FinalPhase {
            heal_ns: 100 * MS,
            bound_ns: 1_000 * MS,
            final_process_base: BASE,
        }
    }

    /// One attempt at `read key` by `process`, from `at` to `end` (ms).
    fn attempt(h: &mut History, process: u64, key: &str, at: u64, end: u64, kind: EventType) {
        h.push(Event::invoke(process, "read", Some(key), Null, at * MS));
        let done = Event::complete(process, kind, "read", Some(key), Null, end * MS);
        h.push(match kind {
            EventType::Ok => done,
            EventType::Fail => done.with_error("not the leader"),
            _ => done.with_error("timeout"),
        });
    }

    #[test]
    fn reads_that_succeed_after_retries_within_the_bound_pass() {
        let mut h = History::default();
        // A workload op that never succeeded is not the final phase's business.
        attempt(&mut h, 0, "k0", 1, 2, EventType::Fail);
        attempt(&mut h, BASE, "k0", 400, 401, EventType::Fail);
        attempt(&mut h, BASE, "k0", 600, 1600, EventType::Info);
        attempt(&mut h, BASE + 1, "k0", 1_050, 1_060, EventType::Ok);
        attempt(&mut h, BASE + 1, "k1", 1_061, 1_062, EventType::Ok);
        assert!(check_liveness(&h, phase()).is_empty());
    }

    #[test]
    fn a_read_that_never_succeeds_is_named_with_its_last_error() {
        let mut h = History::default();
        attempt(&mut h, BASE, "k0", 400, 401, EventType::Ok);
        attempt(&mut h, BASE, "k1", 402, 403, EventType::Fail);
        attempt(&mut h, BASE, "k1", 603, 1603, EventType::Info);
        attempt(&mut h, BASE + 1, "k2", 1_604, 1_605, EventType::Fail);
        let v = check_liveness(&h, phase());
        assert_eq!(v.len(), 1, "{v:?}");
        let m = &v[0].message;
        assert!(m.starts_with("2 of 3 final operations"), "{m}");
        assert!(
            m.contains("read k1 never succeeded (2 attempts; last error: timeout)"),
            "{m}"
        );
        assert!(
            m.contains("read k2 never succeeded (1 attempt; last error: not the leader)"),
            "{m}"
        );
        assert!(!m.contains("k0"), "{m}");
        assert_eq!(v[0].detail.as_ref().unwrap()["bound_ms"], 1_000);
    }

    #[test]
    fn a_read_that_succeeds_after_the_bound_fires() {
        let mut h = History::default();
        attempt(&mut h, BASE, "k0", 400, 1_000, EventType::Info);
        // Began before the deadline (1100 ms), answered after it.
        attempt(&mut h, BASE + 1, "k0", 1_050, 1_150, EventType::Ok);
        let v = check_liveness(&h, phase());
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].message
                .contains("read k0 succeeded only 1050 ms after the heal (2 attempts)"),
            "{}",
            v[0].message
        );
        // The same history with a longer bound passes.
        let longer = FinalPhase {
            bound_ns: 2_000 * MS,
            ..phase()
        };
        assert!(check_liveness(&h, longer).is_empty());
    }

    #[test]
    fn identical_final_ops_after_a_success_are_separate_operations() {
        let mut h = History::default();
        let op = |h: &mut History, at: u64, kind: EventType| {
            h.push(Event::invoke(BASE, "audit", None, Null, at * MS));
            let e = Event::complete(BASE, kind, "audit", None, Null, (at + 1) * MS);
            h.push(if kind == EventType::Ok {
                e
            } else {
                e.with_error("busy")
            });
        };
        op(&mut h, 200, EventType::Ok);
        op(&mut h, 300, EventType::Fail);
        op(&mut h, 2_000, EventType::Fail);
        let v = check_liveness(&h, phase());
        assert_eq!(v.len(), 1);
        assert!(
            v[0].message
                .starts_with("1 of 2 final operations did not succeed"),
            "{}",
            v[0].message
        );
        assert!(v[0]
            .message
            .contains("audit never succeeded (2 attempts; last error: busy)"));
    }

    #[test]
    fn no_final_operations_means_nothing_to_judge() {
        let mut h = History::default();
        attempt(&mut h, 0, "k0", 1, 2, EventType::Fail);
        assert!(check_liveness(&h, phase()).is_empty());
    }
}
