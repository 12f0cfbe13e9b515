//! `faultline ci SUITE.yaml`: the CI gate. A suite is a YAML list of expectations (docs/reference.md):
//!
//! ```yaml
//! - {model: primary-backup, seeds: 200, expect: pass}
//! - {model: primary-backup, bug: async-ack, seeds: "1000..1200", expect: fail, checker: lost-write}
//! - {model: twopc, schedule: crash-coordinator, seeds: 20, expect: pass, finding: blocking}
//! ```
//!
//! Fields: `model`, `bug`, `schedule` (a built-in name, or a file path relative to the suite's
//! folder or the current one), `seeds` (a count from 0 or a range `"a..b"`), `expect` (`pass` or
//! `fail`), `checker` (with `expect: fail`: the checker that must be among a failing seed's
//! violations), `finding` (a checker that must report something in at least one seed), `set` (model
//! parameters, a map), `nodes`, `clients`, `ops`, `fail_on` (a list, as `--fail-on`),
//! `workload`, `liveness_timeout`, `check_budget` (the checkers' work budget in search steps),
//! `buggify` (true: buggify points on), `wire` (`serde`: the wire check, as `--wire serde`),
//! `check_determinism` (a share of passing seeds to run twice, like `"10%"`; failing and
//! undecided seeds always run twice) and `allow_undecided` (accept undecided seeds).
//!
//! A seed is undecided when nothing failed but a checker whose verdict counts ran out of its
//! work budget. An `expect: pass` entry with undecided seeds is not met (unless
//! `allow_undecided`), and neither is an `expect: fail` entry that found no failure but had
//! undecided seeds; when every unmet entry is unmet only for undecided seeds, `ci` exits 3.
//!
//! An entry stops as soon as its verdict is certain: the lowest failing seed for `expect: pass`,
//! the lowest seed failing as expected for `expect: fail` (entries with `finding` run every
//! seed). The seed it reports is the same whatever `--jobs`. That seed's reproducer is written
//! under `--out` (default `faultline-out/ci/`), one folder per entry.
//!
//! ```no_run
//! # fn f(models: &[faultline::Model]) {
//! use faultline_cli::suite::{run_suite, CiOptions};
//! let report = run_suite(models, &CiOptions::new("ci/faultline.yaml")).unwrap();
//! assert!(report.passed());
//! # }
//! ```
use crate::junit::TestCase;
use faultline::artifacts::{write_file, write_run_artifacts, WriteError};
use faultline::campaign::{
    default_jobs, run_seeds, CampaignError, RangeSet, Recheck, SeedSpace, Seeds, Share,
};
use faultline::model::Model;
use faultline::protocol::ModelConfig;
use faultline::run::{Faults, RunReport, RunRequest, Verdict};
use faultline::schedule::Schedule;
use faultline_checkers::Finding;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

/// A suite that cannot be run: exit 2, naming the file and line.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}:{line}: {message}")]
    Invalid {
        file: String,
        line: usize,
        message: String,
    },
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// `seeds:` of an entry: `N` (seeds `0..N`) or `"a..b"` (half-open).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedRange {
    pub start: u64,
    pub end: u64,
}

impl fmt::Display for SeedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

impl<'de> Deserialize<'de> for SeedRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SeedRange, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = SeedRange;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a seed count like 200 or a range like \"1000..1200\"")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<SeedRange, E> {
                Ok(SeedRange { start: 0, end: n })
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<SeedRange, E> {
                u64::try_from(n)
                    .map(|n| SeedRange { start: 0, end: n })
                    .map_err(|_| E::custom(format!("seeds: {n} is negative")))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<SeedRange, E> {
                let bad = || E::custom(format!("seeds: `{s}` is not a count or a range a..b"));
                let Some((a, b)) = s.split_once("..") else {
                    let n: u64 = s.trim().parse().map_err(|_| bad())?;
                    return Ok(SeedRange { start: 0, end: n });
                };
                let start: u64 = a.trim().parse().map_err(|_| bad())?;
                let end: u64 = b.trim().parse().map_err(|_| bad())?;
                if end < start {
                    return Err(E::custom(format!("seeds: `{s}` ends before it starts")));
                }
                Ok(SeedRange { start, end })
            }
        }
        d.deserialize_any(V)
    }
}

