//! The simulated network under explicit fault steps, shown with a tiny protocol: node 0 sends a
//! numbered ping to every other node every 10 ms; receivers report each receipt and answer with a
//! pong, which node 0 reports in turn.
use faultline::prelude::*;
use faultline::run::{run, Faults, RunReport, RunRequest};
use faultline::schedule::{Fault, Schedule, Step};
use serde_json::{json, Value};
use std::time::Duration;

const PERIOD: Duration = Duration::from_millis(10);

#[derive(Clone, Debug)]
enum Wire {
    Ping {
        seq: u64,
        sent_ns: u64,
    },
    Pong {
        seq: u64,
        sent_ns: u64,
    },
    /// A connection reset (ordered links only).
    Reset,
    /// A client's numbered request to node 1 (`client_reqs`): client links under ordered mode.
    Req {
        seq: u64,
    },
}

/// `ordered`: the protocol asks for ordered (TCP-like) links; `datagram_pings`: pings do not
/// ride the connection (`Protocol::ordered`), pongs do; `client_reqs`: every client operation
/// sends a numbered request to node 1, which reports it.
#[derive(Clone, Copy, Default)]
struct Pinger {
    ordered: bool,
    datagram_pings: bool,
    client_reqs: bool,
}

impl Protocol for Pinger {
    type Msg = Wire;

    fn ordered_links(&self) -> Option<Wire> {
        self.ordered.then_some(Wire::Reset)
    }

    fn ordered(&self, msg: &Wire) -> bool {
        !(self.datagram_pings && matches!(msg, Wire::Ping { .. }))
    }

    fn cap(&self) -> Cap {
        Cap::None
    }

    fn checkers(&self) -> Vec<Box<dyn Checker>> {
        vec![]
    }

    async fn node(&self, ctx: NodeCtx<Wire>) {
        if ctx.id() == 0 {
            let mut seq = 0;
            let mut next = ctx.instant();
            loop {
                match ctx.recv_until(next).await {
                    Some((from, Wire::Pong { seq, sent_ns })) => {
                        ctx.observe(
                            "pong",
                            &json!({"from": from, "seq": seq, "sent_ns": sent_ns}),
                        );
                    }
                    Some((from, Wire::Reset)) => {
                        ctx.observe("reset", &json!({"from": from}));
                    }
                    Some(_) => {}
                    None => {
                        seq += 1;
                        let sent_ns = ctx.now_ns();
                        ctx.observe("sent", &json!({"from": 0, "seq": seq, "sent_ns": sent_ns}));
                        for p in ctx.peers().collect::<Vec<_>>() {
                            ctx.send(p, Wire::Ping { seq, sent_ns });
                        }
                        next = ctx.instant() + PERIOD;
                    }
                }
            }
        } else {
            loop {
                let (from, msg) = ctx.recv().await;
                if let Wire::Reset = msg {
                    ctx.observe("reset", &json!({"from": from}));
                }
                if let Wire::Req { seq } = msg {
                    ctx.observe("req", &json!({"from": from, "seq": seq, "sent_ns": 0}));
                }
                if let Wire::Ping { seq, sent_ns } = msg {
                    ctx.observe(
                        "ping",
                        &json!({"from": from, "seq": seq, "sent_ns": sent_ns}),
                    );
                    let now = ctx.now_ns();
                    ctx.send(from, Wire::Pong { seq, sent_ns: now });
                }
            }
        }
    }

    async fn call(&self, c: &ClientCtx<Wire>, id: u64, _: &Invocation) -> Outcome {
        if self.client_reqs {
            // Op ids grow with time: each client's requests are numbered in send order. Any
            // reset notice waiting is reported (a server's crash resets client connections).
            c.send(1, Wire::Req { seq: id });
            while let Some((from, msg)) = c.recv_timeout(Duration::ZERO).await {
                if let Wire::Reset = msg {
                    c.observe("reset", &json!({"from": from}));
                }
            }
        }
        Outcome::Ok(Value::Null)
    }
}

/// One receipt (or, for kind `sent`, one ping sent by node 0).
#[derive(Clone, Copy, Debug)]
struct Receipt {
    node: usize,
    at_ns: u64,
    from: usize,
    seq: u64,
    sent_ns: u64,
}

