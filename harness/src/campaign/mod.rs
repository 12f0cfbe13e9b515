//! Campaigns: many seeds on all cores, with a checkpoint, shards and a summary (`faultline
//! fuzz`). The same seed runner serves `faultline ci` and [`Check`](crate::Check).
//!
//! Each seed runs on a fresh thread (see [`run`]); `--jobs` workers take seeds
//! in increasing order from one cursor, so with `--stop-on-first` the lowest failing seed is
//! certain as soon as every lower seed has finished, whatever `--jobs`.
//!
//! A campaign folder holds one `seed-N/` folder per failing seed (repro.yaml, history.jsonl,
//! timeline.html), `campaign.json` (the summary, failures grouped by signature) and the
//! checkpoint (see [`checkpoint`]).
//!
//! ```no_run
//! # fn f(model: &faultline::Model) {
//! use faultline::campaign::{fuzz, FuzzOptions};
//! let mut o = FuzzOptions::new(model.config(Some("async-ack")), "target/fuzz-pb".into());
//! o.seeds = Some(500);
//! o.jobs = 2;
//! let report = fuzz(model, &o).unwrap();
//! println!("{} seeds, first failure {:?}", report.seeds_run, report.first_failure_seed());
//! # }
//! ```
pub mod checkpoint;
mod recheck;
mod seeds;
mod status;

pub use checkpoint::{
    CampaignHeader, CampaignState, CheckpointError, FailureRecord, UndecidedRecord,
};
pub use recheck::{Recheck, Share};
pub use seeds::SeedSpace;
pub use seeds::{RangeSet, Shard};
pub use status::{ProgressBar, ProgressBarFactory};

use crate::artifacts::{write_file, write_run_artifacts, WriteError};
use crate::model::Model;
use crate::protocol::ModelConfig;
use crate::repro::ReproConfig;
use crate::run::{run, Faults, RunError, RunReport, RunRequest, Verdict};
use crate::schedule::{Schedule, ScheduleError};
use checkpoint::Journal;
use serde_json::{json, Value};
use status::Progress;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The summary file of a campaign folder.
pub const SUMMARY: &str = "campaign.json";

/// Why a campaign could not run (exit 2 in the CLI).
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    /// The model or its configuration was refused.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The schedule could not be loaded.
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// The checkpoint could not be read, or belongs to another campaign.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A file of the campaign folder could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// The options contradict each other (e.g. neither `--seeds` nor `--duration`).
    #[error("{0}")]
    Invalid(String),
}

/// What `faultline fuzz` runs. [`FuzzOptions::new`] gives the CLI's defaults.
#[derive(Clone, Debug)]
pub struct FuzzOptions {
    /// The configuration every seed runs (the bug variant included).
    pub config: ModelConfig,
    /// A built-in schedule name or a schedule file.
    pub schedule: String,
    /// Checkers whose findings fail a seed on top of the model's guarantees (`--fail-on`).
    pub fail_on: Vec<String>,
    /// The first seed.
    pub start_seed: u64,
    /// How many seeds from `start_seed`; `None` runs until `duration` is over.
    pub seeds: Option<u64>,
    /// Run until this much wall time has passed (over every session of a resumed campaign).
    pub duration: Option<Duration>,
    /// Run only this shard's seeds (`--shard I/N`).
    pub shard: Option<Shard>,
    /// Worker threads (`--jobs`).
    pub jobs: usize,
    /// Stop once the lowest failing seed is certain (`--stop-on-first`).
    pub stop_on_first: bool,
    /// The campaign folder.
    pub out: PathBuf,
    /// Continue the campaign in `out` (a fresh one when there is none).
    pub resume: bool,
    /// Progress bar or log lines on stderr.
    pub progress: bool,
    /// The bar to show on a terminal when `progress` is set (plain lines without one).
    pub progress_bar: Option<ProgressBarFactory>,
    /// Let SIGINT/SIGTERM stop the campaign cleanly (the CLI sets this).
    pub catch_interrupts: bool,
    /// The share of passing seeds run twice to check determinism (failing and undecided seeds
    /// always are).
    pub check_determinism: Share,
}

impl FuzzOptions {
    /// 100 seeds from 0 under `swarm` on all cores, into `out`.
    pub fn new(config: ModelConfig, out: PathBuf) -> FuzzOptions {
        FuzzOptions {
            config,
            schedule: "swarm".into(),
            fail_on: vec![],
            start_seed: 0,
            seeds: Some(100),
            duration: None,
            shard: None,
            jobs: default_jobs(),
            stop_on_first: false,
            out,
            resume: false,
            progress: false,
            progress_bar: None,
            catch_interrupts: false,
            check_determinism: Share::NONE,
        }
    }
}

