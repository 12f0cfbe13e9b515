//! The state of one simulation: nodes, mailboxes, the network's fault settings, disks and the
//! recorder. It lives in a thread-local because a seed owns its thread and madsim runs every task
//! of a simulation on it; node code reaches it through `NodeCtx` without `Send` bounds.
use crate::disk_state::DiskState;
use crate::fingerprint::Fingerprint;
use crate::recording::{FaultEvent, Observation, Recording};
use faultline_checkers::{Event, History};
use madsim::time::Instant;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::any::Any;
use std::cell::RefCell;
use std::collections::BinaryHeap;
use std::rc::Rc;
use std::task::Waker;

pub(crate) type NodeId = usize;

/// Fingerprint tags: one per kind of trace event.
pub(crate) mod tag {
    pub const DELIVER: u8 = 1;
    pub const DROP: u8 = 2;
    pub const TIMER: u8 = 3;
    pub const FAULT: u8 = 4;
    pub const OP: u8 = 5;
    pub const OBSERVE: u8 = 6;
    pub const SEND: u8 = 7;
    pub const RESET: u8 = 8;
}

/// The bit marking a reset notice's sequence number: it crosses the partition that caused it.
pub(crate) const RESET_SEQ: u64 = 1 << 63;

pub(crate) struct Envelope<M> {
    pub at_ns: u64,
    pub seq: u64,
    pub from: NodeId,
    pub msg: M,
}

impl<M> PartialEq for Envelope<M> {
    fn eq(&self, o: &Self) -> bool {
        self.seq == o.seq
    }
}
impl<M> Eq for Envelope<M> {}
impl<M> PartialOrd for Envelope<M> {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<M> Ord for Envelope<M> {
    // Reversed: BinaryHeap is a max-heap and we want the earliest delivery first.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.at_ns, o.seq).cmp(&(self.at_ns, self.seq))
    }
}

/// One receiving queue: a node's main mailbox or one of its subscriptions.
pub(crate) struct Slot<M> {
    pub queue: BinaryHeap<Envelope<M>>,
    pub waker: Option<Waker>,
    /// When the waiting receiver's timer fires (ns), `None` when it waits without one. A
    /// message due no earlier needs no wake-up: the timer brings the receiver round anyway, so
    /// a send costs one poll of the receiver instead of two.
    pub armed_ns: Option<u64>,
    /// The token of the receive waiting on this queue, 0 when none does. A second receive that
    /// finds another one waiting is a protocol bug (each message would reach only one of them),
    /// caught in `mailbox::Recv`.
    pub waiter: u64,
}

impl<M> Slot<M> {
    fn new() -> Slot<M> {
        Slot {
            queue: BinaryHeap::new(),
            waker: None,
            armed_ns: None,
            waiter: 0,
        }
    }

    /// Wakes the waiting receiver when a message due at `at` comes before its timer.
    #[inline]
    fn wake_for(&mut self, at: u64) {
        if self.armed_ns.is_none_or(|armed| at < armed) {
            if let Some(w) = self.waker.take() {
                self.armed_ns = None;
                w.wake();
            }
        }
    }
}

/// A predicate choosing the messages a subscription receives: `(from, &msg)`.
pub(crate) type Filter<M> = Box<dyn Fn(NodeId, &M) -> bool>;

/// Which messages ride an ordered connection (`Protocol::ordered`).
pub(crate) type KindFilter<M> = Box<dyn Fn(&M) -> bool>;

/// A registered handler's mailbox (`NodeCtx::subscribe`).
pub(crate) struct Sub<M> {
    pub id: u64,
    pub filter: Filter<M>,
    pub slot: Slot<M>,
}

/// A node's receiving side: the main mailbox and its live subscriptions.
pub(crate) struct Mailbox<M> {
    pub main: Slot<M>,
    /// Live subscriptions in registration order (so by increasing id). Empty for a node that
    /// never subscribes: its sends cost one length check more than before.
    pub subs: Vec<Sub<M>>,
    /// Bumped by every crash: a subscription made before it is gone, and its handle's drop (its
    /// task is dropped after the kill) must not touch the new incarnation's mailbox.
    pub epoch: u64,
    /// Subscription ids and receive tokens; never reset, so an old token never matches a new one.
    pub next_id: u64,
}

