//! Nodes share nothing: every node incarnation, every client and the final reader get a protocol
//! value of their own from the model's factory, so what a node keeps in `self` dies in a crash
//! (only its disk survives), and no built-in model shares state through `thread_local!` or a
//! mutable `static`.
use faultline::prelude::*;
use faultline::run::{run, Faults, RunReport, RunRequest};
use faultline::schedule::{Fault, Schedule, Step};
use serde_json::{json, Value};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Counts, in `self`, how often its node booted and how many calls its client made; the disk
/// counts boots too. A harness that reused one value across a restart (or across clients) would
/// show counts above what one incarnation (one client) can reach.
#[derive(Default)]
struct Amnesiac {
    boots: Cell<u64>,
    calls: Cell<u64>,
}

impl Protocol for Amnesiac {
    type Msg = ();

    fn cap(&self) -> Cap {
        Cap::None
    }

    fn checkers(&self) -> Vec<Box<dyn Checker>> {
        vec![]
    }

    async fn node(&self, ctx: NodeCtx<()>) {
        self.boots.set(self.boots.get() + 1);
        let disk = ctx.disk();
        let durable = disk.get::<u64>("boots").unwrap_or(0) + 1;
        disk.put("boots", &durable);
        disk.fsync().await;
        ctx.observe(
            "boot",
            &json!({"in_memory": self.boots.get(), "on_disk": durable}),
        );
        loop {
            ctx.recv().await;
        }
    }

    async fn call(&self, c: &ClientCtx<()>, _: u64, _: &Invocation) -> Outcome {
        self.calls.set(self.calls.get() + 1);
        c.observe("call", &json!({"calls": self.calls.get()}));
        Outcome::Ok(Value::Null)
    }
}

fn model() -> Model {
    Model::new("amnesiac", |_| Ok(Amnesiac::default()))
        .nodes(3)
        .clients(2)
        .ops(60)
}

fn run_with(seed: u64, faults: Faults) -> RunReport {
    let m = model();
    let req = RunRequest {
        seed,
        config: m.config(None),
        faults,
        fail_on: vec![],
        trace: false,
    };
    let r = run(&m, &req).expect("valid run");
    assert!(r.passed, "{:?}", r.violations);
    r
}

/// Per node: the (in-memory, on-disk) boot counts it observed, in order.
fn boots(r: &RunReport) -> BTreeMap<usize, Vec<(u64, u64)>> {
    let mut out: BTreeMap<usize, Vec<(u64, u64)>> = BTreeMap::new();
    for o in r.recording.observations_of("boot") {
        let n = |k: &str| o.data[k].as_u64().expect("a count");
        out.entry(o.node)
            .or_default()
            .push((n("in_memory"), n("on_disk")));
    }
    out
}

#[test]
fn a_restarted_node_keeps_its_disk_and_nothing_else() {
    // Node 1 crashes twice; each time it restarts from its disk.
    let crash = |at| {
        Step::at(
            at,
            Fault::Crash {
                nodes: vec![1],
                power: false,
                torn: false,
            },
        )
        .lasting(200)
    };
    let r = run_with(1, Faults::Steps(vec![crash(300), crash(900)]));
    let b = boots(&r);
    // The disk counts every incarnation: the restarts happened, and the disk survived them.
    assert_eq!(b[&1], vec![(1, 1), (1, 2), (1, 3)], "node 1: {b:?}");
    // Nodes that never crashed booted once.
    assert_eq!(b[&0], vec![(1, 1)]);
    assert_eq!(b[&2], vec![(1, 1)]);
}

#[test]
fn under_the_crashes_schedule_every_incarnation_starts_fresh() {
    let mut restarts = 0;
    for seed in 0..4 {
        let r = run_with(
            seed,
            Faults::Schedule(Schedule::load("crashes").expect("a built-in schedule")),
        );
        for (node, seen) in boots(&r) {
            for (i, (in_memory, on_disk)) in seen.iter().enumerate() {
                assert_eq!(
                    *in_memory, 1,
                    "seed {seed}: n{node} kept memory across a crash"
                );
                assert_eq!(*on_disk, i as u64 + 1, "seed {seed}: n{node}'s disk");
            }
            restarts += seen.len() - 1;
        }
    }
    assert!(restarts > 0, "the crashes schedule restarted no node");
}

#[test]
fn each_client_and_the_final_reader_count_only_their_own_calls() {
    let r = run_with(2, Faults::Steps(vec![]));
    let mut by_node: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for o in r.recording.observations_of("call") {
        by_node
            .entry(o.node)
            .or_default()
            .push(o.data["calls"].as_u64().expect("a count"));
    }
    // Two clients (ids 3 and 4) and the final reader (id 5), each counting from one.
    assert_eq!(by_node.keys().copied().collect::<Vec<_>>(), vec![3, 4, 5]);
    for (node, calls) in &by_node {
        let expected: Vec<u64> = (1..=calls.len() as u64).collect();
        assert_eq!(calls, &expected, "client {node} saw another's calls");
    }
    // Every workload op and the three final reads were made.
    let total: usize = by_node.values().map(Vec::len).sum();
    assert_eq!(total, 60 + 3);
}

// --- No shared state in the source ---------------------------------------------------------

/// The `thread_local!`s and `static` items with interior mutability (or `static mut`) in `src`:
/// ways for nodes to share state behind the harness's back. `(line number, line)`.
fn shared_state(src: &str) -> Vec<(usize, String)> {
    const INTERIOR: [&str; 10] = [
        "Cell",
        "RefCell",
        "Mutex",
        "RwLock",
        "Atomic",
        "OnceCell",
        "OnceLock",
        "LazyLock",
        "Lazy<",
        "UnsafeCell",
    ];
    src.lines()
        .enumerate()
        .filter(|(_, line)| {
            let code = line.split("//").next().unwrap_or_default().trim();
            let item = code
                .strip_prefix("pub(crate) ")
                .or_else(|| code.strip_prefix("pub "))
                .unwrap_or(code);
            code.contains("thread_local!")
                || code.contains("lazy_static!")
                || item.starts_with("static mut ")
                || (item.starts_with("static ") && INTERIOR.iter().any(|t| item.contains(t)))
        })
        .map(|(i, line)| (i + 1, line.trim().to_string()))
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_scan_finds_shared_state() {
    let src = "thread_local! {\n    static GUESS: RefCell<usize> = RefCell::new(0);\n}\n\
               pub static COUNT: AtomicU64 = AtomicU64::new(0);\n\
               static mut X: u64 = 0;\n\
               static NAMES: &[&str] = &[\"a\"];\n\
               const N: usize = 3;\n\
               // thread_local! in a comment is fine\n";
    let found: Vec<usize> = shared_state(src).into_iter().map(|(n, _)| n).collect();
    // The `thread_local!` and the static in it, the atomic and the `static mut`; immutable
    // statics, constants and comments pass.
    assert_eq!(found, vec![1, 2, 4, 5]);
}

#[test]
fn models_and_examples_share_no_state_between_nodes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("models/src"), &mut files);
    rust_files(&root.join("examples"), &mut files);
    assert!(files.len() > 20, "found only {} files", files.len());
    let offenders: Vec<String> = files
        .iter()
        .flat_map(|f| {
            let src = std::fs::read_to_string(f).expect("readable source");
            shared_state(&src)
                .into_iter()
                .map(move |(n, line)| format!("{}:{n}: {line}", f.display()))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "state shared between nodes (keep it in the protocol value instead):\n{}",
        offenders.join("\n")
    );
}
