//! `faultline bench`: performance figures measured in one process, side by side (docs/reference.md).
//!
//! - the network floor: raw madsim against the harness's network on the same traffic, and
//!   their ratio `overhead`;
//! - seeds per second of every registered model, one thread, checking included;
//! - the linearizability checker's total time on the shared histories, and with `--porcupine
//!   DIR` Porcupine's own checker timed beside it on this machine ([`porcupine`]);
//! - the `--jobs N` speed-up of a real campaign; and, with `--memory`, peak RSS over a long one.
//!
//! Figures are measured, never asserted: tests only check that they are produced and sane.
//!
//! ```no_run
//! use faultline_cli::bench::{run, BenchOptions};
//! # fn my_models() -> Vec<faultline::Model> { vec![] }
//! let report = run(&my_models(), &BenchOptions::quick()).unwrap();
//! println!("overhead {:.2}", report.overhead);
//! ```
pub mod models;
pub mod net;
pub mod porcupine;

use faultline::model::Model;
use faultline_checkers::shared_data;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What to measure and for how long.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Time per side of the network bench.
    pub net_budget: Duration,
    pub traffic: net::Traffic,
    /// Time per model.
    pub model_budget: Duration,
    /// Checker runs per history (the median counts).
    pub checker_runs: usize,
    /// Time per campaign of the scaling figure; `None` skips it.
    pub scaling_budget: Option<Duration>,
    pub jobs: usize,
    /// `(ops per seed, seeds at the first reading, seeds in all)`; `None` skips it.
    pub memory: Option<(usize, u64, u64)>,
    /// Only these models (all when empty).
    pub only: Vec<String>,
    /// Where scratch campaign folders go.
    pub tmp: PathBuf,
    /// A Porcupine checkout to time beside the checker (needs `go`); `None` skips it.
    pub porcupine: Option<PathBuf>,
}

impl BenchOptions {
    /// About 25 seconds on a 2-core machine with the built-in models.
    pub fn quick() -> BenchOptions {
        BenchOptions {
            net_budget: Duration::from_secs(3),
            traffic: net::Traffic {
                rounds: 400,
                window: 8,
            },
            model_budget: Duration::from_millis(1200),
            checker_runs: 1,
            scaling_budget: Some(Duration::from_secs(2)),
            jobs: 2,
            memory: None,
            only: vec![],
            porcupine: None,
            tmp: std::env::temp_dir().join(format!("faultline-bench-{}", std::process::id())),
        }
    }

