//! The corruption faults (`corrupt`, `misdirect`) and their budget, shown with a tiny protocol
//! written against the public API: every node keeps a checksummed log of numbered records
//! (`faultline::records`) and a one-record `meta` file, and reports what a scan of them finds.
//! A strike must be seen by the checksum (or by the numbering, for a write that landed in the
//! wrong place), must survive a crash, and must never exceed the protocol's corruption budget.
use faultline::prelude::*;
use faultline::recording::FaultEvent;
use faultline::records::{encode, scan, Tail};
use faultline::run::{Faults, RunReport};
use faultline::schedule::{Fault, Schedule, Step};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

mod common;

/// Each node appends (and syncs) one record every 40 ms until this time.
const WRITE_UNTIL_MS: u64 = 3000;
/// How often a node scans its files and reports.
const SCAN_EVERY: usize = 6;

struct Logger {
    budget: usize,
}

/// Record `i` of node `node`: 30-odd bytes, so records straddle sector boundaries.
fn record(node: usize, i: usize) -> Vec<u8> {
    format!("n{node} record {i:05} of the log").into_bytes()
}

const META: &[u8] = b"meta: the log's owner";

/// What a scan of the node's files finds. `written`: how many records this incarnation knows
/// it appended (`None` after a restart). `damaged`: any checksum failure, a tail that is not
/// clean, a record out of its numbered place, fewer records than written, or a `meta` that does
/// not read back exactly.
fn examine(disk: &Disk<()>, node: usize, written: Option<usize>) -> Result<Value, DiskError> {
    let log = disk.open("log")?.read()?;
    let s = scan(&log);
    let corrupt = s.records.iter().filter(|r| r.payload.is_none()).count();
    let good = s.payloads();
    let in_order = good.iter().enumerate().all(|(i, p)| *p == record(node, i));
    let meta = disk.open("meta")?.read()?;
    let m = scan(&meta);
    let meta_ok = m.tail == Tail::Clean && m.payloads() == vec![META];
    let tail = match s.tail {
        Tail::Clean => "clean",
        Tail::Torn { .. } => "torn",
        Tail::Corrupt { .. } => "corrupt",
    };
    let damaged = corrupt > 0
        || tail != "clean"
        || !in_order
        || !meta_ok
        || written.is_some_and(|w| w != good.len());
    Ok(json!({
        "good": good.len(), "corrupt": corrupt, "tail": tail, "in_order": in_order,
        "meta_ok": meta_ok, "written": written, "damaged": damaged,
    }))
}

async fn write_phase(ctx: &NodeCtx<()>) -> Result<(), DiskError> {
    let disk = ctx.disk();
    let me = ctx.id();
    let meta = disk.create("meta")?;
    meta.write_at(0, &encode(META))?;
    meta.sync_all().await?;
    let log = disk.create("log")?;
    log.sync_all().await?;
    disk.sync_dir().await?;
    let mut i = 0;
    while ctx.now_ns() < WRITE_UNTIL_MS * 1_000_000 {
        log.append(&encode(&record(me, i)))?;
        log.sync_data().await?;
        i += 1;
        if i % SCAN_EVERY == 0 {
            ctx.observe("scan", &examine(&disk, me, Some(i))?);
        }
        ctx.sleep(Duration::from_millis(40)).await;
    }
    ctx.observe("scan", &examine(&disk, me, Some(i))?);
    Ok(())
}

impl Protocol for Logger {
    type Msg = ();

    fn cap(&self) -> Cap {
        Cap::None
    }

    fn checkers(&self) -> Vec<Box<dyn Checker>> {
        vec![]
    }

    fn corruption_budget(&self) -> usize {
        self.budget
    }

    async fn node(&self, ctx: NodeCtx<()>) {
        let me = ctx.id();
        let disk = ctx.disk();
        if ctx.incarnation() == 0 {
            if let Err(e) = write_phase(&ctx).await {
                ctx.observe("error", &format!("{e:?}"));
            }
        } else {
            match examine(&disk, me, None) {
                Ok(v) => ctx.observe("boot-scan", &v),
                Err(e) => ctx.observe("error", &format!("{e:?}")),
            }
        }
        loop {
            ctx.sleep(Duration::from_millis(250)).await;
            if let Ok(v) = examine(&disk, me, None) {
                ctx.observe("scan", &v);
            }
        }
    }

