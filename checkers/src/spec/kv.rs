//! `kv`: a map from keys to string values with get, put and append; each key is independent.
use super::{Spec, Val};
use std::sync::Arc;

/// A kv operation's input.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KvInput {
    pub key: Arc<str>,
    pub op: KvOp,
}

/// What a kv operation does.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOp {
    Get,
    Put(Arc<str>),
    Append(Arc<str>),
}

/// What a completed kv operation observed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOutput {
    /// A get returned this value (`None`: the key is absent).
    Get(Val),
    /// A get whose value says nothing (Knossos: a read of nil is unconstrained).
    GetAny,
    /// A put or append completed.
    Ok,
}

/// The `kv` spec. The state checked is one key's value (the search partitions by key);
/// `initial` is every key's value before any operation (`None`: absent; Porcupine's kv test
/// data uses the empty string).
///
/// ```
/// use faultline_checkers::spec::{KvSpec, KvInput, KvOp, KvOutput, Spec};
/// let spec = KvSpec::default();
/// let a = KvInput { key: "k".into(), op: KvOp::Append("x".into()) };
/// let s = spec.step(&spec.init(), &a, &KvOutput::Ok).unwrap();
/// let s = spec.step(&s, &a, &KvOutput::Ok).unwrap();
/// assert_eq!(s.as_deref(), Some("xx"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct KvSpec {
    pub initial: Val,
}

fn append(state: &Val, v: &str) -> Val {
    let mut s = String::with_capacity(state.as_ref().map_or(0, |s| s.len()) + v.len());
    if let Some(cur) = state {
        s.push_str(cur);
    }
    s.push_str(v);
    Some(s.into())
}

impl Spec for KvSpec {
    type State = Val;
    type Input = KvInput;
    type Output = KvOutput;

    fn init(&self) -> Val {
        self.initial.clone()
    }

    fn step(&self, state: &Val, input: &KvInput, output: &KvOutput) -> Option<Val> {
        match (&input.op, output) {
            (KvOp::Get, KvOutput::Get(v)) => (v == state).then(|| state.clone()),
            (KvOp::Get, KvOutput::GetAny) => Some(state.clone()),
            (KvOp::Put(v), KvOutput::Ok) => Some(Some(v.clone())),
            (KvOp::Append(v), KvOutput::Ok) => Some(append(state, v)),
            _ => None,
        }
    }

    fn step_unknown(&self, state: &Val, input: &KvInput) -> Option<Val> {
        match &input.op {
            KvOp::Get => None,
            KvOp::Put(v) => Some(Some(v.clone())),
            KvOp::Append(v) => Some(append(state, v)),
        }
    }

    fn partition(&self, input: &KvInput) -> Option<String> {
        Some(input.key.to_string())
    }

    fn describe(&self, input: &KvInput, output: Option<&KvOutput>) -> String {
        let k = &input.key;
        match (&input.op, output) {
            (KvOp::Get, Some(KvOutput::Get(v))) => format!("get({k}) -> {}", super::show_val(v)),
            (KvOp::Get, _) => format!("get({k}) -> ?"),
            (KvOp::Put(v), o) => format!("put({k}, {v}){}", if o.is_none() { " -> ?" } else { "" }),
            (KvOp::Append(v), o) => {
                format!("append({k}, {v}){}", if o.is_none() { " -> ?" } else { "" })
            }
        }
    }
}
