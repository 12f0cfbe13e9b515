//! The disk's crash semantics through its convenience calls, shown with a tiny protocol written
//! against the public API the way a user would: a process crash keeps every write (the page cache
//! survives), a power loss keeps only what was fsynced, and a restarted node sees what survived.
//! Reads before the crash see everything written. (The file API: tests/storage.rs.)
use faultline::prelude::*;
use faultline::recording::Observation;
use faultline::run::{Faults, RunReport};
use faultline::schedule::{Fault, Schedule, Step};
use serde_json::{json, Value};
use std::time::Duration;

mod common;

/// Node 0 writes a few files at start-up (some fsynced, some not), reports what it reads back,
/// then idles. Every boot (the first and each restart) reports what the disk holds.
struct DiskProbe;

/// When node 0 starts an fsync that a crash at 1000 ms interrupts.
const LATE_WRITE_NS: u64 = 999_900_000;

fn files(disk: &Disk<()>) -> Value {
    let text = |f: &str| {
        disk.read(f)
            .map(|b| String::from_utf8(b).expect("utf-8 file"))
    };
    json!({
        "a": disk.get::<String>("a"),
        "b": disk.get::<String>("b"),
        "c": disk.get::<String>("c"),
        "log": text("log"),
        "late": disk.get::<String>("late"),
        "gone": disk.get::<String>("gone"),
    })
}

impl Protocol for DiskProbe {
    type Msg = ();

    fn cap(&self) -> Cap {
        Cap::None
    }

    fn checkers(&self) -> Vec<Box<dyn Checker>> {
        vec![]
    }

    async fn node(&self, ctx: NodeCtx<()>) {
        if ctx.id() != 0 {
            return;
        }
        let disk = ctx.disk();
        ctx.observe("boot", &files(&disk));
        if disk.read("a").is_none() && disk.read("b").is_none() {
            // First boot.
            disk.put("a", &"A");
            disk.put("c", &"C1");
            disk.append("log", b"x");
            disk.put("gone", &"G");
            disk.fsync().await; // a, c = C1, log = x, gone are durable
            disk.put("b", &"B"); // never fsynced
            disk.put("c", &"C2"); // an unsynced overwrite
            disk.append("log", b"y"); // an unsynced append
            disk.remove("gone"); // an unsynced delete
            ctx.observe("before-crash", &files(&disk));
            // An fsync still in progress when the crash comes does not make its writes durable.
            ctx.sleep(Duration::from_nanos(LATE_WRITE_NS - ctx.now_ns()))
                .await;
            disk.put("late", &"L");
            ctx.observe("late-write", &ctx.now_ns());
            disk.fsync().await;
            ctx.observe("late-fsync-done", &ctx.now_ns());
        }
        loop {
            ctx.sleep(Duration::from_secs(1)).await;
        }
    }

    async fn call(&self, _: &ClientCtx<()>, _: u64, _: &Invocation) -> Outcome {
        Outcome::Ok(Value::Null)
    }
}

fn probe_model() -> Model {
    // One client, 100 ops at ~40 ms each: the workload lasts about four seconds.
    Model::new("disk-probe", |_| Ok(DiskProbe))
        .nodes(3)
        .clients(1)
        .ops(100)
}

fn run_with(faults: Faults) -> RunReport {
    let r = common::run_faults(&probe_model(), None, 1, faults, &[]);
    assert!(r.passed, "{:?}", r.violations);
    r
}

/// Node 0 crashes at 1 s for 0.5 s: a power loss (clean: no unsynced write survives) or a
/// process crash.
fn crash_node0(power: bool) -> Faults {
    Faults::Steps(vec![Step::at(
        1000,
        Fault::Crash {
            nodes: vec![0],
            power,
            torn: false,
        },
    )
    .lasting(500)])
}

fn of<'a>(r: &'a RunReport, kind: &'a str) -> Vec<&'a Observation> {
    r.recording
        .observations_of(kind)
        .filter(|o| o.node == 0)
        .collect()
}

/// What node 0 sees after restarting from a power loss: exactly the fsynced state.
fn after_power_loss() -> Value {
    json!({"a": "A", "b": null, "c": "C1", "log": "x", "late": null, "gone": "G"})
}

/// After a process crash: everything written, synced or not (the late write too: its fsync was
/// cut short, but the page cache holds it).
fn after_process_crash() -> Value {
    json!({"a": "A", "b": "B", "c": "C2", "log": "xy", "late": "L", "gone": null})
}

