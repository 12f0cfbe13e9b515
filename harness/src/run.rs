//! One seed, end to end: resolve the schedule, simulate, check, decide the verdict.
use crate::model::{Model, ModelInfo};
use crate::protocol::ModelConfig;
use crate::recording::Recording;
use crate::schedule::{Schedule, Step};
use faultline_checkers::{EventType, Finding, FindingKind};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{json, Value};

/// Where a run's fault steps come from.
#[derive(Clone, Debug)]
pub enum Faults {
    /// A schedule (explicit or a generator), resolved from the seed.
    Schedule(Schedule),
    /// Already-resolved steps (a reproducer).
    Steps(Vec<Step>),
}

/// Everything that determines a run.
#[derive(Clone, Debug)]
pub struct RunRequest {
    /// The seed: every random choice of the run derives from it.
    pub seed: u64,
    /// The configuration the protocol is built from.
    pub config: ModelConfig,
    /// The faults: a schedule to draw steps from, or explicit steps.
    pub faults: Faults,
    /// Checkers whose findings fail the run on top of the declared guarantees.
    pub fail_on: Vec<String>,
    /// Emit the event trace through `tracing`.
    pub trace: bool,
}

/// What a run did, in numbers (the `stats` of its JSON).
#[derive(Clone, Debug, Serialize)]
pub struct Stats {
    /// Client operations invoked.
    pub ops: usize,
    /// Of which ok (took effect).
    pub ok: usize,
    /// Of which failed (certainly did not take effect).
    pub fail: usize,
    /// Of which unknown (Jepsen's `info`: may or may not have taken effect).
    pub info: usize,
    /// Messages sent.
    pub messages: u64,
    /// Fault steps the run carried out.
    pub faults: usize,
    /// Faults the nemesis skipped, each with its reason in the fault log (`phase: skip`): a
    /// role nobody held, or a `corrupt`/`misdirect` strike the protocol's corruption budget
    /// forbids.
    pub skipped: usize,
    /// Simulated time (ms).
    pub sim_ms: u64,
    /// Wall time (ms; the only figure that is not deterministic).
    pub wall_ms: f64,
    /// Bytes of the messages sent, as the wire check encoded them (`--wire`; absent without it).
    /// Every send counts once, dropped ones included (the sender encoded them); a duplicate does
    /// not count again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wire_bytes: Option<u64>,
}

/// A run's verdict: `fail` when a declared guarantee (or a `--fail-on` checker) was violated,
/// else `undecided` when one of them could not decide within the work budget, else `pass`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// No violation, nothing undecided.
    Pass,
    /// A declared guarantee (or a `--fail-on` checker) was violated.
    Fail,
    /// Nothing failed, but a checker that counts ran out of its work budget.
    Undecided,
}

impl Verdict {
    /// `pass`, `fail` or `undecided`, as JSON writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Undecided => "undecided",
        }
    }

    /// The exit code of `run` and `replay`: 0 pass, 1 fail, 3 undecided.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::Undecided => 3,
        }
    }
}

/// A judged run.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// The model's name.
    pub model: String,
    /// The model's version.
    pub model_version: String,
    /// The seed.
    pub seed: u64,
    /// The configuration it ran.
    pub config: ModelConfig,
    /// `verdict() == Verdict::Pass`: no violation and nothing undecided.
    pub passed: bool,
    /// Findings that fail the run: of declared guarantees and `--fail-on` checkers.
    pub violations: Vec<Finding>,
    /// Findings of kind `undecided` from checkers whose verdict counts (declared guarantees,
    /// `--fail-on`): what could not be decided within the budget.
    pub undecided: Vec<Finding>,
    /// Every other finding (reported, not failing: e.g. an AP store's stale reads).
    pub findings: Vec<Finding>,
    /// The hash of every simulation event: the same seed gives the same fingerprint.
    pub fingerprint: String,
    /// What the run did, in numbers.
    pub stats: Stats,
    /// The resolved steps that ran (what a reproducer records).
    pub steps: Vec<Step>,
    /// Everything the checkers read: history, observations, faults.
    pub recording: Recording,
    /// The model as `list` shows it, under this configuration.
    pub info: ModelInfo,
}

