//! Atomic commitment (2PC, 3PC): `atomicity` and `blocking`, over the facts participants report.
//!
//! The vocabulary (observation kinds, each with a numeric `txn` field):
//! - `begin` (coordinator): `{"txn", "participants": [node ids]}` — the transaction's participants.
//! - `prepared` (participant): `{"txn", "keys": [..]}` — it voted yes and holds the keys' locks.
//! - `committed` / `aborted` (participant): it applied the outcome and released the locks.
//! - `participant-start` (participant, at every (re)start): `{"in_doubt": [txn ids]}` — what it
//!   recovered from its disk; a prepared transaction missing from it was forgotten.
//! - `coordinator` (coordinator, at every (re)start).
use crate::cap::PartitionWindow;
use crate::finding::{Finding, FindingKind};
use crate::history::{EventType, History};
use crate::observation::Observation;
use crate::ops::pair;
use crate::requirements::{FieldType, Needed, Requirement};
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

/// Whether `a` and `b` are on different sides of partition `w` (a node in no group is cut off
/// from nobody).
fn cut(w: &PartitionWindow, a: usize, b: usize) -> bool {
    let side = |n| w.groups.iter().position(|g| g.contains(&n));
    matches!((side(a), side(b)), (Some(x), Some(y)) if x != y)
}

/// Why a participant in doubt waits: the windows of each cause, `[start, end)` in ns.
struct Causes {
    coordinator_down: Vec<(u64, u64)>,
    cut_off: Vec<(u64, u64)>,
    undecided: Vec<(u64, u64)>,
}

/// `blocking`: a participant in doubt (voted yes, outcome unknown), holding its locks, for longer
/// than `threshold_ns` while it could not learn the outcome: the coordinator was down (crashed or
/// paused: `down` maps a node to its windows `[start, end)`), a partition cut it off from the
/// coordinator and from every peer that knew the outcome, or the coordinator, alive, had not
/// decided (no `decided` observation for the transaction yet). Time the participant was down
/// itself does not count. The coordinator is the node of the `coordinator` observations. One
/// finding per transaction, with its blocked participants, their locks, the longest blocked time
/// and its causes; `end_ns` closes windows still open.
///
/// ```
/// use faultline_checkers::{txn::check_blocking, Observation};
/// use serde_json::json;
/// use std::collections::BTreeMap;
/// let log = vec![
///     Observation::new(0, 0, "coordinator", json!({})),
///     Observation::new(1_000_000, 1, "prepared", json!({"txn": 1, "keys": ["k1"]})),
///     Observation::new(1_500_000, 0, "decided", json!({"txn": 1, "commit": true})),
/// ];
/// let down = BTreeMap::from([(0, vec![(2_000_000, 5_000_000_000)])]);
/// assert_eq!(check_blocking(&log, &down, &[], 1_000_000_000, 6_000_000_000).len(), 1);
/// ```
pub fn check_blocking(
    obs: &[Observation],
    down: &BTreeMap<usize, Vec<(u64, u64)>>,
    partitions: &[PartitionWindow],
    threshold_ns: u64,
    end_ns: u64,
) -> Vec<Finding> {
    check_blocking_with(obs, down, partitions, threshold_ns, end_ns, false)
}

