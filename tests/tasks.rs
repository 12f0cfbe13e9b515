//! Nodes with several tasks, from a user's side (public API only): a register whose server runs
//! a main loop, a heartbeat task and a request handler per request (each handler subscribes to
//! its peers' acks, replicates, waits with a timeout and answers the client) passes seeds of the
//! crash schedule; a crash kills all three tasks and a restart starts them afresh, which the
//! observations show (each carries the incarnation's boot number, counted on the node's own
//! disk). Subscriptions keep their replies from the main loop and hand back what they did not
//! receive when dropped; two receives on one mailbox, and code of a crashed incarnation that
//! escaped its node, are caught.
use faultline::prelude::*;
use faultline::recording::Recording;
use faultline::run::{run, Faults, RunReport, RunRequest};
use faultline::schedule::Schedule;
use faultline::NodeCtx;
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

/// How the test register behaves.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Variant {
    /// Every task spawned with `ctx.spawn`.
    Correct,
    /// The bug: node 0 hands its heartbeat to whoever runs the next client call (a task of
    /// another node), so the heartbeat escapes the node and outlives its crash.
    HeartbeatEscapes,
}

/// A request's id on the replication path: the leader's boot number and a per-boot counter, so a
/// late ack from a previous incarnation never counts.
type Rid = (u64, u64);

#[derive(Clone, Debug)]
enum Wire {
    Req(u64, Invocation),
    Resp(u64, Result<Value, String>),
    Replicate(Rid, String, Value),
    Ack(Rid),
}

const HEARTBEAT: Duration = Duration::from_millis(100);
const ACK_TIMEOUT: Duration = Duration::from_millis(300);

/// Node 0's durable state: the registers, and the ids of the writes applied (the network
/// duplicates requests, so a write is applied once per id).
type State = (BTreeMap<String, Value>, BTreeSet<u64>);

thread_local! {
    /// The bug variant's hand-off: futures a node gives to another node's task to run.
    static HANDED: RefCell<Vec<Pin<Box<dyn Future<Output = ()>>>>> = const { RefCell::new(Vec::new()) };
}

struct TaskKv {
    variant: Variant,
}

/// Counts this incarnation on the node's own disk: 1 at the first start, one more per restart
/// (a crash before the count is durable reuses it, but that incarnation observed nothing).
async fn boot(ctx: &NodeCtx<Wire>) -> u64 {
    let disk = ctx.disk();
    let boot = disk.get::<u64>("boot").unwrap_or(0) + 1;
    disk.put("boot", &boot);
    disk.fsync().await;
    boot
}

async fn heartbeat(ctx: NodeCtx<Wire>, boot: u64) {
    loop {
        ctx.sleep(HEARTBEAT).await;
        ctx.observe("hb", &json!({ "boot": boot }));
    }
}

/// One client request on node 0, in its own task: apply, replicate to the peers and wait for
/// one ack (a majority with the leader), durable before it answers.
async fn handle(
    ctx: NodeCtx<Wire>,
    state: Rc<RefCell<State>>,
    rid: Rid,
    boot: u64,
    client: usize,
    id: u64,
    op: Invocation,
) {
    ctx.observe("handling", &json!({ "boot": boot, "id": id }));
    let disk = ctx.disk();
    let key = op.key.clone().unwrap_or_default();
    let out = if op.f == "write" {
        {
            let mut st = state.borrow_mut();
            if st.1.insert(id) {
                st.0.insert(key.clone(), op.value.clone());
            }
            // Memory and the disk's buffer change together, so an fsync makes all we serve durable.
            disk.put("state", &*st);
        }
        // Subscribed before the requests go out: their acks are routed when sent.
        let acks = ctx.subscribe(move |_, m| matches!(m, Wire::Ack(r) if *r == rid));
        for p in ctx.peers() {
            ctx.send(p, Wire::Replicate(rid, key.clone(), op.value.clone()));
        }
        disk.fsync().await;
        match acks.recv_timeout(ACK_TIMEOUT).await {
            Some(_) => Ok(Value::Null),
            // Durable here, but not replicated: the client cannot know.
            None => Err("unreplicated".to_string()),
        }
    } else {
        // Everything in memory is durable once this returns.
        disk.fsync().await;
        Ok(state.borrow().0.get(&key).cloned().unwrap_or(Value::Null))
    };
    ctx.send(client, Wire::Resp(id, out));
    ctx.observe("handled", &json!({ "boot": boot, "id": id }));
}

