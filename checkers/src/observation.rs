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

/// The field an effect observation carries to name the effect, unique per node and kind (a
/// ledger index, a log record's position).
pub const EFFECT_ID: &str = "id";

/// The observations with every repeated report of one effect left out: an observation that
/// carries an [`EFFECT_ID`] already seen from the same node under the same kind is the same
/// effect reported again, and only the first report counts. A service reports an effect once
/// it is durable; a crash can cut that report off while the effect survives on its disk (a
/// process crash keeps the page cache), so on recovery it reports again every effect it finds
/// durable, not knowing which reports went out. Observations without an id all count.
///
/// ```
/// use faultline_checkers::{observation::distinct_effects, Observation};
/// use serde_json::json;
/// let obs = vec![
///     Observation::new(1, 0, "charged", json!({"request": 4, "id": 0})),
///     // node 0 restarts and reports what its ledger holds: the same charge again
///     Observation::new(2, 0, "charged", json!({"request": 4, "id": 0})),
///     // a second charge for the same request is a distinct effect
///     Observation::new(3, 0, "charged", json!({"request": 4, "id": 1})),
/// ];
/// assert_eq!(distinct_effects(&obs).len(), 2);
/// ```
pub fn distinct_effects(obs: &[Observation]) -> Vec<&Observation> {
    let mut seen = std::collections::BTreeSet::new();
    obs.iter()
        .filter(|o| match o.data.get(EFFECT_ID) {
            Some(id) => seen.insert((o.node, o.kind.as_str(), id.to_string())),
            None => true,
        })
        .collect()
}