/// [`check_blocking`], and with `recovered_may_wait` a participant's doubt stops counting when
/// the participant itself crashes: Skeen's non-blocking property (3PC) is about operational
/// sites; a site that recovers in doubt may not decide alone (the coordinator may have committed
/// past its silence) and must wait to learn the outcome. The liveness phase still requires that
/// outcome after the heal.
pub fn check_blocking_with(
    obs: &[Observation],
    down: &BTreeMap<usize, Vec<(u64, u64)>>,
    partitions: &[PartitionWindow],
    threshold_ns: u64,
    end_ns: u64,
    recovered_may_wait: bool,
) -> Vec<Finding> {
    let Some(coord) = obs.iter().find(|o| o.kind == "coordinator").map(|o| o.node) else {
        return vec![];
    };
    let none = Vec::new();
    let coord_down = down.get(&coord).unwrap_or(&none);
    // txn -> when the coordinator decided it; txn -> node -> when that node learned the outcome.
    let mut decided: BTreeMap<u64, u64> = BTreeMap::new();
    let mut knows: BTreeMap<u64, BTreeMap<usize, u64>> = BTreeMap::new();
    for o in obs {
        let Some(id) = txn_of(o) else { continue };
        match o.kind.as_str() {
            "decided" if o.node == coord => {
                decided.entry(id).or_insert(o.at_ns);
            }
            "committed" | "aborted" => {
                knows
                    .entry(id)
                    .or_default()
                    .entry(o.node)
                    .or_insert(o.at_ns);
            }
            _ => {}
        }
    }
    /// One transaction's blocked participants (→ longest blocked ns, since ns), locks, causes.
    type Blocked = (
        BTreeMap<usize, (u64, u64)>,
        BTreeSet<String>,
        BTreeSet<&'static str>,
    );
    let mut blocked: BTreeMap<u64, Blocked> = BTreeMap::new();
    let no_peers = BTreeMap::new();
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
        let mut to = ends.map_or(end_ns, |e| e.at_ns);
        let own_down = down.get(&o.node).unwrap_or(&none);
        if recovered_may_wait {
            let crash = own_down
                .iter()
                .map(|w| w.0)
                .filter(|&c| c > o.at_ns && c < to);
            if let Some(crash) = crash.min() {
                to = crash;
            }
        }
        let peers = knows.get(&id).unwrap_or(&no_peers);
        // Cut off: a partition separates it from the coordinator, and every peer on its side
        // learned the outcome only later (or never).
        let cut_off: Vec<(u64, u64)> = partitions
            .iter()
            .filter(|w| cut(w, o.node, coord))
            .map(|w| {
                let learned = peers
                    .iter()
                    .filter(|(&q, _)| q != o.node && !cut(w, o.node, q))
                    .map(|(_, &at)| at.max(w.start_ns))
                    .min()
                    .unwrap_or(w.end_ns);
                (w.start_ns, learned.min(w.end_ns))
            })
            .collect();
        let causes = Causes {
            coordinator_down: coord_down.clone(),
            cut_off,
            undecided: vec![(o.at_ns, decided.get(&id).copied().unwrap_or(end_ns))],
        };
        let inside: Vec<(u64, u64)> = causes
            .coordinator_down
            .iter()
            .chain(&causes.cut_off)
            .chain(&causes.undecided)
            .copied()
            .collect();
        let ns = covered(o.at_ns, to, &inside, own_down);
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
        for (name, ws) in [
            ("the coordinator was down", &causes.coordinator_down),
            (
                "a partition cut it off from the coordinator and every peer that knew the outcome",
                &causes.cut_off,
            ),
            ("the coordinator had not decided", &causes.undecided),
        ] {
            if covered(o.at_ns, to, ws, own_down) > 0 {
                entry.2.insert(name);
            }
        }
    }
    blocked
        .into_iter()
        .map(|(id, (parts, locks, causes))| {
            let longest = parts.values().map(|p| p.0).max().unwrap_or(0);
            let from = parts.values().map(|p| p.1).min().unwrap_or(0);
            let nodes: BTreeSet<usize> = parts.keys().copied().collect();
            let ms = (longest / 1_000_000) as f64;
            let causes: Vec<&str> = causes.into_iter().collect();
            Finding::new(
                "blocking",
                FindingKind::Liveness,
                format!(
                    "txn {id}: {} in doubt holding locks on {} for {ms:.0} ms while {} (coordinator n{coord})",
                    names(&nodes),
                    locks.iter().cloned().collect::<Vec<_>>().join(","),
                    causes.join(", or ")
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
                "causes": causes,
            }))
        })
        .collect()
}

/// What `atomicity` reads: who takes part (`begin`), who voted yes (`prepared`), who committed,
/// whenever some transaction committed; aborts are checked for shape only.
pub fn atomicity_requirements() -> Vec<Requirement> {
    let txn = |kind, needed| Requirement::new(kind, needed).field("txn", FieldType::U64);
    vec![
        txn("begin", Needed::AnyOk).field("participants", FieldType::Array),
        txn("prepared", Needed::AnyOk),
        txn("committed", Needed::AnyOk),
        txn("aborted", Needed::IfPresent),
    ]
}

