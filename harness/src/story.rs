//! The failure story: a failing run told in a dozen sentences, in time order — the fault steps
//! that ran, the few operations the violation is about, the notable things the nodes reported
//! around them, and the violation itself.
//!
//! A reproducer and its timeline hold everything, but a person debugging wants the plot first:
//! "the primary was cut off, it acknowledged 95, a new primary was elected without it, the final
//! read returned 94". The story is built only from the recording and the findings (checkers stay
//! the judges; this module only retells), so it works for any model: it knows the detail shapes
//! of `linearizability` (a counterexample) and `lost-write` (a key, its final value and the lost
//! writes), and for any other finding that names a `key` it shows the last operations on it.
use crate::run::RunReport;
use faultline_checkers::{EventType, Finding};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;

/// At most this many lines of each kind, so the story stays short whatever the run.
const MAX_FAULTS: usize = 5;
const MAX_OPS: usize = 4;
const MAX_OBSERVATIONS: usize = 4;
/// Observation kinds reported more often than this are routine (heartbeats, commits), not news.
/// The bound shrinks with the number of fault steps: each fault may cause an election or two,
/// while a kind reported for every few operations is routine even in a run of ten.
const NOTABLE_AT_MOST: usize = 8;

/// What a line is about (the HTML timeline colours them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Beat {
    /// A fault started or ended.
    Fault,
    /// A node reported something notable (an election, a commit).
    Observation,
    /// A client operation the violation involves.
    Op,
    /// The violation itself.
    Violation,
}

/// One sentence at a simulated time.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    /// When (simulated ms).
    pub at_ms: u64,
    /// What it is about.
    pub beat: Beat,
    /// The sentence.
    pub text: String,
}

/// An operation of the history, named by its process and invocation time (unique: a process is
/// sequential).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct OpRef {
    /// The client process.
    pub process: u64,
    /// When it invoked the operation (simulated ns).
    pub invoke_ns: u64,
}

/// The story of one run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Story {
    /// The checker whose violation the story tells (`None` for a passing run).
    pub checker: Option<String>,
    /// The sentences, in time order.
    pub lines: Vec<Line>,
    /// Every operation the violation involves (the timeline highlights them); the lines mention
    /// only the few that explain it.
    pub ops: Vec<OpRef>,
}

impl Story {
    /// The lines as text, `  3075 ms  ...`.
    pub fn to_text(&self) -> Vec<String> {
        let width = self
            .lines
            .iter()
            .map(|l| l.at_ms.to_string().len())
            .max()
            .unwrap_or(1);
        self.lines
            .iter()
            .map(|l| format!("{:>width$} ms  {}", l.at_ms, l.text))
            .collect()
    }
}

/// One operation: invocation paired with its completion.
#[derive(Clone, Debug)]
struct Op {
    process: u64,
    f: String,
    key: Option<String>,
    input: Value,
    invoke_ns: u64,
    /// Completion type and time; `None` if it never completed.
    end: Option<(EventType, u64)>,
    output: Value,
}

impl Op {
    fn r#ref(&self) -> OpRef {
        OpRef {
            process: self.process,
            invoke_ns: self.invoke_ns,
        }
    }
    fn ok(&self) -> bool {
        matches!(self.end, Some((EventType::Ok, _)))
    }
    fn end_ns(&self) -> u64 {
        self.end.map_or(self.invoke_ns, |(_, t)| t)
    }
    /// The value a write (or a cas) installs; the element an append adds.
    fn written(&self) -> Option<&Value> {
        match self.f.as_str() {
            "write" | "put" | "append" => Some(&self.input),
            "cas" => self.input.get(1),
            _ => None,
        }
    }
    fn is_read(&self) -> bool {
        matches!(self.f.as_str(), "read" | "get")
    }
}

fn ops_of(r: &RunReport) -> Vec<Op> {
    let mut ops: Vec<Op> = Vec::new();
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    for e in &r.recording.history.events {
        if e.kind == EventType::Invoke {
            open.insert(e.process, ops.len());
            ops.push(Op {
                process: e.process,
                f: e.f.clone(),
                key: e.key.clone(),
                input: e.value.clone(),
                invoke_ns: e.time_ns,
                end: None,
                output: Value::Null,
            });
        } else if let Some(i) = open.remove(&e.process) {
            ops[i].end = Some((e.kind, e.time_ns));
            ops[i].output = e.value.clone();
        }
    }
    ops
}

