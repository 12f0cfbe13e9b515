//! CAP classification: how available a store was while partitioned (`availability`, a report),
//! and whether it kept the promise of its declared CAP choice (`cap`, violations).
//!
//! Clients are never partitioned from servers, so an operation lands on the side of the server
//! its client's messages reached: the *last* server that received a message from that client
//! while the operation was in flight (the one it ended up talking to). Sides are the groups of
//! the partition active when the operation was invoked.
//!
//! The promises (DESIGN.md): a **CP** model may refuse, but every result must be linearizable;
//! an **AP** model must answer every request that reaches a live replica, and its replicas must
//! converge once the network heals.
use crate::finding::{Finding, FindingKind};
use crate::history::{EventType, History};
use crate::ops::{pair, Op};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The CAP choice a model declares, as the checkers see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Declared {
    CP,
    AP,
}

/// A client's message delivered to a server: which side of a partition the client reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub at_ns: u64,
    /// The client's node id.
    pub client: usize,
    pub server: usize,
}

/// A partition as it was active: `[start_ns, end_ns)` and its groups of server ids.
#[derive(Clone, Debug, PartialEq)]
pub struct PartitionWindow {
    pub start_ns: u64,
    pub end_ns: u64,
    pub groups: Vec<Vec<usize>>,
}

/// Any fault's active window, named by its kind (`partition`, `crash`, `loss`, ...).
#[derive(Clone, Debug, PartialEq)]
pub struct FaultWindow {
    pub start_ns: u64,
    pub end_ns: u64,
    pub kind: String,
}

/// Who issued what: the recording's plain data the CAP checkers read.
pub struct Clients<'a> {
    pub history: &'a History,
    /// Processes at or above this issued the final reads (after the heal).
    pub final_process_base: u64,
    /// Process id → the client node that ran it.
    pub process_clients: &'a BTreeMap<u64, usize>,
    /// Client messages delivered to servers, in time order.
    pub contacts: &'a [Contact],
}

impl Clients<'_> {
    /// The last server the operation's client reached while it was in flight.
    fn server_of(&self, op: &Op) -> Option<usize> {
        let client = *self.process_clients.get(&op.process)?;
        let lo = self.contacts.partition_point(|c| c.at_ns < op.invoke_ns);
        self.contacts[lo..]
            .iter()
            .take_while(|c| c.at_ns <= op.end_ns())
            .filter(|c| c.client == client)
            .last()
            .map(|c| c.server)
    }

    fn workload_ops(&self) -> impl Iterator<Item = Op> + '_ {
        let base = self.final_process_base;
        pair(self.history)
            .into_iter()
            .filter(move |o| o.process < base)
    }
}

#[derive(Default)]
struct Tally {
    ops: u64,
    ok: u64,
}

impl Tally {
    fn add(&mut self, ok: bool) {
        self.ops += 1;
        self.ok += ok as u64;
    }

    fn json(&self) -> Value {
        json!({"ops": self.ops, "ok": self.ok, "availability": self.fraction()})
    }

    fn fraction(&self) -> Option<f64> {
        (self.ops > 0).then(|| self.ok as f64 / self.ops as f64)
    }
}

