//! Jepsen's etcd logs, as in Porcupine's test data: one CAS register, one log line per event.
//!
//! ```text
//! INFO  jepsen.util - 3<TAB>:invoke<TAB>:cas<TAB>[1 2]
//! INFO  jepsen.util - 3<TAB>:fail<TAB>:cas<TAB>[1 2]
//! ```
//! Quirks, kept as Porcupine's etcd model reads them:
//! - Fields are separated by tabs in logs 000–099 and by spaces from 100 on: any run of
//!   whitespace separates fields.
//! - `nil` means the key is absent (never written): a read of nil succeeds only from the initial
//!   state, unlike Knossos where a nil read is unconstrained.
//! - A failed cas is an observation (the value was not `from`), not an op that vanished.
//! - `:fail :read :timed-out` is a read that told nothing: dropped.
//! - `:info ... :timed-out` leaves the op open: it may take effect any time later, or never.
//!   Ops still pending at the end of the log are open too.
//! - Other log lines (`INFO  jepsen.core - ...`) are ignored; a `jepsen.util` line that is not
//!   an op event is an error.
//! - Time is the line number: the log is in real-time order.
use super::{Completion, HistOp, OpF, Pairer, Status};
use crate::spec::Val;
use std::sync::Arc;

const LEVELS: [&str; 5] = ["INFO", "WARN", "DEBUG", "ERROR", "TRACE"];

/// A log line: a level, a logger name, a dash.
pub(super) fn is_log_line(line: &str) -> bool {
    let mut it = line.split_whitespace();
    matches!((it.next(), it.next(), it.next()), (Some(l), Some(_), Some("-")) if LEVELS.contains(&l))
}

fn val(tok: &str) -> Val {
    (tok != "nil").then(|| Arc::from(tok))
}

pub(super) fn parse(text: &str) -> Result<Vec<HistOp>, (usize, String)> {
    let mut p = Pairer::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        let l = raw.trim();
        if l.is_empty() {
            continue;
        }
        if !is_log_line(l) {
            return Err((line, format!("not a Jepsen log line: {}", clip(l))));
        }
        let toks: Vec<&str> = l.split_whitespace().collect();
        if toks[1] != "jepsen.util" {
            continue;
        }
        let bad = |what: &str| Err((line, format!("{what}: {}", clip(l))));
        if toks.len() < 7 {
            return bad("expected `PROCESS :TYPE :F VALUE`");
        }
        let process = toks[3];
        if process.parse::<u64>().is_err() {
            return bad("process is not a number");
        }
        let value = toks[6..].join(" ");
        let f = match toks[5] {
            ":read" => OpF::Read,
            ":write" => OpF::Write,
            ":cas" => OpF::Cas,
            _ => return bad("unknown op (expected :read, :write or :cas)"),
        };
        let time = line as u64;
        let (arg, arg2) = match f {
            OpF::Cas if value.starts_with('[') => {
                let inner: Vec<&str> = value.trim_matches(['[', ']']).split_whitespace().collect();
                if inner.len() != 2 || !value.ends_with(']') {
                    return bad("cas value must be [FROM TO]");
                }
                (val(inner[0]), val(inner[1]))
            }
            OpF::Cas if value == ":timed-out" => (None, None),
            OpF::Cas => return bad("cas value must be [FROM TO]"),
            _ if value.contains(char::is_whitespace) => return bad("value must be one token"),
            _ => (val(&value), None),
        };
        match toks[4] {
            ":invoke" => {
                let (arg, arg2) = if f == OpF::Read {
                    (None, None)
                } else {
                    (arg, arg2)
                };
                if f == OpF::Write && arg.is_none() {
                    return bad("write of nil");
                }
                p.invoke(process, f, None, arg, arg2, time, line)?;
            }
            t @ (":ok" | ":fail" | ":info") => {
                let status = match t {
                    ":ok" => Status::Ok,
                    ":fail" => Status::Fail,
                    _ => Status::Info,
                };
                let op = p.complete(Completion {
                    process,
                    status,
                    f,
                    time,
                    line,
                })?;
                if f == OpF::Read && status == Status::Ok {
                    op.result = arg;
                }
            }
            _ => return bad("unknown event type (expected :invoke, :ok, :fail or :info)"),
        }
    }
    Ok(p.ops)
}

pub(super) fn clip(s: &str) -> String {
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s.to_string()
    }
}