/// A JSON value for people: strings without quotes.
pub(crate) fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "nil".into(),
        v => v.to_string(),
    }
}

fn ms(ns: u64) -> u64 {
    ns / 1_000_000
}

/// The violation the story is about: of `checker` if given, else the run's first.
pub fn chosen<'a>(r: &'a RunReport, checker: Option<&str>) -> Option<&'a Finding> {
    checker
        .and_then(|c| r.violations.iter().find(|v| v.checker == c))
        .or_else(|| r.violations.first())
}

/// Tells the run's story around the violation of `checker` (default: its first violation).
pub fn story(r: &RunReport, checker: Option<&str>) -> Story {
    tell(r, checker, false)
}

/// The story of a small run told whole: every fault step and every client operation gets its
/// line (the operations the violation involves say why), with no "... and N more". For shrunk
/// failures, whose few steps and operations all matter.
pub fn story_whole(r: &RunReport, checker: Option<&str>) -> Story {
    tell(r, checker, true)
}

fn tell(r: &RunReport, checker: Option<&str>, whole: bool) -> Story {
    let max_faults = if whole { usize::MAX } else { MAX_FAULTS };
    let ops = ops_of(r);
    let violation = chosen(r, checker);
    let mut lines = Vec::new();
    let final_base = r.recording.final_process_base;

    // Faults: one line per step that started, with its window.
    let mut ends: BTreeMap<usize, u64> = BTreeMap::new();
    for f in r.recording.faults.iter().filter(|f| f.phase == "end") {
        ends.entry(f.step).or_insert(f.at_ns);
    }
    let starts: Vec<_> = r
        .recording
        .faults
        .iter()
        .filter(|f| f.phase == "start")
        .collect();
    for f in starts.iter().take(max_faults) {
        let until = match ends.get(&f.step) {
            Some(&e) if e >= r.recording.final_phase_ns && r.recording.final_phase_ns > 0 => {
                format!("until the final phase heals everything at {} ms", ms(e))
            }
            Some(&e) => format!("until {} ms ({} ms)", ms(e), ms(e - f.at_ns)),
            None => "until the end".into(),
        };
        lines.push(Line {
            at_ms: ms(f.at_ns),
            beat: Beat::Fault,
            text: format!("fault: {} {until}", f.description),
        });
    }
    // Corruption strikes and misdirected writes landing: instantaneous, no window.
    for f in r
        .recording
        .faults
        .iter()
        .filter(|f| f.phase == "strike" || f.phase == "hit")
        .take(max_faults)
    {
        lines.push(Line {
            at_ms: ms(f.at_ns),
            beat: Beat::Fault,
            text: format!("fault: {}", f.description),
        });
    }
    if starts.len() > max_faults {
        let f = starts[MAX_FAULTS];
        lines.push(Line {
            at_ms: ms(f.at_ns),
            beat: Beat::Fault,
            text: format!("... and {} more fault steps", starts.len() - MAX_FAULTS),
        });
    }

    let Some(v) = violation else {
        lines.push(Line {
            at_ms: ms(r.recording.sim_ns),
            beat: Beat::Violation,
            text: "the run passed: no violation".into(),
        });
        return Story {
            checker: None,
            lines,
            ops: vec![],
        };
    };
    let at_ns = v.at_ms.map_or(r.recording.sim_ns, |m| m * 1_000_000);

    // The operations that matter, each with why it matters.
    let (involved, told) = match v.checker.as_str() {
        "linearizability" => linearizability_ops(&ops, v),
        "lost-write" => lost_write_ops(&ops, v, final_base),
        _ => key_ops(&ops, v, at_ns),
    };
    let mut told: Vec<(usize, String)> = told.into_iter().take(MAX_OPS).collect();
    if whole {
        // Every workload operation, and every final read the violation involves.
        for (i, op) in ops.iter().enumerate() {
            let involved_read = involved.contains(&i);
            if (op.process < final_base || involved_read) && !told.iter().any(|(t, _)| *t == i) {
                told.push((i, String::new()));
            }
        }
    }
    for (i, why) in &told {
        let op = &ops[*i];
        // A write counts when it is acknowledged; a read is told where it began.
        let at = if op.is_read() {
            op.invoke_ns
        } else {
            op.end_ns()
        };
        lines.push(Line {
            at_ms: ms(at),
            beat: Beat::Op,
            text: format!("{}{why}", describe(op, final_base)),
        });
    }

    // Notable observations between the first fault (or the first told op) and the violation.
    let notable = NOTABLE_AT_MOST.min(starts.len() + 2);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for o in &r.recording.observations {
        *counts.entry(o.kind.as_str()).or_default() += 1;
    }
    let from = starts
        .first()
        .map(|f| f.at_ns)
        .into_iter()
        .chain(told.first().map(|(i, _)| ops[*i].invoke_ns))
        .min()
        .unwrap_or(0)
        .saturating_sub(200_000_000);
    for o in r
        .recording
        .observations
        .iter()
        // A fired buggify point is always told, however often it fired: it is a fault.
        .filter(|o| counts[o.kind.as_str()] <= notable || o.kind == crate::buggify::OBSERVATION)
        .filter(|o| o.at_ns >= from && o.at_ns <= at_ns)
        .take(MAX_OBSERVATIONS)
    {
        lines.push(Line {
            at_ms: ms(o.at_ns),
            beat: Beat::Observation,
            text: format!("n{} reports {}{}", o.node, o.kind, fields(&o.data)),
        });
    }

    lines.sort_by_key(|l| (l.at_ms, l.beat));
    // The violation comes last even when the checker dates it at the start of an op told above.
    let first_line = v.message.lines().next().unwrap_or("");
    lines.push(Line {
        at_ms: ms(at_ns),
        beat: Beat::Violation,
        text: format!("VIOLATION [{}] {first_line}", v.checker),
    });
    let mut involved: Vec<OpRef> = involved.iter().map(|&i| ops[i].r#ref()).collect();
    involved.sort_unstable();
    involved.dedup();
    Story {
        checker: Some(v.checker.clone()),
        lines,
        ops: involved,
    }
}

/// ` (epoch 2, node 3)` from an observation's data.
fn fields(data: &Value) -> String {
    match data {
        Value::Object(m) if !m.is_empty() => {
            let mut s = String::from(" (");
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                let _ = write!(s, "{k} {}", show(v));
            }
            s.push(')');
            s
        }
        Value::Null => String::new(),
        v => format!(" ({})", show(v)),
    }
}

