//! Jepsen's `history.edn`, read with Knossos's semantics.
//!
//! Accepted shapes: one EDN vector or list of op maps, or a sequence of top-level op maps
//! (one per line, as Jepsen writes them, or spanning lines); `;` comments; tagged maps such as
//! `#jepsen.history.Op{...}` (the tag is dropped).
//!
//! Semantics (Knossos):
//! - ops are paired by `:process`; ops of a non-numeric process (`:nemesis`) are ignored;
//! - `:fail` ops never took effect: dropped;
//! - `:info` ops (and invocations never completed) may have taken effect at any later time;
//! - a completed op's `:value` fills in its invocation's (a read's invocation carries nil);
//! - a read that returned nil is unconstrained (Knossos's register accepts it from any state);
//! - `:f` is `:read`, `:write`, `:cas` (value `[from to]`), or `:get`, `:put`, `:append` with a
//!   `:key`; a `:key` on register ops makes one register per key. Values written as
//!   `jepsen.independent` tuples (`[key value]`) are not split into keys;
//! - time is the op's position in the file; `:time` fields are ignored (Knossos orders by
//!   position too).
use super::edn::{Edn, Reader};
use super::{Completion, HistOp, OpF, Pairer, Status};
use crate::spec::Val;
use std::sync::Arc;

fn val(e: &Edn) -> Val {
    match e {
        Edn::Nil => None,
        other => Some(Arc::from(other.to_value_text().as_str())),
    }
}

fn cas_args(e: &Edn) -> Option<(Val, Val)> {
    match e {
        Edn::Vector(v) | Edn::List(v) if v.len() == 2 => Some((val(&v[0]), val(&v[1]))),
        _ => None,
    }
}

pub(super) fn parse(text: &str) -> Result<Vec<HistOp>, (usize, String)> {
    let mut maps: Vec<Edn> = Vec::new();
    let mut r = Reader::new(text);
    let not_an_op = |line: usize, v: &Edn| {
        (
            line,
            format!("expected op maps, found {}", super::etcd::clip(&v.to_edn())),
        )
    };
    while let Some((line, v)) = r.next_value().map_err(|e| (e.line, e.message))? {
        match v {
            Edn::Map(..) => maps.push(v),
            Edn::Vector(items) | Edn::List(items) => {
                for it in items {
                    match it {
                        Edn::Map(..) => maps.push(it),
                        other => return Err(not_an_op(line, &other)),
                    }
                }
            }
            other => return Err(not_an_op(line, &other)),
        }
    }
    let mut p = Pairer::new();
    for (pos, m) in maps.iter().enumerate() {
        let Edn::Map(_, line) = m else {
            unreachable!("only maps collected")
        };
        let line = *line;
        let process = match m.get("process") {
            Some(Edn::Number(n)) => n.clone(),
            Some(Edn::Keyword(_)) => continue,
            Some(other) => return Err((line, format!("bad :process {}", other.to_edn()))),
            None => return Err((line, "missing :process".into())),
        };
        let f = match m.get("f") {
            Some(Edn::Keyword(k)) => OpF::parse(k).ok_or_else(|| {
                (
                    line,
                    format!(
                        "unsupported :f :{k} (expected :read, :write, :cas, :get, :put or :append)"
                    ),
                )
            })?,
            Some(other) => return Err((line, format!("bad :f {}", other.to_edn()))),
            None => return Err((line, "missing :f".into())),
        };
        let key = m.get("key").map(|k| k.to_value_text());
        let value = m.get("value").unwrap_or(&Edn::Nil);
        let time = pos as u64;
        let ty = match m.get("type") {
            Some(Edn::Keyword(t)) => t.as_str(),
            _ => return Err((line, "missing or bad :type".into())),
        };
        match ty {
            "invoke" => {
                let (arg, arg2) = if f == OpF::Cas {
                    match (value, cas_args(value)) {
                        (Edn::Nil, _) => (None, None),
                        (_, Some(a)) => a,
                        _ => return Err((line, "cas :value must be [from to]".into())),
                    }
                } else if f.is_read() {
                    (None, None)
                } else {
                    (val(value), None)
                };
                p.invoke(&process, f, key, arg, arg2, time, line)?;
            }
            "ok" | "fail" | "info" => {
                let status = Status::of_completion(ty).expect("matched above");
                let op = p.complete(Completion {
                    process: &process,
                    status,
                    f,
                    time,
                    line,
                })?;
                if status == Status::Ok {
                    if f.is_read() {
                        op.result = val(value);
                    } else if f == OpF::Cas && op.arg.is_none() && op.arg2.is_none() {
                        let Some((a, b)) = cas_args(value) else {
                            return Err((line, "cas :value must be [from to]".into()));
                        };
                        op.arg = a;
                        op.arg2 = b;
                    } else if op.arg.is_none() && !matches!(value, Edn::Nil) {
                        op.arg = val(value);
                    }
                }
            }
            other => return Err((line, format!("unknown :type :{other}"))),
        }
    }
    Ok(p.ops)
}
