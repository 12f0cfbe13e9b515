//! Per-node clocks: a `clock-skew` window's drift scales the node's timers, timeouts and
//! `instant()`, a jump moves only the wall clock (`clock_ms()`), and overlapping windows on one
//! node compose and undo exactly.
//!
//! The protocol is a ticker: every node sleeps 100 ms on its own clock in a loop (`sleep`), a
//! second task waits out 100 ms timeouts on a subscription (`recv_timeout`) and a third on a
//! node-local channel; each reports the true time, its `instant()` and its `clock_ms()`.
use faultline::prelude::*;
use faultline::run::{Faults, RunReport};
use faultline::schedule::{Fault, Schedule};
use serde_json::{json, Value};
use std::time::Duration;

mod common;

/// `max_drift`: the drift the ticker declares it tolerates (`Protocol::max_drift`).
struct Ticker {
    max_drift: f64,
}

const TICK: Duration = Duration::from_millis(100);

fn report(ctx: &NodeCtx<()>, kind: &str, t0: Instant) {
    let mono = ctx.instant().duration_since(t0).as_nanos() as u64;
    ctx.observe(kind, &json!({"mono_ns": mono, "clock_ms": ctx.clock_ms()}));
}

impl Protocol for Ticker {
    type Msg = ();

    fn cap(&self) -> Cap {
        Cap::None
    }

    fn checkers(&self) -> Vec<Box<dyn Checker>> {
        vec![]
    }

    fn max_drift(&self) -> f64 {
        self.max_drift
    }

    async fn node(&self, ctx: NodeCtx<()>) {
        let t0 = ctx.instant();
        let c = ctx.clone();
        ctx.spawn(async move {
            let never = c.subscribe(|_, _| false);
            loop {
                assert!(never.recv_timeout(TICK).await.is_none());
                report(&c, "timeout", t0);
            }
        });
        let c = ctx.clone();
        let (_keep, mut rx) = ctx.channel::<()>();
        ctx.spawn(async move {
            loop {
                assert!(rx.recv_timeout(TICK).await.is_err());
                report(&c, "channel", t0);
            }
        });
        loop {
            ctx.sleep(TICK).await;
            report(&ctx, "tick", t0);
        }
    }

    async fn call(&self, _: &ClientCtx<()>, _: u64, _: &Invocation) -> Outcome {
        Outcome::Ok(Value::Null)
    }
}

fn model(max_drift: f64) -> Model {
    Model::new("ticker", move |_| Ok(Ticker { max_drift }))
        .nodes(4)
        .clients(1)
        .ops(100)
}

fn run(seed: u64, steps: &str) -> RunReport {
    run_bounded(f64::INFINITY, seed, steps)
}

fn run_bounded(max_drift: f64, seed: u64, steps: &str) -> RunReport {
    let s = Schedule::parse("test.yaml", &format!("steps:\n{steps}")).expect("valid schedule");
    let r = common::run_faults(&model(max_drift), None, seed, Faults::Schedule(s), &[]);
    assert!(r.passed, "{:?}", r.violations);
    r
}

