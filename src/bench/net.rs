//! The network floor: five nodes exchanging the same pings and pongs over raw
//! `madsim::net::Endpoint`, and through the harness's own network (mailboxes, fault routing,
//! recording, fingerprint) as a protocol written against the public API.
//!
//! Every node sends `rounds` pings, at most `window` outstanding, round-robin to its four peers,
//! and answers every ping with a pong; it is done once it has received `rounds` pings and
//! `rounds` pongs. A seed therefore carries exactly `NODES * rounds * 2` messages of `PAYLOAD`
//! bytes on both sides, with the same latency range (1–5 ms).
use faultline::model::Model;
use faultline::protocol::{Cap, ClientCtx, Invocation, ModelConfig, Outcome, Protocol};
use faultline::run::{run, Faults, RunRequest};
use faultline::schedule::Schedule;
use faultline::{NodeCtx, Workload};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub const NODES: usize = 5;
pub const PAYLOAD: usize = 64;
const PING: u8 = 1;
const PONG: u8 = 2;
/// The harness's base latency range, which the raw side's network config copies.
const LATENCY: std::ops::Range<Duration> = Duration::from_millis(1)..Duration::from_millis(5);

/// The traffic of one seed.
#[derive(Clone, Copy, Debug)]
pub struct Traffic {
    /// Pings each node sends (a multiple of `NODES - 1`, so every node receives as many).
    pub rounds: usize,
    /// Pings a node keeps outstanding.
    pub window: usize,
}

impl Traffic {
    pub fn messages(&self) -> u64 {
        (NODES * self.rounds * 2) as u64
    }
}

/// Who node `me` sends its `k`-th ping to.
fn peer(me: usize, k: usize) -> usize {
    (me + 1 + k % (NODES - 1)) % NODES
}

fn packet(kind: u8, k: usize) -> [u8; PAYLOAD] {
    let mut p = [0u8; PAYLOAD];
    p[0] = kind;
    p[1..9].copy_from_slice(&(k as u64).to_le_bytes());
    p
}

/// Counts what a node has received and decides what it sends next; shared by both sides so they
/// run the same exchange.
struct Exchange {
    me: usize,
    t: Traffic,
    sent: usize,
    pings: usize,
    pongs: usize,
}

impl Exchange {
    fn new(me: usize, t: Traffic) -> Exchange {
        Exchange {
            me,
            t,
            sent: 0,
            pings: 0,
            pongs: 0,
        }
    }

    /// The next ping to send, if the window and the budget allow: (peer, packet).
    fn next_ping(&mut self) -> Option<(usize, [u8; PAYLOAD])> {
        let outstanding = self.sent - self.pongs;
        (self.sent < self.t.rounds && outstanding < self.t.window).then(|| {
            self.sent += 1;
            (peer(self.me, self.sent - 1), packet(PING, self.sent - 1))
        })
    }

    /// Handles one received packet; `true` when it was a ping (answer it with a pong).
    fn receive(&mut self, p: &[u8]) -> bool {
        if p[0] == PING {
            self.pings += 1;
            true
        } else {
            self.pongs += 1;
            false
        }
    }

    fn done(&self) -> bool {
        self.pings >= self.t.rounds && self.pongs >= self.t.rounds
    }
}

/// One seed over raw madsim, on a fresh thread; returns the messages received.
pub fn raw_seed(seed: u64, t: Traffic) -> u64 {
    std::thread::spawn(move || {
        let mut cfg = madsim::Config::default();
        cfg.net.send_latency = LATENCY;
        let rt = madsim::runtime::Runtime::with_seed_and_config(seed, cfg);
        rt.block_on(async move {
            let handle = madsim::runtime::Handle::current();
            let addrs: Vec<SocketAddr> = (0..NODES)
                .map(|i| SocketAddr::from(([10, 0, 0, i as u8 + 1], 1)))
                .collect();
            let nodes: Vec<_> = (0..NODES)
                .map(|i| {
                    handle
                        .create_node()
                        .name(format!("n{i}"))
                        .ip(addrs[i].ip())
                        .build()
                })
                .collect();
            let joins: Vec<_> = nodes
                .iter()
                .enumerate()
                .map(|(i, n)| n.spawn(raw_node(i, addrs.clone(), t)))
                .collect();
            let mut received = 0;
            for j in joins {
                received += j.await.expect("raw node task");
            }
            for n in &nodes {
                handle.kill(n.id());
            }
            received
        })
    })
    .join()
    .expect("raw madsim seed thread")
}

