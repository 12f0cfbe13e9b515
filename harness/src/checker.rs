//! Checkers as the harness runs them: pure functions over a [`Recording`].
use crate::data::Cap;
use crate::recording::Recording;
use faultline_checkers::cap::{availability, cap_violations, Clients, Declared};
use faultline_checkers::convergence::{
    check_convergence, check_final_states, staleness, FINAL_STATE, REPLICA_STATE,
};
use faultline_checkers::linearizability::Verdict;
use faultline_checkers::requirements::check_requirements;
pub use faultline_checkers::requirements::{FieldType, Needed, Requirement};
use faultline_checkers::{Finding, FindingKind};
use serde_json::json;

/// Judges one recorded run. Must be a pure function of the recording.
///
/// ```
/// use faultline::{checker::Checker, recording::Recording};
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
    /// The checker's name: what its findings carry, `--fail-on` and `guarantees()` name.
    fn name(&self) -> &'static str;
    /// Judges one run: every finding (an empty list when all is well).
    fn check(&self, rec: &Recording) -> Vec<Finding>;
    /// The checker names its findings carry (what `list` shows and `--fail-on` accepts), when
    /// it reports more than its own name.
    fn reports(&self) -> Vec<&'static str> {
        vec![self.name()]
    }
    /// The observations this checker reads, with their fields and when a run must have them
    /// (see [`faultline_checkers::requirements`]). When the checker's guarantee is declared, a
    /// missing or malformed one is a violation under the checker's name: a model that reports
    /// less must never look safer. Default: none (the checker reads only the history).
    fn requires(&self) -> Vec<Requirement> {
        vec![]
    }
}

/// Judges `rec` with `checker`: its findings, plus (when one of the names it reports is among
/// `guarantees`) the violations of its [`Checker::requires`].
///
/// ```
/// use faultline::checker::{judge, raft_checkers};
/// use faultline::recording::Recording;
/// // An empty run gave no chance to report anything: nothing is missing.
/// let c = &raft_checkers()[0];
/// assert!(judge(c.as_ref(), &Recording::default(), &[c.name()]).is_empty());
/// ```
pub fn judge(checker: &dyn Checker, rec: &Recording, guarantees: &[&str]) -> Vec<Finding> {
    let mut out = Vec::new();
    if checker.reports().iter().any(|r| guarantees.contains(r)) {
        out = check_requirements(
            checker.name(),
            &checker.requires(),
            &rec.observations,
            &rec.history,
            rec.final_process_base,
        );
    }
    out.extend(checker.check(rec));
    out
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

/// `invented-value`: every value a read returned was written (invoked) by some client before the
/// read ended ([`faultline_checkers::invented_value`]). Any read/write store, CP or AP.
pub struct InventedValue;

impl Checker for InventedValue {
    fn name(&self) -> &'static str {
        faultline_checkers::invented_value::INVENTED_VALUE
    }
    fn check(&self, rec: &Recording) -> Vec<Finding> {
        faultline_checkers::invented_value::check_invented_values(&rec.history)
    }
}

/// `ap-lost-write`: for an AP store, an acknowledged write that no other write could have
/// replaced is read back after the heal ([`faultline_checkers::ap_lost_write`]). CP stores are
/// held to the stronger `lost-write`, which implies it, so they are not judged twice.
pub struct ApLostWrite;

impl Checker for ApLostWrite {
    fn name(&self) -> &'static str {
        faultline_checkers::ap_lost_write::AP_LOST_WRITE
    }
    fn check(&self, rec: &Recording) -> Vec<Finding> {
        if rec.cap != Cap::AP {
            return vec![];
        }
        faultline_checkers::ap_lost_write::check_ap_lost_writes(
            &rec.history,
            rec.final_process_base,
        )
    }
}

/// `liveness`: after the final heal, every final read (every final op) succeeds within the
/// liveness bound (`--liveness-timeout`, default 10 s simulated). Silent when the run never
/// reached its final phase.
pub struct Liveness;

