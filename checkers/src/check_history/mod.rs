//! `faultline check-history`, as a library: read a history file, check it, report.
//!
//! The CLI parses its flags into [`CheckHistoryOptions`], calls [`run_check_history`], prints
//! [`CheckHistoryReport::to_json`] (with `--json`) or [`CheckHistoryReport::summary`], and exits
//! with [`CheckHistoryReport::exit_code`] (or [`CheckHistoryError::exit_code`]). The harness's
//! runner checks its in-memory histories with [`check_events`].
//!
//! ```no_run
//! use faultline_checkers::check_history::{run_check_history, CheckHistoryOptions};
//! let opts = CheckHistoryOptions::new("history.jsonl");
//! match run_check_history(&opts) {
//!     Ok(report) => {
//!         println!("{}", report.to_json());
//!         std::process::exit(report.exit_code());
//!     }
//!     Err(e) => {
//!         eprintln!("{e}");
//!         std::process::exit(e.exit_code());
//!     }
//! }
//! ```
pub mod report;

use crate::formats::{self, FormatError, FormatName, HistOp, OpF, ParsedHistory, Status};
use crate::history::History;
use crate::linearizability::{
    check_operations_parallel, minimal_counterexample, CheckOptions, Operation, Verdict,
};
use crate::spec::{
    AppendInput, AppendOp, AppendOutput, AppendSpec, Elem, KvInput, KvOp, KvOutput, KvSpec,
    RegisterInput, RegisterOp, RegisterOutput, RegisterSpec, Spec, SpecName, Val,
};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Search-step budget for each check while shrinking a counterexample.
const SHRINK_STEPS: u64 = 200_000;

/// What `check-history` was asked to do.
#[derive(Clone, Debug, Default)]
pub struct CheckHistoryOptions {
    pub path: PathBuf,
    /// `None`: inferred from the ops (get/put → kv; append with read → append, with get → kv;
    /// cas → cas-register; else register).
    pub spec: Option<SpecName>,
    pub format: FormatName,
    /// The registers' (or keys') initial value; `None`: the format's default (nil, or "" for
    /// Porcupine's kv data).
    pub initial: Option<Value>,
    /// The search's work budget in steps; past it the verdict is undecided (exit 3). The same
    /// history and budget give the same verdict on any machine. `None`: no limit.
    pub check_budget: Option<u64>,
    /// A wall-clock limit on top of the budget (`--timeout`): the verdict then depends on the
    /// machine and its load. `None`: no time limit.
    pub timeout: Option<Duration>,
    /// Also write a self-contained HTML report here.
    pub html: Option<PathBuf>,
}

impl CheckHistoryOptions {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        CheckHistoryOptions {
            path: path.into(),
            ..Default::default()
        }
    }
}

/// Why a history could not be checked. Every variant maps to exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum CheckHistoryError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("{path}: cannot write the HTML report: {source}")]
    Html {
        path: String,
        source: std::io::Error,
    },
}

impl CheckHistoryError {
    pub fn exit_code(&self) -> i32 {
        2
    }
}

/// A non-linearizable partition, explained.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    /// The failing partition's key (`None`: a single register).
    pub key: Option<String>,
    /// Every op of the failing partition (indices into [`HistoryCheck::ops`]), by call time.
    pub partition_ops: Vec<usize>,
    /// A small set of completed ops that cannot be linearized together, whatever the other ops
    /// did (see [`minimal_counterexample`]); empty when not computed.
    pub counterexample: Vec<usize>,
    /// Whether `counterexample` was shown 1-minimal.
    pub minimal: bool,
    /// The longest linearizable prefix the search found, in linearization order.
    pub longest_prefix: Vec<usize>,
    /// The completed op with the earliest return that no prefix could linearize.
    pub stuck: usize,
}

