//! Client faults (`client-crash`, `client-partition`), shown with a tiny protocol: a register on
//! node 0 that deduplicates retried requests by client session, the way Raft's client sessions
//! and RIFL do. Clients send every request to every server; only node 0 answers. The server ignores the first attempt of every request, so every operation is
//! retried once (a client crash always finds a retry pending). Its bug variant
//! `session-per-node` names a session by the client's node alone: a client restarted after a
//! crash counts its requests from 1 again, and the server answers them from the dead session's
//! reply cache without applying them. Only a client crash reveals it.
mod common;

use common::{faultline_in, TempDir};
use faultline::prelude::*;
use faultline::run::{run, Faults, RunError, RunReport, RunRequest};
use faultline::schedule::{ClientSet, Fault, Schedule, Step};
use faultline_checkers::EventType;
use serde_json::{json, Value};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a client waits for an answer before it sends the request again.
const RETRY: Duration = Duration::from_millis(40);

#[derive(Clone, Debug)]
enum Msg {
    Req {
        session: u64,
        seq: u64,
        attempt: u32,
        op: Invocation,
    },
    Rep {
        session: u64,
        seq: u64,
        value: Value,
    },
}

struct Sessions {
    /// The bug: the session is the client's node id, not its node id and incarnation.
    per_node: bool,
    /// The next request number of this client value (a fresh value per client incarnation).
    seq: Cell<u64>,
}

impl Protocol for Sessions {
    type Msg = Msg;

    fn cap(&self) -> Cap {
        Cap::CP
    }

    async fn node(&self, ctx: NodeCtx<Msg>) {
        let mut values: BTreeMap<String, Value> = BTreeMap::new();
        // session -> (last request number applied, its reply)
        let mut sessions: BTreeMap<u64, (u64, Value)> = BTreeMap::new();
        loop {
            let (from, msg) = ctx.recv().await;
            let Msg::Req {
                session,
                seq,
                attempt,
                op,
            } = msg
            else {
                continue;
            };
            if ctx.id() != 0 {
                continue; // only node 0 serves; the others only receive
            }
            ctx.observe("request", &json!({"session": session, "seq": seq}));
            if attempt == 0 {
                continue; // only retries are answered
            }
            let value = match sessions.get(&session) {
                // A retry of a request already applied: its cached reply.
                Some((last, reply)) if seq <= *last => reply.clone(),
                _ => {
                    let key = op.key.clone().unwrap_or_default();
                    let reply = if op.f == "write" {
                        values.insert(key, op.value.clone());
                        Value::Null
                    } else {
                        values.get(&key).cloned().unwrap_or(Value::Null)
                    };
                    sessions.insert(session, (seq, reply.clone()));
                    reply
                }
            };
            ctx.send(
                from,
                Msg::Rep {
                    session,
                    seq,
                    value,
                },
            );
        }
    }

    async fn call(&self, c: &ClientCtx<Msg>, _id: u64, op: &Invocation) -> Outcome {
        let seq = self.seq.get() + 1;
        self.seq.set(seq);
        let session = if self.per_node {
            c.id() as u64
        } else {
            (c.id() as u64) << 32 | c.incarnation()
        };
        for attempt in 0..20 {
            // To every server (only node 0 answers), so a cut shows on each link.
            for s in 0..c.servers() {
                c.send(
                    s,
                    Msg::Req {
                        session,
                        seq,
                        attempt,
                        op: op.clone(),
                    },
                );
            }
            let deadline = c.instant() + RETRY;
            while let Some((_, msg)) = c.recv_until(deadline).await {
                if let Msg::Rep {
                    session: s,
                    seq: q,
                    value,
                } = msg
                {
                    if s == session && q == seq {
                        return Outcome::Ok(value);
                    }
                }
            }
        }
        Outcome::Unknown("no answer".into())
    }
}

fn model() -> Model {
    Model::new("sessions", |cfg: &ModelConfig| {
        Ok(Sessions {
            per_node: cfg.bug.as_deref() == Some("session-per-node"),
            seq: Cell::new(0),
        })
    })
    .bug(
        "session-per-node",
        "names a client session by its node alone: a restarted client's requests hit the dead session's reply cache",
    )
    .nodes(3)
    .clients(3)
    .ops(60)
}

fn go(seed: u64, bug: Option<&str>, faults: Faults) -> RunReport {
    go_clients(seed, bug, faults, 3)
}