/// The `availability` finding: the fraction of operations invoked while a partition was active
/// that were answered successfully (`value`), and the same per side of each partition
/// (`detail.partitions[i].sides`). A report, never a violation by itself.
///
/// ```
/// use faultline_checkers::cap::*;
/// use faultline_checkers::history::*;
/// use serde_json::json;
/// use std::collections::BTreeMap;
/// let mut h = History::default();
/// h.push(Event::invoke(0, "read", Some("k"), json!(null), 10));
/// h.push(Event::complete(0, EventType::Ok, "read", Some("k"), json!(null), 20));
/// let clients = Clients { history: &h, final_process_base: 100,
///     process_clients: &BTreeMap::from([(0, 5)]), contacts: &[Contact { at_ns: 12, client: 5, server: 0 }] };
/// let windows = [PartitionWindow { start_ns: 0, end_ns: 50, groups: vec![vec![0, 1], vec![2, 3, 4]] }];
/// let f = availability(&clients, &windows);
/// assert_eq!(f.value, Some(1.0));
/// ```
pub fn availability(clients: &Clients, windows: &[PartitionWindow]) -> Finding {
    let mut total = Tally::default();
    let mut per_window: Vec<(Vec<Tally>, Tally)> = windows
        .iter()
        .map(|w| {
            (
                w.groups.iter().map(|_| Tally::default()).collect(),
                Tally::default(),
            )
        })
        .collect();
    for op in clients.workload_ops() {
        let ok = op.outcome == EventType::Ok;
        let active: Vec<usize> = windows
            .iter()
            .enumerate()
            .filter(|(_, w)| w.start_ns <= op.invoke_ns && op.invoke_ns < w.end_ns)
            .map(|(i, _)| i)
            .collect();
        if active.is_empty() {
            continue;
        }
        total.add(ok);
        let server = clients.server_of(&op);
        for i in active {
            let (sides, unreached) = &mut per_window[i];
            match server.and_then(|s| windows[i].groups.iter().position(|g| g.contains(&s))) {
                Some(side) => sides[side].add(ok),
                None => unreached.add(ok),
            }
        }
    }
    let partitions: Vec<Value> = windows
        .iter()
        .zip(&per_window)
        .map(|(w, (sides, unreached))| {
            json!({
                "start_ms": w.start_ns / 1_000_000,
                "end_ms": w.end_ns / 1_000_000,
                "sides": w.groups.iter().zip(sides).map(|(g, t)| {
                    let mut v = t.json();
                    v["nodes"] = json!(g);
                    v
                }).collect::<Vec<_>>(),
                "unreached": unreached.json(),
            })
        })
        .collect();
    let detail = json!({"ops": total.ops, "ok": total.ok, "partitions": partitions});
    let f = Finding::new(
        "availability",
        FindingKind::Availability,
        match total.fraction() {
            Some(v) => format!(
                "{} of {} operations invoked during a partition were answered ({:.0}%)",
                total.ok,
                total.ops,
                v * 100.0
            ),
            None if windows.is_empty() => "no partition in this run".to_string(),
            None => "no operation was invoked during a partition".to_string(),
        },
    )
    .detail(detail);
    match total.fraction() {
        Some(v) => f.value(v),
        None => f,
    }
}

/// Whether only harmless faults were active over `[from, to]`: partitions cannot stop an AP
/// model from answering (clients reach every server) and neither can a skewed clock; crashes,
/// pauses and a lossy or slow network can, legitimately.
fn only_partitions(faults: &[FaultWindow], from: u64, to: u64) -> bool {
    faults
        .iter()
        .filter(|w| w.start_ns <= to && from < w.end_ns)
        .all(|w| w.kind == "partition" || w.kind == "clock-skew")
}

