//! Porcupine's kv test data: one EDN map per line,
//! `{:process 0, :type :invoke, :f :append, :key "4", :value "x 0 3 y"}`.
//!
//! Quirks, kept as Porcupine's kv model reads them:
//! - every key starts as the empty string `""` (not absent), and a get returns a string;
//! - `:f` is `:get`, `:put` or `:append`; values are strings, appends concatenate them;
//! - the data has only `:invoke` and `:ok`; we read `:fail` as "not applied" and `:info` as
//!   "maybe applied later" (Jepsen), and an op pending at the end of the file as open;
//! - time is the line number.
use super::edn::{Edn, Reader};
use super::{Completion, HistOp, OpF, Pairer, Status};
use crate::spec::Val;
use std::sync::Arc;

pub(super) fn parse(text: &str) -> Result<Vec<HistOp>, (usize, String)> {
    let mut p = Pairer::new();
    let mut r = Reader::new(text);
    while let Some((line, v)) = r.next_value().map_err(|e| (e.line, e.message))? {
        let Edn::Map(..) = v else {
            return Err((
                line,
                format!(
                    "expected a {{:process ...}} map, found {}",
                    super::etcd::clip(&v.to_edn())
                ),
            ));
        };
        let process = match v.get("process") {
            Some(Edn::Number(n)) => n.clone(),
            _ => return Err((line, "missing or non-numeric :process".into())),
        };
        let f = match v.get("f") {
            Some(Edn::Keyword(k)) => match k.as_str() {
                "get" => OpF::Get,
                "put" => OpF::Put,
                "append" => OpF::Append,
                _ => {
                    return Err((
                        line,
                        format!("unknown :f :{k} (expected :get, :put or :append)"),
                    ))
                }
            },
            _ => return Err((line, "missing :f".into())),
        };
        let key = match v.get("key") {
            Some(Edn::Str(s)) => s.clone(),
            Some(other) => other.to_value_text(),
            None => return Err((line, "missing :key".into())),
        };
        let value: Val = match v.get("value") {
            None | Some(Edn::Nil) => None,
            Some(e) => Some(Arc::from(e.to_value_text().as_str())),
        };
        let time = line as u64;
        match v.get("type") {
            Some(Edn::Keyword(t)) if t == "invoke" => {
                if f != OpF::Get && value.is_none() {
                    return Err((line, format!(":{} without a :value", f.as_str())));
                }
                let arg = if f == OpF::Get { None } else { value };
                p.invoke(&process, f, Some(key), arg, None, time, line)?;
            }
            Some(Edn::Keyword(t)) if Status::of_completion(t).is_some() => {
                let status = Status::of_completion(t).expect("checked by the guard");
                let op = p.complete(Completion {
                    process: &process,
                    status,
                    f,
                    time,
                    line,
                })?;
                if op.key.as_deref() != Some(key.as_str()) {
                    return Err((
                        line,
                        format!("completion key {key:?} differs from the invocation's"),
                    ));
                }
                if f == OpF::Get && status == Status::Ok {
                    op.result = value;
                }
            }
            _ => {
                return Err((
                    line,
                    "missing or unknown :type (expected :invoke, :ok, :fail or :info)".into(),
                ))
            }
        }
    }
    Ok(p.ops)
}
