//! Generators: which fault kinds a seed may draw, how many steps, how intense, and swarm testing
//! (each seed enabling its own random subset of the kinds).
use super::step::{
    After, ClientSet, Count, Fault, LinkEffect, Links, NodeRef, Select, Shape, Step,
};
use crate::data::Roles;
use crate::DiskOp;
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The fault kinds a generator can enable.
pub const FAULT_KINDS: &[&str] = &[
    "partition",
    "crash",
    "crash-all",
    "pause",
    "loss",
    "duplicate",
    "delay",
    "clock-skew",
    "crash-leader",
    "isolate-leader",
    "pause-leader",
    "leader-churn",
    "power-loss",
    "disk-error",
    "corrupt",
    "misdirect",
    "link-loss",
    "link-duplicate",
    "link-delay",
    "slow-link",
    "flaky-node",
    "client-crash",
    "client-partition",
];

/// A closed range written `[min, max]` in YAML.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "(f64, f64)", into = "(f64, f64)")]
pub struct Span {
    /// The lower end.
    pub min: f64,
    /// The upper end.
    pub max: f64,
}

impl TryFrom<(f64, f64)> for Span {
    type Error = String;
    fn try_from((min, max): (f64, f64)) -> Result<Self, String> {
        if !(min <= max && min >= 0.0 && max.is_finite()) {
            return Err(format!("range [{min}, {max}] must have 0 <= min <= max"));
        }
        Ok(Span { min, max })
    }
}

impl From<Span> for (f64, f64) {
    fn from(s: Span) -> Self {
        (s.min, s.max)
    }
}

impl Span {
    const fn new(min: f64, max: f64) -> Span {
        Span { min, max }
    }

    fn draw(&self, rng: &mut ChaCha8Rng) -> f64 {
        if self.min == self.max {
            self.min
        } else {
            rng.gen_range(self.min..=self.max)
        }
    }
}

fn default_steps() -> Span {
    Span::new(1.0, 6.0)
}
fn default_window() -> Span {
    Span::new(200.0, 3000.0)
}
fn default_rate() -> Span {
    Span::new(0.05, 0.5)
}
fn default_delay() -> Span {
    Span::new(5.0, 200.0)
}
fn default_skew() -> Span {
    Span::new(10.0, 5000.0)
}
fn zero() -> Span {
    Span::new(0.0, 0.0)
}
fn default_probability() -> f64 {
    0.0
}

/// Draws explicit steps for a seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generator {
    /// Fault kinds that may be drawn (see [`FAULT_KINDS`]).
    pub faults: Vec<String>,
    /// Swarm testing: each seed enables a random non-empty subset of `faults`.
    #[serde(default)]
    pub swarm: bool,
    /// How many steps a seed draws.
    #[serde(default = "default_steps")]
    pub steps: Span,
    /// How long each step's window lasts (ms).
    #[serde(default = "default_window")]
    pub window_ms: Span,
    /// Steps start within `[0, horizon_ms)`; default: the expected workload length.
    #[serde(default)]
    pub horizon_ms: Option<u64>,
    #[serde(default = "default_rate")]
    /// The loss probability a `loss` step draws from.
    pub loss_rate: Span,
    #[serde(default = "default_rate")]
    /// The duplication probability a `duplicate` step draws from.
    pub duplicate_rate: Span,
    #[serde(default = "default_rate")]
    /// The per-call failure probability a `disk-error` step draws from.
    pub disk_error_rate: Span,
    #[serde(default = "default_delay")]
    /// The mean extra delay (ms) a `delay` step draws from.
    pub delay_mean_ms: Span,
    /// How far a skewed clock jumps (ms, either direction).
    #[serde(default = "default_skew")]
    pub skew_ms: Span,
    /// How fast a skewed clock drifts (ms per second, either direction).
    #[serde(default = "zero")]
    pub drift: Span,
    /// Probability that a drawn crash is torn. A torn `crash`/`crash-leader` is a power loss of
    /// that node (unsynced writes lost but for a random prefix of each file's), an untorn one a
    /// process crash (unsynced writes survive); `crash-all` and `power-loss` always lose power,
    /// torn or clean (every unsynced write lost).
    #[serde(default = "default_probability")]
    pub torn: f64,
    /// Probability that a drawn partition is one-way.
    #[serde(default = "default_probability")]
    pub oneway: f64,
}

