//! The plain data the harness, a protocol and the checkers exchange: one operation and what it
//! came to, the CAP choice a store declares, and the configuration a run is built from. Kept apart
//! from the `Protocol` trait so the recording and the checkers need nothing of the runtime.
use serde::{Deserialize, Serialize};
use serde_json::Value;
/// Which side of CAP a model chooses during a partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cap {
    /// Consistent: every answer is linearizable; refusing during a partition is allowed.
    CP,
    /// Available: every request that reaches a live replica is answered; replicas converge.
    AP,
    /// Not a read/write store (transactions, sagas): CAP classification does not apply.
    #[default]
    None,
}

/// One client operation, as the workload generates it and the history records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    /// `read`, `write`, `cas`, ... (the history's `f`).
    pub f: String,
    /// The key it addresses (`None` for an operation without one, e.g. a transfer).
    pub key: Option<String>,
    /// The input: the value to write, `[from, to]` for cas, null for a read.
    pub value: Value,
}

/// What a client call came to (Jepsen's ok / fail / info).
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// It took effect, with its result: recorded as the `ok` event's value whatever the
    /// operation (the value read, the element a `pop` removed, an `add`'s new total; null for a
    /// write with nothing to return: checkers take what an operation wrote from its
    /// invocation).
    Ok(Value),
    /// It certainly did not take effect (e.g. a refused request, a failed cas).
    Fail(String),
    /// Unknown: it may have taken effect or may yet (timeout, lost reply).
    Unknown(String),
}

/// The configuration a run builds its protocol from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Server nodes (`--nodes`).
    pub nodes: usize,
    /// Concurrent clients (`--clients`).
    pub clients: usize,
    /// Client operations in the workload phase (`--ops`).
    pub ops: usize,
    /// The bug variant, `None` for the correct protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bug: Option<String>,
    /// Model parameters from `--set KEY=VALUE`.
    #[serde(default)]
    pub set: std::collections::BTreeMap<String, String>,
    /// The workload asked for with `--workload` (`register`, `append`); `None` is the
    /// protocol's default ([`Protocol::workload`](crate::Protocol::workload)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// How long (simulated ms) after the final heal every final read must have succeeded
    /// (`--liveness-timeout`); `None` is [`DEFAULT_LIVENESS_MS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_ms: Option<u64>,
    /// The checkers' work budget (`--check-budget`, in search steps); `None` is
    /// [`DEFAULT_CHECK_BUDGET`]. Counted in work, never in time, so one recording gets one verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_budget: Option<u64>,
    /// Buggify (`--buggify`): each point the run reaches is enabled with probability ¼, drawn
    /// from the seed and the point's name ([`crate::buggify`]). Off by default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub buggify: bool,
    /// The exact set of enabled buggify points (a reproducer's, a shrink's): every other point
    /// stays off. `Some` turns buggify on; `None` draws the set from the seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buggify_only: Option<std::collections::BTreeSet<String>>,
    /// The wire check (`--wire serde`): every message crosses the protocol's codec
    /// ([`Protocol::wire_codec`](crate::Protocol::wire_codec)) and the receiver gets the
    /// decoded copy ([`crate::wire`]). `None` (the default): messages are handed over as values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wire: Option<WireCheck>,
    /// The noise seed: `0` (the default) runs the seed as always; any other value redraws the
    /// run's incidental randomness — network delays, scheduling, node and client randomness,
    /// the nemesis's own draws — while the workload's operations, the schedule and buggify's
    /// enabled set stay those of the seed ([`noise_seed`]). `shrink` uses it to keep a failure
    /// that depends on one interleaving; a reproducer records it (`config.noise`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub noise: u64,
    /// Workload operations drawn but not issued, by their index in the order the workload
    /// generates them (`0..ops`): the others keep their keys and values. `shrink` removes single
    /// operations this way; a reproducer records them (`config.skip_ops`). Empty by default.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub skip_ops: std::collections::BTreeSet<usize>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The seed a run's incidental randomness is drawn from: `seed` itself for noise `0` (so runs
/// without noise are unchanged), otherwise `seed` mixed with the noise (SplitMix64's finalizer,
/// so nearby noise values give unrelated streams).
///
/// ```
/// use faultline::protocol::noise_seed;
/// assert_eq!(noise_seed(7, 0), 7);
/// assert_ne!(noise_seed(7, 1), noise_seed(7, 2));
/// ```
pub fn noise_seed(seed: u64, noise: u64) -> u64 {
    if noise == 0 {
        return seed;
    }
    let mut z = noise.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    seed ^ z ^ (z >> 31)
}

/// A wire check a run can make (`--wire NAME`, [`ModelConfig::wire`]).
///
/// ```
/// use faultline::protocol::WireCheck;
/// assert_eq!("serde".parse::<WireCheck>(), Ok(WireCheck::Serde));
/// assert!("bogus".parse::<WireCheck>().unwrap_err().contains("known: serde"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WireCheck {
    /// Round-trip every message through the protocol's serde codec.
    Serde,
}

