//! Buggify: fault points inside the code under test ([`NodeCtx::buggify`](crate::NodeCtx::buggify)),
//! after FoundationDB's `BUGGIFY`.
//!
//! A run with buggify on enables each point it reaches with probability [`ENABLE_P`] (¼), decided
//! by hashing the seed with the point's *name*: the decision does not depend on the order points
//! are reached, so adding a point elsewhere never reshuffles the others. An enabled point fires
//! with its rate (¼ by default) at each reach, from a hash of the seed, the name and how many
//! times the point was reached before: a stream of its own, so the node's `ctx.rng()` draws are
//! never disturbed. A replay or a shrink gives the exact set of enabled points instead
//! ([`ModelConfig::buggify_only`](crate::ModelConfig::buggify_only)); every other point stays off.
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The probability that a point a run reaches is enabled for the whole run (FoundationDB's).
pub const ENABLE_P: f64 = 0.25;

/// The kind of the observation a fired point records (its data: the point's name), which the
/// timeline and the story show.
pub const OBSERVATION: &str = "buggify";

/// The default probability that an enabled point fires each time it is reached.
pub const DEFAULT_RATE: f64 = 0.25;

/// One point's record in a run: enabled or not, how often it was reached and how often it fired.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointStats {
    /// Whether the point was enabled for the run.
    pub enabled: bool,
    /// How many times code reached it.
    pub reached: u64,
    /// How many of those it fired (returned true).
    pub fired: u64,
}

/// FNV-1a: a hash of a point's name that is stable across Rust versions and platforms.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// splitmix64's finaliser: spreads every input bit over the output.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform draw in `[0, 1)` from a hash.
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether `seed` enables point `name` (probability [`ENABLE_P`]), from the seed and the name alone.
///
/// ```
/// // Deterministic: the same seed and name give the same answer.
/// assert_eq!(faultline::buggify::enabled_by_seed(7, "slow-fsync"),
///            faultline::buggify::enabled_by_seed(7, "slow-fsync"));
/// let on = (0..4000).filter(|&s| faultline::buggify::enabled_by_seed(s, "slow-fsync")).count();
/// assert!((800..1200).contains(&on));
/// ```
pub fn enabled_by_seed(seed: u64, name: &str) -> bool {
    unit(mix(mix(seed ^ 0x6275_6767_6966_7931) ^ name_hash(name))) < ENABLE_P
}

/// Whether an enabled point fires at its `n`th reach (from 0) with probability `rate`.
fn fires(seed: u64, name: &str, n: u64, rate: f64) -> bool {
    unit(mix(
        mix(mix(seed ^ 0x6669_7265_7321_0000) ^ name_hash(name)) ^ n,
    )) < rate
}

/// Buggify's state in one run (held by the world's core).
#[derive(Default)]
pub(crate) struct State {
    on: bool,
    seed: u64,
    /// The exact enabled set (replay, shrink); `None`: drawn from the seed.
    only: Option<BTreeSet<String>>,
    /// The points the protocol declares ([`Protocol::buggify_points`](crate::Protocol::buggify_points)).
    declared: &'static [&'static str],
    /// Every point reached, by name.
    pub points: BTreeMap<String, PointStats>,
}

/// What one reach of a point decided.
pub(crate) enum Reach {
    /// Buggify is off for the run, or the point is not enabled, or it did not fire this time.
    Quiet,
    /// The point fired: the caller takes the rare path.
    Fired,
}

impl State {
    pub fn new(
        seed: u64,
        on: bool,
        only: Option<BTreeSet<String>>,
        declared: &'static [&'static str],
    ) -> State {
        State {
            on: on || only.is_some(),
            seed,
            only,
            declared,
            points: BTreeMap::new(),
        }
    }

    /// Records a reach of `name` and decides whether it fires. Panics (the run reports it as
    /// a panic naming the point) when the protocol did not declare `name`, buggify on or off,
    /// so `faultline list` never lies about a model's points.
    pub fn reach(&mut self, name: &str, rate: f64) -> Reach {
        if !self.declared.contains(&name) {
            panic!(
                "buggify point `{name}` is not declared: add it to the protocol's \
                 `Protocol::buggify_points` (declared: [{}])",
                self.declared.join(", ")
            );
        }
        if !self.on {
            return Reach::Quiet;
        }
        let (seed, only) = (self.seed, &self.only);
        let p = self
            .points
            .entry(name.to_string())
            .or_insert_with(|| PointStats {
                enabled: match only {
                    Some(set) => set.contains(name),
                    None => enabled_by_seed(seed, name),
                },
                ..PointStats::default()
            });
        let n = p.reached;
        p.reached += 1;
        if p.enabled && fires(seed, name, n, rate) {
            p.fired += 1;
            Reach::Fired
        } else {
            Reach::Quiet
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POINTS: &[&str] = &["a", "b"];

    #[test]
    fn an_enabled_point_fires_at_about_its_rate_and_a_disabled_one_never() {
        let only: BTreeSet<String> = ["a".to_string()].into();
        let mut s = State::new(3, true, Some(only), POINTS);
        let fired_a = (0..4000)
            .filter(|_| matches!(s.reach("a", DEFAULT_RATE), Reach::Fired))
            .count();
        let fired_b = (0..4000)
            .filter(|_| matches!(s.reach("b", DEFAULT_RATE), Reach::Fired))
            .count();
        assert!((800..1200).contains(&fired_a), "{fired_a}");
        assert_eq!(fired_b, 0);
        assert_eq!(s.points["a"].fired as usize, fired_a);
        assert!(!s.points["b"].enabled);
    }

    #[test]
    fn off_never_fires_nor_records() {
        let mut s = State::new(3, false, None, POINTS);
        assert!((0..100).all(|_| matches!(s.reach("a", 1.0), Reach::Quiet)));
        assert!(s.points.is_empty());
    }

    #[test]
    #[should_panic(expected = "buggify point `c` is not declared")]
    fn an_undeclared_point_is_an_error() {
        State::new(3, false, None, POINTS).reach("c", DEFAULT_RATE);
    }

    #[test]
    fn enablement_depends_on_the_name_not_on_the_order_of_reach() {
        for seed in 0..50 {
            let mut x = State::new(seed, true, None, POINTS);
            let mut y = State::new(seed, true, None, POINTS);
            x.reach("a", 0.5);
            x.reach("b", 0.5);
            y.reach("b", 0.5);
            y.reach("a", 0.5);
            assert_eq!(x.points["a"].enabled, y.points["a"].enabled);
            assert_eq!(x.points["b"].enabled, y.points["b"].enabled);
        }
    }
}
