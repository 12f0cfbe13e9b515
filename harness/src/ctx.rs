//! What node code and client code get: typed messaging, timers, a local clock, a disk, a
//! deterministic rng and `observe(...)`.
use crate::disk::Disk;
use crate::world::{self, tag, World};
use madsim::time::{Instant, Sleep};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::cell::{RefCell, RefMut};
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

/// The deterministic random number generator handed to node and client code.
pub type SimRng = ChaCha8Rng;

/// Messages a protocol sends: cloned when the network duplicates them, printed in traces.
pub trait Message: Clone + Debug + 'static {}
impl<T: Clone + Debug + 'static> Message for T {}

/// A node's handle on the simulated world. Everything it does is recorded and fingerprinted.
///
/// ```no_run
/// use faultline_harness::NodeCtx;
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
    world: Rc<World<M>>,
    id: usize,
    servers: usize,
    rng: RefCell<SimRng>,
}

impl<M: Message> NodeCtx<M> {
    pub(crate) fn new(id: usize, seed: u64) -> Self {
        let world = world::current::<M>();
        let (servers, incarnation) = {
            let core = world.core.borrow();
            (core.servers, core.nodes[id].incarnation)
        };
        let rng_seed = seed
            ^ (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ incarnation.wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        NodeCtx {
            world,
            id,
            servers,
            rng: RefCell::new(SimRng::seed_from_u64(rng_seed)),
        }
    }

    /// This node's id (servers are `0..servers()`, clients come after).
    pub fn id(&self) -> usize {
        self.id
    }

    /// Number of server nodes.
    pub fn servers(&self) -> usize {
        self.servers
    }

    /// The simulated IP address of node `node` (`10.0.0.1` for node 0, then one per node:
    /// servers, clients, the final reader). Code that uses madsim's own sockets
    /// (`madsim::net::{TcpStream, TcpListener, UdpSocket, Endpoint}`) binds and connects to these;
    /// the nemesis's faults reach that traffic too (docs/reference.md, "Sockets").
    ///
    /// ```no_run
    /// # async fn f(ctx: faultline_harness::NodeCtx<()>) {
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
        (0..self.servers).filter(move |&p| p != self.id)
    }

    /// Sends a message; it may be dropped, delayed, reordered or duplicated by the nemesis.
    pub fn send(&self, to: usize, msg: M) {
        self.world.send(self.id, to, msg);
    }

