//! One simulation on a madsim runtime: nodes, clients, the nemesis applying its steps, the final
//! phase. Called on a fresh thread per seed (see `runner`).
use crate::ctx::{NodeCtx, SimRng};
use crate::disk::crash_disk;
use crate::fingerprint::Fingerprint;
use crate::protocol::{Invocation, ModelConfig, Outcome, Protocol};
use crate::recording::Recording;
use crate::schedule::{Fault, Step};
use crate::workload::Workload;
use crate::world::{self, Core, World};
use faultline_checkers::{Event, EventType};
use madsim::runtime::{Handle, NodeHandle};
use madsim::time::{Instant, Sleep};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// How long the system may settle after the final heal before the final reads.
const SETTLE: Duration = Duration::from_secs(3);
/// Attempts per final read (the system should be available once healed).
const FINAL_READ_ATTEMPTS: usize = 5;
/// A run that takes longer than this in simulated time is stuck.
const TIME_LIMIT: Duration = Duration::from_secs(3600);

/// Per-seed state the clients share: what is left of the workload and who is waiting.
struct Clients {
    workload: Workload,
    rng: SimRng,
    remaining: usize,
    unique: u64,
    next_op_id: u64,
    next_process: u64,
    done: usize,
    final_done: bool,
    supervisor: Option<Waker>,
}

impl Clients {
    fn wake(&mut self) {
        if let Some(w) = self.supervisor.take() {
            w.wake();
        }
    }
}

thread_local! {
    static CLIENTS: RefCell<Option<Clients>> = const { RefCell::new(None) };
}

fn with_clients<R>(f: impl FnOnce(&mut Clients) -> R) -> R {
    CLIENTS.with(|c| f(c.borrow_mut().as_mut().expect("clients installed")))
}

/// Resolves when `cond` holds (re-checked whenever a client wakes the supervisor) or at `deadline`.
struct Until<F> {
    cond: F,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<F: Fn(&Clients) -> bool + Unpin> Future for Until<F> {
    /// `true` when the condition held, `false` on the deadline.
    type Output = bool;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let done = with_clients(|c| {
            if (self.cond)(c) {
                true
            } else {
                c.supervisor = Some(cx.waker().clone());
                false
            }
        });
        if done {
            return Poll::Ready(true);
        }
        match &mut self.sleep {
            Some(s) => s.as_mut().poll(cx).map(|()| false),
            None => Poll::Pending,
        }
    }
}

fn until<F: Fn(&Clients) -> bool + Unpin>(cond: F, deadline: Option<Instant>) -> Until<F> {
    Until {
        cond,
        sleep: deadline.map(|d| Box::pin(madsim::time::sleep_until(d))),
    }
}

/// Races a future against a timeout, without spawning.
async fn with_timeout<F: Future>(f: F, d: Duration) -> Option<F::Output> {
    madsim::time::timeout(d, f).await.ok()
}

fn record<M: 'static>(world: &World<M>, e: Event) {
    world.core.borrow_mut().record_event(e);
}

/// Runs one operation from a client and records it; returns whether the process survives
/// (`false` after `info`: Jepsen retires the process).
async fn perform<P: Protocol>(
    p: &P,
    ctx: &NodeCtx<P::Msg>,
    world: &World<P::Msg>,
    process: u64,
    op_id: u64,
    inv: &Invocation,
    timeout: Duration,
) -> (bool, bool) {
    let key = inv.key.as_deref();
    let now = world.core.borrow().now_ns();
    record(
        world,
        Event::invoke(process, &inv.f, key, inv.value.clone(), now),
    );
    let outcome = with_timeout(p.call(ctx, op_id, inv), timeout)
        .await
        .unwrap_or_else(|| Outcome::Unknown("timeout".into()));
    let now = world.core.borrow().now_ns();
    let (kind, value) = match &outcome {
        Outcome::Ok(v) if inv.f == "read" => (EventType::Ok, v.clone()),
        Outcome::Ok(_) => (EventType::Ok, inv.value.clone()),
        Outcome::Fail(_) => (EventType::Fail, inv.value.clone()),
        Outcome::Unknown(_) => (EventType::Info, inv.value.clone()),
    };
    record(
        world,
        Event::complete(process, kind, &inv.f, key, value, now),
    );
    (kind != EventType::Info, kind == EventType::Ok)
}

async fn client_loop<P: Protocol>(p: Arc<P>, id: usize, index: u64, seed: u64) {
    let ctx = NodeCtx::<P::Msg>::new(id, seed);
    let world = world::current::<P::Msg>();
    let (think, timeout) = with_clients(|c| (c.workload.think_ms, c.workload.timeout_ms));
    let timeout = Duration::from_millis(timeout);
    let mut process = index;
    loop {
        let pause = ctx.rng().gen_range(0..=2 * think);
        madsim::time::sleep(Duration::from_millis(pause)).await;
        let next = with_clients(|c| {
            if c.remaining == 0 {
                return None;
            }
            c.remaining -= 1;
            c.next_op_id += 1;
            let inv = c.workload.next(&mut c.rng, &mut c.unique);
            Some((c.next_op_id, inv))
        });
        let Some((op_id, inv)) = next else { break };
        let (alive, _) = perform(&*p, &ctx, &world, process, op_id, &inv, timeout).await;
        if !alive {
            process = with_clients(|c| {
                c.next_process += 1;
                c.next_process - 1
            });
        }
    }
    with_clients(|c| {
        c.done += 1;
        c.wake();
    });
}