/// What an entry expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    Pass,
    Fail,
}

/// One suite entry, as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub model: String,
    #[serde(default)]
    pub bug: Option<String>,
    #[serde(default)]
    pub schedule: Option<String>,
    pub seeds: SeedRange,
    pub expect: Expect,
    #[serde(default)]
    pub checker: Option<String>,
    #[serde(default)]
    pub finding: Option<String>,
    #[serde(default)]
    pub set: BTreeMap<String, serde_yaml::Value>,
    #[serde(default)]
    pub nodes: Option<usize>,
    #[serde(default)]
    pub clients: Option<usize>,
    #[serde(default)]
    pub ops: Option<usize>,
    #[serde(default)]
    pub fail_on: Vec<String>,
    /// `register` or `append` (default: the model's own).
    #[serde(default)]
    pub workload: Option<String>,
    /// The liveness bound after the final heal, e.g. `10s` or `500ms`.
    #[serde(default)]
    pub liveness_timeout: Option<String>,
    /// The checkers' work budget in search steps.
    #[serde(default)]
    pub check_budget: Option<u64>,
    /// Buggify on (`--buggify`): the model's buggify points fire at deterministic, rare moments.
    #[serde(default)]
    pub buggify: bool,
    /// The wire check (`--wire serde`): every message crosses the protocol's codec.
    #[serde(default)]
    pub wire: Option<faultline::protocol::WireCheck>,
    /// The share of passing seeds run twice to check determinism (`"10%"`).
    #[serde(default)]
    pub check_determinism: Option<Share>,
    /// Accept undecided seeds (as `--allow-undecided` does for the whole suite).
    #[serde(default)]
    pub allow_undecided: bool,
}

impl Entry {
    /// `model --bug B [--workload W] [--buggify] --schedule S seeds a..b: expect fail (checker)`.
    pub fn name(&self) -> String {
        let mut n = self.model.clone() + &faultline::protocol::bug_flag(self.bug.as_deref());
        if let Some(w) = &self.workload {
            n.push_str(&format!(" --workload {w}"));
        }
        if self.buggify {
            n.push_str(" --buggify");
        }
        if let Some(w) = self.wire {
            n.push_str(&format!(" --wire {}", w.as_str()));
        }
        n.push_str(&format!(
            " --schedule {} seeds {}: expect {}",
            self.schedule.as_deref().unwrap_or("swarm"),
            self.seeds,
            match self.expect {
                Expect::Pass => "pass",
                Expect::Fail => "fail",
            }
        ));
        if let Some(c) = &self.checker {
            n.push_str(&format!(" ({c})"));
        }
        if let Some(f) = &self.finding {
            n.push_str(&format!(", finding {f}"));
        }
        n
    }
}

/// A parsed suite; `lines[i]` is the line of entry `i`.
#[derive(Clone, Debug)]
pub struct Suite {
    pub file: PathBuf,
    pub entries: Vec<Entry>,
    pub lines: Vec<usize>,
}

impl Suite {
    /// Reads and parses a suite (no model checks yet: see [`run_suite`]).
    ///
    /// ```
    /// use faultline_cli::suite::Suite;
    /// let s = Suite::parse("s.yaml", "- {model: m, seeds: \"5..9\", expect: pass}\n").unwrap();
    /// assert_eq!((s.entries[0].seeds.start, s.entries[0].seeds.end), (5, 9));
    /// let e = Suite::parse("s.yaml", "- {model: m, seeds: 5, expect: maybe}\n").unwrap_err();
    /// assert!(e.to_string().starts_with("s.yaml:1:"), "{e}");
    /// ```
    pub fn parse(file: &str, text: &str) -> Result<Suite, SuiteError> {
        let entries: Vec<Entry> = serde_yaml::from_str(text).map_err(|e| {
            let (line, column) = faultline::schedule::yaml_location(&e);
            SuiteError::Parse {
                file: file.to_string(),
                line,
                column,
                message: e.to_string(),
            }
        })?;
        if entries.is_empty() {
            return Err(SuiteError::Invalid {
                file: file.to_string(),
                line: 1,
                message: "the suite has no entries".into(),
            });
        }
        let mut lines = top_level_item_lines(text);
        lines.resize(entries.len(), 1);
        Ok(Suite {
            file: PathBuf::from(file),
            entries,
            lines,
        })
    }

