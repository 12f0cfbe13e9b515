//! Reproducer files (`repro.yaml`, docs/reference.md): everything needed to re-run a seed bit for bit.
use crate::protocol::ModelConfig;
use crate::run::RunReport;
use crate::schedule::Step;
use faultline_checkers::Finding;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The reproducer format this Faultline writes and reads (`faultline:` in the file).
pub const FORMAT_VERSION: u32 = 1;

/// The versions that recorded a reproducer: a replay that diverges says which changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Versions {
    /// Faultline's version.
    pub faultline: String,
    /// The model's version ([`Model::version`](crate::Model::version)).
    pub model: String,
}

/// The run configuration a reproducer records (the bug variant is recorded beside it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReproConfig {
    /// Server nodes.
    pub nodes: usize,
    /// Clients.
    pub clients: usize,
    /// Client operations.
    pub ops: usize,
    #[serde(default)]
    /// `--set` parameters.
    pub set: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `--workload` (`None`: the model's default).
    pub workload: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `--liveness-timeout` in ms (`None`: the default).
    pub liveness_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `--check-budget` (`None`: the default).
    pub check_budget: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Buggify: the exact set of points enabled when the run was recorded (`None`: buggify was
    /// off). A replay enables exactly these and no other.
    pub buggify: Option<BTreeSet<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The wire check (`--wire serde`; `None`: off). A replay makes the same check.
    pub wire: Option<crate::protocol::WireCheck>,
    #[serde(default, skip_serializing_if = "is_zero")]
    /// The noise seed ([`ModelConfig::noise`]; absent: 0). A shrunk failure that needed another
    /// draw of the incidental randomness records the one it ended with.
    pub noise: u64,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    /// Workload operations drawn but not issued ([`ModelConfig::skip_ops`]; absent: none), by
    /// their index in generation order: what a shrink removed one by one.
    pub skip_ops: BTreeSet<usize>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl ReproConfig {
    /// What a reproducer records of a run's configuration (the bug is recorded beside it).
    pub fn of(c: &ModelConfig) -> ReproConfig {
        ReproConfig {
            nodes: c.nodes,
            clients: c.clients,
            ops: c.ops,
            set: c.set.clone(),
            workload: c.workload.clone(),
            liveness_ms: c.liveness_ms,
            check_budget: c.check_budget,
            buggify: match (&c.buggify_only, c.buggify) {
                (Some(only), _) => Some(only.clone()),
                // Drawn from the seed: which points were enabled is known once the run is over
                // (`Repro::from_report` fills it in); the seed alone would redraw the same set.
                (None, true) => Some(BTreeSet::new()),
                (None, false) => None,
            },
            wire: c.wire,
            noise: c.noise,
            skip_ops: c.skip_ops.clone(),
        }
    }

    /// The configuration to re-run: `base` (the model's defaults with the bug) with these values.
    pub fn apply(&self, base: ModelConfig) -> ModelConfig {
        ModelConfig {
            nodes: self.nodes,
            clients: self.clients,
            ops: self.ops,
            set: self.set.clone(),
            workload: self.workload.clone(),
            liveness_ms: self.liveness_ms,
            check_budget: self.check_budget,
            buggify: self.buggify.is_some(),
            buggify_only: self.buggify.clone(),
            wire: self.wire,
            noise: self.noise,
            skip_ops: self.skip_ops.clone(),
            ..base
        }
    }
}

/// The reproducer file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repro {
    /// The file format ([`FORMAT_VERSION`]).
    pub faultline: u32,
    /// The versions that recorded it.
    pub version: Versions,
    /// The model's name.
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The bug variant (`None`: the correct protocol).
    pub bug: Option<String>,
    /// The seed.
    pub seed: u64,
    /// The run configuration.
    pub config: ReproConfig,
    /// The resolved fault steps the run ran (explicit nodes, no roles left to resolve).
    pub schedule: Vec<Step>,
    /// The run's fingerprint: a replay must reproduce it.
    pub fingerprint: String,
    #[serde(default)]
    /// What the run violated when it was recorded.
    pub violations: Vec<Finding>,
    /// Checkers named with `--fail-on` when the failure was found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fail_on: Vec<String>,
}

/// A reproducer file that cannot be used: which file, where, what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum ReproError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The file.
        file: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is not a valid reproducer.
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
    /// The file was written in a format this Faultline does not read.
    #[error("{file}: reproducer format {found} is not supported (this Faultline reads format {FORMAT_VERSION})")]
    Format {
        /// The file.
        file: String,
        /// The format it declares.
        found: u32,
    },
}