    async fn call(&self, _: &ClientCtx<()>, _: u64, _: &Invocation) -> Outcome {
        Outcome::Ok(Value::Null)
    }
}

fn run(budget: usize, seed: u64, steps: Vec<Step>) -> RunReport {
    // One client, 100 ops at ~40 ms each: the workload lasts about four seconds.
    let model = Model::new("corruption-probe", move |_| Ok(Logger { budget }))
        .nodes(3)
        .clients(1)
        .ops(100);
    let r = common::run_faults(&model, None, seed, Faults::Steps(steps), &[]);
    assert!(r.passed, "{:?}", r.violations);
    assert!(
        r.recording.observations_of("error").next().is_none(),
        "no disk call failed"
    );
    r
}

fn steps(yaml: &str) -> Vec<Step> {
    match Schedule::parse("test.yaml", yaml).expect("a valid schedule") {
        Schedule::Steps(s) => s,
        Schedule::Generate(_) => panic!("explicit steps"),
    }
}

/// The reports of `node` of `kind` made at or after `from_ms`.
fn reports(r: &RunReport, kind: &str, node: usize, from_ms: u64) -> Vec<Value> {
    reports_between(r, kind, node, from_ms, u64::MAX / 1_000_000)
}

/// The reports of `node` of `kind` made in `[from_ms, to_ms)`.
fn reports_between(r: &RunReport, kind: &str, node: usize, from_ms: u64, to_ms: u64) -> Vec<Value> {
    r.recording
        .observations_of(kind)
        .filter(|o| o.node == node && (from_ms * 1_000_000..to_ms * 1_000_000).contains(&o.at_ns))
        .map(|o| o.data.clone())
        .collect()
}

fn damaged(v: &[Value]) -> bool {
    v.iter().any(|s| s["damaged"] == json!(true))
}

/// The fault-log events of one phase (`strike`, `hit`, `skip`).
fn events<'a>(r: &'a RunReport, phase: &'a str) -> impl Iterator<Item = &'a FaultEvent> + 'a {
    r.recording.faults.iter().filter(move |f| f.phase == phase)
}

#[test]
fn a_bit_flip_is_seen_by_the_checksum_and_survives_a_power_loss() {
    let strike = "steps:\n  - {at_ms: 1500, fault: corrupt, node: 0}\n  - {at_ms: 3500, fault: power-loss, node: 0, torn: false, for_ms: 300}\n";
    for seed in 0..6 {
        let r = run(1, seed, steps(strike));
        let hit: Vec<&FaultEvent> = events(&r, "strike").collect();
        assert_eq!(hit.len(), 1, "seed {seed}: {:?}", r.recording.faults);
        assert!(hit[0].description.contains("bit"), "{}", hit[0].description);
        let before = reports_between(&r, "scan", 0, 0, 1500);
        assert!(
            !before.is_empty() && !damaged(&before),
            "seed {seed}: clean before the strike"
        );
        let after = reports(&r, "scan", 0, 1500);
        assert!(
            damaged(&after),
            "seed {seed}: the checksum sees it: {after:?}"
        );
        let checksum = after.iter().any(|s| {
            s["corrupt"] != json!(0)
                || s["tail"] == json!("corrupt")
                || s["meta_ok"] == json!(false)
        });
        assert!(checksum, "seed {seed}: a checksum failed: {after:?}");
        let boot = reports(&r, "boot-scan", 0, 0);
        assert_eq!(boot.len(), 1, "seed {seed}: one restart");
        assert!(
            damaged(&boot),
            "seed {seed}: the flip is on the platter: {boot:?}"
        );
        // The other nodes were not touched.
        for n in 1..3 {
            assert!(!damaged(&reports(&r, "scan", n, 0)), "seed {seed} n{n}");
        }
    }
    // The same runs without the strike: every scan is clean (the detector has no false alarm).
    let clean = run(
        1,
        0,
        steps("steps:\n  - {at_ms: 3500, fault: power-loss, node: 0, torn: false, for_ms: 300}\n"),
    );
    assert!(!damaged(&reports(&clean, "scan", 0, 0)));
    assert!(!damaged(&reports(&clean, "boot-scan", 0, 0)));
}