/// All cores.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The fingerprint of a schedule file's contents (`None` for a built-in name).
fn schedule_fingerprint(arg: &str) -> Option<String> {
    let text = std::fs::read(arg)
        .ok()
        .filter(|_| Path::new(arg).is_file())?;
    let mut f = crate::fingerprint::Fingerprint::default();
    f.add_bytes(&text);
    Some(f.hex())
}

/// Runs (or resumes) a campaign and writes its folder. Returns its report; failures are not an
/// error.
pub fn fuzz(model: &Model, o: &FuzzOptions) -> Result<CampaignReport, CampaignError> {
    let info = crate::run::validate(model, &o.config)?;
    let schedule = Schedule::load(&o.schedule)?;
    let header = CampaignHeader {
        faultline: env!("CARGO_PKG_VERSION").to_string(),
        model: model.name().to_string(),
        model_version: info.version.clone(),
        bug: o.config.bug.clone(),
        config: ReproConfig::of(&o.config),
        schedule: o.schedule.clone(),
        schedule_fingerprint: schedule_fingerprint(&o.schedule),
        fail_on: o.fail_on.clone(),
        start_seed: o.start_seed,
        seeds: if o.duration.is_some() { None } else { o.seeds },
        duration_ms: o.duration.map(|d| d.as_millis() as u64),
        shard: o.shard,
        stop_on_first: o.stop_on_first,
        check_determinism: o.check_determinism,
    };
    if header.seeds.is_none() && header.duration_ms.is_none() {
        return Err(CampaignError::Invalid(
            "a campaign needs --seeds or --duration".into(),
        ));
    }
    let space = header.space();
    let (journal, notes) = Journal::open(&o.out, header, o.resume)?;
    if o.progress {
        notes.iter().for_each(|n| eprintln!("faultline: {n}"));
    }
    let before = journal.state().clone();
    let first_hit = if o.stop_on_first {
        before.failures.keys().next().and_then(|&s| space.index(s))
    } else {
        None
    };
    let deadline = o
        .duration
        .map(|d| Instant::now() + d.saturating_sub(Duration::from_secs_f64(before.wall_ms / 1e3)));
    let stop = o.catch_interrupts.then(status::catch_interrupts);
    let journal = Mutex::new(journal);
    let summary_error: Mutex<Option<WriteError>> = Mutex::new(None);
    let mut progress = Progress::new(space.count(), before.done.len(), o.progress, o.progress_bar);
    let on_seed = |k: u64, r: RunReport| -> Result<(), CampaignError> {
        if r.verdict() == Verdict::Undecided {
            let name = format!("seed-{}", r.seed);
            write_run_artifacts(&o.out.join(&name), &r, &o.fail_on)?;
            let u = UndecidedRecord {
                seed: r.seed,
                dir: Some(name),
                undecided: r.undecided,
            };
            let mut j = lock(&journal);
            if j.record(k, None, Some(u))? {
                let mut report = CampaignReport::from_state(&o.out, j.state(), false);
                report.running = true;
                if let Err(e) = report.write() {
                    *lock(&summary_error) = Some(e);
                }
            }
            return Ok(());
        }
        let failure = if r.passed {
            None
        } else {
            // With --stop-on-first, only failures below the lowest known one matter.
            let lower_known = o.stop_on_first
                && lock(&journal)
                    .state()
                    .failures
                    .keys()
                    .next()
                    .is_some_and(|&s| s < r.seed);
            let dir = if lower_known {
                None
            } else {
                let name = format!("seed-{}", r.seed);
                write_run_artifacts(&o.out.join(&name), &r, &o.fail_on)?;
                Some(name)
            };
            Some(FailureRecord {
                seed: r.seed,
                dir,
                violations: r.violations,
            })
        };
        let mut j = lock(&journal);
        if j.record(k, failure, None)? {
            // Keep campaign.json current while a long campaign runs.
            let mut report = CampaignReport::from_state(&o.out, j.state(), false);
            report.running = true;
            if let Err(e) = report.write() {
                *lock(&summary_error) = Some(e);
            }
        }
        Ok(())
    };
    let seeds = Seeds {
        model,
        request: RunRequest {
            seed: 0,
            config: o.config.clone(),
            faults: Faults::Schedule(schedule),
            fail_on: o.fail_on.clone(),
            trace: false,
        },
        space: space.clone(),
        skip: before.done.clone(),
        jobs: o.jobs.max(1),
        deadline,
        stop,
        stop_at_hit: o.stop_on_first,
        first_hit,
        recheck: Recheck::campaign(o.check_determinism),
    };
    let outcome = run_seeds(
        &seeds,
        &|r: &RunReport| r.verdict() == Verdict::Fail,
        &on_seed,
        &mut || {
            let j = lock(&journal);
            let s = j.state();
            progress.tick(
                s.done.len(),
                s.failures.len(),
                s.undecided.len(),
                stop.is_some_and(|f| f.load(Ordering::SeqCst)),
            );
        },
    );
    progress.finish();
    let mut journal = journal.into_inner().unwrap_or_else(|e| e.into_inner());
    journal.compact()?;
    outcome?;
    if let Some(e) = summary_error
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
    {
        return Err(e.into());
    }
    let interrupted = stop.is_some_and(|f| f.load(Ordering::SeqCst));
    let report = CampaignReport::from_state(&o.out, journal.state(), interrupted);
    report.write()?;
    Ok(report)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Many seeds of one model on `jobs` threads: what [`run_seeds`] runs. The seed runner behind
/// [`fuzz`], [`Check`](crate::Check) and `faultline ci`.
pub struct Seeds<'a> {
    /// The model every seed runs.
    pub model: &'a Model,
    /// The request of every seed, but for its `seed`.
    pub request: RunRequest,
    /// The seeds, by index.
    pub space: SeedSpace,
    /// Indices already finished (a resumed campaign).
    pub skip: RangeSet,
    /// Worker threads.
    pub jobs: usize,
    /// No new seed starts after this instant (the ones running finish).
    pub deadline: Option<Instant>,
    /// No new seed starts once this flag is set (Ctrl-C).
    pub stop: Option<&'a AtomicBool>,
    /// Stop once the lowest index that is a hit is certain (every lower index finished).
    pub stop_at_hit: bool,
    /// A hit already known (a resumed campaign).
    pub first_hit: Option<u64>,
    /// Which seeds run a second time to check determinism.
    pub recheck: Recheck,
}