impl<M> Mailbox<M> {
    /// The queue a message from `from` goes to: the first subscription whose filter accepts it,
    /// else the main mailbox.
    fn route(&mut self, from: NodeId, msg: &M) -> &mut Slot<M> {
        match self.subs.iter().position(|s| (s.filter)(from, msg)) {
            Some(i) => &mut self.subs[i].slot,
            None => &mut self.main,
        }
    }

    pub fn next_token(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

/// Per-node network and lifecycle state.
pub(crate) struct NodeState {
    pub up: bool,
    pub incarnation: u64,
    /// The node's clock: its timers and `instant()` run on it, `clock_ms()` reads its wall.
    pub clock: crate::clock::Clock,
    pub name: String,
}

/// What the nemesis must know of one client to crash it (client faults). Written by the client's
/// loop around each operation; empty (never sized) unless the run has client slots.
#[derive(Default)]
pub(crate) struct ClientSlot {
    /// The operation in flight: its process and invocation, from its invoke to its completion.
    /// A crash completes it `info`.
    pub inflight: Option<(u64, crate::data::Invocation)>,
    /// The client finished its share of the workload: a crash has nothing left to interrupt.
    pub finished: bool,
    /// Active `client-crash` windows holding it down (reference-counted like node crashes).
    pub down: u32,
}

/// A triggered step waiting for its observation.
pub(crate) struct Watch {
    pub step: usize,
    pub kind: String,
    /// Observations before this time do not count.
    pub from_ns: u64,
    /// Matching observations still to come before it fires.
    pub remaining: u32,
}

/// A trigger that fired: which step, when, and which node's observation fired it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fired {
    pub step: usize,
    pub at_ns: u64,
    pub node: usize,
}

/// The most messages one run may send before it is stopped as a message storm.
pub(crate) const MAX_MESSAGES: u64 = 5_000_000;

/// Settings the nemesis changes; messages read them when sent and delivered.
#[derive(Default)]
pub(crate) struct NetFaults {
    /// `cut[from * n + to]`: number of active partition steps cutting this link.
    pub cut: Vec<u16>,
    pub loss: Vec<(usize, f64)>,
    pub duplicate: Vec<(usize, f64)>,
    pub delay: Vec<(usize, f64)>,
    /// Uniform delay windows: extra delay drawn from `[0, 2 * mean]`.
    pub delay_uniform: Vec<(usize, f64)>,
    /// Per-link windows (`fault: loss|duplicate|delay|slow-link` with `links`/`from`/`to`/
    /// `node`). Empty unless a schedule names links: then a message pays one length check.
    pub links: Vec<LinkWindow>,
}

/// One active per-link step: which directed links it covers and what it does to them.
pub(crate) struct LinkWindow {
    pub step: usize,
    /// `covered[from * n + to]`, `n` counting clients too.
    pub covered: Vec<bool>,
    pub effect: crate::schedule::LinkEffect,
}

/// The network faults one message meets: the strongest active window of each kind, global or on
/// its link.
#[derive(Clone, Copy, Default)]
pub(crate) struct LinkFaults {
    pub loss: f64,
    pub duplicate: f64,
    pub delay_ms: f64,
    pub uniform_ms: f64,
    /// Fixed extra latency (ns) of a slow link.
    pub slow_ns: u64,
}

impl NetFaults {
    fn strongest(v: &[(usize, f64)]) -> f64 {
        v.iter().map(|(_, r)| *r).fold(0.0, f64::max)
    }

    /// The faults a message from `from` to `to` meets (`n`: nodes, clients included).
    #[inline]
    fn for_link(&self, from: NodeId, to: NodeId, n: usize) -> LinkFaults {
        let mut f = LinkFaults {
            loss: Self::strongest(&self.loss),
            duplicate: Self::strongest(&self.duplicate),
            delay_ms: Self::strongest(&self.delay),
            uniform_ms: Self::strongest(&self.delay_uniform),
            slow_ns: 0,
        };
        if !self.links.is_empty() {
            self.add_link_windows(&mut f, from * n + to);
        }
        f
    }

