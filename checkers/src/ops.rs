//! A history's events paired into operations (invocation plus completion), the unit the CAP,
//! staleness and lost-update checkers reason about.
use crate::history::{EventType, History};
use serde_json::Value;
use std::collections::BTreeMap;

/// One client operation: its invocation and, if it completed, how.
#[derive(Clone, Debug, PartialEq)]
pub struct Op {
    pub process: u64,
    pub f: String,
    pub key: Option<String>,
    /// The invocation's input (the value written; null for a read).
    pub input: Value,
    /// The completion's value (the value read, for an `ok` read).
    pub output: Value,
    pub invoke_ns: u64,
    /// `None` when the history ends before the operation completes.
    pub complete_ns: Option<u64>,
    /// `Ok`, `Fail` or `Info`; `Info` also for an operation that never completed.
    pub outcome: EventType,
}

impl Op {
    /// The value this operation writes, if it is a write (`cas` writes its second element).
    pub fn written(&self) -> Option<&Value> {
        match self.f.as_str() {
            "write" | "put" => Some(&self.input),
            "cas" => self.input.get(1),
            _ => None,
        }
    }

    pub fn is_read(&self) -> bool {
        matches!(self.f.as_str(), "read" | "get")
    }

    /// When the operation's effects are certainly over (completion, or the end of time).
    pub fn end_ns(&self) -> u64 {
        self.complete_ns.unwrap_or(u64::MAX)
    }
}

/// Pairs each invocation with its process's next completion, in invocation order.
///
/// ```
/// use faultline_checkers::{history::*, ops::pair};
/// use serde_json::json;
/// let mut h = History::default();
/// h.push(Event::invoke(0, "write", Some("k"), json!(1), 10));
/// h.push(Event::complete(0, EventType::Ok, "write", Some("k"), json!(1), 20));
/// let ops = pair(&h);
/// assert_eq!(ops.len(), 1);
/// assert_eq!(ops[0].complete_ns, Some(20));
/// ```
pub fn pair(history: &History) -> Vec<Op> {
    let mut ops: Vec<Op> = Vec::new();
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    for e in &history.events {
        match e.kind {
            EventType::Invoke => {
                open.insert(e.process, ops.len());
                ops.push(Op {
                    process: e.process,
                    f: e.f.clone(),
                    key: e.key.clone(),
                    input: e.value.clone(),
                    output: Value::Null,
                    invoke_ns: e.time_ns,
                    complete_ns: None,
                    outcome: EventType::Info,
                });
            }
            kind => {
                if let Some(i) = open.remove(&e.process) {
                    ops[i].complete_ns = Some(e.time_ns);
                    ops[i].outcome = kind;
                    ops[i].output = e.value.clone();
                }
            }
        }
    }
    ops
}