    /// The full run: longer budgets, medians of 5 checker runs.
    pub fn full() -> BenchOptions {
        BenchOptions {
            net_budget: Duration::from_secs(10),
            model_budget: Duration::from_secs(5),
            checker_runs: 5,
            scaling_budget: Some(Duration::from_secs(8)),
            ..BenchOptions::quick()
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct CheckerFigures {
    pub files: usize,
    pub total_ms: f64,
    pub wrong_verdicts: usize,
    pub slowest_file: String,
    pub slowest_ms: f64,
}

/// docs/reference.md's `bench` object, plus the figures around it.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub raw_madsim_msgs_per_sec: f64,
    pub harness_msgs_per_sec: f64,
    /// `raw_madsim_msgs_per_sec / harness_msgs_per_sec`: the harness's cost per message relative
    /// to raw madsim's.
    pub overhead: f64,
    pub net_msgs_per_seed: u64,
    pub net_seeds: u64,
    pub models: BTreeMap<String, models::ModelFigures>,
    /// `None` when the shared histories are absent (`checker_skipped` says where they were
    /// looked for).
    pub checker: Option<CheckerFigures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checker_skipped: Option<String>,
    /// Porcupine timed beside the checker on this machine (`--porcupine DIR`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub porcupine: Option<porcupine::PorcupineFigures>,
    /// Why Porcupine was not timed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub porcupine_skipped: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scaling: Option<models::Scaling>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<models::Memory>,
    pub wall_s: f64,
}

/// Where the shared histories are: `$FAULTLINE_SHARED_DATA`, else `../shared/data` from the
/// current folder, else from the source tree this binary was built from.
fn shared_histories() -> Result<PathBuf, String> {
    shared_data::locate("../shared/data".as_ref())
        .or_else(|_| {
            shared_data::locate(
                &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"),
            )
        })
        .map_err(|looked| {
            format!(
                "no shared histories at {} (set FAULTLINE_SHARED_DATA to the folder holding linearizability/)",
                looked.display()
            )
        })
}

/// Measures everything `o` asks for. `progress` gets a line per stage.
pub fn run_with(
    all: &[Model],
    o: &BenchOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<BenchReport, String> {
    let started = Instant::now();
    let chosen: Vec<&Model> = all
        .iter()
        .filter(|m| o.only.is_empty() || o.only.iter().any(|n| n == m.name()))
        .collect();
    if let Some(unknown) = o.only.iter().find(|n| !all.iter().any(|m| m.name() == *n)) {
        return Err(format!("unknown model `{unknown}`"));
    }
    let scale_model = chosen
        .iter()
        .find(|m| m.name() == "raft")
        .or(chosen.first())
        .copied();
    // First, so that the peaks it reads are its own.
    let memory = match (o.memory, scale_model) {
        (Some((ops, first, total)), Some(m)) => {
            progress(&format!(
                "memory: {total} seeds of {} (--ops {ops}, --jobs {})",
                m.name(),
                o.jobs
            ));
            Some(models::memory(m, ops, first, total, o.jobs, &o.tmp)?)
        }
        _ => None,
    };
    progress("network: raw madsim vs the harness");
    let netf = net::measure(o.traffic, o.net_budget);

    let mut figures = BTreeMap::new();
    for m in &chosen {
        progress(&format!("model {}", m.name()));
        figures.insert(m.name().to_string(), models::throughput(m, o.model_budget)?);
    }

    progress("checker: shared histories");
    let data = shared_histories();
    let (checker, checker_skipped) = match &data {
        Ok(dir) => {
            let t = shared_data::time_all(dir, o.checker_runs)?;
            (
                Some(CheckerFigures {
                    files: t.files,
                    total_ms: t.total_ms,
                    wrong_verdicts: t.wrong_verdicts,
                    slowest_file: t.slowest.0.clone(),
                    slowest_ms: t.slowest.1,
                }),
                None,
            )
        }
        Err(why) => (None, Some(why.clone())),
    };
    let (porcupine, porcupine_skipped) = match (&data, &o.porcupine) {
        (Ok(dir), Some(checkout)) => {
            progress("checker: Porcupine beside it, best of 3");
            match porcupine::measure(dir, checkout, 3) {
                Ok(f) => (Some(f), None),
                Err(why) => (None, Some(why)),
            }
        }
        (Err(_), Some(_)) => (None, Some("no shared histories to time".into())),
        (_, None) => (
            None,
            Some("no Porcupine checkout given (--porcupine DIR or FAULTLINE_PORCUPINE_DIR)".into()),
        ),
    };

    let scaling = match (o.scaling_budget, scale_model) {
        (Some(budget), Some(m)) if o.jobs > 1 => {
            progress(&format!(
                "scaling: {} with --jobs 1 and {}",
                m.name(),
                o.jobs
            ));
            Some(models::scaling(m, o.jobs, budget, &o.tmp)?)
        }
        _ => None,
    };
    let _ = std::fs::remove_dir_all(&o.tmp);
    Ok(BenchReport {
        raw_madsim_msgs_per_sec: netf.raw_msgs_per_sec,
        harness_msgs_per_sec: netf.harness_msgs_per_sec,
        overhead: netf.raw_msgs_per_sec / netf.harness_msgs_per_sec,
        net_msgs_per_seed: netf.messages_per_seed,
        net_seeds: netf.seeds,
        models: figures,
        checker,
        checker_skipped,
        porcupine,
        porcupine_skipped,
        scaling,
        memory,
        wall_s: started.elapsed().as_secs_f64(),
    })
}

/// [`run_with`] without progress lines.
pub fn run(all: &[Model], o: &BenchOptions) -> Result<BenchReport, String> {
    run_with(all, o, &mut |_| {})
}

impl BenchReport {
    /// The readable table `faultline bench` prints.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "network ({} msgs/seed, {} seeds per side)",
            self.net_msgs_per_seed, self.net_seeds
        );
        let _ = writeln!(
            s,
            "  raw madsim   {:>12.0} msgs/s",
            self.raw_madsim_msgs_per_sec
        );
        let _ = writeln!(
            s,
            "  harness      {:>12.0} msgs/s",
            self.harness_msgs_per_sec
        );
        let _ = writeln!(
            s,
            "  overhead     {:>12.2}   (raw / harness; 1.0 = as fast as raw madsim)",
            self.overhead
        );
        let _ = writeln!(s, "\nmodels (one thread, default config, swarm, checked)");
        let _ = writeln!(
            s,
            "  {:<16} {:>10} {:>12} {:>7} {:>8}",
            "model", "seeds/s", "msgs/seed", "seeds", "failing"
        );
        for (name, m) in &self.models {
            let _ = writeln!(
                s,
                "  {:<16} {:>10.1} {:>12.0} {:>7} {:>8}",
                name, m.seeds_per_sec, m.msgs_per_seed, m.seeds, m.failures
            );
        }
        match &self.checker {
            Some(c) => {
                let _ = writeln!(
                    s,
                    "\nchecker: {} shared histories in {:.1} ms; slowest {} ({:.2} ms); wrong verdicts {}",
                    c.files, c.total_ms, c.slowest_file, c.slowest_ms, c.wrong_verdicts
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "\nchecker: SKIPPED, {}",
                    self.checker_skipped.as_deref().unwrap_or("no data")
                );
            }
        }
        match (&self.porcupine, &self.porcupine_skipped) {
            (Some(p), _) => {
                let _ = writeln!(
                    s,
                    "porcupine (measured here, best of 3, parsing excluded): {} histories, Porcupine {:.1} ms, Faultline {:.1} ms: {:.1}x; disagreements {}\n  on {}; {}{}",
                    p.files,
                    p.porcupine_ms,
                    p.faultline_ms,
                    p.speedup,
                    p.disagreements.len(),
                    p.machine,
                    p.go,
                    p.porcupine_commit.as_deref().map(|c| format!(", porcupine {c}")).unwrap_or_default()
                );
            }
            (None, why) => {
                let _ = writeln!(
                    s,
                    "porcupine: not timed here ({}); no speed-up is claimed without it",
                    why.as_deref().unwrap_or("skipped")
                );
            }
        }
        if let Some(sc) = &self.scaling {
            let _ = writeln!(
                s,
                "\nscaling: fuzz {} --jobs 1 {:.1} seeds/s, --jobs {} {:.1} seeds/s ({:.2}x)",
                sc.model, sc.jobs1_seeds_per_sec, sc.jobs, sc.seeds_per_sec, sc.speedup
            );
        }
        if let Some(m) = &self.memory {
            let _ = writeln!(
                s,
                "\nmemory: {} --ops {} --jobs {}: peak RSS {:.1} MiB after {} seeds, {:.1} MiB after {} ({:+.1}%); current RSS {:.1} then {:.1} MiB",
                m.model,
                m.ops,
                m.jobs,
                m.peak_rss_mb_first,
                m.seeds_first,
                m.peak_rss_mb_total,
                m.seeds_total,
                m.growth * 100.0,
                m.rss_mb_first,
                m.rss_mb_total
            );
        }
        let _ = writeln!(s, "\n{:.1} s in all", self.wall_s);
        s
    }
}
