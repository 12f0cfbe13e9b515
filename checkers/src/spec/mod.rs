//! Sequential specifications: what a single-copy object would do, one operation at a time.
//!
//! The linearizability search only ever asks a spec "from this state, can this operation have
//! produced this output, and what is the state afterwards?". Built-in specs cover registers
//! (`register`, `cas-register`), key-value stores (`kv`: get/put/append of strings) and
//! Jepsen's list-append (`append`: append an element, read the whole list); a user implements
//! [`Spec`] for anything else.
//!
//! ```
//! use faultline_checkers::spec::Spec;
//!
//! /// A counter: `Some(n)` adds n, `None` reads.
//! struct Counter;
//! impl Spec for Counter {
//!     type State = i64;
//!     type Input = Option<i64>;
//!     type Output = i64;
//!     fn init(&self) -> i64 { 0 }
//!     fn step(&self, s: &i64, input: &Option<i64>, out: &i64) -> Option<i64> {
//!         match input {
//!             Some(n) => Some(s + n),
//!             None => (out == s).then_some(*s),
//!         }
//!     }
//!     fn step_unknown(&self, s: &i64, input: &Option<i64>) -> Option<i64> {
//!         input.map(|n| s + n)
//!     }
//! }
//! assert_eq!(Counter.step(&1, &None, &1), Some(1));
//! ```
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

mod append;
mod kv;
mod register;

pub use append::{AppendInput, AppendOp, AppendOutput, AppendSpec, Elem, ListState};
pub use kv::{KvInput, KvOp, KvOutput, KvSpec, KvState};
pub use register::{RegisterInput, RegisterOp, RegisterOutput, RegisterSpec};

/// A value as the built-in specs see it: `None` is nil (absent, never written).
///
/// Values are compared as text: JSON values are kept in canonical JSON form, except that a JSON
/// string is kept as its content (so `kv` appends concatenate strings as Porcupine's model does).
pub type Val = Option<Arc<str>>;

/// A sequential specification.
///
/// States must be cheap to compare and hash: the search interns them and memoizes on
/// (linearized set, state). `step` must be a pure function.
pub trait Spec {
    /// The object's state; the search interns each distinct state once.
    type State: Clone + Eq + Hash + Debug;
    /// An operation's input (function and arguments). Equal inputs are treated as
    /// interchangeable when their outcome is unknown (the symmetry reduction relies on it).
    type Input: Clone + Debug + PartialEq;
    /// An operation's observed output.
    type Output: Clone + Debug;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// Applies `input` to `state`: `Some(next)` when the operation may return `output` from
    /// `state`, `None` when it may not.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: &Self::Output,
    ) -> Option<Self::State>;

    /// Applies an operation whose outcome is unknown (a Jepsen `info` op, or one that never
    /// returned). `None` means it cannot take effect from `state`; the search then treats it as
    /// not (yet) having happened, which is always allowed for such an operation.
    ///
    /// An operation that only observes (a read) should return `None`: linearizing it changes
    /// nothing, and skipping it saves the search work.
    fn step_unknown(&self, state: &Self::State, input: &Self::Input) -> Option<Self::State>;

    /// True when this op, with this output, never changes any state (a read): `step` returns
    /// either the state it was given or `None`. The search then linearizes such an op as soon
    /// as it is legal and tries nothing else at that point, which is sound only under this
    /// promise. Default: false (always correct).
    fn is_read_only(&self, _input: &Self::Input, _output: &Self::Output) -> bool {
        false
    }

    /// Optional pruning. Called when a completed op still to be linearized (`input` returning
    /// `output`: the next op to return, or a read-only op already invoked) is not legal from
    /// `state`; `pending` holds the inputs of every op that may still be linearized before it,
    /// except ops declared read-only ([`Spec::is_read_only`]: they cannot change the state), and
    /// possibly a few more (e.g. the op itself: a superset is harmless). Return `false` only
    /// when no sequence of those ops (each at most once, any order) can lead to a state where it
    /// is legal; the search then abandons the branch. The default, `true`, is always correct; a
    /// tighter answer only saves time. Called often: keep it cheap.
    fn can_still_hold(
        &self,
        _state: &Self::State,
        _pending: &[&Self::Input],
        _input: &Self::Input,
        _output: &Self::Output,
    ) -> bool {
        true
    }

    /// Independent partition (e.g. the key) of an operation. Operations in different
    /// partitions are checked separately (P-compositionality, Herlihy & Wing): only return
    /// distinct partitions for operations on truly independent objects. Default: one partition.
    fn partition(&self, _input: &Self::Input) -> Option<String> {
        None
    }

    /// A short human-readable description, used in reports.
    fn describe(&self, input: &Self::Input, output: Option<&Self::Output>) -> String {
        match output {
            Some(o) => format!("{input:?} -> {o:?}"),
            None => format!("{input:?} -> ?"),
        }
    }
}

/// The built-in specs, by their command-line names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpecName {
    /// read/write register.
    Register,
    /// read/write/cas register.
    CasRegister,
    /// get/put/append key-value store, one partition per key.
    Kv,
    /// list-append: `append` one element, `read` the whole list; one partition per key.
    Append,
}

impl SpecName {
    /// Every built-in spec, in the order `faultline list` shows them.
    pub const ALL: [SpecName; 4] = [
        SpecName::Register,
        SpecName::CasRegister,
        SpecName::Kv,
        SpecName::Append,
    ];

    /// The command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            SpecName::Register => "register",
            SpecName::CasRegister => "cas-register",
            SpecName::Kv => "kv",
            SpecName::Append => "append",
        }
    }
}

impl std::fmt::Display for SpecName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SpecName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "register" => Ok(SpecName::Register),
            "cas-register" => Ok(SpecName::CasRegister),
            "kv" => Ok(SpecName::Kv),
            "append" => Ok(SpecName::Append),
            _ => Err(format!(
                "unknown spec '{s}' (expected register, cas-register, kv or append)"
            )),
        }
    }
}

/// Renders a value for humans: nil, or its text.
pub fn show_val(v: &Val) -> String {
    match v {
        None => "nil".to_string(),
        Some(s) => s.to_string(),
    }
}