/// How a [`run_seeds`] ended.
pub struct SeedsOutcome {
    /// The lowest index found to be a hit.
    pub lowest_hit: Option<u64>,
}

/// Runs `s`'s seeds; `on_seed(index, report)` runs on the worker that ran the seed, `monitor`
/// a few times a second on the calling thread. The first error stops every worker.
pub fn run_seeds(
    s: &Seeds,
    hit: &(dyn Fn(&RunReport) -> bool + Sync),
    on_seed: &(dyn Fn(u64, RunReport) -> Result<(), CampaignError> + Sync),
    monitor: &mut dyn FnMut(),
) -> Result<SeedsOutcome, CampaignError> {
    let cursor = Mutex::new(0u64);
    let lowest = AtomicU64::new(s.first_hit.unwrap_or(u64::MAX));
    let error: Mutex<Option<CampaignError>> = Mutex::new(None);
    let failed = AtomicBool::new(false);
    let live = AtomicUsize::new(s.jobs);
    let main = std::thread::current();
    struct Exit<'a>(&'a AtomicUsize, &'a std::thread::Thread);
    impl Drop for Exit<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
            self.1.unpark();
        }
    }
    let next = || -> Option<u64> {
        if failed.load(Ordering::SeqCst)
            || s.stop.is_some_and(|f| f.load(Ordering::SeqCst))
            || s.deadline.is_some_and(|d| Instant::now() >= d)
        {
            return None;
        }
        let mut c = lock(&cursor);
        let k = s.skip.next_absent(*c);
        s.space.seed(k)?;
        if s.stop_at_hit && k > lowest.load(Ordering::SeqCst) {
            return None;
        }
        *c = k + 1;
        Some(k)
    };
    let fail = |e: CampaignError| {
        failed.store(true, Ordering::SeqCst);
        lock(&error).get_or_insert(e);
    };
    std::thread::scope(|scope| {
        for _ in 0..s.jobs {
            scope.spawn(|| {
                let _exit = Exit(&live, &main);
                while let Some(k) = next() {
                    let mut req = s.request.clone();
                    req.seed = s.space.seed(k).expect("next() checked the index");
                    let mut report = match run(s.model, &req) {
                        Ok(r) => r,
                        Err(e) => {
                            fail(e.into());
                            break;
                        }
                    };
                    if let Err(e) = s.recheck.apply(s.model, &req, &mut report) {
                        fail(e.into());
                        break;
                    }
                    if hit(&report) {
                        lowest.fetch_min(k, Ordering::SeqCst);
                    }
                    if let Err(e) = on_seed(k, report) {
                        fail(e);
                        break;
                    }
                }
            });
        }
        while live.load(Ordering::SeqCst) > 0 {
            monitor();
            std::thread::park_timeout(Duration::from_millis(200));
        }
        monitor();
    });
    if let Some(e) = error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    let l = lowest.load(Ordering::SeqCst);
    Ok(SeedsOutcome {
        lowest_hit: (l != u64::MAX).then_some(l),
    })
}