fn go_clients(seed: u64, bug: Option<&str>, faults: Faults, clients: usize) -> RunReport {
    let m = model();
    let mut config = m.config(bug);
    config.clients = clients;
    let req = RunRequest {
        seed,
        config,
        faults,
        fail_on: vec![],
        trace: false,
    };
    run(&m, &req).expect("valid run")
}

fn steps(yaml: &str) -> Faults {
    match Schedule::parse("test", yaml).expect("valid schedule") {
        Schedule::Steps(s) => Faults::Steps(s),
        Schedule::Generate(_) => panic!("explicit steps expected"),
    }
}

/// Only client crashes (one at random, 2 to 6 per seed): the server is never harmed.
const CLIENT_CRASHES: &str = "generate:\n  faults: [client-crash]\n  steps: [2, 6]\n";

fn crashes_only() -> Faults {
    Faults::Schedule(Schedule::parse("client-crashes", CLIENT_CRASHES).unwrap())
}

#[test]
fn a_client_crash_mid_request_records_info_and_a_fresh_process_takes_over() {
    // One client: the 5th request node 0 sees (op 3's first attempt, never answered) is in
    // flight when the client crashes.
    let r = go_clients(
        1,
        None,
        steps("steps:\n  - {after: request, nth: 5, fault: client-crash, client: 0}\n"),
        1,
    );
    assert!(r.passed, "{:?}", r.violations);
    let h = &r.recording.history.events;
    let crashed: Vec<_> = h
        .iter()
        .filter(|e| e.error.as_deref() == Some("client crashed"))
        .collect();
    assert_eq!(crashed.len(), 1, "one op interrupted: {crashed:?}");
    let info = crashed[0];
    assert_eq!(info.kind, EventType::Info);
    let old = info.process;
    let c0 = r.recording.nodes; // client c0's node id
    assert_eq!(r.recording.process_clients.get(&old), Some(&c0));
    // Its invocation came before it and was not completed otherwise.
    let of_old: Vec<_> = h.iter().filter(|e| e.process == old).collect();
    assert_eq!(of_old.last().map(|e| e.time_ns), Some(info.time_ns));
    assert_eq!(of_old[of_old.len() - 2].kind, EventType::Invoke);
    // The process retired: c0 went on under a new process, numbered past every client's.
    let newer: Vec<u64> = r
        .recording
        .process_clients
        .iter()
        .filter(|(p, c)| **c == c0 && **p != old)
        .map(|(p, _)| *p)
        .collect();
    assert!(
        newer
            .iter()
            .any(|&p| p >= 1 && h.iter().any(|e| e.process == p && e.time_ns > info.time_ns)),
        "c0 resumed with a fresh process: {newer:?}"
    );
    // The old incarnation's retry never came: after the crash (plus the longest in-flight
    // latency, 5 ms), node 0 sees no request of the dead session.
    let dead = (c0 as u64) << 32;
    let late: Vec<_> = r
        .recording
        .observations_of("request")
        .filter(|o| o.data["session"] == json!(dead) && o.at_ns > info.time_ns + 5_000_000)
        .collect();
    assert!(late.is_empty(), "the dead client retried: {late:?}");
    // The fault is in the recording and the resolved step names the client.
    assert!(r.recording.faults.iter().any(|f| f.kind == "client-crash"));
    assert!(matches!(
        &r.steps[0].fault,
        Fault::ClientCrash { clients: ClientSet::Ids(ids) } if ids == &vec![0]
    ));
}

#[test]
fn client_any_strikes_a_client_with_a_request_in_flight() {
    let r = go(
        2,
        None,
        steps("steps:\n  - {at_ms: 700, fault: client-crash, client: any, for_ms: 300}\n"),
    );
    assert!(r.passed, "{:?}", r.violations);
    let interrupted = r
        .recording
        .history
        .events
        .iter()
        .filter(|e| e.error.as_deref() == Some("client crashed"))
        .count();
    assert_eq!(interrupted, 1);
    let Fault::ClientCrash {
        clients: ClientSet::Ids(ids),
    } = &r.steps[0].fault
    else {
        panic!("resolved: {:?}", r.steps[0])
    };
    assert_eq!(ids.len(), 1);
    assert!(r.steps[0]
        .trigger
        .as_deref()
        .unwrap_or("")
        .contains("any client"));
}