impl RunReport {
    /// `MODEL[ --bug B][ --buggify] seed N`: how reports and pages name this run.
    pub fn label(&self) -> String {
        format!(
            "{}{}{} seed {}",
            self.model,
            crate::protocol::bug_flag(self.config.bug.as_deref()),
            crate::protocol::buggify_flag(self.config.buggify_on()),
            self.seed
        )
    }

    /// Fail if anything was violated, else undecided if anything could not be decided.
    pub fn verdict(&self) -> Verdict {
        if !self.violations.is_empty() || (!self.passed && self.undecided.is_empty()) {
            Verdict::Fail
        } else if !self.undecided.is_empty() {
            Verdict::Undecided
        } else {
            Verdict::Pass
        }
    }

    /// Adds a violation (the run then fails).
    pub fn add_violation(&mut self, f: Finding) {
        self.violations.push(f);
        self.passed = false;
    }

    /// The `run` JSON object (artifacts are added by the caller): `verdict` is `pass`, `fail`
    /// or `undecided`; `undecided` lists the findings that could not be decided.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "model": self.model,
            "bug": self.config.bug,
            "seed": self.seed,
            "verdict": self.verdict(),
            "violations": self.violations,
            "undecided": self.undecided,
            "findings": self.findings,
            "fingerprint": self.fingerprint,
            "stats": self.stats,
        });
        // Buggify's points (only in a run with buggify on): enabled, reached and fired counts.
        if self.config.buggify || self.config.buggify_only.is_some() {
            v["buggify"] = json!(self.recording.buggify);
        }
        // The wire check, when the run made it (its bytes are in `stats.wire_bytes`).
        if let Some(w) = self.config.wire {
            v["wire"] = json!(w);
        }
        v
    }

    /// The first violation reported by `checker`, if any.
    pub fn violation(&self, checker: &str) -> Option<&Finding> {
        self.violations.iter().find(|f| f.checker == checker)
    }

    /// Names of the checkers that found violations, sorted and unique.
    pub fn violated_checkers(&self) -> Vec<String> {
        let mut v: Vec<String> = self.violations.iter().map(|f| f.checker.clone()).collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Errors that are the caller's fault (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// `--bug` names no variant of the model.
    #[error("model {model}: unknown bug variant `{bug}` (known: {known})")]
    UnknownBug {
        /// The model.
        model: String,
        /// The variant asked for.
        bug: String,
        /// The model's variants.
        known: String,
    },
    /// The model's factory refused the configuration: (model, why).
    #[error("model {0}: {1}")]
    Config(String, String),
    /// The schedule does not fit the run (e.g. a step names a node the run does not have).
    #[error("schedule: {0}")]
    Schedule(String),
}

/// The steps a seed runs under a schedule: drawn from `ChaCha8Rng(seed)` only, so fault times and
/// victims do not depend on the workload. `info` comes from [`validate`].
pub fn resolve_steps(
    info: &ModelInfo,
    seed: u64,
    cfg: &ModelConfig,
    schedule: &Schedule,
) -> Result<Vec<Step>, RunError> {
    // Victims are drawn among every server node, those `--nodes` does not count included.
    debug_assert!(info.servers >= cfg.nodes, "a protocol only adds servers");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    schedule
        .resolve_for(
            &mut rng,
            info.servers,
            info.expected_ms,
            info.roles,
            info.corruption_budget,
        )
        .map_err(RunError::Schedule)
        .and_then(|steps| check_clients(steps, cfg.clients.max(1)))
}

