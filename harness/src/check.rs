//! Running many seeds from a user's own `cargo test`.
//!
//! [`Check`] runs a range of seeds; [`CheckResult::assert_ok`] panics with the lowest failing
//! seed, its violations, the reproducer it writes and how to run that seed again: the replay
//! command of the binary named with [`Check::binary`], or else the same `Check` narrowed to the
//! seed. A seed
//! whose checker ran out of its work budget (`undecided`) is not ok either, unless the check
//! was told [`Check::allow_undecided`].
//!
//! **Regressions.** Like proptest, a failing `assert_ok` records the failing seeds in a text file,
//! by default `faultline-regressions/MODEL[-BUG].txt` under the crate being tested
//! (`CARGO_MANIFEST_DIR`, else the current folder), and every later `run` of that model runs them
//! first, before its range. Commit the file to keep the seeds; delete a line to forget one.
//! [`Check::regressions`] picks another file, [`Check::no_regressions`] turns this off.
//!
//! **Reproducers** go to `target/faultline/MODEL[-BUG]-SEED/` (the `target` folder holding the
//! test binary; the system temp folder otherwise), or to [`Check::artifacts`].
use crate::artifacts::{write_file, write_run_artifacts};
use crate::campaign::{run_seeds, CampaignError, RangeSet, SeedSpace, Seeds};
use crate::model::Model;
use crate::run::{Faults, RunReport, RunRequest, Verdict};
use crate::schedule::Schedule;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A batch of seeds against one model, for tests.
///
/// ```no_run
/// # use faultline::prelude::*;
/// # fn model() -> Model { unimplemented!() }
/// let result = Check::new(model()).seeds(0..100).schedule("partitions").jobs(2).run();
/// result.assert_ok();
/// ```
pub struct Check {
    model: Model,
    seeds: Range<u64>,
    schedule: String,
    bug: Option<String>,
    fail_on: Vec<String>,
    ops: Option<usize>,
    stop_on_first: bool,
    jobs: usize,
    regressions: Option<PathBuf>,
    use_regressions: bool,
    artifacts: Option<PathBuf>,
    allow_undecided: bool,
    check_budget: Option<u64>,
    binary: Option<String>,
    /// Everything else of the run's configuration the builder sets (nodes, workload, ...).
    tweaks: Vec<Tweak>,
}

/// One change the builder makes to the run's configuration.
type Tweak = Box<dyn Fn(&mut crate::protocol::ModelConfig) + Send + Sync>;

/// The outcome of a [`Check`]: the failing runs, lowest seed first.
pub struct CheckResult {
    /// Seeds run (the regression seeds included).
    pub seeds_run: u64,
    /// The failing runs, lowest seed first.
    pub failures: Vec<RunReport>,
    /// Undecided runs (nothing failed, a checker ran out of its budget), lowest seed first.
    pub undecided: Vec<RunReport>,
    allow_undecided: bool,
    /// The seeds taken from the regressions file (run before the range).
    pub regression_seeds: Vec<u64>,
    schedule: String,
    fail_on: Vec<String>,
    regressions: Option<PathBuf>,
    artifacts: PathBuf,
    binary: Option<String>,
    seeds: Range<u64>,
}

impl Check {
    /// Seeds 0..100 of `model` under `swarm`, one thread, with the regressions file of the model.
    pub fn new(model: Model) -> Check {
        Check {
            model,
            seeds: 0..100,
            schedule: "swarm".into(),
            bug: None,
            fail_on: vec![],
            ops: None,
            stop_on_first: false,
            jobs: 1,
            regressions: None,
            use_regressions: true,
            artifacts: None,
            allow_undecided: false,
            check_budget: None,
            binary: None,
            tweaks: vec![],
        }
    }

    fn tweak(
        mut self,
        f: impl Fn(&mut crate::protocol::ModelConfig) + Send + Sync + 'static,
    ) -> Self {
        self.tweaks.push(Box::new(f));
        self
    }

    /// The client workload (`register` or `append`, as `--workload`; the model must support it).
    pub fn workload(self, name: &str) -> Self {
        let name = name.to_string();
        self.tweak(move |c| c.workload = Some(name.clone()))
    }

    /// How long after the final heal every final read must have succeeded (simulated time; as
    /// `--liveness-timeout`).
    pub fn liveness_timeout(self, bound: std::time::Duration) -> Self {
        let ms = bound.as_millis().max(1) as u64;
        self.tweak(move |c| c.liveness_ms = Some(ms))
    }