/// Failures that share a model, a bug variant and a set of violated checkers.
#[derive(Clone, Debug, PartialEq)]
pub struct Signature {
    /// The model's name.
    pub model: String,
    /// The bug variant (`None`: the correct protocol).
    pub bug: Option<String>,
    /// The violated checkers, sorted.
    pub checkers: Vec<String>,
    /// The failing seeds, lowest first.
    pub seeds: Vec<u64>,
    /// The first violation message of the lowest seed (its first line).
    pub message: String,
    /// The lowest seed's folder, relative to the campaign folder.
    pub dir: Option<String>,
}

impl Signature {
    /// `model[/bug]: checker+checker`.
    pub fn id(&self) -> String {
        let bug = self
            .bug
            .as_deref()
            .map(|b| format!("/{b}"))
            .unwrap_or_default();
        format!("{}{bug}: {}", self.model, self.checkers.join("+"))
    }
}

/// One shard of a merged campaign.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardReport {
    /// The shard's campaign folder.
    pub dir: PathBuf,
    /// Which shard it ran (`None`: the whole seed range).
    pub shard: Option<Shard>,
    /// Seeds it finished.
    pub seeds_run: u64,
    /// Its wall time (ms).
    pub wall_ms: f64,
    /// Whether it finished every seed it was given.
    pub complete: bool,
}

/// A campaign's summary: what `fuzz` prints and `campaign.json` holds.
#[derive(Clone, Debug, PartialEq)]
pub struct CampaignReport {
    /// The campaign folder.
    pub dir: PathBuf,
    /// What the campaign ran.
    pub header: CampaignHeader,
    /// Seeds finished.
    pub seeds_run: u64,
    /// Wall time of the whole campaign (every session; the longest shard for a merge).
    pub wall_ms: f64,
    /// Failing seeds, lowest first (with `--stop-on-first`, the lowest only).
    pub failures: Vec<FailureRecord>,
    /// How many seeds failed (all of them, also with `--stop-on-first`).
    pub seeds_failed: u64,
    /// Undecided seeds, lowest first: nothing failed, but a checker whose verdict counts ran
    /// out of its work budget.
    pub undecided: Vec<UndecidedRecord>,
    /// Finished seed ranges (inclusive).
    pub done: Vec<[u64; 2]>,
    /// Every seed of the campaign ran (or, with `--stop-on-first`, every seed up to the first
    /// failure).
    pub complete: bool,
    /// Stopped by SIGINT/SIGTERM; `--resume` continues it.
    pub interrupted: bool,
    /// Written while the campaign runs (`campaign.json` is refreshed every minute or so).
    pub running: bool,
    /// The shards a merged report combines (empty otherwise).
    pub shards: Vec<ShardReport>,
}

impl CampaignReport {
    /// The report of the campaign folder `dir` whose checkpoint holds `s` (what `faultline
    /// merge` combines shards from).
    pub fn from_state(dir: &Path, s: &CampaignState, interrupted: bool) -> CampaignReport {
        let mut failures: Vec<FailureRecord> = s.failures.values().cloned().collect();
        let space = s.header.space();
        let complete = if s.header.stop_on_first && !failures.is_empty() {
            let first = space.index(failures[0].seed).unwrap_or(0);
            s.done.next_absent(0) > first
        } else {
            space.count().is_some_and(|c| s.done.next_absent(0) >= c)
        };
        let seeds_failed = failures.len() as u64;
        if s.header.stop_on_first {
            failures.truncate(1);
        }
        CampaignReport {
            dir: dir.to_path_buf(),
            header: s.header.clone(),
            seeds_run: s.done.len(),
            wall_ms: s.wall_ms,
            failures,
            seeds_failed,
            undecided: s.undecided.values().cloned().collect(),
            done: s.done_seeds(),
            complete,
            interrupted,
            running: false,
            shards: vec![],
        }
    }

