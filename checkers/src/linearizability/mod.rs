//! Linearizability checking: the Wing–Gong / Lowe (WGL) search with P-compositionality.
//!
//! Given operations with call and return times and a sequential [`Spec`], decide whether some
//! total order of the operations respects real time (an op that returned before another was
//! called comes first) and the spec. Operations whose outcome is unknown (Jepsen `info`, or never
//! returned) may take effect at any time after their call, or never.
//!
//! How the search stays fast (measured on Porcupine's and Jepsen's histories, see the bench):
//! - partitions (keys) are checked independently and interleaved by step budgets, so a failing
//!   key is found without first exhausting a slow linearizable one;
//! - completed ops and open ops are kept apart: the search succeeds as soon as every completed op
//!   is linearized (open ops are optional), an open op that changes nothing is never linearized,
//!   and the memo table is keyed on (completed ops, state) with configurations skipped when a
//!   recorded one had a subset of their open ops linearized;
//! - when open ops exist, candidates are tried just in time (Lowe 2017): first the op owning the
//!   earliest pending return, then ops after which it can be linearized, then the rest;
//! - identical open ops are interchangeable: only the earliest-called one is tried first;
//! - a read the spec declares read-only ([`Spec::is_read_only`]) is linearized as soon as it is
//!   legal, with no alternative tried at that point (it can always be moved there);
//! - pruning by the spec ([`Spec::can_still_hold`]): a configuration is abandoned as soon as a
//!   pending op provably can no longer become legal from its state, given the ops that may still
//!   be linearized before it (those called before its return). Asked of the next op to return,
//!   of every read already invoked, and of the next two reads not yet invoked. This is what made
//!   the slow kv histories fast: in Porcupine's c50-ok, long-pending appends used to be
//!   linearized in every order and subset (some across a put that erases them) until the next
//!   read to return finally ruled them out (~385k steps, ~47 ms); now the first pending read
//!   whose value the state no longer leads to cuts the branch at once (~11k steps, ~3 ms).
//!   `kv` answers by tiling: a get of `v` can still hold only if `v` is the current value (or a
//!   pending put's) followed by values of pending appends. `register`/`cas-register`: a read of
//!   `v` only if the value is `v` or a pending op may write `v`. Sound for any history: each
//!   answer is a necessary condition, and skipping a check only prunes less (a read reached from
//!   its parent by a read, same state, is not asked again);
//! - without open ops, candidates are stepped lazily in call order (Porcupine's order);
//! - states are interned and each (state, op) step is evaluated once;
//! - large histories are checked on several threads ([`check_operations_parallel`]), with the
//!   same result as the single-threaded round-robin schedule.
//!
//! ```
//! use faultline_checkers::linearizability::{check_operations, CheckOptions, Operation, Verdict};
//! use faultline_checkers::spec::{RegisterInput, RegisterOp, RegisterOutput, RegisterSpec};
//! let w = |v: &str| RegisterInput { key: None, op: RegisterOp::Write(Some(v.into())) };
//! let r = RegisterInput { key: None, op: RegisterOp::Read };
//! let ops = vec![
//!     Operation::completed(w("1"), RegisterOutput::Ok, 0, 10),
//!     Operation::completed(r.clone(), RegisterOutput::Read(Some("1".into())), 5, 15),
//!     Operation::completed(r, RegisterOutput::Read(None), 20, 30),
//! ];
//! let spec = RegisterSpec::register(None);
//! let res = check_operations(&spec, &ops, &CheckOptions::default());
//! assert_eq!(res.verdict, Verdict::NotLinearizable);
//! ```
use crate::spec::Spec;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

mod hash;
mod memo;
mod search;

pub use hash::{FxBuild, FxHashMap, FxHasher};

use search::{Compiled, Outcome, Search};

/// One operation of a history, as the search sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Operation<I, O> {
    pub input: I,
    /// `None`: the outcome is unknown (Jepsen `info`, or the op never returned). The op then may
    /// take effect at any time after `call`, or never; `ret` is ignored.
    pub output: Option<O>,
    /// Invocation time. Any monotonic unit: only the order matters.
    pub call: u64,
    /// Completion time. Op a precedes op b in real time iff `a.ret < b.call` (equal times are
    /// concurrent).
    pub ret: Option<u64>,
}

