//! The disk's file API (shaped like `std::fs`) and its faults, shown with a tiny protocol written
//! against the public API: per-file fsync, names durable only after the directory's sync, the two
//! crash kinds, torn and reordered writes under a power loss, and injected I/O errors (a failed
//! fsync drops the data for good: fsyncgate).
use faultline::prelude::*;
use faultline::run::{Faults, RunReport};
use faultline::schedule::{Fault, Schedule, Step};
use faultline::DiskOp;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

mod common;

/// What node 0 does on its first boot.
#[derive(Clone, Copy)]
enum Scenario {
    /// `f` = "data" synced with its name, then "more" appended unsynced.
    Unsynced,
    /// `f` = "data" synced, its name never synced.
    NoDirSync,
    /// `f` = "v1" synced with its name; at 1.1 s "v2" is appended and fsynced (inside a fsync
    /// error window if the test opens one), at 1.3 s fsynced again.
    Fsyncgate,
    /// Two durable empty files; then `BIG` bytes appended to `a`, then to `b`, unsynced.
    Reorder,
    /// At 1.1 s (inside the test's error windows) an append and a read of a synced file.
    Errors,
}

/// How many bytes each file gets in [`Scenario::Reorder`]: several sectors.
const BIG: usize = 2000;

struct Probe(Scenario);

/// Every file on the disk and its contents (lossy text).
fn files(disk: &Disk<()>) -> Value {
    let mut out = BTreeMap::new();
    for name in disk.read_dir().expect("read_dir") {
        let data = disk.open(&name).and_then(|f| f.read()).expect("readable");
        out.insert(name, String::from_utf8_lossy(&data).into_owned());
    }
    json!(out)
}

fn pattern(seed: u8) -> Vec<u8> {
    (0..BIG)
        .map(|i| b'a' + ((i / 7 + seed as usize) % 26) as u8)
        .collect()
}

/// The result of a disk call as JSON: `"ok"` or the error's name.
fn res<T>(r: Result<T, DiskError>) -> Value {
    match r {
        Ok(_) => json!("ok"),
        Err(e) => json!(format!("{e:?}")),
    }
}

async fn sleep_until(ctx: &NodeCtx<()>, ms: u64) {
    ctx.sleep(Duration::from_nanos(ms * 1_000_000 - ctx.now_ns()))
        .await;
}

async fn first_boot(ctx: &NodeCtx<()>, scenario: Scenario) -> Result<(), DiskError> {
    let disk = ctx.disk();
    match scenario {
        Scenario::Unsynced => {
            let f = disk.create("f")?;
            f.append(b"data")?;
            f.sync_data().await?;
            disk.sync_dir().await?;
            f.append(b"more")?;
        }
        Scenario::NoDirSync => {
            let f = disk.create("f")?;
            f.write_at(0, b"data")?;
            f.sync_all().await?;
        }
        Scenario::Fsyncgate => {
            let f = disk.create("f")?;
            f.append(b"v1")?;
            f.sync_data().await?;
            disk.sync_dir().await?;
            sleep_until(ctx, 1100).await;
            f.append(b"v2")?;
            ctx.observe("fsync", &res(f.sync_data().await));
            sleep_until(ctx, 1300).await;
            ctx.observe("retry", &res(f.sync_data().await));
            ctx.observe("read", &json!(String::from_utf8_lossy(&f.read()?)));
        }
        Scenario::Reorder => {
            let (a, b) = (disk.create("a")?, disk.create("b")?);
            a.sync_data().await?;
            b.sync_data().await?;
            disk.sync_dir().await?;
            a.append(&pattern(0))?;
            b.append(&pattern(1))?;
        }
        Scenario::Errors => {
            let f = disk.create("f")?;
            f.append(b"data")?;
            f.sync_data().await?;
            sleep_until(ctx, 1100).await;
            ctx.observe("append", &res(f.append(b"more")));
            ctx.observe("read", &res(f.read()));
            ctx.observe("len", &json!(f.len()?));
        }
    }
    Ok(())
}

