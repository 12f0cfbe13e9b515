//! Shrinking (`faultline shrink`, whose command line is in `faultline-cli`): the smallest schedule and workload that still fail the same way.
//!
//! A failing seed found by fuzzing typically carries several fault steps, hundreds of operations
//! and seconds of simulated time, most of which have nothing to do with the bug. Shrinking turns
//! it into something a person can read: delta debugging (Zeller's ddmin) over the explicit
//! schedule and the workload, where every candidate is a full deterministic [`run`] of the same
//! seed with already-resolved steps ([`Faults::Steps`]).
//!
//! **Target.** A candidate is kept when it fails with a violation of the *target checker*: the
//! one the caller names (`--checker`), else the checker of the reproducer's first recorded
//! violation, else (a reproducer that diverged and no longer trips it) the checker of the re-run's
//! first violation. Violations are ordered by the model's checker list, so this is deterministic;
//! for a key-value store it is `linearizability` before `lost-write`. Other checkers
//! may come and go: a lost write usually also breaks linearizability, and insisting on the exact
//! set would stop the shrinker at the first candidate where one of them stops firing.
//!
//! **Moves**, in rounds until a whole round changes nothing (or the budget runs out), sizes
//! first (every later simulation is faster), then shapes, then time:
//! 1. drop steps: the empty schedule first, then ddmin chunks down to single steps; then each
//!    enabled buggify point off, by name;
//! 2. fewer operations: `config.ops`, probed upwards (1, 2, 4, ...) then bisected;
//! 3. fewer clients: the same on `config.clients`;
//! 4. single operations: ddmin over the issued operations (`config.skip_ops`);
//! 5. fewer nodes, the smallest count that still fails (steps lose the nodes that are gone);
//! 6. plain steps: a triggered step becomes the timed fault it resolved to;
//! 7. smaller partitions: each member leaves its group in turn;
//! 8. shorter windows: per step, the same search on `for_ms` (a step without a window first
//!    gets one ending where the final phase began), then move its start later keeping its end,
//!    both to [`WINDOW_RESOLUTION_MS`];
//! 9. earlier faults: shift the whole schedule earlier, then close the gaps between steps (each
//!    time with a matching cut of the workload, then without), so that the operations that only
//!    ran to reach the faults can go.
//!
//! **Noise.** A candidate of moves 1–7 that passes under the current noise seed is tried under
//! the next [`ShrinkOptions::noise_tries`] ([`ModelConfig::noise`]) before it counts as passing:
//! a failure that hinges on one interleaving may survive a smaller schedule under another draw.
//! Moves 8 and 9 try many close variants and run the current noise only.
//!
//! When a round finds nothing, one more round tries many more shifts in move 5 (see
//! `earlier_schedule`); only when that finds nothing either is the search done.
//!
//! Every move proposes a strictly smaller candidate (fewer steps, ops, clients or nodes, fewer
//! triggers or partition members, shorter windows, earlier starts), so the rounds terminate; a budget of wall time and of simulations bounds them
//! anyway. Searches do not assume monotonicity: they only ever move to a candidate that was seen
//! to fail. Steps that never started (the workload ended first) are not dropped implicitly: the
//! nemesis still waits for them, so removing one can change the run; the step moves remove them
//! like any other step, by trying it.
//!
//! **The result** is written the way `run` writes reproducers: the steps as the final run
//! recorded them (resolved nodes, trigger notes) and that run's fingerprint. One last simulation
//! checks that replaying exactly those steps fails the same way with the same fingerprint; if
//! it did not, the candidate's own input steps would be written instead (equally replayable).
//!
//! **Determinism.** The candidates depend only on the reproducer and the results of earlier
//! candidates, which are deterministic: the same input gives the same output whenever the search
//! finishes within its budget (`minimal: true`). When the time budget cuts it short the result
//! depends on how far it got, and says so (`minimal: false`).
use crate::model::Model;
use crate::protocol::ModelConfig;
use crate::run::{run, Faults, RunError, RunReport, RunRequest};
use crate::schedule::{Fault, Step};
use faultline_checkers::EventType;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Bounds and target of one shrink.
#[derive(Clone, Debug)]
pub struct ShrinkOptions {
    /// Wall-time budget; the best candidate so far is returned when it runs out.
    pub time: Duration,
    /// At most this many simulations (candidates answered from the cache are free).
    pub max_candidates: usize,
    /// The checker whose violation must survive; `None`: see `prefer`.
    pub checker: Option<String>,
    /// Without `checker`: this checker if the run violates it (the reproducer's recorded first
    /// violation, so a reproducer that diverged still shrinks toward what it was filed for),
    /// else the run's first violation.
    pub prefer: Option<String>,
    /// Noise seeds a candidate tries after the current one before it counts as passing
    /// ([`ModelConfig::noise`]): a failure that hinges on one interleaving survives a smaller
    /// schedule under some other draw of delays and scheduling. `0`: the current noise only.
    pub noise_tries: u64,
}