impl Protocol for TaskKv {
    type Msg = Wire;

    fn cap(&self) -> Cap {
        Cap::CP
    }

    async fn node(&self, ctx: NodeCtx<Wire>) {
        let boot = boot(&ctx).await;
        let hb = heartbeat(ctx.clone(), boot);
        match self.variant {
            Variant::HeartbeatEscapes if ctx.id() == 0 => {
                HANDED.with(|h| h.borrow_mut().push(Box::pin(hb)))
            }
            _ => {
                ctx.spawn(hb);
            }
        }
        let disk = ctx.disk();
        let state = Rc::new(RefCell::new(disk.get::<State>("state").unwrap_or_default()));
        let seq = Cell::new(0u64);
        loop {
            let (from, msg) = ctx.recv().await;
            match msg {
                Wire::Req(id, op) if ctx.id() == 0 => {
                    ctx.observe("main", &json!({ "boot": boot, "id": id }));
                    seq.set(seq.get() + 1);
                    let rid = (boot, seq.get());
                    ctx.spawn(handle(ctx.clone(), state.clone(), rid, boot, from, id, op));
                }
                Wire::Replicate(rid, key, value) => {
                    state.borrow_mut().0.insert(key, value);
                    disk.put("state", &*state.borrow());
                    disk.fsync().await;
                    ctx.send(from, Wire::Ack(rid));
                }
                // Acks that came after their handler gave up, or duplicated by the network.
                Wire::Ack(_) => ctx.observe("late-ack", &json!({ "boot": boot })),
                _ => {}
            }
        }
    }

    async fn call(&self, c: &ClientCtx<Wire>, id: u64, op: &Invocation) -> Outcome {
        // The bug variant's other half: a client task runs what node 0 handed over.
        for f in HANDED.with(|h| std::mem::take(&mut *h.borrow_mut())) {
            c.spawn(f);
        }
        c.send(0, Wire::Req(id, op.clone()));
        while let Some((_, msg)) = c.recv_timeout(Duration::from_millis(500)).await {
            match msg {
                Wire::Resp(rid, Ok(v)) if rid == id => return Outcome::Ok(v),
                Wire::Resp(rid, Err(e)) if rid == id => return Outcome::Unknown(e),
                _ => {}
            }
        }
        Outcome::Unknown("timeout".into())
    }
}

fn model(variant: Variant) -> Model {
    Model::new("task-kv", move |_| Ok(TaskKv { variant }))
        .nodes(3)
        .ops(150)
}

fn run_seed(m: &Model, seed: u64, schedule: &str) -> RunReport {
    let req = RunRequest {
        seed,
        config: m.config(None),
        faults: Faults::Schedule(Schedule::load(schedule).expect("built-in schedule")),
        fail_on: vec![],
        trace: false,
    };
    run(m, &req).expect("valid run")
}

/// When each server was down: `[crash, restart)` intervals from the recorded crash steps (they
/// may overlap: a node is down while any crash covering it lasts).
fn down_intervals(rec: &Recording) -> BTreeMap<usize, Vec<(u64, u64)>> {
    let mut depth: BTreeMap<usize, u32> = BTreeMap::new();
    let mut since: BTreeMap<usize, u64> = BTreeMap::new();
    let mut out: BTreeMap<usize, Vec<(u64, u64)>> = BTreeMap::new();
    for f in rec
        .faults
        .iter()
        .filter(|f| matches!(f.kind.as_str(), "crash" | "power-loss"))
    {
        for &n in &f.nodes {
            let d = depth.entry(n).or_default();
            match f.phase.as_str() {
                "start" => {
                    *d += 1;
                    if *d == 1 {
                        since.insert(n, f.at_ns);
                    }
                }
                "end" => {
                    *d -= 1;
                    if *d == 0 {
                        out.entry(n).or_default().push((since[&n], f.at_ns));
                    }
                }
                _ => {}
            }
        }
    }
    // A run that ended in a panic may leave nodes down: down until the end.
    for (n, d) in depth {
        if d > 0 {
            out.entry(n).or_default().push((since[&n], rec.sim_ns));
        }
    }
    out
}