    #[cold]
    fn add_link_windows(&self, f: &mut LinkFaults, link: usize) {
        use crate::schedule::LinkEffect;
        for w in self.links.iter().filter(|w| w.covered[link]) {
            match w.effect {
                LinkEffect::Loss(r) => f.loss = f.loss.max(r),
                LinkEffect::Duplicate(r) => f.duplicate = f.duplicate.max(r),
                LinkEffect::Delay {
                    mean_ms,
                    uniform: false,
                } => f.delay_ms = f.delay_ms.max(mean_ms),
                LinkEffect::Delay {
                    mean_ms,
                    uniform: true,
                } => f.uniform_ms = f.uniform_ms.max(mean_ms),
                LinkEffect::Slow(ms) => f.slow_ns = f.slow_ns.max((ms * 1e6) as u64),
            }
        }
    }
}

pub(crate) struct Core {
    pub start: Instant,
    /// madsim's clock, held directly: `Instant::now()` goes through the libc override, a
    /// thread-local lookup and two reference counts on every call.
    pub time: madsim::time::TimeHandle,
    pub nodes: Vec<NodeState>,
    pub servers: usize,
    pub net: NetFaults,
    pub net_rng: ChaCha8Rng,
    pub base_latency_ns: (u64, u64),
    pub seq: u64,
    pub fp: Fingerprint,
    pub history: History,
    pub observations: Vec<Observation>,
    pub faults: Vec<FaultEvent>,
    pub messages: u64,
    pub disks: Vec<DiskState>,
    pub final_phase_ns: u64,
    pub final_process_base: u64,
    pub heal_ns: Option<u64>,
    pub trace: bool,
    /// Set when the run ends (time read outside the runtime is meaningless).
    pub end_ns: u64,
    /// Triggered steps waiting for observations, and those whose observation came.
    pub watches: Vec<Watch>,
    pub fired: Vec<Fired>,
    /// The nemesis task, woken when a trigger fires.
    pub nemesis: Option<std::task::Waker>,
    /// The steps as they ran (resolved), by index; `None` for steps that never started.
    pub ran: Vec<Option<crate::schedule::Step>>,
    /// Client messages delivered to servers (see [`Recording::contacts`]).
    pub contacts: Vec<faultline_checkers::cap::Contact>,
    pub process_clients: std::collections::BTreeMap<u64, usize>,
    /// Ordered links (`Protocol::ordered_links`): the latest delivery time on each directed link
    /// (`from * n + to`), so no message overtakes an earlier one. Empty when links are unordered.
    pub ordered_last: Vec<u64>,
    /// Buggify's points in this run (off unless the run asks: `ModelConfig::buggify`).
    pub buggify: crate::buggify::State,
    /// One per client (`c0` first), for client faults.
    pub client_slots: Vec<ClientSlot>,
    /// Bytes the wire check encoded (`--wire`), 0 without it.
    pub wire_bytes: u64,
}

pub(crate) struct World<M> {
    pub core: RefCell<Core>,
    pub mail: RefCell<Vec<Mailbox<M>>>,
    /// The message announcing a connection reset, when links are ordered.
    pub reset: Option<M>,
    /// Which messages ride the ordered connection (`Protocol::ordered`), when links are ordered.
    pub ordered_kind: Option<KindFilter<M>>,
    /// The wire check's codec (`--wire`): `None` hands messages over as values.
    pub wire: Option<crate::wire::WireCodec<M>>,
}

thread_local! {
    static WORLD: RefCell<Option<Rc<dyn Any>>> = const { RefCell::new(None) };
}

pub(crate) fn install<M: 'static>(w: Rc<World<M>>) {
    WORLD.with(|c| *c.borrow_mut() = Some(w as Rc<dyn Any>));
}

pub(crate) fn uninstall() {
    WORLD.with(|c| c.borrow_mut().take());
}

/// The current simulation's world. Panics outside a simulation or with another message type,
/// both harness bugs rather than user errors.
pub(crate) fn current<M: 'static>() -> Rc<World<M>> {
    WORLD.with(|c| {
        c.borrow()
            .as_ref()
            .expect("NodeCtx used outside a Faultline simulation")
            .clone()
            .downcast::<World<M>>()
            .unwrap_or_else(|_| panic!("simulation world has another message type"))
    })
}

