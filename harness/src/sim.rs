//! One simulation on a madsim runtime: nodes, clients, the nemesis applying its steps, the final
//! phase. Called on a fresh thread per seed (see `runner`).
use crate::ctx::{NodeCtx, SimRng};
use crate::fingerprint::Fingerprint;
use crate::nemesis::Nemesis;
use crate::protocol::{Invocation, ModelConfig, Outcome, Protocol};
use crate::recording::Recording;
use crate::schedule::Step;
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

/// How long the system may settle after the final heal before the final reads (at most half the
/// liveness bound, so a short bound still leaves the reads time to succeed).
const SETTLE: Duration = Duration::from_secs(3);
/// The pause between two attempts at a final read that did not succeed.
const FINAL_RETRY: Duration = Duration::from_millis(200);
/// A run that takes longer than this in simulated time is stuck.
const TIME_LIMIT: Duration = Duration::from_secs(3600);

/// Per-seed state the clients share: what is left of the workload and who is waiting.
struct Clients {
    workload: Workload,
    rng: SimRng,
    remaining: usize,
    unique: u64,
    /// How many operations the workload has generated (the next one's index).
    drawn: usize,
    /// Indices of generated operations not issued (`ModelConfig::skip_ops`).
    skip: std::collections::BTreeSet<usize>,
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

/// Why the nemesis woke up.
enum Wake {
    /// Every client finished its share of the workload.
    Done,
    /// A triggered step's observation came.
    Fired,
    /// The next timed action is due.
    Due,
}

/// The nemesis's wait: for the clients to finish, a trigger to fire, or the next action's time.
struct NemesisWait<'a, M: 'static> {
    world: &'a World<M>,
    clients: usize,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<M: 'static> Future for NemesisWait<'_, M> {
    type Output = Wake;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Wake> {
        let clients = self.clients;
        let done = with_clients(|c| {
            if c.done >= clients {
                true
            } else {
                c.supervisor = Some(cx.waker().clone());
                false
            }
        });
        if done {
            return Poll::Ready(Wake::Done);
        }
        {
            let mut core = self.world.core.borrow_mut();
            if !core.fired.is_empty() {
                return Poll::Ready(Wake::Fired);
            }
            if !core.watches.is_empty() {
                core.nemesis = Some(cx.waker().clone());
            }
        }
        match &mut self.sleep {
            Some(s) => s.as_mut().poll(cx).map(|()| Wake::Due),
            None => Poll::Pending,
        }
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
    world
        .core
        .borrow_mut()
        .process_clients
        .insert(process, ctx.id());
    record(
        world,
        Event::invoke(process, &inv.f, key, inv.value.clone(), now),
    );
    let outcome = with_timeout(p.call(ctx, op_id, inv), timeout)
        .await
        .unwrap_or_else(|| Outcome::Unknown("timeout".into()));
    let now = world.core.borrow().now_ns();
    // An `ok` completion records what the call returned, whatever the op (a `pop`'s element, an
    // `add`'s new total, `null` for a write that returns nothing); `fail`/`info` carry the input.
    // Checkers take what an op wrote from its invocation (docs/reference.md, "History").
    let (kind, value, error) = match outcome {
        Outcome::Ok(v) => (EventType::Ok, v, None),
        Outcome::Fail(e) => (EventType::Fail, inv.value.clone(), Some(e)),
        Outcome::Unknown(e) => (EventType::Info, inv.value.clone(), Some(e)),
    };
    let mut done = Event::complete(process, kind, &inv.f, key, value, now);
    // Kept for the reports (the liveness checker names the last error); not fingerprinted.
    done.error = error;
    record(world, done);
    (kind != EventType::Info, kind == EventType::Ok)
}

/// Builds a fresh protocol value (the model's factory, on the seed thread): one per node
/// incarnation, per client and for the final reader.
pub(crate) type Make<P> = Arc<dyn Fn() -> Result<P, String> + Send + Sync>;

/// A fresh value for `who`. The factory already succeeded once for this configuration, so a
/// failure now means it is not deterministic: that ends the run as a `panic` naming it.
fn fresh<P>(make: &Make<P>, who: &str) -> P {
    make().unwrap_or_else(|e| {
        panic!("the model's factory failed building {who}: {e} (a factory must give the same result for the same configuration)")
    })
}

async fn client_loop<P: Protocol>(p: P, id: usize, index: u64, seed: u64) {
    let ctx = NodeCtx::<P::Msg>::new(id, seed);
    let world = world::current::<P::Msg>();
    let (think, timeout) = with_clients(|c| (c.workload.think_ms, c.workload.timeout_ms));
    let timeout = Duration::from_millis(timeout);
    let slot = index as usize;
    // A client restarted after a `client-crash` takes a fresh process: its old one retired
    // with the operation the crash interrupted.
    let restarted = world.core.borrow().nodes[id].incarnation > 0;
    let mut process = if restarted {
        with_clients(|c| {
            c.next_process += 1;
            c.next_process - 1
        })
    } else {
        index
    };
    loop {
        let pause = ctx.rng().gen_range(0..=2 * think);
        madsim::time::sleep(Duration::from_millis(pause)).await;
        let next = with_clients(|c| loop {
            if c.remaining == 0 {
                return None;
            }
            c.remaining -= 1;
            // Drawn even when skipped, so every other operation keeps its key and value.
            let inv = c.workload.next(&mut c.rng, &mut c.unique);
            c.drawn += 1;
            if c.skip.contains(&(c.drawn - 1)) {
                continue;
            }
            c.next_op_id += 1;
            return Some((c.next_op_id, inv));
        });
        let Some((op_id, inv)) = next else { break };
        // In flight until it completes: a client crash meanwhile records it `info`.
        world.core.borrow_mut().client_slots[slot].inflight = Some((process, inv.clone()));
        let (alive, _) = perform(&p, &ctx, &world, process, op_id, &inv, timeout).await;
        world.core.borrow_mut().client_slots[slot].inflight = None;
        if !alive {
            process = with_clients(|c| {
                c.next_process += 1;
                c.next_process - 1
            });
        }
    }
    // Counted once: a client restarted after it finished has nothing to add.
    let first = !std::mem::replace(
        &mut world.core.borrow_mut().client_slots[slot].finished,
        true,
    );
    if first {
        with_clients(|c| {
            c.done += 1;
            c.wake();
        });
    }
}

/// Asks every server node for its state through [`Protocol::inspect`] and records each answer
/// as a `final-state` observation of that node. Runs before the final reads, which may repair
/// the replicas they read.
async fn inspect_all<P: Protocol>(
    p: &P,
    ctx: &NodeCtx<P::Msg>,
    world: &World<P::Msg>,
    d: Duration,
) {
    let keys: Vec<String> = {
        let core = world.core.borrow();
        let finals = with_clients(|c| c.workload.final_reads());
        let named = core.history.events.iter().filter_map(|e| e.key.clone());
        let all: std::collections::BTreeSet<String> = named
            .chain(finals.into_iter().filter_map(|i| i.key))
            .collect();
        all.into_iter().collect()
    };
    for node in 0..ctx.servers() {
        let Some(Some(state)) = with_timeout(p.inspect(ctx, node, &keys), d).await else {
            continue;
        };
        let mut core = world.core.borrow_mut();
        let now = core.now_ns();
        core.fp.event(world::tag::OBSERVE, now, node as u64, 0);
        core.observations.push(crate::recording::Observation {
            at_ns: now,
            node,
            kind: crate::protocol::FINAL_STATE.to_string(),
            data: serde_json::json!({ "state": state }),
        });
    }
}

/// The final phase's reader: each final read (or final op) in turn, retried every
/// [`FINAL_RETRY`] until it succeeds or `deadline_ns` (the heal plus the liveness bound) has
/// passed; past the deadline each remaining one is still tried once, so the liveness checker can
/// name its error.
async fn final_reads<P: Protocol>(p: P, id: usize, seed: u64, deadline_ns: u64) {
    let ctx = NodeCtx::<P::Msg>::new(id, seed);
    let world = world::current::<P::Msg>();
    let timeout = with_clients(|c| Duration::from_millis(c.workload.timeout_ms));
    inspect_all(&p, &ctx, &world, timeout).await;
    let (reads, timeout) = with_clients(|c| {
        (
            c.workload.final_reads(),
            Duration::from_millis(c.workload.timeout_ms),
        )
    });
    let mut process = with_clients(|c| c.next_process);
    for inv in reads {
        loop {
            let op_id = with_clients(|c| {
                c.next_op_id += 1;
                c.next_op_id
            });
            let (alive, ok) = perform(&p, &ctx, &world, process, op_id, &inv, timeout).await;
            if !alive {
                process += 1;
            }
            if ok || world.core.borrow().now_ns() >= deadline_ns {
                break;
            }
            madsim::time::sleep(FINAL_RETRY).await;
        }
    }
    with_clients(|c| {
        c.final_done = true;
        c.wake();
    });
}

/// The result of one simulation, before checking.
pub(crate) struct SimOutput {
    pub recording: Recording,
    pub fingerprint: Fingerprint,
    /// Every step, as it ran: resolved when it started, annotated when it was skipped or never
    /// started. Steps that never started stay too: the nemesis still waited for them, and a
    /// replay must wait the same way to take the same path.
    pub ran: Vec<Step>,
    /// Bytes the wire check encoded, when the run made it (`--wire`).
    pub wire_bytes: Option<u64>,
}

/// Runs one seed to completion on the current thread. The thread must be fresh. `protocol` is
/// the harness's own value (the workload, the CAP choice); nodes and clients get theirs from
/// `make`.
pub(crate) fn simulate<P: Protocol>(
    protocol: &P,
    make: Make<P>,
    seed: u64,
    cfg: &ModelConfig,
    steps: Vec<Step>,
    trace: bool,
) -> SimOutput {
    // The incidental randomness (madsim's scheduling and rng, delays, node and client rngs,
    // the nemesis's draws) comes from the noise seed; the workload and buggify from the seed.
    let noisy = crate::data::noise_seed(seed, cfg.noise);
    let mut rt =
        madsim::runtime::Runtime::with_seed_and_config(noisy, crate::netsim::base_config());
    rt.set_time_limit(TIME_LIMIT);
    let cfg2 = cfg.clone();
    let all_steps = steps.clone();
    let cap = protocol.cap();
    let workload = protocol.workload();
    let max_drift = protocol.max_drift();
    assert!(
        max_drift >= 0.0,
        "Protocol::max_drift must be a fraction >= 0 (0.2: 200 ms per s), got {max_drift}"
    );
    let declared = Declared {
        corruption_budget: protocol.corruption_budget(),
        ordered_links: protocol.ordered_links(),
        max_drift,
        buggify_points: protocol.buggify_points(),
        wire_codec: protocol.wire_codec(),
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(supervise(
            make,
            workload,
            (seed, noisy),
            cfg2,
            all_steps,
            declared,
            trace,
        ))
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
    let (mut recording, fingerprint) = world.core.borrow_mut().take_recording(panic);
    recording.cap = cap;
    recording.liveness_ms = Some(cfg.liveness_ms());
    let ran = std::mem::take(&mut world.core.borrow_mut().ran);
    let wire_bytes = cfg.wire.map(|_| world.core.borrow().wire_bytes);
    let ran = steps
        .into_iter()
        .enumerate()
        .map(|(i, original)| {
            ran.get(i).cloned().flatten().unwrap_or_else(|| {
                let mut s = original;
                s.trigger = Some(match &s.after {
                    Some(a) => format!("never started: no `{}` observation came", a.kind),
                    None => "never started: the workload ended first".to_string(),
                });
                s
            })
        })
        .collect();
    world::uninstall();
    drop(world);
    drop(rt);
    SimOutput {
        ran,
        wire_bytes,
        recording,
        fingerprint,
    }
}

/// What the protocol declares that the engine honours during a run.
struct Declared<M> {
    /// `Protocol::corruption_budget`.
    corruption_budget: usize,
    /// `Protocol::ordered_links`: the reset message, when links are ordered.
    ordered_links: Option<M>,
    /// `Protocol::max_drift`: the nemesis clamps clock-skew drift to it.
    max_drift: f64,
    /// `Protocol::buggify_points`: the only points a run may reach.
    buggify_points: &'static [&'static str],
    /// `Protocol::wire_codec`: what `--wire` sends messages through.
    wire_codec: Option<crate::wire::WireCodec<M>>,
}

async fn supervise<P: Protocol>(
    make: Make<P>,
    workload: Workload,
    // The seed (workload, buggify) and the noise seed (everything else).
    (seed, noisy): (u64, u64),
    cfg: ModelConfig,
    steps: Vec<Step>,
    declared: Declared<P::Msg>,
    trace: bool,
) {
    let handle = Handle::current();
    let servers = cfg.nodes;
    let clients = cfg.clients.max(1);
    // Streams of randomness the harness owns: the workload's from the seed alone, the rest
    // from the noise seed (the seed itself unless a noise was asked for).
    let net_rng = ChaCha8Rng::seed_from_u64(noisy ^ 0x6e65_7477_6f72_6b00);
    let workload_rng = ChaCha8Rng::seed_from_u64(seed ^ 0x776f_726b_6c6f_6164);
    let core = Core::new(noisy, servers, clients + 1, net_rng, trace);
    let mut core = core;
    core.buggify = crate::buggify::State::new(
        seed,
        cfg.buggify,
        cfg.buggify_only.clone(),
        declared.buggify_points,
    );
    let mut world = World::<P::Msg>::new(core);
    if declared.ordered_links.is_some() {
        // A value of the harness's own, asked which messages ride the connection.
        let judge = fresh(&make, "the harness");
        world.set_ordered(declared.ordered_links, Box::new(move |m| judge.ordered(m)));
    }
    if cfg.wire.is_some() {
        world.wire = declared.wire_codec;
        assert!(
            world.wire.is_some(),
            "--wire: the protocol declares no wire codec (validated before the run)"
        );
    }
    let world = Rc::new(world);
    world::install(world.clone());
    CLIENTS.with(|c| {
        *c.borrow_mut() = Some(Clients {
            workload,
            rng: workload_rng,
            remaining: cfg.ops,
            unique: 0,
            drawn: 0,
            skip: cfg.skip_ops.clone(),
            next_op_id: 0,
            next_process: clients as u64,
            done: 0,
            final_done: false,
            supervisor: None,
        })
    });

    let server_handles: Vec<NodeHandle> = (0..servers)
        .map(|i| {
            let make = make.clone();
            handle
                .create_node()
                .name(format!("n{i}"))
                .ip(crate::netsim::ip_of(i))
                // Called at every (re)start: a fresh value per incarnation, nothing but the
                // disk survives a crash.
                .init(move || {
                    let p = fresh(&make, &format!("node n{i}"));
                    async move {
                        let ctx = NodeCtx::new(i, noisy);
                        p.node(ctx).await;
                        // The node's spawned tasks live on until it crashes: madsim would end
                        // them all (kill the node) as soon as its first task returned.
                        std::future::pending::<()>().await;
                    }
                })
                .build()
        })
        .collect();
    let client_handles: Vec<NodeHandle> = (0..clients)
        .map(|c| {
            let make = make.clone();
            let id = servers + c;
            handle
                .create_node()
                .name(format!("c{c}"))
                .ip(crate::netsim::ip_of(id))
                .init(move || {
                    client_loop(fresh(&make, &format!("client c{c}")), id, c as u64, noisy)
                })
                .build()
        })
        .collect();

    let mut nemesis = Nemesis::new(
        world.clone(),
        handle.clone(),
        server_handles.clone(),
        steps,
        noisy,
        declared.corruption_budget,
        declared.max_drift,
    );
    nemesis.set_clients(client_handles.clone());
    let start = world.core.borrow().start;
    loop {
        let wait = NemesisWait {
            world: &world,
            clients,
            sleep: nemesis
                .next_due()
                .map(|t| Box::pin(madsim::time::sleep_until(start + Duration::from_nanos(t)))),
        };
        match wait.await {
            Wake::Done => break,
            Wake::Fired => nemesis.take_fired(),
            Wake::Due => {
                let now = world.core.borrow().now_ns();
                nemesis.apply_due(now);
            }
        }
    }

    // Final phase: heal everything, restart crashed nodes, settle, read every key; every read
    // must succeed within the liveness bound of the heal (the `liveness` checker).
    {
        let mut core = world.core.borrow_mut();
        core.final_phase_ns = core.now_ns();
        core.final_process_base = with_clients(|c| c.next_process);
    }
    nemesis.end_all();
    let bound = Duration::from_millis(cfg.liveness_ms());
    let deadline_ns = {
        let mut core = world.core.borrow_mut();
        let heal = core.now_ns();
        core.heal_ns = Some(heal);
        heal.saturating_add(bound.as_nanos() as u64)
    };
    madsim::time::sleep(SETTLE.min(bound / 2)).await;
    let reader_id = servers + clients;
    let reader = handle
        .create_node()
        .name("final")
        .ip(crate::netsim::ip_of(reader_id))
        .init(move || {
            final_reads(
                fresh(&make, "the final reader"),
                reader_id,
                noisy,
                deadline_ns,
            )
        })
        .build();
    until(|c: &Clients| c.final_done, None).await;
    {
        let mut core = world.core.borrow_mut();
        core.end_ns = core.now_ns();
        // Socket traffic (madsim's own network) counts too, so two runs that differ only in it
        // differ in fingerprint, and the run's message count includes them; a run without sockets adds
        // nothing and keeps its fingerprint.
        let socket_messages = crate::netsim::messages();
        if socket_messages > 0 {
            core.fp.add(socket_messages);
            core.messages += socket_messages;
        }
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
