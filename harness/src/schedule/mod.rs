//! Fault schedules: explicit timed steps, or a generator from which each seed draws its own
//! explicit steps. A reproducer always records the resolved steps, so it can be edited and shrunk.
//!
//! ```
//! use faultline::schedule::Schedule;
//! let s = Schedule::parse("inline", "steps:\n  - {at_ms: 100, fault: crash, node: 1, for_ms: 500}\n").unwrap();
//! assert_eq!(s.steps().unwrap().len(), 1);
//! ```
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use std::path::Path;

mod generate;
mod step;

pub(crate) use generate::{partition, shapes_for};
pub use generate::{Generator, Span, FAULT_KINDS};
use step::StepSpec;
pub use step::{
    After, ClientSet, Count, Fault, LinkEffect, Links, NodeRef, Select, Shape, Source, Step,
    FAULT_NAMES,
};

/// A bad schedule file: which file, which line, what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The file is not valid schedule YAML.
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// The line (1-based).
        line: usize,
        /// The column (1-based).
        column: usize,
        /// What is wrong there.
        message: String,
    },
    /// The file parses but says something impossible (e.g. a negative window).
    #[error("{file}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// What is wrong, with its line when known.
        message: String,
    },
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The file.
        file: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// Neither a file nor a built-in schedule: (the name, the built-in names).
    #[error("unknown schedule `{0}`: not a file, and not a built-in schedule ({1})")]
    Unknown(String, String),
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
    /// Explicit steps, run as written.
    Steps(Vec<Step>),
    /// A generator: each seed draws its own steps.
    Generate(Generator),
}

