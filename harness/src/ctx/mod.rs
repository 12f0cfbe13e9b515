//! What node code and client code get: typed messaging, timers, a local clock, a disk, a
//! deterministic rng and `observe(...)`, and tasks.
//!
//! A [`NodeCtx`] is a cheap handle (clone it into every task of the node). A node may run
//! several tasks ([`NodeCtx::spawn`]); they all die together when the node crashes, and a
//! restart runs the node's `Protocol::node` afresh with a new context. Each task receives on its
//! own: the node's main mailbox ([`NodeCtx::recv`]) for one task, a [`Mailbox`] per registered
//! handler ([`NodeCtx::subscribe`]) and node-local channels ([`NodeCtx::channel`]) for the
//! others. See the guide's "Nodes with several tasks".
use crate::channel::{self, Receiver, Sender};
use crate::disk::Disk;
mod mailbox;

use crate::task::Task;
use crate::world::{self, tag, World};
use madsim::time::Instant;
pub use mailbox::Mailbox;
use mailbox::{Recv, MAIN};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::cell::{RefCell, RefMut};
use std::fmt::Debug;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

/// The deterministic random number generator handed to node and client code.
pub type SimRng = ChaCha8Rng;

/// Messages a protocol sends: cloned when the network duplicates them, printed in traces.
pub trait Message: Clone + Debug + 'static {}
impl<T: Clone + Debug + 'static> Message for T {}

/// A node's handle on the simulated world. Everything it does is recorded and fingerprinted.
///
/// Cloning is cheap (one reference count) and every clone is the same node: same id, rng, disk,
/// main mailbox. Hand a clone to each task the node spawns.
///
/// ```no_run
/// use faultline::NodeCtx;
/// use std::time::Duration;
/// async fn echo(ctx: NodeCtx<String>) {
///     loop {
///         match ctx.recv_timeout(Duration::from_millis(100)).await {
///             Some((from, msg)) => ctx.send(from, msg),
///             None => ctx.observe("idle", &()),
///         }
///     }
/// }
/// ```
pub struct NodeCtx<M: 'static> {
    pub(crate) inner: Rc<Inner<M>>,
}

/// What every clone of one node's context shares.
pub(crate) struct Inner<M: 'static> {
    pub(crate) world: Rc<World<M>>,
    pub(crate) id: usize,
    servers: usize,
    /// The node's incarnation this context belongs to (0 at the start, +1 per restart).
    pub(crate) incarnation: u64,
    /// The node's mailbox epoch when the context was made: a crash bumps it, so a receive with
    /// an older one is code of a crashed incarnation.
    pub(crate) epoch: u64,
    /// madsim's node the context was made on: tasks are spawned there and channels used there.
    pub(crate) node: madsim::task::NodeId,
    rng: RefCell<SimRng>,
}

impl<M: 'static> Clone for NodeCtx<M> {
    fn clone(&self) -> Self {
        NodeCtx {
            inner: self.inner.clone(),
        }
    }
}

impl<M: Message> NodeCtx<M> {
    /// Called from the node's first task, so `madsim::plugin::node()` is the node itself.
    pub(crate) fn new(id: usize, seed: u64) -> Self {
        let world = world::current::<M>();
        let (servers, incarnation) = {
            let core = world.core.borrow();
            (core.servers, core.nodes[id].incarnation)
        };
        let epoch = world.mail.borrow()[id].epoch;
        let rng_seed = seed
            ^ (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ incarnation.wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        NodeCtx {
            inner: Rc::new(Inner {
                world,
                id,
                servers,
                incarnation,
                epoch,
                node: madsim::plugin::node(),
                rng: RefCell::new(SimRng::seed_from_u64(rng_seed)),
            }),
        }
    }

    /// This node's id (servers are `0..servers()`, clients come after).
    pub fn id(&self) -> usize {
        self.inner.id
    }

    /// Number of server nodes.
    pub fn servers(&self) -> usize {
        self.inner.servers
    }

    /// The simulated IP address of node `node` (`10.0.0.1` for node 0, then one per node:
    /// servers, clients, the final reader). Code that uses madsim's own sockets
    /// (`madsim::net::{TcpStream, TcpListener, UdpSocket, Endpoint}`) binds and connects to these;
    /// the nemesis's faults reach that traffic too (docs/reference.md, "Sockets").
    ///
    /// ```no_run
    /// # async fn f(ctx: faultline::NodeCtx<()>) {
    /// let listener = madsim::net::TcpListener::bind(ctx.addr(ctx.id(), 7000)).await.unwrap();
    /// let to_next = madsim::net::TcpStream::connect(ctx.addr((ctx.id() + 1) % ctx.servers(), 7000));
    /// # }
    /// ```
    pub fn ip(&self, node: usize) -> std::net::IpAddr {
        crate::netsim::ip_of(node)
    }

    /// Node `node`'s socket address at `port` (its [`NodeCtx::ip`]).
    pub fn addr(&self, node: usize, port: u16) -> std::net::SocketAddr {
        crate::netsim::addr_of(node, port)
    }

    /// Ids of the other server nodes.
    pub fn peers(&self) -> impl Iterator<Item = usize> + '_ {
        let me = self.inner.id;
        (0..self.inner.servers).filter(move |&p| p != me)
    }

