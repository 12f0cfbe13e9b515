//! One step of a schedule: a fault, when it starts (a time, or an observation plus a delay), how
//! long it lasts, and which nodes it hits (ids, or a role resolved when it starts).
use serde::{Deserialize, Serialize};
use std::fmt;

/// One fault with concrete node ids. Its window (`for_ms`) lives on the [`Step`].
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Two nodes can talk only if some group holds both (groups may overlap: a bridge node sits in
    /// two groups; a ring is a list of neighbour pairs). Nodes in no group are unaffected. With
    /// `oneway`, only messages leaving the first group are cut.
    Partition {
        /// The groups of nodes that can talk among themselves.
        groups: Vec<Vec<usize>>,
        /// Cut only the messages leaving the first group.
        oneway: bool,
    },
    /// The nodes stop and lose their memory and queued messages; they restart when the window
    /// ends. A process crash (`fault: crash`) keeps the page cache: every write, synced or not, is
    /// still there. A power loss (`fault: power-loss`, `power`) keeps only what was synced; with
    /// `torn`, also a random prefix of each file's unsynced writes (cut at a sector boundary,
    /// drawn per file, so writes are reordered across files) and of the directory's changes.
    Crash {
        /// The crashed nodes.
        nodes: Vec<usize>,
        /// A power loss: unsynced writes are lost (else a process crash: they survive).
        power: bool,
        /// With `power`: a random prefix of each file's unsynced writes survives.
        torn: bool,
    },
    /// The nodes' file API calls of `op` fail with probability `rate` while the window lasts:
    /// fsync with EIO (dropping the file's unsynced writes, fsyncgate), writes with ENOSPC,
    /// reads with EIO.
    DiskError {
        /// The nodes whose disks fail.
        nodes: Vec<usize>,
        /// Which calls fail.
        op: crate::DiskOp,
        /// The probability that one call fails, in `[0, 1]`.
        rate: f64,
    },
    /// A bit flip at rest: 1 to 8 bits flip inside one 512-byte sector of one of each node's
    /// files that holds synced data, in the page cache and on the platter alike, so the next read
    /// sees it and every crash keeps it. Instantaneous (no window); each node's strike is
    /// subject to the protocol's [`corruption_budget`](crate::Protocol::corruption_budget).
    Corrupt {
        /// The struck nodes.
        nodes: Vec<usize>,
    },
    /// A misdirected write: each node's next file-API write (`File::write_at`/`append`) lands at
    /// the wrong place, a sector-aligned shift within the same file or in another of its files,
    /// and the intended place keeps its old bytes. Instantaneous (it arms the fault); subject to
    /// the protocol's [`corruption_budget`](crate::Protocol::corruption_budget).
    Misdirect {
        /// The struck nodes.
        nodes: Vec<usize>,
    },
    /// The nodes stop running (a GC pause, a stalled VM) but keep their state; messages queue
    /// for them and are processed when the window ends.
    Pause {
        /// The paused nodes.
        nodes: Vec<usize>,
    },
    /// Every message is dropped with this probability.
    Loss {
        /// The probability, in `[0, 1]`.
        rate: f64,
    },
    /// Every message is sent twice with this probability.
    Duplicate {
        /// The probability, in `[0, 1]`.
        rate: f64,
    },
    /// Extra per-message delay with this mean: exponential (the default; reorders messages) or
    /// uniform over `[0, 2 * mean]`.
    Delay {
        /// The mean extra delay (ms).
        mean_ms: f64,
        /// Uniform over `[0, 2 * mean]` instead of exponential.
        uniform: bool,
    },
    /// Loss, duplication, delay or extra latency on chosen links only (`links:`, `from:`/`to:`,
    /// or `node:` for every link of one node). Windows on the same link compose with each other
    /// and with the global forms: the strongest active value of each kind applies.
    Link {
        /// Which directed links it degrades.
        links: Links,
        /// What happens to the messages on them.
        effect: LinkEffect,
    },
    /// The node's local clock jumps `offset_ms` away from true time when the step starts, then
    /// drifts by `drift` ms per second of true time; it jumps back when the window ends.
    ClockSkew {
        /// The node whose clock is skewed.
        node: usize,
        /// The jump (ms, either direction).
        offset_ms: i64,
        /// The drift (ms per second of true time): the node's clock runs at `1 + drift / 1000`.
        drift: f64,
        /// Apply `drift` even beyond the protocol's declared bound (`Protocol::max_drift`);
        /// otherwise the nemesis clamps it to the bound.
        exceed: bool,
    },
    /// Client faults (opt-in; no other fault touches a client). The clients die: each one's
    /// operation in flight is recorded `info` (it may or may not take effect), its process
    /// retires, its task and everything it spawned are dropped (no retry of the old operation
    /// goes on), and its queued messages are gone; what it already sent may still arrive. It
    /// restarts with a fresh process when the step's window ends (at once without `for_ms`).
    ClientCrash {
        /// Which clients (by client index: `c0` is 0).
        clients: ClientSet,
    },
    /// The clients cannot reach the server `nodes`, nor those servers them, for the window.
    /// Reference-counted with every other partition: a link is open again when no step cuts it.
    ClientPartition {
        /// Which clients (by client index: `c0` is 0).
        clients: ClientSet,
        /// The servers they are cut from.
        nodes: Vec<usize>,
    },
}

/// The clients a client fault names: ids (client indices, `c0` is 0), one at random, or all.
/// The nemesis resolves `any` and `all` when the step starts; a reproducer keeps the ids.
///
/// ```
/// use faultline::schedule::ClientSet;
/// assert_eq!(ClientSet::Ids(vec![0, 2]).to_string(), "c0,c2");
/// assert_eq!(ClientSet::All.resolve(3, 0), vec![0, 1, 2]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientSet {
    /// These clients.
    Ids(Vec<usize>),
    /// One client drawn when the step starts (`client: any`).
    Any,
    /// Every client (`clients: all`).
    All,
}

