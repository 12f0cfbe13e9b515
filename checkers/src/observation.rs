//! Facts a protocol's nodes report while they run ("leader of term 4", "committed index 17").
//! Protocol checkers (Raft safety, commit atomicity, ...) are pure functions over these and the
//! history.
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One fact reported by node `node` at simulated time `at_ns`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub at_ns: u64,
    pub node: usize,
    pub kind: String,
    pub data: Value,
}

impl Observation {
    /// An observation with `data` built from any serializable value.
    ///
    /// ```
    /// use faultline_checkers::Observation;
    /// let o = Observation::new(1_000_000, 2, "leader-elected", serde_json::json!({"term": 3}));
    /// assert_eq!(o.u64("term"), Some(3));
    /// ```
    pub fn new(at_ns: u64, node: usize, kind: &str, data: Value) -> Self {
        Observation {
            at_ns,
            node,
            kind: kind.to_string(),
            data,
        }
    }

    /// A numeric field of `data`.
    pub fn u64(&self, field: &str) -> Option<u64> {
        self.data.get(field).and_then(Value::as_u64)
    }

    /// The time in milliseconds, as findings report it.
    pub fn at_ms(&self) -> u64 {
        self.at_ns / 1_000_000
    }
}
