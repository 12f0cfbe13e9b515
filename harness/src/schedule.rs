//! Fault schedules: explicit timed steps, or a generator from which each seed draws its own
//! explicit steps. A reproducer always records the resolved steps, so it can be edited and shrunk.
//!
//! ```
//! use faultline_harness::schedule::Schedule;
//! let s = Schedule::parse("inline", "steps:\n  - {at_ms: 100, fault: crash, node: 1, for_ms: 500}\n").unwrap();
//! assert_eq!(s.steps().unwrap().len(), 1);
//! ```
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

/// A bad schedule file: which file, which line, what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("unknown schedule `{0}`: not a file, and not a built-in schedule ({1})")]
    Unknown(String, String),
}

/// One fault. Its window (`for_ms`) lives on the [`Step`].
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Nodes in different groups cannot reach each other; with `oneway`, only messages from the
    /// first group to the others are cut.
    Partition {
        groups: Vec<Vec<usize>>,
        oneway: bool,
    },
    /// The node stops; unsynced disk writes are lost. It restarts when the window ends.
    Crash { node: usize },
    /// Every message is dropped with this probability.
    Loss { rate: f64 },
    /// Every message is sent twice with this probability.
    Duplicate { rate: f64 },
    /// Extra per-message delay, exponentially distributed with this mean (reorders messages).
    Delay { mean_ms: f64 },
    /// The node's local clock reads `offset_ms` away from true time.
    ClockSkew { node: usize, offset_ms: i64 },
}

impl Fault {
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Partition { .. } => "partition",
            Fault::Crash { .. } => "crash",
            Fault::Loss { .. } => "loss",
            Fault::Duplicate { .. } => "duplicate",
            Fault::Delay { .. } => "delay",
            Fault::ClockSkew { .. } => "clock-skew",
        }
    }

    fn nodes(&self) -> Vec<usize> {
        match self {
            Fault::Partition { groups, .. } => groups.iter().flatten().copied().collect(),
            Fault::Crash { node } | Fault::ClockSkew { node, .. } => vec![*node],
            _ => vec![],
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Partition { groups, oneway } => {
                write!(
                    f,
                    "partition {groups:?}{}",
                    if *oneway { " one-way" } else { "" }
                )
            }
            Fault::Crash { node } => write!(f, "crash n{node}"),
            Fault::Loss { rate } => write!(f, "loss {rate}"),
            Fault::Duplicate { rate } => write!(f, "duplicate {rate}"),
            Fault::Delay { mean_ms } => write!(f, "delay mean {mean_ms}ms"),
            Fault::ClockSkew { node, offset_ms } => write!(f, "clock-skew n{node} {offset_ms:+}ms"),
        }
    }
}

/// One fault with its window, as written in schedules and reproducers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StepSpec", into = "StepSpec")]
pub struct Step {
    pub at_ms: u64,
    pub fault: Fault,
    /// How long the fault lasts; `None`: until the final phase.
    pub for_ms: Option<u64>,
    /// How a triggered step was resolved (recorded in reproducers).
    pub trigger: Option<String>,
}

impl Step {
    pub fn end_ms(&self) -> Option<u64> {
        self.for_ms.map(|d| self.at_ms + d)
    }
}

/// The flat YAML form of a step; `Step` is its validated form.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepSpec {
    at_ms: u64,
    fault: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    groups: Option<Vec<Vec<usize>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    oneway: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    node: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mean_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    offset_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    for_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trigger: Option<String>,
}

fn need<T>(v: Option<T>, fault: &str, field: &str) -> Result<T, String> {
    v.ok_or_else(|| format!("fault `{fault}` needs the field `{field}`"))
}

fn rate(v: Option<f64>, fault: &str) -> Result<f64, String> {
    let r = need(v, fault, "rate")?;
    if !(0.0..=1.0).contains(&r) {
        return Err(format!(
            "fault `{fault}`: rate must be within 0..=1, got {r}"
        ));
    }
    Ok(r)
}