impl ClientSet {
    /// The client indices among `clients` clients; `pick` (any number) chooses for `Any`.
    pub fn resolve(&self, clients: usize, pick: usize) -> Vec<usize> {
        match self {
            ClientSet::Ids(ids) => ids.clone(),
            ClientSet::Any => vec![pick % clients.max(1)],
            ClientSet::All => (0..clients).collect(),
        }
    }

    /// The ids it names explicitly (none for `any` and `all`).
    pub fn ids(&self) -> &[usize] {
        match self {
            ClientSet::Ids(ids) => ids,
            _ => &[],
        }
    }
}

impl fmt::Display for ClientSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientSet::Ids(ids) => {
                let names: Vec<String> = ids.iter().map(|c| format!("c{c}")).collect();
                f.write_str(&names.join(","))
            }
            ClientSet::Any => f.write_str("any client"),
            ClientSet::All => f.write_str("every client"),
        }
    }
}

impl Fault {
    /// The name written as `fault:` in schedules.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Partition { .. } => "partition",
            Fault::Crash { power: false, .. } => "crash",
            Fault::Crash { power: true, .. } => "power-loss",
            Fault::DiskError { .. } => "disk-error",
            Fault::Corrupt { .. } => "corrupt",
            Fault::Misdirect { .. } => "misdirect",
            Fault::Pause { .. } => "pause",
            Fault::Loss { .. } => "loss",
            Fault::Duplicate { .. } => "duplicate",
            Fault::Delay { .. } => "delay",
            Fault::ClockSkew { .. } => "clock-skew",
            Fault::Link { effect, .. } => effect.kind(),
            Fault::ClientCrash { .. } => "client-crash",
            Fault::ClientPartition { .. } => "client-partition",
        }
    }

    /// Whether it strikes once and has no window (`corrupt`, `misdirect`): its step takes no
    /// `for_ms`.
    ///
    /// ```
    /// use faultline::schedule::Fault;
    /// assert!(Fault::Corrupt { nodes: vec![1] }.instantaneous());
    /// assert!(!Fault::Pause { nodes: vec![1] }.instantaneous());
    /// ```
    pub fn instantaneous(&self) -> bool {
        matches!(self, Fault::Corrupt { .. } | Fault::Misdirect { .. })
    }

    /// The nodes it names: crashed, paused or skewed nodes, or every node of a partition; for
    /// client faults, the servers (clients are in [`Fault::clients`]).
    pub fn nodes(&self) -> Vec<usize> {
        match self {
            Fault::Partition { groups, .. } => {
                let mut all: Vec<usize> = groups.iter().flatten().copied().collect();
                all.sort_unstable();
                all.dedup();
                all
            }
            Fault::Crash { nodes, .. }
            | Fault::Pause { nodes }
            | Fault::Corrupt { nodes }
            | Fault::Misdirect { nodes }
            | Fault::DiskError { nodes, .. }
            | Fault::ClientPartition { nodes, .. } => nodes.clone(),
            Fault::ClockSkew { node, .. } => vec![*node],
            Fault::Link { links, .. } => links.nodes(),
            _ => vec![],
        }
    }

    /// The clients a client fault names (`None` for every other fault).
    pub fn clients(&self) -> Option<&ClientSet> {
        match self {
            Fault::ClientCrash { clients } | Fault::ClientPartition { clients, .. } => {
                Some(clients)
            }
            _ => None,
        }
    }

    /// Whether messages from `a` to `b` are cut by this partition.
    pub(crate) fn cuts(groups: &[Vec<usize>], oneway: bool, a: usize, b: usize) -> bool {
        let in_a = |g: &Vec<usize>| g.contains(&a);
        let in_b = |g: &Vec<usize>| g.contains(&b);
        if a == b || !groups.iter().any(in_a) || !groups.iter().any(in_b) {
            return false;
        }
        if groups.iter().any(|g| in_a(g) && in_b(g)) {
            return false;
        }
        !oneway || (in_a(&groups[0]) && !in_b(&groups[0]))
    }
}

/// The links a per-link fault degrades, as written in the schedule.
///
/// ```
/// use faultline::schedule::Links;
/// let both = Links::Pairs(vec![[0, 1]]);
/// assert!(both.covers(0, 1) && both.covers(1, 0) && !both.covers(0, 2));
/// let one = Links::OneWay { from: 0, to: 1 };
/// assert!(one.covers(0, 1) && !one.covers(1, 0));
/// let flaky = Links::Node(2);
/// assert!(flaky.covers(2, 0) && flaky.covers(1, 2) && !flaky.covers(0, 1));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Links {
    /// `links: [[a, b], ..]`: both directions of each pair.
    Pairs(Vec<[usize; 2]>),
    /// `from: a, to: b`: only messages from `a` to `b`.
    OneWay {
        /// The sender.
        from: usize,
        /// The receiver.
        to: usize,
    },
    /// `node: a`: every link to and from `a` (a flaky node), clients' links included.
    Node(usize),
}

impl Links {
    /// Whether messages from `from` to `to` travel on one of these links.
    pub fn covers(&self, from: usize, to: usize) -> bool {
        match self {
            Links::Pairs(pairs) => pairs
                .iter()
                .any(|&[a, b]| (a == from && b == to) || (a == to && b == from)),
            Links::OneWay { from: a, to: b } => *a == from && *b == to,
            Links::Node(n) => from != to && (*n == from || *n == to),
        }
    }

    /// The nodes it names.
    pub fn nodes(&self) -> Vec<usize> {
        let mut v = match self {
            Links::Pairs(pairs) => pairs.iter().flatten().copied().collect(),
            Links::OneWay { from, to } => vec![*from, *to],
            Links::Node(n) => vec![*n],
        };
        v.sort_unstable();
        v.dedup();
        v
    }
}

impl fmt::Display for Links {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Links::Pairs(pairs) => {
                let p: Vec<String> = pairs.iter().map(|[a, b]| format!("n{a}<->n{b}")).collect();
                write!(f, "on {}", p.join(","))
            }
            Links::OneWay { from, to } => write!(f, "on n{from}->n{to}"),
            Links::Node(n) => write!(f, "on every link of n{n}"),
        }
    }
}