/// An observation of the test register: who, when, what, which boot.
struct Obs {
    node: usize,
    at_ns: u64,
    kind: String,
    boot: u64,
}

fn tagged(rec: &Recording) -> Vec<Obs> {
    rec.observations
        .iter()
        .filter_map(|o| {
            Some(Obs {
                node: o.node,
                at_ns: o.at_ns,
                kind: o.kind.clone(),
                boot: o.data.get("boot")?.as_u64()?,
            })
        })
        .collect()
}

/// What one seed showed about crashes and tasks.
#[derive(Default, Debug)]
struct Shown {
    crashes: usize,
    /// Crashes of node 0 while a handler of the crashed incarnation was still at work.
    handlers_killed: usize,
    /// Restarts after which a new incarnation's heartbeat came.
    fresh_heartbeats: usize,
    /// Requests handled by a restarted node 0.
    handled_after_restart: usize,
}

/// Asserts, from the observations alone, that a crash ends every task of the crashed
/// incarnation and that a restart starts new ones.
fn assert_crashes_kill_all_tasks(r: &RunReport) -> Shown {
    let rec = &r.recording;
    let obs = tagged(rec);
    let down = down_intervals(rec);
    let mut shown = Shown::default();
    for (&node, intervals) in &down {
        let mine: Vec<&Obs> = obs.iter().filter(|o| o.node == node).collect();
        for (i, &(crash, restart)) in intervals.iter().enumerate() {
            shown.crashes += 1;
            let before = mine
                .iter()
                .filter(|o| o.at_ns < crash)
                .map(|o| o.boot)
                .max();
            for o in &mine {
                // A downed node does nothing at all.
                assert!(
                    !(crash..restart).contains(&o.at_ns),
                    "seed {}: n{node} observed {} at {} ns while down ({crash}..{restart})",
                    r.seed,
                    o.kind,
                    o.at_ns
                );
                // No task of an incarnation from before the crash acts after it.
                if o.at_ns >= crash {
                    assert!(
                        before.is_none_or(|b| o.boot > b),
                        "seed {}: n{node}'s boot {} observed {} at {} ns, after the crash at {crash} ns",
                        r.seed,
                        o.boot,
                        o.kind,
                        o.at_ns
                    );
                }
            }
            // The restarted node's heartbeat runs again, in a new incarnation, unless the node
            // went down again too soon to show it.
            let next = intervals.get(i + 1).map_or(rec.sim_ns, |n| n.0);
            if next >= restart + 5 * HEARTBEAT.as_nanos() as u64 {
                let fresh = mine.iter().any(|o| {
                    o.kind == "hb"
                        && (restart..next).contains(&o.at_ns)
                        && before.is_none_or(|b| o.boot > b)
                });
                assert!(
                    fresh,
                    "seed {}: no heartbeat of a new incarnation after n{node} restarted at {restart} ns",
                    r.seed
                );
                shown.fresh_heartbeats += 1;
            }
            if node == 0 {
                let started: BTreeSet<(u64, u64)> = rec
                    .observations
                    .iter()
                    .filter(|o| o.node == 0 && o.at_ns < crash)
                    .filter_map(|o| {
                        let key = (o.data.get("boot")?.as_u64()?, o.data.get("id")?.as_u64()?);
                        (o.kind == "handling").then_some(key)
                    })
                    .collect();
                let done: BTreeSet<(u64, u64)> = rec
                    .observations
                    .iter()
                    .filter(|o| o.node == 0 && o.kind == "handled")
                    .filter_map(|o| {
                        Some((o.data.get("boot")?.as_u64()?, o.data.get("id")?.as_u64()?))
                    })
                    .collect();
                if started.difference(&done).any(|&(b, _)| before == Some(b)) {
                    shown.handlers_killed += 1;
                }
            }
        }
    }
    let first_boot = obs.iter().filter(|o| o.node == 0).map(|o| o.boot).min();
    shown.handled_after_restart = obs
        .iter()
        .filter(|o| o.node == 0 && o.kind == "handled" && Some(o.boot) > first_boot)
        .count();
    shown
}