    pub fn load(path: &Path) -> Result<Suite, SuiteError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SuiteError::Io {
            file: file.clone(),
            source,
        })?;
        Suite::parse(&file, &text)
    }
}

/// The line (1-based) of each item of a top-level block list. serde_yaml gives no spans for
/// values, so errors found after parsing (an unknown model) locate their entry this way.
fn top_level_item_lines(text: &str) -> Vec<usize> {
    let is_item = |t: &str| t.starts_with("- ") || t == "-";
    let mut indent = None;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') || t == "---" {
            continue;
        }
        let depth = line.len() - t.len();
        // The first item sets the list's indentation (a root list may be indented).
        let top = *indent.get_or_insert(depth);
        if depth == top && is_item(t.trim_end()) {
            out.push(i + 1);
        }
    }
    out
}

/// How to run a suite.
#[derive(Clone, Debug)]
pub struct CiOptions {
    pub suite: PathBuf,
    pub jobs: usize,
    /// Where the reported seeds' reproducers go.
    pub out: PathBuf,
    pub junit: Option<PathBuf>,
    /// One line per entry on stdout as it finishes (stderr when false).
    pub progress: bool,
    /// Accept undecided seeds in every entry (`--allow-undecided`).
    pub allow_undecided: bool,
}

impl CiOptions {
    pub fn new(suite: impl Into<PathBuf>) -> CiOptions {
        CiOptions {
            suite: suite.into(),
            jobs: default_jobs(),
            out: PathBuf::from("faultline-out").join("ci"),
            junit: None,
            progress: true,
            allow_undecided: false,
        }
    }
}

/// The outcome of one entry.
#[derive(Clone, Debug)]
pub struct EntryResult {
    pub entry: Entry,
    pub line: usize,
    pub met: bool,
    /// Not met only because some seeds were undecided (no failure decides the entry).
    pub undecided: bool,
    pub seeds_run: u64,
    /// Seeds that passed, failed and were undecided, up to the seed the verdict rests on (the
    /// same whatever `--jobs`).
    pub counts: VerdictCounts,
    /// The seed the verdict rests on: the lowest failing seed (the lowest failing as expected,
    /// for `expect: fail`).
    pub seed: Option<u64>,
    pub violations: Vec<Finding>,
    pub repro: Option<PathBuf>,
    /// Why the expectation is not met, or what was seen when it is.
    pub message: String,
    pub wall_ms: f64,
}

/// Seeds per verdict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct VerdictCounts {
    pub pass: u64,
    pub fail: u64,
    pub undecided: u64,
}

/// The outcome of a suite.
#[derive(Clone, Debug)]
pub struct SuiteReport {
    pub suite: PathBuf,
    pub entries: Vec<EntryResult>,
    pub wall_ms: f64,
}

struct Prepared {
    model: Model,
    config: ModelConfig,
    schedule: Schedule,
}

