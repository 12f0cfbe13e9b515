//! What one run recorded: plain data handed to the checkers and the reports.
use crate::data::Cap;
use faultline_checkers::cap::{Contact, FaultWindow, PartitionWindow};
use faultline_checkers::check_history::{check_events, HistoryCheck};
use faultline_checkers::formats::FormatError;
use faultline_checkers::linearizability::CheckOptions;
use faultline_checkers::spec::SpecName;
use faultline_checkers::History;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::OnceLock;

pub use faultline_checkers::Observation;

/// One fault as it was applied (start), undone (end) or skipped (its role had no holder, or the
/// corruption budget forbade a strike); a `corrupt`/`misdirect` strike that landed (strike: no
/// window, no end), or a misdirected write landing at the wrong place (hit).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultEvent {
    /// When (simulated ns since the start).
    pub at_ns: u64,
    /// `start`, `end`, `skip`, `strike` or `hit`.
    pub phase: String,
    /// The step's index in the resolved schedule.
    pub step: usize,
    /// The fault's kind (`partition`, `crash`, `loss`, ...).
    #[serde(default)]
    pub kind: String,
    /// The nodes it hit: crashed, paused or skewed nodes, or every node of a partition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<usize>,
    /// A partition's groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Vec<usize>>,
    /// For people: what happened, in words.
    pub description: String,
}

impl FaultEvent {
    /// The event of a concrete fault's start or end.
    pub fn of(at_ns: u64, phase: &str, step: usize, fault: &crate::schedule::Fault) -> Self {
        use crate::schedule::Fault;
        FaultEvent {
            at_ns,
            phase: phase.to_string(),
            step,
            kind: fault.kind().to_string(),
            nodes: fault.nodes(),
            groups: match fault {
                Fault::Partition { groups, .. } => groups.clone(),
                _ => vec![],
            },
            description: fault.to_string(),
        }
    }
}

/// Everything the checkers may read about a run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Recording {
    /// Every client operation: invocations and completions.
    pub history: History,
    /// What nodes reported with [`NodeCtx::observe`](crate::NodeCtx::observe).
    pub observations: Vec<Observation>,
    /// Every fault started, ended or skipped.
    pub faults: Vec<FaultEvent>,
    /// Number of server nodes (node ids `0..nodes`).
    pub nodes: usize,
    /// When the final phase (heal, restart, settle, final reads) began.
    pub final_phase_ns: u64,
    /// Process ids at or above this issued the final reads.
    pub final_process_base: u64,
    /// When the final heal happened (every fault ended, every crashed node restarted); `None`
    /// when the run never reached its final phase (or was recorded before the field existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heal_ns: Option<u64>,
    /// The liveness bound the run was judged with (simulated ms after the heal); `None` is
    /// [`crate::protocol::DEFAULT_LIVENESS_MS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_ms: Option<u64>,
    /// Messages sent.
    pub messages: u64,
    /// Simulated time the run took (ns).
    pub sim_ns: u64,
    /// A panic raised by model code, with its message.
    pub panic: Option<String>,
    /// The CAP choice the model declared (the CAP checkers judge against it).
    #[serde(default)]
    pub cap: Cap,
    /// Client messages delivered to servers: which server (so which side of a partition) each
    /// operation reached.
    #[serde(default)]
    pub contacts: Vec<Contact>,
    /// History process id → the client node that ran it.
    #[serde(default)]
    pub process_clients: BTreeMap<u64, usize>,
    /// The checkers' work budget (from [`ModelConfig::check_budget`](crate::ModelConfig)):
    /// every checker that searches counts its work against it, never time, so the recording
    /// gets the same verdict on any machine. A checker that runs out reports a finding of kind
    /// `undecided` ([`faultline_checkers::FindingKind::Undecided`]).
    #[serde(default)]
    pub check_budget: CheckBudget,
    /// Buggify points the run reached (only with buggify on): enabled or not, reached and fired
    /// counts, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub buggify: BTreeMap<String, crate::buggify::PointStats>,
    /// Results several checkers need, computed once (see [`Recording::linearizability`]).
    #[serde(skip)]
    pub derived: Derived,
}

/// A checker's work budget, in search steps (or states explored): past it the checker says
/// "undecided" instead of stalling a campaign. A run's history should never be hard to check
/// (unique values, few keys); if it is, the verdict is `undecided`, the same on every machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CheckBudget(pub u64);

impl Default for CheckBudget {
    fn default() -> Self {
        CheckBudget(crate::data::DEFAULT_CHECK_BUDGET)
    }
}

impl CheckBudget {
    /// The linearizability search's limits: this many steps, no time limit.
    pub fn lin_options(self) -> CheckOptions {
        CheckOptions::budget(self.0)
    }
}

/// Results derived from a recording on first use and shared by every checker that reads them.
/// A clone starts empty, so a copy whose history is then edited is judged afresh.
#[derive(Debug, Default)]
pub struct Derived {
    linearizability: OnceLock<Result<HistoryCheck, FormatError>>,
}

impl Clone for Derived {
    fn clone(&self) -> Self {
        Derived::default()
    }
}

impl Recording {
    /// The client history judged against its spec ([`Recording::spec`]), within
    /// [`Recording::check_budget`] search steps. Computed once per recording: the
    /// `linearizability` and `cap` checkers both read it.
    pub fn linearizability(&self) -> &Result<HistoryCheck, FormatError> {
        self.derived.linearizability.get_or_init(|| {
            check_events(&self.history, self.spec(), &self.check_budget.lin_options())
        })
    }