fn receipts(r: &RunReport, kind: &str) -> Vec<Receipt> {
    r.recording
        .observations_of(kind)
        .map(|o| {
            let field = |k: &str| o.data[k].as_u64().expect("well-formed observation");
            Receipt {
                node: o.node,
                at_ns: o.at_ns,
                from: field("from") as usize,
                seq: field("seq"),
                sent_ns: field("sent_ns"),
            }
        })
        .collect()
}

fn run_steps(seed: u64, steps: Vec<Step>) -> RunReport {
    run_pinger(seed, steps, false)
}

fn run_pinger(seed: u64, steps: Vec<Step>, ordered: bool) -> RunReport {
    run_pinger_as(
        seed,
        steps,
        Pinger {
            ordered,
            ..Pinger::default()
        },
    )
}

fn run_pinger_as(seed: u64, steps: Vec<Step>, p: Pinger) -> RunReport {
    // One client, 100 ops at ~40 ms each: the workload (and the pinging) lasts about 4 s.
    let m = Model::new("pinger", move |_| Ok(p))
        .nodes(5)
        .clients(1)
        .ops(100);
    let req = RunRequest {
        seed,
        config: m.config(None),
        faults: Faults::Steps(steps),
        fail_on: vec![],
        trace: false,
    };
    let r = run(&m, &req).expect("valid run");
    assert!(r.passed, "{:?}", r.violations);
    assert!(
        r.recording.final_phase_ns > 3_000_000_000,
        "the workload outlived the fault window"
    );
    r
}

fn step(at_ms: u64, for_ms: u64, fault: Fault) -> Step {
    Step::at(at_ms, fault).lasting(for_ms)
}

/// The `[start, end]` of the only fault step, as applied.
fn window(r: &RunReport) -> (u64, u64) {
    let f = &r.recording.faults;
    assert_eq!(f.len(), 2, "one step, started and ended: {f:?}");
    assert_eq!((f[0].phase.as_str(), f[1].phase.as_str()), ("start", "end"));
    (f[0].at_ns, f[1].at_ns)
}

/// Pings sent strictly inside `(lo, hi)`, received by `node`.
fn sent_within(rs: &[Receipt], node: usize, lo: u64, hi: u64) -> Vec<Receipt> {
    rs.iter()
        .filter(|x| x.node == node && x.sent_ns > lo && x.sent_ns < hi)
        .copied()
        .collect()
}

/// Node `n` receives about every ping (one per 10 ms) sent in the second before a fault window
/// `(s, e)` and in the second after it.
fn assert_flows_around(pings: &[Receipt], n: usize, (s, e): (u64, u64), seed: u64) {
    let before = sent_within(pings, n, s.saturating_sub(1_000_000_000), s).len();
    let after = sent_within(pings, n, e, e + 1_000_000_000).len();
    assert!(
        before >= 90,
        "seed {seed}: n{n} got {before} pings sent before the window"
    );
    assert!(
        after >= 90,
        "seed {seed}: n{n} got {after} pings sent after the window"
    );
}

const SEEDS: std::ops::Range<u64> = 0..3;

#[test]
fn a_partition_cuts_across_and_not_within() {
    for seed in SEEDS {
        let r = run_steps(
            seed,
            vec![step(
                1000,
                1000,
                Fault::Partition {
                    groups: vec![vec![0, 1], vec![2, 3, 4]],
                    oneway: false,
                },
            )],
        );
        let (s, e) = window(&r);
        let pings = receipts(&r, "ping");
        let pongs = receipts(&r, "pong");
        for n in [2, 3, 4] {
            // Across the cut: nothing arrives while it lasts, and nothing sent during it ever does.
            let during: Vec<_> = pings
                .iter()
                .filter(|x| x.node == n && x.at_ns > s && x.at_ns < e)
                .collect();
            assert!(during.is_empty(), "seed {seed}: n{n} got {during:?}");
            assert!(sent_within(&pings, n, s, e).is_empty(), "seed {seed}: n{n}");
            // Nor the other way.
            assert!(
                !pongs
                    .iter()
                    .any(|x| x.from == n && x.at_ns > s && x.at_ns < e),
                "seed {seed}: a pong from n{n} crossed the cut"
            );
            // Before the cut and after the heal, messages flow.
            assert_flows_around(&pings, n, (s, e), seed);
        }
        // Within a side: node 1 keeps receiving, and node 0 keeps hearing from it.
        assert!(
            sent_within(&pings, 1, s, e).len() >= 90,
            "seed {seed}: n1 during"
        );
        assert!(
            pongs
                .iter()
                .filter(|x| x.from == 1 && x.at_ns > s && x.at_ns < e)
                .count()
                >= 90,
            "seed {seed}: n1's pongs during the partition"
        );
    }
}