impl Protocol for Probe {
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
        if ctx.incarnation() == 0 {
            if let Err(e) = first_boot(&ctx, self.0).await {
                ctx.observe("error", &format!("{e:?}"));
            }
        }
        loop {
            ctx.sleep(Duration::from_secs(1)).await;
        }
    }

    async fn call(&self, _: &ClientCtx<()>, _: u64, _: &Invocation) -> Outcome {
        Outcome::Ok(Value::Null)
    }
}

fn run(scenario: Scenario, seed: u64, steps: Vec<Step>) -> RunReport {
    // One client, 100 ops at ~40 ms each: the workload lasts about four seconds.
    let model = Model::new("storage-probe", move |_| Ok(Probe(scenario)))
        .nodes(3)
        .clients(1)
        .ops(100);
    let r = common::run_faults(&model, None, seed, Faults::Steps(steps), &[]);
    assert!(r.passed, "{:?}", r.violations);
    assert!(
        r.recording.observations_of("error").next().is_none(),
        "no disk call failed unexpectedly"
    );
    r
}

/// Node 0 crashes at 2 s for 0.3 s.
fn crash(power: bool, torn: bool) -> Step {
    Step::at(
        2000,
        Fault::Crash {
            nodes: vec![0],
            power,
            torn,
        },
    )
    .lasting(300)
}

/// A disk error window on node 0 from 1 s to 1.2 s.
fn errors(op: DiskOp) -> Step {
    Step::at(
        1000,
        Fault::DiskError {
            nodes: vec![0],
            op,
            rate: 1.0,
        },
    )
    .lasting(200)
}

/// What node 0 reported under `kind` (node 0 only: the other nodes idle).
fn seen(r: &RunReport, kind: &str) -> Vec<Value> {
    r.recording
        .observations_of(kind)
        .filter(|o| o.node == 0)
        .map(|o| o.data.clone())
        .collect()
}

/// The files node 0 saw when it restarted.
fn after_restart(r: &RunReport) -> Value {
    let boots = seen(r, "boot");
    assert_eq!(boots.len(), 2, "one boot, then one restart: {boots:?}");
    boots[1].clone()
}

#[test]
fn an_unsynced_write_survives_a_process_crash_and_not_a_power_loss() {
    let r = run(Scenario::Unsynced, 1, vec![crash(false, false)]);
    assert_eq!(after_restart(&r), json!({"f": "datamore"}));
    let r = run(Scenario::Unsynced, 1, vec![crash(true, false)]);
    assert_eq!(after_restart(&r), json!({"f": "data"}));
}

#[test]
fn a_file_synced_without_its_directory_loses_its_name_on_power_loss() {
    let r = run(Scenario::NoDirSync, 1, vec![crash(true, false)]);
    assert_eq!(
        after_restart(&r),
        json!({}),
        "the data was synced, the name was not"
    );
    // A process crash keeps the name (the page cache has the directory too).
    let r = run(Scenario::NoDirSync, 1, vec![crash(false, false)]);
    assert_eq!(after_restart(&r), json!({"f": "data"}));
}

#[test]
fn a_failed_fsync_drops_the_data_and_a_retry_does_not_bring_it_back() {
    let r = run(
        Scenario::Fsyncgate,
        1,
        vec![errors(DiskOp::Fsync), crash(true, false)],
    );
    assert_eq!(seen(&r, "fsync"), [json!("Eio")]);
    assert_eq!(
        seen(&r, "retry"),
        [json!("ok")],
        "the retried fsync succeeds"
    );
    assert_eq!(
        seen(&r, "read"),
        [json!("v1v2")],
        "the page cache still shows it"
    );
    assert_eq!(
        after_restart(&r),
        json!({"f": "v1"}),
        "but it never reached the disk"
    );
    // Without the error window the same run keeps both writes.
    let r = run(Scenario::Fsyncgate, 1, vec![crash(true, false)]);
    assert_eq!(seen(&r, "fsync"), [json!("ok")]);
    assert_eq!(after_restart(&r), json!({"f": "v1v2"}));
}