    /// Server nodes (as `--nodes`).
    pub fn nodes(self, n: usize) -> Self {
        self.tweak(move |c| c.nodes = n)
    }

    /// Clients (as `--clients`).
    pub fn clients(self, n: usize) -> Self {
        self.tweak(move |c| c.clients = n)
    }

    /// A model parameter (as `--set KEY=VALUE`).
    pub fn set(self, key: &str, value: &str) -> Self {
        let (k, v) = (key.to_string(), value.to_string());
        self.tweak(move |c| {
            c.set.insert(k.clone(), v.clone());
        })
    }

    /// Buggify on (as `--buggify`): each [buggify point](crate::NodeCtx::buggify) a run reaches
    /// is enabled with probability ¼, drawn from the seed. Off by default.
    pub fn buggify(self, on: bool) -> Self {
        self.tweak(move |c| c.buggify = on)
    }

    /// The wire check (as `--wire serde`): every message crosses the protocol's
    /// [codec](crate::Protocol::wire_codec) and the receiver gets the decoded copy
    /// ([`crate::wire`]). A protocol that declares no codec is refused.
    pub fn wire(self, check: crate::protocol::WireCheck) -> Self {
        self.tweak(move |c| c.wire = Some(check))
    }

    /// Accept undecided seeds (a checker ran out of its work budget) as ok.
    pub fn allow_undecided(mut self) -> Self {
        self.allow_undecided = true;
        self
    }

    /// The checkers' work budget in search steps (default
    /// [`DEFAULT_CHECK_BUDGET`](crate::protocol::DEFAULT_CHECK_BUDGET)).
    pub fn check_budget(mut self, steps: u64) -> Self {
        self.check_budget = Some(steps);
        self
    }

    /// The seeds to run (after the regression seeds).
    pub fn seeds(mut self, seeds: Range<u64>) -> Self {
        self.seeds = seeds;
        self
    }

    /// A built-in schedule name or a schedule file path.
    pub fn schedule(mut self, s: &str) -> Self {
        self.schedule = s.into();
        self
    }

    /// Runs the bug variant `b` (`--bug`).
    pub fn bug(mut self, b: &str) -> Self {
        self.bug = Some(b.into());
        self
    }

    /// Also fails a seed on findings of `checker` (`--fail-on`; repeatable).
    pub fn fail_on(mut self, checker: &str) -> Self {
        self.fail_on.push(checker.into());
        self
    }

    /// Client operations per run (`--ops`).
    pub fn ops(mut self, n: usize) -> Self {
        self.ops = Some(n);
        self
    }

    /// Stop at the first failing seed.
    pub fn stop_on_first(mut self) -> Self {
        self.stop_on_first = true;
        self
    }

    /// Threads running seeds (default 1: `cargo test` already runs tests side by side). The
    /// result does not depend on it.
    pub fn jobs(mut self, n: usize) -> Self {
        self.jobs = n.max(1);
        self
    }

    /// The regressions file to read and extend (default
    /// `$CARGO_MANIFEST_DIR/faultline-regressions/MODEL[-BUG].txt`).
    pub fn regressions(mut self, path: impl Into<PathBuf>) -> Self {
        self.regressions = Some(path.into());
        self.use_regressions = true;
        self
    }

    /// Neither read nor write a regressions file.
    pub fn no_regressions(mut self) -> Self {
        self.use_regressions = false;
        self
    }

    /// Where `assert_ok` writes the failing seed's reproducer folder.
    pub fn artifacts(mut self, dir: impl Into<PathBuf>) -> Self {
        self.artifacts = Some(dir.into());
        self
    }

    /// The binary that runs this model from the command line (one whose `main` calls
    /// `faultline_cli::main` with it): `assert_ok` then prints `BINARY replay REPRODUCER`.
    /// Without it, `assert_ok` prints how to re-run the failing seed from this test instead,
    /// since the stock `faultline` binary does not know a user's model.
    ///
    /// ```no_run
    /// # use faultline::prelude::*;
    /// # fn model() -> Model { unimplemented!() }
    /// Check::new(model()).binary("my-kv-fuzz").seeds(0..20).run().assert_ok();
    /// ```
    pub fn binary(mut self, name: &str) -> Self {
        self.binary = Some(name.to_string());
        self
    }

    fn name(&self) -> String {
        match &self.bug {
            Some(b) => format!("{}-{b}", self.model.name()),
            None => self.model.name().to_string(),
        }
    }