#[test]
fn a_one_way_partition_cuts_one_direction() {
    // Messages from {2, 3, 4} to {0, 1} are cut; 0 -> 2 still flows.
    let r = run_steps(
        4,
        vec![step(
            1000,
            1000,
            Fault::Partition {
                groups: vec![vec![2, 3, 4], vec![0, 1]],
                oneway: true,
            },
        )],
    );
    let (s, e) = window(&r);
    let pings = receipts(&r, "ping");
    let pongs = receipts(&r, "pong");
    for n in [2, 3, 4] {
        assert!(
            sent_within(&pings, n, s, e).len() >= 90,
            "n{n} still hears node 0"
        );
        let back: Vec<_> = pongs
            .iter()
            .filter(|x| x.from == n && x.sent_ns > s && x.sent_ns < e)
            .collect();
        assert!(
            back.is_empty(),
            "n{n}'s pongs crossed a one-way cut: {back:?}"
        );
        assert!(
            pongs
                .iter()
                .filter(|x| x.from == n && x.sent_ns > e)
                .count()
                >= 90,
            "n{n}'s pongs flow after the heal"
        );
    }
}

#[test]
fn the_partition_from_yaml() {
    let yaml =
        "steps:\n  - {at_ms: 1000, fault: partition, groups: [[0, 1], [2, 3, 4]], for_ms: 1000}\n";
    let Schedule::Steps(steps) = Schedule::parse("p.yaml", yaml).expect("valid") else {
        panic!("explicit steps")
    };
    let r = run_steps(0, steps);
    let (s, e) = window(&r);
    let pings = receipts(&r, "ping");
    assert!(sent_within(&pings, 2, s, e).is_empty());
    assert!(sent_within(&pings, 1, s, e).len() >= 90);
}

#[test]
fn total_loss_drops_everything_then_recovers() {
    for seed in SEEDS {
        let r = run_steps(seed, vec![step(1000, 500, Fault::Loss { rate: 1.0 })]);
        let (s, e) = window(&r);
        let pings = receipts(&r, "ping");
        let pongs = receipts(&r, "pong");
        let sent = receipts(&r, "sent");
        assert!(
            sent.iter()
                .filter(|x| x.sent_ns > s && x.sent_ns < e)
                .count()
                >= 45
        );
        for n in 1..5 {
            assert!(sent_within(&pings, n, s, e).is_empty(), "seed {seed}: n{n}");
            assert!(
                !pongs
                    .iter()
                    .any(|x| x.from == n && x.sent_ns > s && x.sent_ns < e),
                "seed {seed}: a pong from n{n} survived total loss"
            );
            assert_flows_around(&pings, n, (s, e), seed);
        }
    }
}

#[test]
fn total_duplication_delivers_everything_twice() {
    for seed in SEEDS {
        let r = run_steps(seed, vec![step(1000, 500, Fault::Duplicate { rate: 1.0 })]);
        let (s, e) = window(&r);
        let pings = receipts(&r, "ping");
        let sent = receipts(&r, "sent");
        for n in 1..5 {
            for p in &sent {
                let copies = pings
                    .iter()
                    .filter(|x| x.node == n && x.seq == p.seq)
                    .count();
                if p.sent_ns > s && p.sent_ns < e {
                    assert_eq!(copies, 2, "seed {seed}: ping {} to n{n}", p.seq);
                } else if p.sent_ns < s || (p.sent_ns > e && p.sent_ns < r.recording.final_phase_ns)
                {
                    assert_eq!(copies, 1, "seed {seed}: ping {} to n{n}", p.seq);
                }
            }
        }
        assert!(
            sent.iter()
                .filter(|x| x.sent_ns > s && x.sent_ns < e)
                .count()
                >= 45
        );
    }
}