impl<I, O> Operation<I, O> {
    /// An operation that returned `output` at `ret`.
    pub fn completed(input: I, output: O, call: u64, ret: u64) -> Self {
        Operation {
            input,
            output: Some(output),
            call,
            ret: Some(ret),
        }
    }

    /// An operation whose outcome is unknown: it may take effect any time after `call`, or never.
    pub fn unknown(input: I, call: u64) -> Self {
        Operation {
            input,
            output: None,
            call,
            ret: None,
        }
    }

    /// True when the op's outcome is unknown.
    pub fn is_open(&self) -> bool {
        self.output.is_none() || self.ret.is_none()
    }
}

/// Limits for a check.
///
/// Prefer `max_steps`: a work budget makes the verdict a function of the ops and the budget
/// alone (the same on any machine, under any load, with any number of threads). A `timeout`
/// makes it depend on the machine; it is there for interactive use only.
///
/// ```
/// use faultline_checkers::linearizability::CheckOptions;
/// let o = CheckOptions::budget(1_000_000);
/// assert_eq!((o.max_steps, o.timeout), (Some(1_000_000), None));
/// ```
#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    /// Give up (verdict [`Verdict::Undecided`]) after this long. `None`: no limit.
    /// Machine-dependent: the same history may get another verdict elsewhere.
    pub timeout: Option<Duration>,
    /// Give up after this many search steps in total (deterministic, unlike the timeout): the
    /// round-robin schedule stops exactly there. With a step limit the search runs on one
    /// thread, so the verdict never depends on the thread count.
    pub max_steps: Option<u64>,
}

impl CheckOptions {
    /// A work budget of `max_steps` search steps and no time limit.
    pub const fn budget(max_steps: u64) -> CheckOptions {
        CheckOptions {
            timeout: None,
            max_steps: Some(max_steps),
        }
    }
}

/// The answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Linearizable,
    NotLinearizable,
    /// The step budget (or the time limit) ran out first.
    Undecided,
}

/// A partition that cannot be linearized.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// The partition's key (`None`: the spec does not partition).
    pub partition: Option<String>,
    /// Position of the partition in the sorted partition order.
    pub partition_index: usize,
    /// Every op of the partition (indices into the checked slice), by call time.
    pub ops: Vec<usize>,
    /// The longest linearizable prefix found: the ops of the deepest configuration the search
    /// reached (most completed ops linearized), in linearization order.
    pub longest_prefix: Vec<usize>,
    /// Where the deepest attempt got stuck: the completed op that could not be linearized
    /// next after [`Failure::longest_prefix`], or a pending read the search proved could no
    /// longer return its value (pruning, see [`Spec::can_still_hold`]).
    pub stuck_op: usize,
}

/// The result of a check.
#[derive(Clone, Debug, PartialEq)]
pub struct LinResult {
    pub verdict: Verdict,
    /// Number of operations checked.
    pub ops: usize,
    /// Number of partitions.
    pub partitions: usize,
    /// For [`Verdict::NotLinearizable`]: the failing partition (see [`check_operations`]).
    pub failure: Option<Failure>,
    /// Search steps taken, over all partitions.
    pub steps: u64,
}

/// Steps per partition per round of the interleaving: small enough that a quickly failing
/// partition is not held up by a slow one, large enough that switching costs nothing.
const SLICE: u64 = 2048;

/// Histories with at least this many ops are checked on several threads from the start (when
/// the caller allows threads and there are several partitions).
const PARALLEL_FROM_OPS: usize = 1000;

/// Checks `ops` against `spec`.
///
/// Partitions ([`Spec::partition`]) are sorted by key and searched round-robin, each for a
/// fixed slice of steps per round, so the schedule depends only on the input, never on timing.
/// The check stops at the end of the first round in which some partition fails and reports the
/// lowest-keyed partition that failed in that round: deterministic, but not necessarily the
/// lowest failing key overall (finding that would mean exhausting every lower key, and one slow
/// linearizable key can take millions of steps — Porcupine's c50-bad has such a key).
/// With a limit, the verdict is `Undecided` when it runs out before any partition failed.
pub fn check_operations<S: Spec>(
    spec: &S,
    ops: &[Operation<S::Input, S::Output>],
    opts: &CheckOptions,
) -> LinResult {
    check_core(spec, ops, opts, None::<Parallel<S>>, SLICE)
}