impl Repro {
    /// The reproducer of a run (`fail_on`: the `--fail-on` checkers it was judged with).
    pub fn from_report(r: &RunReport, fail_on: &[String]) -> Repro {
        Repro {
            faultline: FORMAT_VERSION,
            version: Versions {
                faultline: env!("CARGO_PKG_VERSION").to_string(),
                model: r.model_version.clone(),
            },
            model: r.model.clone(),
            bug: r.config.bug.clone(),
            seed: r.seed,
            config: ReproConfig {
                // The points the run had enabled among those it reached: a replay enabling
                // exactly these takes the same path (a point never reached changed nothing).
                buggify: ReproConfig::of(&r.config).buggify.map(|_| {
                    r.recording
                        .buggify
                        .iter()
                        .filter(|(_, p)| p.enabled)
                        .map(|(name, _)| name.clone())
                        .collect()
                }),
                ..ReproConfig::of(&r.config)
            },
            schedule: r.steps.clone(),
            fingerprint: r.fingerprint.clone(),
            violations: r.violations.clone(),
            fail_on: fail_on.to_vec(),
        }
    }

    /// The file's text: YAML behind a comment saying how to replay it.
    pub fn to_yaml(&self) -> String {
        let body = serde_yaml::to_string(self).expect("reproducers serialize");
        format!(
            "# Faultline reproducer: `{} {{this file}}` re-runs it bit for bit.\n{body}",
            crate::command::command(&["replay"])
        )
    }

    /// Reads and checks a reproducer file.
    pub fn load(path: &Path) -> Result<Repro, ReproError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ReproError::Io {
            file: file.clone(),
            source,
        })?;
        let repro: Repro = serde_yaml::from_str(&text).map_err(|e| {
            let (line, column) = crate::schedule::yaml_location(&e);
            ReproError::Parse {
                file: file.clone(),
                line,
                column,
                message: e.to_string(),
            }
        })?;
        if repro.faultline != FORMAT_VERSION {
            return Err(ReproError::Format {
                file,
                found: repro.faultline,
            });
        }
        Ok(repro)
    }
}

/// Writes a file atomically: a temporary file in the same folder, then a rename, so a run
/// killed at any instant leaves no half-written file.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reproducer re-runs the configuration that failed: workload, liveness bound and check
    /// budget included; an older reproducer without them still reads, as the defaults.
    #[test]
    fn the_whole_configuration_travels_through_a_reproducer() {
        let cfg = ModelConfig {
            nodes: 3,
            clients: 2,
            ops: 40,
            bug: Some("b".into()),
            set: [("n".to_string(), "3".to_string())].into(),
            workload: Some("append".into()),
            liveness_ms: Some(2500),
            check_budget: Some(1000),
            buggify: true,
            buggify_only: Some(["slow-fsync".to_string()].into()),
            wire: Some(crate::protocol::WireCheck::Serde),
            noise: 3,
            skip_ops: [4, 7].into(),
        };
        let yaml = serde_yaml::to_string(&ReproConfig::of(&cfg)).unwrap();
        let back: ReproConfig = serde_yaml::from_str(&yaml).unwrap();
        let base = ModelConfig {
            nodes: 5,
            clients: 5,
            ops: 1,
            bug: Some("b".into()),
            set: Default::default(),
            workload: None,
            liveness_ms: None,
            check_budget: None,
            buggify: false,
            buggify_only: None,
            wire: None,
            noise: 0,
            skip_ops: Default::default(),
        };
        assert!(yaml.contains("wire: serde"), "{yaml}");
        assert!(yaml.contains("noise: 3"), "{yaml}");
        assert_eq!(back.apply(base.clone()), cfg);
        let old: ReproConfig = serde_yaml::from_str("{nodes: 3, clients: 2, ops: 40}").unwrap();
        let again = old.apply(base);
        assert_eq!(
            (
                again.workload,
                again.liveness_ms,
                again.check_budget,
                again.wire
            ),
            (None, None, None, None)
        );
        assert!(
            serde_yaml::from_str::<ReproConfig>("{nodes: 3, clients: 2, ops: 4, wrkload: x}")
                .is_err(),
            "a misspelt field is refused"
        );
    }
}