#[test]
fn a_delay_window_reorders_without_losing() {
    for seed in SEEDS {
        let r = run_steps(
            seed,
            vec![step(
                1000,
                1000,
                Fault::Delay {
                    mean_ms: 50.0,
                    uniform: false,
                },
            )],
        );
        let (s, e) = window(&r);
        let pings = receipts(&r, "ping");
        let sent = receipts(&r, "sent");
        let mut inversions = 0;
        for n in 1..5 {
            // Base latency (1-5 ms) is below the ping period: in order outside the window.
            for (lo, hi) in [(0, s), (e, r.recording.final_phase_ns)] {
                let seqs: Vec<u64> = sent_within(&pings, n, lo, hi)
                    .iter()
                    .map(|x| x.seq)
                    .collect();
                assert!(
                    seqs.windows(2).all(|w| w[0] < w[1]),
                    "seed {seed}: n{n} {seqs:?}"
                );
                assert!(seqs.len() >= 90);
            }
            let during = sent_within(&pings, n, s, e);
            inversions += during.windows(2).filter(|w| w[0].seq > w[1].seq).count();
            // Delayed, not lost: every ping sent during the window arrives.
            let expected = sent
                .iter()
                .filter(|x| x.sent_ns > s && x.sent_ns < e)
                .count();
            assert_eq!(during.len(), expected, "seed {seed}: n{n}");
            assert!(during.iter().all(|x| x.at_ns > x.sent_ns));
        }
        assert!(
            inversions > 0,
            "seed {seed}: a 50 ms mean delay reorders 10 ms pings"
        );
    }
}

/// The steps of a schedule written in YAML.
fn steps_of(yaml: &str) -> Vec<Step> {
    let Schedule::Steps(steps) = Schedule::parse("links.yaml", yaml).expect("valid") else {
        panic!("explicit steps")
    };
    steps
}

/// The `[start, end]` of each step, in step order.
fn windows(r: &RunReport) -> Vec<(u64, u64)> {
    let f = &r.recording.faults;
    let mut out = vec![];
    for start in f.iter().filter(|x| x.phase == "start") {
        let end = f
            .iter()
            .find(|x| x.phase == "end" && x.step == start.step)
            .expect("every step ends");
        out.push((start.at_ns, end.at_ns));
    }
    out
}

#[test]
fn loss_on_one_direction_spares_the_other_and_the_other_links() {
    for seed in SEEDS {
        let r = run_steps(
            seed,
            steps_of(
                "steps:\n  - {at_ms: 1000, fault: loss, rate: 1.0, from: 2, to: 0, for_ms: 1000}\n",
            ),
        );
        let (s, e) = window(&r);
        let pings = receipts(&r, "ping");
        let pongs = receipts(&r, "pong");
        // 0 -> 2 still carries every ping; 2 -> 0 loses every pong.
        assert!(sent_within(&pings, 2, s, e).len() >= 90, "seed {seed}");
        let pongs_from = |n: usize| {
            pongs
                .iter()
                .filter(|x| x.from == n && x.at_ns > s + 10_000_000 && x.at_ns < e)
                .count()
        };
        assert_eq!(
            pongs_from(2),
            0,
            "seed {seed}: a pong crossed the lossy direction"
        );
        assert!(
            pongs_from(1) >= 90,
            "seed {seed}: n1's pongs: {}",
            pongs_from(1)
        );
        assert_flows_around(&pings, 2, (s, e), seed);
    }
}