async fn raw_node(me: usize, addrs: Vec<SocketAddr>, t: Traffic) -> u64 {
    use madsim::net::Endpoint;
    let ep = Endpoint::bind(addrs[me]).await.expect("bind");
    // Every endpoint is bound before the first ping leaves.
    madsim::time::sleep(Duration::from_millis(1)).await;
    let mut x = Exchange::new(me, t);
    while let Some((to, p)) = x.next_ping() {
        ep.send_to(addrs[to], 0, &p).await.expect("send");
    }
    let mut buf = [0u8; PAYLOAD];
    let mut received = 0;
    while !x.done() {
        let (_, from) = ep.recv_from(0, &mut buf).await.expect("recv");
        received += 1;
        if x.receive(&buf) {
            let k = u64::from_le_bytes(buf[1..9].try_into().expect("8 bytes")) as usize;
            ep.send_to(from, 0, &packet(PONG, k)).await.expect("send");
        }
        while let Some((to, p)) = x.next_ping() {
            ep.send_to(addrs[to], 0, &p).await.expect("send");
        }
    }
    received
}

/// The same exchange as a protocol on the public API. Its payload is a `Vec<u8>`, built per send
/// as the raw side's `send_to` copies its buffer into one.
pub struct PingPong(pub Traffic);

#[derive(Clone, Debug)]
pub struct Packet(Vec<u8>);

impl Protocol for PingPong {
    type Msg = Packet;

    fn cap(&self) -> Cap {
        Cap::None
    }

    async fn node(&self, ctx: NodeCtx<Packet>) {
        if ctx.id() >= NODES {
            return;
        }
        let mut x = Exchange::new(ctx.id(), self.0);
        ctx.sleep(Duration::from_millis(1)).await;
        while let Some((to, p)) = x.next_ping() {
            ctx.send(to, Packet(p.to_vec()));
        }
        let mut buf = [0u8; PAYLOAD];
        while !x.done() {
            let (from, Packet(data)) = ctx.recv().await;
            buf.copy_from_slice(&data[..PAYLOAD]);
            if x.receive(&buf) {
                let k = u64::from_le_bytes(buf[1..9].try_into().expect("8 bytes")) as usize;
                ctx.send(from, Packet(packet(PONG, k).to_vec()));
            }
            while let Some((to, p)) = x.next_ping() {
                ctx.send(to, Packet(p.to_vec()));
            }
        }
        ctx.observe("exchange-done", &self.0.rounds);
    }

    async fn call(&self, _: &ClientCtx<Packet>, _: u64, _: &Invocation) -> Outcome {
        Outcome::Fail("the network bench has no client operations".into())
    }

    fn workload(&self) -> Workload {
        Workload::registers().final_ops(vec![])
    }

    fn checkers(&self) -> Vec<Box<dyn faultline::checker::Checker>> {
        vec![]
    }
}

/// The network bench as a model, so a seed takes the same path as any `faultline run`.
pub fn model(t: Traffic) -> Model {
    Model::new("net-bench", move |_: &ModelConfig| Ok(PingPong(t)))
        .nodes(NODES)
        .clients(1)
        .ops(0)
}

/// One seed through the harness; returns the messages the run recorded. Panics unless every
/// node finished its exchange (a bench that lost messages would measure less work).
pub fn harness_seed(m: &Model, seed: u64) -> u64 {
    let req = RunRequest {
        seed,
        config: m.config(None),
        faults: Faults::Schedule(Schedule::load("none").expect("built-in schedule")),
        fail_on: vec![],
        trace: false,
    };
    let r = run(m, &req).expect("the network bench model runs");
    assert!(r.passed, "network bench run failed: {:?}", r.violations);
    let done = r.recording.observations_of("exchange-done").count();
    assert_eq!(
        done, NODES,
        "only {done} of {NODES} nodes finished the exchange"
    );
    r.stats.messages
}

/// Messages per second on each side, seeds interleaved so both see the same machine.
#[derive(Clone, Copy, Debug)]
pub struct NetFigures {
    pub raw_msgs_per_sec: f64,
    pub harness_msgs_per_sec: f64,
    pub messages_per_seed: u64,
    pub seeds: u64,
}

/// Runs seeds of both sides, alternating, until `budget` is spent (at least 3 of each).
pub fn measure(t: Traffic, budget: Duration) -> NetFigures {
    let m = model(t);
    let (mut raw_s, mut harness_s) = (0.0f64, 0.0f64);
    let (mut raw_msgs, mut harness_msgs) = (0u64, 0u64);
    let started = Instant::now();
    let mut seed = 0;
    while seed < 3 || started.elapsed() < budget {
        let t0 = Instant::now();
        let received = raw_seed(seed, t);
        raw_s += t0.elapsed().as_secs_f64();
        assert_eq!(received, t.messages(), "raw madsim lost messages");
        raw_msgs += received;
        let t0 = Instant::now();
        harness_msgs += harness_seed(&m, seed);
        harness_s += t0.elapsed().as_secs_f64();
        seed += 1;
    }
    NetFigures {
        raw_msgs_per_sec: raw_msgs as f64 / raw_s,
        harness_msgs_per_sec: harness_msgs as f64 / harness_s,
        messages_per_seed: t.messages(),
        seeds: seed,
    }
}