impl WireCheck {
    /// Its name, as `--wire` and the files write it.
    pub fn as_str(self) -> &'static str {
        match self {
            WireCheck::Serde => "serde",
        }
    }
}

impl std::str::FromStr for WireCheck {
    type Err = String;
    fn from_str(s: &str) -> Result<WireCheck, String> {
        match s {
            "serde" => Ok(WireCheck::Serde),
            _ => Err(format!("unknown wire check `{s}` (known: serde)")),
        }
    }
}

/// The default liveness bound: every final read succeeds within 10 s (simulated) of the heal.
pub const DEFAULT_LIVENESS_MS: u64 = 10_000;

/// The default work budget of the checkers (linearizability search steps per history).
pub const DEFAULT_CHECK_BUDGET: u64 = 20_000_000;

/// ` --bug NAME` for a bug variant, nothing for the correct protocol: how titles and commands
/// name a variant.
pub fn bug_flag(bug: Option<&str>) -> String {
    bug.map(|b| format!(" --bug {b}")).unwrap_or_default()
}

/// ` --buggify` for a run with buggify on, nothing otherwise: titles and summaries that read as
/// commands name it beside the bug, so the command a person copies makes the same run.
///
/// ```
/// assert_eq!(faultline::protocol::buggify_flag(true), " --buggify");
/// assert_eq!(faultline::protocol::buggify_flag(false), "");
/// ```
pub fn buggify_flag(on: bool) -> &'static str {
    if on {
        " --buggify"
    } else {
        ""
    }
}

impl ModelConfig {
    /// The operations the workload issues: `ops` less those skipped among them.
    ///
    /// ```
    /// let cfg: faultline::ModelConfig =
    ///     serde_json::from_str(r#"{"nodes": 3, "clients": 1, "ops": 10, "skip_ops": [2, 3, 40]}"#)
    ///         .unwrap();
    /// assert_eq!(cfg.issued_ops(), 8); // 40 is past the workload's end
    /// ```
    pub fn issued_ops(&self) -> usize {
        self.ops - self.skip_ops.iter().filter(|&&i| i < self.ops).count()
    }

    /// Whether buggify is on: drawn from the seed (`buggify`) or an exact set (`buggify_only`).
    pub fn buggify_on(&self) -> bool {
        self.buggify || self.buggify_only.is_some()
    }

    /// Whether the run is the bug variant `name`.
    pub fn bug_is(&self, name: &str) -> bool {
        self.bug.as_deref() == Some(name)
    }

    /// The workload asked for, or `default` when `--workload` was not given.
    pub fn workload_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.workload.as_deref().unwrap_or(default)
    }

    /// The liveness bound in simulated milliseconds.
    pub fn liveness_ms(&self) -> u64 {
        self.liveness_ms.unwrap_or(DEFAULT_LIVENESS_MS)
    }

    /// The checkers' work budget in search steps.
    pub fn check_budget(&self) -> u64 {
        self.check_budget.unwrap_or(DEFAULT_CHECK_BUDGET)
    }

    /// A `--set` parameter parsed as `T`, or `default` when absent.
    pub fn param<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, String> {
        match self.set.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--set {key}={v}: not a valid value")),
        }
    }
}

/// The roles a protocol's nodes may hold ([`Protocol::roles`](crate::Protocol::roles)): which role-aimed fault steps
/// mean something for it. A leader is announced by an observation `leader-elected` (or
/// `leader`), a coordinator by `coordinator`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Roles {
    /// Some node leads (Raft's leader, a primary): `crash-leader`, `isolate-leader`,
    /// `pause-leader`, `leader-churn`, and `power-loss` after an election.
    pub leader: bool,
    /// Some node coordinates (2PC/3PC's coordinator, a saga's orchestrator): `node:
    /// coordinator` in a schedule. No generated step aims at it today.
    pub coordinator: bool,
}

impl Roles {
    /// No role: a leaderless protocol.
    pub const NONE: Roles = Roles {
        leader: false,
        coordinator: false,
    };
    /// A leader (observed as `leader-elected`).
    pub const LEADER: Roles = Roles {
        leader: true,
        coordinator: false,
    };
    /// A coordinator (observed as `coordinator`).
    pub const COORDINATOR: Roles = Roles {
        leader: false,
        coordinator: true,
    };

    /// Both sets of roles.
    pub const fn with(self, other: Roles) -> Roles {
        Roles {
            leader: self.leader || other.leader,
            coordinator: self.coordinator || other.coordinator,
        }
    }

    /// Whether `role` (`leader` or `coordinator`) is one of them.
    pub fn has(self, role: &str) -> bool {
        match role {
            "leader" => self.leader,
            "coordinator" => self.coordinator,
            _ => false,
        }
    }

    /// The role names, as `faultline list --json` shows them.
    pub fn names(self) -> Vec<&'static str> {
        let mut v = vec![];
        if self.leader {
            v.push("leader");
        }
        if self.coordinator {
            v.push("coordinator");
        }
        v
    }
}

/// Written as the list of role names (`["leader"]`).
impl serde::Serialize for Roles {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.names().serialize(s)
    }
}
