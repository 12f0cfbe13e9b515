//! Seeds per second of each model in its default configuration, checking included, on one
//! thread; the `--jobs 2` speed-up of a real campaign; peak memory over a long campaign.
use faultline::campaign::{fuzz, FuzzOptions};
use faultline::model::Model;
use faultline::run::{run, Faults, RunRequest};
use faultline::schedule::Schedule;
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Serialize)]
pub struct ModelFigures {
    pub seeds_per_sec: f64,
    pub msgs_per_seed: f64,
    pub seeds: u64,
    /// Seeds that failed (the correct variant should have none; a failure still counts its time).
    pub failures: u64,
}

/// Runs seeds 0, 1, … of the model's correct variant under `swarm` until `budget` is spent (at
/// least 5), one after another, each on its fresh thread as in a campaign.
pub fn throughput(m: &Model, budget: Duration) -> Result<ModelFigures, String> {
    let mut req = RunRequest {
        seed: 0,
        config: m.config(None),
        faults: Faults::Schedule(Schedule::load("swarm").map_err(|e| e.to_string())?),
        fail_on: vec![],
        trace: false,
    };
    let (mut seeds, mut msgs, mut failures) = (0u64, 0u64, 0u64);
    let started = Instant::now();
    while seeds < 5 || started.elapsed() < budget {
        req.seed = seeds;
        let r = run(m, &req).map_err(|e| e.to_string())?;
        msgs += r.stats.messages;
        failures += u64::from(!r.passed);
        seeds += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(ModelFigures {
        seeds_per_sec: seeds as f64 / secs,
        msgs_per_seed: msgs as f64 / seeds as f64,
        seeds,
        failures,
    })
}

#[derive(Clone, Debug, Serialize)]
pub struct Scaling {
    pub model: String,
    pub jobs: usize,
    pub jobs1_seeds_per_sec: f64,
    pub seeds_per_sec: f64,
    /// `seeds_per_sec / jobs1_seeds_per_sec`.
    pub speedup: f64,
}

/// A real campaign (`fuzz`, journal and all) for `budget` with one worker, then with `jobs`.
pub fn scaling(m: &Model, jobs: usize, budget: Duration, tmp: &Path) -> Result<Scaling, String> {
    let campaign = |j: usize| -> Result<f64, String> {
        let out = tmp.join(format!("scaling-{j}"));
        let mut o = FuzzOptions::new(m.config(None), out.clone());
        o.seeds = None;
        o.duration = Some(budget);
        o.jobs = j;
        let r = fuzz(m, &o).map_err(|e| e.to_string())?;
        let _ = std::fs::remove_dir_all(&out);
        Ok(r.seeds_per_sec())
    };
    let one = campaign(1)?;
    let many = campaign(jobs)?;
    Ok(Scaling {
        model: m.name().to_string(),
        jobs,
        jobs1_seeds_per_sec: one,
        seeds_per_sec: many,
        speedup: many / one.max(1e-9),
    })
}

#[derive(Clone, Debug, Serialize)]
pub struct Memory {
    pub model: String,
    pub ops: usize,
    pub jobs: usize,
    pub seeds_first: u64,
    pub peak_rss_mb_first: f64,
    /// Resident set right after the first stage (what was kept, as opposed to the peak).
    pub rss_mb_first: f64,
    pub seeds_total: u64,
    pub peak_rss_mb_total: f64,
    pub rss_mb_total: f64,
    /// `peak_rss_mb_total / peak_rss_mb_first - 1`.
    pub growth: f64,
}

/// A line of `/proc/self/status` in MiB (`VmHWM`: peak resident set, `VmRSS`: current).
fn status_mb(field: &str) -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The process's peak resident set in MiB.
pub fn peak_rss_mb() -> Option<f64> {
    status_mb("VmHWM:")
}

/// The process's current resident set in MiB.
pub fn rss_mb() -> Option<f64> {
    status_mb("VmRSS:")
}

/// Two campaigns of short seeds in this process: `first` seeds, then the rest up to `total`;
/// the peak and current RSS after each. Anything a seed leaks, or campaign bookkeeping that
/// grows per seed, shows as growth between the two. Run it before anything else in the process,
/// or the peak may be someone else's.
pub fn memory(
    m: &Model,
    ops: usize,
    first: u64,
    total: u64,
    jobs: usize,
    tmp: &Path,
) -> Result<Memory, String> {
    let stage = |start: u64, seeds: u64| -> Result<(f64, f64), String> {
        let out = tmp.join(format!("memory-{start}"));
        let mut cfg = m.config(None);
        cfg.ops = ops;
        let mut o = FuzzOptions::new(cfg, out.clone());
        o.start_seed = start;
        o.seeds = Some(seeds);
        o.jobs = jobs;
        fuzz(m, &o).map_err(|e| e.to_string())?;
        let _ = std::fs::remove_dir_all(&out);
        // Linux folds the current RSS into VmHWM lazily (at unmaps), so VmHWM read right after a
        // stage can trail VmRSS by a page or two; the current resident set is a lower bound of the
        // true peak, so the peak reported is the larger of the two.
        let rss = rss_mb();
        peak_rss_mb()
            .zip(rss)
            .map(|(peak, rss)| (peak.max(rss), rss))
            .ok_or_else(|| "cannot read VmHWM and VmRSS from /proc/self/status".to_string())
    };
    let at_first = stage(0, first)?;
    let at_total = stage(first, total.saturating_sub(first))?;
    Ok(Memory {
        model: m.name().to_string(),
        ops,
        jobs,
        seeds_first: first,
        peak_rss_mb_first: at_first.0,
        rss_mb_first: at_first.1,
        seeds_total: total,
        peak_rss_mb_total: at_total.0,
        rss_mb_total: at_total.1,
        growth: at_total.0 / at_first.0 - 1.0,
    })
}
