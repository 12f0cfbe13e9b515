//! Checkers as the harness runs them: pure functions over a [`Recording`].
use crate::protocol::Cap;
use crate::recording::Recording;
use faultline_checkers::cap::{availability, cap_violations, Clients, Declared};
use faultline_checkers::convergence::{check_convergence, staleness};
use faultline_checkers::linearizability::Verdict;
use faultline_checkers::Finding;
use serde_json::json;

/// Judges one recorded run. Must be a pure function of the recording.
///
/// ```
/// use faultline_harness::{checker::Checker, recording::Recording};
/// use faultline_checkers::{Finding, FindingKind};
/// struct NoPanics;
/// impl Checker for NoPanics {
///     fn name(&self) -> &'static str { "no-panics" }
///     fn check(&self, rec: &Recording) -> Vec<Finding> {
///         rec.panic.iter().map(|p| Finding::new("no-panics", FindingKind::Safety, p.clone())).collect()
///     }
/// }
/// assert!(NoPanics.check(&Recording::default()).is_empty());
/// ```
pub trait Checker: Send + Sync {
    fn name(&self) -> &'static str;
    fn check(&self, rec: &Recording) -> Vec<Finding>;
    /// The checker names its findings carry (what `list` shows and `--fail-on` accepts), when
    /// it reports more than its own name.
    fn reports(&self) -> Vec<&'static str> {
        vec![self.name()]
    }
}

/// `lost-write`: an acknowledged write missing from the final reads. Under the `append`
/// workload, element by element: each acknowledged element missing from its key's final read,
/// and each element a read shows that no append attempted, that failed, or twice
/// ([`faultline_checkers::lost_element`]).
pub struct LostWrite;

impl Checker for LostWrite {
    fn name(&self) -> &'static str {
        "lost-write"
    }
    fn check(&self, rec: &Recording) -> Vec<Finding> {
        faultline_checkers::lost_write::check_lost_writes(&rec.history, rec.final_process_base)
    }
}

/// CAP classification: reports `availability` (how much was answered while partitioned, per
/// side, with the consistency verdict) and finds `cap` violations of the declared choice.
/// Models that declare [`Cap::None`] are not classified.
pub struct CapClassification;

impl Checker for CapClassification {
    fn name(&self) -> &'static str {
        "cap"
    }

    fn reports(&self) -> Vec<&'static str> {
        vec!["availability", "cap"]
    }

    fn check(&self, rec: &Recording) -> Vec<Finding> {
        let declared = match rec.cap {
            Cap::CP => Declared::CP,
            Cap::AP => Declared::AP,
            Cap::None => return vec![],
        };
        let clients = Clients {
            history: &rec.history,
            final_process_base: rec.final_process_base,
            process_clients: &rec.process_clients,
            contacts: &rec.contacts,
        };
        let mut avail = availability(&clients, &rec.partitions());
        let (consistency, nonlinearizable, converged) = match declared {
            Declared::CP => {
                // The promise is linearizability; judged here again so the verdict travels with
                // the availability figure.
                match rec.linearizability() {
                    Ok(c) if c.verdict == Verdict::NotLinearizable => {
                        (json!("not linearizable"), Some(c.explain()), vec![])
                    }
                    Ok(c) if c.verdict == Verdict::Undecided => (json!("undecided"), None, vec![]),
                    Ok(_) => (json!("linearizable"), None, vec![]),
                    Err(e) => (json!(format!("unreadable history: {e}")), None, vec![]),
                }
            }
            Declared::AP => {
                let stale = staleness(&rec.history, rec.final_process_base);
                let conv =
                    check_convergence(&rec.observations, rec.final_phase_ns, rec.final_reads_ns());
                let verdict = json!({
                    "stale_reads": stale.detail.as_ref().map(|d| d["stale_reads"].clone()),
                    "max_staleness_ms": stale.value,
                    "converged": conv.iter().all(|f| f.checker != "convergence"),
                });
                (verdict, None, conv)
            }
        };
        if let Some(d) = avail.detail.as_mut() {
            d["declared"] = json!(rec.cap);
            d["consistency"] = consistency;
        }
        let mut out = vec![avail];
        out.extend(cap_violations(
            declared,
            &clients,
            &rec.fault_windows(),
            nonlinearizable.as_deref(),
            &converged,
        ));
        out
    }
}