fn prepare(models: &[Model], suite: &Suite, i: usize) -> Result<Prepared, SuiteError> {
    let e = &suite.entries[i];
    let invalid = |message: String| SuiteError::Invalid {
        file: suite.file.display().to_string(),
        line: suite.lines[i],
        message,
    };
    let model = models
        .iter()
        .find(|m| m.name() == e.model)
        .ok_or_else(|| {
            let known: Vec<&str> = models.iter().map(Model::name).collect();
            invalid(format!(
                "unknown model `{}` (known: {})",
                e.model,
                known.join(", ")
            ))
        })?
        .clone();
    let mut config = model.config(e.bug.as_deref());
    if let Some(n) = e.nodes {
        config.nodes = n;
    }
    if let Some(n) = e.clients {
        config.clients = n;
    }
    if let Some(n) = e.ops {
        config.ops = n;
    }
    for (k, v) in &e.set {
        let v = match v {
            serde_yaml::Value::String(s) => s.clone(),
            serde_yaml::Value::Number(n) => n.to_string(),
            serde_yaml::Value::Bool(b) => b.to_string(),
            _ => {
                return Err(invalid(format!(
                    "set: `{k}` must be a number, a string or a boolean"
                )))
            }
        };
        config.set.insert(k.clone(), v);
    }
    config.workload = e.workload.clone();
    if let Some(t) = &e.liveness_timeout {
        config.liveness_ms = Some(
            faultline::run::parse_sim_duration_ms(t)
                .map_err(|err| invalid(format!("liveness_timeout {t}: {err}")))?,
        );
    }
    config.check_budget = e.check_budget;
    config.buggify = e.buggify;
    config.wire = e.wire;
    let info = faultline::run::validate(&model, &config).map_err(|e| invalid(e.to_string()))?;
    let known = |c: &str| c == "panic" || info.checkers.iter().any(|k| k == c);
    let named = e
        .checker
        .iter()
        .chain(e.finding.iter())
        .chain(e.fail_on.iter());
    for c in named {
        if !known(c) {
            return Err(invalid(format!(
                "model {} has no checker `{c}` (its checkers: {})",
                e.model,
                info.checkers.join(", ")
            )));
        }
    }
    if e.checker.is_some() && e.expect == Expect::Pass {
        return Err(invalid(
            "`checker` names the violation an `expect: fail` entry must find; with `expect: pass` use `finding`".into(),
        ));
    }
    let name = e.schedule.as_deref().unwrap_or("swarm");
    let beside = suite.file.parent().map(|d| d.join(name));
    let schedule = match beside.filter(|p| p.is_file()) {
        Some(p) => Schedule::load(&p.display().to_string()),
        None => Schedule::load(name),
    }
    .map_err(|err| invalid(err.to_string()))?;
    Ok(Prepared {
        model,
        config,
        schedule,
    })
}

/// What the seeds of one entry showed.
#[derive(Default)]
struct Seen {
    seeds_run: u64,
    /// The lowest seed that decides the verdict, with its report.
    hit: Option<RunReport>,
    /// The lowest failing seed (any violation) and the number of failing seeds.
    lowest_failure: Option<(u64, Vec<String>, String)>,
    failing: u64,
    finding_seed: Option<u64>,
    /// Every seed's verdict (cut at the deciding seed afterwards, for counts that do not
    /// depend on `--jobs`).
    verdicts: BTreeMap<u64, Verdict>,
    /// The lowest undecided seed, with its report.
    lowest_undecided: Option<RunReport>,
}

fn first_line(f: &Finding) -> String {
    format!("[{}] {}", f.checker, f.message.lines().next().unwrap_or(""))
}