impl Checker for Liveness {
    fn name(&self) -> &'static str {
        faultline_checkers::liveness::LIVENESS
    }
    fn check(&self, rec: &Recording) -> Vec<Finding> {
        let Some(heal_ns) = rec.heal_ns else {
            return vec![];
        };
        let bound_ms = rec.liveness_ms.unwrap_or(crate::data::DEFAULT_LIVENESS_MS);
        faultline_checkers::liveness::check_liveness(
            &rec.history,
            faultline_checkers::liveness::FinalPhase {
                heal_ns,
                bound_ns: bound_ms.saturating_mul(1_000_000),
                final_process_base: rec.final_process_base,
            },
        )
    }
}

/// `progress`: no quiet window (no fault active) of a second or more in which operations were
/// attempted and none succeeded, and never a run in which nothing succeeded.
pub struct Progress;

impl Checker for Progress {
    fn name(&self) -> &'static str {
        faultline_checkers::progress::PROGRESS
    }
    fn check(&self, rec: &Recording) -> Vec<Finding> {
        let active: Vec<(u64, u64)> = rec.windows().iter().map(|(s, e, _)| (*s, *e)).collect();
        let mut found =
            faultline_checkers::progress::check_progress(&rec.history, &active, rec.sim_ns);
        if rec.panic.is_some() {
            // A run that panicked ended there: the panic is its violation, and "nothing ever
            // succeeded" in the moments before it says nothing about the store's progress.
            found.retain(|f| !faultline_checkers::progress::never_succeeded(f));
        }
        found
    }
}

/// The checkers the harness runs for every model, on top of [`Protocol::checkers`]
/// (`liveness`, `progress`): whether their findings fail a run is the model's guarantees' call,
/// except "no operation ever succeeded", which fails every run.
///
/// [`Protocol::checkers`]: crate::protocol::Protocol::checkers
pub fn harness_checkers() -> Vec<Box<dyn Checker>> {
    vec![Box::new(Liveness), Box::new(Progress)]
}

/// A protocol's checkers followed by the [`harness_checkers`] it does not already run.
pub(crate) fn with_harness_checkers(mut own: Vec<Box<dyn Checker>>) -> Vec<Box<dyn Checker>> {
    for c in harness_checkers() {
        if !own.iter().any(|o| o.name() == c.name()) {
            own.push(c);
        }
    }
    own
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
        let undecided = consistency == json!("undecided");
        if let Some(d) = avail.detail.as_mut() {
            d["declared"] = json!(rec.cap);
            d["consistency"] = consistency;
        }
        let mut out = vec![avail];
        // A CP promise rests on linearizability: when that search could not decide, neither
        // can `cap` (silence here would read as "kept").
        if undecided {
            out.push(Finding::new(
                "cap",
                faultline_checkers::FindingKind::Undecided,
                "undecided: the CP promise rests on linearizability, whose search ran out of its budget",
            ));
        }
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

/// `convergence`: every replica holds the same value for every key once the system healed and
/// settled, as the harness's final inspection ([`crate::Protocol::inspect`]) finds them;
/// when the model also reports `replica-state` observations, they must agree by the time the
/// final reads begin, and `convergence-time` says how long that took. Reports, when some read
/// was stale, the reads' `staleness`. A model that declares `convergence` must answer the
/// inspection: without a `final-state` there is nothing to compare, and that is a violation.
pub struct Convergence;

impl Checker for Convergence {
    fn name(&self) -> &'static str {
        "convergence"
    }

    fn reports(&self) -> Vec<&'static str> {
        vec!["convergence", "convergence-time", "staleness"]
    }

    fn requires(&self) -> Vec<Requirement> {
        vec![Requirement::new(FINAL_STATE, Needed::Always).field("state", FieldType::Object)]
    }

    fn check(&self, rec: &Recording) -> Vec<Finding> {
        let mut out = check_final_states(&rec.observations);
        if rec.observations_of(REPLICA_STATE).next().is_some() {
            // A key both sources find divergent is reported once, from the inspection.
            let flagged: Vec<serde_json::Value> = out
                .iter()
                .filter_map(|f| f.detail.as_ref().map(|d| d["key"].clone()))
                .collect();
            out.extend(
                check_convergence(&rec.observations, rec.final_phase_ns, rec.final_reads_ns())
                    .into_iter()
                    .filter(|f| {
                        f.checker != "convergence"
                            || !f
                                .detail
                                .as_ref()
                                .is_some_and(|d| flagged.contains(&d["key"]))
                    }),
            );
        } else if out.is_empty() && rec.observations_of(FINAL_STATE).next().is_none() {
            return out;
        }
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

/// A pure check over a run's recording.
type RecordingCheck = fn(&Recording) -> Vec<Finding>;

/// One of the Raft safety checkers of [`faultline_checkers::raft`].
struct RaftCheck {
    name: &'static str,
    check: RecordingCheck,
}

impl Checker for RaftCheck {
    fn name(&self) -> &'static str {
        self.name
    }
    fn check(&self, rec: &Recording) -> Vec<Finding> {
        (self.check)(rec)
    }
    fn requires(&self) -> Vec<Requirement> {
        faultline_checkers::raft::requirements(self.name)
    }
}