/// `convergence`: replicas (as their `replica-state` observations report them) agree on every
/// key by the time the final reads begin; reports the convergence time and, when some read was
/// stale, the reads' `staleness`. Silent for models that report no replica state.
pub struct Convergence;

impl Checker for Convergence {
    fn name(&self) -> &'static str {
        "convergence"
    }

    fn reports(&self) -> Vec<&'static str> {
        vec!["convergence", "convergence-time", "staleness"]
    }

    fn check(&self, rec: &Recording) -> Vec<Finding> {
        if !rec
            .observations
            .iter()
            .any(|o| o.kind == faultline_checkers::convergence::REPLICA_STATE)
        {
            return vec![];
        }
        let mut out =
            check_convergence(&rec.observations, rec.final_phase_ns, rec.final_reads_ns());
        // Only when some read was stale, so `--fail-on staleness` means "no stale reads".
        let stale = staleness(&rec.history, rec.final_process_base);
        if stale
            .detail
            .as_ref()
            .is_some_and(|d| d["stale_reads"].as_u64() > Some(0))
        {
            out.push(stale);
        }
        out
    }
}

/// `lost-update`: last-writer-wins ordered acknowledged writes against real time.
pub struct LostUpdate;

impl Checker for LostUpdate {
    fn name(&self) -> &'static str {
        "lost-update"
    }

    fn check(&self, rec: &Recording) -> Vec<Finding> {
        faultline_checkers::lost_update::check_lost_updates(&rec.history, &rec.observations)
    }
}

/// A pure check over a run's observations.
type ObservationCheck = fn(&[faultline_checkers::Observation]) -> Vec<Finding>;

/// One of the Raft safety checkers of [`faultline_checkers::raft`].
struct RaftCheck {
    name: &'static str,
    check: ObservationCheck,
}

impl Checker for RaftCheck {
    fn name(&self) -> &'static str {
        self.name
    }
    fn check(&self, rec: &Recording) -> Vec<Finding> {
        (self.check)(&rec.observations)
    }
}

/// Raft's four safety properties (election safety, log matching, state machine safety, no lost
/// commit), for any Raft implementation that reports `leader-elected`, `committed` and
/// `applied` observations as [`faultline_checkers::raft`] describes. Their names are
/// [`faultline_checkers::raft::ALL`], to add to a model's guarantees.
///
/// ```
/// let names: Vec<_> = faultline_harness::checker::raft_checkers().iter().map(|c| c.name()).collect();
/// assert_eq!(names, faultline_checkers::raft::ALL);
/// ```
pub fn raft_checkers() -> Vec<Box<dyn Checker>> {
    use faultline_checkers::raft;
    let all: [(&'static str, ObservationCheck); 4] = [
        (raft::ELECTION_SAFETY, raft::election_safety),
        (raft::LOG_MATCHING, raft::log_matching),
        (raft::STATE_MACHINE_SAFETY, raft::state_machine_safety),
        (raft::LOST_COMMIT, raft::lost_commit),
    ];
    all.into_iter()
        .map(|(name, check)| Box::new(RaftCheck { name, check }) as Box<dyn Checker>)
        .collect()
}

/// The checkers every read/write store gets: linearizability, lost writes, CAP classification
/// (availability during partitions, the declared choice kept), convergence and lost updates
/// (the last two only speak when the model reports its replicas' state).
pub fn standard_kv_checkers() -> Vec<Box<dyn Checker>> {
    vec![
        Box::new(crate::linearizable::Linearizable),
        Box::new(LostWrite),
        Box::new(CapClassification),
        Box::new(Convergence),
        Box::new(LostUpdate),
    ]
}
