//! Raft's safety properties (Ongaro & Ousterhout, "In Search of an Understandable Consensus
//! Algorithm", Figure 3) as pure functions over the observations a Raft model reports.
//!
//! The observations these checkers read (any Raft implementation can report them):
//! - `leader-elected` `{"term": T}`, by the node that won term `T`;
//! - `committed` `{"index": I, "term": T, "digest": D, "chain": C}`, by a leader for every index
//!   its commit index moves past;
//! - `applied` `{"index": I, "term": T, "digest": D, "chain": C}`, by every node for every entry
//!   it applies to its state machine.
//!
//! `applied` also carries `op`: the client operation the entry holds, `{"f", "key", "value"}`
//! exactly as the history records its invocation (null for an entry with no client operation,
//! e.g. a new leader's empty entry). Write values are unique across a run, so `(f, key, value)`
//! names one client operation in both the history and the log; that is how
//! `raft-acked-applied` ties the answers clients got to the log, whatever ids the
//! implementation uses internally.
//!
//! `term` is the entry's term, `digest` identifies the entry's command and `chain` is a hash of
//! the whole log prefix up to and including index `I` (so two equal chains mean two equal
//! prefixes). Observations come in recording order (simulated time), which the checks rely on:
//! "later" means later in the slice.
//!
//! A write acknowledged to a client is covered by `raft-lost-commit` through its entry: a correct
//! leader answers only once the entry is committed, so losing an acknowledged write means losing
//! a committed entry, and the next entry committed at that index has a different digest. The
//! history-side half (an acknowledged write missing from the final reads) is `lost-write`.
use crate::finding::{Finding, FindingKind};
use crate::history::{EventType, History};
use crate::observation::Observation;
use crate::ops::pair;
use crate::requirements::{FieldType, Needed, Requirement};
use serde_json::json;
use std::collections::btree_map::Entry as Slot;
use std::collections::{BTreeMap, BTreeSet};

pub const ELECTION_SAFETY: &str = "raft-election-safety";
pub const LOG_MATCHING: &str = "raft-log-matching";
pub const STATE_MACHINE_SAFETY: &str = "raft-state-machine-safety";
pub const LOST_COMMIT: &str = "raft-lost-commit";
pub const ACKED_APPLIED: &str = "raft-acked-applied";
/// Every Raft checker's name.
pub const ALL: [&str; 5] = [
    ELECTION_SAFETY,
    LOG_MATCHING,
    STATE_MACHINE_SAFETY,
    LOST_COMMIT,
    ACKED_APPLIED,
];

/// A broken invariant usually cascades (every later index differs too): the first few findings
/// say what happened, the rest would only bury them.
const MAX_FINDINGS: usize = 5;

/// One log entry as an observation describes it, and who reported it when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seen {
    index: u64,
    term: u64,
    digest: u64,
    chain: u64,
    node: usize,
    at_ms: u64,
}

impl Seen {
    /// `None` for an observation of another kind or one missing a field.
    fn of(o: &Observation, kind: &str) -> Option<Seen> {
        if o.kind != kind {
            return None;
        }
        Some(Seen {
            index: o.u64("index")?,
            term: o.u64("term")?,
            digest: o.u64("digest")?,
            chain: o.u64("chain").unwrap_or(0),
            node: o.node,
            at_ms: o.at_ms(),
        })
    }

    fn same_entry(&self, other: &Seen) -> bool {
        (self.term, self.digest) == (other.term, other.digest)
    }
}

/// Keeps the first [`MAX_FINDINGS`] and says how many more there were.
fn limit(mut findings: Vec<Finding>, checker: &str) -> Vec<Finding> {
    if findings.len() > MAX_FINDINGS {
        let more = findings.len() - MAX_FINDINGS;
        let at = findings[MAX_FINDINGS].at_ms;
        findings.truncate(MAX_FINDINGS);
        let mut f = Finding::new(
            checker,
            FindingKind::Safety,
            format!("... and {more} more violations of the same kind"),
        );
        f.at_ms = at;
        findings.push(f);
    }
    findings
}

