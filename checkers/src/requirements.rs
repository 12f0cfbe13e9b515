//! What a protocol checker needs to see, so that reporting less never looks safer.
//!
//! A checker over observations (Raft's, `atomicity`, `blocking`, the saga checks, `convergence`)
//! is only as good as the reports it reads: a model that emits no `applied` observation would
//! pass every Raft check. Each such checker therefore declares its [`Requirement`]s: the
//! observation kinds it reads, the fields each must carry (with their JSON type), and when the
//! run certainly gave the model the chance to emit one ([`Needed`]). [`check_requirements`]
//! turns a missing kind or a malformed observation into a violation under the checker's own
//! name, so it fails the run exactly when the checker's guarantee is declared.
use crate::finding::{Finding, FindingKind};
use crate::history::{EventType, History};
use crate::observation::Observation;
use crate::ops::pair;
use serde::Serialize;
use serde_json::{json, Value};

/// The JSON type a required field must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FieldType {
    /// A non-negative integer.
    U64,
    Str,
    Array,
    Object,
    /// An object, or null (e.g. an entry that carries no client operation).
    ObjectOrNull,
    /// Present, of any type.
    Any,
}

impl FieldType {
    fn accepts(self, v: &Value) -> bool {
        match self {
            FieldType::U64 => v.as_u64().is_some(),
            FieldType::Str => v.is_string(),
            FieldType::Array => v.is_array(),
            FieldType::Object => v.is_object(),
            FieldType::ObjectOrNull => v.is_object() || v.is_null(),
            FieldType::Any => true,
        }
    }

    fn name(self) -> &'static str {
        match self {
            FieldType::U64 => "an unsigned integer",
            FieldType::Str => "a string",
            FieldType::Array => "an array",
            FieldType::Object => "an object",
            FieldType::ObjectOrNull => "an object or null",
            FieldType::Any => "present",
        }
    }
}

/// When at least one observation of a kind must exist: a run that gave the model no chance to
/// emit it (no operation succeeded) is not held against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Needed {
    /// In every run (e.g. a node's start report).
    Always,
    /// When some client operation (before the final phase) completed `ok`.
    AnyOk,
    /// When some client operation other than a `read` (before the final phase) completed `ok`.
    AnyOkWrite,
    /// Never required; only checked for shape when present.
    IfPresent,
}

/// One observation kind a checker reads, the fields it needs, and when it must be there.
///
/// ```
/// use faultline_checkers::requirements::*;
/// use faultline_checkers::{History, Observation};
/// use serde_json::json;
/// let req = [Requirement::new("leader-elected", Needed::Always).field("term", FieldType::U64)];
/// let bad = [Observation::new(5, 0, "leader-elected", json!({"term": "one"}))];
/// let f = check_requirements("raft-election-safety", &req, &bad, &History::default(), 100);
/// assert_eq!(f.len(), 1);
/// assert!(f[0].message.contains("`term`"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Requirement {
    pub kind: &'static str,
    pub fields: Vec<(&'static str, FieldType)>,
    pub needed: Needed,
}

impl Requirement {
    pub fn new(kind: &'static str, needed: Needed) -> Self {
        Requirement {
            kind,
            fields: Vec::new(),
            needed,
        }
    }

    /// The observation must carry `name`, of type `ty`.
    pub fn field(mut self, name: &'static str, ty: FieldType) -> Self {
        self.fields.push((name, ty));
        self
    }
}

/// Malformed observations reported per kind: the first few say what is wrong.
const MAX_MALFORMED: usize = 3;

/// What the run's history offers: did some operation succeed, did some write?
fn chances(history: &History, final_process_base: u64) -> (bool, bool) {
    let mut ok = false;
    let mut write = false;
    for o in pair(history) {
        if o.outcome == EventType::Ok && o.process < final_process_base {
            ok = true;
            write |= o.f != "read";
        }
    }
    (ok, write)
}

