//! What clients do: a generator of operations with unique write values, and the final reads.
use crate::ctx::SimRng;
use crate::protocol::Invocation;
use rand::Rng;
use serde_json::{json, Value};
use std::fmt;
use std::sync::Arc;

/// The sequential specification a workload's history is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecKind {
    /// read / write per key.
    Register,
    /// read / write / cas per key.
    CasRegister,
}

/// The operation mix of a run. Write values are unique across the run, so a read names the write
/// it saw and histories stay cheap to check.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    pub keys: usize,
    /// Fraction of reads; the rest are writes (and cas).
    pub read_ratio: f64,
    /// Fraction of cas among non-reads (0 for [`SpecKind::Register`]).
    pub cas_ratio: f64,
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
/// use faultline_harness::{Invocation, Workload};
/// use faultline_harness::workload::Generator;
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
        }
    }

    /// Read/write/cas registers.
    pub fn cas_registers() -> Workload {
        Workload {
            cas_ratio: 0.3,
            ..Workload::registers()
        }
    }

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

    pub fn think_ms(mut self, ms: u64) -> Self {
        self.think_ms = ms;
        self
    }

    pub fn timeout_ms(mut self, ms: u64) -> Self {
        self.timeout_ms = ms;
        self
    }

    pub fn spec(&self) -> SpecKind {
        if self.cas_ratio > 0.0 {
            SpecKind::CasRegister
        } else {
            SpecKind::Register
        }
    }

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