/// For each key, the first item seen paired with the first later one that `differ`s from it:
/// the shape of every Raft safety property ("whatever is first decided at X stays decided").
/// Each key is reported once; a cascade is cut by [`limit`].
fn conflicts<T: Copy, K: Ord + Copy>(
    items: impl Iterator<Item = T>,
    key: impl Fn(&T) -> K,
    differ: impl Fn(&T, &T) -> bool,
) -> Vec<(T, T)> {
    let mut first: BTreeMap<K, T> = BTreeMap::new();
    let mut reported: BTreeSet<K> = BTreeSet::new();
    let mut out = Vec::new();
    for item in items {
        let k = key(&item);
        match first.entry(k) {
            Slot::Vacant(v) => {
                v.insert(item);
            }
            Slot::Occupied(f) => {
                if differ(f.get(), &item) && reported.insert(k) {
                    out.push((*f.get(), item));
                }
            }
        }
    }
    out
}

/// `raft-election-safety`: at most one leader per term.
///
/// ```
/// use faultline_checkers::{raft, Observation};
/// use serde_json::json;
/// let obs = [
///     Observation::new(1_000_000, 0, "leader-elected", json!({"term": 1})),
///     Observation::new(2_000_000, 3, "leader-elected", json!({"term": 1})),
/// ];
/// assert_eq!(raft::election_safety(&obs).len(), 1);
/// ```
pub fn election_safety(obs: &[Observation]) -> Vec<Finding> {
    let leaders = obs
        .iter()
        .filter(|o| o.kind == "leader-elected")
        .filter_map(|o| Some((o.u64("term")?, o.node, o.at_ms())));
    let out = conflicts(leaders, |l| l.0, |a, b| a.1 != b.1)
        .into_iter()
        .map(|((term, node, at), (_, other, other_at))| {
            Finding::new(
                ELECTION_SAFETY,
                FindingKind::Safety,
                format!(
                    "two leaders in term {term}: n{node} (elected at {at} ms) and n{other} \
                     (elected at {other_at} ms)"
                ),
            )
            .at_ms(other_at)
            .detail(json!({"term": term, "nodes": [node, other]}))
        })
        .collect();
    limit(out, ELECTION_SAFETY)
}

/// `raft-log-matching`: two logs holding an entry with the same index and term hold the same
/// entries up to that index. Checked on every entry reported committed or applied, through the
/// prefix hash (`chain`) each report carries.
///
/// ```
/// use faultline_checkers::{raft, Observation};
/// use serde_json::json;
/// let e = |node, chain| Observation::new(5_000_000, node, "applied",
///     json!({"index": 4, "term": 2, "digest": 9, "chain": chain}));
/// assert!(raft::log_matching(&[e(0, 77), e(1, 77)]).is_empty());
/// assert_eq!(raft::log_matching(&[e(0, 77), e(1, 78)]).len(), 1);
/// ```
pub fn log_matching(obs: &[Observation]) -> Vec<Finding> {
    let entries = obs
        .iter()
        .filter_map(|o| Seen::of(o, "applied").or_else(|| Seen::of(o, "committed")));
    let out = conflicts(entries, |s| (s.index, s.term), |f, s| f.chain != s.chain)
        .into_iter()
        .map(|(f, s)| {
            Finding::new(
                LOG_MATCHING,
                FindingKind::Safety,
                format!(
                    "n{} and n{} both hold an entry of term {} at index {}, but their logs \
                     differ before it (prefix hash {:x} at {} ms, {:x} at {} ms)",
                    f.node, s.node, s.term, s.index, f.chain, f.at_ms, s.chain, s.at_ms
                ),
            )
            .at_ms(s.at_ms)
            .detail(json!({"index": s.index, "term": s.term, "nodes": [f.node, s.node]}))
        })
        .collect();
    limit(out, LOG_MATCHING)
}