impl TryFrom<StepSpec> for Step {
    type Error = String;
    fn try_from(s: StepSpec) -> Result<Self, String> {
        let f = s.fault.as_str();
        let fault = match f {
            "partition" => {
                let groups = need(s.groups, f, "groups")?;
                if groups.len() < 2 || groups.iter().any(|g| g.is_empty()) {
                    return Err("partition needs at least two non-empty groups".into());
                }
                let mut all: Vec<usize> = groups.iter().flatten().copied().collect();
                all.sort_unstable();
                if all.windows(2).any(|w| w[0] == w[1]) {
                    return Err("partition groups must not share a node".into());
                }
                Fault::Partition {
                    groups,
                    oneway: s.oneway.unwrap_or(false),
                }
            }
            "crash" => Fault::Crash {
                node: need(s.node, f, "node")?,
            },
            "loss" => Fault::Loss {
                rate: rate(s.rate, f)?,
            },
            "duplicate" => Fault::Duplicate {
                rate: rate(s.rate, f)?,
            },
            "delay" => {
                let mean_ms = need(s.mean_ms, f, "mean_ms")?;
                if !(mean_ms >= 0.0 && mean_ms.is_finite()) {
                    return Err(format!("delay: mean_ms must be >= 0, got {mean_ms}"));
                }
                Fault::Delay { mean_ms }
            }
            "clock-skew" => Fault::ClockSkew {
                node: need(s.node, f, "node")?,
                offset_ms: need(s.offset_ms, f, "offset_ms")?,
            },
            other => {
                return Err(format!(
                    "unknown fault `{other}` (expected one of: {})",
                    FAULT_KINDS.join(", ")
                ))
            }
        };
        Ok(Step {
            at_ms: s.at_ms,
            fault,
            for_ms: s.for_ms,
            trigger: s.trigger,
        })
    }
}

impl From<Step> for StepSpec {
    fn from(s: Step) -> Self {
        let mut spec = StepSpec {
            at_ms: s.at_ms,
            fault: s.fault.kind().to_string(),
            for_ms: s.for_ms,
            trigger: s.trigger,
            ..StepSpec::default()
        };
        match s.fault {
            Fault::Partition { groups, oneway } => {
                spec.groups = Some(groups);
                spec.oneway = oneway.then_some(true);
            }
            Fault::Crash { node } => spec.node = Some(node),
            Fault::Loss { rate } | Fault::Duplicate { rate } => spec.rate = Some(rate),
            Fault::Delay { mean_ms } => spec.mean_ms = Some(mean_ms),
            Fault::ClockSkew { node, offset_ms } => {
                spec.node = Some(node);
                spec.offset_ms = Some(offset_ms);
            }
        }
        spec
    }
}

/// The fault kinds a generator can enable.
pub const FAULT_KINDS: &[&str] = &[
    "partition",
    "crash",
    "loss",
    "duplicate",
    "delay",
    "clock-skew",
];

/// A closed range written `[min, max]` in YAML.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "(f64, f64)", into = "(f64, f64)")]
pub struct Span {
    pub min: f64,
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
    fn draw(&self, rng: &mut ChaCha8Rng) -> f64 {
        if self.min == self.max {
            self.min
        } else {
            rng.gen_range(self.min..=self.max)
        }
    }
}

fn default_steps() -> Span {
    Span { min: 1.0, max: 6.0 }
}
fn default_window() -> Span {
    Span {
        min: 200.0,
        max: 3000.0,
    }
}
fn default_rate() -> Span {
    Span {
        min: 0.05,
        max: 0.5,
    }
}
fn default_delay() -> Span {
    Span {
        min: 5.0,
        max: 200.0,
    }
}
fn default_skew() -> Span {
    Span {
        min: 10.0,
        max: 5000.0,
    }
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
    pub loss_rate: Span,
    #[serde(default = "default_rate")]
    pub duplicate_rate: Span,
    #[serde(default = "default_delay")]
    pub delay_mean_ms: Span,
    #[serde(default = "default_skew")]
    pub skew_ms: Span,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleFile {
    #[serde(default)]
    steps: Option<Vec<StepSpec>>,
    #[serde(default)]
    generate: Option<Generator>,
}

/// A parsed schedule: explicit steps or a generator.
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    Steps(Vec<Step>),
    Generate(Generator),
}

/// The built-in schedules, embedded from `schedules/` so every binary built on the harness has
/// them. Each file's first lines say what it explores.
pub const BUILTIN: &[(&str, &str)] = &[
    ("swarm", include_str!("../../schedules/swarm.yaml")),
    ("uniform", include_str!("../../schedules/uniform.yaml")),
    ("none", include_str!("../../schedules/none.yaml")),
    (
        "partitions",
        include_str!("../../schedules/partitions.yaml"),
    ),
    ("crashes", include_str!("../../schedules/crashes.yaml")),
    (
        "flaky-network",
        include_str!("../../schedules/flaky-network.yaml"),
    ),
    (
        "clock-skew",
        include_str!("../../schedules/clock-skew.yaml"),
    ),
];