fn slug(i: usize, e: &Entry) -> String {
    let mut s = format!("{:02}-{}", i + 1, e.model);
    if let Some(b) = &e.bug {
        s.push('-');
        s.push_str(b);
    }
    let sched = e.schedule.as_deref().unwrap_or("swarm");
    let sched = Path::new(sched)
        .file_stem()
        .map_or(sched.to_string(), |s| s.to_string_lossy().into_owned());
    s.push('-');
    s.push_str(&sched);
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn run_entry(
    suite: &Suite,
    i: usize,
    p: &Prepared,
    o: &CiOptions,
) -> Result<EntryResult, SuiteError> {
    let e = &suite.entries[i];
    let t0 = Instant::now();
    let allow_undecided = e.allow_undecided || o.allow_undecided;
    let wants = |r: &RunReport| {
        r.verdict() == Verdict::Fail
            && (e.expect == Expect::Pass
                || e.checker
                    .as_ref()
                    .is_none_or(|c| r.violations.iter().any(|v| &v.checker == c)))
    };
    let seen = Mutex::new(Seen::default());
    let on_seed = |_k: u64, r: RunReport| -> Result<(), CampaignError> {
        let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
        s.seeds_run += 1;
        if let Some(f) = &e.finding {
            let reported = r
                .findings
                .iter()
                .chain(&r.violations)
                .any(|x| &x.checker == f);
            if reported && s.finding_seed.is_none_or(|x| r.seed < x) {
                s.finding_seed = Some(r.seed);
            }
        }
        s.verdicts.insert(r.seed, r.verdict());
        if r.verdict() == Verdict::Undecided
            && s.lowest_undecided.as_ref().is_none_or(|u| r.seed < u.seed)
        {
            s.lowest_undecided = Some(r.clone());
        }
        if r.verdict() == Verdict::Fail {
            s.failing += 1;
            if s.lowest_failure
                .as_ref()
                .is_none_or(|(x, _, _)| r.seed < *x)
            {
                let msg = r.violations.first().map(first_line).unwrap_or_default();
                s.lowest_failure = Some((r.seed, r.violated_checkers(), msg));
            }
        }
        if wants(&r) && s.hit.as_ref().is_none_or(|h| r.seed < h.seed) {
            s.hit = Some(r);
        }
        Ok(())
    };
    let seeds = Seeds {
        model: &p.model,
        request: RunRequest {
            seed: 0,
            config: p.config.clone(),
            faults: Faults::Schedule(p.schedule.clone()),
            fail_on: e.fail_on.clone(),
            trace: false,
        },
        space: SeedSpace::new(e.seeds.start, Some(e.seeds.end - e.seeds.start), None),
        skip: RangeSet::default(),
        jobs: o.jobs,
        deadline: None,
        stop: None,
        stop_at_hit: e.finding.is_none(),
        first_hit: None,
        recheck: Recheck::campaign(e.check_determinism.unwrap_or(Share::NONE)),
    };
    run_seeds(&seeds, &wants, &on_seed, &mut || {}).map_err(|err| SuiteError::Invalid {
        file: suite.file.display().to_string(),
        line: suite.lines[i],
        message: err.to_string(),
    })?;
    let mut seen = seen.into_inner().unwrap_or_else(|e| e.into_inner());
    // Seeds above the deciding one may or may not have run (it depends on --jobs): count and
    // judge only those up to it.
    if let Some(h) = &seen.hit {
        let cut = h.seed;
        seen.verdicts.retain(|&s, _| s <= cut);
        if seen.lowest_undecided.as_ref().is_some_and(|u| u.seed > cut) {
            seen.lowest_undecided = None;
        }
    }
    let mut counts = VerdictCounts::default();
    for v in seen.verdicts.values() {
        match v {
            Verdict::Pass => counts.pass += 1,
            Verdict::Fail => counts.fail += 1,
            Verdict::Undecided => counts.undecided += 1,
        }
    }
    // Undecided seeds decide the entry when no failure does and they are not accepted.
    let undecided_report = seen
        .lowest_undecided
        .as_ref()
        .filter(|_| seen.hit.is_none() && !allow_undecided);
    let repro = match seen.hit.as_ref().or(undecided_report) {
        Some(r) => {
            let dir = o.out.join(slug(i, e)).join(format!("seed-{}", r.seed));
            Some(write_run_artifacts(&dir, r, &e.fail_on)?.repro)
        }
        None => None,
    };
    let finding_ok = e.finding.is_none() || seen.finding_seed.is_some();
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    // The violation the entry is about first (the expected checker's, when named).
    let main_violation = |r: &RunReport| {
        r.violations
            .iter()
            .find(|v| e.checker.as_ref() == Some(&v.checker))
            .or(r.violations.first())
            .map(first_line)
            .unwrap_or_default()
    };
    let hit_text = |r: &RunReport| format!("seed {} failed: {}", r.seed, main_violation(r));
    let undecided_text = |u: &RunReport| {
        format!(
            "{} seed{} undecided (lowest: seed {}: {}); raise check_budget or set allow_undecided",
            counts.undecided,
            if counts.undecided == 1 { "" } else { "s" },
            u.seed,
            u.undecided.first().map(first_line).unwrap_or_default()
        )
    };
    let met = match (e.expect, &seen.hit) {
        (Expect::Pass, None) if undecided_report.is_some() => {
            problems.push(undecided_text(undecided_report.expect("checked")));
            false
        }
        (Expect::Pass, None) => {
            notes.push(format!("{} seeds passed", counts.pass));
            if counts.undecided > 0 {
                notes.push(format!("{} undecided (allowed)", counts.undecided));
            }
            finding_ok
        }
        (Expect::Pass, Some(r)) => {
            problems.push(hit_text(r));
            false
        }
        (Expect::Fail, Some(r)) => {
            notes.push(format!("caught: {}", hit_text(r)));
            finding_ok
        }
        (Expect::Fail, None) => {
            problems.push(match (&e.checker, &seen.lowest_failure) {
                (Some(c), Some((seed, checkers, msg))) => format!(
                    "{} of {} seeds failed, none with a `{c}` violation (lowest: seed {seed}, violated {}: {msg})",
                    seen.failing,
                    seen.seeds_run,
                    checkers.join(", ")
                ),
                (Some(c), None) => {
                    format!("no seed of {} failed (expected a `{c}` violation)", e.seeds)
                }
                (None, _) => format!("no seed of {} failed", e.seeds),
            });
            if let Some(u) = undecided_report {
                problems.push(undecided_text(u));
            }
            false
        }
    };
    // Not met, and only undecided seeds stand in the way: no failure was missed or found.
    let undecided = !met && undecided_report.is_some() && finding_ok;
    if let Some(f) = &e.finding {
        match seen.finding_seed {
            Some(s) => notes.push(format!("finding `{f}` first reported by seed {s}")),
            None => problems.push(format!(
                "no seed of the {} run reported a `{f}` finding",
                seen.seeds_run
            )),
        }
    }
    let mut message = if met { notes } else { problems }.join("; ");
    if let Some(p) = &repro {
        message.push_str(&format!(
            "; reproducer: {} ({})",
            p.display(),
            faultline::command::replay(p)
        ));
    }
    Ok(EntryResult {
        entry: e.clone(),
        line: suite.lines[i],
        met,
        undecided,
        seeds_run: seen.seeds_run,
        counts,
        // The seed the entry's verdict rests on: the one it failed on, else (unmet only for
        // undecided seeds) the undecided seed whose reproducer is written.
        seed: seen
            .hit
            .as_ref()
            .or(undecided_report.filter(|_| undecided))
            .map(|r| r.seed),
        violations: seen.hit.map(|r| r.violations).unwrap_or_default(),
        repro,
        message,
        wall_ms: t0.elapsed().as_secs_f64() * 1e3,
    })
}

/// Runs a suite: every entry is checked before any runs (a typo fails fast), then run in order.
/// Writes the JUnit report when asked.
pub fn run_suite(models: &[Model], o: &CiOptions) -> Result<SuiteReport, SuiteError> {
    let suite = Suite::load(&o.suite)?;
    let prepared = (0..suite.entries.len())
        .map(|i| prepare(models, &suite, i))
        .collect::<Result<Vec<_>, _>>()?;
    let t0 = Instant::now();
    let mut entries = Vec::new();
    for (i, p) in prepared.iter().enumerate() {
        let r = run_entry(&suite, i, p, o)?;
        let line = format!(
            "{} {}:{} {} — {} ({:.1}s)",
            match (r.met, r.undecided) {
                (true, _) => "ok  ",
                (false, true) => "UNDECIDED",
                (false, false) => "FAIL",
            },
            suite.file.display(),
            r.line,
            r.entry.name(),
            r.message,
            r.wall_ms / 1e3
        );
        if o.progress {
            println!("{line}");
        } else {
            eprintln!("{line}");
        }
        entries.push(r);
    }
    let report = SuiteReport {
        suite: suite.file.clone(),
        entries,
        wall_ms: t0.elapsed().as_secs_f64() * 1e3,
    };
    if let Some(j) = &o.junit {
        write_file(j, report.to_junit().as_bytes())?;
    }
    Ok(report)
}

impl SuiteReport {
    /// Every entry met its expectation.
    pub fn passed(&self) -> bool {
        self.entries.iter().all(|e| e.met)
    }

    /// `ci`'s exit code: 0 every entry met, 3 the unmet ones are unmet only for undecided
    /// seeds, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        let unmet = self.entries.iter().filter(|e| !e.met);
        match unmet.clone().count() {
            0 => 0,
            _ if unmet.clone().all(|e| e.undecided) => 3,
            _ => 1,
        }
    }

    /// JUnit XML: one testcase per entry; a failure names the seed, the violation and the
    /// reproducer, with the full violation messages in its body.
    pub fn to_junit(&self) -> String {
        let file = self.suite.display().to_string();
        let cases: Vec<TestCase> = self
            .entries
            .iter()
            .map(|e| {
                let failure = (!e.met).then(|| {
                    let mut body = e.message.clone();
                    for v in &e.violations {
                        body.push_str(&format!("\n\nviolation [{}]:\n{}", v.checker, v.message));
                    }
                    (e.message.clone(), body)
                });
                TestCase {
                    undecided: e.undecided,
                    classname: format!("faultline.{}", e.entry.model),
                    name: e.entry.name(),
                    file: file.clone(),
                    line: e.line,
                    seconds: e.wall_ms / 1e3,
                    output: e.met.then(|| e.message.clone()),
                    failure,
                }
            })
            .collect();
        crate::junit::render(&file, &cases, self.wall_ms / 1e3)
    }

    pub fn to_json(&self) -> Value {
        let entries: Vec<Value> = self
            .entries
            .iter()
            .map(|e| {
                json!({
                    "line": e.line, "name": e.entry.name(), "model": e.entry.model,
                    "bug": e.entry.bug, "schedule": e.entry.schedule.as_deref().unwrap_or("swarm"),
                    "seeds": e.entry.seeds.to_string(),
                    "expect": match e.entry.expect { Expect::Pass => "pass", Expect::Fail => "fail" },
                    "checker": e.entry.checker, "finding": e.entry.finding,
                    "met": e.met, "undecided": e.undecided, "seeds_run": e.seeds_run,
                    "counts": e.counts, "seed": e.seed,
                    "violations": e.violations,
                    "repro": e.repro.as_ref().map(|p| p.display().to_string()),
                    "message": e.message, "wall_ms": e.wall_ms,
                })
            })
            .collect();
        json!({
            "suite": self.suite.display().to_string(),
            "passed": self.passed(),
            "exit_code": self.exit_code(),
            "entries": entries,
            "wall_ms": self.wall_ms,
        })
    }

    pub fn print_human(&self) {
        let met = self.entries.iter().filter(|e| e.met).count();
        println!(
            "{}: {met} of {} expectations met in {:.1}s{}",
            self.suite.display(),
            self.entries.len(),
            self.wall_ms / 1e3,
            if self.passed() {
                ""
            } else {
                " — the gate fails"
            }
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn item_lines_follow_the_root_list() {
        let text = "# c\n\n  - {model: a}\n  - model: b\n    seeds: 1\n\n  -\n    model: c\n";
        assert_eq!(super::top_level_item_lines(text), vec![3, 4, 7]);
        let text = "- model: a\n  set:\n    - x\n- {model: b}\n";
        assert_eq!(super::top_level_item_lines(text), vec![1, 4]);
    }
}