/// `raft-state-machine-safety`: no two nodes apply different entries at the same index.
///
/// ```
/// use faultline_checkers::{raft, Observation};
/// use serde_json::json;
/// let a = |node, term, digest| Observation::new(1_000_000, node, "applied",
///     json!({"index": 1, "term": term, "digest": digest}));
/// assert!(raft::state_machine_safety(&[a(0, 1, 5), a(2, 1, 5)]).is_empty());
/// assert_eq!(raft::state_machine_safety(&[a(0, 1, 5), a(2, 2, 6)]).len(), 1);
/// ```
pub fn state_machine_safety(obs: &[Observation]) -> Vec<Finding> {
    let applied = obs.iter().filter_map(|o| Seen::of(o, "applied"));
    let out = conflicts(applied, |s| s.index, |f, s| !f.same_entry(s))
        .into_iter()
        .map(|(f, s)| {
            Finding::new(
                STATE_MACHINE_SAFETY,
                FindingKind::Safety,
                format!(
                    "n{} and n{} applied different entries at index {}: term {} digest {:x} \
                     (n{}, {} ms) vs term {} digest {:x} (n{}, {} ms)",
                    f.node,
                    s.node,
                    s.index,
                    f.term,
                    f.digest,
                    f.node,
                    f.at_ms,
                    s.term,
                    s.digest,
                    s.node,
                    s.at_ms
                ),
            )
            .at_ms(s.at_ms)
            .detail(json!({"index": s.index, "nodes": [f.node, s.node], "terms": [f.term, s.term]}))
        })
        .collect();
    limit(out, STATE_MACHINE_SAFETY)
}

/// `raft-lost-commit`: an entry once committed stays committed. A committed entry that a crash
/// or an overwrite made disappear shows as a later commit of a different entry at its index.
///
/// ```
/// use faultline_checkers::{raft, Observation};
/// use serde_json::json;
/// let c = |ms: u64, node, term, digest| Observation::new(ms * 1_000_000, node, "committed",
///     json!({"index": 3, "term": term, "digest": digest}));
/// assert!(raft::lost_commit(&[c(10, 0, 1, 5), c(20, 1, 1, 5)]).is_empty());
/// assert_eq!(raft::lost_commit(&[c(10, 0, 1, 5), c(20, 1, 2, 6)]).len(), 1);
/// ```
pub fn lost_commit(obs: &[Observation]) -> Vec<Finding> {
    let committed = obs.iter().filter_map(|o| Seen::of(o, "committed"));
    let out = conflicts(committed, |s| s.index, |f, s| !f.same_entry(s))
        .into_iter()
        .map(|(f, s)| {
            Finding::new(
                LOST_COMMIT,
                FindingKind::Safety,
                format!(
                    "the entry n{} committed at index {} (term {}, digest {:x}, at {} ms) was \
                     lost: n{} later committed a different entry there (term {}, digest {:x}, \
                     at {} ms)",
                    f.node, f.index, f.term, f.digest, f.at_ms, s.node, s.term, s.digest, s.at_ms
                ),
            )
            .at_ms(s.at_ms)
            .detail(json!({"index": s.index, "nodes": [f.node, s.node], "terms": [f.term, s.term]}))
        })
        .collect();
    limit(out, LOST_COMMIT)
}