#[test]
fn a_flaky_node_loses_every_link_and_overlapping_windows_compose() {
    // Two overlapping windows on node 3's links: the first ending does not end the loss.
    let yaml = "steps:\n  - {at_ms: 1000, fault: loss, rate: 1.0, node: 3, for_ms: 1000}\n  - {at_ms: 1500, fault: loss, rate: 1.0, links: [[0, 3]], for_ms: 1000}\n";
    for seed in SEEDS {
        let r = run_steps(seed, steps_of(yaml));
        let w = windows(&r);
        assert_eq!(w.len(), 2);
        let (s, e) = (w[0].0, w[1].1);
        assert!(
            w[0].1 < w[1].1 && w[1].0 < w[0].1,
            "the windows overlap: {w:?}"
        );
        let pings = receipts(&r, "ping");
        assert!(
            sent_within(&pings, 3, s, e).is_empty(),
            "seed {seed}: n3 got pings"
        );
        for n in [1, 2, 4] {
            assert!(
                sent_within(&pings, n, s, e).len() >= 140,
                "seed {seed}: n{n}"
            );
        }
        assert_flows_around(&pings, 3, (s, e), seed);
    }
}

#[test]
fn duplication_on_chosen_links_only() {
    for seed in SEEDS {
        let r = run_steps(
            seed,
            steps_of("steps:\n  - {at_ms: 1000, fault: duplicate, rate: 1.0, links: [[0, 2]], for_ms: 500}\n"),
        );
        let (s, e) = window(&r);
        let pings = receipts(&r, "ping");
        for p in receipts(&r, "sent")
            .iter()
            .filter(|p| p.sent_ns > s && p.sent_ns < e)
        {
            let copies = |n: usize| {
                pings
                    .iter()
                    .filter(|x| x.node == n && x.seq == p.seq)
                    .count()
            };
            assert_eq!(copies(2), 2, "seed {seed}: ping {} to n2", p.seq);
            assert_eq!(copies(1), 1, "seed {seed}: ping {} to n1", p.seq);
        }
    }
}

#[test]
fn a_slow_link_adds_its_latency_in_order_and_a_delay_on_one_link_reorders_only_there() {
    let yaml = "steps:\n  - {at_ms: 1000, fault: slow-link, latency_ms: 100, from: 0, to: 4, for_ms: 1000}\n  - {at_ms: 1000, fault: delay, mean_ms: 50, links: [[0, 3]], for_ms: 1000}\n";
    for seed in SEEDS {
        let r = run_steps(seed, steps_of(yaml));
        let w = windows(&r);
        let (s, e) = w[0];
        let pings = receipts(&r, "ping");
        let slow = sent_within(&pings, 4, s, e);
        assert!(slow.len() >= 90, "seed {seed}");
        for p in &slow {
            let took = p.at_ns - p.sent_ns;
            assert!(
                (100_000_000..=105_000_000).contains(&took),
                "seed {seed}: {took} ns"
            );
        }
        let seqs: Vec<u64> = slow.iter().map(|p| p.seq).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "seed {seed}: a slow link keeps order"
        );
        // Other links keep the base latency (1-5 ms) and their order.
        for n in [1, 2] {
            let fast = sent_within(&pings, n, s, e);
            assert!(
                fast.iter().all(|p| p.at_ns - p.sent_ns <= 5_000_000),
                "seed {seed}: n{n}"
            );
        }
        let delayed: Vec<u64> = sent_within(&pings, 3, s, e).iter().map(|p| p.seq).collect();
        assert!(
            delayed.windows(2).any(|w| w[0] > w[1]),
            "seed {seed}: the delayed link reorders"
        );
    }
}

/// `(node, at_ns, from)` of every reset a node was told of.
fn resets(r: &RunReport) -> Vec<(usize, u64, usize)> {
    r.recording
        .observations_of("reset")
        .map(|o| (o.node, o.at_ns, o.data["from"].as_u64().unwrap() as usize))
        .collect()
}

