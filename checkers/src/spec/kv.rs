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

/// One key's value, with its hash kept up to date as values are appended.
///
/// Append-heavy histories make long strings: hashing each new state from scratch (to intern it)
/// would cost O(length) per search step. A polynomial hash extends in O(appended length), and
/// equality still compares the text (after the hash), so it stays exact.
#[derive(Clone, Debug)]
pub struct KvState {
    text: Option<Arc<String>>,
    hash: u64,
}

const B: u64 = 0x100_0000_01b3;
const ABSENT: u64 = 0x9e37_79b9_7f4a_7c15;

impl KvState {
    pub fn new(v: &Val) -> Self {
        match v {
            None => KvState {
                text: None,
                hash: ABSENT,
            },
            Some(s) => KvState {
                text: Some(Arc::new(s.to_string())),
                hash: extend(0, s),
            },
        }
    }

    /// The value (`None`: absent).
    pub fn value(&self) -> Option<&str> {
        self.text.as_deref().map(String::as_str)
    }

    fn appended(&self, v: &str) -> Self {
        let cur = self.value().unwrap_or("");
        let base = if self.text.is_some() { self.hash } else { 0 };
        let mut s = String::with_capacity(cur.len() + v.len());
        s.push_str(cur);
        s.push_str(v);
        KvState {
            text: Some(Arc::new(s)),
            hash: extend(base, v),
        }
    }

    fn matches(&self, v: &Val) -> bool {
        self.value() == v.as_deref()
    }
}

fn extend(mut h: u64, s: &str) -> u64 {
    for &b in s.as_bytes() {
        h = h.wrapping_mul(B).wrapping_add(b as u64 + 1);
    }
    h
}

impl PartialEq for KvState {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.value() == other.value()
    }
}

impl Eq for KvState {}

impl std::hash::Hash for KvState {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
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
/// assert_eq!(s.value(), Some("xx"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct KvSpec {
    pub initial: Val,
}

impl Spec for KvSpec {
    type State = KvState;
    type Input = KvInput;
    type Output = KvOutput;

    fn init(&self) -> KvState {
        KvState::new(&self.initial)
    }

    fn step(&self, state: &KvState, input: &KvInput, output: &KvOutput) -> Option<KvState> {
        match (&input.op, output) {
            (KvOp::Get, KvOutput::Get(v)) => state.matches(v).then(|| state.clone()),
            (KvOp::Get, KvOutput::GetAny) => Some(state.clone()),
            (KvOp::Put(v), KvOutput::Ok) => Some(KvState::new(&Some(v.clone()))),
            (KvOp::Append(v), KvOutput::Ok) => Some(state.appended(v)),
            _ => None,
        }
    }

    fn step_unknown(&self, state: &KvState, input: &KvInput) -> Option<KvState> {
        match &input.op {
            KvOp::Get => None,
            KvOp::Put(v) => Some(KvState::new(&Some(v.clone()))),
            KvOp::Append(v) => Some(state.appended(v)),
        }
    }

    fn is_read_only(&self, input: &KvInput, _output: &KvOutput) -> bool {
        matches!(input.op, KvOp::Get)
    }

    /// Values only grow by appends, and a put restarts from its own value. So a get of `v`
    /// can still hold only if `v` is the current value, or a pending put's value, followed by
    /// pending appends' values: the rest of `v` must be tiled by pending appends (each tile may
    /// be used more than once here, a relaxation: still a necessary condition). A get of absent
    /// holds only while absent (puts and appends never make a key absent again).
    fn can_still_hold(
        &self,
        state: &KvState,
        pending: &[&KvInput],
        _input: &KvInput,
        output: &KvOutput,
    ) -> bool {
        match output {
            KvOutput::Get(Some(v)) => {
                let v = v.as_bytes();
                // reach[i]: v[..i] can be the value after some sequence of pending ops.
                let mut reach = vec![false; v.len() + 1];
                let cur = state.value().unwrap_or("").as_bytes();
                let mut any = false;
                if v.starts_with(cur) {
                    reach[cur.len()] = true;
                    any = true;
                }
                for p in pending {
                    if let KvOp::Put(x) = &p.op {
                        if v.starts_with(x.as_bytes()) {
                            reach[x.len()] = true;
                            any = true;
                        }
                    }
                }
                if !any {
                    return false;
                }
                for i in 0..v.len() {
                    if !reach[i] {
                        continue;
                    }
                    for p in pending {
                        if let KvOp::Append(x) = &p.op {
                            if !x.is_empty() && v[i..].starts_with(x.as_bytes()) {
                                reach[i + x.len()] = true;
                            }
                        }
                    }
                }
                reach[v.len()]
            }
            KvOutput::Get(None) => state.value().is_none(),
            _ => true,
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