/// The wire check of one message: its decoded copy, the bytes counted; a message that cannot
/// cross the wire fails the run here, named with its link.
#[cold]
#[inline(never)]
fn wire_trip<M: std::fmt::Debug>(
    codec: &crate::wire::WireCodec<M>,
    core: &mut Core,
    from: NodeId,
    to: NodeId,
    msg: &mut M,
) {
    match codec.round_trip(msg) {
        Ok((copy, bytes)) => {
            core.wire_bytes += bytes as u64;
            *msg = copy;
        }
        Err(e) => panic!(
            "wire check ({}): the message {} -> {} {msg:?}: {e}",
            codec.name(),
            core.nodes[from].name,
            core.nodes[to].name
        ),
    }
}

#[cold]
#[inline(never)]
fn zombie(name: &str, was: u64, now: u64, up: bool, what: &str) -> ! {
    let state = if up {
        format!("restarted as incarnation {now}")
    } else {
        "crashed".to_string()
    };
    panic!(
        "node {name}: code of its incarnation {was} {what} after the node {state}. Every task of \
         a node must die with it: spawn tasks with ctx.spawn (not madsim's spawn on another node), \
         and do not keep a NodeCtx outside the node's own tasks"
    )
}

impl Core {
    pub fn new(
        seed: u64,
        servers: usize,
        clients: usize,
        net_rng: ChaCha8Rng,
        trace: bool,
    ) -> Core {
        let total = servers + clients;
        let nodes = (0..total)
            .map(|i| NodeState {
                up: true,
                incarnation: 0,
                clock: crate::clock::Clock::default(),
                name: if i < servers {
                    format!("n{i}")
                } else {
                    format!("c{}", i - servers)
                },
            })
            .collect();
        let mut fp = Fingerprint::default();
        fp.add(seed);
        let time = madsim::time::TimeHandle::current();
        Core {
            start: time.now_instant(),
            time,
            nodes,
            servers,
            net: NetFaults {
                cut: vec![0; total * total],
                ..NetFaults::default()
            },
            net_rng,
            base_latency_ns: (1_000_000, 5_000_000),
            seq: 0,
            fp,
            history: History::default(),
            observations: Vec::new(),
            faults: Vec::new(),
            messages: 0,
            disks: (0..servers).map(|_| DiskState::default()).collect(),
            final_phase_ns: 0,
            // No final reads until the final phase begins: a run that panics before it has none.
            final_process_base: u64::MAX,
            heal_ns: None,
            trace,
            end_ns: 0,
            watches: Vec::new(),
            fired: Vec::new(),
            nemesis: None,
            ran: Vec::new(),
            contacts: Vec::new(),
            process_clients: Default::default(),
            ordered_last: Vec::new(),
            buggify: Default::default(),
            client_slots: Vec::new(),
            wire_bytes: 0,
        }
    }

    #[inline]
    pub fn now_ns(&self) -> u64 {
        self.time
            .now_instant()
            .duration_since(self.start)
            .as_nanos() as u64
    }

    /// Panics when code of a crashed incarnation of `node` still acts: a task that escaped the
    /// node (spawned elsewhere than with `ctx.spawn`, or a context smuggled out) would otherwise
    /// live on as a zombie the crash never killed.
    #[inline]
    pub fn check_alive(&self, node: NodeId, incarnation: u64, what: &str) {
        let st = &self.nodes[node];
        if st.incarnation != incarnation || !st.up {
            zombie(&st.name, incarnation, st.incarnation, st.up, what);
        }
    }

    pub fn total_nodes(&self) -> usize {
        self.nodes.len()
    }

    pub fn link_cut(&self, from: NodeId, to: NodeId) -> bool {
        self.net.cut[from * self.nodes.len() + to] > 0
    }