const SEEDS: std::ops::Range<u64> = 0..4;

#[test]
fn three_tasks_per_node_pass_crashes_and_a_crash_kills_them_all() {
    let m = model(Variant::Correct);
    let mut total = Shown::default();
    for seed in SEEDS {
        let r = run_seed(&m, seed, "crashes");
        assert!(r.passed, "seed {seed}: {:?}", r.violations);
        assert!(r.stats.ok > 0, "seed {seed}: nothing succeeded");
        let s = assert_crashes_kill_all_tasks(&r);
        total.crashes += s.crashes;
        total.handlers_killed += s.handlers_killed;
        total.fresh_heartbeats += s.fresh_heartbeats;
        total.handled_after_restart += s.handled_after_restart;
    }
    // Deterministic, tasks and all: the same seed takes the same path.
    assert_eq!(
        run_seed(&m, 1, "crashes").fingerprint,
        run_seed(&m, 1, "crashes").fingerprint
    );
    // The seeds exercised what the assertions are about.
    assert!(total.crashes > 0, "{total:?}");
    assert!(total.fresh_heartbeats > 0, "{total:?}");
    assert!(
        total.handlers_killed > 0,
        "no crash hit a handler at work: {total:?}"
    );
    assert!(total.handled_after_restart > 0, "{total:?}");
}

#[test]
fn a_heartbeat_that_escapes_its_node_is_caught_after_the_crash() {
    let bug = model(Variant::HeartbeatEscapes);
    let correct = model(Variant::Correct);
    let mut caught = 0;
    for seed in SEEDS {
        let r = run_seed(&bug, seed, "crashes");
        let crashed_n0 = down_intervals(&r.recording).contains_key(&0);
        let Some(panic) = &r.recording.panic else {
            assert!(
                !crashed_n0 || !r.passed,
                "seed {seed}: n0 crashed and the escape went unseen"
            );
            continue;
        };
        assert!(
            panic.contains("node n0: code of its incarnation 0 observed a fact after the node"),
            "seed {seed}: {panic}"
        );
        assert!(!r.passed);
        assert!(
            r.violated_checkers().contains(&"panic".to_string()),
            "{:?}",
            r.violations
        );
        caught += 1;
        // Same seed, every task spawned on its node: clean.
        assert!(run_seed(&correct, seed, "crashes").passed, "seed {seed}");
    }
    assert!(
        caught > 0,
        "no seed of {SEEDS:?} caught the escaped heartbeat"
    );
}

/// A node that pings its peer and takes part of the replies in a subscription.
#[derive(Clone, Debug)]
enum Ping {
    Ping(u64),
    Pong(u64),
}

/// Pongs below this go to the subscription.
const SUBSCRIBED: u64 = 10;
const PINGS: u64 = 20;
/// The subscriber takes this many, then drops its mailbox.
const TAKEN: usize = 4;

struct Pinger {
    /// Two receives on node 0's main mailbox at once (the mistake).
    two_receivers: bool,
}

impl Protocol for Pinger {
    type Msg = Ping;

    fn cap(&self) -> Cap {
        Cap::CP
    }