    /// Runs the regression seeds, then the range. Panics on a configuration error (a test
    /// should fail loudly).
    pub fn run(self) -> CheckResult {
        let schedule = Schedule::load(&self.schedule).unwrap_or_else(|e| panic!("{e}"));
        let mut config = self.model.config(self.bug.as_deref());
        if let Some(ops) = self.ops {
            config.ops = ops;
        }
        config.check_budget = self.check_budget;
        for t in &self.tweaks {
            t(&mut config);
        }
        let regressions = self.use_regressions.then(|| {
            self.regressions.clone().unwrap_or_else(|| {
                std::env::var_os("CARGO_MANIFEST_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_default()
                    .join("faultline-regressions")
                    .join(format!("{}.txt", self.name()))
            })
        });
        let regression_seeds: Vec<u64> = regressions
            .as_deref()
            .map(read_regressions)
            .unwrap_or_default()
            .into_iter()
            .filter(|s| !self.seeds.contains(s))
            .collect();
        let mut list = regression_seeds.clone();
        list.extend(self.seeds.clone());
        let failures: Mutex<Vec<RunReport>> = Mutex::new(Vec::new());
        let undecided: Mutex<Vec<RunReport>> = Mutex::new(Vec::new());
        let seeds_run = Mutex::new(0u64);
        let seeds = Seeds {
            model: &self.model,
            request: RunRequest {
                seed: 0,
                config,
                faults: Faults::Schedule(schedule),
                fail_on: self.fail_on.clone(),
                trace: false,
            },
            space: SeedSpace::List(list),
            skip: RangeSet::default(),
            jobs: self.jobs,
            deadline: None,
            stop: None,
            stop_at_hit: self.stop_on_first,
            first_hit: None,
            recheck: Default::default(),
        };
        let on_seed = |_k: u64, r: RunReport| -> Result<(), CampaignError> {
            *seeds_run.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            match r.verdict() {
                Verdict::Fail => failures.lock().unwrap_or_else(|e| e.into_inner()).push(r),
                Verdict::Undecided => undecided.lock().unwrap_or_else(|e| e.into_inner()).push(r),
                Verdict::Pass => {}
            }
            Ok(())
        };
        let is_failure = |r: &RunReport| r.verdict() == Verdict::Fail;
        let outcome =
            run_seeds(&seeds, &is_failure, &on_seed, &mut || {}).unwrap_or_else(|e| panic!("{e}"));
        let mut failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
        let SeedSpace::List(list) = &seeds.space else {
            unreachable!("a list")
        };
        if self.stop_on_first {
            // The first failure in run order (regressions first), the same whatever --jobs.
            let first = outcome
                .lowest_hit
                .and_then(|k| list.get(k as usize).copied());
            failures.retain(|r| Some(r.seed) == first);
        }
        failures.sort_by_key(|r| r.seed);
        let mut undecided = undecided.into_inner().unwrap_or_else(|e| e.into_inner());
        undecided.sort_by_key(|r| r.seed);
        CheckResult {
            seeds_run: seeds_run.into_inner().unwrap_or_else(|e| e.into_inner()),
            failures,
            undecided,
            allow_undecided: self.allow_undecided,
            regression_seeds,
            schedule: self.schedule,
            fail_on: self.fail_on,
            regressions,
            artifacts: self.artifacts.unwrap_or_else(default_artifacts),
            binary: self.binary,
            seeds: self.seeds,
        }
    }
}

/// `target/faultline` next to the running test binary (`target/debug/deps/...`), else the
/// system temp folder.
fn default_artifacts() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .find(|a| a.file_name().is_some_and(|n| n == "deps"))
                .and_then(|deps| deps.parent()?.parent().map(Path::to_path_buf))
        })
        .unwrap_or_else(std::env::temp_dir)
        .join("faultline")
}

/// The seeds of a regressions file: the first word of each line that is not a comment.
fn read_regressions(path: &Path) -> Vec<u64> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return vec![];
    };
    text.lines()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

