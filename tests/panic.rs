//! A panic in model code is a `panic` violation in the report, never a crash of the process
//! running the harness.
use faultline::prelude::*;
use faultline::run::{run, Faults, RunReport, RunRequest};
use faultline::schedule::Schedule;
use serde_json::Value;
use std::time::Duration;

const NODE_PANIC: &str = "boom: node 2 reached an impossible state";
const CLIENT_PANIC: &str = "boom: the client adapter gave up";

#[derive(Clone, Copy, PartialEq)]
enum Where {
    Nowhere,
    Node,
    Client,
    AfterRestart,
}

struct Fragile(Where);

impl Protocol for Fragile {
    type Msg = u64;

    fn cap(&self) -> Cap {
        Cap::None
    }

    fn checkers(&self) -> Vec<Box<dyn Checker>> {
        vec![]
    }

    async fn node(&self, ctx: NodeCtx<u64>) {
        let disk = ctx.disk();
        let boots = disk.get::<u64>("boots").unwrap_or(0) + 1;
        disk.put("boots", &boots);
        disk.fsync().await;
        let mut ticks = 0u64;
        loop {
            ctx.sleep(Duration::from_millis(100)).await;
            ticks += 1;
            for p in ctx.peers().collect::<Vec<_>>() {
                ctx.send(p, ticks);
            }
            if ctx.id() == 2 && ticks == 5 && self.0 == Where::Node {
                panic!("{NODE_PANIC} (tick {ticks})");
            }
            if ctx.id() == 1 && boots == 2 && self.0 == Where::AfterRestart {
                // A state file the node never wrote: the kind of bug a restart exposes.
                let _: u64 = disk.get("state").expect("restarted node 1 found no state");
            }
        }
    }

    async fn call(&self, c: &ClientCtx<u64>, id: u64, _: &Invocation) -> Outcome {
        if self.0 == Where::Client && id == 7 {
            panic!("{CLIENT_PANIC}");
        }
        c.sleep(Duration::from_millis(1)).await;
        Outcome::Ok(Value::Null)
    }
}

fn model() -> Model {
    Model::new("fragile", |cfg| {
        Ok(Fragile(match cfg.bug.as_deref() {
            None => Where::Nowhere,
            Some("node-panic") => Where::Node,
            Some("client-panic") => Where::Client,
            Some("panic-after-restart") => Where::AfterRestart,
            Some(b) => return Err(format!("unknown bug {b}")),
        }))
    })
    .bug("node-panic", "node 2 panics at its fifth tick")
    .bug("client-panic", "the client adapter panics on operation 7")
    .bug("panic-after-restart", "node 1 panics after it restarts")
    .nodes(3)
    .clients(2)
    .ops(40)
}

fn run_bug(bug: Option<&str>, schedule: &str) -> RunReport {
    let m = model();
    let req = RunRequest {
        seed: 11,
        config: m.config(bug),
        faults: Faults::Schedule(Schedule::parse("inline", schedule).unwrap()),
        fail_on: vec![],
        trace: false,
    };
    run(&m, &req).expect("a panic is a verdict, not an error")
}

fn assert_panic_violation(r: &RunReport, text: &str) {
    assert!(!r.passed, "a panic fails the run");
    let panics: Vec<_> = r
        .violations
        .iter()
        .filter(|v| v.checker == "panic")
        .collect();
    assert_eq!(panics.len(), 1, "{:?}", r.violations);
    assert!(
        panics[0].message.contains(text),
        "the violation carries the panic message: {}",
        panics[0].message
    );
    assert!(
        r.findings.iter().all(|f| f.checker != "panic"),
        "violations are not repeated in findings"
    );
    let json = r.to_json();
    assert_eq!(json["verdict"], "fail");
    assert_eq!(json["violations"][0]["checker"], "panic");
}

const NO_FAULTS: &str = "steps: []\n";

#[test]
fn a_node_panic_is_a_violation() {
    let r = run_bug(Some("node-panic"), NO_FAULTS);
    assert_panic_violation(&r, NODE_PANIC);
    assert!(r.violations[0].message.contains("tick 5"));
    // The panic happened at 500 ms of simulated time, and the report says so.
    assert_eq!(r.violations[0].at_ms.map(|t| t / 100), Some(5));
    assert_eq!(r.stats.sim_ms / 100, 5, "the run ended at the panic");
}

#[test]
fn a_client_panic_is_a_violation() {
    assert_panic_violation(&run_bug(Some("client-panic"), NO_FAULTS), CLIENT_PANIC);
}

#[test]
fn a_panic_after_a_restart_is_a_violation() {
    let crash = "steps:\n  - {at_ms: 300, fault: crash, node: 1, for_ms: 200}\n";
    let r = run_bug(Some("panic-after-restart"), crash);
    assert_panic_violation(&r, "restarted node 1 found no state");
    // Without the crash, node 1 never restarts and nothing panics.
    assert!(run_bug(Some("panic-after-restart"), NO_FAULTS).passed);
}

#[test]
fn panics_are_deterministic_and_the_process_carries_on() {
    let a = run_bug(Some("node-panic"), NO_FAULTS);
    let b = run_bug(Some("node-panic"), NO_FAULTS);
    assert_eq!(a.fingerprint, b.fingerprint);
    assert_eq!(a.violations[0].message, b.violations[0].message);
    // The next runs in this process are unaffected.
    let ok = run_bug(None, NO_FAULTS);
    assert!(ok.passed, "{:?}", ok.violations);
    assert!(ok.stats.messages > 0);
    let failed = Check::new(model()).bug("node-panic").seeds(0..5).run();
    assert_eq!(
        failed.failures.len(),
        5,
        "every seed panics, none crashes the test"
    );
    Check::new(model()).seeds(0..5).run().assert_ok();
}

#[test]
fn a_run_that_panics_before_its_final_phase_has_no_final_reads() {
    let r = run_bug(Some("node-panic"), NO_FAULTS);
    // Fragile answers every read with null: judged as final reads, they would make every
    // earlier write look lost.
    let events = &r.recording.history.events;
    assert!(events.iter().any(|e| e.f == "write"));
    assert!(events.iter().any(|e| e.f == "read"));
    let lost = faultline::checker::LostWrite.check(&r.recording);
    assert!(
        lost.is_empty(),
        "workload reads taken for final reads: {lost:?}"
    );
}
