//! What a user writing their own protocol from the docs ran into, fixed, each shown from the
//! user's side (public API only):
//! - a custom operation's result (`pop`, `push`) is what the history and the failure story show;
//! - `swarm` draws no leader-aimed step for a protocol without leaders, and `faults` counts the
//!   steps that started;
//! - a checker added with `extra_checkers` runs beside the standard ones;
//! - `Check::assert_ok` prints a way to re-run the seed that works for a user's model.
use faultline::checkers::history::{Event, EventType};
use faultline::prelude::*;
use faultline::recording::Recording;
use faultline::run::{run, Faults, RunReport, RunRequest};
use faultline::schedule::Schedule;
use faultline::workload::Generator;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

mod common;

#[derive(Clone, Debug)]
enum Wire {
    Req(u64, Invocation),
    Resp(u64, Value),
}

/// Serves requests on node 0, durably: the state and every answer, by request id, are on disk
/// before the reply. The network may deliver a request twice (the `duplicate` fault), so a
/// request id already answered gets its recorded answer again instead of a second effect.
async fn serve(ctx: NodeCtx<Wire>, apply: impl Fn(&mut Value, &Invocation) -> Value) {
    if ctx.id() != 0 {
        loop {
            ctx.recv().await;
        }
    }
    let disk = ctx.disk();
    let mut state: Value = disk.get("state").unwrap_or(Value::Null);
    let mut answered: BTreeMap<u64, Value> = disk.get("answered").unwrap_or_default();
    loop {
        let (from, msg) = ctx.recv().await;
        let Wire::Req(id, op) = msg else { continue };
        if let Some(ret) = answered.get(&id) {
            ctx.send(from, Wire::Resp(id, ret.clone()));
            continue;
        }
        let ret = apply(&mut state, &op);
        answered.insert(id, ret.clone());
        disk.put("state", &state);
        disk.put("answered", &answered);
        disk.fsync().await;
        ctx.send(from, Wire::Resp(id, ret));
    }
}

/// The client side: one request, one answer (or unknown).
async fn ask(c: &ClientCtx<Wire>, id: u64, op: &Invocation) -> Outcome {
    c.send(0, Wire::Req(id, op.clone()));
    while let Some((_, msg)) = c.recv_timeout(Duration::from_millis(500)).await {
        if let Wire::Resp(rid, v) = msg {
            if rid == id {
                return Outcome::Ok(v);
            }
        }
    }
    Outcome::Unknown("timeout".into())
}

// ---------------------------------------------------------------------------------------------
// A stack with custom operations: `push` returns the new depth, `pop` the element it removed.

/// The stack; `double_pop` is the bug: `pop` returns the top without removing it.
struct Stack {
    double_pop: bool,
}

impl Protocol for Stack {
    type Msg = Wire;

    fn cap(&self) -> Cap {
        Cap::None
    }

    fn workload(&self) -> Workload {
        Workload::registers()
            .keys(1)
            .custom(Generator::new(|rng, n| {
                if rng.gen_bool(0.5) {
                    Invocation {
                        f: "push".into(),
                        key: Some("k0".into()),
                        value: json!(n),
                    }
                } else {
                    Invocation {
                        f: "pop".into(),
                        key: Some("k0".into()),
                        value: Value::Null,
                    }
                }
            }))
    }

    fn guarantees(&self) -> Vec<&'static str> {
        vec!["pop-once"]
    }

    // No standard checker reads push/pop histories: replace them...
    fn checkers(&self) -> Vec<Box<dyn Checker>> {
        vec![]
    }

    // ...and add this protocol's own.
    fn extra_checkers(&self) -> Vec<Box<dyn Checker>> {
        vec![Box::new(PopOnce)]
    }

    async fn node(&self, ctx: NodeCtx<Wire>) {
        let double_pop = self.double_pop;
        serve(ctx, move |state, op| {
            if !state.is_array() {
                *state = json!([]);
            }
            let stack = state.as_array_mut().expect("an array");
            match op.f.as_str() {
                "push" => {
                    stack.push(op.value.clone());
                    json!({"depth": stack.len()})
                }
                "pop" if double_pop => stack.last().cloned().unwrap_or(Value::Null),
                "pop" => stack.pop().unwrap_or(Value::Null),
                _ => Value::Array(stack.clone()),
            }
        })
        .await
    }

    async fn call(&self, c: &ClientCtx<Wire>, id: u64, op: &Invocation) -> Outcome {
        ask(c, id, op).await
    }
}

