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

/// `a` starts with `p`, comparing the last bytes first: in the search, a state that is not a
/// prefix of a get's value usually differs in its last appended value.
fn starts_with(a: &[u8], p: &[u8]) -> bool {
    let n = p.len();
    n <= a.len() && {
        let t = n.saturating_sub(8);
        a[t..n] == p[t..] && a[..t] == p[..t]
    }
}

/// Up to the first 8 bytes of `s` as a little-endian word, zero-padded, and the mask of the
/// bytes present.
#[inline]
fn head(s: &[u8]) -> (u64, u64) {
    let k = s.len().min(8);
    let mut buf = [0u8; 8];
    buf[..k].copy_from_slice(&s[..k]);
    let mask = if k == 8 {
        u64::MAX
    } else {
        (1u64 << (8 * k)) - 1
    };
    (u64::from_le_bytes(buf), mask)
}

/// True when `v` can be the value after some of `pending` run from `cur`: `v` is `cur` (or a
/// pending put's value) followed by values of pending appends. Each append may be used any number
/// of times here (a relaxation, so still a necessary condition).
fn can_tile(v: &[u8], cur: Option<&str>, pending: &[&KvInput]) -> bool {
    // reach: bit i set when v[..i] can be reached. Starting points first.
    let mut small = [0u64; 32];
    let mut big = Vec::new();
    let words = (v.len() + 1).div_ceil(64);
    let reach: &mut [u64] = if words <= small.len() {
        &mut small[..words]
    } else {
        big.resize(words, 0);
        &mut big
    };
    let set = |r: &mut [u64], i: usize| r[i >> 6] |= 1 << (i & 63);
    let cur = cur.unwrap_or("").as_bytes();
    let mut any = false;
    if starts_with(v, cur) {
        set(reach, cur.len());
        any = true;
    }
    // The pending appends, each with its first bytes as a word: most fail on that compare.
    let mut tiles: Vec<(u64, u64, &[u8])> = Vec::with_capacity(pending.len());
    for p in pending {
        match &p.op {
            KvOp::Put(x) if starts_with(v, x.as_bytes()) => {
                set(reach, x.len());
                any = true;
            }
            KvOp::Append(x) if !x.is_empty() => {
                let (w, m) = head(x.as_bytes());
                tiles.push((w, m, x.as_bytes()));
            }
            _ => {}
        }
    }
    if !any {
        return false;
    }
    // Positions only grow: visit set bits in increasing order, extending by each append.
    let mut w = 0;
    while w < reach.len() {
        let bits = reach[w];
        if bits == 0 {
            w += 1;
            continue;
        }
        let b = bits.trailing_zeros() as usize;
        reach[w] &= !(1 << b);
        let i = w * 64 + b;
        if i == v.len() {
            return true;
        }
        let rest = &v[i..];
        let (word, _) = head(rest);
        for &(tw, tm, x) in &tiles {
            if word & tm == tw && x.len() <= rest.len() && rest[..x.len()] == *x {
                set(reach, i + x.len());
            }
        }
    }
    false
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
            KvOutput::Get(Some(v)) => can_tile(v.as_bytes(), state.value(), pending),
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