    /// This node's incarnation: 0 when the run starts, one more after every restart. Tagging
    /// observations with it tells a crashed incarnation's facts from the restarted one's.
    pub fn incarnation(&self) -> u64 {
        self.inner.incarnation
    }

    /// Sends a message; it may be dropped, delayed, reordered or duplicated by the nemesis.
    ///
    /// On arrival it goes to the first live [subscription](Self::subscribe) of `to` (in the
    /// order they were made) whose filter accepts it, else to `to`'s main mailbox
    /// ([`recv`](Self::recv)). That choice is made here, when the message is sent.
    pub fn send(&self, to: usize, msg: M) {
        let i = &*self.inner;
        i.world.send(i.id, i.incarnation, to, msg);
    }

    /// Waits for the next message of the node's main mailbox: every message no
    /// [subscription](Self::subscribe) took.
    ///
    /// One task at a time may wait here: a second task waiting on the same mailbox at once
    /// panics (naming the node), since each message would reach only one of them. Give the
    /// other tasks their own [`Mailbox`] or [channel](Self::channel).
    pub async fn recv(&self) -> (usize, M) {
        loop {
            if let Some(m) = Recv::new(&self.inner, MAIN, None).await {
                return m;
            }
        }
    }

    /// Waits for the next message, or `None` once `timeout` has passed (a timer event).
    pub async fn recv_timeout(&self, timeout: Duration) -> Option<(usize, M)> {
        let deadline = self.instant() + timeout;
        self.recv_until(deadline).await
    }

    /// Waits for the next message, or `None` at `deadline` (simulated time).
    pub async fn recv_until(&self, deadline: Instant) -> Option<(usize, M)> {
        let deadline = self.inner.deadline_ns(deadline);
        Recv::new(&self.inner, MAIN, Some(deadline)).await
    }

    /// Registers a handler's own mailbox: from now on, every message sent to this node that
    /// `filter(from, &msg)` accepts, and that no earlier live subscription accepted, goes to the
    /// returned [`Mailbox`] instead of the main one.
    ///
    /// Messages are routed when they are sent, so subscribe *before* sending the requests whose
    /// replies you want; a reply already sent when you subscribe stays where it was routed.
    /// Dropping the mailbox returns its undelivered messages (due or still in flight) to the
    /// main mailbox; a crash ends every subscription with the incarnation. The filter is a pure
    /// predicate: it runs inside the sender's `send` and must not use any context.
    ///
    /// ```no_run
    /// # use faultline::NodeCtx;
    /// # use std::time::Duration;
    /// #[derive(Clone, Debug)]
    /// enum Msg { Prepare(u64), PrepareOk(u64) }
    ///
    /// async fn prepare(ctx: NodeCtx<Msg>, ballot: u64) -> usize {
    ///     let replies = ctx.subscribe(move |_from, m| matches!(m, Msg::PrepareOk(b) if *b == ballot));
    ///     for p in ctx.peers() {
    ///         ctx.send(p, Msg::Prepare(ballot));
    ///     }
    ///     let mut oks = 0;
    ///     while let Some((_from, _ok)) = replies.recv_timeout(Duration::from_millis(50)).await {
    ///         oks += 1;
    ///     }
    ///     oks
    /// }
    /// ```
    pub fn subscribe(&self, filter: impl Fn(usize, &M) -> bool + 'static) -> Mailbox<M> {
        let i = &*self.inner;
        let Some(id) = i.world.subscribe(i.id, i.epoch, Box::new(filter)) else {
            i.world
                .core
                .borrow()
                .check_alive(i.id, i.incarnation, "subscribed");
            unreachable!("only a crash changes the mailbox's epoch");
        };
        Mailbox::new(self.clone(), id)
    }