/// `pop-once`: no element is popped twice. Reads the `ok` pops' results (what `call`
/// returned), and names the key in `detail.key` so the failure story shows its operations.
struct PopOnce;

impl Checker for PopOnce {
    fn name(&self) -> &'static str {
        "pop-once"
    }

    fn check(&self, rec: &Recording) -> Vec<Finding> {
        let mut seen: BTreeMap<String, u64> = BTreeMap::new();
        for e in &rec.history.events {
            if e.kind != EventType::Ok || e.f != "pop" || e.value.is_null() {
                continue;
            }
            let at_ms = e.time_ns / 1_000_000;
            if seen.insert(e.value.to_string(), at_ms).is_some() {
                return vec![Finding::new(
                    "pop-once",
                    FindingKind::Safety,
                    format!("element {} was popped twice", e.value),
                )
                .at_ms(at_ms)
                .detail(json!({"key": e.key, "element": e.value}))];
            }
        }
        vec![]
    }
}

fn stack_model() -> Model {
    Model::new("stack", |cfg: &ModelConfig| {
        Ok(Stack {
            double_pop: cfg.bug.as_deref() == Some("double-pop"),
        })
    })
    .bug("double-pop", "pop returns the top without removing it")
    .nodes(3)
    .clients(2)
    .ops(40)
}

fn run_on(m: &Model, bug: Option<&str>, schedule: &str, seed: u64) -> RunReport {
    let req = RunRequest {
        seed,
        config: m.config(bug),
        faults: Faults::Schedule(Schedule::load(schedule).expect("built-in schedule")),
        fail_on: vec![],
        trace: false,
    };
    run(m, &req).expect("valid run")
}

/// The completion of each invocation, by process, in order: (invocation, completion).
fn ops(r: &RunReport) -> Vec<(Event, Event)> {
    let mut open: BTreeMap<u64, Event> = BTreeMap::new();
    let mut out = vec![];
    for e in &r.recording.history.events {
        if e.kind == EventType::Invoke {
            open.insert(e.process, e.clone());
        } else if let Some(inv) = open.remove(&e.process) {
            out.push((inv, e.clone()));
        }
    }
    out
}

#[test]
fn a_custom_ops_result_is_recorded_not_its_input() {
    let r = run_on(&stack_model(), None, "none", 1);
    assert!(r.passed, "{:?}", r.violations);
    let ok: Vec<(Event, Event)> = ops(&r)
        .into_iter()
        .filter(|(_, c)| c.kind == EventType::Ok)
        .collect();
    let pushes: Vec<&(Event, Event)> = ok.iter().filter(|(i, _)| i.f == "push").collect();
    let pops: Vec<&(Event, Event)> = ok.iter().filter(|(i, _)| i.f == "pop").collect();
    assert!(!pushes.is_empty() && !pops.is_empty(), "{ok:?}");
    // A push's completion is the depth the call returned, not the element pushed.
    for (inv, done) in &pushes {
        assert!(
            done.value["depth"].as_u64().is_some(),
            "{inv:?} -> {done:?}"
        );
        assert_ne!(done.value, inv.value);
    }
    // A pop is invoked with nothing and completes with the element it removed: some element
    // that was pushed.
    let pushed: Vec<&Value> = pushes.iter().map(|(i, _)| &i.value).collect();
    let popped: Vec<&Value> = pops
        .iter()
        .map(|(_, c)| &c.value)
        .filter(|v| !v.is_null())
        .collect();
    assert!(!popped.is_empty(), "no pop found an element: {pops:?}");
    for v in popped {
        assert!(pushed.contains(&v), "popped {v}, never pushed");
    }
}