/// What a per-link fault does to the messages on its links.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LinkEffect {
    /// Each message is dropped with this probability.
    Loss(f64),
    /// Each message is sent twice with this probability.
    Duplicate(f64),
    /// Extra per-message delay with this mean (ms): exponential, or uniform over `[0, 2 * mean]`.
    Delay {
        /// The mean extra delay (ms).
        mean_ms: f64,
        /// Uniform instead of exponential.
        uniform: bool,
    },
    /// A slow link: every message takes this much longer (ms), a fixed extra latency that does
    /// not reorder (`fault: slow-link`).
    Slow(f64),
}

impl LinkEffect {
    /// The name written as `fault:` in schedules.
    pub fn kind(&self) -> &'static str {
        match self {
            LinkEffect::Loss(_) => "loss",
            LinkEffect::Duplicate(_) => "duplicate",
            LinkEffect::Delay { .. } => "delay",
            LinkEffect::Slow(_) => "slow-link",
        }
    }
}

impl fmt::Display for LinkEffect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkEffect::Loss(r) => write!(f, "loss {r}"),
            LinkEffect::Duplicate(r) => write!(f, "duplicate {r}"),
            LinkEffect::Delay { mean_ms, uniform } => write!(
                f,
                "delay mean {mean_ms}ms{}",
                if *uniform { " uniform" } else { "" }
            ),
            LinkEffect::Slow(ms) => write!(f, "slow-link +{ms}ms"),
        }
    }
}

fn list(nodes: &[usize]) -> String {
    let names: Vec<String> = nodes.iter().map(|n| format!("n{n}")).collect();
    names.join(",")
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Partition { groups, oneway } => {
                write!(
                    f,
                    "partition {groups:?}{}",
                    if *oneway { " one-way" } else { "" }
                )
            }
            Fault::Crash { nodes, power, torn } => {
                write!(
                    f,
                    "{} {}{}",
                    if *power { "power-loss" } else { "crash" },
                    list(nodes),
                    if *power && !*torn { " clean" } else { "" }
                )
            }
            Fault::DiskError { nodes, op, rate } => {
                write!(f, "disk-error {} {op} rate {rate}", list(nodes))
            }
            Fault::Corrupt { nodes } => write!(f, "corrupt {}", list(nodes)),
            Fault::Misdirect { nodes } => write!(f, "misdirect {}", list(nodes)),
            Fault::Pause { nodes } => write!(f, "pause {}", list(nodes)),
            Fault::Loss { rate } => write!(f, "loss {rate}"),
            Fault::Duplicate { rate } => write!(f, "duplicate {rate}"),
            Fault::Delay { mean_ms, uniform } => write!(
                f,
                "delay mean {mean_ms}ms{}",
                if *uniform { " uniform" } else { "" }
            ),
            Fault::ClockSkew {
                node,
                offset_ms,
                drift,
                exceed,
            } => {
                write!(f, "clock-skew n{node} {offset_ms:+}ms")?;
                if *drift != 0.0 {
                    write!(f, " drift {drift:+}ms/s")?;
                }
                if *exceed {
                    write!(f, " exceeding the drift bound")?;
                }
                Ok(())
            }
            Fault::Link { links, effect } => write!(f, "{effect} {links}"),
            Fault::ClientCrash { clients } => write!(f, "client-crash {clients}"),
            Fault::ClientPartition { clients, nodes } => {
                write!(f, "client-partition {clients} from {}", list(nodes))
            }
        }
    }
}

/// A node named by id or by role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum NodeRef {
    /// A node id.
    Id(usize),
    /// `leader` (the node of the latest `leader-elected` observation), `follower` (a random live
    /// node that is not the leader), `any` (a random live node), or any other name R: the node
    /// of the latest observation of kind `R` or `R-elected` (e.g. `coordinator`).
    Role(String),
}

impl fmt::Display for NodeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeRef::Id(n) => write!(f, "n{n}"),
            NodeRef::Role(r) => f.write_str(r),
        }
    }
}

/// How many nodes a crash or pause hits when it names no ids: `nodes: minority|majority|all`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Count {
    /// The largest minority (1 of 3, 2 of 5).
    Minority,
    /// The smallest majority (2 of 3, 3 of 5).
    Majority,
    /// Every node (a power loss, for a crash).
    All,
}

/// The partition shapes a step can draw when it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Two random halves.
    Halves,
    /// A random majority and minority.
    Majority,
    /// One node (the step's `node`, or a random one) alone.
    Isolate,
    /// Two halves with one node (the step's `node`, or a random one) in both.
    Bridge,
    /// Each node reaches only its two ring neighbours: everyone sees a majority (of 5), no two
    /// see the same one.
    Ring,
}

pub(crate) const SHAPES: &[(&str, Shape)] = &[
    ("halves", Shape::Halves),
    ("majority", Shape::Majority),
    ("isolate", Shape::Isolate),
    ("bridge", Shape::Bridge),
    ("ring", Shape::Ring),
];

pub(crate) const COUNTS: &[(&str, Count)] = &[
    ("minority", Count::Minority),
    ("majority", Count::Majority),
    ("all", Count::All),
];

/// Which nodes a step hits when its fault does not name them: resolved when the step starts, so
/// `node: leader` hits whoever leads at that moment.
#[derive(Clone, Debug, PartialEq)]
pub enum Select {
    /// One node by role (crash, pause, clock-skew).
    Role(String),
    /// A random group of this size (crash, pause).
    Count(Count),
    /// A partition of this shape, around `node` where the shape has a centre.
    Shape(Shape, Option<NodeRef>),
}

impl fmt::Display for Select {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Select::Role(r) => write!(f, "node {r}"),
            Select::Count(c) => write!(f, "nodes {}", name_of(COUNTS, *c)),
            Select::Shape(s, None) => write!(f, "shape {}", name_of(SHAPES, *s)),
            Select::Shape(s, Some(n)) => write!(f, "shape {} around {n}", name_of(SHAPES, *s)),
        }
    }
}