/// `p1 wrote 94 to k0, acknowledged (invoked at 3062 ms)`.
fn describe(op: &Op, final_base: u64) -> String {
    let who = if op.process >= final_base {
        format!("final read p{}", op.process)
    } else {
        format!("p{}", op.process)
    };
    let key = op.key.as_deref().unwrap_or("");
    let outcome = |done: &str| match op.end {
        Some((EventType::Ok, _)) => done.to_string(),
        Some((EventType::Fail, _)) => "failed (did not take effect)".into(),
        Some((_, _)) => "got no answer (it may still take effect)".into(),
        None => "never returned".into(),
    };
    if op.is_read() {
        format!(
            "{who}: read {key} {}",
            outcome(&format!("returned {}", show(&op.output)))
        )
    } else if let Some(w) = op.written() {
        let what = if op.f == "cas" {
            format!(
                "cas {key} from {} to {}",
                show(op.input.get(0).unwrap_or(&Value::Null)),
                show(w)
            )
        } else if op.f == "append" {
            format!("append {} to {key}", show(w))
        } else {
            format!("write {} to {key}", show(w))
        };
        format!(
            "{who}: {what} {} (invoked at {} ms)",
            outcome("acknowledged"),
            ms(op.invoke_ns)
        )
    } else {
        // An operation without a key (a transaction names its own) reads "p0: txn {...}".
        let key = if key.is_empty() {
            String::new()
        } else {
            format!(" {key}")
        };
        format!(
            "{who}: {}{key} {} {}",
            op.f,
            show(&op.input),
            outcome(&format!("returned {}", show(&op.output)))
        )
    }
}

/// (every op involved, the few to tell with why) for a linearizability counterexample: the
/// first read that returned a value some later acknowledged write had already replaced, with
/// that write and the write it read; otherwise the last counterexample ops.
type Told = (Vec<usize>, Vec<(usize, String)>);