#[test]
fn a_misdirected_write_is_seen_and_its_intended_place_keeps_old_bytes() {
    let mut places = BTreeSet::new();
    for seed in 0..8 {
        let r = run(
            1,
            seed,
            steps("steps:\n  - {at_ms: 1000, fault: misdirect, node: 1}\n"),
        );
        assert_eq!(events(&r, "strike").count(), 1, "seed {seed}: armed");
        let hits: Vec<&FaultEvent> = events(&r, "hit").collect();
        assert_eq!(
            hits.len(),
            1,
            "seed {seed}: one write landed wrong: {hits:?}"
        );
        assert!(hits[0].at_ns >= 1_000_000_000 && hits[0].nodes == [1]);
        places.insert(hits[0].description.clone());
        let after = reports(&r, "scan", 1, 1000);
        assert!(
            damaged(&after),
            "seed {seed}: {} but nothing seen: {after:?}",
            hits[0].description
        );
        let before = reports_between(&r, "scan", 1, 0, 1000);
        assert!(
            !before.is_empty() && !damaged(&before),
            "seed {seed}: clean before"
        );
    }
    assert!(
        places.len() > 1,
        "the place varies with the seed: {places:?}"
    );
}

#[test]
fn with_a_budget_of_zero_no_strike_lands_and_the_run_says_so() {
    let yaml = "steps:\n  - {at_ms: 800, fault: corrupt, node: any}\n  - {at_ms: 1200, fault: misdirect, nodes: all}\n";
    let r = run(0, 3, steps(yaml));
    assert_eq!(events(&r, "strike").count() + events(&r, "hit").count(), 0);
    let skipped: Vec<&FaultEvent> = events(&r, "skip").collect();
    assert_eq!(
        skipped.len(),
        4,
        "one corrupt and three misdirects: {skipped:?}"
    );
    assert!(skipped
        .iter()
        .all(|f| f.description.contains("corruption budget is 0")));
    assert_eq!(r.stats.skipped, 4);
    assert_eq!(
        r.stats.faults, 0,
        "a skipped strike is not an applied fault"
    );
    for n in 0..3 {
        assert!(!damaged(&reports(&r, "scan", n, 0)), "n{n} untouched");
    }
    // The reproducer's steps say it too.
    assert!(r
        .steps
        .iter()
        .all(|s| s.trigger.as_deref().is_some_and(|t| t.contains("skipped"))));
}

#[test]
fn with_a_budget_of_one_at_most_one_node_is_ever_struck_and_only_once() {
    let yaml = "steps:
  - {at_ms: 300, fault: corrupt, node: any}
  - {at_ms: 700, fault: misdirect, node: any}
  - {at_ms: 1100, fault: corrupt, nodes: all}
  - {at_ms: 1500, fault: misdirect, nodes: minority}
  - {at_ms: 1900, fault: corrupt, node: any}
  - {at_ms: 2300, fault: power-loss, nodes: all, torn: false, for_ms: 300}
  - {at_ms: 2700, fault: misdirect, nodes: all}
";
    let mut struck_nodes = BTreeSet::new();
    for seed in 0..30 {
        let r = run(1, seed, steps(yaml));
        let struck: Vec<usize> = events(&r, "strike").flat_map(|f| f.nodes.clone()).collect();
        assert_eq!(
            struck.len(),
            1,
            "seed {seed}: one strike in all: {:?}",
            r.recording.faults
        );
        struck_nodes.extend(struck);
        let skips: Vec<&FaultEvent> = events(&r, "skip").collect();
        assert!(
            skips
                .iter()
                .all(|f| ["spent", "struck already", "no synced data"]
                    .iter()
                    .any(|why| f.description.contains(why))),
            "seed {seed}: {skips:?}"
        );
        // Only the struck node's files can be damaged.
        let undamaged: BTreeMap<usize, bool> = (0..3)
            .map(|n| (n, !damaged(&reports(&r, "scan", n, 0))))
            .collect();
        let victim = events(&r, "strike").next().unwrap().nodes[0];
        assert!(
            undamaged.iter().all(|(&n, &ok)| ok || n == victim),
            "seed {seed}: damage only on n{victim}: {undamaged:?}"
        );
    }
    assert!(
        struck_nodes.len() > 1,
        "`any` varies the victim: {struck_nodes:?}"
    );
}