    /// Spawns a task on this node. It runs beside the node's other tasks until it finishes, is
    /// [aborted](Task::abort), or the node crashes: a crash drops every task of the node, and
    /// none runs in the next incarnation (a restart calls `Protocol::node` afresh).
    ///
    /// Dropping the returned [`Task`] detaches it (it keeps running); await it for its output.
    /// Must be called from one of this node's own tasks: calling it with a context from another
    /// node panics.
    ///
    /// ```no_run
    /// # use faultline::NodeCtx;
    /// # use std::time::Duration;
    /// async fn node(ctx: NodeCtx<String>) {
    ///     let hb = ctx.clone();
    ///     ctx.spawn(async move {
    ///         loop {
    ///             hb.sleep(Duration::from_millis(100)).await;
    ///             hb.observe("heartbeat", &hb.incarnation());
    ///         }
    ///     });
    ///     loop {
    ///         let (from, msg) = ctx.recv().await;
    ///         ctx.send(from, msg);
    ///     }
    /// }
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.inner.check_here("spawn a task");
        Task::spawn_here(future)
    }

    /// A node-local unbounded channel for this node's tasks to talk to each other: FIFO,
    /// deterministic, the [`Sender`] cloneable. Both ends may be used only by this node's tasks
    /// (using them from another node panics: that would be a network the nemesis cannot touch),
    /// and they die with the node.
    ///
    /// ```no_run
    /// # use faultline::NodeCtx;
    /// async fn node(ctx: NodeCtx<String>) {
    ///     let (tx, mut rx) = ctx.channel::<u64>();
    ///     ctx.spawn(async move { tx.send(7).ok(); });
    ///     assert_eq!(rx.recv().await, Some(7));
    /// }
    /// ```
    pub fn channel<T: 'static>(&self) -> (Sender<T>, Receiver<T>) {
        self.inner.check_here("make a channel");
        let ctx = self.clone();
        channel::new(
            self.inner.node,
            self.inner.world.core.borrow().nodes[self.inner.id]
                .name
                .clone(),
            Rc::new(move |d| ctx.inner.true_instant(ctx.instant() + d)),
        )
    }

    /// Sleeps `d` on this node's clock: a node whose clock runs at rate 0.9 (a `clock-skew`
    /// window with `drift: -100`) sleeps `d / 0.9` of true time.
    pub async fn sleep(&self, d: Duration) {
        let rate_one = self.inner.world.core.borrow().nodes[self.inner.id]
            .clock
            .rate()
            == 1.0;
        if rate_one {
            madsim::time::sleep(d).await;
        } else {
            let until = self.inner.true_instant(self.instant() + d);
            madsim::time::sleep_until(until).await;
        }
        let mut core = self.inner.world.core.borrow_mut();
        let now = core.now_ns();
        core.fp
            .event(tag::TIMER, now, self.inner.id as u64, d.as_nanos() as u64);
    }

    /// This node's monotonic clock: what its timers and timeouts run on. It runs at the node's
    /// clock rate (a `clock-skew` window's drift) and never goes backwards, whatever the wall
    /// clock ([`clock_ms`](Self::clock_ms)) does. Without clock faults it is simulated time.
    /// Deadlines passed to [`recv_until`](Self::recv_until) are on this clock.
    pub fn instant(&self) -> Instant {
        let core = self.inner.world.core.borrow();
        let clock = &core.nodes[self.inner.id].clock;
        if clock.pristine {
            return core.time.now_instant();
        }
        core.start + Duration::from_nanos(clock.mono_ns(core.now_ns()))
    }

    /// This node's local wall clock in milliseconds since the run started. The nemesis can make
    /// it jump and drift, so protocols that trust it (leases, last-write-wins) can be caught
    /// out; unlike [`instant`](Self::instant) it can go backwards.
    pub fn clock_ms(&self) -> i64 {
        let core = self.inner.world.core.borrow();
        core.nodes[self.inner.id]
            .clock
            .wall_ns(core.now_ns())
            .div_euclid(1_000_000)
    }

    /// This node's disk. Only servers have one.
    pub fn disk(&self) -> Disk<M> {
        assert!(
            self.inner.id < self.inner.servers,
            "only server nodes have a disk"
        );
        Disk::new(self.inner.world.clone(), self.inner.id)
    }

    /// The node's deterministic rng (seeded from the run's seed, the node and its incarnation).
    pub fn rng(&self) -> RefMut<'_, SimRng> {
        self.inner.rng.borrow_mut()
    }

    /// A [buggify](crate::buggify) point: true at deterministic, rare moments of a run with
    /// buggify on (`--buggify`), so the code takes a rare path (a slow fsync, a spurious
    /// timeout, a reply dropped after a commit). Per seed, the point is enabled for the whole
    /// run with probability ¼, and an enabled point fires at each reach with probability ¼.
    /// Always false when buggify is off; it never draws from [`rng`](Self::rng). The name must
    /// be declared in [`Protocol::buggify_points`](crate::Protocol::buggify_points), or the
    /// run fails naming it. A fire is recorded (an observation of kind `buggify`) and counted
    /// in the run's report.
    ///
    /// ```no_run
    /// # async fn f(ctx: faultline::NodeCtx<()>) {
    /// if ctx.buggify("spurious-election-timeout") {
    ///     // start an election although the leader is alive
    /// }
    /// # }
    /// ```
    pub fn buggify(&self, point: &str) -> bool {
        self.buggify_rate(point, crate::buggify::DEFAULT_RATE)
    }

    /// [`buggify`](Self::buggify) with the probability `rate` (0 to 1) of firing at each reach
    /// once enabled (FoundationDB's `BUGGIFY_WITH_PROB`).
    pub fn buggify_rate(&self, point: &str, rate: f64) -> bool {
        let mut core = self.inner.world.core.borrow_mut();
        match core.buggify.reach(point, rate) {
            crate::buggify::Reach::Quiet => false,
            crate::buggify::Reach::Fired => {
                drop(core);
                self.observe(crate::buggify::OBSERVATION, &point);
                true
            }
        }
    }

    /// Reports a fact for the checkers: `ctx.observe("leader-elected", &json!({"term": 4}))`.
    pub fn observe<T: Serialize + ?Sized>(&self, kind: &str, data: &T) {
        let data = serde_json::to_value(data).expect("observations serialize");
        let mut core = self.inner.world.core.borrow_mut();
        core.check_alive(self.inner.id, self.inner.incarnation, "observed a fact");
        let now = core.now_ns();
        core.fp.event(tag::OBSERVE, now, self.inner.id as u64, 0);
        core.fp.add_bytes(kind.as_bytes());
        if core.trace {
            tracing::info!(target: "faultline::observe", t_ms = now as f64 / 1e6, "{} {kind} {data}", core.nodes[self.inner.id].name);
        }
        core.observations.push(crate::recording::Observation {
            at_ns: now,
            node: self.inner.id,
            kind: kind.to_string(),
            data,
        });
        if !core.watches.is_empty() {
            core.match_watches(kind, self.inner.id, now);
        }
    }

    /// Simulated nanoseconds since the run started.
    pub fn now_ns(&self) -> u64 {
        self.inner.world.core.borrow().now_ns()
    }
}

