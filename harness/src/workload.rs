//! What clients do: a generator of operations with unique write values, and the final reads.
//!
//! Two built-in workloads, by the names `--workload` takes:
//! - `register` ([`Workload::registers`]): `write` a unique value to a key, `read` its value;
//! - `append` ([`Workload::append`]): Jepsen's list-append on one key per operation: `append` a
//!   unique element to a key's list, `read` the whole list. Every acknowledged element must be in
//!   every later read, so each lost write is seen on its own, not only the last one to a key.
//!
//! [`apply`] is the single-copy semantics of both, for a store's state machine.
use crate::ctx::SimRng;
use crate::data::Invocation;
use rand::Rng;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// The sequential specification a workload's history is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecKind {
    /// read / write per key.
    Register,
    /// read / write / cas per key.
    CasRegister,
    /// read (the whole list) / append (one element) per key.
    Append,
}

/// The names `--workload` accepts for the built-in workloads.
pub const WORKLOADS: [&str; 2] = ["register", "append"];

/// The operation mix of a run. Write values are unique across the run, so a read names the write
/// it saw and histories stay cheap to check.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    /// How many keys (`k0`, `k1`, ...).
    pub keys: usize,
    /// Fraction of reads; the rest are writes (and cas).
    pub read_ratio: f64,
    /// Fraction of cas among non-reads (0 for [`SpecKind::Register`]).
    pub cas_ratio: f64,
    /// Writes are `append`s of a unique element to the key's list and reads return the whole
    /// list ([`SpecKind::Append`]), instead of register writes.
    pub append: bool,
    /// Mean think time between a client's operations (ms).
    pub think_ms: u64,
    /// How long a client waits for one operation before it is recorded as `info` (ms).
    pub timeout_ms: u64,
    /// Operations that are not register reads and writes (transactions, orders, payments): when
    /// set, it generates every operation instead of the read/write/cas mix.
    pub custom: Option<Generator>,
    /// What the fresh client of the final phase runs, when not one read per key.
    pub final_ops: Option<Vec<Invocation>>,
}

/// A protocol's own operation generator: given the workload rng and a number unique across the
/// run (an id for the transaction, order or request), the next operation.
///
/// ```
/// use faultline::{Invocation, Workload};
/// use faultline::workload::Generator;
/// let w = Workload::registers().custom(Generator::new(|_rng, n| Invocation {
///     f: "pay".into(), key: None, value: serde_json::json!({"request": n}),
/// }));
/// assert!(w.custom.is_some());
/// ```
#[derive(Clone)]
pub struct Generator(Arc<GenFn>);

/// The generator's function: `(workload rng, unique number) -> operation`.
type GenFn = dyn Fn(&mut SimRng, u64) -> Invocation + Send + Sync;

impl Generator {
    /// A generator from `f(workload rng, unique number) -> operation`.
    pub fn new(f: impl Fn(&mut SimRng, u64) -> Invocation + Send + Sync + 'static) -> Self {
        Generator(Arc::new(f))
    }
}

impl fmt::Debug for Generator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Generator(..)")
    }
}

/// Two generators are equal when they are the same closure.
impl PartialEq for Generator {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Workload {
    /// Read/write registers on three keys.
    pub fn registers() -> Workload {
        Workload {
            keys: 3,
            read_ratio: 0.5,
            cas_ratio: 0.0,
            think_ms: 40,
            timeout_ms: 1000,
            custom: None,
            final_ops: None,
            append: false,
        }
    }

    /// Jepsen's list-append on three keys: each write appends an element unique across the run
    /// to one key's list (recorded as `f: "append"`, `value`: the element), each read returns the
    /// key's whole list (`value`: a JSON array); the final phase reads every key's list.
    ///
    /// ```
    /// use faultline::workload::{SpecKind, Workload};
    /// use rand::SeedableRng;
    /// let w = Workload::append();
    /// assert_eq!(w.spec(), SpecKind::Append);
    /// let mut rng = faultline::SimRng::seed_from_u64(7);
    /// let mut unique = 0;
    /// let ops: Vec<_> = (0..20).map(|_| w.next(&mut rng, &mut unique)).collect();
    /// assert!(ops.iter().all(|o| o.f == "append" || o.f == "read"));
    /// assert!(ops.iter().any(|o| o.f == "append"));
    /// ```
    pub fn append() -> Workload {
        Workload {
            append: true,
            ..Workload::registers()
        }
    }

    /// The built-in workload called `name` (`register` or `append`, see [`WORKLOADS`]).
    ///
    /// ```
    /// use faultline::Workload;
    /// assert_eq!(Workload::named("append").unwrap(), Workload::append());
    /// assert!(Workload::named("bank").is_err());
    /// ```
    pub fn named(name: &str) -> Result<Workload, String> {
        match name {
            "register" => Ok(Workload::registers()),
            "append" => Ok(Workload::append()),
            other => Err(format!(
                "unknown workload `{other}` (expected {})",
                WORKLOADS.join(" or ")
            )),
        }
    }

    /// Read/write/cas registers.
    pub fn cas_registers() -> Workload {
        Workload {
            cas_ratio: 0.3,
            ..Workload::registers()
        }
    }