#[test]
fn a_custom_ops_result_is_what_the_story_tells() {
    let m = stack_model();
    // The first seed of the bug variant that fails (a few seeds at most: every second pop
    // repeats its element).
    let (seed, r) = (0..10)
        .map(|s| (s, run_on(&m, Some("double-pop"), "none", s)))
        .find(|(_, r)| !r.passed)
        .expect("double-pop fails within 10 seeds");
    let v = r.violation("pop-once").expect("pop-once fires");
    let element = match &v.detail.as_ref().expect("a detail")["element"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let story = faultline::story::story(&r, Some("pop-once"));
    let text = story.to_text().join("\n");
    // The story shows the pops on the key with the element each returned.
    assert!(
        text.contains(&format!("pop k0 nil returned {element}")),
        "seed {seed}: the story does not show the pop's result:\n{text}"
    );
    // The correct stack passes the same seed.
    let fixed = run_on(&m, None, "none", seed);
    assert!(fixed.passed, "{:?}", fixed.violations);
}

// ---------------------------------------------------------------------------------------------
// A register, leaderless unless told otherwise, with its own checker beside the standard ones.

/// A single-node register; `stale` is the bug: reads return the value before the last write.
struct Register {
    stale: bool,
    roles: Roles,
}

impl Protocol for Register {
    type Msg = Wire;

    fn cap(&self) -> Cap {
        Cap::CP
    }

    fn roles(&self) -> Roles {
        self.roles
    }

    fn guarantees(&self) -> Vec<&'static str> {
        let mut g = faultline::protocol::standard_guarantees(Cap::CP);
        g.push("read-latest");
        g
    }

    fn extra_checkers(&self) -> Vec<Box<dyn Checker>> {
        vec![Box::new(ReadLatest)]
    }

    async fn node(&self, ctx: NodeCtx<Wire>) {
        if ctx.id() == 0 && self.roles.leader {
            ctx.observe("leader-elected", &json!({"term": 1}));
        }
        let stale = self.stale;
        serve(ctx, move |state, op| {
            // state: {key: [previous, current]}
            if !state.is_object() {
                *state = json!({});
            }
            let key = op.key.clone().unwrap_or_default();
            let slot = state
                .as_object_mut()
                .expect("an object")
                .entry(key)
                .or_insert(json!([null, null]));
            if op.f == "write" {
                *slot = json!([slot[1].clone(), op.value.clone()]);
                Value::Null
            } else {
                slot[if stale { 0 } else { 1 }].clone()
            }
        })
        .await
    }

    async fn call(&self, c: &ClientCtx<Wire>, id: u64, op: &Invocation) -> Outcome {
        ask(c, id, op).await
    }
}

/// `read-latest`: a read that began after the last write on its key was acknowledged, with no
/// other write on the key in flight since that write began, returns that write's value. (A
/// narrow check: it gives up wherever writes overlap.)
struct ReadLatest;