/// An observation that starts a step: the `nth` observation of kind `kind` made at or after
/// the step's `at_ms`, plus `delay_ms`.
#[derive(Clone, Debug, PartialEq)]
pub struct After {
    /// The observation kind (e.g. `leader-elected`).
    pub kind: String,
    /// How long after that observation the step starts (ms).
    pub delay_ms: u64,
    /// Which occurrence, from 1.
    pub nth: u32,
}

/// One fault with its window, as written in schedules and reproducers.
///
/// ```
/// use faultline::schedule::{Fault, Step};
/// let s = Step::at(1000, Fault::Loss { rate: 0.5 }).lasting(200);
/// assert_eq!(s.end_ms(), Some(1200));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StepSpec", into = "StepSpec")]
pub struct Step {
    /// When the step starts; for a triggered step, when its trigger is armed.
    pub at_ms: u64,
    /// The fault; its node ids are placeholders while `select` is set.
    pub fault: Fault,
    /// How long the fault lasts; `None`: until the final phase.
    pub for_ms: Option<u64>,
    /// The observation that starts the step, if any.
    pub after: Option<After>,
    /// Nodes chosen when the step starts, if the fault does not name them.
    pub select: Option<Select>,
    /// How the step was resolved when it ran (recorded in reproducers, for people to read).
    pub trigger: Option<String>,
    /// Where the step was written, for error messages.
    pub source: Source,
}

/// The file and line a step was read from. Never compared: a step read from a file equals the
/// same step built in code.
#[derive(Clone, Debug, Default)]
pub struct Source(pub Option<(std::sync::Arc<str>, usize)>);

impl PartialEq for Source {
    fn eq(&self, _: &Source) -> bool {
        true
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some((file, line)) => write!(f, "{file}:{line}: "),
            None => Ok(()),
        }
    }
}

impl Step {
    /// A step starting at `at_ms` and lasting until the final phase.
    pub fn at(at_ms: u64, fault: Fault) -> Step {
        Step {
            at_ms,
            fault,
            for_ms: None,
            after: None,
            select: None,
            trigger: None,
            source: Source::default(),
        }
    }

    /// The same step, ending `for_ms` after it starts.
    pub fn lasting(mut self, for_ms: u64) -> Step {
        self.for_ms = Some(for_ms);
        self
    }

    /// When a timed step ends (a triggered step's end depends on when it fires).
    pub fn end_ms(&self) -> Option<u64> {
        match self.after {
            None => self.for_ms.map(|d| self.at_ms + d),
            Some(_) => None,
        }
    }
}

/// The flat YAML form of a step; `Step` is its validated form.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StepSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delay_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nth: Option<u32>,
    fault: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    groups: Option<Vec<Vec<usize>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shape: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    oneway: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    node: Option<NodeRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nodes: Option<NodesSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    torn: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    op: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mean_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dist: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    offset_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    drift: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exceed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    links: Option<Vec<[usize; 2]>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    latency_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client: Option<NodeRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    clients: Option<NodesSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    for_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trigger: Option<String>,
}

/// `nodes: [1, 2]` or `nodes: minority|majority|all`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum NodesSpec {
    Ids(Vec<usize>),
    Count(String),
}

fn need<T>(v: Option<T>, fault: &str, field: &str) -> Result<T, String> {
    v.ok_or_else(|| format!("fault `{fault}` needs the field `{field}`"))
}

fn rate(v: Option<f64>, fault: &str) -> Result<f64, String> {
    let r = need(v, fault, "rate")?;
    if !(0.0..=1.0).contains(&r) {
        return Err(format!(
            "fault `{fault}`: rate must be within 0..=1, got {r}"
        ));
    }
    Ok(r)
}

fn lookup<T: Copy>(table: &[(&str, T)], what: &str, v: &str) -> Result<T, String> {
    table
        .iter()
        .find(|(n, _)| *n == v)
        .map(|(_, x)| *x)
        .ok_or_else(|| {
            let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
            format!(
                "unknown {what} `{v}` (expected one of: {})",
                names.join(", ")
            )
        })
}

/// Which fields each fault accepts (beyond the timing fields every step has).
fn allowed_fields(fault: &str) -> &'static [&'static str] {
    match fault {
        "partition" => &["groups", "shape", "oneway", "node"],
        "crash" | "power-loss" => &["node", "nodes", "torn"],
        "disk-error" => &["node", "nodes", "op", "rate"],
        "pause" | "corrupt" | "misdirect" => &["node", "nodes"],
        "loss" | "duplicate" => &["rate", "links", "from", "to", "node"],
        "delay" => &["mean_ms", "dist", "links", "from", "to", "node"],
        "slow-link" => &["latency_ms", "links", "from", "to", "node"],
        "clock-skew" => &["node", "offset_ms", "drift", "exceed"],
        "client-crash" => &["client", "clients"],
        "client-partition" => &["client", "clients", "node", "nodes"],
        _ => &[],
    }
}

impl StepSpec {
    fn present_fields(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        let mut add = |present: bool, name| {
            if present {
                v.push(name)
            }
        };
        add(self.groups.is_some(), "groups");
        add(self.shape.is_some(), "shape");
        add(self.oneway.is_some(), "oneway");
        add(self.node.is_some(), "node");
        add(self.nodes.is_some(), "nodes");
        add(self.torn.is_some(), "torn");
        add(self.op.is_some(), "op");
        add(self.rate.is_some(), "rate");
        add(self.mean_ms.is_some(), "mean_ms");
        add(self.dist.is_some(), "dist");
        add(self.offset_ms.is_some(), "offset_ms");
        add(self.drift.is_some(), "drift");
        add(self.exceed.is_some(), "exceed");
        add(self.links.is_some(), "links");
        add(self.from.is_some(), "from");
        add(self.to.is_some(), "to");
        add(self.latency_ms.is_some(), "latency_ms");
        add(self.client.is_some(), "client");
        add(self.clients.is_some(), "clients");
        v
    }