    /// Spreads operations over `keys` keys (at least 1).
    pub fn keys(mut self, keys: usize) -> Self {
        self.keys = keys.max(1);
        self
    }

    /// Generates every operation with `g` (the read/write/cas mix no longer applies).
    pub fn custom(mut self, g: Generator) -> Self {
        self.custom = Some(g);
        self
    }

    /// The final-phase client runs `ops` instead of one read per key.
    pub fn final_ops(mut self, ops: Vec<Invocation>) -> Self {
        self.final_ops = Some(ops);
        self
    }

    /// How long a client waits between operations (simulated ms).
    pub fn think_ms(mut self, ms: u64) -> Self {
        self.think_ms = ms;
        self
    }

    /// The backstop timeout of one call (simulated ms): past it the harness records the operation as unknown.
    pub fn timeout_ms(mut self, ms: u64) -> Self {
        self.timeout_ms = ms;
        self
    }

    /// The sequential specification the linearizability checker judges this workload's histories against.
    pub fn spec(&self) -> SpecKind {
        if self.append {
            SpecKind::Append
        } else if self.cas_ratio > 0.0 {
            SpecKind::CasRegister
        } else {
            SpecKind::Register
        }
    }

    /// The name of key `i`: `k{i}`.
    pub fn key_name(i: usize) -> String {
        format!("k{i}")
    }

    /// The next operation; `unique` is a run-wide counter for write values.
    pub fn next(&self, rng: &mut SimRng, unique: &mut u64) -> Invocation {
        if let Some(g) = &self.custom {
            *unique += 1;
            return (g.0)(rng, *unique);
        }
        let key = Some(Self::key_name(rng.gen_range(0..self.keys)));
        if rng.gen_bool(self.read_ratio) {
            return Invocation {
                f: "read".into(),
                key,
                value: Value::Null,
            };
        }
        *unique += 1;
        if self.append {
            return Invocation {
                f: "append".into(),
                key,
                value: json!(*unique),
            };
        }
        if self.cas_ratio > 0.0 && rng.gen_bool(self.cas_ratio) && *unique > 1 {
            // Expect a recent value, so cas succeeds often enough to matter.
            let from = rng.gen_range(unique.saturating_sub(4).max(1)..*unique);
            return Invocation {
                f: "cas".into(),
                key,
                value: json!([from, *unique]),
            };
        }
        Invocation {
            f: "write".into(),
            key,
            value: json!(*unique),
        }
    }

    /// One read per key, issued after the network heals and the system settles.
    pub fn final_reads(&self) -> Vec<Invocation> {
        if let Some(ops) = &self.final_ops {
            return ops.clone();
        }
        (0..self.keys)
            .map(|i| Invocation {
                f: "read".into(),
                key: Some(Self::key_name(i)),
                value: Value::Null,
            })
            .collect()
    }

    /// Rough simulated length of the workload phase, used as the default fault horizon.
    pub fn expected_ms(&self, ops: usize, clients: usize) -> u64 {
        let per_client = ops.div_ceil(clients.max(1)) as u64;
        per_client * (self.think_ms + 10)
    }
}

/// Applies one operation of the built-in workloads to a single copy of the data: what a store's
/// state machine does with `write`, `cas`, `append` and `read`. Returns the answer for the
/// client: null for a write or an append, the value for a read (a key's list under the
/// `append` workload; null for a key never written), `Err` for a cas that found another value or
/// an operation it does not know.
///
/// ```
/// use faultline::workload::apply;
/// use serde_json::{json, Value};
/// let mut data = std::collections::BTreeMap::new();
/// apply(&mut data, "append", "k", &json!(1)).unwrap();
/// apply(&mut data, "append", "k", &json!(2)).unwrap();
/// assert_eq!(apply(&mut data, "read", "k", &Value::Null), Ok(json!([1, 2])));
/// apply(&mut data, "write", "r", &json!(5)).unwrap();
/// assert!(apply(&mut data, "cas", "r", &json!([4, 6])).is_err());
/// ```
pub fn apply(
    data: &mut BTreeMap<String, Value>,
    f: &str,
    key: &str,
    value: &Value,
) -> Result<Value, String> {
    match f {
        "read" => Ok(data.get(key).cloned().unwrap_or(Value::Null)),
        "write" => {
            data.insert(key.to_string(), value.clone());
            Ok(Value::Null)
        }
        "cas" => {
            let cur = data.get(key).unwrap_or(&Value::Null);
            match value.as_array().map(Vec::as_slice) {
                Some([from, to]) if from == cur => {
                    data.insert(key.to_string(), to.clone());
                    Ok(Value::Null)
                }
                Some([_, _]) => Err("cas mismatch".into()),
                _ => Err(format!("cas needs [from, to], got {value}")),
            }
        }
        "append" => match data.entry(key.to_string()).or_insert_with(|| json!([])) {
            Value::Array(list) => {
                list.push(value.clone());
                Ok(Value::Null)
            }
            other => Err(format!("append to {key}, which holds {other}, not a list")),
        },
        other => Err(format!("unknown operation `{other}`")),
    }
}