/// [`check_operations`] on up to `threads` threads: the threads take (round, partition) slices
/// of the round-robin schedule, lowest round first.
///
/// The result is the same as [`check_operations`]'s (verdict, failing partition, prefix, step
/// count), whatever the thread timing: each partition's search is deterministic on its own, so
/// the round in which it fails under the round-robin schedule is fixed, and the reported
/// failure is the one that schedule reports, the lowest (round, partition) among the failing
/// ones. Slices of rounds after the best failure found so far are dropped (no partition can
/// fail earlier there), and the step count is the schedule's (no partition counted beyond that
/// round). Only a timeout can make the result depend on timing (`Undecided` when it cuts the
/// search short before that failure is confirmed).
///
/// Threads start at once on histories of 1000 ops or more, otherwise only if
/// two partitions or more are left after a first round (starting threads costs more than
/// checking a small history). Sequential with a step limit (`max_steps` counts steps in round
/// order) or with `threads <= 1`.
pub fn check_operations_parallel<S>(
    spec: &S,
    ops: &[Operation<S::Input, S::Output>],
    opts: &CheckOptions,
    threads: usize,
) -> LinResult
where
    S: Spec + Sync,
    S::State: Send,
    S::Input: Sync,
    S::Output: Sync,
{
    check_parallel(spec, ops, opts, threads, SLICE)
}

/// [`check_operations_parallel`] with a given slice (steps per partition per round).
fn check_parallel<S>(
    spec: &S,
    ops: &[Operation<S::Input, S::Output>],
    opts: &CheckOptions,
    threads: usize,
    slice: u64,
) -> LinResult
where
    S: Spec + Sync,
    S::State: Send,
    S::Input: Sync,
    S::Output: Sync,
{
    if threads <= 1 || opts.max_steps.is_some() {
        return check_core(spec, ops, opts, None::<Parallel<S>>, slice);
    }
    let par = |searches: &mut [Search<'_, S>], rounds: &mut [u64], deadline: Option<Instant>| {
        // Tasks are (round, partition) slices, taken lowest first: the threads follow the
        // round-robin schedule, so a slow partition does not delay a failing one. `best`:
        // (round << 32 | partition) of the best failure found so far; later rounds are dropped.
        let best = AtomicU64::new(u64::MAX);
        let slots: Vec<Mutex<(&mut Search<'_, S>, &mut u64)>> = searches
            .iter_mut()
            .zip(rounds.iter_mut())
            .map(Mutex::new)
            .collect();
        let mut heap = BinaryHeap::new();
        for (p, slot) in slots.iter().enumerate() {
            let g = slot.lock().unwrap_or_else(PoisonError::into_inner);
            if g.0.done.is_none() {
                heap.push(Reverse((*g.1 + 1, p)));
            }
        }
        let queue = Mutex::new((heap, 0usize));
        let wake = Condvar::new();
        let worker = || {
            let mut q = queue.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                let Some(Reverse((r, p))) = q.0.pop() else {
                    if q.1 == 0 {
                        wake.notify_all();
                        return;
                    }
                    q = wake.wait(q).unwrap_or_else(PoisonError::into_inner);
                    continue;
                };
                let b = best.load(Ordering::Relaxed);
                if (b != u64::MAX && r > b >> 32) || deadline.is_some_and(|d| Instant::now() >= d) {
                    continue;
                }
                q.1 += 1;
                drop(q);
                // A panicking spec must not leave the other threads waiting for this task.
                let ran = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    let mut g = slots[p].lock().unwrap_or_else(PoisonError::into_inner);
                    g.0.run(slice);
                    *g.1 = r;
                    match g.0.done {
                        Some(Outcome::Illegal { .. }) => {
                            best.fetch_min(r << 32 | p as u64, Ordering::Relaxed);
                            false
                        }
                        Some(Outcome::Linearizable) => false,
                        None => true,
                    }
                }));
                q = queue.lock().unwrap_or_else(PoisonError::into_inner);
                q.1 -= 1;
                wake.notify_all();
                match ran {
                    Ok(true) => q.0.push(Reverse((r + 1, p))),
                    Ok(false) => {}
                    Err(e) => {
                        q.0.clear();
                        drop(q);
                        std::panic::resume_unwind(e);
                    }
                }
            }
        };
        std::thread::scope(|sc| {
            for _ in 1..threads {
                sc.spawn(worker);
            }
            worker();
        });
    };
    check_core(spec, ops, opts, Some(par), slice)
}