async fn final_reads<P: Protocol>(p: Arc<P>, id: usize, seed: u64) {
    let ctx = NodeCtx::<P::Msg>::new(id, seed);
    let world = world::current::<P::Msg>();
    let (reads, timeout) = with_clients(|c| {
        (
            c.workload.final_reads(),
            Duration::from_millis(c.workload.timeout_ms),
        )
    });
    let mut process = with_clients(|c| c.next_process);
    for inv in reads {
        for _ in 0..FINAL_READ_ATTEMPTS {
            let op_id = with_clients(|c| {
                c.next_op_id += 1;
                c.next_op_id
            });
            let (alive, ok) = perform(&*p, &ctx, &world, process, op_id, &inv, timeout).await;
            if !alive {
                process += 1;
            }
            if ok {
                break;
            }
            madsim::time::sleep(Duration::from_millis(200)).await;
        }
    }
    with_clients(|c| {
        c.final_done = true;
        c.wake();
    });
}

/// What the nemesis does at one instant.
#[derive(Clone, Copy, Debug)]
enum Action {
    Start(usize),
    End(usize),
}

struct Nemesis<M: 'static> {
    world: Rc<World<M>>,
    handle: Handle,
    servers: Vec<NodeHandle>,
    steps: Vec<Step>,
    down: Vec<u32>,
    active: Vec<bool>,
}

impl<M: 'static> Nemesis<M> {
    fn each_cut(groups: &[Vec<usize>], oneway: bool, mut f: impl FnMut(usize, usize)) {
        for (gi, g) in groups.iter().enumerate() {
            for (hi, h) in groups.iter().enumerate() {
                if gi == hi || (oneway && gi != 0) {
                    continue;
                }
                for &a in g {
                    for &b in h {
                        f(a, b);
                    }
                }
            }
        }
    }

    fn apply(&mut self, action: Action) {
        let (i, start) = match action {
            Action::Start(i) => (i, true),
            Action::End(i) => (i, false),
        };
        if start == self.active[i] {
            return; // an end for a step never started (cut short), or a repeated start
        }
        self.active[i] = start;
        let fault = self.steps[i].fault.clone();
        let phase = if start { "start" } else { "end" };
        self.world
            .core
            .borrow_mut()
            .record_fault(i, phase, fault.to_string());
        match fault {
            Fault::Partition { groups, oneway } => {
                let mut core = self.world.core.borrow_mut();
                let n = core.total_nodes();
                Self::each_cut(&groups, oneway, |a, b| {
                    let c = &mut core.net.cut[a * n + b];
                    *c = if start { *c + 1 } else { c.saturating_sub(1) };
                });
            }
            Fault::Crash { node } => {
                if start {
                    self.down[node] += 1;
                    if self.down[node] == 1 {
                        self.handle.kill(self.servers[node].id());
                        self.world.core.borrow_mut().nodes[node].up = false;
                        self.world.clear_mailbox(node);
                        crash_disk(&self.world, node);
                    }
                } else {
                    self.down[node] -= 1;
                    if self.down[node] == 0 {
                        {
                            let mut core = self.world.core.borrow_mut();
                            core.nodes[node].up = true;
                            core.nodes[node].incarnation += 1;
                        }
                        self.handle.restart(self.servers[node].id());
                    }
                }
            }
            Fault::Loss { rate } => self.window(i, start, rate, |n| &mut n.loss),
            Fault::Duplicate { rate } => self.window(i, start, rate, |n| &mut n.duplicate),
            Fault::Delay { mean_ms } => self.window(i, start, mean_ms, |n| &mut n.delay),
            Fault::ClockSkew { node, offset_ms } => {
                self.world.core.borrow_mut().nodes[node].clock_offset_ns =
                    if start { offset_ms * 1_000_000 } else { 0 };
            }
        }
    }

    fn window(
        &self,
        step: usize,
        start: bool,
        value: f64,
        field: impl FnOnce(&mut crate::world::NetFaults) -> &mut Vec<(usize, f64)>,
    ) {
        let mut core = self.world.core.borrow_mut();
        let v = field(&mut core.net);
        if start {
            v.push((step, value));
        } else {
            v.retain(|(s, _)| *s != step);
        }
    }
}

/// The result of one simulation, before checking.
pub(crate) struct SimOutput {
    pub recording: Recording,
    pub fingerprint: Fingerprint,
    /// The steps that actually started (a step after the workload ended never runs).
    pub ran: Vec<Step>,
}