impl CheckResult {
    /// Panics when any seed failed, with the lowest failing seed, its violations, the path of
    /// the reproducer it writes and how to run it again (`BINARY replay FILE` with
    /// [`Check::binary`], else the `Check` narrowed to the seed); the failing seeds are added
    /// to the regressions file first. Undecided seeds panic too (naming the checker that ran
    /// out of budget), unless [`Check::allow_undecided`].
    pub fn assert_ok(&self) {
        let Some(f) = self.failures.first() else {
            if let Some(u) = self.undecided.first().filter(|_| !self.allow_undecided) {
                let mut msg = format!(
                    "faultline: {}{}{}: {} of {} seeds undecided (a checker ran out of its work budget; raise it with .check_budget(N) or accept with .allow_undecided()); lowest: seed {}\n",
                    u.model,
                    crate::protocol::bug_flag(u.config.bug.as_deref()),
                    crate::protocol::buggify_flag(u.config.buggify_on()),
                    self.undecided.len(),
                    self.seeds_run,
                    u.seed
                );
                for v in &u.undecided {
                    msg.push_str(&format!("  undecided [{}] {}\n", v.checker, v.message));
                }
                panic!("{msg}");
            }
            return;
        };
        // Tests run side by side in one process and may share a regressions file or a seed's
        // folder: one writer at a time (read-modify-write, and the same temporary names).
        static WRITING: Mutex<()> = Mutex::new(());
        let _writing = WRITING.lock().unwrap_or_else(|e| e.into_inner());
        let mut msg = format!(
            "faultline: {}{}{}: {} of {} seeds failed under schedule {}; lowest: seed {}\n",
            f.model,
            crate::protocol::bug_flag(f.config.bug.as_deref()),
            crate::protocol::buggify_flag(f.config.buggify_on()),
            self.failures.len(),
            self.seeds_run,
            self.schedule,
            f.seed
        );
        for v in &f.violations {
            msg.push_str(&format!("  violation [{}] {}\n", v.checker, v.message));
        }
        let name = match &f.config.bug {
            Some(b) => format!("{}-{b}-{}", f.model, f.seed),
            None => format!("{}-{}", f.model, f.seed),
        };
        match write_run_artifacts(&self.artifacts.join(name), f, &self.fail_on) {
            Ok(a) => {
                msg.push_str(&format!("  reproducer: {}\n", a.repro.display()));
                msg.push_str(&self.rerun_hint(f.seed, &a.repro));
            }
            Err(e) => msg.push_str(&format!("  (no reproducer: {e})\n")),
        }
        if let Some(path) = &self.regressions {
            match self.record_regressions(path) {
                Ok(()) => msg.push_str(&format!(
                    "  failing seeds recorded in {}: they run first next time\n",
                    path.display()
                )),
                Err(e) => msg.push_str(&format!("  (regressions not recorded: {e})\n")),
            }
        }
        panic!("{msg}");
    }

    /// How to run the failing `seed` again: the binary's replay command when the check named
    /// one ([`Check::binary`]), else the same `Check` narrowed to that seed (the stock
    /// `faultline` binary does not know a user's model, so its command would not work).
    fn rerun_hint(&self, seed: u64, repro: &Path) -> String {
        match &self.binary {
            Some(bin) => format!(
                "  replay:     {}\n",
                crate::command::command_with(bin, &["replay", &repro.display().to_string()])
            ),
            None => {
                let narrowed = if self.seeds.contains(&seed) {
                    format!(
                        "replace `.seeds({}..{})` with `.seeds({seed}..{})`",
                        self.seeds.start,
                        self.seeds.end,
                        seed + 1
                    )
                } else {
                    // A regression seed: it runs first on every run of this Check anyway.
                    format!("add `.seeds({seed}..{})`", seed + 1)
                };
                format!(
                    "  rerun:      this Check alone on the seed: {narrowed} (same model, bug, \
                     schedule and settings); or name your binary with `.binary(\"NAME\")` to \
                     print its replay command\n"
                )
            }
        }
    }

    fn record_regressions(&self, path: &Path) -> Result<(), crate::artifacts::WriteError> {
        let known = read_regressions(path);
        let mut text = std::fs::read_to_string(path).unwrap_or_else(|_| {
            "# Seeds that failed a faultline Check: they run first, before the Check's range.\n\
             # Commit this file to keep them; delete a line to forget a seed.\n"
                .to_string()
        });
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        for f in &self.failures {
            if known.contains(&f.seed) {
                continue;
            }
            let v = f.violations.first();
            text.push_str(&format!(
                "{} # schedule {}: [{}] {}\n",
                f.seed,
                self.schedule,
                v.map_or("", |v| v.checker.as_str()),
                v.map_or("", |v| v.message.lines().next().unwrap_or(""))
            ));
        }
        write_file(path, text.as_bytes())
    }

    /// The lowest failing seed, if any.
    pub fn first_failure(&self) -> Option<&RunReport> {
        self.failures.first()
    }

    /// No seed failed, and none was undecided unless [`Check::allow_undecided`].
    pub fn ok(&self) -> bool {
        self.failures.is_empty() && (self.allow_undecided || self.undecided.is_empty())
    }
}