/// The part of a check run on several threads: advances the unfinished partitions' searches
/// (counting each one's rounds in `rounds`) as [`check_operations_parallel`] says.
type Parallel<S> = for<'s, 'a> fn(&'s mut [Search<'a, S>], &'s mut [u64], Option<Instant>);

fn check_core<S: Spec, P>(
    spec: &S,
    ops: &[Operation<S::Input, S::Output>],
    opts: &CheckOptions,
    par: Option<P>,
    slice: u64,
) -> LinResult
where
    P: for<'s, 'a> FnOnce(&'s mut [Search<'a, S>], &'s mut [u64], Option<Instant>),
{
    let deadline = opts.timeout.map(|t| Instant::now() + t);
    let groups = partition(spec, ops);
    let compiled: Vec<Compiled> = groups
        .iter()
        .map(|(_, m)| Compiled::new(spec, ops, m))
        .collect();
    let mut searches: Vec<Search<S>> = compiled.iter().map(|c| Search::new(spec, ops, c)).collect();
    // rounds[p]: slices partition p has run (its last one possibly cut short by finishing).
    let mut rounds = vec![0u64; searches.len()];
    let mut active: Vec<usize> = (0..searches.len())
        .filter(|&p| searches[p].done.is_none())
        .collect();
    let mut steps = 0u64;
    let mut round = 0u64;
    let mut par = par;
    loop {
        // Threads pay off once the work is known to be large (a partition survived a round),
        // or from the start on a large history; on small ones, starting them costs more.
        if active.len() >= 2 && (round > 0 || ops.len() >= PARALLEL_FROM_OPS) {
            if let Some(f) = par.take() {
                f(&mut searches, &mut rounds, deadline);
                break;
            }
        }
        if active.is_empty() {
            break;
        }
        round += 1;
        let mut failed = false;
        let mut out_of_budget = false;
        for &p in &active {
            // A step budget is exact: the last slice is cut to what is left of it.
            let left = opts.max_steps.map_or(u64::MAX, |m| m.saturating_sub(steps));
            if left == 0 {
                out_of_budget = true;
                break;
            }
            let before = searches[p].steps;
            searches[p].run(slice.min(left));
            rounds[p] = round;
            steps += searches[p].steps - before;
            failed |= matches!(searches[p].done, Some(Outcome::Illegal { .. }));
        }
        // Stop at the end of the round that found the first failure (see the doc comment).
        if failed || out_of_budget {
            break;
        }
        active.retain(|&p| searches[p].done.is_none());
        if deadline.is_some_and(|d| Instant::now() >= d)
            || opts.max_steps.is_some_and(|m| steps >= m)
        {
            break;
        }
    }
    // The failure the round-robin schedule reports: the lowest (round, partition) that failed.
    let failed = (0..searches.len())
        .filter(|&p| matches!(searches[p].done, Some(Outcome::Illegal { .. })))
        .min_by_key(|&p| (rounds[p], p));
    // Confirmed when every other partition finished or ran at least that many rounds (always,
    // unless a time or step limit cut the search short). With a step budget the search is
    // sequential and exact, so any failure it found is reported: the same one on every machine.
    let confirmed = failed.filter(|&f| {
        opts.max_steps.is_some()
            || (0..searches.len()).all(|p| searches[p].done.is_some() || rounds[p] >= rounds[f])
    });
    let undecided = confirmed.is_none() && searches.iter().any(|s| s.done.is_none());
    // Steps as the round-robin schedule counts them: no partition beyond the failing round.
    let cap = confirmed.map_or(u64::MAX, |f| rounds[f].saturating_mul(slice));
    let steps = searches.iter().map(|s| s.steps.min(cap)).sum();
    let failure = confirmed.map(|p| {
        let c = &compiled[p];
        let Some(Outcome::Illegal { prefix, stuck }) = &searches[p].done else {
            unreachable!("failed partitions are illegal")
        };
        let mut members = groups[p].1.clone();
        members.sort_by_key(|&m| (ops[m].call, m));
        Failure {
            partition: groups[p].0.clone(),
            partition_index: p,
            ops: members,
            longest_prefix: prefix.iter().map(|&l| c.orig[l as usize]).collect(),
            stuck_op: c.orig[*stuck as usize],
        }
    });
    let verdict = if failure.is_some() {
        Verdict::NotLinearizable
    } else if undecided {
        Verdict::Undecided
    } else {
        Verdict::Linearizable
    };
    LinResult {
        verdict,
        ops: ops.len(),
        partitions: groups.len(),
        failure,
        steps,
    }
}