impl Generator {
    pub(crate) fn validate(&self) -> Result<(), String> {
        for k in &self.faults {
            if !FAULT_KINDS.contains(&k.as_str()) {
                return Err(format!(
                    "generate.faults: unknown fault `{k}` (expected one of: {})",
                    FAULT_KINDS.join(", ")
                ));
            }
        }
        if self.loss_rate.max > 1.0 || self.duplicate_rate.max > 1.0 {
            return Err("generate.loss_rate: rates must be within 0..=1".into());
        }
        if self.disk_error_rate.max > 1.0 {
            return Err("generate.disk_error_rate: rates must be within 0..=1".into());
        }
        for (name, p) in [("torn", self.torn), ("oneway", self.oneway)] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!(
                    "generate.{name}: a probability within 0..=1, got {p}"
                ));
            }
        }
        if self.steps.max > 1000.0 {
            return Err("generate.steps: at most 1000 steps per seed".into());
        }
        let max = super::step::MAX_MS as f64;
        if self.window_ms.max > max || self.horizon_ms.is_some_and(|h| h as f64 > max) {
            return Err(format!(
                "generate.window_ms: times must be at most {max} ms"
            ));
        }
        if self.drift.max >= 1000.0 {
            return Err("generate.drift: must stay below 1000 ms per second".into());
        }
        Ok(())
    }

    /// The explicit steps seed `rng` draws for a cluster of `nodes` servers whose protocol
    /// declares `roles` and a corruption budget of `corruption_budget` nodes: a kind aimed at a
    /// role nobody holds is never drawn, nor `corrupt`/`misdirect` when the budget is 0 (they
    /// could only be skipped), and `power-loss` without a leader strikes at its drawn time
    /// instead of after an election.
    pub(crate) fn generate(
        &self,
        rng: &mut ChaCha8Rng,
        nodes: usize,
        horizon: u64,
        roles: Roles,
        corruption_budget: usize,
    ) -> Vec<Step> {
        let horizon = self.horizon_ms.unwrap_or(horizon).max(1);
        let needs_two = |k: &str| {
            matches!(
                k,
                "partition"
                    | "isolate-leader"
                    | "leader-churn"
                    | "link-loss"
                    | "link-duplicate"
                    | "link-delay"
                    | "slow-link"
            )
        };
        let corruption = |k: &str| matches!(k, "corrupt" | "misdirect");
        let mut kinds: Vec<&str> = self
            .faults
            .iter()
            .map(String::as_str)
            .filter(|k| nodes >= 2 || !needs_two(k))
            .filter(|k| role_of(k).is_none_or(|r| roles.has(r)))
            .filter(|k| corruption_budget > 0 || !corruption(k))
            .collect();
        if self.swarm && !kinds.is_empty() {
            let mut enabled: Vec<&str> = kinds
                .iter()
                .copied()
                .filter(|_| rng.gen_bool(0.5))
                .collect();
            if enabled.is_empty() {
                enabled.push(kinds[rng.gen_range(0..kinds.len())]);
            }
            kinds = enabled;
        }
        if kinds.is_empty() {
            return vec![];
        }
        let count = self.steps.draw(rng).round() as usize;
        let mut steps = Vec::with_capacity(count);
        for _ in 0..count {
            let at_ms = rng.gen_range(0..horizon);
            let for_ms = self.window_ms.draw(rng).round() as u64;
            let kind = kinds[rng.gen_range(0..kinds.len())];
            match kind {
                "leader-churn" => steps.extend(self.churn(rng, at_ms)),
                "power-loss" => steps.push(self.power_loss(rng, at_ms, roles.leader)),
                _ => {
                    let mut step = self.draw(kind, rng, nodes, at_ms);
                    // A strike has no window; a crashed client restarts at once (Jepsen's
                    // fresh process), so it keeps working mid-run.
                    let once = step.fault.instantaneous()
                        || matches!(step.fault, Fault::ClientCrash { .. });
                    step.for_ms = (!once).then_some(for_ms);
                    steps.push(step);
                }
            }
        }
        steps.sort_by_key(|s| s.at_ms);
        steps
    }

    /// A chain of leader isolations, each triggered by the election the previous one caused:
    /// the first leader elected after `at_ms` is cut off after a while, every later one almost
    /// at once. Leaders that win and lose within a round trip are what Raft's Figure 8 needs.
    fn churn(&self, rng: &mut ChaCha8Rng, at_ms: u64) -> Vec<Step> {
        let links = rng.gen_range(3..=8u32);
        let first = rng.gen_range(50..=400);
        let next = rng.gen_range(5..=100);
        let window = rng.gen_range(600..=1500);
        (1..=links)
            .map(|nth| Step {
                after: Some(After {
                    kind: "leader-elected".into(),
                    delay_ms: if nth == 1 { first } else { next },
                    nth,
                }),
                select: Some(Select::Shape(
                    Shape::Isolate,
                    Some(NodeRef::Role("leader".into())),
                )),
                ..Step::at(
                    at_ms,
                    Fault::Partition {
                        groups: vec![],
                        oneway: false,
                    },
                )
                .lasting(window)
            })
            .collect()
    }

    /// Every node loses power just after the first leader election past `at_ms`: whatever the
    /// new leader and its voters promised must already be on disk. Without a leader (`leader`
    /// false), at `at_ms` itself (the same draws, so the rest of the seed's steps are alike).
    fn power_loss(&self, rng: &mut ChaCha8Rng, at_ms: u64, leader: bool) -> Step {
        let delay_ms = rng.gen_range(1..=50);
        let window = rng.gen_range(200..=600);
        Step {
            after: leader.then(|| After {
                kind: "leader-elected".into(),
                delay_ms,
                nth: 1,
            }),
            select: Some(Select::Count(Count::All)),
            ..Step::at(
                at_ms,
                Fault::Crash {
                    nodes: vec![],
                    power: true,
                    torn: self.torn > 0.0 && rng.gen_bool(self.torn),
                },
            )
            .lasting(window)
        }
    }

    fn draw(&self, kind: &str, rng: &mut ChaCha8Rng, nodes: usize, at_ms: u64) -> Step {
        let round3 = |x: f64| (x * 1000.0).round() / 1000.0;
        let role = |fault: Fault, select: Select| Step {
            select: Some(select),
            ..Step::at(at_ms, fault)
        };
        let fault = match kind {
            "partition" => {
                let shapes = shapes_for(nodes);
                let shape = shapes[rng.gen_range(0..shapes.len())];
                Fault::Partition {
                    groups: partition(rng, &(0..nodes).collect::<Vec<_>>(), shape, None),
                    oneway: self.oneway > 0.0 && rng.gen_bool(self.oneway),
                }
            }
            "crash" => {
                let nodes = vec![rng.gen_range(0..nodes)];
                let torn = self.torn > 0.0 && rng.gen_bool(self.torn);
                Fault::Crash {
                    nodes,
                    power: torn,
                    torn,
                }
            }
            "crash-all" => Fault::Crash {
                nodes: (0..nodes).collect(),
                power: true,
                torn: self.torn > 0.0 && rng.gen_bool(self.torn),
            },
            "pause" => Fault::Pause {
                nodes: vec![rng.gen_range(0..nodes)],
            },
            "disk-error" => {
                const OPS: [DiskOp; 3] = [DiskOp::Fsync, DiskOp::Write, DiskOp::Read];
                Fault::DiskError {
                    nodes: vec![rng.gen_range(0..nodes)],
                    op: OPS[rng.gen_range(0..OPS.len())],
                    rate: round3(self.disk_error_rate.draw(rng)),
                }
            }
            // One node's storage: the nemesis lands it only within the protocol's budget.
            "corrupt" => Fault::Corrupt {
                nodes: vec![rng.gen_range(0..nodes)],
            },
            "misdirect" => Fault::Misdirect {
                nodes: vec![rng.gen_range(0..nodes)],
            },
            "loss" => Fault::Loss {
                rate: round3(self.loss_rate.draw(rng)),
            },
            "duplicate" => Fault::Duplicate {
                rate: round3(self.duplicate_rate.draw(rng)),
            },
            "delay" => Fault::Delay {
                mean_ms: self.delay_mean_ms.draw(rng).round(),
                uniform: rng.gen_bool(0.3),
            },
            // One link between two servers, both ways, or one direction of it (`oneway`).
            "link-loss" | "link-duplicate" | "link-delay" | "slow-link" => {
                let a = rng.gen_range(0..nodes);
                let b = (a + rng.gen_range(1..nodes)) % nodes;
                let links = if self.oneway > 0.0 && rng.gen_bool(self.oneway) {
                    Links::OneWay { from: a, to: b }
                } else {
                    Links::Pairs(vec![[a.min(b), a.max(b)]])
                };
                let effect = match kind {
                    "link-loss" => LinkEffect::Loss(round3(self.loss_rate.draw(rng))),
                    "link-duplicate" => {
                        LinkEffect::Duplicate(round3(self.duplicate_rate.draw(rng)))
                    }
                    "link-delay" => LinkEffect::Delay {
                        mean_ms: self.delay_mean_ms.draw(rng).round(),
                        uniform: rng.gen_bool(0.3),
                    },
                    // A fixed extra latency, drawn from the delay range.
                    _ => LinkEffect::Slow(self.delay_mean_ms.draw(rng).round()),
                };
                Fault::Link { links, effect }
            }
            // Every link of one server loses messages.
            "flaky-node" => Fault::Link {
                links: Links::Node(rng.gen_range(0..nodes)),
                effect: LinkEffect::Loss(round3(self.loss_rate.draw(rng))),
            },
            // One client, chosen when the step starts (one with a request in flight if any).
            "client-crash" => Fault::ClientCrash {
                clients: ClientSet::Any,
            },
            // One client or every client, cut from a random non-empty set of servers.
            "client-partition" => {
                let clients = if rng.gen_bool(0.5) {
                    ClientSet::Any
                } else {
                    ClientSet::All
                };
                let mut servers: Vec<usize> = (0..nodes).collect();
                servers.shuffle(rng);
                servers.truncate(rng.gen_range(1..=nodes.max(1)));
                servers.sort_unstable();
                Fault::ClientPartition {
                    clients,
                    nodes: servers,
                }
            }
            "clock-skew" => {
                let sign = |rng: &mut ChaCha8Rng| if rng.gen_bool(0.5) { 1.0 } else { -1.0 };
                let offset = sign(rng) * self.skew_ms.draw(rng).round();
                let drift = round3(sign(rng) * self.drift.draw(rng));
                Fault::ClockSkew {
                    node: rng.gen_range(0..nodes),
                    offset_ms: offset as i64,
                    drift,
                    exceed: false,
                }
            }
            "crash-leader" => {
                let torn = self.torn > 0.0 && rng.gen_bool(self.torn);
                return role(
                    Fault::Crash {
                        nodes: vec![],
                        power: torn,
                        torn,
                    },
                    Select::Role("leader".into()),
                );
            }
            "pause-leader" => {
                return role(
                    Fault::Pause { nodes: vec![] },
                    Select::Role("leader".into()),
                )
            }
            _ => {
                return role(
                    Fault::Partition {
                        groups: vec![],
                        oneway: false,
                    },
                    Select::Shape(Shape::Isolate, Some(NodeRef::Role("leader".into()))),
                )
            }
        };
        Step::at(at_ms, fault)
    }
}