    /// The links of a per-link fault: `links`, `from` + `to`, or `node` (id or role); `None`
    /// when it names none (the global form).
    fn link_set(&self, f: &str) -> Result<Option<(Links, Option<Select>)>, String> {
        let given = [
            self.links.is_some(),
            self.from.is_some() || self.to.is_some(),
            self.node.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(format!(
                "fault `{f}`: give one of `links`, `from`/`to` or `node`, not several"
            ));
        }
        if let Some(pairs) = &self.links {
            if pairs.is_empty() {
                return Err(format!("fault `{f}`: `links` must not be empty"));
            }
            if let Some([a, _]) = pairs.iter().find(|[a, b]| a == b) {
                return Err(format!(
                    "fault `{f}`: link [{a}, {a}] joins a node to itself"
                ));
            }
            return Ok(Some((Links::Pairs(pairs.clone()), None)));
        }
        match (self.from, self.to) {
            (Some(from), Some(to)) if from == to => {
                return Err(format!(
                    "fault `{f}`: `from` and `to` are the same node {from}"
                ))
            }
            (Some(from), Some(to)) => return Ok(Some((Links::OneWay { from, to }, None))),
            (Some(_), None) | (None, Some(_)) => {
                return Err(format!(
                    "fault `{f}`: `from` and `to` go together (one direction of one link)"
                ))
            }
            (None, None) => {}
        }
        Ok(match &self.node {
            Some(NodeRef::Id(n)) => Some((Links::Node(*n), None)),
            Some(NodeRef::Role(r)) => Some((Links::Node(0), Some(Select::Role(r.clone())))),
            None => None,
        })
    }

    /// The clients of a client fault: `client: N|any` or `clients: [..]|all`.
    fn client_set(&self, f: &str) -> Result<ClientSet, String> {
        match (&self.client, &self.clients) {
            (Some(_), Some(_)) => Err(format!(
                "fault `{f}`: give `client` or `clients`, not both"
            )),
            (Some(NodeRef::Id(c)), None) => Ok(ClientSet::Ids(vec![*c])),
            (Some(NodeRef::Role(r)), None) if r == "any" => Ok(ClientSet::Any),
            (Some(NodeRef::Role(r)), None) => Err(format!(
                "fault `{f}`: unknown client `{r}` (expected a client index such as 0, or `any`)"
            )),
            (None, Some(NodesSpec::Ids(ids))) => {
                if ids.is_empty() {
                    return Err(format!("fault `{f}`: `clients` must not be empty"));
                }
                let mut ids = ids.clone();
                ids.sort_unstable();
                ids.dedup();
                Ok(ClientSet::Ids(ids))
            }
            (None, Some(NodesSpec::Count(c))) if c == "all" => Ok(ClientSet::All),
            (None, Some(NodesSpec::Count(c))) => Err(format!(
                "fault `{f}`: unknown clients `{c}` (expected a list of client indices, or `all`)"
            )),
            (None, None) => Err(format!(
                "fault `{f}` needs the field `client` (an index or `any`) or `clients` (a list or `all`)"
            )),
        }
    }

    /// The nodes of a crash or pause: explicit ids, a count, or one node by id or role.
    fn node_set(&self, f: &str) -> Result<(Vec<usize>, Option<Select>), String> {
        match (&self.node, &self.nodes) {
            (Some(_), Some(_)) => Err(format!("fault `{f}`: give `node` or `nodes`, not both")),
            (Some(NodeRef::Id(n)), None) => Ok((vec![*n], None)),
            (Some(NodeRef::Role(r)), None) => Ok((vec![], Some(Select::Role(r.clone())))),
            (None, Some(NodesSpec::Ids(ids))) => {
                if ids.is_empty() {
                    return Err(format!("fault `{f}`: `nodes` must not be empty"));
                }
                let mut ids = ids.clone();
                ids.sort_unstable();
                ids.dedup();
                Ok((ids, None))
            }
            (None, Some(NodesSpec::Count(c))) => Ok((
                vec![],
                Some(Select::Count(lookup(COUNTS, "node count", c)?)),
            )),
            (None, None) => Err(format!("fault `{f}` needs the field `node` or `nodes`")),
        }
    }
}

