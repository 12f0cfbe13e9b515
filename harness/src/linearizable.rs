//! `linearizability` as a run checker: the client history (final reads included) against a
//! cas-register per key (a plain read/write history is a special case of it).
use crate::checker::Checker;
use crate::recording::Recording;
use faultline_checkers::linearizability::Verdict;
use faultline_checkers::{Finding, FindingKind};
use serde_json::json;

pub struct Linearizable;

impl Checker for Linearizable {
    fn name(&self) -> &'static str {
        "linearizability"
    }

    fn check(&self, rec: &Recording) -> Vec<Finding> {
        let c = match rec.linearizability() {
            Ok(c) => c,
            Err(e) => {
                return vec![Finding::new(
                    "linearizability",
                    FindingKind::Safety,
                    format!("the recorded history is malformed: {e}"),
                )]
            }
        };
        match c.verdict {
            Verdict::Linearizable => vec![],
            Verdict::Undecided => vec![Finding::new(
                "linearizability",
                FindingKind::Undecided,
                format!(
                    "undecided: the linearizability search ran out of its budget ({} steps of {}; --check-budget raises it)",
                    c.steps, rec.check_budget.0
                ),
            )
            .value(c.steps as f64)],
            Verdict::NotLinearizable => {
                let v = c.violation.as_ref();
                let at_ms = v
                    .and_then(|v| c.ops.get(v.stuck))
                    .map(|op| op.call / 1_000_000);
                let mut f = Finding::new("linearizability", FindingKind::Safety, c.explain())
                    .detail(json!({
                        "key": v.and_then(|v| v.key.clone()),
                        "counterexample": c.counterexample_json(),
                    }));
                if let Some(t) = at_ms {
                    f = f.at_ms(t);
                }
                vec![f]
            }
        }
    }
}
