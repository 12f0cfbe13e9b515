//! Readers for history files, into one neutral form ([`ParsedHistory`]) that keeps each
//! format's own semantics in [`Semantics`].
//!
//! | format | read of nil | `fail` op | `info` op | time |
//! |---|---|---|---|---|
//! | `porcupine-kv` | (never occurs) | not applied | maybe applied | line order |
//! | `jepsen-etcd` | absent | failed cas = observation "value ≠ from"; failed read dropped | maybe applied | line order |
//! | `jepsen-edn` | unconstrained (Knossos) | dropped | maybe applied | position in the file |
//! | `jsonl` | absent (initial) | not applied | maybe applied | `time_ns` |
//!
//! ```
//! use faultline_checkers::formats::{parse_str, FormatName};
//! let h = parse_str("INFO  jepsen.util - 0\t:invoke\t:write\t1\n", FormatName::Auto, "x.log").unwrap();
//! assert_eq!(h.format, FormatName::JepsenEtcd);
//! assert_eq!(h.ops.len(), 1);
//! ```
use crate::spec::Val;
use std::collections::HashMap;
use std::sync::Arc;

pub mod edn;
mod etcd;
mod jepsen_edn;
mod jsonl;
mod porcupine_kv;

pub use jsonl::events_to_history;

/// A history file format.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum FormatName {
    /// Detect from the content.
    #[default]
    Auto,
    PorcupineKv,
    JepsenEtcd,
    JepsenEdn,
    Jsonl,
}

impl FormatName {
    pub fn as_str(self) -> &'static str {
        match self {
            FormatName::Auto => "auto",
            FormatName::PorcupineKv => "porcupine-kv",
            FormatName::JepsenEtcd => "jepsen-etcd",
            FormatName::JepsenEdn => "jepsen-edn",
            FormatName::Jsonl => "jsonl",
        }
    }
}

impl std::fmt::Display for FormatName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for FormatName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(FormatName::Auto),
            "porcupine-kv" => Ok(FormatName::PorcupineKv),
            "jepsen-etcd" => Ok(FormatName::JepsenEtcd),
            "jepsen-edn" => Ok(FormatName::JepsenEdn),
            "jsonl" => Ok(FormatName::Jsonl),
            _ => Err(format!(
                "unknown format '{s}' (expected auto, porcupine-kv, jepsen-etcd, jepsen-edn or jsonl)"
            )),
        }
    }
}

/// An unreadable history: which file, which line (1-based; 0 when the problem is the whole
/// file), what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct FormatError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// An operation's function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpF {
    Read,
    Write,
    Cas,
    Get,
    Put,
    Append,
}

impl OpF {
    pub fn parse(s: &str) -> Option<OpF> {
        Some(match s {
            "read" => OpF::Read,
            "write" => OpF::Write,
            "cas" => OpF::Cas,
            "get" => OpF::Get,
            "put" => OpF::Put,
            "append" => OpF::Append,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OpF::Read => "read",
            OpF::Write => "write",
            OpF::Cas => "cas",
            OpF::Get => "get",
            OpF::Put => "put",
            OpF::Append => "append",
        }
    }

    /// Reads observe; the others take an argument.
    pub fn is_read(self) -> bool {
        matches!(self, OpF::Read | OpF::Get)
    }
}

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Unknown: `info`, or no completion before the end of the history.
    Info,
    Fail,
}

impl Status {
    /// The status a completion's type names (`ok`, `fail`, `info`); `None` for anything else.
    pub fn of_completion(ty: &str) -> Option<Status> {
        match ty {
            "ok" => Some(Status::Ok),
            "fail" => Some(Status::Fail),
            "info" => Some(Status::Info),
            _ => None,
        }
    }
}

/// One operation (an invocation paired with its completion), format-neutral.
#[derive(Clone, Debug, PartialEq)]
pub struct HistOp {
    pub process: String,
    pub f: OpF,
    pub key: Option<String>,
    /// The argument: the value written, put or appended; a cas's `from`.
    pub arg: Val,
    /// A cas's `to`.
    pub arg2: Val,
    /// What a completed read returned.
    pub result: Val,
    pub status: Status,
    pub call: u64,
    /// `None` when the op never completed.
    pub ret: Option<u64>,
    pub invoke_line: usize,
    pub complete_line: Option<usize>,
}

/// How to read a format's ops; see the module table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Semantics {
    /// A read that returned nil says nothing (Knossos) rather than "absent".
    pub nil_read_any: bool,
    /// A failed cas is an observation that the value differed from `from` (Porcupine's etcd
    /// model) rather than an op that did not happen.
    pub fail_cas_observes: bool,
}

/// A parsed history.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedHistory {
    pub file: String,
    pub format: FormatName,
    pub ops: Vec<HistOp>,
    pub semantics: Semantics,
    /// The initial value the format implies (Porcupine's kv data starts every key at "").
    pub initial: Val,
}