/// The observations (and fields) each Raft checker reads, and when a run must have them: an
/// election whenever some operation succeeded, commits and applications whenever some write
/// did. A Raft that reports nothing would otherwise pass every check.
///
/// ```
/// let r = faultline_checkers::raft::requirements(faultline_checkers::raft::ACKED_APPLIED);
/// assert_eq!(r[0].kind, "applied");
/// ```
pub fn requirements(checker: &str) -> Vec<Requirement> {
    let entry = |kind| {
        Requirement::new(kind, Needed::AnyOkWrite)
            .field("index", FieldType::U64)
            .field("term", FieldType::U64)
            .field("digest", FieldType::U64)
    };
    match checker {
        ELECTION_SAFETY => {
            vec![Requirement::new("leader-elected", Needed::AnyOk).field("term", FieldType::U64)]
        }
        LOG_MATCHING => vec![
            entry("applied").field("chain", FieldType::U64),
            entry("committed").field("chain", FieldType::U64),
        ],
        STATE_MACHINE_SAFETY => vec![entry("applied")],
        LOST_COMMIT => vec![entry("committed")],
        ACKED_APPLIED => vec![Requirement::new("applied", Needed::AnyOkWrite)
            .field("index", FieldType::U64)
            .field("op", FieldType::ObjectOrNull)],
        _ => vec![],
    }
}

/// A client operation as both the history and `applied.op` name it (the value as its JSON
/// text, which orders).
type OpId = (String, Option<String>, String);

fn op_id(f: &str, key: Option<&str>, value: &serde_json::Value) -> OpId {
    (
        f.to_string(),
        key.filter(|k| !k.is_empty()).map(str::to_string),
        value.to_string(),
    )
}

fn describe(op: &OpId) -> String {
    format!("{} {} {}", op.0, op.1.as_deref().unwrap_or("-"), op.2)
}

