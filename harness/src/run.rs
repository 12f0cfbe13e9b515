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
    pub seed: u64,
    pub config: ModelConfig,
    pub faults: Faults,
    /// Checkers whose findings fail the run on top of the declared guarantees.
    pub fail_on: Vec<String>,
    /// Emit the event trace through `tracing`.
    pub trace: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Stats {
    pub ops: usize,
    pub ok: usize,
    pub fail: usize,
    pub info: usize,
    pub messages: u64,
    pub faults: usize,
    pub sim_ms: u64,
    pub wall_ms: f64,
}

/// A judged run.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub model: String,
    pub model_version: String,
    pub seed: u64,
    pub config: ModelConfig,
    pub passed: bool,
    pub violations: Vec<Finding>,
    pub findings: Vec<Finding>,
    pub fingerprint: String,
    pub stats: Stats,
    /// The resolved steps that ran (what a reproducer records).
    pub steps: Vec<Step>,
    pub recording: Recording,
    pub info: ModelInfo,
}

impl RunReport {
    /// SPEC.md's `run` JSON object (artifacts are added by the caller).
    /// `MODEL[ --bug B] seed N`: how reports and pages name this run.
    pub fn label(&self) -> String {
        format!(
            "{}{} seed {}",
            self.model,
            crate::protocol::bug_flag(self.config.bug.as_deref()),
            self.seed
        )
    }

    pub fn to_json(&self) -> Value {
        json!({
            "model": self.model,
            "bug": self.config.bug,
            "seed": self.seed,
            "verdict": if self.passed { "pass" } else { "fail" },
            "violations": self.violations,
            "findings": self.findings,
            "fingerprint": self.fingerprint,
            "stats": self.stats,
        })
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
    #[error("model {model}: unknown bug variant `{bug}` (known: {known})")]
    UnknownBug {
        model: String,
        bug: String,
        known: String,
    },
    #[error("model {0}: {1}")]
    Config(String, String),
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
        .resolve(&mut rng, info.servers, info.expected_ms)
        .map_err(RunError::Schedule)
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
    model
        .info(cfg)
        .map_err(|e| RunError::Config(model.name().into(), e))
}

/// Runs one seed and judges it.
///
/// ```no_run
/// # fn f(model: &faultline_harness::Model) {
/// use faultline_harness::run::{run, Faults, RunRequest};
/// use faultline_harness::schedule::Schedule;
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
    let (violations, findings): (Vec<Finding>, Vec<Finding>) =
        findings.into_iter().partition(|f| fails(f));
    let rec = &judged.sim.recording;
    let count = |k: EventType| rec.history.events.iter().filter(|e| e.kind == k).count();
    let stats = Stats {
        ops: count(EventType::Invoke),
        ok: count(EventType::Ok),
        fail: count(EventType::Fail),
        info: count(EventType::Info),
        messages: rec.messages,
        faults: judged.sim.ran.len(),
        sim_ms: rec.sim_ns / 1_000_000,
        wall_ms: (judged.wall_ms * 10.0).round() / 10.0,
    };
    Ok(RunReport {
        model: model.name().into(),
        model_version: model.version.clone(),
        seed: req.seed,
        config: req.config.clone(),
        passed: violations.is_empty(),
        violations,
        findings,
        fingerprint: judged.sim.fingerprint.hex(),
        stats,
        steps: judged.sim.ran,
        recording: judged.sim.recording,
        info: judged.info,
    })
}