/// The built-in schedules, embedded from `schedules/` so every binary built on the harness has
/// them. Each file's first lines say what it explores.
pub const BUILTIN: &[(&str, &str)] = &[
    ("swarm", include_str!("../../../schedules/swarm.yaml")),
    ("uniform", include_str!("../../../schedules/uniform.yaml")),
    ("none", include_str!("../../../schedules/none.yaml")),
    (
        "partitions",
        include_str!("../../../schedules/partitions.yaml"),
    ),
    ("crashes", include_str!("../../../schedules/crashes.yaml")),
    (
        "crash-coordinator",
        include_str!("../../../schedules/crash-coordinator.yaml"),
    ),
    (
        "isolate-leader",
        include_str!("../../../schedules/isolate-leader.yaml"),
    ),
    (
        "lease-drift",
        include_str!("../../../schedules/lease-drift.yaml"),
    ),
    (
        "leader-crash",
        include_str!("../../../schedules/leader-crash.yaml"),
    ),
    (
        "leader-churn",
        include_str!("../../../schedules/leader-churn.yaml"),
    ),
    (
        "power-loss",
        include_str!("../../../schedules/power-loss.yaml"),
    ),
    (
        "disk-errors",
        include_str!("../../../schedules/disk-errors.yaml"),
    ),
    (
        "corruption",
        include_str!("../../../schedules/corruption.yaml"),
    ),
    (
        "fsyncgate",
        include_str!("../../../schedules/fsyncgate.yaml"),
    ),
    ("par", include_str!("../../../schedules/par.yaml")),
    (
        "process-crashes",
        include_str!("../../../schedules/process-crashes.yaml"),
    ),
    (
        "flaky-network",
        include_str!("../../../schedules/flaky-network.yaml"),
    ),
    (
        "flaky-links",
        include_str!("../../../schedules/flaky-links.yaml"),
    ),
    (
        "lost-replies",
        include_str!("../../../schedules/lost-replies.yaml"),
    ),
    (
        "clock-skew",
        include_str!("../../../schedules/clock-skew.yaml"),
    ),
    ("pauses", include_str!("../../../schedules/pauses.yaml")),
    (
        "client-faults",
        include_str!("../../../schedules/client-faults.yaml"),
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
                let name: std::sync::Arc<str> = file.into();
                let mut steps = Vec::with_capacity(specs.len());
                for (i, spec) in specs.into_iter().enumerate() {
                    let line = lines.get(i).copied().unwrap_or(1);
                    let mut step =
                        Step::try_from(spec).map_err(|message| ScheduleError::Parse {
                            file: file.to_string(),
                            line,
                            column: 1,
                            message: format!("steps[{i}]: {message}"),
                        })?;
                    step.source = Source(Some((name.clone(), line)));
                    steps.push(step);
                }
                Ok(Schedule::Steps(steps))
            }
            (None, Some(g)) => {
                g.validate().map_err(|message| {
                    // Messages start `generate.FIELD:`; point at that field's line.
                    let field = message
                        .strip_prefix("generate.")
                        .and_then(|m| m.split(':').next())
                        .unwrap_or("generate");
                    ScheduleError::Parse {
                        file: file.to_string(),
                        line: key_line(text, field)
                            .or_else(|| key_line(text, "generate"))
                            .unwrap_or(1),
                        column: 1,
                        message,
                    }
                })?;
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

    /// The explicit steps (`None` for a generator).
    pub fn steps(&self) -> Option<&[Step]> {
        match self {
            Schedule::Steps(s) => Some(s),
            Schedule::Generate(_) => None,
        }
    }

    /// The explicit steps this seed runs. `rng` must be seeded from the run's seed alone, so the
    /// faults a seed draws do not depend on the workload.
    ///
    /// A generated schedule draws role-aimed steps only for the `roles` the model declares
    /// ([`Protocol::roles`](crate::Protocol::roles)); explicit steps are kept as written.
    ///
    /// A generator draws `corrupt` and `misdirect` steps as for a protocol with a corruption
    /// budget; [`Schedule::resolve_for`] says which budget.
    pub fn resolve(
        &self,
        rng: &mut ChaCha8Rng,
        nodes: usize,
        horizon_ms: u64,
        roles: crate::data::Roles,
    ) -> Result<Vec<Step>, String> {
        self.resolve_for(rng, nodes, horizon_ms, roles, usize::MAX)
    }

    /// [`Schedule::resolve`] for a protocol whose
    /// [`corruption_budget`](crate::Protocol::corruption_budget) is `corruption_budget`: with 0,
    /// a generator draws no `corrupt` or `misdirect` step (each could only be skipped), so the
    /// protocol's seeds draw what they would without those kinds in the list.
    ///
    /// ```
    /// use faultline::schedule::Schedule;
    /// use rand::SeedableRng;
    /// let s = Schedule::parse("g", "generate:\n  faults: [corrupt, misdirect]\n").unwrap();
    /// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    /// let none = s.resolve_for(&mut rng, 3, 5000, faultline::Roles::NONE, 0).unwrap();
    /// assert!(none.is_empty());
    /// ```
    pub fn resolve_for(
        &self,
        rng: &mut ChaCha8Rng,
        nodes: usize,
        horizon_ms: u64,
        roles: crate::data::Roles,
        corruption_budget: usize,
    ) -> Result<Vec<Step>, String> {
        let steps = match self {
            Schedule::Steps(steps) => steps.clone(),
            Schedule::Generate(g) => g.generate(rng, nodes, horizon_ms, roles, corruption_budget),
        };
        for (i, s) in steps.iter().enumerate() {
            let mut named = if s.select.is_some() {
                vec![]
            } else {
                s.fault.nodes()
            };
            if let Some(Select::Shape(_, Some(NodeRef::Id(n)))) = &s.select {
                named.push(*n);
            }
            if let Some(n) = named.into_iter().find(|&n| n >= nodes) {
                return Err(format!(
                    "{}step {} ({}): node {n} does not exist (the cluster has nodes 0..{})",
                    s.source,
                    i + 1,
                    s.fault.kind(),
                    nodes
                ));
            }
        }
        Ok(steps)
    }
}

/// Where serde_yaml found a problem, as (line, column), 1-based; (1, 1) when it does not say.
pub fn yaml_location(e: &serde_yaml::Error) -> (usize, usize) {
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

/// The line (1-based) where `key:` first appears as a mapping key.
fn key_line(text: &str, key: &str) -> Option<usize> {
    let want = format!("{key}:");
    text.lines()
        .position(|l| l.trim_start().starts_with(&want))
        .map(|i| i + 1)
}

/// The names of the built-in schedules (`none`, `partitions`, `swarm`, ...).
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
        let steps = s
            .resolve(&mut rng, 5, 5000, crate::data::Roles::LEADER)
            .unwrap();
        let text = serde_yaml::to_string(&steps).unwrap();
        let back: Vec<Step> = serde_yaml::from_str(&text).unwrap();
        assert_eq!(steps, back);
    }

    #[test]
    fn generation_depends_on_seed_only() {
        let s = Schedule::load("uniform").unwrap();
        let a = s
            .resolve(
                &mut ChaCha8Rng::seed_from_u64(9),
                5,
                5000,
                crate::data::Roles::LEADER,
            )
            .unwrap();
        let b = s
            .resolve(
                &mut ChaCha8Rng::seed_from_u64(9),
                5,
                5000,
                crate::data::Roles::LEADER,
            )
            .unwrap();
        let c = s
            .resolve(
                &mut ChaCha8Rng::seed_from_u64(10),
                5,
                5000,
                crate::data::Roles::LEADER,
            )
            .unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn resolve_rejects_missing_nodes() {
        let s = Schedule::parse("x", "steps:\n  - {at_ms: 1, fault: crash, node: 7}\n").unwrap();
        let e = s
            .resolve(
                &mut ChaCha8Rng::seed_from_u64(0),
                3,
                100,
                crate::data::Roles::LEADER,
            )
            .unwrap_err();
        assert!(e.contains("node 7 does not exist"), "{e}");
    }
}
