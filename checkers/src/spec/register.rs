//! `register` and `cas-register`: one value per key (or a single unnamed register).
use super::{Spec, Val};
use std::sync::Arc;

/// A register operation's input. `key` partitions: registers under different keys are
/// independent objects.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RegisterInput {
    pub key: Option<Arc<str>>,
    pub op: RegisterOp,
}

/// What a register operation does.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RegisterOp {
    Read,
    Write(Val),
    /// Compare-and-set: `(from, to)`.
    Cas(Val, Val),
}

/// What a completed register operation observed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RegisterOutput {
    /// A read returned this value (`None`: nil, i.e. the register was never written).
    Read(Val),
    /// A read whose value says nothing (Knossos: a read of nil is unconstrained).
    ReadAny,
    /// A write, or a cas that succeeded.
    Ok,
    /// A cas that reported failure, read as an observation: the value was not `from`
    /// (Porcupine's etcd model). Formats with Jepsen semantics drop failed ops instead.
    CasFailed,
}

/// The register specs. `cas: false` is `register` (read/write); `true` is `cas-register`.
///
/// ```
/// use faultline_checkers::spec::{RegisterSpec, RegisterInput, RegisterOp, RegisterOutput, Spec};
/// let spec = RegisterSpec::cas_register(None);
/// let w = RegisterInput { key: None, op: RegisterOp::Write(Some("1".into())) };
/// let s = spec.step(&spec.init(), &w, &RegisterOutput::Ok).unwrap();
/// let r = RegisterInput { key: None, op: RegisterOp::Read };
/// assert!(spec.step(&s, &r, &RegisterOutput::Read(Some("1".into()))).is_some());
/// assert!(spec.step(&s, &r, &RegisterOutput::Read(None)).is_none());
/// ```
#[derive(Clone, Debug, Default)]
pub struct RegisterSpec {
    pub cas: bool,
    pub initial: Val,
}

impl RegisterSpec {
    pub fn register(initial: Val) -> Self {
        RegisterSpec {
            cas: false,
            initial,
        }
    }

    pub fn cas_register(initial: Val) -> Self {
        RegisterSpec { cas: true, initial }
    }
}

impl Spec for RegisterSpec {
    type State = Val;
    type Input = RegisterInput;
    type Output = RegisterOutput;

    fn init(&self) -> Val {
        self.initial.clone()
    }

    fn step(&self, state: &Val, input: &RegisterInput, output: &RegisterOutput) -> Option<Val> {
        match (&input.op, output) {
            (RegisterOp::Read, RegisterOutput::Read(v)) => (v == state).then(|| state.clone()),
            (RegisterOp::Read, RegisterOutput::ReadAny) => Some(state.clone()),
            (RegisterOp::Write(v), RegisterOutput::Ok) => Some(v.clone()),
            (RegisterOp::Cas(from, to), RegisterOutput::Ok) if self.cas => {
                (from == state).then(|| to.clone())
            }
            (RegisterOp::Cas(from, _), RegisterOutput::CasFailed) if self.cas => {
                (from != state).then(|| state.clone())
            }
            _ => None,
        }
    }

    fn step_unknown(&self, state: &Val, input: &RegisterInput) -> Option<Val> {
        match &input.op {
            RegisterOp::Read => None,
            RegisterOp::Write(v) => Some(v.clone()),
            RegisterOp::Cas(from, to) if self.cas && from == state => Some(to.clone()),
            RegisterOp::Cas(..) => None,
        }
    }

    fn is_read_only(&self, input: &RegisterInput, output: &RegisterOutput) -> bool {
        matches!(input.op, RegisterOp::Read) || matches!(output, RegisterOutput::CasFailed)
    }

    /// The value changes only by writes and successful cas: a read of `v` (or a cas from `v`)
    /// can still hold only if some pending op may set the value to `v`; a failed cas from `v`,
    /// only if some pending op may set it to something else.
    fn can_still_hold(
        &self,
        state: &Val,
        pending: &[&RegisterInput],
        input: &RegisterInput,
        output: &RegisterOutput,
    ) -> bool {
        // The current value counts too (as if a pending op had set it).
        let sets = |f: &dyn Fn(&Val) -> bool| {
            f(state)
                || pending.iter().any(|p| match &p.op {
                    RegisterOp::Read => false,
                    RegisterOp::Write(v) => f(v),
                    RegisterOp::Cas(_, to) => self.cas && f(to),
                })
        };
        match (&input.op, output) {
            (RegisterOp::Read, RegisterOutput::Read(v)) => sets(&|x| x == v),
            (RegisterOp::Cas(from, _), RegisterOutput::Ok) if self.cas => sets(&|x| x == from),
            (RegisterOp::Cas(from, _), RegisterOutput::CasFailed) if self.cas => {
                sets(&|x| x != from)
            }
            _ => true,
        }
    }

    fn partition(&self, input: &RegisterInput) -> Option<String> {
        input.key.as_ref().map(|k| k.to_string())
    }

    fn describe(&self, input: &RegisterInput, output: Option<&RegisterOutput>) -> String {
        use super::show_val;
        let key = input
            .key
            .as_ref()
            .map(|k| format!("[{k}]"))
            .unwrap_or_default();
        match (&input.op, output) {
            (RegisterOp::Read, Some(RegisterOutput::Read(v))) => {
                format!("read{key} -> {}", show_val(v))
            }
            (RegisterOp::Read, _) => format!("read{key} -> ?"),
            (RegisterOp::Write(v), Some(_)) => format!("write{key}({})", show_val(v)),
            (RegisterOp::Write(v), None) => format!("write{key}({}) -> ?", show_val(v)),
            (RegisterOp::Cas(f, t), o) => {
                let r = match o {
                    Some(RegisterOutput::CasFailed) => "fail",
                    Some(_) => "ok",
                    None => "?",
                };
                format!("cas{key}({}, {}) -> {r}", show_val(f), show_val(t))
            }
        }
    }
}