impl TryFrom<StepSpec> for Step {
    type Error = String;
    fn try_from(s: StepSpec) -> Result<Self, String> {
        let f = s.fault.as_str();
        if !FAULT_NAMES.contains(&f) {
            return Err(format!(
                "unknown fault `{f}` (expected one of: {})",
                FAULT_NAMES.join(", ")
            ));
        }
        let allowed = allowed_fields(f);
        if let Some(bad) = s
            .present_fields()
            .into_iter()
            .find(|x| !allowed.contains(x))
        {
            return Err(format!(
                "fault `{f}` does not take the field `{bad}` (it takes: {})",
                allowed.join(", ")
            ));
        }
        let mut select = None;
        let fault = match f {
            "partition" => match (&s.groups, &s.shape) {
                (Some(_), Some(_)) => return Err("partition: give `groups` or `shape`, not both".into()),
                (Some(groups), None) => {
                    if s.node.is_some() {
                        return Err("partition: `node` goes with `shape`, not `groups`".into());
                    }
                    if groups.len() < 2 || groups.iter().any(|g| g.is_empty()) {
                        return Err("partition needs at least two non-empty groups".into());
                    }
                    Fault::Partition {
                        groups: groups.clone(),
                        oneway: s.oneway.unwrap_or(false),
                    }
                }
                (None, Some(shape)) => {
                    let shape = lookup(SHAPES, "partition shape", shape)?;
                    if s.node.is_some() && !matches!(shape, Shape::Isolate | Shape::Bridge) {
                        return Err("partition: only the `isolate` and `bridge` shapes take a `node`".into());
                    }
                    select = Some(Select::Shape(shape, s.node.clone()));
                    Fault::Partition {
                        groups: vec![],
                        oneway: s.oneway.unwrap_or(false),
                    }
                }
                (None, None) => {
                    return Err("fault `partition` needs `groups: [[..], [..]]` or `shape: halves|majority|isolate|bridge|ring`".into())
                }
            },
            // `crash` with `torn: true` is the spelling of a torn power loss from before the two
            // kinds existed (a process crash tears nothing): it stays valid and means that.
            "crash" | "power-loss" => {
                let (nodes, sel) = s.node_set(f)?;
                select = sel;
                let power = f == "power-loss" || s.torn == Some(true);
                Fault::Crash {
                    nodes,
                    power,
                    torn: power && s.torn.unwrap_or(true),
                }
            }
            "disk-error" => {
                let (nodes, sel) = s.node_set(f)?;
                select = sel;
                let op = need(s.op.as_deref(), f, "op")?;
                Fault::DiskError {
                    nodes,
                    op: lookup(DISK_OPS, "disk op", op)?,
                    rate: rate(s.rate, f)?,
                }
            }
            "pause" => {
                let (nodes, sel) = s.node_set(f)?;
                select = sel;
                Fault::Pause { nodes }
            }
            "client-crash" => Fault::ClientCrash {
                clients: s.client_set(f)?,
            },
            "client-partition" => {
                let clients = s.client_set(f)?;
                let (nodes, sel) = s.node_set(f)?;
                select = sel;
                Fault::ClientPartition { clients, nodes }
            }
            "corrupt" | "misdirect" => {
                if s.for_ms.is_some() {
                    return Err(format!(
                        "fault `{f}` strikes once and has no window: it takes no `for_ms`"
                    ));
                }
                let (nodes, sel) = s.node_set(f)?;
                select = sel;
                if f == "corrupt" {
                    Fault::Corrupt { nodes }
                } else {
                    Fault::Misdirect { nodes }
                }
            }
            "loss" | "duplicate" | "delay" | "slow-link" => {
                let global = match f {
                    "loss" => Fault::Loss {
                        rate: rate(s.rate, f)?,
                    },
                    "duplicate" => Fault::Duplicate {
                        rate: rate(s.rate, f)?,
                    },
                    "delay" => {
                        let mean_ms = need(s.mean_ms, f, "mean_ms")?;
                        if !(mean_ms >= 0.0 && mean_ms.is_finite()) {
                            return Err(format!("delay: mean_ms must be >= 0, got {mean_ms}"));
                        }
                        let uniform = match s.dist.as_deref() {
                            None | Some("exponential") => false,
                            Some("uniform") => true,
                            Some(d) => {
                                return Err(format!(
                                    "delay: unknown dist `{d}` (expected exponential or uniform)"
                                ))
                            }
                        };
                        Fault::Delay { mean_ms, uniform }
                    }
                    _ => {
                        let ms = need(s.latency_ms, f, "latency_ms")?;
                        if !(ms >= 0.0 && ms.is_finite()) {
                            return Err(format!("slow-link: latency_ms must be >= 0, got {ms}"));
                        }
                        Fault::Link {
                            links: Links::Node(0),
                            effect: LinkEffect::Slow(ms),
                        }
                    }
                };
                match (s.link_set(f)?, global) {
                    (None, Fault::Link { .. }) => {
                        return Err(
                            "fault `slow-link` needs `links: [[a, b], ..]`, `from`/`to` or `node`"
                                .into(),
                        )
                    }
                    (None, global) => global,
                    (Some((links, sel)), global) => {
                        select = sel;
                        let effect = match global {
                            Fault::Loss { rate } => LinkEffect::Loss(rate),
                            Fault::Duplicate { rate } => LinkEffect::Duplicate(rate),
                            Fault::Delay { mean_ms, uniform } => LinkEffect::Delay { mean_ms, uniform },
                            Fault::Link { effect, .. } => effect,
                            _ => unreachable!("only network faults reach here"),
                        };
                        Fault::Link { links, effect }
                    }
                }
            }
            _ => {
                let drift = s.drift.unwrap_or(0.0);
                if !drift.is_finite() || drift <= -1000.0 {
                    return Err(format!(
                        "clock-skew: drift must be a finite number of ms per s above -1000, got {drift}"
                    ));
                }
                let node = match need(s.node.clone(), f, "node")? {
                    NodeRef::Id(n) => n,
                    NodeRef::Role(r) => {
                        select = Some(Select::Role(r));
                        0
                    }
                };
                Fault::ClockSkew {
                    node,
                    offset_ms: s.offset_ms.unwrap_or(0),
                    drift,
                    exceed: s.exceed.unwrap_or(false),
                }
            }
        };
        let after = match s.after {
            Some(kind) if kind.trim().is_empty() => {
                return Err("`after` needs an observation kind".into())
            }
            Some(kind) => Some(After {
                kind,
                delay_ms: s.delay_ms.unwrap_or(0),
                nth: match s.nth {
                    Some(0) => return Err("`nth` counts from 1".into()),
                    n => n.unwrap_or(1),
                },
            }),
            None => {
                if s.delay_ms.is_some() || s.nth.is_some() {
                    return Err("`delay_ms` and `nth` go with `after: OBSERVATION`".into());
                }
                None
            }
        };
        for (name, v) in [
            ("at_ms", s.at_ms),
            ("for_ms", s.for_ms),
            ("delay_ms", s.delay_ms),
        ] {
            if v.is_some_and(|v| v > MAX_MS) {
                return Err(format!("`{name}` must be at most {MAX_MS} (about 11 days)"));
            }
        }
        let at_ms = match (s.at_ms, &after) {
            (Some(t), _) => t,
            (None, Some(_)) => 0,
            (None, None) => {
                return Err("a step needs `at_ms` (a time) or `after` (an observation)".into())
            }
        };
        Ok(Step {
            at_ms,
            fault,
            for_ms: s.for_ms,
            after,
            select,
            trigger: s.trigger,
            source: Source::default(),
        })
    }
}