    /// Seeds that neither failed nor were undecided.
    pub fn seeds_passed(&self) -> u64 {
        self.seeds_run
            .saturating_sub(self.seeds_failed)
            .saturating_sub(self.undecided.len() as u64)
    }

    /// `fail` when some seed failed, else `undecided` when some seed was, else `pass`.
    pub fn verdict(&self) -> Verdict {
        if self.seeds_failed > 0 || !self.failures.is_empty() {
            Verdict::Fail
        } else if !self.undecided.is_empty() {
            Verdict::Undecided
        } else {
            Verdict::Pass
        }
    }

    /// The exit code of `fuzz` and `merge`: 1 when a seed failed, else 3 when a seed was
    /// undecided (0 with `allow_undecided`), else 0.
    pub fn exit_code(&self, allow_undecided: bool) -> i32 {
        match self.verdict() {
            Verdict::Undecided if allow_undecided => 0,
            v => v.exit_code(),
        }
    }

    /// The lowest failing seed.
    pub fn first_failure_seed(&self) -> Option<u64> {
        self.failures.first().map(|f| f.seed)
    }

    /// Seeds finished per second of wall time.
    pub fn seeds_per_sec(&self) -> f64 {
        self.seeds_run as f64 / (self.wall_ms / 1e3).max(1e-9)
    }

    /// Failures grouped by signature, the most frequent first.
    pub fn signatures(&self) -> Vec<Signature> {
        let mut out: Vec<Signature> = Vec::new();
        for f in &self.failures {
            let checkers = f.checkers();
            match out.iter_mut().find(|s| s.checkers == checkers) {
                Some(s) => s.seeds.push(f.seed),
                None => out.push(Signature {
                    model: self.header.model.clone(),
                    bug: self.header.bug.clone(),
                    checkers,
                    seeds: vec![f.seed],
                    message: f
                        .violations
                        .first()
                        .map(|v| v.message.lines().next().unwrap_or("").to_string())
                        .unwrap_or_default(),
                    dir: f.dir.clone(),
                }),
            }
        }
        out.sort_by(|a, b| {
            b.seeds
                .len()
                .cmp(&a.seeds.len())
                .then(a.seeds[0].cmp(&b.seeds[0]))
        });
        out
    }

    fn repro(&self, dir: &Option<String>, relative: bool) -> Value {
        match dir {
            Some(d) if relative => json!(format!("{d}/repro.yaml")),
            Some(d) => json!(self.dir.join(d).join("repro.yaml").display().to_string()),
            None => Value::Null,
        }
    }

    /// The `fuzz` object; repro paths include the campaign folder as given. `verdict` is
    /// `pass`, `fail` or `undecided`; `seeds_passed + seeds_failed + seeds_undecided ==
    /// seeds_run`; `undecided` lists the undecided seeds.
    pub fn to_json(&self) -> Value {
        self.json_with(false)
    }

    fn json_with(&self, relative: bool) -> Value {
        let failures: Vec<Value> = self
            .failures
            .iter()
            .map(|f| json!({"seed": f.seed, "repro": self.repro(&f.dir, relative), "violations": f.violations}))
            .collect();
        let undecided: Vec<Value> = self
            .undecided
            .iter()
            .map(|u| json!({"seed": u.seed, "repro": self.repro(&u.dir, relative), "undecided": u.undecided}))
            .collect();
        json!({
            "model": self.header.model,
            "bug": self.header.bug,
            "verdict": self.verdict(),
            "seeds_run": self.seeds_run,
            "seeds_passed": self.seeds_passed(),
            "seeds_failed": self.seeds_failed,
            "seeds_undecided": self.undecided.len(),
            "undecided": undecided,
            "seeds_per_sec": self.seeds_per_sec(),
            "wall_ms": self.wall_ms,
            "failures": failures,
            "first_failure_seed": self.first_failure_seed(),
        })
    }

