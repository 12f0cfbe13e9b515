//! What one run recorded: plain data handed to the checkers and the reports.
use crate::protocol::Cap;
use faultline_checkers::cap::{Contact, FaultWindow, PartitionWindow};
use faultline_checkers::History;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use faultline_checkers::Observation;

/// One fault as it was applied (start) or undone (end).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultEvent {
    pub at_ns: u64,
    /// `start` or `end`.
    pub phase: String,
    /// The step's index in the resolved schedule.
    pub step: usize,
    pub description: String,
}

/// Everything the checkers may read about a run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Recording {
    pub history: History,
    pub observations: Vec<Observation>,
    pub faults: Vec<FaultEvent>,
    /// Number of server nodes (node ids `0..nodes`).
    pub nodes: usize,
    /// When the final phase (heal, restart, settle, final reads) began.
    pub final_phase_ns: u64,
    /// Process ids at or above this issued the final reads.
    pub final_process_base: u64,
    pub messages: u64,
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
}

impl Recording {
    /// Observations of one kind, in the order they were made.
    pub fn observations_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Observation> {
        self.observations.iter().filter(move |o| o.kind == kind)
    }

    /// Every fault's active window, named by its kind (the description's first word).
    pub fn fault_windows(&self) -> Vec<FaultWindow> {
        let mut open: Vec<(usize, u64, String)> = Vec::new();
        let mut out = Vec::new();
        for f in &self.faults {
            let kind = f.description.split(' ').next().unwrap_or("").to_string();
            if f.phase == "start" {
                open.push((f.step, f.at_ns, kind));
            } else if let Some(i) = open.iter().position(|(s, _, _)| *s == f.step) {
                let (_, start_ns, kind) = open.remove(i);
                out.push(FaultWindow {
                    start_ns,
                    end_ns: f.at_ns,
                    kind,
                });
            }
        }
        out.extend(open.into_iter().map(|(_, start_ns, kind)| FaultWindow {
            start_ns,
            end_ns: self.sim_ns,
            kind,
        }));
        out
    }

    /// The partitions with their groups of server ids, as the nemesis applied them.
    pub fn partitions(&self) -> Vec<PartitionWindow> {
        let mut open: Vec<(usize, u64, Vec<Vec<usize>>)> = Vec::new();
        let mut out = Vec::new();
        for f in &self.faults {
            let Some(groups) = faultline_checkers::cap::partition_groups(&f.description) else {
                continue;
            };
            if f.phase == "start" {
                open.push((f.step, f.at_ns, groups));
            } else if let Some(i) = open.iter().position(|(s, _, _)| *s == f.step) {
                let (_, start_ns, groups) = open.remove(i);
                out.push(PartitionWindow {
                    start_ns,
                    end_ns: f.at_ns,
                    groups,
                });
            }
        }
        out.extend(
            open.into_iter()
                .map(|(_, start_ns, groups)| PartitionWindow {
                    start_ns,
                    end_ns: self.sim_ns,
                    groups,
                }),
        );
        out.sort_by_key(|w| w.start_ns);
        out
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
    pub fn down_windows(&self) -> std::collections::BTreeMap<usize, Vec<(u64, u64)>> {
        let mut open: Vec<(usize, u64, Vec<usize>)> = Vec::new();
        let mut out: std::collections::BTreeMap<usize, Vec<(u64, u64)>> = Default::default();
        let nodes_of = |d: &str| -> Option<Vec<usize>> {
            let rest = d
                .strip_prefix("crash ")
                .or_else(|| d.strip_prefix("pause "))?;
            let list = rest.split_whitespace().next()?;
            Some(
                list.split(',')
                    .filter_map(|n| n.strip_prefix('n')?.parse().ok())
                    .collect(),
            )
        };
        for f in &self.faults {
            let Some(nodes) = nodes_of(&f.description) else {
                continue;
            };
            if f.phase == "start" {
                open.push((f.step, f.at_ns, nodes));
            } else if let Some(i) = open.iter().position(|(s, _, _)| *s == f.step) {
                let (_, start, nodes) = open.remove(i);
                for n in nodes {
                    out.entry(n).or_default().push((start, f.at_ns));
                }
            }
        }
        for (_, start, nodes) in open {
            for n in nodes {
                out.entry(n).or_default().push((start, self.sim_ns));
            }
        }
        out
    }

    /// Intervals `[start, end)` (ns) during which some partition step was active.
    pub fn partition_windows(&self) -> Vec<(u64, u64)> {
        let mut open: Vec<(usize, u64)> = Vec::new();
        let mut out = Vec::new();
        for f in &self.faults {
            if !f.description.starts_with("partition") {
                continue;
            }
            if f.phase == "start" {
                open.push((f.step, f.at_ns));
            } else if let Some(i) = open.iter().position(|(s, _)| *s == f.step) {
                let (_, start) = open.remove(i);
                out.push((start, f.at_ns));
            }
        }
        for (_, start) in open {
            out.push((start, self.sim_ns));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Fault;

    fn event(at_ns: u64, phase: &str, step: usize, fault: &Fault) -> FaultEvent {
        FaultEvent {
            at_ns,
            phase: phase.into(),
            step,
            description: fault.to_string(),
        }
    }

    /// The CAP checkers read a partition's sides back from the nemesis's own description of it.
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

    fn ev(ms: u64, phase: &str, step: usize, description: &str) -> FaultEvent {
        FaultEvent {
            at_ns: ms * 1_000_000,
            phase: phase.into(),
            step,
            description: description.into(),
        }
    }

    #[test]
    fn down_windows_follow_crashes_and_pauses_per_node() {
        let rec = Recording {
            faults: vec![
                ev(10, "start", 0, "crash n0,n2 torn"),
                ev(20, "start", 1, "partition [[0], [1, 2]]"),
                ev(30, "end", 0, "crash n0,n2 torn"),
                ev(40, "start", 2, "pause n1"),
                ev(50, "end", 1, "partition [[0], [1, 2]]"),
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