impl Checker for ReadLatest {
    fn name(&self) -> &'static str {
        "read-latest"
    }

    fn check(&self, rec: &Recording) -> Vec<Finding> {
        // (f, key, input, invoke ns, completion kind, completion ns, output)
        type Op = (String, Option<String>, Value, u64, EventType, u64, Value);
        let mut open: BTreeMap<u64, usize> = BTreeMap::new();
        let mut ops: Vec<Op> = vec![];
        for e in &rec.history.events {
            if e.kind == EventType::Invoke {
                open.insert(e.process, ops.len());
                ops.push((
                    e.f.clone(),
                    e.key.clone(),
                    e.value.clone(),
                    e.time_ns,
                    EventType::Info,
                    u64::MAX,
                    Value::Null,
                ));
            } else if let Some(i) = open.remove(&e.process) {
                ops[i].4 = e.kind;
                ops[i].5 = e.time_ns;
                ops[i].6 = e.value.clone();
            }
        }
        for r in ops.iter().filter(|o| o.0 == "read" && o.4 == EventType::Ok) {
            let writes: Vec<&Op> = ops
                .iter()
                .filter(|w| w.0 == "write" && w.1 == r.1 && w.3 < r.5)
                .collect();
            // The latest write begun before the read ended must be acknowledged before the read
            // began and begun after every other such write ended.
            let Some(last) = writes.iter().max_by_key(|w| w.3) else {
                continue;
            };
            let alone = last.4 == EventType::Ok
                && last.5 < r.3
                && writes
                    .iter()
                    .all(|w| std::ptr::eq(*w, *last) || w.5 < last.3);
            if alone && r.6 != last.2 {
                return vec![Finding::new(
                    "read-latest",
                    FindingKind::Safety,
                    format!(
                        "a read of {} returned {} after {} was acknowledged",
                        r.1.as_deref().unwrap_or(""),
                        r.6,
                        last.2
                    ),
                )
                .at_ms(r.3 / 1_000_000)
                .detail(json!({"key": r.1}))];
            }
        }
        vec![]
    }
}

fn register_model(roles: Roles) -> Model {
    Model::new("register", move |cfg: &ModelConfig| {
        Ok(Register {
            stale: cfg.bug.as_deref() == Some("stale"),
            roles,
        })
    })
    .bug("stale", "reads return the value before the last write")
    .nodes(3)
    .clients(2)
    .ops(60)
}

#[test]
fn an_extra_checker_runs_beside_the_standard_ones() {
    let m = register_model(Roles::NONE);
    let info = m.info(&m.config(None)).unwrap();
    for c in ["linearizability", "lost-write", "read-latest", "progress"] {
        assert!(info.checkers.iter().any(|x| x == c), "{c} not run");
    }
    let seed = 0..10u64;
    let (seed, r) = seed
        .map(|s| (s, run_on(&m, Some("stale"), "none", s)))
        .find(|(_, r)| r.violation("linearizability").is_some())
        .expect("the stale register fails linearizability within 10 seeds");
    // The standard checker still catches the stale read, and the extra one fires too.
    assert!(
        r.violation("read-latest").is_some(),
        "seed {seed}: {:?}",
        r.violations
    );
    let fixed = run_on(&m, None, "none", seed);
    assert!(fixed.passed, "seed {seed}: {:?}", fixed.violations);
}

/// Whether a step (as it ran) was aimed at a role: resolved from one, triggered by an
/// election, or skipped for want of a holder.
fn role_step(s: &faultline::schedule::Step) -> bool {
    format!("{s:?}").contains("leader")
}

/// Steps that started: neither skipped nor left waiting for a trigger or the workload.
fn started(r: &RunReport) -> usize {
    r.steps
        .iter()
        .filter(|s| {
            let t = s.trigger.as_deref().unwrap_or("");
            !t.contains("skipped") && !t.contains("never started") && !t.contains("never fired")
        })
        .count()
}

#[test]
fn swarm_draws_no_role_step_for_a_leaderless_model_and_counts_the_steps_that_started() {
    let m = register_model(Roles::NONE);
    let mut steps = 0;
    for seed in 0..6 {
        let r = run_on(&m, None, "swarm", seed);
        assert!(r.passed, "seed {seed}: {:?}", r.violations);
        assert!(
            !r.steps.iter().any(role_step),
            "seed {seed}: a role step for a leaderless model: {:?}",
            r.steps
        );
        let starts = r
            .recording
            .faults
            .iter()
            .filter(|f| f.phase == "start")
            .count();
        assert_eq!(r.stats.faults, started(&r), "seed {seed}: {:?}", r.steps);
        assert_eq!(r.stats.faults, starts, "seed {seed}");
        steps += r.stats.faults;
    }
    assert!(steps > 0, "swarm started no step in 6 seeds");
}

