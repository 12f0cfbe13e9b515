//! Histories in Jepsen's semantics: plain data shared by the recorder, the readers of external
//! formats and every checker.
//!
//! A history is a sequence of events. Each logical client `process` is sequential: it issues an
//! `invoke`, then exactly one completion — `ok` (took effect, with its result), `fail` (certainly
//! did not take effect) or `info` (unknown: it may take effect at any later time, or never). A
//! process that got `info` never issues another operation.
//!
//! ```
//! use faultline_checkers::history::{Event, EventType, History};
//! use serde_json::json;
//! let mut h = History::default();
//! h.push(Event::invoke(0, "write", Some("k"), json!(1), 10));
//! h.push(Event::complete(0, EventType::Ok, "write", Some("k"), json!(1), 20));
//! assert_eq!(h.events.len(), 2);
//! ```
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What an event says about its operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Invoke,
    Ok,
    Fail,
    Info,
}

/// One line of a history (docs/reference.md's JSONL form).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub process: u64,
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The operation's function: `read`, `write`, `cas`, `get`, `put`, `append`, ...
    pub f: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Input on `invoke`; result on `ok` (e.g. the value read). `cas` uses `[from, to]`.
    #[serde(default)]
    pub value: Value,
    pub time_ns: u64,
    /// Why a `fail` or `info` completion did not succeed, as the client call said (the text of
    /// its `Fail` or `Unknown`). Absent on invocations, on `ok` and in histories written before
    /// the field existed; never part of a run's fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Event {
    pub fn invoke(process: u64, f: &str, key: Option<&str>, value: Value, time_ns: u64) -> Self {
        Event {
            process,
            kind: EventType::Invoke,
            f: f.to_string(),
            key: key.map(str::to_string),
            value,
            time_ns,
            error: None,
        }
    }

    pub fn complete(
        process: u64,
        kind: EventType,
        f: &str,
        key: Option<&str>,
        value: Value,
        time_ns: u64,
    ) -> Self {
        Event {
            process,
            kind,
            f: f.to_string(),
            key: key.map(str::to_string),
            value,
            time_ns,
            error: None,
        }
    }

    /// The same completion with the reason it did not succeed.
    ///
    /// ```
    /// use faultline_checkers::history::{Event, EventType};
    /// let e = Event::complete(0, EventType::Fail, "read", Some("k"), serde_json::Value::Null, 5)
    ///     .with_error("not the leader");
    /// assert_eq!(e.error.as_deref(), Some("not the leader"));
    /// ```
    pub fn with_error(mut self, error: impl Into<String>) -> Self {
        self.error = Some(error.into());
        self
    }
}

/// An ordered list of events.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub events: Vec<Event>,
}

impl History {
    pub fn push(&mut self, e: Event) {
        self.events.push(e);
    }

    /// One JSON object per line, as `faultline check-history --format jsonl` reads it.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        for e in &self.events {
            out.push_str(&serde_json::to_string(e).expect("events serialize"));
            out.push('\n');
        }
        out
    }
}