    /// Waits for the next message.
    pub async fn recv(&self) -> (usize, M) {
        loop {
            if let Some(m) = (Recv {
                ctx: self,
                deadline: None,
                sleep: None,
                armed: None,
            })
            .await
            {
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
        let start = self.world.core.borrow().start;
        Recv {
            ctx: self,
            deadline: Some(deadline.saturating_duration_since(start).as_nanos() as u64),
            sleep: None,
            armed: None,
        }
        .await
    }

    /// Sleeps in simulated time.
    pub async fn sleep(&self, d: Duration) {
        madsim::time::sleep(d).await;
        let mut core = self.world.core.borrow_mut();
        let now = core.now_ns();
        core.fp
            .event(tag::TIMER, now, self.id as u64, d.as_nanos() as u64);
    }

    /// Simulated time since the run started, exact (not skewed).
    pub fn instant(&self) -> Instant {
        self.world.core.borrow().time.now_instant()
    }

    /// This node's local wall clock in milliseconds since the run started. The nemesis can skew
    /// it, so protocols that trust it (leases, last-write-wins) can be caught out.
    pub fn clock_ms(&self) -> i64 {
        let core = self.world.core.borrow();
        core.nodes[self.id]
            .clock_ns(core.now_ns())
            .div_euclid(1_000_000)
    }

    /// This node's disk. Only servers have one.
    pub fn disk(&self) -> Disk<M> {
        assert!(self.id < self.servers, "only server nodes have a disk");
        Disk::new(self.world.clone(), self.id)
    }

    /// The node's deterministic rng (seeded from the run's seed, the node and its incarnation).
    pub fn rng(&self) -> RefMut<'_, SimRng> {
        self.rng.borrow_mut()
    }

    /// Reports a fact for the checkers: `ctx.observe("leader-elected", &json!({"term": 4}))`.
    pub fn observe<T: Serialize + ?Sized>(&self, kind: &str, data: &T) {
        let data = serde_json::to_value(data).expect("observations serialize");
        let mut core = self.world.core.borrow_mut();
        let now = core.now_ns();
        core.fp.event(tag::OBSERVE, now, self.id as u64, 0);
        core.fp.add_bytes(kind.as_bytes());
        if core.trace {
            tracing::info!(target: "faultline::observe", t_ms = now as f64 / 1e6, "{} {kind} {data}", core.nodes[self.id].name);
        }
        core.observations.push(crate::recording::Observation {
            at_ns: now,
            node: self.id,
            kind: kind.to_string(),
            data,
        });
        if !core.watches.is_empty() {
            core.match_watches(kind, self.id, now);
        }
    }

    /// Simulated nanoseconds since the run started.
    pub fn now_ns(&self) -> u64 {
        self.world.core.borrow().now_ns()
    }
}

/// Receives the earliest message whose delivery time has come, or times out at the deadline.
/// One future per wait, no task per message: the mailbox is a heap ordered by delivery time. The
/// receiver keeps one madsim timer, for the earlier of its next message and its deadline, and
/// registers it once per target: madsim adds a timer on every poll of a pending `Sleep`, and
/// never removes one, so re-polling would pile up timers that each wake the task again. A sender
/// wakes the receiver only when its message is due before that timer.
struct Recv<'a, M: 'static> {
    ctx: &'a NodeCtx<M>,
    /// When to give up (ns since the start).
    deadline: Option<u64>,
    sleep: Option<Sleep>,
    /// The target (ns since the start) this future's timer is registered for.
    armed: Option<u64>,
}

impl<M: Message> Future for Recv<'_, M> {
    type Output = Option<(usize, M)>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let ctx = self.ctx;
        let me = ctx.id;
        loop {
            let (target, start) = {
                let mut core = ctx.world.core.borrow_mut();
                let now = core.now_ns();
                let mut mail = ctx.world.mail.borrow_mut();
                let mb = &mut mail[me];
                while mb.queue.peek().is_some_and(|e| e.at_ns <= now) {
                    let env = mb.queue.pop().expect("peeked");
                    if core.link_cut(env.from, me) {
                        // A partition that began while the message was in flight cuts it too.
                        core.fp.event(tag::DROP, now, env.from as u64, me as u64);
                        if core.trace {
                            tracing::debug!(target: "faultline::net", t_ms = now as f64 / 1e6, "drop (partitioned in flight) {} -> {}: {:?}", core.nodes[env.from].name, core.nodes[me].name, env.msg);
                        }
                        continue;
                    }
                    core.fp.event(tag::DELIVER, now, env.from as u64, me as u64);
                    if env.from >= core.servers && me < core.servers {
                        core.contacts.push(faultline_checkers::cap::Contact {
                            at_ns: now,
                            client: env.from,
                            server: me,
                        });
                    }
                    if core.trace {
                        tracing::debug!(target: "faultline::net", t_ms = now as f64 / 1e6, "deliver {} -> {}: {:?}", core.nodes[env.from].name, core.nodes[me].name, env.msg);
                    }
                    return Poll::Ready(Some((env.from, env.msg)));
                }
                let deadline_ns = self.deadline;
                if deadline_ns.is_some_and(|d| d <= now) {
                    core.fp.event(tag::TIMER, now, me as u64, 1);
                    if core.trace {
                        tracing::trace!(target: "faultline::timer", t_ms = now as f64 / 1e6, "{} timer", core.nodes[me].name);
                    }
                    return Poll::Ready(None);
                }
                if !mb.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    mb.waker = Some(cx.waker().clone());
                }
                let target = match (mb.queue.peek().map(|e| e.at_ns), deadline_ns) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                mb.armed_ns = target;
                (target, core.start)
            };
            let Some(target) = target else {
                return Poll::Pending;
            };
            if self.armed == Some(target) {
                return Poll::Pending;
            }
            let at = start + Duration::from_nanos(target);
            match &mut self.sleep {
                Some(s) => Pin::new(s).reset(at),
                None => self.sleep = Some(madsim::time::sleep_until(at)),
            }
            let sleep = self.sleep.as_mut().expect("armed");
            match Pin::new(sleep).poll(cx) {
                Poll::Ready(()) => continue,
                Poll::Pending => {
                    self.armed = Some(target);
                    return Poll::Pending;
                }
            }
        }
    }
}