#[test]
fn ordered_links_keep_send_order_under_delay_loss_and_duplication() {
    let yaml = "steps:\n  - {at_ms: 1000, fault: delay, mean_ms: 50, for_ms: 1000}\n  - {at_ms: 1000, fault: loss, rate: 0.5, links: [[0, 3]], for_ms: 1000}\n  - {at_ms: 1000, fault: duplicate, rate: 0.5, for_ms: 1000}\n";
    for seed in SEEDS {
        // The same schedule on unordered links reorders (the control).
        let loose = receipts(&run_pinger(seed, steps_of(yaml), false), "ping");
        let seqs = |rs: &[Receipt], n: usize| -> Vec<u64> {
            rs.iter().filter(|x| x.node == n).map(|x| x.seq).collect()
        };
        assert!(
            (1..5).any(|n| seqs(&loose, n).windows(2).any(|w| w[0] >= w[1])),
            "seed {seed}: unordered links reorder or duplicate"
        );
        let r = run_pinger(seed, steps_of(yaml), true);
        let pings = receipts(&r, "ping");
        let sent = receipts(&r, "sent").len() as u64;
        for n in 1..5 {
            let got = seqs(&pings, n);
            // Every ping, once, in send order: no loss, no duplicate, no overtaking.
            assert_eq!(
                got,
                (1..=got.len() as u64).collect::<Vec<_>>(),
                "seed {seed}: n{n}"
            );
            assert!(
                got.len() as u64 + 40 >= sent,
                "seed {seed}: n{n} got {} of {sent}",
                got.len()
            );
        }
        assert!(resets(&r).is_empty(), "seed {seed}: no connection broke");
    }
}

#[test]
fn ordered_links_reset_both_ends_on_a_partition_and_a_peers_crash() {
    let yaml = "steps:\n  - {at_ms: 1000, fault: partition, groups: [[0, 1], [2, 3, 4]], for_ms: 500}\n  - {at_ms: 2500, fault: crash, node: 4, for_ms: 500}\n";
    for seed in SEEDS {
        let r = run_pinger(seed, steps_of(yaml), true);
        let again = run_pinger(seed, steps_of(yaml), true);
        assert_eq!(
            r.fingerprint, again.fingerprint,
            "seed {seed}: ordered links replay"
        );
        let w = windows(&r);
        let (cut, crash) = (w[0].0, w[1].0);
        let told = |node: usize, from: usize, at: u64| {
            // Told at once (the receiver's next poll).
            resets(&r)
                .iter()
                .any(|&(n, t, f)| n == node && f == from && t >= at && t < at + 1_000_000)
        };
        for n in [2, 3, 4] {
            assert!(
                told(n, 0, cut) && told(0, n, cut),
                "seed {seed}: n0<->n{n}: {:?}",
                resets(&r)
            );
        }
        // No connection inside a side broke.
        assert!(!told(0, 1, cut) && !told(1, 0, cut), "seed {seed}");
        // A crash resets every connection of the crashed node; its live peers are told.
        for n in [0, 1, 2, 3] {
            assert!(
                told(n, 4, crash),
                "seed {seed}: n{n} not told of n4's crash"
            );
        }
        // Both ends of the 6 cut links, and the crashed node's 4 live server peers: exactly.
        assert_eq!(resets(&r).len(), 2 * 6 + 4, "seed {seed}: {:?}", resets(&r));
        // Order holds across the resets.
        let pings = receipts(&r, "ping");
        for n in 1..4 {
            let got: Vec<u64> = pings
                .iter()
                .filter(|x| x.node == n)
                .map(|x| x.seq)
                .collect();
            assert!(got.windows(2).all(|w| w[0] < w[1]), "seed {seed}: n{n}");
        }
    }
}

/// Whether some node among `nodes` got the messages of `kind` from `from` out of send order
/// (by `key`: a ping's seq, a pong's send time).
fn reordered(rs: &[Receipt], nodes: std::ops::Range<usize>, key: fn(&Receipt) -> u64) -> bool {
    nodes.into_iter().any(|n| {
        let got: Vec<u64> = rs.iter().filter(|x| x.node == n).map(key).collect();
        got.windows(2).any(|w| w[0] > w[1])
    })
}