/// The role a generated fault kind aims at, if any (see [`Roles`]).
pub(crate) fn role_of(kind: &str) -> Option<&'static str> {
    match kind {
        "crash-leader" | "isolate-leader" | "pause-leader" | "leader-churn" => Some("leader"),
        _ => None,
    }
}

/// The partition shapes that mean something for `n` nodes (a ring of 3 connects everyone).
pub(crate) fn shapes_for(n: usize) -> Vec<Shape> {
    let mut v = vec![Shape::Halves, Shape::Majority, Shape::Isolate];
    if n >= 3 {
        v.push(Shape::Bridge);
    }
    if n >= 4 {
        v.push(Shape::Ring);
    }
    v
}

/// Draws a partition of `ids` with `shape`; `centre` is the isolated or bridging node (random
/// when `None`). Groups come out sorted, so the same draw always prints the same.
pub(crate) fn partition(
    rng: &mut ChaCha8Rng,
    ids: &[usize],
    shape: Shape,
    centre: Option<usize>,
) -> Vec<Vec<usize>> {
    let n = ids.len();
    let mut order: Vec<usize> = ids.to_vec();
    // Fisher-Yates with our own rng: the shape depends on the seed only.
    order.shuffle(rng);
    if let Some(c) = centre {
        if let Some(i) = order.iter().position(|&x| x == c) {
            order.swap(0, i);
        }
    }
    let sorted = |mut g: Vec<usize>| {
        g.sort_unstable();
        g
    };
    let split = |order: &[usize], cut: usize| {
        let cut = cut.clamp(1, order.len().saturating_sub(1).max(1));
        vec![sorted(order[..cut].to_vec()), sorted(order[cut..].to_vec())]
    };
    match shape {
        Shape::Halves => {
            let cut = rng.gen_range(1..n.max(2));
            split(&order, cut)
        }
        Shape::Majority => split(&order, n.saturating_sub(1) / 2),
        Shape::Isolate => split(&order, 1),
        Shape::Bridge if n >= 3 => {
            let bridge = order[0];
            let rest = &order[1..];
            let half = rest.len() / 2;
            let mut a = rest[..half].to_vec();
            let mut b = rest[half..].to_vec();
            a.push(bridge);
            b.push(bridge);
            vec![sorted(a), sorted(b)]
        }
        Shape::Ring if n >= 4 => (0..n)
            .map(|i| sorted(vec![order[i], order[(i + 1) % n]]))
            .collect(),
        _ => split(&order, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::step::Fault;
    use rand::SeedableRng;

    fn reach(groups: &[Vec<usize>], a: usize, n: usize) -> usize {
        (0..n)
            .filter(|&b| b != a && !Fault::cuts(groups, false, a, b))
            .count()
    }

    #[test]
    fn shapes_have_their_textbook_reachability() {
        let ids: Vec<usize> = (0..5).collect();
        for seed in 0..20 {
            let rng = &mut ChaCha8Rng::seed_from_u64(seed);
            let ring = partition(rng, &ids, Shape::Ring, None);
            assert!((0..5).all(|a| reach(&ring, a, 5) == 2), "{ring:?}");
            let bridge = partition(rng, &ids, Shape::Bridge, Some(3));
            assert_eq!(reach(&bridge, 3, 5), 4, "{bridge:?}");
            assert!((0..5).filter(|&a| a != 3).all(|a| reach(&bridge, a, 5) < 4));
            let iso = partition(rng, &ids, Shape::Isolate, Some(1));
            assert_eq!(reach(&iso, 1, 5), 0, "{iso:?}");
            let maj = partition(rng, &ids, Shape::Majority, None);
            assert_eq!(maj.iter().map(Vec::len).min(), Some(2), "{maj:?}");
        }
    }

    #[test]
    fn disk_error_draws_every_op_on_one_node_within_its_rate_span() {
        let g: Generator = serde_yaml::from_str(
            "faults: [disk-error]\nsteps: [3, 3]\ndisk_error_rate: [0.1, 0.2]",
        )
        .unwrap();
        let mut ops = std::collections::BTreeSet::new();
        for seed in 0..20 {
            let rng = &mut ChaCha8Rng::seed_from_u64(seed);
            for s in g.generate(rng, 5, 5000, Roles::NONE, 0) {
                let Fault::DiskError { nodes, op, rate } = s.fault else {
                    panic!("{s:?}")
                };
                assert!(nodes.len() == 1 && nodes[0] < 5, "{nodes:?}");
                assert!((0.1..=0.2).contains(&rate), "{rate}");
                ops.insert(op.name());
            }
        }
        assert_eq!(ops.len(), 3, "{ops:?}");
        let bad: Result<Generator, _> =
            serde_yaml::from_str("faults: [disk-error]\ndisk_error_rate: [0.1, 2]");
        assert!(bad.unwrap().validate().is_err());
    }

    #[test]
    fn role_kinds_draw_role_targeted_steps() {
        let g = Generator {
            faults: vec!["crash-leader".into(), "isolate-leader".into()],
            ..serde_yaml::from_str("faults: []").unwrap()
        };
        let steps = g.generate(&mut ChaCha8Rng::seed_from_u64(1), 5, 5000, Roles::LEADER, 0);
        assert!(!steps.is_empty());
        assert!(steps.iter().all(|s| s.select.is_some()), "{steps:?}");
    }

    #[test]
    fn without_a_leader_no_step_aims_at_one_and_power_loss_is_timed() {
        let g: Generator = serde_yaml::from_str(
            "faults: [crash, crash-leader, isolate-leader, pause-leader, leader-churn, power-loss]\nswarm: true\nsteps: [4, 8]",
        )
        .unwrap();
        let mut power = 0;
        for seed in 0..50 {
            let rng = &mut ChaCha8Rng::seed_from_u64(seed);
            for s in g.generate(rng, 5, 5000, Roles::NONE, 0) {
                assert!(
                    s.select.is_none() || matches!(s.select, Some(Select::Count(Count::All))),
                    "{s:?}"
                );
                assert!(s.after.is_none(), "{s:?}");
                power += matches!(s.select, Some(Select::Count(Count::All))) as usize;
            }
        }
        assert!(power > 0, "power-loss was never drawn");
        let aimed = (0..50).any(|seed| {
            g.generate(
                &mut ChaCha8Rng::seed_from_u64(seed),
                5,
                5000,
                Roles::LEADER,
                0,
            )
            .iter()
            .any(|s| matches!(s.select, Some(Select::Role(_) | Select::Shape(_, Some(_)))))
        });
        assert!(aimed);
    }

    #[test]
    fn corruption_kinds_strike_one_node_without_a_window_and_only_with_a_budget() {
        let g: Generator =
            serde_yaml::from_str("faults: [corrupt, misdirect, crash]\nsteps: [6, 6]").unwrap();
        let mut kinds = std::collections::BTreeSet::new();
        for seed in 0..30 {
            let steps = g.generate(
                &mut ChaCha8Rng::seed_from_u64(seed),
                3,
                5000,
                Roles::NONE,
                1,
            );
            for s in steps.iter().filter(|s| s.fault.instantaneous()) {
                assert_eq!(s.for_ms, None, "{s:?}");
                assert!(
                    s.fault.nodes().len() == 1 && s.fault.nodes()[0] < 3,
                    "{s:?}"
                );
                kinds.insert(s.fault.kind());
            }
            let none = g.generate(
                &mut ChaCha8Rng::seed_from_u64(seed),
                3,
                5000,
                Roles::NONE,
                0,
            );
            assert!(
                none.iter().all(|s| !s.fault.instantaneous()),
                "budget 0: {none:?}"
            );
        }
        assert_eq!(kinds.len(), 2, "{kinds:?}");
    }

    #[test]
    fn link_kinds_draw_per_link_steps_between_two_distinct_servers() {
        use crate::schedule::step::{LinkEffect, Links};
        let g = Generator {
            faults: [
                "link-loss",
                "link-duplicate",
                "link-delay",
                "slow-link",
                "flaky-node",
            ]
            .map(String::from)
            .to_vec(),
            oneway: 0.5,
            ..serde_yaml::from_str("faults: []").unwrap()
        };
        let mut effects = std::collections::BTreeSet::new();
        let (mut one_way, mut both) = (0, 0);
        for seed in 0..50 {
            let rng = &mut ChaCha8Rng::seed_from_u64(seed);
            for s in g.generate(rng, 5, 10_000, Roles::default(), 0) {
                let Fault::Link { links, effect } = &s.fault else {
                    panic!("{:?}", s.fault)
                };
                effects.insert(effect.kind());
                assert!(s.for_ms.is_some());
                match links {
                    Links::Pairs(p) => {
                        both += 1;
                        assert!(p.len() == 1 && p[0][0] < p[0][1] && p[0][1] < 5, "{p:?}")
                    }
                    Links::OneWay { from, to } => {
                        one_way += 1;
                        assert!(from != to && *from < 5 && *to < 5)
                    }
                    Links::Node(n) => {
                        assert!(*n < 5 && matches!(effect, LinkEffect::Loss(_)))
                    }
                }
            }
        }
        assert_eq!(effects.len(), 4, "{effects:?}");
        assert!(one_way > 0 && both > 0);
        // One server has no link to another: only the flaky node remains.
        let rng = &mut ChaCha8Rng::seed_from_u64(1);
        assert!(g
            .generate(rng, 1, 10_000, Roles::default(), 0)
            .iter()
            .all(|s| matches!(
                s.fault,
                Fault::Link {
                    links: Links::Node(0),
                    ..
                }
            )));
    }

    #[test]
    fn client_kinds_draw_client_steps_and_leave_other_schedules_alone() {
        use crate::schedule::step::ClientSet;
        let g: Generator =
            serde_yaml::from_str("faults: [client-crash, client-partition]\nsteps: [6, 6]")
                .unwrap();
        let (mut crashes, mut parts) = (0, 0);
        for seed in 0..30 {
            let rng = &mut ChaCha8Rng::seed_from_u64(seed);
            for s in g.generate(rng, 5, 5000, Roles::default(), 0) {
                match &s.fault {
                    Fault::ClientCrash { clients } => {
                        crashes += 1;
                        assert_eq!(*clients, ClientSet::Any);
                        assert_eq!(s.for_ms, None, "a crashed client restarts at once");
                    }
                    Fault::ClientPartition { clients, nodes } => {
                        parts += 1;
                        assert!(matches!(clients, ClientSet::Any | ClientSet::All));
                        assert!(!nodes.is_empty() && nodes.iter().all(|&n| n < 5));
                        assert!(nodes.windows(2).all(|w| w[0] < w[1]), "{nodes:?}");
                        assert!(s.for_ms.is_some());
                    }
                    f => panic!("{f:?}"),
                }
            }
        }
        assert!(crashes > 0 && parts > 0);
        // Built-in schedules that do not list them draw as before: none of their steps is one.
        for name in ["swarm", "uniform", "flaky-links"] {
            let s = crate::schedule::Schedule::load(name).unwrap();
            for seed in 0..20 {
                let steps = s
                    .resolve(&mut ChaCha8Rng::seed_from_u64(seed), 5, 5000, Roles::LEADER)
                    .unwrap();
                assert!(steps.iter().all(|s| s.fault.clients().is_none()), "{name}");
            }
        }
    }
}