/// Picks a format from the content: etcd log lines start with a log level; JSONL lines are JSON
/// objects (`{"`); a Porcupine kv file has one `{:process ...}` map per line with `:f :get`,
/// `:put` or `:append` and a `:key`; anything else EDN-like is `jepsen-edn`.
pub fn detect(text: &str) -> Option<FormatName> {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with(';'))?;
    if etcd::is_log_line(first) {
        return Some(FormatName::JepsenEtcd);
    }
    if first.starts_with("{\"") || first.starts_with("{ \"") {
        return Some(FormatName::Jsonl);
    }
    if first.starts_with("{:") && first.ends_with('}') && first.contains(":key ") {
        let kv_f = [":f :get", ":f :put", ":f :append"];
        if kv_f.iter().any(|f| first.contains(f)) {
            return Some(FormatName::PorcupineKv);
        }
    }
    if first.starts_with(['{', '[', '(', '#']) {
        return Some(FormatName::JepsenEdn);
    }
    None
}

/// Parses `text` (read from `file`, which only names it in errors).
pub fn parse_str(text: &str, format: FormatName, file: &str) -> Result<ParsedHistory, FormatError> {
    let format = match format {
        FormatName::Auto => detect(text).ok_or_else(|| FormatError {
            file: file.to_string(),
            line: 0,
            message: "cannot detect the history format (empty, or not porcupine-kv, jepsen-etcd, \
                      jepsen-edn or jsonl); pass --format"
                .into(),
        })?,
        f => f,
    };
    let err = |line: usize, message: String| FormatError {
        file: file.to_string(),
        line,
        message,
    };
    let (ops, semantics, initial) = match format {
        FormatName::JepsenEtcd => (
            etcd::parse(text).map_err(|(l, m)| err(l, m))?,
            Semantics {
                nil_read_any: false,
                fail_cas_observes: true,
            },
            None,
        ),
        FormatName::PorcupineKv => (
            porcupine_kv::parse(text).map_err(|(l, m)| err(l, m))?,
            Semantics::default(),
            Some(Arc::from("")),
        ),
        FormatName::JepsenEdn => (
            jepsen_edn::parse(text).map_err(|(l, m)| err(l, m))?,
            Semantics {
                nil_read_any: true,
                fail_cas_observes: false,
            },
            None,
        ),
        FormatName::Jsonl => (
            jsonl::parse(text).map_err(|(l, m)| err(l, m))?,
            Semantics::default(),
            None,
        ),
        FormatName::Auto => unreachable!("resolved above"),
    };
    Ok(ParsedHistory {
        file: file.to_string(),
        format,
        ops,
        semantics,
        initial,
    })
}

/// Pairs invocations with completions by process, the way every format needs.
pub(crate) struct Pairer {
    pending: HashMap<String, usize>,
    pub ops: Vec<HistOp>,
}

/// What a completion line says.
pub(crate) struct Completion<'a> {
    pub process: &'a str,
    pub status: Status,
    pub f: OpF,
    pub time: u64,
    pub line: usize,
}

impl Pairer {
    pub fn new() -> Self {
        Pairer {
            pending: HashMap::new(),
            ops: Vec::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn invoke(
        &mut self,
        process: &str,
        f: OpF,
        key: Option<String>,
        arg: Val,
        arg2: Val,
        time: u64,
        line: usize,
    ) -> Result<(), (usize, String)> {
        if let Some(&prev) = self.pending.get(process) {
            return Err((
                line,
                format!(
                    "process {process} invokes again while its op from line {} is pending",
                    self.ops[prev].invoke_line
                ),
            ));
        }
        self.pending.insert(process.to_string(), self.ops.len());
        self.ops.push(HistOp {
            process: process.to_string(),
            f,
            key,
            arg,
            arg2,
            result: None,
            status: Status::Info,
            call: time,
            ret: None,
            invoke_line: line,
            complete_line: None,
        });
        Ok(())
    }

    /// Completes the process's pending op and returns it for the caller to fill in results.
    pub fn complete(&mut self, c: Completion<'_>) -> Result<&mut HistOp, (usize, String)> {
        let Some(idx) = self.pending.remove(c.process) else {
            return Err((
                c.line,
                format!("process {} completes an op it never invoked", c.process),
            ));
        };
        let op = &mut self.ops[idx];
        if op.f != c.f {
            return Err((
                c.line,
                format!(
                    "process {} completes :{} but invoked :{} on line {}",
                    c.process,
                    c.f.as_str(),
                    op.f.as_str(),
                    op.invoke_line
                ),
            ));
        }
        if c.time < op.call {
            return Err((
                c.line,
                format!(
                    "completion time {} is before the invocation's {}",
                    c.time, op.call
                ),
            ));
        }
        op.status = c.status;
        op.complete_line = Some(c.line);
        // An info op's completion says nothing about when it took effect: it stays open.
        if c.status != Status::Info {
            op.ret = Some(c.time);
        }
        Ok(op)
    }

    pub fn pending(&self, process: &str) -> Option<&HistOp> {
        self.pending.get(process).map(|&i| &self.ops[i])
    }
}

/// Text of a JSON value as the built-in specs compare it (strings by content, null as nil).
pub fn val_from_json(v: &serde_json::Value) -> Val {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(Arc::from(s.as_str())),
        other => Some(Arc::from(other.to_string().as_str())),
    }
}