/// Raft's safety properties (election safety, log matching, state machine safety, no lost
/// commit, every acknowledged write applied in one order), for any Raft implementation that
/// reports `leader-elected`, `committed` and `applied` observations as
/// [`faultline_checkers::raft`] describes. Their names are [`faultline_checkers::raft::ALL`],
/// to add to a model's guarantees; each declares the observations it needs, so a Raft that
/// reports none fails them.
///
/// ```
/// let names: Vec<_> = faultline::checker::raft_checkers().iter().map(|c| c.name()).collect();
/// assert_eq!(names, faultline_checkers::raft::ALL);
/// ```
pub fn raft_checkers() -> Vec<Box<dyn Checker>> {
    use faultline_checkers::raft;
    let all: [(&'static str, RecordingCheck); 5] = [
        (raft::ELECTION_SAFETY, |r| {
            raft::election_safety(&r.observations)
        }),
        (raft::LOG_MATCHING, |r| raft::log_matching(&r.observations)),
        (raft::STATE_MACHINE_SAFETY, |r| {
            raft::state_machine_safety(&r.observations)
        }),
        (raft::LOST_COMMIT, |r| raft::lost_commit(&r.observations)),
        (raft::ACKED_APPLIED, |r| {
            raft::acked_applied(&r.history, &r.observations)
        }),
    ];
    all.into_iter()
        .map(|(name, check)| Box::new(RaftCheck { name, check }) as Box<dyn Checker>)
        .collect()
}

/// The checkers every read/write store gets: linearizability, lost writes (and, for AP stores,
/// `ap-lost-write`), invented values, CAP classification (availability during partitions, the
/// declared choice kept), convergence and lost updates (the last two only speak when the model
/// reports its replicas' state).
pub fn standard_kv_checkers() -> Vec<Box<dyn Checker>> {
    vec![
        Box::new(Linearizable),
        Box::new(LostWrite),
        Box::new(ApLostWrite),
        Box::new(InventedValue),
        Box::new(CapClassification),
        Box::new(Convergence),
        Box::new(LostUpdate),
    ]
}

/// `linearizability`: the client history (final reads included) against its spec, within the
/// recording's work budget.
pub struct Linearizable;

impl Checker for Linearizable {
    fn name(&self) -> &'static str {
        "linearizability"
    }

    fn check(&self, rec: &Recording) -> Vec<Finding> {
        let c = match rec.linearizability() {
            Ok(c) => c,
            Err(e) => {
                return vec![Finding::new(
                    "linearizability",
                    FindingKind::Safety,
                    format!("the recorded history is malformed: {e}"),
                )]
            }
        };
        match c.verdict {
            Verdict::Linearizable => vec![],
            Verdict::Undecided => vec![Finding::new(
                "linearizability",
                FindingKind::Undecided,
                format!(
                    "undecided: the linearizability search ran out of its budget ({} steps of {}; --check-budget raises it)",
                    c.steps, rec.check_budget.0
                ),
            )
            .value(c.steps as f64)],
            Verdict::NotLinearizable => {
                let v = c.violation.as_ref();
                let at_ms = v
                    .and_then(|v| c.ops.get(v.stuck))
                    .map(|op| op.call / 1_000_000);
                let mut f = Finding::new("linearizability", FindingKind::Safety, c.explain())
                    .detail(json!({
                        "key": v.and_then(|v| v.key.clone()),
                        "counterexample": c.counterexample_json(),
                    }));
                if let Some(t) = at_ms {
                    f = f.at_ms(t);
                }
                vec![f]
            }
        }
    }
}