/// Runs one seed to completion on the current thread. The thread must be fresh.
pub(crate) fn simulate<P: Protocol>(
    protocol: Arc<P>,
    seed: u64,
    cfg: &ModelConfig,
    steps: Vec<Step>,
    trace: bool,
) -> SimOutput {
    let mut rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    rt.set_time_limit(TIME_LIMIT);
    let cfg2 = cfg.clone();
    let steps2 = steps.clone();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(supervise(protocol, seed, cfg2, steps2, trace))
    }));
    let panic = result.err().map(|e| crate::panics::message(&*e));
    let world = world::current::<P::Msg>();
    if panic.is_some() {
        // The run ended at the panic: without this its time (and the `panic` violation's
        // `at_ms`, and `sim_ms`) would read 0.
        let mut core = world.core.borrow_mut();
        if let (0, Some(at)) = (core.end_ns, crate::panics::time()) {
            core.end_ns = at.saturating_duration_since(core.start).as_nanos() as u64;
        }
    }
    CLIENTS.with(|c| c.borrow_mut().take());
    let (recording, fingerprint) = world.core.borrow_mut().take_recording(panic);
    let started: Vec<usize> = {
        let mut s: Vec<usize> = recording
            .faults
            .iter()
            .filter(|f| f.phase == "start")
            .map(|f| f.step)
            .collect();
        s.sort_unstable();
        s.dedup();
        s
    };
    world::uninstall();
    drop(world);
    drop(rt);
    SimOutput {
        ran: started.into_iter().map(|i| steps[i].clone()).collect(),
        recording,
        fingerprint,
    }
}

async fn supervise<P: Protocol>(
    protocol: Arc<P>,
    seed: u64,
    cfg: ModelConfig,
    steps: Vec<Step>,
    trace: bool,
) {
    let handle = Handle::current();
    let servers = cfg.nodes;
    let clients = cfg.clients.max(1);
    // Streams of randomness the harness owns, each derived from the seed alone.
    let net_rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6e65_7477_6f72_6b00);
    let workload_rng = ChaCha8Rng::seed_from_u64(seed ^ 0x776f_726b_6c6f_6164);
    let core = Core::new(seed, servers, clients + 1, net_rng, trace);
    let world = Rc::new(World::<P::Msg>::new(core));
    world::install(world.clone());
    let workload = protocol.workload();
    CLIENTS.with(|c| {
        *c.borrow_mut() = Some(Clients {
            workload,
            rng: workload_rng,
            remaining: cfg.ops,
            unique: 0,
            next_op_id: 0,
            next_process: clients as u64,
            done: 0,
            final_done: false,
            supervisor: None,
        })
    });

    let server_handles: Vec<NodeHandle> = (0..servers)
        .map(|i| {
            let p = protocol.clone();
            handle
                .create_node()
                .name(format!("n{i}"))
                .init(move || {
                    let p = p.clone();
                    async move {
                        let ctx = NodeCtx::new(i, seed);
                        p.node(ctx).await;
                    }
                })
                .build()
        })
        .collect();
    let client_handles: Vec<NodeHandle> = (0..clients)
        .map(|c| {
            let p = protocol.clone();
            let id = servers + c;
            handle
                .create_node()
                .name(format!("c{c}"))
                .init(move || client_loop(p.clone(), id, c as u64, seed))
                .build()
        })
        .collect();

    let mut actions: Vec<(u64, usize, Action)> = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        actions.push((s.at_ms, 2 * i + 1, Action::Start(i)));
        if let Some(end) = s.end_ms() {
            actions.push((end, 2 * i, Action::End(i)));
        }
    }
    actions.sort_by_key(|&(t, order, _)| (t, order));
    let mut nemesis = Nemesis {
        world: world.clone(),
        handle: handle.clone(),
        servers: server_handles.clone(),
        active: vec![false; steps.len()],
        down: vec![0; servers],
        steps,
    };
    let start = world.core.borrow().start;
    let all_done = move |c: &Clients| c.done >= clients;
    for (t, _, action) in actions {
        let at = start + Duration::from_millis(t);
        if until(all_done, Some(at)).await {
            break;
        }
        nemesis.apply(action);
    }
    until(all_done, None).await;

    // Final phase: heal everything, restart crashed nodes, settle, read every key.
    {
        let mut core = world.core.borrow_mut();
        core.final_phase_ns = core.now_ns();
        core.final_process_base = with_clients(|c| c.next_process);
    }
    for i in 0..nemesis.steps.len() {
        nemesis.apply(Action::End(i));
    }
    madsim::time::sleep(SETTLE).await;
    let p = protocol.clone();
    let reader_id = servers + clients;
    let reader = handle
        .create_node()
        .name("final")
        .init(move || final_reads(p.clone(), reader_id, seed))
        .build();
    until(|c: &Clients| c.final_done, None).await;
    {
        let mut core = world.core.borrow_mut();
        core.end_ns = core.now_ns();
    }

    // Kill every node before block_on returns, or the seed leaks its tasks.
    for h in server_handles
        .iter()
        .chain(&client_handles)
        .chain([&reader])
    {
        handle.kill(h.id());
    }
}