/// The violations (named `checker`) of `reqs` in a run: a required kind never observed though
/// the run gave the chance, and observations of a required kind missing a field or holding it
/// with the wrong type.
pub fn check_requirements(
    checker: &str,
    reqs: &[Requirement],
    obs: &[Observation],
    history: &History,
    final_process_base: u64,
) -> Vec<Finding> {
    let (any_ok, any_write) = chances(history, final_process_base);
    let mut out = Vec::new();
    for req in reqs {
        let mut seen = 0usize;
        let mut malformed = 0usize;
        for o in obs.iter().filter(|o| o.kind == req.kind) {
            seen += 1;
            let bad: Vec<String> = req
                .fields
                .iter()
                .filter(|(name, ty)| !o.data.get(*name).is_some_and(|v| ty.accepts(v)))
                .map(|(name, ty)| match o.data.get(*name) {
                    None => format!("`{name}` is missing"),
                    Some(v) => format!("`{name}` is {v}, not {}", ty.name()),
                })
                .collect();
            if bad.is_empty() {
                continue;
            }
            malformed += 1;
            if malformed <= MAX_MALFORMED {
                out.push(
                    Finding::new(
                        checker,
                        FindingKind::Safety,
                        format!(
                            "malformed `{}` observation from n{} at {} ms: {} (the checker \
                             cannot judge what it cannot read)",
                            req.kind,
                            o.node,
                            o.at_ms(),
                            bad.join(", ")
                        ),
                    )
                    .at_ms(o.at_ms())
                    .detail(json!({"missing_observation": req.kind, "node": o.node,
                                   "problems": bad, "observation": o.data})),
                );
            }
        }
        if malformed > MAX_MALFORMED {
            out.push(Finding::new(
                checker,
                FindingKind::Safety,
                format!(
                    "... and {} more malformed `{}` observations",
                    malformed - MAX_MALFORMED,
                    req.kind
                ),
            ));
        }
        let why = match req.needed {
            Needed::Always => Some("every run must report it"),
            Needed::AnyOk if any_ok => Some("some operation succeeded"),
            Needed::AnyOkWrite if any_write => Some("some write succeeded"),
            _ => None,
        };
        if let (0, Some(why)) = (seen, why) {
            let fields: Vec<&str> = req.fields.iter().map(|(n, _)| *n).collect();
            out.push(
                Finding::new(
                    checker,
                    FindingKind::Safety,
                    format!(
                        "missing observation: the model never reported `{}` (with {}) though \
                         {why}; {checker} cannot be judged without it",
                        req.kind,
                        if fields.is_empty() {
                            "no fields".to_string()
                        } else {
                            fields.join(", ")
                        }
                    ),
                )
                .detail(json!({"missing_observation": req.kind, "fields": fields})),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Event;

    fn reqs() -> Vec<Requirement> {
        vec![Requirement::new("applied", Needed::AnyOkWrite)
            .field("index", FieldType::U64)
            .field("op", FieldType::ObjectOrNull)]
    }

    fn history(f: &str, kind: EventType, process: u64) -> History {
        let mut h = History::default();
        h.push(Event::invoke(process, f, Some("k"), json!(1), 0));
        h.push(Event::complete(process, kind, f, Some("k"), json!(1), 5));
        h
    }

    #[test]
    fn a_missing_kind_is_a_violation_only_when_the_run_gave_the_chance() {
        let ok_write = history("write", EventType::Ok, 0);
        let f = check_requirements("c", &reqs(), &[], &ok_write, 10);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].message.contains("never reported `applied`"));
        assert_eq!(f[0].checker, "c");
        // Only reads succeeded, a write failed, or the write was a final-phase op: no chance.
        for h in [
            history("read", EventType::Ok, 0),
            history("write", EventType::Fail, 0),
            history("write", EventType::Ok, 10),
        ] {
            assert!(check_requirements("c", &reqs(), &[], &h, 10).is_empty());
        }
    }

    #[test]
    fn malformed_observations_are_named_and_capped() {
        let good = Observation::new(0, 0, "applied", json!({"index": 1, "op": null}));
        assert!(check_requirements("c", &reqs(), &[good], &History::default(), 0).is_empty());
        let bad: Vec<Observation> = (0..6)
            .map(|i| Observation::new(i, 1, "applied", json!({"index": -1})))
            .collect();
        let f = check_requirements("c", &reqs(), &bad, &History::default(), 0);
        assert_eq!(f.len(), MAX_MALFORMED + 1, "{f:?}");
        assert!(f[0]
            .message
            .contains("`index` is -1, not an unsigned integer"));
        assert!(f[0].message.contains("`op` is missing"));
        assert!(f[MAX_MALFORMED].message.contains("3 more"));
    }
}
