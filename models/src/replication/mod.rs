//! Epoch-fenced primary-backup replication of a log, shared by the models that replicate a
//! state machine this way (`primary-backup` over all nodes, `sharded-kv` once per shard group
//! and for its config group).
//!
//! One primary orders every operation in a log and streams it to the group's other members; an
//! entry commits once a majority of the group holds it durably (fsynced), and only then is it
//! applied and answered. When members stop hearing from the primary, one of them runs a failover
//! round in a higher **epoch** (the fencing token): a majority promises not to accept the old
//! epoch any more and sends its log; the candidate adopts the most up-to-date one (highest epoch
//! in which it was accepted, then the longest — Viewstamped Replication's rule) and installs it
//! on the followers before serving.
//!
//! The replica is generic over the node's message type (anything a [`Msg`] converts into) and
//! over the [`StateMachine`] the log drives; the node loop owns the context and feeds the
//! replica its messages and timeouts.
mod replica;
mod store;

pub use replica::{Flaw, Replica, POINTS};

use faultline::Invocation;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One replicated operation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The epoch of the primary that appended it.
    pub epoch: u64,
    /// The client operation id (answers are matched on it).
    pub op_id: u64,
    pub client: usize,
    pub f: String,
    pub key: String,
    pub value: Value,
}

/// What a log's entries do once committed.
pub trait StateMachine {
    /// Applies one committed entry; the result answers the client waiting on it.
    fn apply(&mut self, e: &Entry) -> Result<Value, String>;
    /// Forgets everything: a new epoch's log is replayed from its start.
    fn reset(&mut self);
    /// A key's value as this replica has applied it (for reads that skip the log: a bug).
    fn read_local(&self, key: &str) -> Value;
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Msg {
    Request {
        id: u64,
        op: Invocation,
    },
    Reply {
        id: u64,
        result: Result<Value, String>,
    },
    NotPrimary {
        id: u64,
        hint: Option<usize>,
    },
    Prepare {
        epoch: u64,
    },
    PrepareOk {
        epoch: u64,
        normal: u64,
        log: Vec<Entry>,
    },
    Append {
        epoch: u64,
        start: usize,
        entries: Vec<Entry>,
        commit: usize,
    },
    AppendOk {
        epoch: u64,
        len: usize,
    },
    /// The follower needs the whole log (it has not joined this epoch yet, or it is behind).
    AppendNeed {
        epoch: u64,
        from: usize,
    },
    /// The follower has promised a higher epoch: the sender is deposed.
    Deposed {
        epoch: u64,
    },
}
