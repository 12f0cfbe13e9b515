//! A chain-replicated key-value store over TCP, written as for production: no Faultline in it.
//!
//! Servers form a fixed chain `0 -> 1 -> ... -> n-1`. Clients send writes (`write`, `cas`,
//! `append`) to the head, which logs them, makes them durable and streams them down the chain;
//! each server makes what it receives durable before passing it on, and the tail's durable log is
//! the commit point. The head answers a write once the tail holds it; reads go to the tail. Each
//! request carries the client's id and a request number, and the head remembers the last one per
//! client (rebuilt from the log after a restart), so a request retried after a timeout or on a
//! new connection is applied once.
//!
//! Everything runs as tasks: an accept loop, one task per connection, and a replication task that
//! keeps a connection to the next server (reconnecting with backoff, resending what the next
//! server lacks). Sockets, tasks and time come from [`rt`], the only file that differs between
//! production (tokio) and simulation (madsim); storage and telemetry are the traits below.
pub mod client;
pub mod codec;
pub mod rt;
pub mod server;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::future::Future;

/// The durable log a server keeps (a file in production).
pub trait Storage: 'static {
    /// Appends bytes (volatile until [`Storage::sync`]).
    fn append(&self, bytes: &[u8]);
    /// The log as it is now.
    fn read(&self) -> Vec<u8>;
    /// Replaces the log (recovery drops a torn last record this way).
    fn rewrite(&self, bytes: Vec<u8>);
    /// Makes everything written so far durable.
    fn sync(&self) -> impl Future<Output = ()>;
}

/// Where the service reports what happens to it (metrics and logs in production).
pub trait Events {
    fn event(&self, name: &str, detail: Value);
}

impl<T: Events + ?Sized> Events for std::rc::Rc<T> {
    fn event(&self, name: &str, detail: Value) {
        (**self).event(name, detail)
    }
}

/// One state-changing operation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// `write`, `cas` (value `[from, to]`) or `append`.
    pub f: String,
    pub key: String,
    pub value: Value,
}

/// One log record: the operation and the request it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub client: u64,
    pub req: u64,
    pub op: Op,
}

/// What travels on a connection, in both directions.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Frame {
    /// Client -> head: apply `op` once for request `req` of `client`.
    Write { client: u64, req: u64, op: Op },
    /// Client -> tail.
    Read { key: String },
    /// Server -> client: the operation's result (an `Err` is a definite no-op, e.g. a failed cas).
    Done(Result<Value, String>),
    /// Server -> client: not applied, and never will be (wrong server, superseded request).
    Rejected(String),
    /// Server -> client: not committed yet; it may still be. Retry the same request.
    Unavailable(String),
    /// Server i -> server i+1: the log from index `start` (0-based).
    Push { start: u64, entries: Vec<Entry> },
    /// Server i+1 -> server i: how much of the log it holds durably, and how much is committed.
    Status { have: u64, committed: u64 },
}

/// The store's state machine: what one committed operation does to the data.
pub fn apply(data: &mut BTreeMap<String, Value>, op: &Op) -> Result<Value, String> {
    match op.f.as_str() {
        "write" => {
            data.insert(op.key.clone(), op.value.clone());
            Ok(Value::Null)
        }
        "cas" => {
            let cur = data.get(&op.key).unwrap_or(&Value::Null);
            match op.value.as_array().map(Vec::as_slice) {
                Some([from, to]) if from == cur => {
                    data.insert(op.key.clone(), to.clone());
                    Ok(Value::Null)
                }
                Some([_, _]) => Err("cas mismatch".into()),
                _ => Err(format!("cas needs [from, to], got {}", op.value)),
            }
        }
        "append" => match data.entry(op.key.clone()).or_insert_with(|| json!([])) {
            Value::Array(list) => {
                list.push(op.value.clone());
                Ok(Value::Null)
            }
            other => Err(format!("append to {}, which holds {other}", op.key)),
        },
        other => Err(format!("unknown operation `{other}`")),
    }
}