#[test]
fn swarm_still_aims_at_a_declared_leader() {
    let m = register_model(Roles::LEADER);
    let mut aimed = 0;
    for seed in 0..6 {
        let r = run_on(&m, None, "swarm", seed);
        assert!(r.passed, "seed {seed}: {:?}", r.violations);
        assert_eq!(r.stats.faults, started(&r), "seed {seed}: {:?}", r.steps);
        // Node 0 leads from the start: every leader step that started hit it.
        aimed += r
            .steps
            .iter()
            .filter(|s| role_step(s) && s.trigger.as_deref().is_some_and(|t| t.contains("n0")))
            .count();
    }
    assert!(aimed > 0, "no leader step in 6 swarm seeds");
}

// ---------------------------------------------------------------------------------------------
// What `assert_ok` tells a user to run.

fn assert_ok_message(check: Check) -> String {
    let result = check.run();
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| result.assert_ok()))
        .expect_err("the stale register fails");
    err.downcast_ref::<String>().cloned().unwrap_or_default()
}

#[test]
fn assert_ok_prints_a_rerun_that_works_for_a_users_model() {
    let dir = common::TempDir::new("assert-ok");
    let base = || {
        Check::new(register_model(Roles::NONE))
            .bug("stale")
            .schedule("none")
            .seeds(0..10)
            .stop_on_first()
            .no_regressions()
            .artifacts(dir.path())
    };
    let msg = assert_ok_message(base());
    let seed = base().run().first_failure().unwrap().seed;
    assert!(
        !msg.contains("faultline replay"),
        "the stock binary does not know this model:\n{msg}"
    );
    assert!(
        msg.contains(&format!(".seeds({seed}..{})", seed + 1)),
        "no rerun of seed {seed}:\n{msg}"
    );
    let named = assert_ok_message(base().binary("my-register-fuzz"));
    assert!(
        named.contains("replay:     my-register-fuzz replay "),
        "the named binary's replay command is missing:\n{named}"
    );
}

// ---------------------------------------------------------------------------------------------
// The commands the CLI prints name the binary as it was invoked.

#[test]
fn printed_commands_name_the_binary_as_invoked() {
    use std::os::unix::process::CommandExt;
    let dir = common::TempDir::new("arg0");
    let as_invoked = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
            .arg0("my-kv-fuzz")
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("the binary runs");
        (
            o.status.code().expect("exited"),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let out = dir.join("seed-0");
    let out_s = out.to_str().unwrap();
    let (code, stdout, stderr) = as_invoked(&[
        "run",
        "primary-backup",
        "--bug",
        "follower-reads",
        "--seed",
        "0",
        "--out",
        out_s,
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let repro = out.join("repro.yaml");
    let repro_s = repro.to_str().unwrap();
    assert!(
        stdout.contains(&format!("(replay: my-kv-fuzz replay {repro_s})")),
        "{stdout}"
    );
    assert!(!stdout.contains("faultline replay"), "{stdout}");
    // The reproducer's header says how to replay it, with the same binary.
    let text = std::fs::read_to_string(&repro).unwrap();
    assert!(
        text.starts_with("# Faultline reproducer: `my-kv-fuzz replay "),
        "{text}"
    );

    let min = dir.join("min.yaml");
    let min_s = min.to_str().unwrap();
    let (code, stdout, stderr) = as_invoked(&["shrink", repro_s, "--time", "5s", "-o", min_s]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("(replay: my-kv-fuzz replay {min_s})")),
        "{stdout}"
    );

    // Usage names it too.
    let (code, _, stderr) = as_invoked(&["no-such-command"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("my-kv-fuzz"), "{stderr}");
}

#[test]
fn list_shows_the_roles_each_built_in_model_declares() {
    let dir = common::TempDir::new("roles");
    let o = common::faultline_in(dir.path(), &["list", "--json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let j = o.json();
    let roles = |name: &str| {
        j["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("{name} listed"))["roles"]
            .clone()
    };
    assert_eq!(roles("raft"), json!(["leader"]));
    assert_eq!(roles("primary-backup"), json!(["leader"]));
    assert_eq!(roles("twopc"), json!(["coordinator"]));
    assert_eq!(roles("dynamo"), json!([]));
}