/// The outcome of checking one history.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryCheck {
    pub verdict: Verdict,
    pub spec: SpecName,
    /// Every op of the history, including those the semantics drop (failed ops).
    pub ops: Vec<HistOp>,
    /// How many ops the search considered.
    pub checked: usize,
    pub partitions: usize,
    /// Time spent deciding (counterexample shrinking excluded).
    pub elapsed_ms: f64,
    /// Time spent shrinking the counterexample.
    pub counterexample_ms: f64,
    pub steps: u64,
    pub violation: Option<Violation>,
}

impl HistoryCheck {
    /// `true`, `false`, or `None` when undecided.
    pub fn linearizable(&self) -> Option<bool> {
        match self.verdict {
            Verdict::Linearizable => Some(true),
            Verdict::NotLinearizable => Some(false),
            Verdict::Undecided => None,
        }
    }

    /// The counterexample ops as JSON objects (`null` when linearizable or undecided).
    pub fn counterexample_json(&self) -> Value {
        match &self.violation {
            Some(v) => Value::Array(
                v.counterexample
                    .iter()
                    .map(|&i| op_json(&self.ops[i]))
                    .collect(),
            ),
            None => Value::Null,
        }
    }

    /// A one-paragraph explanation for humans.
    pub fn explain(&self) -> String {
        match (&self.violation, self.verdict) {
            (_, Verdict::Linearizable) => format!(
                "linearizable ({} ops, {} partitions, spec {})",
                self.checked, self.partitions, self.spec
            ),
            (_, Verdict::Undecided) => format!(
                "undecided: the search ran out of budget after {} steps ({} ops, {} partitions, spec {})",
                self.steps, self.checked, self.partitions, self.spec
            ),
            (Some(v), _) => {
                let mut s = format!(
                    "NOT linearizable{} ({} ops, {} partitions, spec {}): no order of the ops \
                     explains {}.",
                    v.key
                        .as_ref()
                        .map(|k| format!(" at key {k:?}"))
                        .unwrap_or_default(),
                    self.checked,
                    self.partitions,
                    self.spec,
                    describe(&self.ops[v.stuck]),
                );
                if !v.counterexample.is_empty() {
                    let unminimized = if v.minimal {
                        ""
                    } else {
                        " (not fully minimized)"
                    };
                    // One op alone can be impossible (a read of a value never written, a list
                    // with an element twice): say so, not "these 1 results".
                    s.push_str(&match v.counterexample.len() {
                        1 => format!("\nThis result cannot hold{unminimized}:"),
                        n => format!("\nThese {n} results cannot all hold{unminimized}:"),
                    });
                    for &i in &v.counterexample {
                        s.push_str(&format!("\n  {}", describe(&self.ops[i])));
                    }
                }
                s
            }
            (None, _) => "NOT linearizable".to_string(),
        }
    }
}

/// The result of `check-history`.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckHistoryReport {
    pub path: PathBuf,
    pub format: FormatName,
    pub parse_ms: f64,
    pub check: HistoryCheck,
    /// Where the HTML report was written.
    pub html: Option<PathBuf>,
}

impl CheckHistoryReport {
    /// The JSON object: `linearizable` (true, false, or null when undecided), `verdict`
    /// (`linearizable`, `not-linearizable`, `undecided`), `steps` (search steps taken), `ops`,
    /// `partitions`, `elapsed_ms`, `parse_ms`, `counterexample`, `spec`, `format`, `partition`
    /// and `minimal`.
    pub fn to_json(&self) -> Value {
        let c = &self.check;
        json!({
            "linearizable": c.linearizable(),
            "verdict": c.verdict,
            "steps": c.steps,
            "ops": c.checked,
            "partitions": c.partitions,
            "elapsed_ms": c.elapsed_ms,
            "parse_ms": self.parse_ms,
            "counterexample": c.counterexample_json(),
            "spec": c.spec.as_str(),
            "format": self.format.as_str(),
            "partition": c.violation.as_ref().and_then(|v| v.key.clone()),
            "minimal": c.violation.as_ref().map(|v| v.minimal),
        })
    }