/// (true ns, monotonic ns, clock_ms) of node `node`'s `kind` reports.
fn reports(r: &RunReport, kind: &str, node: usize) -> Vec<(u64, u64, i64)> {
    r.recording
        .observations_of(kind)
        .filter(|o| o.node == node)
        .map(|o| {
            (
                o.at_ns,
                o.data["mono_ns"].as_u64().unwrap(),
                o.data["clock_ms"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// True-time gaps (ns) between consecutive reports that both fall in `[lo_ms, hi_ms)`.
fn gaps(reps: &[(u64, u64, i64)], lo_ms: u64, hi_ms: u64) -> Vec<u64> {
    let inside: Vec<u64> = reps
        .iter()
        .map(|r| r.0)
        .filter(|t| *t >= lo_ms * 1_000_000 && *t < hi_ms * 1_000_000)
        .collect();
    inside.windows(2).map(|w| w[1] - w[0]).collect()
}

/// 100 ms of true time, up to madsim's timer jitter (well under a microsecond).
fn exact(gap_ns: u64) -> bool {
    gap_ns.abs_diff(100_000_000) < 1_000
}

const SLOW: &str = "  - {at_ms: 50, fault: clock-skew, node: 1, drift: -100, for_ms: 3000}\n";

#[test]
fn a_clock_running_ten_percent_slow_fires_a_100ms_timer_at_111ms() {
    let r = run(0, SLOW);
    for kind in ["tick", "timeout", "channel"] {
        // Node 1: every timer armed inside the window takes 100 / 0.9 ms of true time.
        let slow = gaps(&reports(&r, kind, 1), 300, 3000);
        assert!(slow.len() >= 20, "{kind}: {slow:?}");
        for g in &slow {
            assert!(g.abs_diff(111_111_111) <= 1_000_000, "{kind}: {g} ns");
        }
        // Node 0 is untouched: 100 ms.
        let fair = gaps(&reports(&r, kind, 0), 300, 3000);
        assert!(fair.iter().all(|g| exact(*g)), "{kind}: {fair:?}");
    }
    // instant() runs at 0.9 too: 100 ms of it per tick.
    let ticks = reports(&r, "tick", 1);
    let inside: Vec<_> = ticks
        .iter()
        .filter(|t| t.0 > 300_000_000 && t.0 < 3_000_000_000)
        .collect();
    for w in inside.windows(2) {
        assert!((w[1].1 - w[0].1).abs_diff(100_000_000) <= 1_000, "{w:?}");
    }
}

#[test]
fn a_backward_jump_moves_the_wall_clock_not_instant() {
    let r = run(
        0,
        "  - {at_ms: 500, fault: clock-skew, node: 2, offset_ms: -2000, for_ms: 1000}\n",
    );
    let ticks = reports(&r, "tick", 2);
    assert!(
        ticks.windows(2).all(|w| w[1].1 >= w[0].1),
        "instant() went backwards"
    );
    // Timers are untouched by a jump: still exactly 100 ms apart.
    assert!(gaps(&ticks, 0, 3000).iter().all(|g| exact(*g)));
    let wall = |lo: u64, hi: u64| -> Vec<i64> {
        ticks
            .iter()
            .filter(|t| t.0 >= lo * 1_000_000 && t.0 < hi * 1_000_000)
            .map(|t| t.2 - (t.0 / 1_000_000) as i64)
            .collect()
    };
    assert!(wall(0, 500).iter().all(|s| *s == 0));
    let during = wall(510, 1500);
    assert!(
        !during.is_empty() && during.iter().all(|s| *s == -2000),
        "{during:?}"
    );
    assert!(wall(1510, 3000).iter().all(|s| *s == 0));
}

#[test]
fn overlapping_windows_compose_and_undo_exactly() {
    let r = run(
        0,
        "  - {at_ms: 100, fault: clock-skew, node: 3, offset_ms: 500, drift: -100, for_ms: 1000}\n\
         \x20 - {at_ms: 300, fault: clock-skew, node: 3, offset_ms: -200, drift: 200, for_ms: 1000}\n",
    );
    let ticks = reports(&r, "tick", 3);
    let near = |gs: Vec<u64>, want: f64| {
        assert!(!gs.is_empty(), "{gs:?}");
        for g in gs {
            assert!((g as f64 - want).abs() <= 1e6, "{g} ns, want {want}");
        }
    };
    // Rates multiply: 0.9 * 1.2 = 1.08 while both are on, 1.2 once only the second is.
    near(gaps(&ticks, 450, 1100), 100e6 / 1.08);
    near(gaps(&ticks, 1150, 1300), 100e6 / 1.2);
    // Both off: timers at true speed again, the wall clock back on true time exactly.
    assert!(gaps(&ticks, 1400, 3000).iter().all(|g| exact(*g)));
    let after: Vec<i64> = ticks
        .iter()
        .filter(|t| t.0 >= 1_400_000_000)
        .map(|t| t.2 - (t.0 / 1_000_000) as i64)
        .collect();
    assert!(
        !after.is_empty() && after.iter().all(|s| *s == 0),
        "{after:?}"
    );
    // Offsets add: +500 - 200 while both are on (plus drift, well under 100 ms by then).
    let both: Vec<i64> = ticks
        .iter()
        .filter(|t| t.0 >= 300_000_000 && t.0 < 400_000_000)
        .map(|t| t.2 - (t.0 / 1_000_000) as i64)
        .collect();
    assert!(both.iter().all(|s| (275..=300).contains(s)), "{both:?}");
    assert!(ticks.windows(2).all(|w| w[1].1 >= w[0].1));
}

#[test]
fn skewed_runs_are_deterministic() {
    let steps = format!(
        "{SLOW}  - {{at_ms: 200, fault: clock-skew, node: 1, offset_ms: 300, drift: 50, for_ms: 700}}\n"
    );
    let a = run(7, &steps);
    let b = run(7, &steps);
    assert_eq!(a.fingerprint, b.fingerprint);
    let calm = run(
        7,
        "  - {at_ms: 50, fault: clock-skew, node: 1, offset_ms: 300, for_ms: 10}\n",
    );
    assert_ne!(a.fingerprint, calm.fingerprint, "drift changed no timer");
}

#[test]
fn the_nemesis_keeps_drift_within_the_declared_bound_unless_a_step_exceeds_it() {
    // The ticker tolerates 5%: `drift: -100` is clamped to -50 (rate 0.95, 105.3 ms timers).
    let within = run_bounded(0.05, 0, SLOW);
    for g in gaps(&reports(&within, "tick", 1), 300, 3000) {
        assert!((g as f64 - 100e6 / 0.95).abs() <= 1e6, "{g} ns");
    }
    let beyond = run_bounded(
        0.05,
        0,
        "  - {at_ms: 50, fault: clock-skew, node: 1, drift: -100, exceed: true, for_ms: 3000}\n",
    );
    for g in gaps(&reports(&beyond, "tick", 1), 300, 3000) {
        assert!(g.abs_diff(111_111_111) <= 1_000_000, "{g} ns");
    }
    let fault = beyond.steps[0].fault.to_string();
    assert!(fault.contains("exceeding the drift bound"), "{fault}");
}

#[test]
fn exceed_parses_and_bad_input_names_file_and_line() {
    let text = "steps:\n  - {at_ms: 5, fault: clock-skew, node: 1, drift: 30, exceed: true}\n";
    let s = Schedule::parse("a.yaml", text).unwrap();
    assert_eq!(
        s.steps().unwrap()[0].fault,
        Fault::ClockSkew {
            node: 1,
            offset_ms: 0,
            drift: 30.0,
            exceed: true
        }
    );
    for (bad, want) in [
        (
            "steps:\n  - {at_ms: 5, fault: clock-skew, node: 1}\n  - {at_ms: 5, fault: clock-skew, node: 1, exceed: 3}\n",
            "c.yaml:3",
        ),
        (
            "steps:\n  - {at_ms: 5, fault: crash, node: 1, exceed: true}\n",
            "exceed",
        ),
    ] {
        let e = Schedule::parse("c.yaml", bad).unwrap_err().to_string();
        assert!(e.contains(want) && e.contains("c.yaml"), "{e}");
    }
}