fn assert_crash_semantics(r: &RunReport, after: Value) {
    // The crash ran (and ended) before the workload finished.
    let crash: Vec<_> = r
        .recording
        .faults
        .iter()
        .map(|f| (f.phase.as_str(), f.at_ns / 100_000))
        .collect();
    // (madsim's timers may fire a few microseconds late, never early.)
    assert_eq!(crash, [("start", 10_000), ("end", 15_000)], "{crash:?}");
    assert!(
        r.recording.final_phase_ns > 1_500_000_000,
        "the workload outlived the crash window"
    );

    let boots = of(r, "boot");
    assert_eq!(boots.len(), 2, "one boot, then one restart: {boots:?}");
    let all_none =
        json!({"a": null, "b": null, "c": null, "log": null, "late": null, "gone": null});
    assert_eq!(boots[0].data, all_none, "a fresh disk is empty");

    // Before the crash, reads see unsynced data.
    let before = of(r, "before-crash");
    assert_eq!(before.len(), 1);
    assert_eq!(
        before[0].data,
        json!({"a": "A", "b": "B", "c": "C2", "log": "xy", "late": null, "gone": null})
    );

    // The late fsync started before the crash and was cut short by it.
    let late = of(r, "late-write");
    assert_eq!(late.len(), 1);
    assert!(late[0].at_ns < 1_000_000_000);
    assert!(
        of(r, "late-fsync-done").is_empty(),
        "the crash interrupted the fsync"
    );

    // After the restart: exactly the durable state.
    assert!(
        boots[1].at_ns >= 1_500_000_000,
        "restarted when the window ended"
    );
    assert_eq!(boots[1].data, after);
}

#[test]
fn a_power_loss_loses_unsynced_writes_and_keeps_synced_ones() {
    // Synced writes survive; unsynced writes, overwrites, appends and deletes are lost.
    assert_crash_semantics(&run_with(crash_node0(true)), after_power_loss());
}

#[test]
fn a_process_crash_keeps_unsynced_writes() {
    assert_crash_semantics(&run_with(crash_node0(false)), after_process_crash());
}

#[test]
fn the_same_crashes_from_a_yaml_schedule() {
    for (fault, after) in [
        ("crash", after_process_crash()),
        ("power-loss, torn: false", after_power_loss()),
        // A torn power loss of a node whose unsynced writes are all atomic replaces, one
        // append of a byte, a delete: each survives or not as a whole, so check only the rest.
        ("power-loss", Value::Null),
    ] {
        let yaml = format!(
            "# node 0 crashes at 1 s and restarts at 1.5 s\nsteps:\n  - {{at_ms: 1000, fault: {fault}, node: 0, for_ms: 500}}\n"
        );
        let schedule = Schedule::parse("crash.yaml", &yaml).expect("a valid schedule");
        let r = run_with(Faults::Schedule(schedule));
        assert_eq!(r.steps.len(), 1, "the step is recorded as it ran");
        if after.is_null() {
            let boots = of(&r, "boot");
            assert_eq!(boots.len(), 2);
            assert_eq!(
                boots[1].data["a"], "A",
                "synced data survives a torn power loss"
            );
            continue;
        }
        assert_crash_semantics(&r, after);
    }
}

#[test]
fn an_old_torn_crash_is_a_torn_power_loss() {
    let s = Schedule::parse(
        "old.yaml",
        "steps:\n  - {at_ms: 1000, fault: crash, node: 0, torn: true, for_ms: 500}\n",
    )
    .expect("the old spelling stays valid");
    let Schedule::Steps(steps) = s else {
        panic!("explicit steps")
    };
    assert_eq!(
        steps[0].fault,
        Fault::Crash {
            nodes: vec![0],
            power: true,
            torn: true
        }
    );
    assert_eq!(steps[0].fault.kind(), "power-loss");
}

#[test]
fn without_a_crash_nothing_is_lost() {
    let r = run_with(Faults::Steps(vec![]));
    let boots = of(&r, "boot");
    assert_eq!(boots.len(), 1, "no restart without a crash");
    assert_eq!(
        of(&r, "late-fsync-done").len(),
        1,
        "the late fsync completes"
    );
    assert!(r.recording.faults.is_empty());
}

#[test]
fn a_crash_of_another_node_leaves_node_0_alone() {
    let r = run_with(Faults::Steps(vec![Step::at(
        1000,
        Fault::Crash {
            nodes: vec![1],
            power: true,
            torn: false,
        },
    )
    .lasting(500)]));
    assert_eq!(of(&r, "boot").len(), 1);
    assert_eq!(of(&r, "late-fsync-done").len(), 1);
}