    /// A short human-readable summary.
    pub fn summary(&self) -> String {
        format!(
            "{}: {}\nformat {}, parsed in {:.2} ms, checked in {:.2} ms",
            self.path.display(),
            self.check.explain(),
            self.format,
            self.parse_ms,
            self.check.elapsed_ms
        )
    }

    /// 0 linearizable, 1 not, 3 undecided.
    pub fn exit_code(&self) -> i32 {
        match self.check.verdict {
            Verdict::Linearizable => 0,
            Verdict::NotLinearizable => 1,
            Verdict::Undecided => 3,
        }
    }
}

/// Reads, checks and (with `html`) renders a history file.
pub fn run_check_history(
    opts: &CheckHistoryOptions,
) -> Result<CheckHistoryReport, CheckHistoryError> {
    let name = opts.path.display().to_string();
    let t0 = Instant::now();
    let text = std::fs::read(&opts.path).map_err(|source| CheckHistoryError::Read {
        path: name.clone(),
        source,
    })?;
    let text = String::from_utf8(text).map_err(|e| FormatError {
        file: name.clone(),
        line: line_of_offset(e.as_bytes(), e.utf8_error().valid_up_to()),
        message: "not valid UTF-8".into(),
    })?;
    let parsed = formats::parse_str(&text, opts.format, &name)?;
    let parse_ms = t0.elapsed().as_secs_f64() * 1e3;
    let initial = opts.initial.as_ref().map(formats::val_from_json);
    let limits = CheckOptions {
        timeout: opts.timeout,
        max_steps: opts.check_budget,
    };
    let check = check_parsed(&parsed, opts.spec, initial, &limits, true)?;
    if let Some(path) = &opts.html {
        let title = opts
            .path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or(name.clone());
        let page = report::render(&title, &check);
        write_atomically(path, page.as_bytes()).map_err(|source| CheckHistoryError::Html {
            path: path.display().to_string(),
            source,
        })?;
    }
    Ok(CheckHistoryReport {
        path: opts.path.clone(),
        format: parsed.format,
        parse_ms,
        check,
        html: opts.html.clone(),
    })
}