/// What `blocking` reads: who the coordinator is and what participants recovered (at every
/// start), and the yes-votes with the keys they lock.
pub fn blocking_requirements() -> Vec<Requirement> {
    vec![
        Requirement::new("coordinator", Needed::Always),
        Requirement::new("participant-start", Needed::Always).field("in_doubt", FieldType::Array),
        Requirement::new("prepared", Needed::AnyOk)
            .field("txn", FieldType::U64)
            .field("keys", FieldType::Array),
        // Without it the coordinator counts as never having decided (blocking, not silence).
        Requirement::new("decided", Needed::IfPresent)
            .field("txn", FieldType::U64)
            .field("commit", FieldType::Any),
    ]
}

/// `client-outcome`: what clients were told matches what participants applied. Transactions
/// (`f: "txn"`, value `{"txn": id, "keys": [..]}`) write their id to each of their keys; the
/// final reads (processes from `final_process_base` on, `f: "read"`) return each participant's
/// data as `{key: [txn ids]}`. A transaction answered `ok` (committed) must be visible at every
/// one of its keys, one answered `fail` (aborted) at none, and one with no answer at all or none.
/// Judged only when every participant's data was read: one that could not be is a violation of
/// its own (an unread participant would make every transaction look lost or safe).
///
/// ```
/// use faultline_checkers::{history::*, txn::check_client_outcome};
/// use serde_json::json;
/// let mut h = History::default();
/// h.push(Event::invoke(0, "txn", None, json!({"txn": 1, "keys": ["k0", "k1"]}), 0));
/// h.push(Event::complete(0, EventType::Ok, "txn", None, json!({"txn": 1, "keys": ["k0", "k1"]}), 5));
/// h.push(Event::invoke(9, "read", Some("n1"), json!(null), 10));
/// h.push(Event::complete(9, EventType::Ok, "read", Some("n1"), json!({"k0": [1]}), 11));
/// // Told committed, but k1 never got the write.
/// assert_eq!(check_client_outcome(&h, 9).len(), 1);
/// ```
pub fn check_client_outcome(history: &History, final_process_base: u64) -> Vec<Finding> {
    let ops = pair(history);
    let mut data: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    let mut read: BTreeMap<String, bool> = BTreeMap::new();
    for o in ops
        .iter()
        .filter(|o| o.process >= final_process_base && o.f == "read")
    {
        let Some(node) = o.key.clone() else { continue };
        let ok = o.outcome == EventType::Ok && o.output.is_object();
        *read.entry(node).or_default() |= ok;
        if !ok {
            continue;
        }
        for (key, txns) in o.output.as_object().into_iter().flatten() {
            let ids = txns
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_u64);
            data.entry(key.clone()).or_default().extend(ids);
        }
    }
    let unread: Vec<&String> = read
        .iter()
        .filter(|(_, ok)| !**ok)
        .map(|(n, _)| n)
        .collect();
    if read.is_empty() || !unread.is_empty() {
        let what = if read.is_empty() {
            "no final read of the participants' data was made".to_string()
        } else {
            format!(
                "the final reads never got the data of {}",
                unread
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            )
        };
        return vec![Finding::new(
            "client-outcome",
            FindingKind::Safety,
            format!("{what}: what clients were told cannot be compared with what was applied"),
        )
        .detail(json!({"unread": unread}))];
    }
    let mut out = Vec::new();
    for o in ops.iter().filter(|o| o.f == "txn") {
        let Some(id) = o.input.get("txn").and_then(Value::as_u64) else {
            continue;
        };
        let keys: Vec<&str> = o
            .input
            .get("keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let (has, lacks): (Vec<&str>, Vec<&str>) = keys
            .iter()
            .partition(|k| data.get(**k).is_some_and(|t| t.contains(&id)));
        let told = match o.outcome {
            EventType::Ok => "committed",
            EventType::Fail => "aborted",
            _ => "nothing",
        };
        let wrong = match o.outcome {
            EventType::Ok => !lacks.is_empty(),
            EventType::Fail => !has.is_empty(),
            _ => !has.is_empty() && !lacks.is_empty(),
        };
        if !wrong {
            continue;
        }
        let at_ms = o.complete_ns.unwrap_or(o.invoke_ns) / 1_000_000;
        out.push(
            Finding::new(
                "client-outcome",
                FindingKind::Safety,
                format!(
                    "txn {id}: the client was told {told} (at {at_ms} ms), but after the heal its \
                     write is at {} and missing at {}",
                    if has.is_empty() {
                        "no key".to_string()
                    } else {
                        has.join(",")
                    },
                    if lacks.is_empty() {
                        "no key".to_string()
                    } else {
                        lacks.join(",")
                    },
                ),
            )
            .at_ms(at_ms)
            .detail(json!({"txn": id, "told": told, "visible": has, "missing": lacks})),
        );
    }
    out
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
            o(2, 0, "decided", json!({"txn": 1, "commit": true})),
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
        log[6] = o(5, 2, "aborted", json!({"txn": 1}));
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
        let log: Vec<Observation> = clean_commit().into_iter().take(5).collect();
        let down = BTreeMap::from([(0, vec![(3_000_000, 4_003_000_000)])]);
        let f = check_blocking(&log, &down, &[], 1_000_000_000, 9_000_000_000);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].checker, "blocking");
        let d = f[0].detail.as_ref().unwrap();
        assert_eq!(d["participants"], json!([1, 2]));
        assert_eq!(d["locks"], json!(["k1", "k2"]));
        assert_eq!(d["duration_ms"], json!(4000.0));
        assert!(f[0].message.contains(
            "n1,n2 in doubt holding locks on k1,k2 for 4000 ms while the coordinator was down"
        ));
    }

    #[test]
    fn a_recovered_site_may_wait_when_the_rule_says_so() {
        // n1 crashes in doubt at 10 ms and restarts in doubt at 50 ms; the coordinator is down
        // for 4 s. By 2PC's rule both participants block; by 3PC's (recovered sites may wait)
        // only n2, which stayed up, does.
        let mut log: Vec<Observation> = clean_commit().into_iter().take(5).collect();
        log.push(o(50, 1, "participant-start", json!({"in_doubt": [1]})));
        let down = BTreeMap::from([
            (0, vec![(3_000_000, 4_003_000_000)]),
            (1, vec![(10_000_000, 50_000_000)]),
        ]);
        let strict = check_blocking(&log, &down, &[], 1_000_000_000, 9_000_000_000);
        assert_eq!(
            strict[0].detail.as_ref().unwrap()["participants"],
            json!([1, 2])
        );
        let lenient = check_blocking_with(&log, &down, &[], 1_000_000_000, 9_000_000_000, true);
        assert_eq!(lenient.len(), 1, "{lenient:?}");
        assert_eq!(
            lenient[0].detail.as_ref().unwrap()["participants"],
            json!([2])
        );
    }

    #[test]
    fn a_short_outage_or_a_decided_txn_does_not_block() {
        let down = BTreeMap::from([(0, vec![(3_000_000, 500_000_000)])]);
        let log: Vec<Observation> = clean_commit().into_iter().take(5).collect();
        assert!(check_blocking(&log, &down, &[], 1_000_000_000, 9_000_000_000).is_empty());
        // Decided before the long outage: nothing was in doubt.
        let down = BTreeMap::from([(0, vec![(6_000_000, 9_000_000_000)])]);
        assert!(
            check_blocking(&clean_commit(), &down, &[], 1_000_000_000, 9_000_000_000).is_empty()
        );
    }

    fn txn(h: &mut History, p: u64, id: u64, kind: EventType) {
        let v = json!({"txn": id, "keys": ["k0", "k1"]});
        h.push(crate::history::Event::invoke(p, "txn", None, v.clone(), 0));
        h.push(crate::history::Event::complete(p, kind, "txn", None, v, 5));
    }

    fn state(h: &mut History, p: u64, node: &str, data: Value) {
        let ok = if data.is_null() {
            EventType::Info
        } else {
            EventType::Ok
        };
        h.push(crate::history::Event::invoke(
            p,
            "read",
            Some(node),
            Value::Null,
            10,
        ));
        h.push(crate::history::Event::complete(
            p,
            ok,
            "read",
            Some(node),
            data,
            11,
        ));
    }

    #[test]
    fn client_outcome_accepts_matching_data_and_flags_each_mismatch() {
        let mut h = History::default();
        txn(&mut h, 0, 1, EventType::Ok);
        txn(&mut h, 1, 2, EventType::Fail);
        txn(&mut h, 2, 3, EventType::Info); // unknown: all or nothing
        txn(&mut h, 3, 4, EventType::Info);
        state(&mut h, 10, "n1", json!({"k0": [1, 3]}));
        state(&mut h, 11, "n2", json!({"k1": [1, 3]}));
        assert!(check_client_outcome(&h, 10).is_empty());

        let mut h = History::default();
        txn(&mut h, 0, 1, EventType::Ok);
        txn(&mut h, 1, 2, EventType::Fail);
        txn(&mut h, 2, 3, EventType::Info);
        state(&mut h, 10, "n1", json!({"k0": [2, 3]}));
        state(&mut h, 11, "n2", json!({"k1": [1]}));
        let f = check_client_outcome(&h, 10);
        assert_eq!(f.len(), 3, "{f:?}");
        assert!(f[0]
            .message
            .contains("txn 1: the client was told committed"));
        assert!(f[0].message.contains("missing at k0"));
        assert!(f[1].message.contains("txn 2: the client was told aborted"));
        assert!(f[2].message.contains("txn 3: the client was told nothing"));
    }

    #[test]
    fn client_outcome_cannot_be_starved_of_the_final_reads() {
        let mut h = History::default();
        txn(&mut h, 0, 1, EventType::Ok);
        let f = check_client_outcome(&h, 10);
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("no final read"));
        state(&mut h, 10, "n1", json!({"k0": [1]}));
        state(&mut h, 11, "n2", Value::Null);
        let f = check_client_outcome(&h, 10);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message.contains("never got the data of n2"),
            "{}",
            f[0].message
        );
    }

    fn split(ms: (u64, u64), groups: Vec<Vec<usize>>) -> PartitionWindow {
        PartitionWindow {
            start_ns: ms.0 * 1_000_000,
            end_ns: ms.1 * 1_000_000,
            groups,
        }
    }

    #[test]
    fn a_participant_cut_off_from_everyone_who_knows_blocks() {
        let log: Vec<Observation> = clean_commit().into_iter().take(5).collect();
        // n2 alone for 3 s: neither the coordinator nor n1 (in doubt too) can tell it.
        let p = [split((3, 3003), vec![vec![0, 1], vec![2]])];
        let f = check_blocking(&log, &BTreeMap::new(), &p, 1_000_000_000, 9_000_000_000);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].detail.as_ref().unwrap()["participants"], json!([2]));
        assert_eq!(f[0].value, Some(3000.0));
        assert!(
            f[0].message.contains("a partition cut it off"),
            "{}",
            f[0].message
        );
        // A peer on its side that learned the outcome at 10 ms could have told it.
        let mut log = log;
        log.push(o(10, 3, "committed", json!({"txn": 1})));
        let p = [split((3, 3003), vec![vec![0, 1], vec![2, 3]])];
        assert!(
            check_blocking(&log, &BTreeMap::new(), &p, 1_000_000_000, 9_000_000_000).is_empty()
        );
    }

    #[test]
    fn a_live_coordinator_that_never_decides_blocks() {
        let log: Vec<Observation> = clean_commit().into_iter().take(4).collect();
        let f = check_blocking(&log, &BTreeMap::new(), &[], 1_000_000_000, 5_000_000_000);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].message.contains("the coordinator had not decided"));
        // Decided at once and told: nobody waited.
        assert!(check_blocking(
            &clean_commit(),
            &BTreeMap::new(),
            &[],
            1_000_000_000,
            5_000_000_000
        )
        .is_empty());
    }

    #[test]
    fn a_participant_that_is_down_itself_is_not_blocked() {
        let log: Vec<Observation> = clean_commit().into_iter().take(5).collect();
        let down = BTreeMap::from([
            (0, vec![(3_000_000, 4_003_000_000)]),
            (1, vec![(3_000_000, 4_003_000_000)]),
            (2, vec![(3_000_000, 4_003_000_000)]),
        ]);
        assert!(check_blocking(&log, &down, &[], 1_000_000_000, 9_000_000_000).is_empty());
    }
}