#[test]
fn a_client_partition_cuts_that_client_from_the_named_servers_only() {
    // c0 (node 3) cut from node 0 for a second: its requests still reach nodes 1 and 2, but
    // node 0 alone serves, so its operations wait, retrying, until the cut heals.
    let r = go(
        3,
        None,
        steps("steps:\n  - {at_ms: 500, fault: client-partition, client: 0, nodes: [0], for_ms: 1000}\n"),
    );
    assert!(r.passed, "{:?}", r.violations);
    let (start, end) = {
        let w: Vec<_> = r
            .recording
            .windows()
            .into_iter()
            .filter(|(_, _, f)| f.kind == "client-partition")
            .map(|(s, e, _)| (s, e))
            .collect();
        assert_eq!(w.len(), 1);
        w[0]
    };
    let c0 = r.recording.nodes;
    let within = |at: u64| at >= start && at < end;
    let contacts = &r.recording.contacts;
    assert!(
        !contacts
            .iter()
            .any(|c| c.client == c0 && c.server == 0 && within(c.at_ns)),
        "c0 reached n0 through the cut"
    );
    // Only that link: c0 still reaches n1 and n2, and the other clients still reach n0.
    for server in [1, 2] {
        assert!(
            contacts
                .iter()
                .any(|c| c.client == c0 && c.server == server && within(c.at_ns)),
            "c0 -> n{server} was cut too"
        );
    }
    assert!(contacts
        .iter()
        .any(|c| c.client != c0 && c.server == 0 && within(c.at_ns)));
    // Before and after the window c0 reaches n0.
    assert!(contacts
        .iter()
        .any(|c| c.client == c0 && c.server == 0 && c.at_ns >= end));
    // An operation of c0 spanned the window and completed after it: its retries got through.
    let h = &r.recording.history.events;
    assert!(h.iter().any(|e| {
        r.recording.process_clients.get(&e.process) == Some(&c0)
            && e.kind == EventType::Ok
            && e.time_ns >= end
    }));
}

#[test]
fn a_client_partition_composes_with_a_server_partition() {
    // The client-partition ends first; a server partition cutting nothing c0 needs stays. Then
    // the reverse order: the link n0-c0 must be open after both end, cut while either holds it.
    let r = go(
        4,
        None,
        steps(
            "steps:\n  - {at_ms: 300, fault: client-partition, clients: all, nodes: [0], for_ms: 400}\n  - {at_ms: 500, fault: client-partition, client: 0, nodes: [0, 1], for_ms: 600}\n",
        ),
    );
    assert!(r.passed, "{:?}", r.violations);
    let c0 = r.recording.nodes;
    let cut_c0 = |at: u64| (300_000_000..1_100_000_000).contains(&at);
    let cut_others = |at: u64| (300_000_000..700_000_000).contains(&at);
    for c in &r.recording.contacts {
        if c.server == 0 {
            let cut = if c.client == c0 {
                cut_c0(c.at_ns)
            } else {
                cut_others(c.at_ns)
            };
            assert!(!cut, "{c:?} crossed an active cut");
        }
    }
    assert!(r
        .recording
        .contacts
        .iter()
        .any(|c| c.client == c0 && c.server == 0 && c.at_ns >= 1_100_000_000));
}

#[test]
fn same_seed_same_fingerprint_with_client_faults() {
    let sched = || Faults::Schedule(Schedule::load("client-faults").unwrap());
    for seed in 0..4 {
        let a = go(seed, None, sched());
        let b = go(seed, None, sched());
        assert_eq!(a.fingerprint, b.fingerprint, "seed {seed}");
        assert_eq!(a.recording.history.events, b.recording.history.events);
        // The reproducer's resolved steps (`any`/`all` recorded as ids) replay the same run.
        let replay = go(seed, None, Faults::Steps(a.steps.clone()));
        assert_eq!(a.fingerprint, replay.fingerprint, "seed {seed} replayed");
        let started = a.steps.iter().filter(|s| {
            !s.trigger
                .as_deref()
                .is_some_and(|t| t.contains("never started"))
        });
        assert!(started
            .filter_map(|s| s.fault.clients())
            .all(|c| matches!(c, ClientSet::Ids(_))));
    }
    // A run whose crash lands changes the fingerprint: it is not ignored.
    let none = go(1, None, Faults::Steps(vec![]));
    let crash = go(
        1,
        None,
        Faults::Steps(vec![Step::at(
            600,
            Fault::ClientCrash {
                clients: ClientSet::Ids(vec![1]),
            },
        )]),
    );
    assert_ne!(none.fingerprint, crash.fingerprint);
}