#[test]
fn with_a_minority_budget_distinct_nodes_are_struck_once_each() {
    let yaml = "steps:\n  - {at_ms: 500, fault: corrupt, nodes: all}\n  - {at_ms: 900, fault: corrupt, nodes: all}\n";
    let model = Model::new("corruption-probe", |_| Ok(Logger { budget: 2 }))
        .nodes(5)
        .clients(1)
        .ops(60);
    let r = common::run_faults(&model, None, 1, Faults::Steps(steps(yaml)), &[]);
    let struck: Vec<usize> = events(&r, "strike").flat_map(|f| f.nodes.clone()).collect();
    assert_eq!(
        struck,
        [0, 1],
        "the first two nodes, once each: {:?}",
        r.recording.faults
    );
    assert_eq!(events(&r, "skip").count(), 8);
    assert_eq!(r.stats.faults, 2);
}

#[test]
fn the_same_seed_gives_the_same_strikes_and_fingerprint() {
    let yaml = "steps:\n  - {at_ms: 900, fault: corrupt, node: any}\n  - {at_ms: 1000, fault: misdirect, node: any}\n";
    let a = run(2, 11, steps(yaml));
    let b = run(2, 11, steps(yaml));
    assert_eq!(a.fingerprint, b.fingerprint);
    assert_eq!(a.recording.faults, b.recording.faults);
    let c = run(2, 12, steps(yaml));
    assert_ne!(
        a.recording.faults, c.recording.faults,
        "another seed strikes elsewhere"
    );
}

#[test]
fn bad_corruption_steps_are_refused_naming_the_file_and_line() {
    for (bad, why) in [
        (
            "{at_ms: 1, fault: corrupt, node: 0, for_ms: 100}",
            "no `for_ms`",
        ),
        ("{at_ms: 1, fault: misdirect}", "`node` or `nodes`"),
        (
            "{at_ms: 1, fault: corrupt, node: 0, rate: 0.5}",
            "does not take the field `rate`",
        ),
        (
            "{at_ms: 1, fault: misdirect, nodes: []}",
            "must not be empty",
        ),
        (
            "{at_ms: 1, fault: corrupt, nodes: most}",
            "unknown node count",
        ),
    ] {
        let err = Schedule::parse(
            "bad.yaml",
            &format!("steps:\n  - {{at_ms: 0, fault: crash, node: 0}}\n  - {bad}\n"),
        )
        .expect_err(bad)
        .to_string();
        assert!(
            err.starts_with("bad.yaml:3:") && err.contains(why),
            "{bad}: {err}"
        );
    }
    // And a good one round-trips through a reproducer's YAML.
    let s = steps("steps:\n  - {at_ms: 800, fault: corrupt, node: any}\n  - {at_ms: 9, fault: misdirect, nodes: [0, 2]}\n");
    let back: Vec<Step> = serde_yaml::from_str(&serde_yaml::to_string(&s).unwrap()).unwrap();
    assert_eq!(s, back);
    assert_eq!(s[1].fault, Fault::Misdirect { nodes: vec![0, 2] });
}

#[test]
fn the_timeline_marks_storage_faults_on_the_struck_nodes_lane() {
    let yaml = "steps:
  - {at_ms: 500, fault: disk-error, node: 2, op: read, rate: 0.5, for_ms: 200}
  - {at_ms: 1000, fault: corrupt, node: 1}
  - {at_ms: 1200, fault: misdirect, node: 0}
  - {at_ms: 2000, fault: power-loss, node: 2, torn: false, for_ms: 300}
";
    let r = run(1, 4, steps(yaml));
    let html = faultline::timeline::render(&r);
    // The lane of node n1 holds the strike's mark; n0's holds the skipped one.
    let lane = |n: usize| {
        let start = html
            .find(&format!("node n{n}</div>"))
            .expect("a lane per node");
        let end = html[start..]
            .find("<div class=\"row")
            .map_or(html.len(), |e| start + e);
        html[start..end].to_string()
    };
    assert!(
        lane(1).contains("class=\"mark\"") && lane(1).contains("corrupt n1: "),
        "{}",
        lane(1)
    );
    assert!(
        lane(0).contains("mark skipped") && lane(0).contains("misdirect n0 skipped"),
        "{}",
        lane(0)
    );
    assert!(
        lane(2).contains("win disk") && lane(2).contains("win power"),
        "{}",
        lane(2)
    );
    assert!(
        !lane(0).contains("class=\"mark\""),
        "no strike landed on n0"
    );
    assert!(
        html.contains("strikes once"),
        "the schedule table says how a strike ran"
    );
}