impl<M: 'static> Inner<M> {
    /// `deadline`, a time on this node's clock, as true ns since the run's start: when the
    /// node's timer for it fires.
    pub(crate) fn deadline_ns(&self, deadline: Instant) -> u64 {
        let core = self.world.core.borrow();
        let local = deadline.saturating_duration_since(core.start).as_nanos() as u64;
        let clock = &core.nodes[self.id].clock;
        if clock.pristine {
            return local;
        }
        clock.true_ns(local, core.now_ns())
    }

    /// `deadline` on this node's clock as a true-time madsim instant, for madsim's timers.
    pub(crate) fn true_instant(&self, deadline: Instant) -> Instant {
        let ns = self.deadline_ns(deadline);
        self.world.core.borrow().start + Duration::from_nanos(ns)
    }

    /// Panics unless called from a task of this context's node and incarnation.
    #[track_caller]
    pub(crate) fn check_here(&self, what: &str) {
        let core = self.world.core.borrow();
        core.check_alive(self.id, self.incarnation, &format!("tried to {what}"));
        if madsim::plugin::node() != self.node {
            let name = &core.nodes[self.id].name;
            panic!(
                "tried to {what} for node {name} from another node's task: a NodeCtx belongs to \
                 its node's own tasks (pass each node its own context)"
            );
        }
    }
}