#[test]
fn per_kind_ordering_keeps_only_the_chosen_kinds_on_the_connection() {
    let yaml = "steps:\n  - {at_ms: 1000, fault: delay, mean_ms: 50, for_ms: 1000}\n  - {at_ms: 1000, fault: duplicate, rate: 0.5, for_ms: 1000}\n";
    let mixed = Pinger {
        ordered: true,
        datagram_pings: true,
        ..Pinger::default()
    };
    let by_seq: fn(&Receipt) -> u64 = |x| x.seq;
    let by_sent: fn(&Receipt) -> u64 = |x| x.sent_ns;
    for seed in SEEDS {
        let r = run_pinger_as(seed, steps_of(yaml), mixed);
        // Pings are datagrams: delayed independently, duplicated.
        let pings = receipts(&r, "ping");
        assert!(
            reordered(&pings, 1..5, by_seq),
            "seed {seed}: pings reorder"
        );
        let sent = receipts(&r, "sent").len();
        assert!(pings.len() > 4 * sent, "seed {seed}: pings are duplicated");
        // Pongs ride the connection: node 0 gets each peer's in send order.
        let pongs = receipts(&r, "pong");
        for from in 1..5 {
            let got: Vec<u64> = pongs
                .iter()
                .filter(|x| x.from == from)
                .map(by_sent)
                .collect();
            assert!(got.windows(2).all(|w| w[0] <= w[1]), "seed {seed}: n{from}");
        }
        // The control: on unordered links the same pongs reorder.
        let loose = receipts(&run_pinger(seed, steps_of(yaml), false), "pong");
        let from_order = (1..5).any(|from| {
            let got: Vec<u64> = loose
                .iter()
                .filter(|x| x.from == from)
                .map(by_sent)
                .collect();
            got.windows(2).any(|w| w[0] > w[1])
        });
        assert!(from_order, "seed {seed}: unordered pongs reorder");
    }
}

#[test]
fn a_reset_drops_the_connections_messages_in_flight_but_not_datagrams() {
    // A sender's crash resets its connections; a datagram already on the wire still lands (a
    // partition would cut it in flight either way).
    let yaml = "steps:\n  - {at_ms: 500, fault: delay, mean_ms: 50, for_ms: 3000}\n  - {at_ms: 1500, fault: crash, node: 0, for_ms: 500}\n";
    for seed in SEEDS {
        // Pings from n0 sent before its crash and received after it.
        let crossing = |p: Pinger| {
            let r = run_pinger_as(seed, steps_of(yaml), p);
            let crash = r
                .recording
                .faults
                .iter()
                .find(|f| f.phase == "start" && f.description.contains("crash"))
                .expect("the crash")
                .at_ns;
            receipts(&r, "ping")
                .iter()
                .filter(|x| x.sent_ns < crash && x.at_ns > crash)
                .count()
        };
        let all = Pinger {
            ordered: true,
            ..Pinger::default()
        };
        assert_eq!(crossing(all), 0, "seed {seed}: the reset dropped them");
        let mixed = Pinger {
            datagram_pings: true,
            ..all
        };
        assert!(
            crossing(mixed) > 0,
            "seed {seed}: datagrams in flight still land"
        );
    }
}

#[test]
fn client_links_are_ordered_and_reset_by_a_servers_crash() {
    let yaml = "steps:\n  - {at_ms: 500, fault: delay, mean_ms: 50, for_ms: 1500}\n  - {at_ms: 2500, fault: crash, node: 1, for_ms: 300}\n";
    let client = |ordered| Pinger {
        ordered,
        client_reqs: true,
        ..Pinger::default()
    };
    let by_seq: fn(&Receipt) -> u64 = |x| x.seq;
    for seed in SEEDS {
        let r = run_pinger_as(seed, steps_of(yaml), client(true));
        let reqs = receipts(&r, "req");
        assert!(reqs.len() > 50, "seed {seed}: {} requests", reqs.len());
        assert!(
            !reordered(&reqs, 1..2, by_seq),
            "seed {seed}: client -> n1 in order"
        );
        // n1's crash resets its connection with the client, which is told (node 5 is the
        // only client: 5 servers, then clients).
        let crash = r
            .recording
            .faults
            .iter()
            .find(|f| f.phase == "start" && f.description.contains("crash"))
            .expect("the crash")
            .at_ns;
        assert!(
            resets(&r)
                .iter()
                .any(|&(n, t, from)| n == 5 && from == 1 && t >= crash),
            "seed {seed}: {:?}",
            resets(&r)
        );
        // The control: unordered client links reorder the same requests.
        let loose = receipts(&run_pinger_as(seed, steps_of(yaml), client(false)), "req");
        assert!(
            reordered(&loose, 1..2, by_seq),
            "seed {seed}: unordered requests reorder"
        );
    }
}
