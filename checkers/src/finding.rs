//! Findings: what a checker reports. Whether a finding fails the run is decided by the model's
//! declared guarantees and `--fail-on` (docs/reference.md), not by the checker.
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The kind of property a finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingKind {
    Safety,
    Liveness,
    Availability,
    Convergence,
    /// The checker could not decide within its work budget: neither a violation nor a pass.
    /// When the checker is a declared guarantee (or named by `--fail-on`), the run's verdict is
    /// `undecided` unless something else failed.
    Undecided,
}

/// One fact a checker reports about a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub checker: String,
    pub kind: FindingKind,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
}

impl Finding {
    pub fn new(checker: &str, kind: FindingKind, message: impl Into<String>) -> Self {
        Finding {
            checker: checker.to_string(),
            kind,
            message: message.into(),
            at_ms: None,
            value: None,
            detail: None,
        }
    }

    pub fn at_ms(mut self, at_ms: u64) -> Self {
        self.at_ms = Some(at_ms);
        self
    }

    pub fn value(mut self, value: f64) -> Self {
        self.value = Some(value);
        self
    }

    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = Some(detail);
        self
    }
}