    /// Decides the fate of one message: `None` when dropped, else its delivery delays (two when
    /// duplicated).
    pub fn route(&mut self, from: NodeId, to: NodeId, ordered: bool) -> Option<[Option<u64>; 2]> {
        self.messages += 1;
        // A protocol whose traffic feeds on itself (every answer, duplicated, triggers another
        // send) would otherwise eat the machine's memory; stop it as a failure of the model.
        assert!(
            self.messages <= MAX_MESSAGES,
            "message storm: more than {MAX_MESSAGES} messages in one run (does every reply, or every duplicate, trigger another send?)"
        );
        let now = self.now_ns();
        if !self.nodes[to].up || self.link_cut(from, to) {
            self.fp.event(tag::DROP, now, from as u64, to as u64);
            return None;
        }
        let mut faults = self.net.for_link(from, to, self.nodes.len());
        if ordered {
            return Some(self.route_ordered(from, to, now, &mut faults));
        }
        if faults.loss > 0.0 && self.net_rng.gen_bool(faults.loss) {
            self.fp.event(tag::DROP, now, from as u64, to as u64);
            return None;
        }
        let first = self.draw_delay(&faults);
        let dup = faults.duplicate;
        let second = (dup > 0.0 && self.net_rng.gen_bool(dup)).then(|| self.draw_delay(&faults));
        self.fp
            .event(tag::SEND, now, (from as u64) << 32 | to as u64, first);
        Some([Some(now + first), second.map(|d| now + d)])
    }

    /// A message on an ordered link: never lost or duplicated inside a live connection (TCP
    /// retransmits and deduplicates), delayed as drawn but never before the link's previous one.
    #[cold]
    fn route_ordered(
        &mut self,
        from: NodeId,
        to: NodeId,
        now: u64,
        faults: &mut LinkFaults,
    ) -> [Option<u64>; 2] {
        faults.loss = 0.0;
        faults.duplicate = 0.0;
        let link = from * self.nodes.len() + to;
        let at = (now + self.draw_delay(faults)).max(self.ordered_last[link]);
        self.ordered_last[link] = at;
        self.fp
            .event(tag::SEND, now, (from as u64) << 32 | to as u64, at - now);
        [Some(at), None]
    }

    /// One message's delay: the base latency, a slow link's fixed extra, and the delay windows'
    /// random extra. The draws are the same as before per-link faults existed, so schedules
    /// without them keep their fingerprints.
    fn draw_delay(&mut self, faults: &LinkFaults) -> u64 {
        let (lo, hi) = self.base_latency_ns;
        let mut d = self.net_rng.gen_range(lo..=hi) + faults.slow_ns;
        let mean_ms = faults.delay_ms;
        if mean_ms > 0.0 {
            // Exponential extra delay: a long tail that reorders messages.
            let u: f64 = self.net_rng.gen_range(f64::EPSILON..1.0);
            d += (-u.ln() * mean_ms * 1e6) as u64;
        }
        let uniform_ms = faults.uniform_ms;
        if uniform_ms > 0.0 {
            d += self.net_rng.gen_range(0.0..=2.0 * uniform_ms * 1e6) as u64;
        }
        d
    }

    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn record_event(&mut self, e: Event) {
        self.fp.event(tag::OP, e.time_ns, e.process, e.kind as u64);
        self.fp.add_bytes(e.f.as_bytes());
        if let Some(k) = &e.key {
            self.fp.add_bytes(k.as_bytes());
        }
        self.fp.add_json(&e.value);
        if self.trace {
            tracing::info!(
                target: "faultline::op",
                t_ms = e.time_ns as f64 / 1e6,
                process = e.process,
                "{:?} {} {} {}",
                e.kind,
                e.f,
                e.key.as_deref().unwrap_or(""),
                e.value
            );
        }
        self.history.push(e);
    }

    pub fn record_fault(&mut self, mut event: FaultEvent) {
        let now = self.now_ns();
        event.at_ns = now;
        // Not the step's index: a reproducer keeps only the steps that ran, renumbered.
        self.fp.event(tag::FAULT, now, event.phase.len() as u64, 0);
        self.fp.add_bytes(event.description.as_bytes());
        if self.trace {
            tracing::info!(target: "faultline::nemesis", t_ms = now as f64 / 1e6, "{} step {}: {}", event.phase, event.step, event.description);
        }
        self.faults.push(event);
    }