    /// The sequential spec the history is checked against: a list per key when it has `append`
    /// operations (the list-append workload), else a cas-register per key (a read/write history
    /// is a special case of it).
    pub fn spec(&self) -> SpecName {
        if self.history.events.iter().any(|e| e.f == "append") {
            SpecName::Append
        } else {
            SpecName::CasRegister
        }
    }

    /// Observations of one kind, in the order they were made.
    pub fn observations_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Observation> {
        self.observations.iter().filter(move |o| o.kind == kind)
    }

    /// Every fault's active window `[start, end)` (ns) with its start event, in start order; a
    /// window still open when the run ended lasts until `sim_ns`. Skipped steps have no window.
    pub fn windows(&self) -> Vec<(u64, u64, &FaultEvent)> {
        let mut open: Vec<&FaultEvent> = Vec::new();
        let mut out = Vec::new();
        for f in &self.faults {
            match f.phase.as_str() {
                "start" => open.push(f),
                "end" => {
                    if let Some(i) = open.iter().position(|s| s.step == f.step) {
                        let start = open.remove(i);
                        out.push((start.at_ns, f.at_ns, start));
                    }
                }
                _ => {}
            }
        }
        out.extend(open.into_iter().map(|s| (s.at_ns, self.sim_ns, s)));
        out.sort_by_key(|(start, _, f)| (*start, f.step));
        out
    }

    /// Every fault's active window, named by its kind.
    pub fn fault_windows(&self) -> Vec<FaultWindow> {
        self.windows()
            .into_iter()
            .map(|(start_ns, end_ns, f)| FaultWindow {
                start_ns,
                end_ns,
                kind: f.kind.clone(),
            })
            .collect()
    }

    /// The partitions with their groups of server ids, as the nemesis applied them.
    pub fn partitions(&self) -> Vec<PartitionWindow> {
        self.windows()
            .into_iter()
            .filter(|(_, _, f)| f.kind == "partition")
            .map(|(start_ns, end_ns, f)| PartitionWindow {
                start_ns,
                end_ns,
                groups: f.groups.clone(),
            })
            .collect()
    }

    /// When the final reads began (after the heal and the settling time): replicas must have
    /// converged by then.
    pub fn final_reads_ns(&self) -> u64 {
        self.history
            .events
            .iter()
            .find(|e| e.process >= self.final_process_base)
            .map(|e| e.time_ns)
            .unwrap_or(self.sim_ns)
    }

    /// For every server node that was ever crashed or paused, the intervals `[start, end)` (ns)
    /// during which it was down (a window still open at the end lasts until `sim_ns`). Protocol
    /// checkers use it to tell "waiting for a dead coordinator" from plain slowness.
    pub fn down_windows(&self) -> BTreeMap<usize, Vec<(u64, u64)>> {
        let mut out: BTreeMap<usize, Vec<(u64, u64)>> = BTreeMap::new();
        for (start, end, f) in self.windows() {
            if matches!(f.kind.as_str(), "crash" | "power-loss" | "pause") {
                for &n in &f.nodes {
                    out.entry(n).or_default().push((start, end));
                }
            }
        }
        out
    }

    /// Intervals `[start, end)` (ns) during which some partition step was active.
    pub fn partition_windows(&self) -> Vec<(u64, u64)> {
        self.partitions()
            .into_iter()
            .map(|w| (w.start_ns, w.end_ns))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Fault;

    fn event(at_ns: u64, phase: &str, step: usize, fault: &Fault) -> FaultEvent {
        FaultEvent::of(at_ns, phase, step, fault)
    }

    /// The CAP checkers read a partition's sides from the fault events the nemesis recorded.
    #[test]
    fn partitions_keep_their_groups_and_windows() {
        let p = Fault::Partition {
            groups: vec![vec![0, 1], vec![2, 3, 4]],
            oneway: true,
        };
        let rec = Recording {
            faults: vec![
                event(10, "start", 0, &p),
                event(20, "start", 1, &Fault::Loss { rate: 0.5 }),
                event(30, "end", 0, &p),
            ],
            sim_ns: 100,
            ..Recording::default()
        };
        let parts = rec.partitions();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].groups, vec![vec![0, 1], vec![2, 3, 4]]);
        assert_eq!((parts[0].start_ns, parts[0].end_ns), (10, 30));
        let kinds: Vec<(String, u64)> = rec
            .fault_windows()
            .into_iter()
            .map(|w| (w.kind, w.end_ns))
            .collect();
        assert_eq!(
            kinds,
            vec![("partition".to_string(), 30), ("loss".to_string(), 100)]
        );
    }

    fn ev(ms: u64, phase: &str, step: usize, fault: &Fault) -> FaultEvent {
        FaultEvent::of(ms * 1_000_000, phase, step, fault)
    }

    #[test]
    fn down_windows_follow_crashes_and_pauses_per_node() {
        let crash = Fault::Crash {
            nodes: vec![0, 2],
            power: true,
            torn: true,
        };
        let cut = Fault::Partition {
            groups: vec![vec![0], vec![1, 2]],
            oneway: false,
        };
        let rec = Recording {
            faults: vec![
                ev(10, "start", 0, &crash),
                ev(20, "start", 1, &cut),
                ev(30, "end", 0, &crash),
                ev(40, "start", 2, &Fault::Pause { nodes: vec![1] }),
                ev(50, "end", 1, &cut),
            ],
            sim_ns: 90_000_000,
            ..Recording::default()
        };
        let w = rec.down_windows();
        assert_eq!(w[&0], vec![(10_000_000, 30_000_000)]);
        assert_eq!(w[&2], vec![(10_000_000, 30_000_000)]);
        assert_eq!(
            w[&1],
            vec![(40_000_000, 90_000_000)],
            "still paused at the end"
        );
        assert_eq!(w.len(), 3, "partitions are not downtime: {w:?}");
    }
}