/// `raft-acked-applied`: every write acknowledged to a client (an `ok` operation other than a
/// read) was applied by some node, and every node applied it at the same index (so all apply
/// the acknowledged writes in one order). The log checks above compare the log with itself;
/// this one ties what clients were told to the log.
///
/// ```
/// use faultline_checkers::{history::*, raft, Observation};
/// use serde_json::json;
/// let mut h = History::default();
/// h.push(Event::invoke(0, "write", Some("k1"), json!(5), 0));
/// h.push(Event::complete(0, EventType::Ok, "write", Some("k1"), json!(5), 9_000_000));
/// let applied = |node| Observation::new(8_000_000, node, "applied",
///     json!({"index": 1, "op": {"f": "write", "key": "k1", "value": 5}}));
/// assert!(raft::acked_applied(&h, &[applied(0), applied(1)]).is_empty());
/// assert_eq!(raft::acked_applied(&h, &[]).len(), 1);
/// ```
pub fn acked_applied(history: &History, obs: &[Observation]) -> Vec<Finding> {
    // node -> op -> the first index it applied the op at (a retry logged twice is applied once).
    let mut at: BTreeMap<usize, BTreeMap<OpId, (u64, u64)>> = BTreeMap::new();
    for o in obs.iter().filter(|o| o.kind == "applied") {
        let (Some(index), Some(op)) = (o.u64("index"), o.data.get("op")) else {
            continue; // malformed: the requirements report it
        };
        let Some(f) = op.get("f").and_then(serde_json::Value::as_str) else {
            continue;
        };
        let key = op.get("key").and_then(serde_json::Value::as_str);
        let value = op.get("value").cloned().unwrap_or_default();
        at.entry(o.node)
            .or_default()
            .entry(op_id(f, key, &value))
            .or_insert((index, o.at_ms()));
    }
    let mut out = Vec::new();
    for w in pair(history) {
        if w.outcome != EventType::Ok || w.f == "read" {
            continue;
        }
        let id = op_id(&w.f, w.key.as_deref(), &w.input);
        let acked_ms = w.end_ns() / 1_000_000;
        let places: BTreeMap<usize, (u64, u64)> = at
            .iter()
            .filter_map(|(n, ops)| ops.get(&id).map(|p| (*n, *p)))
            .collect();
        let indices: BTreeSet<u64> = places.values().map(|p| p.0).collect();
        if indices.is_empty() {
            out.push(
                Finding::new(
                    ACKED_APPLIED,
                    FindingKind::Safety,
                    format!(
                        "the write `{}` was acknowledged at {acked_ms} ms but no node ever                          applied it",
                        describe(&id)
                    ),
                )
                .at_ms(acked_ms)
                .detail(json!({"op": {"f": id.0, "key": id.1, "value": id.2}, "acked_ms": acked_ms})),
            );
        } else if indices.len() > 1 {
            let where_: Vec<String> = places
                .iter()
                .map(|(n, (i, ms))| format!("n{n} at index {i} ({ms} ms)"))
                .collect();
            let last = places.values().map(|p| p.1).max().unwrap_or(acked_ms);
            out.push(
                Finding::new(
                    ACKED_APPLIED,
                    FindingKind::Safety,
                    format!(
                        "the acknowledged write `{}` was applied at different places in the log: {}",
                        describe(&id),
                        where_.join(", ")
                    ),
                )
                .at_ms(last)
                .detail(json!({"op": {"f": id.0, "key": id.1, "value": id.2}, "indices": indices})),
            );
        }
    }
    limit(out, ACKED_APPLIED)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leader(ms: u64, node: usize, term: u64) -> Observation {
        Observation::new(
            ms * 1_000_000,
            node,
            "leader-elected",
            json!({"term": term}),
        )
    }

    fn entry(kind: &str, ms: u64, node: usize, index: u64, term: u64, digest: u64) -> Observation {
        // A toy prefix hash: enough for hand-built logs whose prefixes differ in the last entry.
        let chain = index * 1000 + term * 100 + digest;
        Observation::new(
            ms * 1_000_000,
            node,
            kind,
            json!({"index": index, "term": term, "digest": digest, "chain": chain}),
        )
    }

    #[test]
    fn election_safety_accepts_one_leader_per_term_and_reelection_of_the_same_node() {
        let obs = [
            leader(10, 0, 1),
            leader(500, 2, 2),
            leader(600, 2, 2), // the same node again (e.g. a duplicated report) is fine
            leader(900, 0, 4),
        ];
        assert!(election_safety(&obs).is_empty());
    }

    #[test]
    fn election_safety_flags_two_leaders_in_one_term() {
        let obs = [leader(10, 0, 1), leader(500, 2, 2), leader(700, 4, 2)];
        let f = election_safety(&obs);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].checker, ELECTION_SAFETY);
        assert_eq!(f[0].kind, FindingKind::Safety);
        assert_eq!(f[0].at_ms, Some(700));
        assert!(f[0].message.contains("term 2"), "{}", f[0].message);
        assert!(f[0].message.contains("n2") && f[0].message.contains("n4"));
    }

    #[test]
    fn log_matching_accepts_equal_prefixes() {
        let obs = [
            entry("committed", 10, 0, 1, 1, 7),
            entry("applied", 11, 0, 1, 1, 7),
            entry("applied", 12, 3, 1, 1, 7),
            // A different entry at the same index in another term is state machine safety's
            // business, not log matching's.
            entry("applied", 13, 4, 2, 1, 8),
        ];
        assert!(log_matching(&obs).is_empty());
    }

    #[test]
    fn log_matching_flags_same_index_and_term_with_different_prefixes() {
        let mut bad = entry("applied", 30, 2, 5, 3, 9);
        bad.data["chain"] = json!(12345);
        let obs = [entry("committed", 20, 0, 5, 3, 9), bad];
        let f = log_matching(&obs);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].checker, LOG_MATCHING);
        assert_eq!(f[0].at_ms, Some(30));
        assert!(f[0].message.contains("index 5") && f[0].message.contains("term 3"));
    }

    #[test]
    fn state_machine_safety_accepts_the_same_entry_applied_everywhere_and_reapplied() {
        let obs = [
            entry("applied", 10, 0, 1, 1, 7),
            entry("applied", 11, 1, 1, 1, 7),
            entry("applied", 12, 1, 2, 1, 8),
            entry("applied", 90, 1, 1, 1, 7), // re-applied after a restart
        ];
        assert!(state_machine_safety(&obs).is_empty());
    }

    #[test]
    fn state_machine_safety_flags_different_entries_at_one_index() {
        let obs = [
            entry("applied", 10, 0, 3, 1, 7),
            entry("committed", 11, 1, 3, 2, 8), // commits alone are not applications
            entry("applied", 40, 4, 3, 2, 8),
        ];
        let f = state_machine_safety(&obs);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].checker, STATE_MACHINE_SAFETY);
        assert_eq!(f[0].at_ms, Some(40));
        assert!(f[0].message.contains("index 3"));
        assert!(f[0].message.contains("n0") && f[0].message.contains("n4"));
    }

    #[test]
    fn lost_commit_accepts_recommits_of_the_same_entry() {
        let obs = [
            entry("committed", 10, 0, 1, 1, 7),
            entry("committed", 20, 0, 2, 1, 8),
            // A new leader (or a restarted one) commits the same entries again.
            entry("committed", 300, 3, 1, 1, 7),
            entry("committed", 300, 3, 2, 1, 8),
            // Uncommitted entries may be overwritten: only commits count.
            entry("applied", 310, 2, 3, 2, 9),
        ];
        assert!(lost_commit(&obs).is_empty());
    }

    #[test]
    fn lost_commit_flags_a_committed_entry_replaced_later() {
        let obs = [
            entry("committed", 10, 0, 1, 1, 7),
            entry("committed", 20, 0, 2, 1, 8),
            entry("committed", 900, 3, 2, 3, 11),
        ];
        let f = lost_commit(&obs);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].checker, LOST_COMMIT);
        assert_eq!(f[0].kind, FindingKind::Safety);
        assert_eq!(f[0].at_ms, Some(900));
        assert!(f[0].message.contains("index 2"));
        assert!(f[0].message.contains("n0") && f[0].message.contains("n3"));
    }

    fn write(h: &mut History, p: u64, v: u64, ok: bool) {
        h.push(crate::history::Event::invoke(
            p,
            "write",
            Some("k1"),
            json!(v),
            0,
        ));
        let kind = if ok { EventType::Ok } else { EventType::Info };
        h.push(crate::history::Event::complete(
            p,
            kind,
            "write",
            Some("k1"),
            json!(v),
            50_000_000,
        ));
    }

    fn applied(node: usize, index: u64, v: u64) -> Observation {
        Observation::new(
            40_000_000,
            node,
            "applied",
            json!({"index": index, "op": {"f": "write", "key": "k1", "value": v}}),
        )
    }

    #[test]
    fn acked_applied_accepts_writes_applied_in_one_order_and_ignores_unacked_ones() {
        let mut h = History::default();
        write(&mut h, 0, 1, true);
        write(&mut h, 1, 2, true);
        write(&mut h, 2, 3, false); // never acknowledged: may be lost
        let obs = [
            applied(0, 1, 1),
            applied(0, 2, 2),
            applied(1, 1, 1),
            applied(1, 2, 2),
            applied(1, 7, 2), // a retry logged twice: the first place counts
        ];
        assert!(acked_applied(&h, &obs).is_empty());
    }

    #[test]
    fn acked_applied_flags_a_lost_ack_and_a_reordered_apply() {
        let mut h = History::default();
        write(&mut h, 0, 1, true);
        write(&mut h, 1, 2, true);
        let f = acked_applied(&h, &[applied(0, 1, 1), applied(1, 2, 1)]);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(
            f[0].message.contains("different places"),
            "{}",
            f[0].message
        );
        assert!(f[1].message.contains("`write k1 2`") && f[1].message.contains("no node"));
    }

    #[test]
    fn a_cascade_of_violations_is_capped() {
        let mut obs = Vec::new();
        for i in 1..=20 {
            obs.push(entry("committed", i, 0, i, 1, i));
            obs.push(entry("committed", 100 + i, 1, i, 2, 100 + i));
        }
        let f = lost_commit(&obs);
        assert_eq!(f.len(), MAX_FINDINGS + 1);
        assert!(f[MAX_FINDINGS].message.contains("15 more"));
    }
}
