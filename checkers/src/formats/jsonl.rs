//! Faultline's own history: one JSON object per line (the [`Event`] type):
//! `{"process": 3, "type": "invoke", "f": "write", "key": "k1", "value": 7, "time_ns": 123}`.
//!
//! Semantics (Jepsen's, as Faultline records them):
//! - `fail`: certainly not applied (dropped); `info`: may take effect at any later time, or
//!   never; an invocation without completion is treated like `info`;
//! - a read (or get) of `null` means the key is absent: the register's initial value (nil
//!   unless `--initial` says otherwise);
//! - `cas` takes `[from, to]`; `f` is read/write/cas (register) or get/put/append (kv);
//! - time is `time_ns`; equal times count as concurrent.
use super::{Completion, HistOp, OpF, Pairer, Status};
use crate::history::{Event, EventType};

/// Converts recorded events (in recording order) into ops; `lines[i]` names event i's line.
pub fn events_to_history<'a>(
    events: impl IntoIterator<Item = (usize, &'a Event)>,
) -> Result<Vec<HistOp>, (usize, String)> {
    let mut p = Pairer::new();
    for (line, e) in events {
        let f = OpF::parse(&e.f).ok_or_else(|| {
            (
                line,
                format!(
                    "unsupported f {:?} (expected read, write, cas, get, put or append)",
                    e.f
                ),
            )
        })?;
        let process = e.process.to_string();
        let value = super::val_from_json(&e.value);
        match e.kind {
            EventType::Invoke => {
                let (arg, arg2) = match f {
                    OpF::Cas => cas_args(&e.value)
                        .ok_or_else(|| (line, "cas value must be [from, to]".to_string()))?,
                    _ if f.is_read() => (None, None),
                    _ => (value, None),
                };
                p.invoke(&process, f, e.key.clone(), arg, arg2, e.time_ns, line)?;
            }
            EventType::Ok | EventType::Fail | EventType::Info => {
                let status = match e.kind {
                    EventType::Ok => Status::Ok,
                    EventType::Fail => Status::Fail,
                    _ => Status::Info,
                };
                if let (Some(k), Some(pending)) = (&e.key, p.pending(&process)) {
                    if pending.key.as_ref() != Some(k) {
                        return Err((
                            line,
                            format!("completion key {k:?} differs from the invocation's"),
                        ));
                    }
                }
                let op = p.complete(Completion {
                    process: &process,
                    status,
                    f,
                    time: e.time_ns,
                    line,
                })?;
                if status == Status::Ok && f.is_read() {
                    op.result = value;
                }
            }
        }
    }
    Ok(p.ops)
}

fn cas_args(v: &serde_json::Value) -> Option<(crate::spec::Val, crate::spec::Val)> {
    match v.as_array() {
        Some(a) if a.len() == 2 => Some((super::val_from_json(&a[0]), super::val_from_json(&a[1]))),
        _ => None,
    }
}

pub(super) fn parse(text: &str) -> Result<Vec<HistOp>, (usize, String)> {
    let mut events = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() {
            continue;
        }
        let e: Event = serde_json::from_str(l)
            .map_err(|err| (idx + 1, format!("bad history event: {err}")))?;
        events.push((idx + 1, e));
    }
    events_to_history(events.iter().map(|(l, e)| (*l, e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Faultline records an `ok` with the call's result: null for a write that returns nothing.
    /// The written value still comes from the invocation, and a read's result from its `ok`.
    #[test]
    fn an_ok_write_with_a_null_result_keeps_its_invoked_value() {
        let text = r#"{"process":0,"type":"invoke","f":"write","key":"k","value":7,"time_ns":1}
{"process":0,"type":"ok","f":"write","key":"k","value":null,"time_ns":2}
{"process":1,"type":"invoke","f":"read","key":"k","value":null,"time_ns":3}
{"process":1,"type":"ok","f":"read","key":"k","value":7,"time_ns":4}
"#;
        let ops = parse(text).unwrap();
        assert_eq!(ops[0].arg.as_deref(), Some("7"));
        assert_eq!(ops[0].status, Status::Ok);
        assert_eq!(ops[1].result.as_deref(), Some("7"));
    }
}