impl Default for ShrinkOptions {
    fn default() -> Self {
        ShrinkOptions {
            time: Duration::from_secs(60),
            max_candidates: 20_000,
            checker: None,
            prefer: None,
            noise_tries: 3,
        }
    }
}

/// Why a shrink could not start.
#[derive(Debug, thiserror::Error)]
pub enum ShrinkError {
    /// The run could not start (the model or its configuration was refused).
    #[error(transparent)]
    Run(#[from] RunError),
    /// The starting point passes: there is no failure to preserve.
    #[error("the run passes (no violation): nothing to shrink")]
    Passes,
    /// The starting point is undecided (a checker ran out of its work budget, nothing failed):
    /// there is no failure to preserve either.
    #[error("the run is undecided (no violation; {0}): nothing to shrink")]
    Undecided(String),
    /// The checker asked for (`--checker`) is not among the run's violations.
    #[error("the run has no `{checker}` violation (its violations: {found})")]
    NoSuchViolation {
        /// The checker asked for.
        checker: String,
        /// The checkers the run violates.
        found: String,
    },
}

/// Why the search stopped before it was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exhausted {
    /// The wall-time budget ([`ShrinkOptions::time`]).
    Time,
    /// The simulation budget ([`ShrinkOptions::max_candidates`]).
    Candidates,
}

impl Exhausted {
    /// `time budget` or `candidate budget`, as reports say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Exhausted::Time => "time budget",
            Exhausted::Candidates => "candidate budget",
        }
    }
}

/// The outcome of a shrink.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The checker whose violation every kept candidate had.
    pub target: String,
    /// The run of the starting point.
    pub original: RunReport,
    /// The run of the smallest failing candidate; `result.steps` are the steps it ran.
    pub result: RunReport,
    /// The schedule to write: exactly the input of `result`'s run, so replaying it reproduces
    /// `result.fingerprint`.
    pub steps: Vec<Step>,
    /// Simulations run.
    pub candidates: usize,
    /// Candidates kept (each one smaller than the last).
    pub accepted: usize,
    /// Wall time spent.
    pub elapsed: Duration,
    /// `true` when a whole round of moves found nothing smaller (1-minimal for these moves);
    /// `false` when a budget cut the search short.
    pub minimal: bool,
    /// The budget that cut the search short (`None`: it finished).
    pub stopped_by: Option<Exhausted>,
}