/// A client fault may name only the run's clients (`c0..`): one that names another is the
/// schedule's mistake, told before any run starts.
fn check_clients(steps: Vec<Step>, clients: usize) -> Result<Vec<Step>, RunError> {
    for (i, s) in steps.iter().enumerate() {
        let named = s.fault.clients().map_or(&[][..], |c| c.ids());
        if let Some(c) = named.iter().find(|&&c| c >= clients) {
            return Err(RunError::Schedule(format!(
                "{}step {} ({}): client {c} does not exist (the run has clients 0..{clients}; see --clients)",
                s.source,
                i + 1,
                s.fault.kind(),
            )));
        }
    }
    Ok(steps)
}

/// A simulated duration such as `10s`, `500ms` or `2m`, in milliseconds (plain numbers are
/// seconds).
pub fn parse_sim_duration_ms(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| "expected a number and a unit, like 10s or 500ms".to_string())?;
    let ms = match unit {
        "ms" => Some(n),
        "" | "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        _ => return Err(format!("unknown unit `{unit}` (use ms, s or m)")),
    };
    match ms {
        Some(0) => Err("must be more than zero".into()),
        Some(ms) => Ok(ms),
        None => Err("too long".into()),
    }
}

/// Validates a configuration before any simulation starts.
pub fn validate(model: &Model, cfg: &ModelConfig) -> Result<ModelInfo, RunError> {
    if let Some(bug) = &cfg.bug {
        if !model.bugs().iter().any(|b| &b.name == bug) {
            return Err(RunError::UnknownBug {
                model: model.name().into(),
                bug: bug.clone(),
                known: model
                    .bugs()
                    .iter()
                    .map(|b| b.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    for key in cfg.set.keys() {
        if !model.params().iter().any(|p| &p.name == key) {
            let known: Vec<&str> = model.params().iter().map(|p| p.name.as_str()).collect();
            return Err(RunError::Config(
                model.name().into(),
                format!(
                    "unknown parameter `--set {key}` (known: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
    }
    if let Some(w) = &cfg.workload {
        let supported = model.supported_workloads();
        if !supported.iter().any(|s| s == w) {
            return Err(RunError::Config(
                model.name().into(),
                format!(
                    "unknown workload `{w}` (this model supports: {})",
                    if supported.is_empty() {
                        "only its own; --workload does not apply".to_string()
                    } else {
                        supported.join(", ")
                    }
                ),
            ));
        }
    }
    if cfg.check_budget == Some(0) {
        return Err(RunError::Config(
            model.name().into(),
            "--check-budget must be at least 1".into(),
        ));
    }
    if cfg.nodes == 0 || cfg.clients == 0 {
        return Err(RunError::Config(
            model.name().into(),
            "--nodes and --clients must be at least 1".into(),
        ));
    }
    let info = model
        .info(cfg)
        .map_err(|e| RunError::Config(model.name().into(), e))?;
    if let (Some(w), None) = (cfg.wire, &info.wire_codec) {
        return Err(RunError::Config(
            model.name().into(),
            format!(
                "--wire {}: this protocol declares no wire codec (Protocol::wire_codec; \
                 `Some(WireCodec::serde())` for Serialize + DeserializeOwned messages)",
                w.as_str()
            ),
        ));
    }
    Ok(info)
}

/// Runs one seed and judges it.
///
/// ```no_run
/// # fn f(model: &faultline::Model) {
/// use faultline::run::{run, Faults, RunRequest};
/// use faultline::schedule::Schedule;
/// let report = run(model, &RunRequest {
///     seed: 7,
///     config: model.config(None),
///     faults: Faults::Schedule(Schedule::load("swarm").unwrap()),
///     fail_on: vec![],
///     trace: false,
/// }).unwrap();
/// assert!(report.passed, "{:?}", report.violations);
/// # }
/// ```
pub fn run(model: &Model, req: &RunRequest) -> Result<RunReport, RunError> {
    let info = validate(model, &req.config)?;
    let steps = match &req.faults {
        Faults::Steps(s) => {
            // Reproducers are user-editable: check their node ids too.
            let sched = Schedule::Steps(s.clone());
            resolve_steps(&info, req.seed, &req.config, &sched)?
        }
        Faults::Schedule(sched) => resolve_steps(&info, req.seed, &req.config, sched)?,
    };
    let judged = model
        .run_steps(req.seed, &req.config, steps, req.trace)
        .map_err(|e| RunError::Config(model.name().into(), e))?;
    let mut findings = judged.findings;
    if let Some(p) = &judged.sim.recording.panic {
        findings.push(
            Finding::new(
                "panic",
                FindingKind::Safety,
                format!("model code panicked: {p}"),
            )
            .at_ms(judged.sim.recording.sim_ns / 1_000_000),
        );
    }
    let fails = |f: &Finding| {
        f.checker == "panic"
            // A run that did nothing proves nothing, whatever the model declares.
            || faultline_checkers::progress::never_succeeded(f)
            || judged.info.guarantees.iter().any(|g| g == &f.checker)
            || req.fail_on.iter().any(|g| g == &f.checker)
    };
    let (judged_findings, findings): (Vec<Finding>, Vec<Finding>) =
        findings.into_iter().partition(|f| fails(f));
    // A guarantee's checker that could not decide makes the run undecided, not passed.
    let (undecided, violations): (Vec<Finding>, Vec<Finding>) = judged_findings
        .into_iter()
        .partition(|f| f.kind == FindingKind::Undecided);
    let rec = &judged.sim.recording;
    let count = |k: EventType| rec.history.events.iter().filter(|e| e.kind == k).count();
    let stats = Stats {
        ops: count(EventType::Invoke),
        ok: count(EventType::Ok),
        fail: count(EventType::Fail),
        info: count(EventType::Info),
        messages: rec.messages,
        // Steps that started: a step skipped (its role had no holder) or never reached (its
        // trigger never fired, or the workload ended first) is in `steps` but did nothing.
        // A `corrupt`/`misdirect` strike that landed counts once per node it hit.
        faults: rec
            .faults
            .iter()
            .filter(|f| f.phase == "start" || f.phase == "strike")
            .count(),
        skipped: rec.faults.iter().filter(|f| f.phase == "skip").count(),
        sim_ms: rec.sim_ns / 1_000_000,
        wall_ms: (judged.wall_ms * 10.0).round() / 10.0,
        wire_bytes: judged.sim.wire_bytes,
    };
    Ok(RunReport {
        model: model.name().into(),
        model_version: model.version.clone(),
        seed: req.seed,
        config: req.config.clone(),
        passed: violations.is_empty() && undecided.is_empty(),
        violations,
        undecided,
        findings,
        fingerprint: judged.sim.fingerprint.hex(),
        stats,
        steps: judged.sim.ran,
        recording: judged.sim.recording,
        info: judged.info,
    })
}

/// Compares two runs of the same seed and configuration: a `determinism` violation naming both
/// fingerprints and both verdicts when they differ (in fingerprint, verdict or violated
/// checkers), `None` when they agree.
pub fn compare_runs(first: &RunReport, second: &RunReport) -> Option<Finding> {
    if first.fingerprint == second.fingerprint
        && first.verdict() == second.verdict()
        && first.violated_checkers() == second.violated_checkers()
    {
        return None;
    }
    let show = |r: &RunReport| {
        let v = r.violated_checkers();
        if v.is_empty() {
            r.verdict().as_str().to_string()
        } else {
            format!("{} ({})", r.verdict().as_str(), v.join(", "))
        }
    };
    Some(
        Finding::new(
            "determinism",
            FindingKind::Safety,
            format!(
                "seed {} is not reproducible: run 1 gave fingerprint {} and verdict {}, run 2 \
                 fingerprint {} and verdict {}; something outside the seed (real time, OS \
                 randomness, HashMap order, state kept between runs) changes the run",
                first.seed,
                first.fingerprint,
                show(first),
                second.fingerprint,
                show(second)
            ),
        )
        .detail(json!({
            "fingerprints": [first.fingerprint, second.fingerprint],
            "verdicts": [first.verdict(), second.verdict()],
        })),
    )
}
