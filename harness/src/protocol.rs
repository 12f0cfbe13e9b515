//! The trait a protocol author implements (its plain data lives in [`crate::data`] and is
//! re-exported here).
use crate::checker::Checker;
use crate::ctx::{Message, NodeCtx};
use crate::workload::Workload;
use serde_json::Value;
use std::future::Future;

pub use crate::data::{
    bug_flag, buggify_flag, noise_seed, Cap, Invocation, ModelConfig, Outcome, Roles, WireCheck,
    DEFAULT_CHECK_BUDGET, DEFAULT_LIVENESS_MS,
};
pub use crate::wire::WireCodec;

/// A distributed protocol under test: node code, the client side of one operation, and what it
/// promises.
///
/// Nodes share nothing: the model's factory builds a fresh value for every node incarnation
/// (each start and each restart after a crash), for every client and for the final reader, so
/// what a node keeps in `self` dies with it, as a real process's memory does; only its
/// [`Disk`](crate::Disk) survives a crash. A value is used on one thread only, so `Cell` and
/// `RefCell` are fine in it (no `Send`/`Sync` bound).
///
/// ```no_run
/// use faultline::prelude::*;
/// use serde_json::json;
/// use std::time::Duration;
///
/// /// A single-node register: trivially linearizable.
/// struct OneNode;
/// #[derive(Clone, Debug)]
/// enum Wire { Req(u64, Invocation), Resp(u64, serde_json::Value) }
///
/// impl Protocol for OneNode {
///     type Msg = Wire;
///     fn cap(&self) -> Cap { Cap::CP }
///     async fn node(&self, ctx: NodeCtx<Wire>) {
///         let mut value = serde_json::Value::Null;
///         loop {
///             let (from, msg) = ctx.recv().await;
///             if let Wire::Req(id, op) = msg {
///                 if op.f == "write" { value = op.value.clone(); }
///                 let ret = if op.f == "read" { value.clone() } else { json!(null) };
///                 ctx.send(from, Wire::Resp(id, ret));
///             }
///         }
///     }
///     async fn call(&self, c: &ClientCtx<Wire>, id: u64, op: &Invocation) -> Outcome {
///         c.send(0, Wire::Req(id, op.clone()));
///         while let Some((_, msg)) = c.recv_timeout(Duration::from_millis(500)).await {
///             if let Wire::Resp(rid, v) = msg { if rid == id { return Outcome::Ok(v) } }
///         }
///         Outcome::Unknown("timeout".into())
///     }
/// }
/// ```
pub trait Protocol: 'static {
    /// The messages nodes and clients exchange (any `Clone + Debug` type).
    type Msg: Message;

    /// The CAP choice this protocol declares.
    fn cap(&self) -> Cap;

    /// The server loop of node `ctx.id()`, on this node incarnation's own value: after a crash
    /// the node restarts on a fresh value from the model's factory, with only its disk left.
    fn node(&self, ctx: NodeCtx<Self::Msg>) -> impl Future<Output = ()>;

    /// Performs one operation from a client node, on that client's own value (which lives for
    /// all of the client's operations: keep a leader guess or a cached map in it, with `Cell` or
    /// `RefCell`). `id` is unique across the run, so replies to earlier, abandoned requests can
    /// be told apart.
    ///
    /// The network duplicates messages (the `duplicate` fault), requests included, and a
    /// retrying client resends them: a server must apply each request id at most once — keep
    /// the ids it applied (on disk, fsynced with the effect, so a crash does not forget them)
    /// and answer a repeated one with its recorded answer.
    ///
    /// What it returns in [`Outcome::Ok`] is the operation's recorded result, whatever the
    /// operation (docs/reference.md, "History").
    fn call(
        &self,
        client: &ClientCtx<Self::Msg>,
        id: u64,
        op: &Invocation,
    ) -> impl Future<Output = Outcome>;

    /// How many server nodes a run has when the user asks for `--nodes nodes`. Default: exactly
    /// that. A protocol with a node on top of the ones `--nodes` counts (2PC's coordinator next
    /// to its participants, docs/reference.md) adds it here; node ids are then `0..servers(nodes)` and
    /// schedules pick their victims among all of them.
    fn servers(&self, nodes: usize) -> usize {
        nodes
    }

    /// How many server nodes may have their storage corrupted in one run (the `corrupt` and
    /// `misdirect` faults). Default: 0, no corruption at all.
    ///
    /// The rule the nemesis enforces, whatever the schedule asks: over a whole run,
    /// - the set of distinct nodes ever struck by `corrupt` or `misdirect` never has more than
    ///   `corruption_budget()` members, and
    /// - each node is struck at most once: one strike is one damaged sector (1 to 8 flipped bits
    ///   in one 512-byte sector of one file holding synced data) or one misplaced write (the
    ///   node's next `File::write_at`/`append` lands at a sector-aligned shift in the same file
    ///   or in another of its files, the intended place keeping its old bytes).
    ///
    /// A strike the rule forbids is skipped: it does nothing, it is not counted as an applied
    /// fault, and the run's fault log (`skip`), timeline and reproducer say it was skipped and
    /// why. A `corrupt` strike on a node with no synced data is skipped too and costs nothing.
    /// Only the `corrupt` and `misdirect` faults count: crashes, power losses and `disk-error`
    /// faults are not corruption and have no budget.
    ///
    /// What to declare: the largest number of nodes whose stored data the protocol can lose one
    /// piece of without losing or inventing acknowledged data. A replicated protocol that
    /// acknowledges only what a majority of its `n` servers holds durably declares the largest
    /// minority, `(n - 1) / 2`: every acknowledged record then keeps an intact copy on some
    /// node of every majority, so a correct protocol that detects the damage (a checksum) and
    /// repairs it from its peers survives, and any failure is a real bug. A protocol that keeps a
    /// single copy of acknowledged data (one primary's disk, a client-facing log with no
    /// replica) declares 0: damaging its only copy would be a false alarm.
    ///
    /// ```
    /// use faultline::prelude::*;
    ///
    /// /// A majority-replicated log of `n` servers.
    /// struct Replicated { n: usize }
    /// impl Protocol for Replicated {
    ///     type Msg = ();
    ///     fn cap(&self) -> Cap { Cap::CP }
    ///     // Every acknowledged entry is durable on a majority: a minority may be damaged.
    ///     fn corruption_budget(&self) -> usize { (self.n - 1) / 2 }
    ///     async fn node(&self, _: NodeCtx<()>) {}
    ///     async fn call(&self, _: &ClientCtx<()>, _: u64, _: &Invocation) -> Outcome {
    ///         Outcome::Fail("unimplemented".into())
    ///     }
    /// }
    /// assert_eq!(Replicated { n: 5 }.corruption_budget(), 2);
    /// assert_eq!(Replicated { n: 3 }.corruption_budget(), 1);
    /// ```
    fn corruption_budget(&self) -> usize {
        0
    }

    /// Ordered links (TCP-like), when `Some(reset)`: messages on each directed link arrive in send
    /// order (delay keeps order; loss and duplication windows do not act inside a connection, as
    /// TCP hides them), and a connection broken by a partition starting between two nodes, or by
    /// either end crashing, is reset: its messages in flight are dropped and each live end
    /// receives `reset` as a message from the other (a crashed node restarts with no connection).
    /// Default `None`: every message is delayed independently (reordering is possible).
    ///
    /// ```
    /// # use faultline::prelude::*;
    /// #[derive(Clone, Debug)]
    /// enum Wire { Data(u64), Reset }
    /// struct Tcp;
    /// impl Protocol for Tcp {
    ///     type Msg = Wire;
    ///     fn cap(&self) -> Cap { Cap::CP }
    ///     fn ordered_links(&self) -> Option<Wire> { Some(Wire::Reset) }
    ///     async fn node(&self, _: NodeCtx<Wire>) {}
    ///     async fn call(&self, _: &ClientCtx<Wire>, _: u64, _: &Invocation) -> Outcome {
    ///         Outcome::Fail("unimplemented".into())
    ///     }
    /// }
    /// assert!(Tcp.ordered_links().is_some());
    /// ```
    fn ordered_links(&self) -> Option<Self::Msg> {
        None
    }

    /// Whether `msg` travels on its link's ordered connection, when links are ordered
    /// ([`Protocol::ordered_links`] is `Some`; otherwise never consulted). Default: every
    /// message. A message for which it returns false is a datagram beside the connection: delayed
    /// independently (it may overtake or be overtaken), subject to loss and duplication windows,
    /// and untouched by a connection reset (one already in flight is still delivered). Must
    /// depend on the message alone.
    ///
    /// ```
    /// # use faultline::prelude::*;
    /// #[derive(Clone, Debug)]
    /// enum Wire { Append(u64), Heartbeat, Reset }
    /// struct Mixed;
    /// impl Protocol for Mixed {
    ///     type Msg = Wire;
    ///     fn cap(&self) -> Cap { Cap::CP }
    ///     fn ordered_links(&self) -> Option<Wire> { Some(Wire::Reset) }
    ///     // Log appends need TCP's order; heartbeats go as datagrams.
    ///     fn ordered(&self, msg: &Wire) -> bool { !matches!(msg, Wire::Heartbeat) }
    ///     async fn node(&self, _: NodeCtx<Wire>) {}
    ///     async fn call(&self, _: &ClientCtx<Wire>, _: u64, _: &Invocation) -> Outcome {
    ///         Outcome::Fail("unimplemented".into())
    ///     }
    /// }
    /// assert!(Mixed.ordered(&Wire::Append(1)) && !Mixed.ordered(&Wire::Heartbeat));
    /// ```
    fn ordered(&self, msg: &Self::Msg) -> bool {
        let _ = msg;
        true
    }

    /// The codec the wire check (`--wire serde`, [`crate::wire`]) sends this protocol's
    /// messages through. Default `None`: the protocol declares no wire codec, and a run asking
    /// for the check is refused (exit 2). A protocol whose messages are `Serialize +
    /// DeserializeOwned` opts in with one line:
    ///
    /// ```
    /// use faultline::prelude::*;
    /// use faultline::protocol::WireCodec;
    /// #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
    /// enum Wire { Put(String, u64) }
    /// struct Kv;
    /// impl Protocol for Kv {
    ///     type Msg = Wire;
    ///     fn cap(&self) -> Cap { Cap::CP }
    ///     fn wire_codec(&self) -> Option<WireCodec<Wire>> { Some(WireCodec::serde()) }
    ///     async fn node(&self, _: NodeCtx<Wire>) {}
    ///     async fn call(&self, _: &ClientCtx<Wire>, _: u64, _: &Invocation) -> Outcome {
    ///         Outcome::Fail("unimplemented".into())
    ///     }
    /// }
    /// assert_eq!(Kv.wire_codec().unwrap().name(), "serde_json");
    /// ```
    fn wire_codec(&self) -> Option<WireCodec<Self::Msg>> {
        None
    }

    /// The clock drift this protocol tolerates, as a fraction of true time (0.2: a node's clock
    /// may run up to 20% fast or slow). The nemesis clamps every `clock-skew` window's drift
    /// to it, unless the step says `exceed: true`; a protocol may rely on the bound (a lease
    /// shortened by it). Default: no declared bound (infinity), every drift applied as written.
    /// Must not be negative or NaN.
    ///
    /// ```
    /// use faultline::prelude::*;
    /// struct Leased;
    /// impl Protocol for Leased {
    ///     type Msg = ();
    ///     fn cap(&self) -> Cap { Cap::CP }
    ///     // Leases are shortened by 5%: clocks may drift at most that much.
    ///     fn max_drift(&self) -> f64 { 0.05 }
    ///     async fn node(&self, _: NodeCtx<()>) {}
    ///     async fn call(&self, _: &ClientCtx<()>, _: u64, _: &Invocation) -> Outcome {
    ///         Outcome::Fail("unimplemented".into())
    ///     }
    /// }
    /// assert_eq!(Leased.max_drift(), 0.05);
    /// ```
    fn max_drift(&self) -> f64 {
        f64::INFINITY
    }

    /// The operations clients issue. Default: a register per key (read / write).
    fn workload(&self) -> Workload {
        Workload::registers()
    }

    /// Checker names whose findings fail the run (the declared guarantees). Default:
    /// [`standard_guarantees`] of the declared CAP choice.
    fn guarantees(&self) -> Vec<&'static str> {
        standard_guarantees(self.cap())
    }

    /// The [buggify](crate::NodeCtx::buggify) points the protocol's code may reach, each name
    /// once: `faultline list` shows them, and reaching a point not named here fails the run
    /// (a panic naming the point), so the list never lies. Default: none.
    ///
    /// ```
    /// use faultline::prelude::*;
    /// struct Store;
    /// impl Protocol for Store {
    ///     type Msg = ();
    ///     fn cap(&self) -> Cap { Cap::CP }
    ///     fn buggify_points(&self) -> &'static [&'static str] { &["slow-fsync"] }
    ///     async fn node(&self, ctx: NodeCtx<()>) {
    ///         if ctx.buggify("slow-fsync") {
    ///             ctx.sleep(std::time::Duration::from_millis(200)).await;
    ///         }
    ///     }
    ///     async fn call(&self, _: &ClientCtx<()>, _: u64, _: &Invocation) -> Outcome {
    ///         Outcome::Fail("none".into())
    ///     }
    /// }
    /// assert_eq!(Store.buggify_points(), ["slow-fsync"]);
    /// ```
    fn buggify_points(&self) -> &'static [&'static str] {
        &[]
    }

    /// The standard checkers that judge a run of this protocol. Default:
    /// [`standard_kv_checkers`](crate::checker::standard_kv_checkers) (linearizability,
    /// lost-write, cap, convergence, ...; each judges only what the history holds).
    ///
    /// **To add a checker, override [`Protocol::extra_checkers`], not this**: a run is judged by
    /// `checkers()` followed by `extra_checkers()`, so adding there keeps the standard set.
    /// Override `checkers` only to *replace* the standard set (e.g. `vec![]` for a protocol
    /// whose history no standard checker understands); what you return is then all that runs,
    /// besides your extra checkers and the harness's own (`progress`, `liveness`).
    fn checkers(&self) -> Vec<Box<dyn Checker>> {
        crate::checker::standard_kv_checkers()
    }

    /// Checkers run on top of [`Protocol::checkers`] (default: none). Override this to add
    /// your own checker to the standard ones; name it in [`Protocol::guarantees`] for its
    /// findings to fail the run.
    ///
    /// ```
    /// use faultline::prelude::*;
    /// use faultline::recording::Recording;
    ///
    /// /// Fails when no operation of the run succeeded on key `k0`.
    /// struct TouchesK0;
    /// impl Checker for TouchesK0 {
    ///     fn name(&self) -> &'static str { "touches-k0" }
    ///     fn check(&self, rec: &Recording) -> Vec<Finding> {
    ///         let hit = rec.history.events.iter().any(|e| e.key.as_deref() == Some("k0"));
    ///         if hit { vec![] } else {
    ///             vec![Finding::new("touches-k0", FindingKind::Safety, "k0 never touched")]
    ///         }
    ///     }
    /// }
    ///
    /// struct MyKv;
    /// impl Protocol for MyKv {
    ///     type Msg = ();
    ///     fn cap(&self) -> Cap { Cap::CP }
    ///     fn guarantees(&self) -> Vec<&'static str> {
    ///         let mut g = faultline::protocol::standard_guarantees(Cap::CP);
    ///         g.push("touches-k0");
    ///         g
    ///     }
    ///     fn extra_checkers(&self) -> Vec<Box<dyn Checker>> { vec![Box::new(TouchesK0)] }
    ///     async fn node(&self, _: NodeCtx<()>) {}
    ///     async fn call(&self, _: &ClientCtx<()>, _: u64, _: &Invocation) -> Outcome {
    ///         Outcome::Fail("unimplemented".into())
    ///     }
    /// }
    /// assert_eq!(MyKv.extra_checkers().len(), 1);
    /// ```
    fn extra_checkers(&self) -> Vec<Box<dyn Checker>> {
        vec![]
    }

    /// The roles this protocol's nodes take, which role-aimed fault steps target (`node:
    /// leader`, swarm's `crash-leader`, `isolate-leader`, `pause-leader`, `leader-churn`, and
    /// `power-loss` timed after an election). Default: [`Roles::NONE`], and then `swarm` and
    /// the other generated schedules draw no role step at all (they would only be skipped).
    /// A node holds a role from its latest observation of kind `ROLE` or `ROLE-elected`
    /// (e.g. `ctx.observe("leader-elected", ...)`).
    ///
    /// ```
    /// use faultline::protocol::Roles;
    /// assert!(Roles::LEADER.has("leader"));
    /// assert!(!Roles::NONE.has("leader"));
    /// assert_eq!(Roles::LEADER.with(Roles::COORDINATOR).names(), ["leader", "coordinator"]);
    /// ```
    fn roles(&self) -> Roles {
        Roles::NONE
    }

    /// Server `node`'s state, asked from a client once every fault has healed and the system
    /// settled, just before the final reads: `{key: value}` for each of `keys` (every key the
    /// run's operations named) that `node` replicates, null for one it replicates but holds
    /// nothing for; keys it does not replicate are left out. The harness records each answer as
    /// a [`FINAL_STATE`] observation of `node`, and `convergence` compares them: the replicas of
    /// a key must agree by then (a final read may repair them, so they are asked first). `None`
    /// (the default) when the protocol offers no inspection or the node did not answer; a
    /// protocol that declares `convergence` must implement it, or its runs fail for want of
    /// the state. Typically a message the node answers:
    ///
    /// ```ignore
    /// async fn inspect(&self, c: &ClientCtx<Msg>, node: usize, keys: &[String]) -> Option<Value> {
    ///     c.send(node, Msg::Inspect(keys.to_vec()));
    ///     while let Some((from, msg)) = c.recv_timeout(Duration::from_millis(500)).await {
    ///         if let (true, Msg::State(s)) = (from == node, msg) { return Some(json!(s)) }
    ///     }
    ///     None
    /// }
    /// ```
    fn inspect(
        &self,
        client: &ClientCtx<Self::Msg>,
        node: usize,
        keys: &[String],
    ) -> impl Future<Output = Option<Value>> {
        let _ = (client, node, keys);
        async { None }
    }
}