fn linearizability_ops(ops: &[Op], v: &Finding) -> Told {
    let detail = v.detail.as_ref();
    let cx: Vec<usize> = detail
        .and_then(|d| d.get("counterexample"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| {
                    let p = c.get("process")?.as_u64()?;
                    let call = c.get("call")?.as_u64()?;
                    ops.iter()
                        .position(|o| o.process == p && o.invoke_ns == call)
                })
                .collect()
        })
        .unwrap_or_default();
    let mut by_call = cx.clone();
    by_call.sort_by_key(|&i| (ops[i].invoke_ns, ops[i].process));
    for &r in &by_call {
        let read = &ops[r];
        if !read.is_read() || !read.ok() {
            continue;
        }
        let key = &read.key;
        let writes_of_key = || {
            ops.iter()
                .enumerate()
                .filter(move |(_, o)| &o.key == key && o.written().is_some())
        };
        let source = writes_of_key().find(|(_, o)| o.written() == Some(&read.output));
        // A write acknowledged before the read began, and begun after the read's source was
        // acknowledged (or any acknowledged write, if the read saw the initial value).
        let newer = writes_of_key()
            .filter(|(_, o)| o.ok() && o.end_ns() < read.invoke_ns)
            .filter(|(_, o)| match source {
                Some((_, s)) => s.end.is_some() && s.end_ns() < o.invoke_ns,
                None => read.output.is_null(),
            })
            .max_by_key(|(_, o)| o.end_ns());
        if let Some((n, newer_op)) = newer {
            let mut told = Vec::new();
            if let Some((s, _)) = source {
                told.push((s, " — the value the read below returned".to_string()));
            }
            let why = match source {
                Some((_, s)) => format!(
                    " — acknowledged later, so {} was overwritten",
                    show(s.written().unwrap_or(&Value::Null))
                ),
                None => " — acknowledged before the read below began".to_string(),
            };
            told.push((n, why));
            told.push((
                r,
                format!(
                    " — stale: {} had been acknowledged at {} ms",
                    show(newer_op.written().unwrap_or(&Value::Null)),
                    ms(newer_op.end_ns())
                ),
            ));
            let mut involved = cx.clone();
            involved.extend(told.iter().map(|(i, _)| *i));
            return (involved, told);
        }
    }
    let told = by_call
        .iter()
        .rev()
        .take(MAX_OPS)
        .rev()
        .map(|&i| (i, String::new()))
        .collect();
    (cx, told)
}

/// The lost write(s), the write the final read saw, and the final read.
fn lost_write_ops(ops: &[Op], v: &Finding, final_base: u64) -> Told {
    let d = v.detail.as_ref();
    let key = d.and_then(|d| d.get("key")).and_then(Value::as_str);
    let final_value = d.and_then(|d| d.get("final_value"));
    let lost: Vec<&Value> = d
        .and_then(|d| d.get("lost"))
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let on_key = |o: &Op| key.is_some() && o.key.as_deref() == key;
    let mut involved = Vec::new();
    let mut told = Vec::new();
    if let Some(fv) = final_value {
        if let Some(s) = ops
            .iter()
            .position(|o| on_key(o) && o.written() == Some(fv))
        {
            told.push((s, " — the value the final read will return".to_string()));
            involved.push(s);
        }
    }
    let lost_ops: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, o)| on_key(o) && o.ok() && o.written().is_some_and(|w| lost.contains(&w)))
        .map(|(i, _)| i)
        .collect();
    involved.extend(&lost_ops);
    if let Some(&last) = lost_ops.last() {
        let n = lost_ops.len();
        told.push((
            last,
            if n > 1 {
                format!(" — lost, like {} other acknowledged writes", n - 1)
            } else {
                " — lost".to_string()
            },
        ));
    }
    if let Some(fr) = ops
        .iter()
        .rposition(|o| on_key(o) && o.is_read() && o.ok() && o.process >= final_base)
    {
        told.push((fr, String::new()));
        involved.push(fr);
    }
    (involved, told)
}

/// For any other finding naming a `key`: the last few operations on it before the violation.
fn key_ops(ops: &[Op], v: &Finding, at_ns: u64) -> Told {
    let Some(key) = v
        .detail
        .as_ref()
        .and_then(|d| d.get("key"))
        .and_then(Value::as_str)
    else {
        return (vec![], vec![]);
    };
    let idx: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, o)| o.key.as_deref() == Some(key) && o.invoke_ns <= at_ns)
        .map(|(i, _)| i)
        .collect();
    let last: Vec<usize> = idx.iter().rev().take(3).rev().copied().collect();
    (
        last.clone(),
        last.into_iter().map(|i| (i, String::new())).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_are_readable() {
        assert_eq!(
            fields(&json!({"epoch": 2, "node": 3})),
            " (epoch 2, node 3)"
        );
        assert_eq!(fields(&Value::Null), "");
        assert_eq!(show(&json!("k0")), "k0");
    }
}