/// The `cap` violations: the model broke the promise of its declared choice.
/// - CP: `nonlinearizable` carries the linearizability checker's explanation when the results
///   were not linearizable (kind safety).
/// - AP: a request that reached a server was refused (`fail`), or timed out although only
///   partitions were active (kind availability); `convergence` holds the convergence
///   checker's failures (kind convergence).
///
/// ```
/// use faultline_checkers::cap::*;
/// use faultline_checkers::history::*;
/// use serde_json::json;
/// use std::collections::BTreeMap;
/// let mut h = History::default();
/// h.push(Event::invoke(0, "write", Some("k"), json!(1), 10));
/// h.push(Event::complete(0, EventType::Fail, "write", Some("k"), json!(1), 20));
/// let clients = Clients { history: &h, final_process_base: 100,
///     process_clients: &BTreeMap::from([(0, 5)]), contacts: &[Contact { at_ns: 12, client: 5, server: 0 }] };
/// // Refusing is fine for CP, a violation for AP.
/// assert!(cap_violations(Declared::CP, &clients, &[], None, &[]).is_empty());
/// assert_eq!(cap_violations(Declared::AP, &clients, &[], None, &[]).len(), 1);
/// ```
pub fn cap_violations(
    declared: Declared,
    clients: &Clients,
    faults: &[FaultWindow],
    nonlinearizable: Option<&str>,
    convergence: &[Finding],
) -> Vec<Finding> {
    let mut out = Vec::new();
    match declared {
        Declared::CP => {
            if let Some(why) = nonlinearizable {
                out.push(Finding::new(
                    "cap",
                    FindingKind::Safety,
                    format!("a CP model returned non-linearizable results: {why}"),
                ));
            }
        }
        Declared::AP => {
            let mut refused: Vec<(Op, usize)> = Vec::new();
            // Final reads count too: they run after the heal, when every replica is reachable.
            for op in pair(clients.history) {
                let Some(server) = clients.server_of(&op) else {
                    continue; // never reached a replica
                };
                let bad = match op.outcome {
                    EventType::Fail => op.f != "cas",
                    EventType::Info => only_partitions(faults, op.invoke_ns, op.end_ns()),
                    _ => false,
                };
                if bad {
                    refused.push((op, server));
                }
            }
            if let Some((first, server)) = refused.first() {
                let what = if first.outcome == EventType::Fail {
                    "refused"
                } else {
                    "left unanswered"
                };
                out.push(
                    Finding::new(
                        "cap",
                        FindingKind::Availability,
                        format!(
                            "an AP model {what} a {} of {} that reached live replica n{server} at {} ms ({} such requests)",
                            first.f,
                            first.key.as_deref().unwrap_or("?"),
                            first.invoke_ns / 1_000_000,
                            refused.len()
                        ),
                    )
                    .at_ms(first.invoke_ns / 1_000_000)
                    .value(refused.len() as f64)
                    .detail(json!({
                        "refused": refused.iter().filter(|(o, _)| o.outcome == EventType::Fail).count(),
                        "timed_out": refused.iter().filter(|(o, _)| o.outcome == EventType::Info).count(),
                    })),
                );
            }
            for c in convergence.iter().filter(|c| c.checker == "convergence") {
                let mut f = Finding::new(
                    "cap",
                    FindingKind::Convergence,
                    format!(
                        "an AP model failed to converge after the heal: {}",
                        c.message
                    ),
                );
                f.at_ms = c.at_ms;
                f.detail = c.detail.clone();
                out.push(f);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Event;

    /// Client node 5 runs process 0 and client node 6 runs process 1.
    fn procs() -> BTreeMap<u64, usize> {
        BTreeMap::from([(0, 5), (1, 6)])
    }

    fn op(h: &mut History, p: u64, f: &str, v: Value, t0: u64, t1: u64, kind: EventType) {
        h.push(Event::invoke(p, f, Some("k"), v.clone(), t0));
        h.push(Event::complete(p, kind, f, Some("k"), v, t1));
    }

    fn window() -> Vec<PartitionWindow> {
        vec![PartitionWindow {
            start_ns: 100,
            end_ns: 1000,
            groups: vec![vec![0, 1], vec![2, 3, 4]],
        }]
    }

    #[test]
    fn availability_is_split_by_side() {
        let mut h = History::default();
        // Before the partition: not counted.
        op(&mut h, 0, "write", json!(1), 10, 20, EventType::Ok);
        // Minority side (n0) refuses, majority side (n3) answers.
        op(&mut h, 0, "write", json!(2), 200, 300, EventType::Fail);
        op(&mut h, 1, "read", json!(null), 200, 300, EventType::Ok);
        let contacts = [
            Contact {
                at_ns: 15,
                client: 5,
                server: 0,
            },
            Contact {
                at_ns: 210,
                client: 5,
                server: 0,
            },
            Contact {
                at_ns: 220,
                client: 6,
                server: 3,
            },
        ];
        let p = procs();
        let c = Clients {
            history: &h,
            final_process_base: 100,
            process_clients: &p,
            contacts: &contacts,
        };
        let f = availability(&c, &window());
        assert_eq!(f.value, Some(0.5));
        let sides = &f.detail.as_ref().unwrap()["partitions"][0]["sides"];
        assert_eq!(sides[0]["availability"], json!(0.0));
        assert_eq!(sides[1]["availability"], json!(1.0));
    }

    #[test]
    fn no_partition_has_no_value() {
        let h = History::default();
        let p = procs();
        let c = Clients {
            history: &h,
            final_process_base: 0,
            process_clients: &p,
            contacts: &[],
        };
        assert_eq!(availability(&c, &[]).value, None);
    }

    #[test]
    fn ap_timeouts_count_only_when_nothing_excuses_them() {
        let mut h = History::default();
        op(&mut h, 0, "write", json!(1), 200, 300, EventType::Info);
        let contacts = [Contact {
            at_ns: 210,
            client: 5,
            server: 0,
        }];
        let p = procs();
        let c = Clients {
            history: &h,
            final_process_base: 100,
            process_clients: &p,
            contacts: &contacts,
        };
        let partition = FaultWindow {
            start_ns: 100,
            end_ns: 1000,
            kind: "partition".into(),
        };
        let v = cap_violations(
            Declared::AP,
            &c,
            std::slice::from_ref(&partition),
            None,
            &[],
        );
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].kind, FindingKind::Availability);
        let loss = FaultWindow {
            kind: "loss".into(),
            ..partition.clone()
        };
        assert!(cap_violations(Declared::AP, &c, &[partition, loss], None, &[]).is_empty());
    }

    #[test]
    fn cp_is_judged_on_linearizability_and_ap_on_convergence() {
        let h = History::default();
        let p = procs();
        let c = Clients {
            history: &h,
            final_process_base: 0,
            process_clients: &p,
            contacts: &[],
        };
        let v = cap_violations(Declared::CP, &c, &[], Some("stale read"), &[]);
        assert_eq!(v[0].kind, FindingKind::Safety);
        assert!(cap_violations(Declared::CP, &c, &[], None, &[]).is_empty());
        let diverged = Finding::new("convergence", FindingKind::Convergence, "k differs");
        let v = cap_violations(Declared::AP, &c, &[], None, &[diverged]);
        assert_eq!(v[0].kind, FindingKind::Convergence);
    }
}