/// Groups op indices by partition key, keys sorted (`None` first).
fn partition<S: Spec>(
    spec: &S,
    ops: &[Operation<S::Input, S::Output>],
) -> Vec<(Option<String>, Vec<usize>)> {
    let mut map: std::collections::BTreeMap<Option<String>, Vec<usize>> = Default::default();
    for (i, op) in ops.iter().enumerate() {
        map.entry(spec.partition(&op.input)).or_default().push(i);
    }
    map.into_iter().collect()
}

/// A set of operations that cannot be linearized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counterexample {
    /// Completed operations (indices into the checked slice), by call time.
    pub ops: Vec<usize>,
    /// True when every single op of `ops` was shown necessary (relaxing it makes the rest
    /// linearizable); false when a step budget ran out and the set may be larger than needed.
    pub minimal: bool,
}

/// Shrinks a failure to a small set of observations that cannot be linearized together.
///
/// What is computed, precisely: take the failing partition's ops invoked before the return of
/// [`Failure::stuck_op`] (the first failing point; if that cut turns out linearizable, the cut at
/// a later return, found by bisection). Every op returning later, and every op not
/// in the result, is *relaxed*: treated as if its outcome were unknown (it may take effect at any
/// time after its call, or never, and its output is not checked). Relaxing only adds
/// possibilities, so if the relaxed history is not linearizable, neither is the original. Ops
/// are relaxed greedily, one at a time, earliest return first, keeping a relaxation whenever the
/// history stays non-linearizable. The result is 1-minimal (relaxing any one more op of it makes
/// the rest linearizable), not necessarily the globally smallest such set.
///
/// Each check is limited to `max_steps` search steps and the whole shrink to ten times that; an
/// inconclusive check keeps the op and marks the result not minimal.
pub fn minimal_counterexample<S: Spec>(
    spec: &S,
    ops: &[Operation<S::Input, S::Output>],
    failure: &Failure,
    max_steps: u64,
) -> Counterexample {
    let opts = CheckOptions {
        timeout: None,
        max_steps: Some(max_steps),
    };
    // The ops called by `limit`, those returning later relaxed.
    let cut = |limit: u64| {
        let members: Vec<usize> = failure
            .ops
            .iter()
            .copied()
            .filter(|&m| ops[m].call <= limit)
            .collect();
        let sub: Vec<Operation<S::Input, S::Output>> = members
            .iter()
            .map(|&m| {
                let mut op = ops[m].clone();
                if op.ret.is_none_or(|r| r > limit) {
                    op.output = None;
                }
                op
            })
            .collect();
        (members, sub)
    };
    // The earliest cut that is not linearizable: usually the one at the stuck op, but the search
    // may have ruled it out using ops returning later (pruning looks ahead), so try later
    // returns too, by bisection (the whole partition, last, is known not linearizable).
    let stuck_ret = ops[failure.stuck_op].ret.unwrap_or(u64::MAX);
    let mut limits: Vec<u64> = failure
        .ops
        .iter()
        .filter_map(|&m| ops[m].ret.filter(|&r| r >= stuck_ret && !ops[m].is_open()))
        .collect();
    limits.sort_unstable();
    limits.dedup();
    limits.push(u64::MAX);
    let mut total = 0u64;
    let mut fails = |limit: u64| {
        let res = check_operations(spec, &cut(limit).1, &opts);
        total += res.steps;
        res.verdict == Verdict::NotLinearizable
    };
    let limit = if fails(limits[0]) {
        limits[0]
    } else {
        let (mut lo, mut hi) = (0, limits.len() - 1);
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if fails(limits[mid]) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        limits[hi]
    };
    let (members, mut sub) = cut(limit);
    let first = check_operations(spec, &sub, &opts).verdict;
    let fallback = |sub: &[Operation<S::Input, S::Output>]| Counterexample {
        ops: members
            .iter()
            .zip(sub)
            .filter(|(_, o)| !o.is_open())
            .map(|(&m, _)| m)
            .collect(),
        minimal: false,
    };
    if first != Verdict::NotLinearizable {
        return fallback(&sub);
    }
    let mut order: Vec<usize> = (0..sub.len()).filter(|&i| !sub[i].is_open()).collect();
    order.sort_by_key(|&i| (sub[i].ret, sub[i].call, i));
    let mut minimal = true;
    // Bound the whole shrink, not only each check: a failing run must not stall on its report.
    for i in order {
        if total >= max_steps.saturating_mul(10) {
            minimal = false;
            break;
        }
        let saved = sub[i].output.take();
        let res = check_operations(spec, &sub, &opts);
        total += res.steps;
        match res.verdict {
            Verdict::NotLinearizable => {}
            Verdict::Linearizable => sub[i].output = saved,
            Verdict::Undecided => {
                sub[i].output = saved;
                minimal = false;
            }
        }
    }
    let mut out = fallback(&sub);
    out.minimal = minimal;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{KvInput, KvOp, KvOutput, KvSpec};

    /// Single-key kv runs with wide overlaps, a few gets misreporting (their last two appends
    /// swapped), on `keys` keys.
    fn history(seed: u64, keys: usize, per_key: u64) -> Vec<Operation<KvInput, KvOutput>> {
        let mut seed = seed | 1;
        let mut rand = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut ops = Vec::new();
        for key in 0..keys {
            let mut state = String::new();
            for i in 0..per_key {
                let t = 1000 + 10 * i;
                let mk = |op| KvInput {
                    key: format!("k{key}").into(),
                    op,
                };
                let (input, mut out) = if rand(2) == 0 {
                    (mk(KvOp::Get), Some(state.clone()))
                } else {
                    let x = ["a", "b", "c"][rand(3) as usize];
                    state.push_str(x);
                    (mk(KvOp::Append(x.into())), None)
                };
                if let Some(v) = out.as_mut().filter(|v| v.len() >= 2 && rand(700) == 0) {
                    let mut b = std::mem::take(v).into_bytes();
                    let n = b.len();
                    b.swap(n - 1, n - 2);
                    *v = String::from_utf8(b).expect("ascii");
                }
                let out = match out {
                    Some(v) => KvOutput::Get(Some(v.into())),
                    None => KvOutput::Ok,
                };
                ops.push(Operation::completed(input, out, t - rand(60), t + rand(60)));
            }
        }
        ops
    }

    /// Threads never change the result, also when partitions need many rounds and fail in
    /// different ones (small slices make many rounds).
    #[test]
    fn parallel_schedule_reports_what_the_sequential_one_does() {
        // Every key starts as "" (as in Porcupine's kv data).
        let spec = KvSpec {
            initial: Some("".into()),
        };
        let opts = CheckOptions::default();
        let (mut deep_failures, mut passes, mut partitions) =
            (0, 0, std::collections::BTreeSet::new());
        for seed in 0..24 {
            let ops = history(seed * 7919 + 1, 6, 150);
            for slice in [4, 16, 64] {
                let seq = check_core(&spec, &ops, &opts, None::<Parallel<KvSpec>>, slice);
                match &seq.failure {
                    // Failed after several rounds of all 6 partitions.
                    Some(f) if seq.steps > 3 * 6 * slice => {
                        deep_failures += 1;
                        partitions.insert(f.partition_index);
                    }
                    Some(_) => {}
                    None => passes += 1,
                }
                for threads in [2, 3, 8] {
                    let par = check_parallel(&spec, &ops, &opts, threads, slice);
                    assert_eq!(par, seq, "seed {seed}, slice {slice}, {threads} threads");
                }
            }
        }
        println!("{deep_failures} deep failures in partitions {partitions:?}, {passes} passes");
        assert!(deep_failures > 10 && partitions.len() > 2 && passes > 0);
    }
}
