//! Reproducer files (`repro.yaml`, SPEC.md): everything needed to re-run a seed bit for bit.
use crate::run::RunReport;
use crate::schedule::Step;
use faultline_checkers::Finding;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Versions {
    pub faultline: String,
    pub model: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReproConfig {
    pub nodes: usize,
    pub clients: usize,
    pub ops: usize,
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// `--check-budget`, when given: the verdict depends on it (absent: the default budget).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_budget: Option<u64>,
}

impl ReproConfig {
    /// What a reproducer (or a campaign header) records of a configuration.
    pub fn of(c: &crate::protocol::ModelConfig) -> ReproConfig {
        ReproConfig {
            nodes: c.nodes,
            clients: c.clients,
            ops: c.ops,
            set: c.set.clone(),
            check_budget: c.check_budget,
        }
    }

    /// Sets `cfg`'s recorded fields (a model's defaults otherwise).
    pub fn apply_to(&self, cfg: &mut crate::protocol::ModelConfig) {
        cfg.nodes = self.nodes;
        cfg.clients = self.clients;
        cfg.ops = self.ops;
        cfg.set = self.set.clone();
        cfg.check_budget = self.check_budget;
    }
}

/// The reproducer file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repro {
    pub faultline: u32,
    pub version: Versions,
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bug: Option<String>,
    pub seed: u64,
    pub config: ReproConfig,
    pub schedule: Vec<Step>,
    pub fingerprint: String,
    #[serde(default)]
    pub violations: Vec<Finding>,
    /// Checkers named with `--fail-on` when the failure was found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fail_on: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReproError {
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: reproducer format {found} is not supported (this Faultline reads format {FORMAT_VERSION})")]
    Format { file: String, found: u32 },
}

impl Repro {
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
            config: ReproConfig::of(&r.config),
            schedule: r.steps.clone(),
            fingerprint: r.fingerprint.clone(),
            violations: r.violations.clone(),
            fail_on: fail_on.to_vec(),
        }
    }

    pub fn to_yaml(&self) -> String {
        let body = serde_yaml::to_string(self).expect("reproducers serialize");
        format!(
            "# Faultline reproducer: `faultline replay {{this file}}` re-runs it bit for bit.\n{body}"
        )
    }

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