fn name_of<T: PartialEq>(table: &[(&'static str, T)], v: T) -> &'static str {
    table.iter().find(|(_, x)| *x == v).map_or("?", |(n, _)| n)
}

impl From<Step> for StepSpec {
    fn from(s: Step) -> Self {
        let mut spec = StepSpec {
            at_ms: Some(s.at_ms),
            fault: s.fault.kind().to_string(),
            for_ms: s.for_ms,
            trigger: s.trigger,
            ..StepSpec::default()
        };
        if let Some(a) = s.after {
            spec.after = Some(a.kind);
            spec.delay_ms = (a.delay_ms != 0).then_some(a.delay_ms);
            spec.nth = (a.nth != 1).then_some(a.nth);
        }
        let one_or_many = |spec: &mut StepSpec, nodes: Vec<usize>| {
            if nodes.len() == 1 {
                spec.node = Some(NodeRef::Id(nodes[0]));
            } else {
                spec.nodes = Some(NodesSpec::Ids(nodes));
            }
        };
        match (s.fault, s.select) {
            (Fault::Partition { groups, oneway }, sel) => {
                match sel {
                    Some(Select::Shape(shape, node)) => {
                        spec.shape = Some(name_of(SHAPES, shape).to_string());
                        spec.node = node;
                    }
                    _ => spec.groups = Some(groups),
                }
                spec.oneway = oneway.then_some(true);
            }
            (Fault::Crash { nodes, power, torn }, sel) => {
                match sel {
                    Some(Select::Role(r)) => spec.node = Some(NodeRef::Role(r)),
                    Some(Select::Count(c)) => {
                        spec.nodes = Some(NodesSpec::Count(name_of(COUNTS, c).to_string()))
                    }
                    _ => one_or_many(&mut spec, nodes),
                }
                spec.torn = (power && !torn).then_some(false);
            }
            (Fault::DiskError { nodes, op, rate }, sel) => {
                match sel {
                    Some(Select::Role(r)) => spec.node = Some(NodeRef::Role(r)),
                    Some(Select::Count(c)) => {
                        spec.nodes = Some(NodesSpec::Count(name_of(COUNTS, c).to_string()))
                    }
                    _ => one_or_many(&mut spec, nodes),
                }
                spec.op = Some(op.name().to_string());
                spec.rate = Some(rate);
            }
            (
                Fault::Pause { nodes } | Fault::Corrupt { nodes } | Fault::Misdirect { nodes },
                sel,
            ) => match sel {
                Some(Select::Role(r)) => spec.node = Some(NodeRef::Role(r)),
                Some(Select::Count(c)) => {
                    spec.nodes = Some(NodesSpec::Count(name_of(COUNTS, c).to_string()))
                }
                _ => one_or_many(&mut spec, nodes),
            },
            (Fault::Loss { rate } | Fault::Duplicate { rate }, _) => spec.rate = Some(rate),
            (Fault::Delay { mean_ms, uniform }, _) => {
                spec.mean_ms = Some(mean_ms);
                spec.dist = uniform.then(|| "uniform".to_string());
            }
            (Fault::Link { links, effect }, sel) => {
                match (links, sel) {
                    (_, Some(Select::Role(r))) => spec.node = Some(NodeRef::Role(r)),
                    (Links::Pairs(p), _) => spec.links = Some(p),
                    (Links::OneWay { from, to }, _) => {
                        spec.from = Some(from);
                        spec.to = Some(to);
                    }
                    (Links::Node(n), _) => spec.node = Some(NodeRef::Id(n)),
                }
                match effect {
                    LinkEffect::Loss(r) | LinkEffect::Duplicate(r) => spec.rate = Some(r),
                    LinkEffect::Delay { mean_ms, uniform } => {
                        spec.mean_ms = Some(mean_ms);
                        spec.dist = uniform.then(|| "uniform".to_string());
                    }
                    LinkEffect::Slow(ms) => spec.latency_ms = Some(ms),
                }
            }
            (Fault::ClientCrash { clients }, _) => client_spec(&mut spec, clients),
            (Fault::ClientPartition { clients, nodes }, sel) => {
                client_spec(&mut spec, clients);
                match sel {
                    Some(Select::Role(r)) => spec.node = Some(NodeRef::Role(r)),
                    Some(Select::Count(c)) => {
                        spec.nodes = Some(NodesSpec::Count(name_of(COUNTS, c).to_string()))
                    }
                    _ => one_or_many(&mut spec, nodes),
                }
            }
            (
                Fault::ClockSkew {
                    node,
                    offset_ms,
                    drift,
                    exceed,
                },
                sel,
            ) => {
                spec.node = Some(match sel {
                    Some(Select::Role(r)) => NodeRef::Role(r),
                    _ => NodeRef::Id(node),
                });
                spec.offset_ms = Some(offset_ms);
                spec.drift = (drift != 0.0).then_some(drift);
                spec.exceed = exceed.then_some(true);
            }
        }
        spec
    }
}

/// Writes a client set back as `client:` or `clients:`.
fn client_spec(spec: &mut StepSpec, clients: ClientSet) {
    match clients {
        ClientSet::Ids(ids) if ids.len() == 1 => spec.client = Some(NodeRef::Id(ids[0])),
        ClientSet::Ids(ids) => spec.clients = Some(NodesSpec::Ids(ids)),
        ClientSet::Any => spec.client = Some(NodeRef::Role("any".into())),
        ClientSet::All => spec.clients = Some(NodesSpec::Count("all".into())),
    }
}

/// The longest time a schedule may name, so that times in nanoseconds never overflow.
pub const MAX_MS: u64 = 1_000_000_000;

/// The disk operations a `disk-error` step can name.
const DISK_OPS: &[(&str, crate::DiskOp)] = &[
    ("fsync", crate::DiskOp::Fsync),
    ("write", crate::DiskOp::Write),
    ("read", crate::DiskOp::Read),
];

/// The fault names a step can use.
pub const FAULT_NAMES: &[&str] = &[
    "partition",
    "crash",
    "power-loss",
    "disk-error",
    "corrupt",
    "misdirect",
    "pause",
    "loss",
    "duplicate",
    "delay",
    "slow-link",
    "clock-skew",
    "client-crash",
    "client-partition",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<Step, String> {
        let spec: StepSpec = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
        Step::try_from(spec)
    }

    #[test]
    fn roles_shapes_and_triggers_round_trip() {
        for yaml in [
            "{after: leader-elected, delay_ms: 50, fault: crash, node: leader, for_ms: 500}",
            "{at_ms: 10, fault: partition, shape: isolate, node: leader, for_ms: 100}",
            "{at_ms: 10, fault: partition, shape: bridge}",
            "{at_ms: 10, fault: crash, nodes: all, torn: true, for_ms: 300}",
            "{at_ms: 10, fault: pause, nodes: [1, 3], for_ms: 300}",
            "{at_ms: 10, fault: delay, mean_ms: 20, dist: uniform, for_ms: 300}",
            "{at_ms: 10, fault: clock-skew, node: 2, offset_ms: -300, drift: 25}",
            "{after: prepared, nth: 2, fault: crash, node: coordinator}",
            "{at_ms: 10, fault: loss, rate: 0.5, links: [[0, 1], [2, 3]], for_ms: 300}",
            "{at_ms: 10, fault: duplicate, rate: 0.5, from: 1, to: 2}",
            "{at_ms: 10, fault: delay, mean_ms: 40, node: 2, for_ms: 300}",
            "{at_ms: 10, fault: delay, mean_ms: 40, dist: uniform, node: leader}",
            "{at_ms: 10, fault: slow-link, latency_ms: 80, from: 0, to: 4}",
            "{at_ms: 10, fault: client-crash, client: 1}",
            "{at_ms: 10, fault: client-crash, client: any, for_ms: 200}",
            "{at_ms: 10, fault: client-crash, clients: [0, 2]}",
            "{at_ms: 10, fault: client-partition, clients: all, nodes: [0, 1], for_ms: 300}",
            "{at_ms: 10, fault: client-partition, client: 0, node: leader, for_ms: 300}",
            "{at_ms: 10, fault: client-partition, client: any, nodes: majority}",
        ] {
            let step = parse(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
            let text = serde_yaml::to_string(&step).unwrap();
            let back: Step = serde_yaml::from_str(&text).unwrap();
            assert_eq!(step, back, "{yaml} -> {text}");
        }
    }

    #[test]
    fn bad_steps_say_what_is_wrong() {
        for (yaml, want) in [
            ("{fault: crash, node: 1}", "needs `at_ms`"),
            ("{at_ms: 1, fault: crash}", "`node` or `nodes`"),
            (
                "{at_ms: 1, fault: crash, nodes: some}",
                "unknown node count `some`",
            ),
            (
                "{at_ms: 1, fault: partition, shape: star}",
                "unknown partition shape",
            ),
            (
                "{at_ms: 1, fault: partition, shape: ring, node: 1}",
                "only the `isolate`",
            ),
            (
                "{at_ms: 1, fault: loss, rate: 0.1, oneway: true}",
                "does not take the field `oneway`",
            ),
            (
                "{at_ms: 1, fault: loss, rate: 0.1, node: 1, links: [[0, 1]]}",
                "not several",
            ),
            ("{at_ms: 1, fault: loss, rate: 0.1, from: 1}", "go together"),
            (
                "{at_ms: 1, fault: loss, rate: 0.1, from: 1, to: 1}",
                "the same node",
            ),
            (
                "{at_ms: 1, fault: delay, mean_ms: 3, links: []}",
                "must not be empty",
            ),
            (
                "{at_ms: 1, fault: delay, mean_ms: 3, links: [[2, 2]]}",
                "to itself",
            ),
            (
                "{at_ms: 1, fault: slow-link, latency_ms: 3}",
                "needs `links",
            ),
            (
                "{at_ms: 1, fault: slow-link, node: 1}",
                "needs the field `latency_ms`",
            ),
            (
                "{at_ms: 1, fault: slow-link, node: 1, latency_ms: -1}",
                "must be >= 0",
            ),
            (
                "{at_ms: 1, fault: crash, node: 1, delay_ms: 4}",
                "go with `after",
            ),
            ("{after: x, nth: 0, fault: crash, node: 1}", "counts from 1"),
            (
                "{at_ms: 1, fault: delay, mean_ms: 3, dist: pareto}",
                "unknown dist",
            ),
            (
                "{at_ms: 1, fault: clock-skew, node: 1, drift: -2000}",
                "drift must be",
            ),
            (
                "{at_ms: 1, fault: client-crash}",
                "needs the field `client`",
            ),
            (
                "{at_ms: 1, fault: client-crash, client: 1, clients: [2]}",
                "not both",
            ),
            (
                "{at_ms: 1, fault: client-crash, client: leader}",
                "unknown client `leader`",
            ),
            (
                "{at_ms: 1, fault: client-crash, clients: []}",
                "must not be empty",
            ),
            (
                "{at_ms: 1, fault: client-partition, client: 0}",
                "`node` or `nodes`",
            ),
            (
                "{at_ms: 1, fault: client-crash, client: 0, rate: 0.5}",
                "does not take the field `rate`",
            ),
        ] {
            let e = parse(yaml).unwrap_err();
            assert!(e.contains(want), "{yaml}: {e}");
        }
    }

    #[test]
    fn overlapping_groups_cut_only_pairs_no_group_holds() {
        let bridge = vec![vec![0, 1, 2], vec![2, 3, 4]];
        assert!(Fault::cuts(&bridge, false, 0, 3));
        assert!(!Fault::cuts(&bridge, false, 0, 2));
        assert!(!Fault::cuts(&bridge, false, 2, 4));
        let ring: Vec<Vec<usize>> = (0..5).map(|i| vec![i, (i + 1) % 5]).collect();
        assert!(!Fault::cuts(&ring, false, 0, 4));
        assert!(Fault::cuts(&ring, false, 0, 2));
        let oneway = vec![vec![0], vec![1, 2]];
        assert!(Fault::cuts(&oneway, true, 0, 1));
        assert!(!Fault::cuts(&oneway, true, 1, 0));
        // Nodes in no group are unaffected.
        assert!(!Fault::cuts(&oneway, false, 0, 4));
    }
}