/// The observation kind the harness records each node's [`Protocol::inspect`] answer as:
/// `{"state": {key: value}}`, by the inspected node.
pub use faultline_checkers::convergence::FINAL_STATE;
/// The guarantees a store of each CAP choice declares by default. A CP store promises
/// linearizable results and no lost acknowledged write; an AP store promises answers,
/// convergence, and that an acknowledged write is lost only to another write (`ap-lost-write`);
/// both promise to keep their CAP choice (`cap`), to return only values somebody wrote
/// (`invented-value`) and to serve: every final read
/// succeeds within the liveness bound after the final heal (`liveness`) and no fault-free second
/// goes by with requests and no success (`progress`). `Cap::None` declares nothing (the harness
/// still fails a run in which no operation ever succeeded).
///
/// ```
/// use faultline::protocol::{standard_guarantees, Cap};
/// let mut mine = standard_guarantees(Cap::CP);
/// mine.push("my-checker");
/// assert!(mine.contains(&"liveness") && mine.contains(&"progress"));
/// ```
pub fn standard_guarantees(cap: Cap) -> Vec<&'static str> {
    match cap {
        Cap::CP => vec![
            "linearizability",
            "lost-write",
            "cap",
            "invented-value",
            "liveness",
            "progress",
        ],
        Cap::AP => vec![
            "cap",
            "convergence",
            "invented-value",
            "ap-lost-write",
            "liveness",
            "progress",
        ],
        Cap::None => vec![],
    }
}

/// Every checker that judges a run of `p`: its [`Protocol::checkers`] then its
/// [`Protocol::extra_checkers`] (the harness adds its own after them).
pub(crate) fn checkers_of<P: Protocol>(p: &P) -> Vec<Box<dyn Checker>> {
    let mut all = p.checkers();
    all.extend(p.extra_checkers());
    all
}

/// Client code uses the same context type as nodes; client ids come after the servers.
pub type ClientCtx<M> = NodeCtx<M>;