    async fn node(&self, ctx: NodeCtx<Ping>) {
        if ctx.id() == 1 {
            loop {
                if let (from, Ping::Ping(k)) = ctx.recv().await {
                    ctx.send(from, Ping::Pong(k));
                }
            }
        }
        if ctx.id() != 0 {
            return;
        }
        let main = ctx.clone();
        ctx.spawn(async move {
            loop {
                if let (_, Ping::Pong(k)) = main.recv().await {
                    main.observe("main", &k);
                }
            }
        });
        if self.two_receivers {
            let second = ctx.clone();
            ctx.spawn(async move {
                second.recv().await;
            });
        }
        let sub = ctx.subscribe(|_, m| matches!(m, Ping::Pong(k) if *k < SUBSCRIBED));
        for k in 0..PINGS {
            ctx.send(1, Ping::Ping(k));
        }
        for _ in 0..TAKEN {
            let (_, Ping::Pong(k)) = sub.recv().await else {
                unreachable!("the filter takes pongs only")
            };
            ctx.observe("sub", &k);
        }
        ctx.observe("dropped", &());
        drop(sub);
        // Returning ends this task only: the main loop task keeps running until a crash.
    }

    async fn call(&self, _: &ClientCtx<Ping>, _: u64, _: &Invocation) -> Outcome {
        Outcome::Fail("no operations".into())
    }
}

fn pinger(two_receivers: bool) -> Model {
    Model::new("pinger", move |_| Ok(Pinger { two_receivers }))
        .nodes(2)
        .ops(1)
}

fn values(r: &RunReport, kind: &str) -> Vec<(u64, u64)> {
    r.recording
        .observations
        .iter()
        .filter(|o| o.kind == kind)
        .map(|o| (o.at_ns, o.data.as_u64().expect("a number")))
        .collect()
}

#[test]
fn replies_to_a_subscription_skip_the_main_loop_and_come_back_when_it_is_dropped() {
    let m = pinger(false);
    for seed in SEEDS {
        let r = run_seed(&m, seed, "none");
        assert_eq!(r.recording.panic, None, "seed {seed}");
        let sub = values(&r, "sub");
        let main = values(&r, "main");
        let dropped = r
            .recording
            .observations
            .iter()
            .find(|o| o.kind == "dropped")
            .expect("the subscriber finished")
            .at_ns;
        assert_eq!(sub.len(), TAKEN, "seed {seed}");
        assert!(
            sub.iter().all(|&(_, k)| k < SUBSCRIBED),
            "seed {seed}: {sub:?}"
        );
        // While subscribed, the main loop never saw a subscribed reply.
        for &(at, k) in &main {
            assert!(
                k >= SUBSCRIBED || at > dropped,
                "seed {seed}: the main loop got pong {k} at {at} ns, before the drop at {dropped} ns"
            );
        }
        // Every pong arrived exactly once, at one of the two.
        let mut all: Vec<u64> = sub.iter().chain(&main).map(|&(_, k)| k).collect();
        all.sort_unstable();
        assert_eq!(all, (0..PINGS).collect::<Vec<_>>(), "seed {seed}");
        // And the main loop did get subscribed pongs: the ones the dropped mailbox held.
        assert_eq!(
            main.iter().filter(|&&(_, k)| k < SUBSCRIBED).count(),
            SUBSCRIBED as usize - TAKEN,
            "seed {seed}"
        );
    }
}

#[test]
fn two_receives_on_one_mailbox_panic_naming_the_node() {
    let r = run_seed(&pinger(true), 0, "none");
    let panic = r.recording.panic.as_deref().expect("the run panicked");
    assert!(
        panic.contains("node n0: two receives wait on its main mailbox (ctx.recv) at once"),
        "{panic}"
    );
    assert!(panic.contains("ctx.subscribe"), "{panic}");
    assert!(!r.passed);
    // The correct variant of the same seed does not panic.
    assert_eq!(run_seed(&pinger(false), 0, "none").recording.panic, None);
}

/// One node's tasks talking over a channel, with timers per task.
struct Relay;

impl Protocol for Relay {
    type Msg = ();

    fn cap(&self) -> Cap {
        Cap::CP
    }