#[test]
fn writes_fail_with_no_space_and_reads_with_eio_inside_their_windows_only() {
    let r = run(Scenario::Errors, 1, vec![errors(DiskOp::Write)]);
    assert_eq!(seen(&r, "append"), [json!("NoSpace")]);
    assert_eq!(seen(&r, "read"), [json!("ok")]);
    assert_eq!(seen(&r, "len"), [json!(4)], "a failed write writes nothing");
    let r = run(Scenario::Errors, 1, vec![errors(DiskOp::Read)]);
    assert_eq!(seen(&r, "append"), [json!("ok")]);
    assert_eq!(seen(&r, "read"), [json!("Eio")]);
    let r = run(Scenario::Errors, 1, vec![]);
    assert_eq!(seen(&r, "append"), [json!("ok")]);
    assert_eq!(seen(&r, "read"), [json!("ok")]);
}

#[test]
fn the_disk_error_fault_from_a_yaml_schedule() {
    let yaml =
        "steps:\n  - {at_ms: 1000, fault: disk-error, node: 0, op: write, rate: 1, for_ms: 200}\n";
    let Schedule::Steps(steps) = Schedule::parse("e.yaml", yaml).expect("valid") else {
        panic!("explicit steps")
    };
    assert_eq!(steps, [errors(DiskOp::Write)]);
    let r = run(Scenario::Errors, 1, steps);
    assert_eq!(seen(&r, "append"), [json!("NoSpace")]);
    for (bad, why) in [
        ("{at_ms: 1, fault: disk-error, node: 0, rate: 1}", "`op`"),
        (
            "{at_ms: 1, fault: disk-error, node: 0, op: seek, rate: 1}",
            "seek",
        ),
        (
            "{at_ms: 1, fault: disk-error, node: 0, op: read, rate: 2}",
            "rate",
        ),
        ("{at_ms: 1, fault: disk-error, op: read, rate: 1}", "node"),
    ] {
        let err = Schedule::parse("bad.yaml", &format!("steps:\n  - {bad}\n"))
            .expect_err(bad)
            .to_string();
        assert!(
            err.contains("bad.yaml") && err.contains(why),
            "{bad}: {err}"
        );
    }
}

/// The lengths of `a` and `b` after a torn power loss of [`Scenario::Reorder`], checking that each
/// kept a prefix of its write cut at a sector boundary.
fn reorder(seed: u64) -> (usize, usize) {
    let r = run(Scenario::Reorder, seed, vec![crash(true, true)]);
    let after = after_restart(&r);
    let len = |name: &str, fill: u8| {
        let got = after[name].as_str().expect("the file's name was durable");
        let want = pattern(fill);
        assert!(want.starts_with(got.as_bytes()), "seed {seed}: a prefix");
        assert!(
            got.len().is_multiple_of(512) || got.len() == BIG,
            "seed {seed}: cut at a sector boundary, got {}",
            got.len()
        );
        got.len()
    };
    (len("a", 0), len("b", 1))
}

#[test]
fn a_torn_power_loss_keeps_prefixes_drawn_per_file_so_writes_reorder() {
    let kept: Vec<(usize, usize)> = (0..24).map(reorder).collect();
    assert!(
        kept.iter().any(|&(a, b)| a == 0 && b > 0),
        "some seed keeps b's later write and loses a's earlier one: {kept:?}"
    );
    assert!(
        kept.iter().any(|&(a, _)| a > 0 && a < BIG),
        "some seed tears a write inside: {kept:?}"
    );
    assert!(kept.iter().any(|&(a, b)| a == BIG && b == BIG), "{kept:?}");
}

#[test]
fn the_same_seed_gives_the_same_torn_power_loss() {
    let once = run(Scenario::Reorder, 5, vec![crash(true, true)]);
    let again = run(Scenario::Reorder, 5, vec![crash(true, true)]);
    assert_eq!(once.fingerprint, again.fingerprint);
    assert_eq!(after_restart(&once), after_restart(&again));
}