/// Shrinks `start`, which must fail. `progress` receives one line per kept candidate and per
/// round (the CLI prints them on stderr).
pub fn shrink(
    model: &Model,
    start: &RunRequest,
    opts: &ShrinkOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Shrunk, ShrinkError> {
    let t0 = Instant::now();
    let steps = match &start.faults {
        Faults::Steps(s) => s.clone(),
        // A schedule (possibly a generator): shrink the steps this seed resolved to.
        Faults::Schedule(_) => run(model, start)?.steps,
    };
    let req = RunRequest {
        faults: Faults::Steps(steps.clone()),
        trace: false,
        ..start.clone()
    };
    let original = run(model, &req)?;
    // Buggify drawn from the seed: from here on, exactly the points the run had enabled (the
    // same run), so the shrinker can try disabling each.
    let req = RunRequest {
        config: ModelConfig {
            buggify_only: req.config.buggify_only.clone().or_else(|| {
                req.config.buggify.then(|| {
                    original
                        .recording
                        .buggify
                        .iter()
                        .filter(|(_, p)| p.enabled)
                        .map(|(name, _)| name.clone())
                        .collect()
                })
            }),
            ..req.config
        },
        ..req
    };
    match original.verdict() {
        crate::run::Verdict::Pass => return Err(ShrinkError::Passes),
        crate::run::Verdict::Undecided => {
            let what: Vec<String> = original
                .undecided
                .iter()
                .map(|u| format!("{} could not decide", u.checker))
                .collect();
            return Err(ShrinkError::Undecided(what.join(", ")));
        }
        crate::run::Verdict::Fail => {}
    }
    let target = match &opts.checker {
        Some(c) => {
            if !original.violations.iter().any(|v| &v.checker == c) {
                return Err(ShrinkError::NoSuchViolation {
                    checker: c.clone(),
                    found: original.violated_checkers().join(", "),
                });
            }
            c.clone()
        }
        None => opts
            .prefer
            .as_ref()
            .filter(|p| original.violations.iter().any(|v| &&v.checker == p))
            .unwrap_or(&original.violations[0].checker)
            .clone(),
    };
    progress(&format!(
        "shrink: target checker `{target}`; start: {}",
        size(&req.config, &steps)
    ));
    let mut s = Shrinker {
        model,
        seed: req.seed,
        fail_on: req.fail_on.clone(),
        target: target.clone(),
        cfg: req.config.clone(),
        steps,
        best: original.clone(),
        seen: BTreeMap::new(),
        candidates: 1,
        accepted: 0,
        t0,
        opts: opts.clone(),
        retry_noise: true,
        progress,
    };
    let mut round = 0;
    let mut dense = false;
    let stopped_by = loop {
        round += 1;
        match s.round(dense) {
            Ok(false) if !dense => dense = true,
            Ok(true) => {
                dense = false;
                let line = format!(
                    "shrink: round {round} done: {} ({} candidates)",
                    size(&s.cfg, &s.steps),
                    s.candidates
                );
                (s.progress)(&line);
            }
            Ok(false) => break None,
            Err(e) => break Some(e),
        }
    };
    s.settle_on_recorded_steps()?;
    Ok(Shrunk {
        target,
        original,
        result: s.best,
        steps: s.steps,
        candidates: s.candidates,
        accepted: s.accepted,
        elapsed: t0.elapsed(),
        minimal: stopped_by.is_none(),
        stopped_by,
    })
}

/// The size of a candidate as the shrinker reports it, e.g. `2 steps, 40 ops, 3 clients, 5
/// nodes` (what `faultline shrink` prints before and after).
pub fn size(cfg: &ModelConfig, steps: &[Step]) -> String {
    let points = match &cfg.buggify_only {
        Some(only) => format!(
            ", {} buggify point{}",
            only.len(),
            if only.len() == 1 { "" } else { "s" }
        ),
        None => String::new(),
    };
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    format!(
        "{} step{}, {} ops, {} client{}, {} node{}{points}",
        steps.len(),
        plural(steps.len()),
        cfg.issued_ops(),
        cfg.clients,
        plural(cfg.clients),
        cfg.nodes,
        plural(cfg.nodes),
    )
}

struct Shrinker<'a> {
    model: &'a Model,
    seed: u64,
    fail_on: Vec<String>,
    target: String,
    /// The current (smallest failing) candidate; `best` is its run.
    cfg: ModelConfig,
    steps: Vec<Step>,
    best: RunReport,
    /// Candidates already simulated and whether they kept the target violation. Keyed by their
    /// debug form, which covers every field of a step, including ones added later.
    seen: BTreeMap<String, bool>,
    candidates: usize,
    accepted: usize,
    t0: Instant,
    opts: ShrinkOptions,
    /// Whether the current move tries other noise seeds: structural moves (steps, points, ops,
    /// clients, nodes, partition members) do; window and timing moves, which try many close
    /// variants anyway, run the current noise only.
    retry_noise: bool,
    progress: &'a mut dyn FnMut(&str),
}

/// Windows and starts are searched to this precision (ms).
pub const WINDOW_RESOLUTION_MS: u64 = 10;

/// A search step's result, or the budget that ran out.
type Budgeted<T> = Result<T, Exhausted>;