impl Schedule {
    /// Parses YAML text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Schedule, ScheduleError> {
        let parsed: ScheduleFile = serde_yaml::from_str(text).map_err(|e| {
            let (line, column) = yaml_location(&e);
            ScheduleError::Parse {
                file: file.to_string(),
                line,
                column,
                message: e.to_string(),
            }
        })?;
        let invalid = |message: &str| ScheduleError::Invalid {
            file: file.to_string(),
            message: message.to_string(),
        };
        match (parsed.steps, parsed.generate) {
            (Some(specs), None) => {
                let lines = item_lines(text);
                let mut steps = Vec::with_capacity(specs.len());
                for (i, spec) in specs.into_iter().enumerate() {
                    let step = Step::try_from(spec).map_err(|message| ScheduleError::Parse {
                        file: file.to_string(),
                        line: lines.get(i).copied().unwrap_or(1),
                        column: 1,
                        message: format!("steps[{i}]: {message}"),
                    })?;
                    steps.push(step);
                }
                Ok(Schedule::Steps(steps))
            }
            (None, Some(g)) => {
                for k in &g.faults {
                    if !FAULT_KINDS.contains(&k.as_str()) {
                        return Err(invalid(&format!(
                            "generate.faults: unknown fault `{k}` (expected one of: {})",
                            FAULT_KINDS.join(", ")
                        )));
                    }
                }
                if g.loss_rate.max > 1.0 || g.duplicate_rate.max > 1.0 {
                    return Err(invalid("generate: rates must be within 0..=1"));
                }
                Ok(Schedule::Generate(g))
            }
            (Some(_), Some(_)) => Err(invalid(
                "a schedule has either `steps` or `generate`, not both",
            )),
            (None, None) => Err(invalid(
                "a schedule needs `steps: [...]` (explicit) or `generate: {...}` (a generator)",
            )),
        }
    }

    /// A file path if one exists, else a built-in name.
    pub fn load(name_or_path: &str) -> Result<Schedule, ScheduleError> {
        let path = Path::new(name_or_path);
        if path.is_file() {
            let text = std::fs::read_to_string(path).map_err(|source| ScheduleError::Io {
                file: name_or_path.to_string(),
                source,
            })?;
            return Schedule::parse(name_or_path, &text);
        }
        match BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            Some((n, text)) => Schedule::parse(&format!("schedules/{n}.yaml"), text),
            None => Err(ScheduleError::Unknown(
                name_or_path.to_string(),
                builtin_names().join(", "),
            )),
        }
    }

    pub fn steps(&self) -> Option<&[Step]> {
        match self {
            Schedule::Steps(s) => Some(s),
            Schedule::Generate(_) => None,
        }
    }

    /// The explicit steps this seed runs. `rng` must be seeded from the run's seed alone, so the
    /// faults a seed draws do not depend on the workload.
    pub fn resolve(
        &self,
        rng: &mut ChaCha8Rng,
        nodes: usize,
        horizon_ms: u64,
    ) -> Result<Vec<Step>, String> {
        let steps = match self {
            Schedule::Steps(steps) => steps.clone(),
            Schedule::Generate(g) => generate(g, rng, nodes, horizon_ms),
        };
        for (i, s) in steps.iter().enumerate() {
            if let Some(n) = s.fault.nodes().into_iter().find(|&n| n >= nodes) {
                return Err(format!(
                    "step {} ({}): node {n} does not exist (the cluster has nodes 0..{})",
                    i + 1,
                    s.fault,
                    nodes
                ));
            }
        }
        Ok(steps)
    }
}

/// Where serde_yaml found a problem, as (line, column), 1-based; (1, 1) when it does not say.
pub(crate) fn yaml_location(e: &serde_yaml::Error) -> (usize, usize) {
    e.location().map_or((1, 1), |l| (l.line(), l.column()))
}

/// The line (1-based) of each item of the top-level `steps:` list. serde_yaml gives no spans for
/// values, so errors found after parsing (a crash without `node`) locate their step this way.
fn item_lines(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut in_steps = false;
    let mut indent = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let depth = line.len() - trimmed.len();
        if depth == 0 {
            in_steps = trimmed.starts_with("steps:");
            continue;
        }
        if in_steps && (trimmed.starts_with("- ") || trimmed == "-") {
            if indent.is_none() {
                indent = Some(depth);
            }
            if indent == Some(depth) {
                out.push(i + 1);
            }
        }
    }
    out
}

pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

/// The first comment line of a built-in schedule: what it explores.
pub fn builtin_description(name: &str) -> Option<String> {
    let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
    let lines: Vec<&str> = text
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim())
        .collect();
    Some(lines.join(" "))
}