    /// Called after every observation: fires the triggered steps waiting for it.
    pub fn match_watches(&mut self, kind: &str, node: usize, now: u64) {
        let mut fired = false;
        for w in &mut self.watches {
            if w.remaining > 0 && now >= w.from_ns && w.kind == kind {
                w.remaining -= 1;
                if w.remaining == 0 {
                    self.fired.push(Fired {
                        step: w.step,
                        at_ns: now,
                        node,
                    });
                    fired = true;
                }
            }
        }
        if fired {
            self.watches.retain(|w| w.remaining > 0);
            if let Some(w) = self.nemesis.take() {
                w.wake();
            }
        }
    }

    pub fn take_recording(&mut self, panic: Option<String>) -> (Recording, Fingerprint) {
        let sim_ns = self.end_ns;
        (
            Recording {
                history: std::mem::take(&mut self.history),
                observations: std::mem::take(&mut self.observations),
                faults: std::mem::take(&mut self.faults),
                nodes: self.servers,
                final_phase_ns: self.final_phase_ns,
                final_process_base: self.final_process_base,
                heal_ns: self.heal_ns,
                liveness_ms: None,
                messages: self.messages,
                sim_ns,
                panic,
                cap: Default::default(),
                contacts: std::mem::take(&mut self.contacts),
                process_clients: std::mem::take(&mut self.process_clients),
                buggify: std::mem::take(&mut self.buggify.points),
                // Set from the configuration once the run is over (model.rs).
                check_budget: Default::default(),
                derived: Default::default(),
            },
            self.fp,
        )
    }
}

