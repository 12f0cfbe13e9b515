//! The wire protocol: client requests, replica reads and writes, hinted handoff, anti-entropy.
use super::store::{Version, Versioned};
use faultline::Invocation;
use serde_json::Value;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Msg {
    /// Client → any node, which coordinates the operation.
    Request {
        id: u64,
        op: Invocation,
    },
    Reply {
        id: u64,
        result: Result<Value, String>,
    },
    /// Coordinator → replica (or fallback, holding it for `hint_for`). `req` 0: a repair, no ack.
    Put {
        req: u64,
        key: String,
        item: Versioned,
        hint_for: Option<usize>,
    },
    PutAck {
        req: u64,
    },
    Get {
        req: u64,
        key: String,
    },
    GetReply {
        req: u64,
        item: Option<Versioned>,
    },
    /// Hint holder → the replica it stands in for.
    Handoff {
        key: String,
        item: Versioned,
    },
    HandoffAck {
        key: String,
        version: Version,
    },
    /// Anti-entropy: the sender's versions of the keys both nodes replicate.
    Digest {
        versions: Vec<(String, Version)>,
    },
    /// Anti-entropy: newer items for the receiver, and keys the sender wants back.
    Sync {
        items: Vec<(String, Versioned)>,
        want: Vec<String>,
    },
    /// The harness's final inspection (`Protocol::inspect`): what do you hold of these keys?
    Inspect {
        keys: Vec<String>,
    },
    /// The answer: each of the keys this node replicates, with its value (null: none yet).
    State {
        values: std::collections::BTreeMap<String, Value>,
    },
}