fn random_partition(rng: &mut ChaCha8Rng, nodes: usize) -> Vec<Vec<usize>> {
    let mut ids: Vec<usize> = (0..nodes).collect();
    // Fisher-Yates with our own rng: the shape must depend on the seed only.
    for i in (1..ids.len()).rev() {
        let j = rng.gen_range(0..=i);
        ids.swap(i, j);
    }
    let cut = match rng.gen_range(0..3) {
        0 => 1,                              // isolate one node
        1 => nodes.saturating_sub(1) / 2,    // majority / minority
        _ => rng.gen_range(1..nodes.max(2)), // random halves
    }
    .clamp(1, nodes - 1);
    let mut a = ids[..cut].to_vec();
    let mut b = ids[cut..].to_vec();
    a.sort_unstable();
    b.sort_unstable();
    vec![a, b]
}

fn generate(g: &Generator, rng: &mut ChaCha8Rng, nodes: usize, horizon: u64) -> Vec<Step> {
    let horizon = g.horizon_ms.unwrap_or(horizon).max(1);
    let mut kinds: Vec<&str> = g
        .faults
        .iter()
        .map(String::as_str)
        .filter(|k| nodes >= 2 || *k != "partition")
        .collect();
    if g.swarm && !kinds.is_empty() {
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
    let count = g.steps.draw(rng).round() as usize;
    let mut steps = Vec::with_capacity(count);
    for _ in 0..count {
        let at_ms = rng.gen_range(0..horizon);
        let for_ms = g.window_ms.draw(rng).round() as u64;
        let kind = kinds[rng.gen_range(0..kinds.len())];
        let fault = match kind {
            "partition" => Fault::Partition {
                groups: random_partition(rng, nodes),
                oneway: false,
            },
            "crash" => Fault::Crash {
                node: rng.gen_range(0..nodes),
            },
            "loss" => Fault::Loss {
                rate: (g.loss_rate.draw(rng) * 1000.0).round() / 1000.0,
            },
            "duplicate" => Fault::Duplicate {
                rate: (g.duplicate_rate.draw(rng) * 1000.0).round() / 1000.0,
            },
            "delay" => Fault::Delay {
                mean_ms: g.delay_mean_ms.draw(rng).round(),
            },
            _ => {
                let magnitude = g.skew_ms.draw(rng).round() as i64;
                Fault::ClockSkew {
                    node: rng.gen_range(0..nodes),
                    offset_ms: if rng.gen_bool(0.5) {
                        magnitude
                    } else {
                        -magnitude
                    },
                }
            }
        };
        steps.push(Step {
            at_ms,
            fault,
            for_ms: Some(for_ms),
            trigger: None,
        });
    }
    steps.sort_by_key(|s| s.at_ms);
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn builtins_parse_and_describe_themselves() {
        for (name, _) in BUILTIN {
            Schedule::load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!builtin_description(name).unwrap().is_empty(), "{name}");
        }
    }

    #[test]
    fn errors_name_the_line() {
        let text = "steps:\n  - {at_ms: 1, fault: crash, node: 0}\n  - {at_ms: 2, fault: bogus}\n";
        let e = Schedule::parse("f.yaml", text).unwrap_err().to_string();
        assert!(e.starts_with("f.yaml:3:"), "{e}");
        assert!(e.contains("unknown fault `bogus`"), "{e}");
        let e = Schedule::parse("f.yaml", "steps:\n  - {at_ms: 1, fault: crash, nod: 0}\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("f.yaml:2:") && e.contains("nod"), "{e}");
        let e = Schedule::parse("f.yaml", "steps:\n  - {at_ms: 1, fault: loss, rate: 3}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("rate must be within"), "{e}");
    }

    #[test]
    fn steps_round_trip_through_yaml() {
        let s = Schedule::load("swarm").unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let steps = s.resolve(&mut rng, 5, 5000).unwrap();
        let text = serde_yaml::to_string(&steps).unwrap();
        let back: Vec<Step> = serde_yaml::from_str(&text).unwrap();
        assert_eq!(steps, back);
    }

    #[test]
    fn generation_depends_on_seed_only() {
        let s = Schedule::load("uniform").unwrap();
        let a = s
            .resolve(&mut ChaCha8Rng::seed_from_u64(9), 5, 5000)
            .unwrap();
        let b = s
            .resolve(&mut ChaCha8Rng::seed_from_u64(9), 5, 5000)
            .unwrap();
        let c = s
            .resolve(&mut ChaCha8Rng::seed_from_u64(10), 5, 5000)
            .unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn resolve_rejects_missing_nodes() {
        let s = Schedule::parse("x", "steps:\n  - {at_ms: 1, fault: crash, node: 7}\n").unwrap();
        let e = s
            .resolve(&mut ChaCha8Rng::seed_from_u64(0), 3, 100)
            .unwrap_err();
        assert!(e.contains("node 7 does not exist"), "{e}");
    }
}