impl<M: 'static> World<M> {
    pub fn new(core: Core) -> World<M> {
        let n = core.total_nodes();
        World {
            core: RefCell::new(core),
            mail: RefCell::new(
                (0..n)
                    .map(|_| Mailbox {
                        main: Slot::new(),
                        subs: Vec::new(),
                        epoch: 0,
                        next_id: 0,
                    })
                    .collect(),
            ),
            reset: None,
            ordered_kind: None,
            wire: None,
        }
    }

    /// Makes links ordered, announcing resets with `reset` (`Protocol::ordered_links`); `kind`
    /// says which messages ride the connection (`Protocol::ordered`).
    pub fn set_ordered(&mut self, reset: Option<M>, kind: KindFilter<M>) {
        if reset.is_some() {
            self.ordered_kind = Some(kind);
        }
        if reset.is_some() {
            let core = self.core.get_mut();
            let n = core.total_nodes();
            core.ordered_last = vec![0; n * n];
        }
        self.reset = reset;
    }

    /// Whether `msg` rides an ordered connection: links are ordered and its kind is.
    #[inline]
    fn on_connection(&self, msg: &M) -> bool {
        self.ordered_kind.as_ref().is_some_and(|f| f(msg))
    }

    /// Resets the connection between `a` and `b` (ordered links only): the connection's
    /// messages in flight either way are dropped (datagrams beside it, `Protocol::ordered`
    /// false, are not), and each live end receives the reset message from the other.
    pub fn reset_connection(&self, a: NodeId, b: NodeId)
    where
        M: Clone,
    {
        let Some(reset) = &self.reset else { return };
        let mut core = self.core.borrow_mut();
        let n = core.total_nodes();
        core.ordered_last[a * n + b] = 0;
        core.ordered_last[b * n + a] = 0;
        let now = core.now_ns();
        core.fp.event(tag::RESET, now, a as u64, b as u64);
        let mut mail = self.mail.borrow_mut();
        for (to, from) in [(a, b), (b, a)] {
            let mb = &mut mail[to];
            let keep = |e: &Envelope<M>| {
                e.from != from || (e.seq & RESET_SEQ == 0 && !self.on_connection(&e.msg))
            };
            mb.main.queue.retain(keep);
            for sub in &mut mb.subs {
                sub.slot.queue.retain(keep);
            }
            if !core.nodes[to].up {
                continue;
            }
            let seq = core.next_seq() | RESET_SEQ;
            let slot = if mb.subs.is_empty() {
                &mut mb.main
            } else {
                mb.route(from, reset)
            };
            slot.queue.push(Envelope {
                at_ns: now,
                seq,
                from,
                msg: reset.clone(),
            });
            slot.wake_for(now);
        }
    }

    /// Puts a message on the wire (subject to partitions, loss, duplication and delay), sent by
    /// `from`'s incarnation `incarnation`.
    pub fn send(&self, from: NodeId, incarnation: u64, to: NodeId, msg: M)
    where
        M: Clone + std::fmt::Debug,
    {
        let mut core = self.core.borrow_mut();
        if to >= core.total_nodes() {
            panic!("send to node {to}, which does not exist");
        }
        core.check_alive(from, incarnation, "sent a message");
        // The receiver gets the codec's copy, never the sender's value (one branch without it).
        let mut msg = msg;
        if let Some(codec) = &self.wire {
            wire_trip(codec, &mut core, from, to, &mut msg);
        }
        let ordered = !core.ordered_last.is_empty() && self.on_connection(&msg);
        let fate = core.route(from, to, ordered);
        if core.trace {
            let now = core.now_ns();
            let verb = if fate.is_some() { "send" } else { "drop" };
            tracing::debug!(target: "faultline::net", t_ms = now as f64 / 1e6, "{verb} {} -> {}: {msg:?}", core.nodes[from].name, core.nodes[to].name);
        }
        let Some([first, second]) = fate else { return };
        let mut mail = self.mail.borrow_mut();
        let mb = &mut mail[to];
        // Routed when sent: a node that never subscribes pays one length check.
        let mb = if mb.subs.is_empty() {
            &mut mb.main
        } else {
            mb.route(from, &msg)
        };
        let earliest = first.into_iter().chain(second).min();
        if let Some(at) = second {
            let seq = core.next_seq();
            mb.queue.push(Envelope {
                at_ns: at,
                seq,
                from,
                msg: msg.clone(),
            });
        }
        if let Some(at) = first {
            let seq = core.next_seq();
            mb.queue.push(Envelope {
                at_ns: at,
                seq,
                from,
                msg,
            });
        }
        if let Some(at) = earliest {
            mb.wake_for(at);
        }
    }

    /// A crash: the node's queued messages are gone, and with them every subscription.
    pub fn clear_mailbox(&self, node: NodeId) {
        let subs = {
            let mut mail = self.mail.borrow_mut();
            let mb = &mut mail[node];
            mb.main.queue.clear();
            mb.main.waker = None;
            mb.main.armed_ns = None;
            mb.main.waiter = 0;
            mb.epoch += 1;
            std::mem::take(&mut mb.subs)
        };
        // Dropped outside the borrow: a filter may own anything, even another subscription.
        drop(subs);
    }

    /// Registers a subscription on `node`'s mailbox for a context made in `epoch`; returns its
    /// id, or `None` when a crash has since ended that context's incarnation.
    pub fn subscribe(&self, node: NodeId, epoch: u64, filter: Filter<M>) -> Option<u64> {
        let mut mail = self.mail.borrow_mut();
        let mb = &mut mail[node];
        if mb.epoch != epoch {
            return None;
        }
        let id = mb.next_token();
        mb.subs.push(Sub {
            id,
            filter,
            slot: Slot::new(),
        });
        Some(id)
    }

    /// Ends a subscription: its undelivered messages (due or still in flight) go to the main
    /// mailbox with their delivery times, so nothing is lost. A no-op after a crash cleared it.
    pub fn unsubscribe(&self, node: NodeId, id: u64, epoch: u64) {
        let removed = {
            let Ok(mut mail) = self.mail.try_borrow_mut() else {
                // Only while the harness itself holds the mailboxes (dropping a filter that owns
                // a subscription): that subscription's node is being cleared anyway.
                return;
            };
            let mb = &mut mail[node];
            if mb.epoch != epoch {
                return;
            }
            let Ok(i) = mb.subs.binary_search_by_key(&id, |s| s.id) else {
                return;
            };
            let mut sub = mb.subs.remove(i);
            let earliest = sub.slot.queue.peek().map(|e| e.at_ns);
            if mb.main.queue.is_empty() {
                std::mem::swap(&mut mb.main.queue, &mut sub.slot.queue);
            } else {
                mb.main.queue.append(&mut sub.slot.queue);
            }
            if let Some(at) = earliest {
                mb.main.wake_for(at);
            }
            sub
        };
        drop(removed);
    }
}