#[test]
fn a_session_bug_only_client_crashes_reveal_is_caught_and_the_correct_variant_passes() {
    // Without client faults the bug is invisible.
    for seed in 0..5 {
        let r = go(
            seed,
            Some("session-per-node"),
            Faults::Schedule(Schedule::load("none").unwrap()),
        );
        assert!(r.passed, "seed {seed} without faults: {:?}", r.violations);
    }
    let caught = (0..30)
        .find(|&seed| !go(seed, Some("session-per-node"), crashes_only()).passed)
        .expect("the session bug is caught within 30 seeds of client crashes");
    let bad = go(caught, Some("session-per-node"), crashes_only());
    assert!(
        bad.violated_checkers()
            .iter()
            .any(|c| c == "linearizability"),
        "{:?}",
        bad.violations
    );
    let good = go(caught, None, crashes_only());
    assert!(
        good.passed,
        "correct variant, seed {caught}: {:?}",
        good.violations
    );
    assert!(
        good.recording
            .history
            .events
            .iter()
            .any(|e| e.error.as_deref() == Some("client crashed")),
        "the seed crashed a client mid-request"
    );
}

#[test]
fn a_step_naming_a_client_the_run_lacks_is_refused() {
    let m = model();
    let req = RunRequest {
        seed: 0,
        config: m.config(None),
        faults: steps("steps:\n  - {at_ms: 10, fault: client-crash, client: 3}\n"),
        fail_on: vec![],
        trace: false,
    };
    let e = run(&m, &req).expect_err("c3 does not exist");
    assert!(matches!(e, RunError::Schedule(_)), "{e:?}");
    assert!(e.to_string().contains("client 3 does not exist"), "{e}");
}

#[test]
fn bad_client_steps_exit_2_naming_the_file_line_and_problem() {
    let dir = TempDir::new("clients-cli");
    for (yaml, want) in [
        (
            "steps:\n  - {at_ms: 10, fault: client-crash, client: 9}\n",
            "client 9 does not exist",
        ),
        (
            "steps:\n  - {at_ms: 10, fault: client-crash, node: 1}\n",
            "does not take the field `node`",
        ),
        (
            "steps:\n  - {at_ms: 10, fault: client-crash, client: someone}\n",
            "unknown client `someone`",
        ),
        (
            "steps:\n  - {at_ms: 10, fault: client-partition, clients: all}\n",
            "needs the field `node` or `nodes`",
        ),
        (
            "steps:\n  - {at_ms: 10, fault: client-partition, clients: [0], nodes: [7]}\n",
            "node 7 does not exist",
        ),
        (
            "steps:\n  - {at_ms: 10, fault: client-partition, clients: some, node: 0}\n",
            "unknown clients `some`",
        ),
    ] {
        let file = dir.join("bad.yaml");
        std::fs::write(&file, yaml).unwrap();
        let out = faultline_in(
            dir.path(),
            &[
                "run",
                "payments",
                "--seed",
                "1",
                "--schedule",
                file.to_str().unwrap(),
            ],
        );
        assert_eq!(out.code, 2, "{yaml}: {}", out.stderr);
        assert!(out.stderr.contains(want), "{yaml}: {}", out.stderr);
        assert!(out.stderr.contains("bad.yaml"), "{yaml}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
}

#[test]
fn a_client_crash_after_its_charge_was_sent_leaves_one_charge_and_an_info_op() {
    // payments, one client: it crashes just as the server makes its 3rd charge, with the
    // reply still on the wire. The payment is `info`; it took effect once, and exactly-once
    // (which counts an `info` payment as charged at most once) passes.
    let m = faultline_models::payments::model();
    let mut config = m.config(None);
    config.clients = 1;
    let req = RunRequest {
        seed: 5,
        config,
        faults: steps("steps:\n  - {after: charged, nth: 3, fault: client-crash, client: 0}\n"),
        fail_on: vec![],
        trace: false,
    };
    let r = run(&m, &req).expect("valid run");
    assert!(r.passed, "{:?}", r.violations);
    let info: Vec<_> = r
        .recording
        .history
        .events
        .iter()
        .filter(|e| e.error.as_deref() == Some("client crashed"))
        .collect();
    assert_eq!(info.len(), 1, "{info:?}");
    let request = info[0].value["request"].clone();
    let charges = r
        .recording
        .observations_of("charged")
        .filter(|o| o.data["request"] == request)
        .count();
    assert_eq!(charges, 1, "request {request} charged {charges} times");
    // The client went on with a fresh process and its later payments succeeded.
    assert!(r
        .recording
        .history
        .events
        .iter()
        .any(|e| e.process > 0 && e.kind == EventType::Ok && e.time_ns > info[0].time_ns));
}