impl Shrinker<'_> {
    /// Simulates a candidate unless it was seen; keeps it (and returns `true`) when it still fails
    /// with the target checker.
    fn attempt(&mut self, cfg: ModelConfig, steps: Vec<Step>, what: &str) -> Budgeted<bool> {
        // Everything a move changes except the noise (a candidate counts once, under whichever
        // noise made it fail).
        let skipped: Vec<&usize> = cfg.skip_ops.iter().filter(|&&i| i < cfg.ops).collect();
        let key = format!(
            "{} {} {:?} {} {:?} {:?}",
            cfg.nodes, cfg.ops, skipped, cfg.clients, cfg.buggify_only, steps
        );
        if self.seen.contains_key(&key) {
            // Seen before: either it passed, or it failed and was kept then — every move
            // proposes something smaller than the current candidate, so never anything better.
            return Ok(false);
        }
        // The current noise first, then the next few: the same candidate under other draws of the
        // incidental randomness (deterministic: the list depends only on the current noise).
        let first = cfg.noise;
        let mut found = None;
        let tries = if self.retry_noise {
            self.opts.noise_tries
        } else {
            0
        };
        for k in 0..=tries {
            if self.t0.elapsed() >= self.opts.time {
                return Err(Exhausted::Time);
            }
            if self.candidates >= self.opts.max_candidates {
                return Err(Exhausted::Candidates);
            }
            self.candidates += 1;
            let cfg = ModelConfig {
                noise: first.wrapping_add(k),
                ..cfg.clone()
            };
            let req = RunRequest {
                seed: self.seed,
                config: cfg.clone(),
                faults: Faults::Steps(steps.clone()),
                fail_on: self.fail_on.clone(),
                trace: false,
            };
            // A candidate the model rejects (it cannot run with these sizes) simply does not
            // fail, under any noise.
            let Ok(report) = run(self.model, &req) else {
                break;
            };
            if report.violations.iter().any(|v| v.checker == self.target) {
                found = Some((cfg, report));
                break;
            }
        }
        self.seen.insert(key, found.is_some());
        let fails = found.is_some();
        if let Some((cfg, report)) = found {
            self.cfg = cfg;
            self.steps = steps;
            self.best = report;
            self.accepted += 1;
            let noise = if self.cfg.noise == first {
                String::new()
            } else {
                format!(", noise {}", self.cfg.noise)
            };
            let line = format!(
                "shrink: kept #{} ({what}{noise}): {}",
                self.candidates,
                size(&self.cfg, &self.steps)
            );
            (self.progress)(&line);
        }
        Ok(fails)
    }

    /// Makes the result's steps the ones its run recorded (resolved, annotated), as every
    /// reproducer lists them, after checking that replaying exactly those gives the same run.
    /// Outside the budget: one simulation, so a shrink cut short still writes a checked file.
    fn settle_on_recorded_steps(&mut self) -> Result<(), RunError> {
        if self.best.steps == self.steps {
            return Ok(());
        }
        let req = RunRequest {
            seed: self.seed,
            config: self.cfg.clone(),
            faults: Faults::Steps(self.best.steps.clone()),
            fail_on: self.fail_on.clone(),
            trace: false,
        };
        self.candidates += 1;
        let again = run(self.model, &req)?;
        if again.fingerprint == self.best.fingerprint
            && again.violations.iter().any(|v| v.checker == self.target)
        {
            self.steps = self.best.steps.clone();
            self.best = again;
        }
        Ok(())
    }

    fn with_steps(&mut self, steps: Vec<Step>, what: &str) -> Budgeted<bool> {
        self.attempt(self.cfg.clone(), steps, what)
    }

    /// One round of every move; `true` if anything got smaller.
    fn round(&mut self, dense: bool) -> Budgeted<bool> {
        let mut changed = self.drop_steps()?;
        changed |= self.disable_points()?;
        // Ops before clients: the op count is what a reader wades through; cutting clients
        // first stretches the same ops over fewer processes and keeps more of them.
        changed |= self.fewer_ops()?;
        changed |= self.fewer_clients()?;
        changed |= self.drop_ops()?;
        changed |= self.fewer_nodes()?;
        // Shapes after sizes: a triggered step follows its observation wherever a smaller
        // workload moves it, which a plain step would no longer do.
        changed |= self.plain_steps()?;
        changed |= self.smaller_partitions()?;
        self.retry_noise = false;
        let timing = self
            .shorter_windows()
            .and_then(|c| Ok(c | self.earlier_schedule(dense)?));
        self.retry_noise = true;
        changed |= timing?;
        Ok(changed)
    }

    /// A step started by an observation (`after:`, a generator's `crash-leader`) becomes the
    /// plain timed fault it resolved to: same nodes, starting when it started. The story then
    /// reads as "at 812 ms n2 crashed", and the step no longer waits for an observation that a
    /// smaller workload may not produce.
    fn plain_steps(&mut self) -> Budgeted<bool> {
        let mut changed = false;
        for i in 0..self.steps.len() {
            if self.steps.get(i).is_none_or(|s| s.after.is_none()) {
                continue;
            }
            let started = self
                .best
                .recording
                .faults
                .iter()
                .find(|f| f.step == i && f.phase == "start")
                .map(|f| f.at_ns / 1_000_000);
            let Some(at) = started else { continue };
            let c = self.edited(i, |s| {
                s.at_ms = at;
                s.after = None;
                s.select = None;
                s.trigger = None;
            });
            changed |= self.maybe(c, &format!("step {} starts at {at} ms, untriggered", i + 1))?;
        }
        Ok(changed)
    }

    /// Fewer server nodes (`--nodes`), smallest first: a three-node story is easier to follow
    /// than a five-node one. Steps lose the nodes that no longer exist (a partition keeps its
    /// groups' remaining members; another fault naming a removed node goes). A model that
    /// refuses the size simply does not fail.
    fn fewer_nodes(&mut self) -> Budgeted<bool> {
        let current = self.cfg.nodes;
        for n in 1..current {
            let steps: Vec<Step> = self
                .steps
                .iter()
                .filter_map(|s| within_nodes(s, n))
                .collect();
            let cfg = ModelConfig {
                nodes: n,
                ..self.cfg.clone()
            };
            if self.attempt(cfg, steps, &format!("{n} nodes"))? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Partitions lose the members they did not need: each node in turn leaves its group (a
    /// node in no group is not cut off), so "n0 alone against n1..n4" may become "n0 | n1".
    fn smaller_partitions(&mut self) -> Budgeted<bool> {
        let mut changed = false;
        let mut i = 0;
        while i < self.steps.len() {
            let Fault::Partition { groups, .. } = &self.steps[i].fault else {
                i += 1;
                continue;
            };
            let members: Vec<(usize, usize)> = groups
                .iter()
                .enumerate()
                .flat_map(|(g, nodes)| nodes.iter().map(move |&n| (g, n)))
                .collect();
            for (g, node) in members {
                let c = self.edited(i, |s| {
                    // The note of how the old shape resolved no longer describes it.
                    s.trigger = None;
                    if let Fault::Partition { groups, .. } = &mut s.fault {
                        if let Some(group) = groups.get_mut(g) {
                            group.retain(|&x| x != node);
                        }
                        groups.retain(|grp| !grp.is_empty());
                    }
                });
                let what = format!("step {}: n{node} leaves the partition", i + 1);
                changed |= self.maybe(c, &what)?;
            }
            i += 1;
        }
        Ok(changed)
    }

    /// Disables each enabled buggify point in turn (in name order), keeping every candidate that
    /// still fails: the reproducer keeps only the points the failure needs.
    fn disable_points(&mut self) -> Budgeted<bool> {
        let Some(enabled) = self.cfg.buggify_only.clone() else {
            return Ok(false);
        };
        let mut changed = false;
        for name in enabled {
            let mut cfg = self.cfg.clone();
            if let Some(only) = cfg.buggify_only.as_mut() {
                only.remove(&name);
            }
            changed |= self.attempt(cfg, self.steps.clone(), &format!("buggify `{name}` off"))?;
        }
        Ok(changed)
    }

    /// ddmin over the step list, complements only: remove one of `n` chunks; on success go back
    /// to coarser chunks, otherwise refine until single steps.
    fn drop_steps(&mut self) -> Budgeted<bool> {
        if self.steps.is_empty() {
            return Ok(false);
        }
        if self.with_steps(Vec::new(), "no faults at all")? {
            return Ok(true);
        }
        self.ddmin(&|s| s.steps.len(), &mut |s, range| {
            let what = if range.len() == 1 {
                format!("drop step {}", range.start + 1)
            } else {
                format!("drop steps {}-{}", range.start + 1, range.end)
            };
            let mut cand = s.steps.clone();
            cand.drain(range);
            s.with_steps(cand, &what)
        })
    }

    /// Delta debugging (Zeller's ddmin, complements only) over a list of `len(self)` items:
    /// `without(range)` tries the current candidate without those items (and keeps it if it
    /// still fails). Chunks of `len / n`, `n` from 2: on success back to coarser chunks,
    /// otherwise finer, until single items all stay.
    fn ddmin(
        &mut self,
        len: &dyn Fn(&Self) -> usize,
        without: &mut dyn FnMut(&mut Self, std::ops::Range<usize>) -> Budgeted<bool>,
    ) -> Budgeted<bool> {
        let mut changed = false;
        let mut n = 2;
        loop {
            let len = len(self);
            if len < 2 {
                break;
            }
            let chunk = len.div_ceil(n);
            let mut kept = false;
            let mut lo = 0;
            while lo < len {
                let hi = (lo + chunk).min(len);
                if without(self, lo..hi)? {
                    kept = true;
                    break;
                }
                lo = hi;
            }
            if kept {
                changed = true;
                n = (n - 1).max(2);
            } else if chunk == 1 {
                break;
            } else {
                n = (2 * n).min(len);
            }
        }
        Ok(changed)
    }

    /// The smallest `x` in `1..current` for which `probe(x)` keeps a candidate (`current` is known
    /// to fail). Failure is not monotone in sizes (fewer ops may end the workload before a fault
    /// starts), so it first probes upwards, 1, 2, 4, ..., and then bisects between the last value
    /// seen to pass and the first seen to fail; it only ever keeps values seen to fail.
    fn smallest(
        &mut self,
        current: u64,
        probe: &mut dyn FnMut(&mut Self, u64) -> Budgeted<bool>,
    ) -> Budgeted<bool> {
        self.smallest_within(current, 1, probe)
    }

    /// [`Self::smallest`] that stops bisecting once the interval is `resolution` wide: a window
    /// of 864 ms reads no better than one of 870, and every millisecond costs simulations.
    fn smallest_within(
        &mut self,
        current: u64,
        resolution: u64,
        probe: &mut dyn FnMut(&mut Self, u64) -> Budgeted<bool>,
    ) -> Budgeted<bool> {
        let (mut lo, mut hi) = (0, current);
        let mut p = 1;
        while p < current {
            if probe(self, p)? {
                hi = p;
                break;
            }
            lo = p;
            p *= 2;
        }
        while hi - lo > resolution.max(1) {
            let mid = lo + (hi - lo) / 2;
            if probe(self, mid)? {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Ok(hi < current)
    }

    fn fewer_ops(&mut self) -> Budgeted<bool> {
        self.smallest(self.cfg.ops as u64, &mut |s, n| {
            let n = n as usize;
            let cfg = ModelConfig {
                ops: n,
                skip_ops: s.cfg.skip_ops.iter().copied().filter(|&i| i < n).collect(),
                ..s.cfg.clone()
            };
            s.attempt(cfg, s.steps.clone(), &format!("{n} ops"))
        })
    }

    /// ddmin over the operations themselves: skip chunks of the issued ones (halves, quarters,
    /// ... single operations), keeping every other operation as it was (`skip_ops`). The count
    /// search keeps a prefix of the workload; this keeps only the operations the failure needs,
    /// wherever they are in it.
    fn drop_ops(&mut self) -> Budgeted<bool> {
        let issued = |s: &Self| -> Vec<usize> {
            (0..s.cfg.ops)
                .filter(|i| !s.cfg.skip_ops.contains(i))
                .collect()
        };
        self.ddmin(&|s| issued(s).len(), &mut |s, range| {
            let part = &issued(s)[range];
            let what = match part {
                [one] => format!("skip op #{one}"),
                _ => format!("skip {} ops from #{}", part.len(), part[0]),
            };
            let mut cfg = s.cfg.clone();
            cfg.skip_ops.extend(part.iter().copied());
            s.attempt(cfg, s.steps.clone(), &what)
        })
    }

    fn fewer_clients(&mut self) -> Budgeted<bool> {
        self.smallest(self.cfg.clients as u64, &mut |s, n| {
            let cfg = ModelConfig {
                clients: n as usize,
                ..s.cfg.clone()
            };
            s.attempt(cfg, s.steps.clone(), &format!("{n} clients"))
        })
    }

    /// The current steps with step `i` changed by `f` (`None` if there is no step `i`).
    fn edited(&self, i: usize, f: impl FnOnce(&mut Step)) -> Option<Vec<Step>> {
        let mut steps = self.steps.clone();
        f(steps.get_mut(i)?);
        Some(steps)
    }

    /// Tries `steps` if there are any (a step index that no longer exists proposes nothing).
    fn maybe(&mut self, steps: Option<Vec<Step>>, what: &str) -> Budgeted<bool> {
        match steps {
            Some(s) => self.with_steps(s, what),
            None => Ok(false),
        }
    }

    fn shorter_windows(&mut self) -> Budgeted<bool> {
        let mut changed = false;
        let mut i = 0;
        while i < self.steps.len() {
            if self.steps[i].fault.instantaneous() {
                i += 1; // a strike has no window to shorten
                continue;
            }
            if self.steps[i].for_ms.is_none() {
                // "Until the final phase": try a window that ends where the final phase began.
                let end = self.best.recording.final_phase_ns / 1_000_000;
                let d = end.saturating_sub(self.steps[i].at_ms).max(1);
                let c = self.edited(i, |s| s.for_ms = Some(d));
                if !self.maybe(c, &format!("step {} gets a {d} ms window", i + 1))? {
                    i += 1;
                    continue;
                }
                changed = true;
            }
            let Some(d) = self.steps.get(i).and_then(|s| s.for_ms) else {
                i += 1;
                continue;
            };
            // The shortest window from the same start (to 10 ms).
            changed |= self.smallest_within(d, WINDOW_RESOLUTION_MS, &mut |s, ms| {
                let c = s.edited(i, |st| st.for_ms = Some(ms));
                s.maybe(c, &format!("step {} lasts {ms} ms", i + 1))
            })?;
            // Then the latest start with the same end: the window shrinks from the front.
            let Some(step) = self.steps.get(i).cloned() else {
                break;
            };
            if let Some(d) = step.for_ms {
                changed |= self.smallest_within(d, WINDOW_RESOLUTION_MS, &mut |s, len| {
                    let c = s.edited(i, |st| {
                        st.at_ms = step.at_ms + (d - len);
                        st.for_ms = Some(len);
                    });
                    let what = format!("step {} starts at {} ms", i + 1, step.at_ms + (d - len));
                    s.maybe(c, &what)
                })?;
            }
            i += 1;
        }
        Ok(changed)
    }

    /// Moves faults earlier, so that fewer operations are needed to reach them: first the whole
    /// schedule (its first step tried at 0, 25, 50, 100, 200, ... ms; the earliest that still
    /// fails is kept), then each later step together with the steps after it, closing the gap
    /// to the step before (the whole gap, half, a quarter).
    ///
    /// `dense` tries many more shifts (32 start times, 16 gap sizes): failures that hinge on an
    /// operation landing within milliseconds of a crash survive few shifts, and a coarse grid
    /// misses them. The search only goes dense once the coarse moves are exhausted.
    ///
    /// Each shift is tried first together with a cut of the workload that keeps the operations
    /// after the moved faults: often they are what makes the failure visible (the final read of
    /// a lost write must come right after the writes were lost, before new writes hide it), so
    /// shifting alone, or cutting ops alone, loses it. Until the moved faults the candidate runs
    /// like the current one, so the ops to cut are those the current run invoked in the time
    /// the shift removes. A few neighbours of that count are tried too; the ops search refines.
    fn earlier_schedule(&mut self, dense: bool) -> Budgeted<bool> {
        let mut starts: Vec<u64> = self.steps.iter().map(|s| s.at_ms).collect();
        starts.sort_unstable();
        starts.dedup();
        let Some(&first) = starts.first() else {
            return Ok(false);
        };
        let rec = &self.best.recording;
        let invoked: Vec<u64> = rec
            .history
            .events
            .iter()
            .filter(|e| e.kind == EventType::Invoke && e.process < rec.final_process_base)
            .map(|e| e.time_ns / 1_000_000)
            .collect();
        let targets: Vec<u64> = if dense {
            (0..32).map(|j| first * j / 32).collect()
        } else {
            std::iter::successors(Some(0u64), |&t| Some(if t == 0 { 25 } else { t * 2 }))
                .take_while(|&t| t < first)
                .collect()
        };
        for target in targets {
            if target < first && self.shift_from(first, first - target, &invoked)? {
                return Ok(true);
            }
        }
        for k in 1..starts.len() {
            let gap = starts[k] - starts[k - 1] - 1;
            let sizes: Vec<u64> = if dense {
                (1..=16).rev().map(|j| gap * j / 16).collect()
            } else {
                vec![gap, gap / 2, gap / 4]
            };
            for d in sizes {
                if d > 0 && self.shift_from(starts[k], d, &invoked)? {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Moves the steps starting at or after `from_ms` earlier by `d` ms: with the workload cut
    /// by the ops invoked in the `d` ms before `from_ms` (in `invoked`, ms), then without.
    fn shift_from(&mut self, from_ms: u64, d: u64, invoked: &[u64]) -> Budgeted<bool> {
        let mut c = self.steps.clone();
        for s in c.iter_mut().filter(|s| s.at_ms >= from_ms) {
            s.at_ms -= d;
        }
        let skipped = invoked
            .iter()
            .filter(|&&t| t + d >= from_ms && t < from_ms)
            .count();
        let keep = self.cfg.ops.saturating_sub(skipped);
        for ops in [keep, keep + 1, keep.saturating_sub(1), keep + 2] {
            if ops == 0 || ops >= self.cfg.ops {
                continue;
            }
            let cfg = ModelConfig {
                ops,
                ..self.cfg.clone()
            };
            let what = format!("steps from {from_ms} ms moved {d} ms earlier, {ops} ops");
            if self.attempt(cfg, c.clone(), &what)? {
                return Ok(true);
            }
        }
        self.with_steps(c, &format!("steps from {from_ms} ms moved {d} ms earlier"))
    }
}

/// `step` on a cluster of `n` server nodes: a partition keeps the members below `n` (and the
/// groups that still have any), a client partition the servers below `n`; any other fault that
/// names a node at or above `n` has nothing left to hit (`None`).
fn within_nodes(step: &Step, n: usize) -> Option<Step> {
    let mut s = step.clone();
    if s.fault.nodes().iter().any(|&x| x >= n) {
        // The note of how it resolved names nodes that are gone.
        s.trigger = None;
    }
    match &mut s.fault {
        Fault::Partition { groups, .. } => {
            for g in groups.iter_mut() {
                g.retain(|&x| x < n);
            }
            groups.retain(|g| !g.is_empty());
            if groups.len() < 2 {
                // One group cuts nothing off (nodes in no group are unaffected).
                return None;
            }
        }
        Fault::ClientPartition { nodes, .. } => {
            nodes.retain(|&x| x < n);
            if nodes.is_empty() {
                return None;
            }
        }
        f => {
            if f.nodes().iter().any(|&x| x >= n) {
                return None;
            }
        }
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_smaller_cluster_keeps_what_its_steps_can_still_hit() {
        let part = Step::at(
            10,
            Fault::Partition {
                groups: vec![vec![0, 3], vec![1, 2, 4]],
                oneway: false,
            },
        );
        let kept = within_nodes(&part, 3).expect("n0 | n1,n2 still cuts");
        assert_eq!(
            kept.fault,
            Fault::Partition {
                groups: vec![vec![0], vec![1, 2]],
                oneway: false
            }
        );
        // Only one side left: nothing is cut any more, the step goes.
        let lopsided = Step::at(
            10,
            Fault::Partition {
                groups: vec![vec![3, 4], vec![0, 1, 2]],
                oneway: false,
            },
        );
        assert!(within_nodes(&lopsided, 3).is_none());
        let crash = |n| {
            Step::at(
                5,
                Fault::Crash {
                    nodes: vec![n],
                    power: false,
                    torn: false,
                },
            )
        };
        assert!(within_nodes(&crash(4), 3).is_none());
        assert_eq!(within_nodes(&crash(2), 3), Some(crash(2)));
    }

    #[test]
    fn default_budget_is_bounded() {
        let o = ShrinkOptions::default();
        assert!(o.time > Duration::ZERO && o.max_candidates > 0);
        assert_eq!(Exhausted::Time.as_str(), "time budget");
    }
}
