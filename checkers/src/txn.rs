//! Atomic commitment (2PC, 3PC): `atomicity` and `blocking`, over the facts participants report.
//!
//! The vocabulary (observation kinds, each with a numeric `txn` field):
//! - `begin` (coordinator): `{"txn", "participants": [node ids]}` — the transaction's participants.
//! - `prepared` (participant): `{"txn", "keys": [..]}` — it voted yes and holds the keys' locks.
//! - `committed` / `aborted` (participant): it applied the outcome and released the locks.
//! - `participant-start` (participant, at every (re)start): `{"in_doubt": [txn ids]}` — what it
//!   recovered from its disk; a prepared transaction missing from it was forgotten.
//! - `coordinator` (coordinator, at every (re)start).
use crate::finding::{Finding, FindingKind};
use crate::observation::Observation;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

fn txn_of(o: &Observation) -> Option<u64> {
    o.u64("txn")
}

fn names(nodes: &BTreeSet<usize>) -> String {
    let v: Vec<String> = nodes.iter().map(|n| format!("n{n}")).collect();
    v.join(",")
}

/// `atomicity`: no transaction commits at one participant and aborts at another, and none
/// commits anywhere unless every participant named in its `begin` voted yes (`prepared`) first.
///
/// ```
/// use faultline_checkers::{txn::check_atomicity, Observation};
/// use serde_json::json;
/// let log = vec![
///     Observation::new(1, 1, "committed", json!({"txn": 7})),
///     Observation::new(2, 2, "aborted", json!({"txn": 7})),
/// ];
/// assert_eq!(check_atomicity(&log).len(), 1);
/// ```
pub fn check_atomicity(obs: &[Observation]) -> Vec<Finding> {
    #[derive(Default)]
    struct Txn {
        participants: BTreeSet<usize>,
        yes: BTreeSet<usize>,
        committed: BTreeSet<usize>,
        aborted: BTreeSet<usize>,
        /// When the first commit was applied, and whether every participant had voted yes then.
        first_commit: Option<(u64, BTreeSet<usize>)>,
    }
    let mut txns: BTreeMap<u64, Txn> = BTreeMap::new();
    for o in obs {
        let Some(id) = txn_of(o) else { continue };
        let t = txns.entry(id).or_default();
        match o.kind.as_str() {
            "begin" => {
                if let Some(ps) = o.data.get("participants").and_then(Value::as_array) {
                    t.participants = ps
                        .iter()
                        .filter_map(Value::as_u64)
                        .map(|p| p as usize)
                        .collect();
                }
            }
            "prepared" => {
                t.yes.insert(o.node);
            }
            "committed" => {
                if t.first_commit.is_none() {
                    t.first_commit = Some((o.at_ns, t.yes.clone()));
                }
                t.committed.insert(o.node);
            }
            "aborted" => {
                t.aborted.insert(o.node);
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (id, t) in &txns {
        if !t.committed.is_empty() && !t.aborted.is_empty() {
            let at = obs
                .iter()
                .filter(|o| {
                    txn_of(o) == Some(*id) && (o.kind == "committed" || o.kind == "aborted")
                })
                .map(Observation::at_ms)
                .max()
                .unwrap_or(0);
            out.push(
                Finding::new(
                    "atomicity",
                    FindingKind::Safety,
                    format!(
                        "txn {id} committed at {} but aborted at {}",
                        names(&t.committed),
                        names(&t.aborted)
                    ),
                )
                .at_ms(at)
                .detail(json!({"txn": id, "committed": t.committed, "aborted": t.aborted})),
            );
        }
        if let Some((at, yes)) = &t.first_commit {
            let missing: BTreeSet<usize> = t.participants.difference(yes).copied().collect();
            if !missing.is_empty() {
                out.push(
                    Finding::new(
                        "atomicity",
                        FindingKind::Safety,
                        format!(
                            "txn {id} committed without a yes-vote from {}",
                            names(&missing)
                        ),
                    )
                    .at_ms(at / 1_000_000)
                    .detail(json!({"txn": id, "missing_votes": missing})),
                );
            }
        }
    }
    out
}

/// Total length of `[from, to)` covered by some window of `inside` and by no window of `outside`.
fn covered(from: u64, to: u64, inside: &[(u64, u64)], outside: &[(u64, u64)]) -> u64 {
    let mut cuts: Vec<u64> = vec![from, to];
    for &(a, b) in inside.iter().chain(outside) {
        cuts.extend([a.clamp(from, to), b.clamp(from, to)]);
    }
    cuts.sort_unstable();
    cuts.dedup();
    let within = |ws: &[(u64, u64)], t: u64| ws.iter().any(|&(a, b)| a <= t && t < b);
    cuts.windows(2)
        .filter(|w| within(inside, w[0]) && !within(outside, w[0]))
        .map(|w| w[1] - w[0])
        .sum()
}

/// `blocking`: a participant in doubt (voted yes, outcome unknown), holding its locks, for longer
/// than `threshold_ns` while the coordinator was down (and the participant itself up). `down`
/// maps a node to the windows `[start, end)` in which it was crashed or paused; the coordinator
/// is the node of the `coordinator` observations. One finding per transaction, with its blocked
/// participants, their locks and the longest blocked time; `end_ns` closes windows still open.
///
/// ```
/// use faultline_checkers::{txn::check_blocking, Observation};
/// use serde_json::json;
/// use std::collections::BTreeMap;
/// let log = vec![
///     Observation::new(0, 0, "coordinator", json!({})),
///     Observation::new(1_000_000, 1, "prepared", json!({"txn": 1, "keys": ["k1"]})),
/// ];
/// let down = BTreeMap::from([(0, vec![(2_000_000, 5_000_000_000)])]);
/// assert_eq!(check_blocking(&log, &down, 1_000_000_000, 6_000_000_000).len(), 1);
/// ```
pub fn check_blocking(
    obs: &[Observation],
    down: &BTreeMap<usize, Vec<(u64, u64)>>,
    threshold_ns: u64,
    end_ns: u64,
) -> Vec<Finding> {
    let Some(coord) = obs.iter().find(|o| o.kind == "coordinator").map(|o| o.node) else {
        return vec![];
    };
    let none = Vec::new();
    let coord_down = down.get(&coord).unwrap_or(&none);
    /// One transaction's blocked participants (→ longest blocked ns, since ns) and locks.
    type Blocked = (BTreeMap<usize, (u64, u64)>, BTreeSet<String>);
    let mut blocked: BTreeMap<u64, Blocked> = BTreeMap::new();
    for (i, o) in obs.iter().enumerate() {
        if o.kind != "prepared" || o.node == coord {
            continue;
        }
        let Some(id) = txn_of(o) else { continue };
        let ends = obs[i + 1..].iter().find(|e| {
            e.node == o.node
                && match e.kind.as_str() {
                    "committed" | "aborted" => txn_of(e) == Some(id),
                    "participant-start" => !e
                        .data
                        .get("in_doubt")
                        .and_then(Value::as_array)
                        .is_some_and(|l| l.iter().any(|t| t.as_u64() == Some(id))),
                    _ => false,
                }
        });
        let to = ends.map_or(end_ns, |e| e.at_ns);
        let own_down = down.get(&o.node).unwrap_or(&none);
        let ns = covered(o.at_ns, to, coord_down, own_down);
        if ns <= threshold_ns {
            continue;
        }
        let entry = blocked.entry(id).or_default();
        let slot = entry.0.entry(o.node).or_insert((0, o.at_ns));
        slot.0 = slot.0.max(ns);
        if let Some(keys) = o.data.get("keys").and_then(Value::as_array) {
            entry
                .1
                .extend(keys.iter().filter_map(Value::as_str).map(str::to_string));
        }
    }
    blocked
        .into_iter()
        .map(|(id, (parts, locks))| {
            let longest = parts.values().map(|p| p.0).max().unwrap_or(0);
            let from = parts.values().map(|p| p.1).min().unwrap_or(0);
            let nodes: BTreeSet<usize> = parts.keys().copied().collect();
            let ms = (longest / 1_000_000) as f64;
            Finding::new(
                "blocking",
                FindingKind::Liveness,
                format!(
                    "txn {id}: {} in doubt holding locks on {} for {ms:.0} ms while the coordinator n{coord} was down",
                    names(&nodes),
                    locks.iter().cloned().collect::<Vec<_>>().join(",")
                ),
            )
            .at_ms(from / 1_000_000)
            .value(ms)
            .detail(json!({
                "txn": id,
                "participants": nodes,
                "locks": locks,
                "duration_ms": ms,
                "coordinator": coord,
                "since_ms": from / 1_000_000,
            }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(ms: u64, node: usize, kind: &str, data: Value) -> Observation {
        Observation::new(ms * 1_000_000, node, kind, data)
    }

    fn clean_commit() -> Vec<Observation> {
        vec![
            o(0, 0, "coordinator", json!({})),
            o(1, 0, "begin", json!({"txn": 1, "participants": [1, 2]})),
            o(2, 1, "prepared", json!({"txn": 1, "keys": ["k1"]})),
            o(2, 2, "prepared", json!({"txn": 1, "keys": ["k2"]})),
            o(4, 1, "committed", json!({"txn": 1})),
            o(5, 2, "committed", json!({"txn": 1})),
        ]
    }

    #[test]
    fn a_clean_commit_is_atomic() {
        assert!(check_atomicity(&clean_commit()).is_empty());
    }

    #[test]
    fn commit_at_one_abort_at_another_is_flagged() {
        let mut log = clean_commit();
        log[5] = o(5, 2, "aborted", json!({"txn": 1}));
        let f = check_atomicity(&log);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].checker, "atomicity");
        assert!(f[0].message.contains("committed at n1 but aborted at n2"));
    }

    #[test]
    fn commit_without_every_yes_vote_is_flagged() {
        let mut log = clean_commit();
        log.remove(3);
        let f = check_atomicity(&log);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].message.contains("without a yes-vote from n2"));
    }

    #[test]
    fn in_doubt_while_the_coordinator_is_down_blocks() {
        let log: Vec<Observation> = clean_commit().into_iter().take(4).collect();
        let down = BTreeMap::from([(0, vec![(3_000_000, 4_003_000_000)])]);
        let f = check_blocking(&log, &down, 1_000_000_000, 9_000_000_000);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].checker, "blocking");
        let d = f[0].detail.as_ref().unwrap();
        assert_eq!(d["participants"], json!([1, 2]));
        assert_eq!(d["locks"], json!(["k1", "k2"]));
        assert_eq!(d["duration_ms"], json!(4000.0));
        assert!(f[0]
            .message
            .contains("n1,n2 in doubt holding locks on k1,k2 for 4000 ms"));
    }

    #[test]
    fn a_short_outage_or_a_decided_txn_does_not_block() {
        let down = BTreeMap::from([(0, vec![(3_000_000, 500_000_000)])]);
        let log: Vec<Observation> = clean_commit().into_iter().take(4).collect();
        assert!(check_blocking(&log, &down, 1_000_000_000, 9_000_000_000).is_empty());
        // Decided before the long outage: nothing was in doubt.
        let down = BTreeMap::from([(0, vec![(6_000_000, 9_000_000_000)])]);
        assert!(check_blocking(&clean_commit(), &down, 1_000_000_000, 9_000_000_000).is_empty());
    }

    #[test]
    fn a_participant_that_is_down_itself_is_not_blocked() {
        let log: Vec<Observation> = clean_commit().into_iter().take(4).collect();
        let down = BTreeMap::from([
            (0, vec![(3_000_000, 4_003_000_000)]),
            (1, vec![(3_000_000, 4_003_000_000)]),
            (2, vec![(3_000_000, 4_003_000_000)]),
        ]);
        assert!(check_blocking(&log, &down, 1_000_000_000, 9_000_000_000).is_empty());
    }
}