    /// `campaign.json`: the `fuzz` object plus signatures, the campaign's options, finished
    /// ranges and shards. Paths are relative to the campaign folder, so it can be moved.
    pub fn to_summary_json(&self) -> Value {
        let mut j = self.json_with(true);
        j["failures"] = self
            .failures
            .iter()
            .map(|f| {
                json!({"seed": f.seed, "repro": self.repro(&f.dir, true),
                       "signature": self.signature_of(f), "violations": f.violations})
            })
            .collect();
        j["signatures"] = self
            .signatures()
            .iter()
            .map(|s| {
                json!({"signature": s.id(), "model": s.model, "bug": s.bug, "checkers": s.checkers,
                       "count": s.seeds.len(), "first_seed": s.seeds[0], "seeds": s.seeds,
                       "repro": self.repro(&s.dir, true), "message": s.message})
            })
            .collect();
        j["complete"] = json!(self.complete);
        j["interrupted"] = json!(self.interrupted);
        j["running"] = json!(self.running);
        j["campaign"] = serde_json::to_value(&self.header).expect("headers serialize");
        j["done"] = json!(self.done);
        if !self.shards.is_empty() {
            j["shards"] = self
                .shards
                .iter()
                .map(|s| {
                    json!({"dir": s.dir.display().to_string(), "shard": s.shard,
                           "seeds_run": s.seeds_run, "wall_ms": s.wall_ms, "complete": s.complete})
                })
                .collect();
        }
        j["paths"] = json!("relative to this file's folder");
        j
    }

    fn signature_of(&self, f: &FailureRecord) -> String {
        let bug = self
            .header
            .bug
            .as_deref()
            .map(|b| format!("/{b}"))
            .unwrap_or_default();
        format!("{}{bug}: {}", self.header.model, f.checkers().join("+"))
    }

    /// Writes `campaign.json` atomically.
    pub fn write(&self) -> Result<(), WriteError> {
        let text = format!("{:#}\n", self.to_summary_json());
        write_file(&self.dir.join(SUMMARY), text.as_bytes())
    }

    /// The human summary (stdout).
    pub fn print_human(&self) {
        let h = &self.header;
        let bug = crate::protocol::bug_flag(h.bug.as_deref()).to_string()
            + crate::protocol::buggify_flag(h.config.buggify.is_some());
        let shard = h.shard.map(|s| format!(" (shard {s})")).unwrap_or_default();
        let sigs = self.signatures();
        println!(
            "{}{bug}{shard}: {} seeds in {:.1}s ({:.0} seeds/s), {} passed, {} failing, {} undecided, {} signature{}{}",
            h.model,
            self.seeds_run,
            self.wall_ms / 1e3,
            self.seeds_per_sec(),
            self.seeds_passed(),
            self.seeds_failed,
            self.undecided.len(),
            sigs.len(),
            if sigs.len() == 1 { "" } else { "s" },
            if self.interrupted {
                "; interrupted (--resume continues it)"
            } else {
                ""
            }
        );
        for s in &sigs {
            let more = if s.seeds.len() > 1 {
                let shown: Vec<String> = s.seeds.iter().take(8).map(u64::to_string).collect();
                format!(
                    " (seeds {}{})",
                    shown.join(", "),
                    if s.seeds.len() > 8 { ", ..." } else { "" }
                )
            } else {
                String::new()
            };
            println!(
                "  [{}] {} seed{}{more}; first: seed {}: {}",
                s.checkers.join(", "),
                s.seeds.len(),
                if s.seeds.len() == 1 { "" } else { "s" },
                s.seeds[0],
                s.message
            );
            if let Some(d) = &s.dir {
                let p = self.dir.join(d).join("repro.yaml");
                println!(
                    "    reproducer: {}  ({})",
                    p.display(),
                    crate::command::replay(&p)
                );
            }
        }
        if let Some(u) = self.undecided.first() {
            let first = u.undecided.first();
            println!(
                "  undecided: {} seed{}; first: seed {}: [{}] {}",
                self.undecided.len(),
                if self.undecided.len() == 1 { "" } else { "s" },
                u.seed,
                first.map_or("", |f| f.checker.as_str()),
                first.map_or("", |f| f.message.lines().next().unwrap_or(""))
            );
            if let Some(d) = &u.dir {
                println!(
                    "    reproducer: {}",
                    self.dir.join(d).join("repro.yaml").display()
                );
            }
        }
        if !self.shards.is_empty() {
            println!(
                "  merged from {} folder{}{}",
                self.shards.len(),
                if self.shards.len() == 1 { "" } else { "s" },
                if self.complete {
                    ": every seed of the campaign ran"
                } else {
                    " (some shards are missing or unfinished)"
                }
            );
        }
        println!("  summary: {}", self.dir.join(SUMMARY).display());
    }
}