fn line_of_offset(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Temporary file then rename, so a killed process never leaves half a report.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Checks a history the harness recorded (Faultline's semantics: `fail` not applied, `info` maybe
/// applied later, a read of null means absent). Keys partition the check.
///
/// ```
/// use faultline_checkers::check_history::check_events;
/// use faultline_checkers::history::{Event, EventType, History};
/// use faultline_checkers::spec::SpecName;
/// use serde_json::json;
/// let mut h = History::default();
/// h.push(Event::invoke(0, "write", Some("k"), json!(1), 10));
/// h.push(Event::complete(0, EventType::Ok, "write", Some("k"), json!(1), 20));
/// h.push(Event::invoke(1, "read", Some("k"), json!(null), 30));
/// h.push(Event::complete(1, EventType::Ok, "read", Some("k"), json!(null), 40));
/// let c = check_events(&h, SpecName::Register, &Default::default()).unwrap();
/// assert_eq!(c.linearizable(), Some(false));
/// assert_eq!(c.violation.unwrap().key.as_deref(), Some("k"));
/// ```
pub fn check_events(
    history: &History,
    spec: SpecName,
    limits: &CheckOptions,
) -> Result<HistoryCheck, FormatError> {
    let ops =
        formats::events_to_history(history.events.iter().enumerate().map(|(i, e)| (i + 1, e)))
            .map_err(|(line, message)| FormatError {
                file: "<history>".into(),
                line,
                message,
            })?;
    let parsed = ParsedHistory {
        file: "<history>".into(),
        format: FormatName::Jsonl,
        ops,
        semantics: Default::default(),
        initial: None,
    };
    check_parsed(&parsed, Some(spec), None, limits, true)
}

/// Checks a parsed history. `spec: None` infers it from the ops; `initial: None` uses the
/// format's default. `counterexample: false` skips shrinking (the violation then has an empty
/// counterexample). With a step budget (`limits.max_steps`) and no timeout the verdict depends
/// only on the history and the budget (the search then runs on one thread, in the round-robin
/// order [`check_operations`](crate::linearizability::check_operations) describes).
pub fn check_parsed(
    h: &ParsedHistory,
    spec: Option<SpecName>,
    initial: Option<Val>,
    limits: &CheckOptions,
    counterexample: bool,
) -> Result<HistoryCheck, FormatError> {
    let spec = spec.unwrap_or_else(|| infer_spec(&h.ops));
    let initial = initial.unwrap_or_else(|| h.initial.clone());
    let opts = limits.clone();
    match spec {
        SpecName::Register | SpecName::CasRegister => {
            let s = RegisterSpec {
                cas: spec == SpecName::CasRegister,
                initial,
            };
            let (ops, idx) = register_ops(h, s.cas)?;
            Ok(run(&s, spec, h, &ops, &idx, &opts, counterexample))
        }
        SpecName::Kv => {
            let s = KvSpec { initial };
            let (ops, idx) = kv_ops(h)?;
            Ok(run(&s, spec, h, &ops, &idx, &opts, counterexample))
        }
        SpecName::Append => {
            let (ops, idx) = append_ops(h)?;
            Ok(run(&AppendSpec, spec, h, &ops, &idx, &opts, counterexample))
        }
    }
}

fn run<S>(
    spec: &S,
    name: SpecName,
    h: &ParsedHistory,
    ops: &[Operation<S::Input, S::Output>],
    idx: &[usize],
    opts: &CheckOptions,
    counterexample: bool,
) -> HistoryCheck
where
    S: Spec + Sync,
    S::State: Send,
    S::Input: Sync,
    S::Output: Sync,
{
    let t0 = Instant::now();
    // Asked once: on Linux it reads cgroup files, which costs more than checking a small history.
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let threads =
        *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let res = check_operations_parallel(spec, ops, opts, threads);
    let elapsed_ms = t0.elapsed().as_secs_f64() * 1e3;
    let t1 = Instant::now();
    let violation = res.failure.as_ref().map(|f| {
        let cx = counterexample.then(|| minimal_counterexample(spec, ops, f, SHRINK_STEPS));
        Violation {
            key: f.partition.clone(),
            partition_ops: f.ops.iter().map(|&i| idx[i]).collect(),
            counterexample: cx
                .as_ref()
                .map(|c| c.ops.iter().map(|&i| idx[i]).collect())
                .unwrap_or_default(),
            minimal: cx.is_some_and(|c| c.minimal),
            longest_prefix: f.longest_prefix.iter().map(|&i| idx[i]).collect(),
            stuck: idx[f.stuck_op],
        }
    });
    HistoryCheck {
        verdict: res.verdict,
        spec: name,
        ops: h.ops.clone(),
        checked: ops.len(),
        partitions: res.partitions,
        elapsed_ms,
        counterexample_ms: t1.elapsed().as_secs_f64() * 1e3,
        steps: res.steps,
        violation,
    }
}

/// Porcupine's kv histories use get/put/append on strings; Faultline's list-append histories use
/// read/append, reads returning lists.
fn infer_spec(ops: &[HistOp]) -> SpecName {
    let has = |f: OpF| ops.iter().any(|o| o.f == f);
    if has(OpF::Get) || has(OpF::Put) {
        SpecName::Kv
    } else if has(OpF::Append) {
        SpecName::Append
    } else if ops.iter().any(|o| o.f == OpF::Cas) {
        SpecName::CasRegister
    } else {
        SpecName::Register
    }
}

fn op_err(h: &ParsedHistory, op: &HistOp, message: String) -> FormatError {
    FormatError {
        file: h.file.clone(),
        line: op.invoke_line,
        message,
    }
}

type RegOps = (Vec<Operation<RegisterInput, RegisterOutput>>, Vec<usize>);

fn register_ops(h: &ParsedHistory, cas: bool) -> Result<RegOps, FormatError> {
    let mut out = Vec::with_capacity(h.ops.len());
    let mut idx = Vec::with_capacity(h.ops.len());
    for (i, op) in h.ops.iter().enumerate() {
        let input_op = match op.f {
            OpF::Read => RegisterOp::Read,
            OpF::Write => RegisterOp::Write(op.arg.clone()),
            OpF::Cas if cas => RegisterOp::Cas(op.arg.clone(), op.arg2.clone()),
            OpF::Cas => {
                return Err(op_err(
                    h,
                    op,
                    "cas in a register history (use --spec cas-register)".into(),
                ))
            }
            f => {
                return Err(op_err(
                    h,
                    op,
                    format!(
                        "{} is a kv op, not a register op (use --spec kv)",
                        f.as_str()
                    ),
                ))
            }
        };
        let input = RegisterInput {
            key: op.key.as_deref().map(Arc::from),
            op: input_op,
        };
        let output = match (op.status, op.f) {
            (Status::Fail, OpF::Cas) if h.semantics.fail_cas_observes => {
                Some(RegisterOutput::CasFailed)
            }
            (Status::Fail, _) => continue,
            (Status::Info, _) => None,
            (Status::Ok, OpF::Read) if op.result.is_none() && h.semantics.nil_read_any => {
                Some(RegisterOutput::ReadAny)
            }
            (Status::Ok, OpF::Read) => Some(RegisterOutput::Read(op.result.clone())),
            (Status::Ok, _) => Some(RegisterOutput::Ok),
        };
        out.push(Operation {
            input,
            output,
            call: op.call,
            ret: op.ret,
        });
        idx.push(i);
    }
    Ok((out, idx))
}

type KvOps = (Vec<Operation<KvInput, KvOutput>>, Vec<usize>);

fn kv_ops(h: &ParsedHistory) -> Result<KvOps, FormatError> {
    let mut out = Vec::with_capacity(h.ops.len());
    let mut idx = Vec::with_capacity(h.ops.len());
    for (i, op) in h.ops.iter().enumerate() {
        let Some(key) = &op.key else {
            return Err(op_err(h, op, "kv op without a key".into()));
        };
        let arg = || {
            op.arg
                .clone()
                .ok_or_else(|| op_err(h, op, format!("{} of nil", op.f.as_str())))
        };
        let kop = match op.f {
            OpF::Get | OpF::Read => KvOp::Get,
            OpF::Put | OpF::Write => KvOp::Put(arg()?),
            OpF::Append => KvOp::Append(arg()?),
            OpF::Cas => {
                return Err(op_err(
                    h,
                    op,
                    "cas is not a kv op (use --spec cas-register)".into(),
                ))
            }
        };
        let output = match (op.status, op.f.is_read()) {
            (Status::Fail, _) => continue,
            (Status::Info, _) => None,
            (Status::Ok, true) if op.result.is_none() && h.semantics.nil_read_any => {
                Some(KvOutput::GetAny)
            }
            (Status::Ok, true) => Some(KvOutput::Get(op.result.clone())),
            (Status::Ok, false) => Some(KvOutput::Ok),
        };
        out.push(Operation {
            input: KvInput {
                key: Arc::from(key.as_str()),
                op: kop,
            },
            output,
            call: op.call,
            ret: op.ret,
        });
        idx.push(i);
    }
    Ok((out, idx))
}

type AppendOps = (Vec<Operation<AppendInput, AppendOutput>>, Vec<usize>);

/// A list element as the spec compares it: a JSON value's text (a string's content).
fn elem_of(v: &Value) -> Elem {
    crate::formats::val_from_json(v).unwrap_or_else(|| Elem::from("null"))
}

/// Reads return a JSON array (null: the key was never appended to, the same as `[]`); appends
/// carry the element.
fn append_ops(h: &ParsedHistory) -> Result<AppendOps, FormatError> {
    let mut out = Vec::with_capacity(h.ops.len());
    let mut idx = Vec::with_capacity(h.ops.len());
    for (i, op) in h.ops.iter().enumerate() {
        let Some(key) = &op.key else {
            return Err(op_err(h, op, "list-append op without a key".into()));
        };
        let aop = match op.f {
            OpF::Read => AppendOp::Read,
            OpF::Append => match &op.arg {
                Some(e) => AppendOp::Append(e.clone()),
                None => return Err(op_err(h, op, "append of nil".into())),
            },
            f => {
                return Err(op_err(
                    h,
                    op,
                    format!(
                        "{} is not a list-append op (expected read or append; use --spec {})",
                        f.as_str(),
                        if f == OpF::Cas {
                            "cas-register"
                        } else {
                            "register or kv"
                        }
                    ),
                ))
            }
        };
        let output = match (op.status, &aop) {
            (Status::Fail, _) => continue,
            (Status::Info, _) => None,
            (Status::Ok, AppendOp::Append(_)) => Some(AppendOutput::Ok),
            (Status::Ok, AppendOp::Read) => {
                let list: Vec<Elem> = match &op.result {
                    None => Vec::new(),
                    Some(text) => match serde_json::from_str::<Value>(text) {
                        Ok(Value::Array(a)) => a.iter().map(elem_of).collect(),
                        _ => {
                            return Err(FormatError {
                                file: h.file.clone(),
                                line: op.complete_line.unwrap_or(op.invoke_line),
                                message: format!(
                                    "a read in a list-append history returned {text}, not a list"
                                ),
                            })
                        }
                    },
                };
                Some(AppendOutput::Read(list.into()))
            }
        };
        out.push(Operation {
            input: AppendInput {
                key: Arc::from(key.as_str()),
                op: aop,
            },
            output,
            call: op.call,
            ret: op.ret,
        });
        idx.push(i);
    }
    Ok((out, idx))
}

fn show(v: &Val) -> Value {
    match v {
        None => Value::Null,
        Some(s) => serde_json::from_str::<Value>(s)
            .ok()
            .filter(|v| !v.is_string())
            .unwrap_or_else(|| Value::String(s.to_string())),
    }
}

/// An op as a JSON object: `process`, `type`, `f`, `key`, `value` (the argument; a read's
/// result; a cas's `[from, to]`), `call`, `return` and the source `line`s.
pub fn op_json(op: &HistOp) -> Value {
    let value = match op.f {
        OpF::Cas => json!([show(&op.arg), show(&op.arg2)]),
        f if f.is_read() => show(&op.result),
        _ => show(&op.arg),
    };
    let process = op
        .process
        .parse::<u64>()
        .map(Value::from)
        .unwrap_or_else(|_| Value::from(op.process.clone()));
    json!({
        "process": process,
        "type": op.status,
        "f": op.f,
        "key": op.key,
        "value": value,
        "call": op.call,
        "return": op.ret,
        "line": op.invoke_line,
        "complete_line": op.complete_line,
    })
}

/// An op in one line: `p3 cas(1, 2) -> fail [line 12]`.
pub fn describe(op: &HistOp) -> String {
    let v = |v: &Val| crate::spec::show_val(v);
    let key = op
        .key
        .as_ref()
        .map(|k| format!("[{k}]"))
        .unwrap_or_default();
    let body = match op.f {
        OpF::Read | OpF::Get => format!("{}{key}", op.f.as_str()),
        OpF::Cas => format!("cas{key}({}, {})", v(&op.arg), v(&op.arg2)),
        f => format!("{}{key}({})", f.as_str(), v(&op.arg)),
    };
    let outcome = match (op.status, op.f.is_read()) {
        (Status::Ok, true) => format!(" -> {}", v(&op.result)),
        (Status::Ok, false) => " -> ok".into(),
        (Status::Fail, _) => " -> fail".into(),
        (Status::Info, _) => " -> ?".into(),
    };
    format!("p{} {body}{outcome} [line {}]", op.process, op.invoke_line)
}