    async fn node(&self, ctx: NodeCtx<()>) {
        if ctx.id() != 0 {
            return;
        }
        let (tx, mut rx) = ctx.channel::<(usize, u64)>();
        for task in 0..3usize {
            let (tx, c) = (tx.clone(), ctx.clone());
            ctx.spawn(async move {
                for i in 0..3u64 {
                    // Each task keeps its own pace: 10, 20, 30 ms.
                    c.sleep(Duration::from_millis(10 * (task as u64 + 1))).await;
                    tx.send((task, i)).expect("the receiver lives");
                }
            });
        }
        drop(tx);
        let worker = ctx.clone();
        let sum = ctx.spawn(async move {
            let mut got = Vec::new();
            while let Some((task, i)) = rx.recv().await {
                got.push(json!([task, i, worker.now_ns() / 1_000_000]));
            }
            got
        });
        let got = sum.await.expect("not aborted");
        ctx.observe("relayed", &got);
        let idle = ctx.spawn(std::future::pending::<()>());
        idle.abort();
        ctx.observe("aborted", &(idle.await == Err(Aborted)));
    }

    async fn call(&self, _: &ClientCtx<()>, _: u64, _: &Invocation) -> Outcome {
        Outcome::Fail("no operations".into())
    }
}

#[test]
fn tasks_talk_over_a_channel_each_on_its_own_timer() {
    let m = Model::new("relay", |_| Ok(Relay)).nodes(1).ops(1);
    let r = run_seed(&m, 3, "none");
    assert_eq!(r.recording.panic, None);
    let find = |kind: &str| {
        r.recording
            .observations
            .iter()
            .find(|o| o.kind == kind)
            .unwrap_or_else(|| panic!("no {kind} observation"))
            .data
            .clone()
    };
    let got: Vec<(u64, u64, u64)> = serde_json::from_value(find("relayed")).unwrap();
    // Nine values, each task's in its order, at its own pace (task t's i-th at (i+1)*10*(t+1)
    // ms, give or take the scheduler's nanoseconds), and the channel closed once every sender
    // was gone.
    assert_eq!(got.len(), 9, "{got:?}");
    for t in 0..3 {
        let mine: Vec<&(u64, u64, u64)> = got.iter().filter(|g| g.0 == t).collect();
        assert_eq!(mine.iter().map(|g| g.1).collect::<Vec<_>>(), [0, 1, 2]);
        for g in mine {
            assert_eq!(g.2, (g.1 + 1) * 10 * (t + 1), "{got:?}");
        }
    }
    let times: Vec<u64> = got.iter().map(|g| g.2).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "received in time order: {got:?}"
    );
    assert_eq!(find("aborted"), json!(true));
}

thread_local! {
    /// Node 0's context, kept where a client task can reach it (the mistake).
    static KEPT: RefCell<Option<NodeCtx<()>>> = const { RefCell::new(None) };
}

/// Node 0 leaves its context where a client finds it; the client spawns a task with it.
struct Smuggler;

impl Protocol for Smuggler {
    type Msg = ();

    fn cap(&self) -> Cap {
        Cap::CP
    }

    async fn node(&self, ctx: NodeCtx<()>) {
        if ctx.id() == 0 {
            KEPT.with(|k| *k.borrow_mut() = Some(ctx.clone()));
        }
    }

    async fn call(&self, _: &ClientCtx<()>, _: u64, _: &Invocation) -> Outcome {
        if let Some(n0) = KEPT.with(|k| k.borrow_mut().take()) {
            n0.spawn(async {});
        }
        Outcome::Fail("no operations".into())
    }
}

#[test]
fn spawning_with_another_nodes_context_panics() {
    let m = Model::new("smuggler", |_| Ok(Smuggler)).nodes(1).ops(1);
    let r = run_seed(&m, 0, "none");
    let panic = r.recording.panic.as_deref().expect("the run panicked");
    assert!(
        panic.contains("tried to spawn a task for node n0 from another node's task"),
        "{panic}"
    );
}
