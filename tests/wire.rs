//! The wire check (`--wire serde`): a one-node register whose messages cross the protocol's
//! codec. Each flavour of it has one thing wrong that only a real wire shows (a skipped field, a
//! reply slot shared through an `Rc`, a codec that loses data); the correct flavour passes the
//! same seeds with and without the check, with the same fingerprint.
use faultline::prelude::*;
use faultline::protocol::{WireCheck, WireCodec};
use faultline::repro::Repro;
use faultline::run::{run, Faults, RunReport, RunRequest};
use faultline::schedule::Schedule;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

mod common;
use common::{faultline_in, TempDir};

/// A reply slot the client hands the server: the same allocation on both ends only as long as
/// messages are passed as values. On the wire it travels as its content.
#[derive(Clone, Debug, Default)]
struct Slot(Rc<RefCell<Option<Value>>>);

impl Serialize for Slot {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.borrow().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Slot {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Slot, D::Error> {
        Ok(Slot(Rc::new(RefCell::new(Option::deserialize(d)?))))
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
enum Wire {
    Req {
        id: u64,
        op: Invocation,
        /// A copy of the value to write that the codec drops (the `SkippedField` flavour reads
        /// it instead of `op.value`).
        #[serde(skip)]
        unsent: Value,
        slot: Slot,
    },
    Resp {
        id: u64,
        value: Value,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Flavour {
    /// Everything the server needs travels in the message.
    Correct,
    /// The server writes the `#[serde(skip)]` copy of the value: a codec bug.
    SkippedField,
    /// The server answers through the client's `Rc` slot, not in its reply: shared memory.
    Aliasing,
    /// A custom codec whose decoder drops the last byte of a long message: caught by the
    /// byte-for-byte stability check.
    LossyCodec,
    /// No codec declared.
    NoCodec,
}

struct Register(Flavour);

fn lossy_decode(b: &[u8]) -> Result<Wire, String> {
    let direct: Wire = serde_json::from_slice(b).map_err(|e| e.to_string())?;
    // Loses a write's value: decodes fine, encodes differently.
    Ok(match direct {
        Wire::Req {
            id,
            mut op,
            unsent,
            slot,
        } if op.f == "write" => {
            op.value = Value::Null;
            Wire::Req {
                id,
                op,
                unsent,
                slot,
            }
        }
        m => m,
    })
}

impl Protocol for Register {
    type Msg = Wire;

    fn cap(&self) -> Cap {
        Cap::CP
    }

    fn wire_codec(&self) -> Option<WireCodec<Wire>> {
        match self.0 {
            Flavour::NoCodec => None,
            Flavour::LossyCodec => Some(WireCodec::new(
                "lossy",
                |m| serde_json::to_vec(m).map_err(|e| e.to_string()),
                lossy_decode,
            )),
            _ => Some(WireCodec::serde()),
        }
    }

    async fn node(&self, ctx: NodeCtx<Wire>) {
        let mut values = std::collections::BTreeMap::<Option<String>, Value>::new();
        loop {
            let (from, msg) = ctx.recv().await;
            let Wire::Req {
                id,
                op,
                unsent,
                slot,
            } = msg
            else {
                continue;
            };
            if op.f == "write" {
                let value = match self.0 {
                    Flavour::SkippedField => unsent,
                    _ => op.value.clone(),
                };
                values.insert(op.key.clone(), value);
            }
            let ret = if op.f == "read" {
                values.get(&op.key).cloned().unwrap_or(Value::Null)
            } else {
                Value::Null
            };
            let ret = match self.0 {
                Flavour::Aliasing => {
                    *slot.0.borrow_mut() = Some(ret);
                    Value::Null
                }
                _ => ret,
            };
            ctx.send(from, Wire::Resp { id, value: ret });
        }
    }

    async fn call(&self, c: &ClientCtx<Wire>, id: u64, op: &Invocation) -> Outcome {
        let slot = Slot::default();
        c.send(
            0,
            Wire::Req {
                id,
                op: op.clone(),
                unsent: op.value.clone(),
                slot: slot.clone(),
            },
        );
        while let Some((_, msg)) = c.recv_timeout(Duration::from_millis(500)).await {
            if let Wire::Resp { id: rid, value } = msg {
                if rid == id {
                    return match self.0 {
                        Flavour::Aliasing => {
                            Outcome::Ok(slot.0.borrow().clone().unwrap_or(Value::Null))
                        }
                        _ => Outcome::Ok(value),
                    };
                }
            }
        }
        Outcome::Unknown("timeout".into())
    }
}

fn model(f: Flavour) -> Model {
    Model::new("register", move |_| Ok(Register(f)))
        .nodes(1)
        .clients(3)
        .ops(60)
}

fn run_with(f: Flavour, seed: u64, wire: Option<WireCheck>) -> RunReport {
    let m = model(f);
    let req = RunRequest {
        seed,
        config: ModelConfig {
            wire,
            ..m.config(None)
        },
        // A single node without a disk: no crash, no duplicate may strike it.
        faults: Faults::Schedule(Schedule::load("none").unwrap()),
        fail_on: vec![],
        trace: false,
    };
    run(&m, &req).expect("a valid run")
}

const SEEDS: std::ops::Range<u64> = 0..4;
const SERDE: Option<WireCheck> = Some(WireCheck::Serde);

#[test]
fn a_skipped_field_is_caught_by_the_wire_check_only() {
    for seed in SEEDS {
        let plain = run_with(Flavour::SkippedField, seed, None);
        assert!(plain.passed, "seed {seed}: {:?}", plain.violations);
        let wired = run_with(Flavour::SkippedField, seed, SERDE);
        // Every write arrives as null: reads see null after acknowledged writes.
        assert!(
            wired.violation("linearizability").is_some(),
            "seed {seed}: {:?}",
            wired.violations
        );
        assert!(
            wired.violation("panic").is_none(),
            "a codec bug, not a crash"
        );
        // The correct protocol passes the same seed with the check.
        assert!(
            run_with(Flavour::Correct, seed, SERDE).passed,
            "seed {seed}"
        );
    }
}

#[test]
fn a_protocol_relying_on_shared_pointers_is_caught() {
    for seed in SEEDS {
        let plain = run_with(Flavour::Aliasing, seed, None);
        assert!(plain.passed, "seed {seed}: {:?}", plain.violations);
        let wired = run_with(Flavour::Aliasing, seed, SERDE);
        // The server filled its own copy of the slot: every read comes back null.
        assert!(
            wired.violation("linearizability").is_some(),
            "seed {seed}: {:?}",
            wired.violations
        );
    }
}

#[test]
fn an_unstable_codec_fails_the_run_naming_the_message() {
    let plain = run_with(Flavour::LossyCodec, 1, None);
    assert!(plain.passed, "{:?}", plain.violations);
    let wired = run_with(Flavour::LossyCodec, 1, SERDE);
    let f = wired
        .violation("panic")
        .expect("the wire check fails the run");
    for part in [
        "wire check (lossy)",
        "-> n0",
        "Req {",
        "\"write\"",
        "encode(decode(encode(m))) differs from encode(m) at byte",
    ] {
        assert!(f.message.contains(part), "`{part}` in: {}", f.message);
    }
}

#[test]
fn the_check_keeps_a_correct_protocols_fingerprint_and_counts_bytes() {
    for seed in SEEDS {
        let plain = run_with(Flavour::Correct, seed, None);
        let wired = run_with(Flavour::Correct, seed, SERDE);
        assert!(plain.passed && wired.passed, "seed {seed}");
        // By design: the check draws no randomness and hashes nothing, and a correct
        // protocol's copy behaves as the original.
        assert_eq!(plain.fingerprint, wired.fingerprint, "seed {seed}");
        assert_eq!(plain.stats.wire_bytes, None);
        let bytes = wired.stats.wire_bytes.expect("counted with the check");
        // At least a request and a reply per operation, each more than 10 bytes of JSON.
        assert!(
            bytes > 20 * wired.stats.ops as u64,
            "seed {seed}: {bytes} bytes"
        );
        assert_eq!(wired.to_json()["stats"]["wire_bytes"], json!(bytes));
        assert_eq!(wired.to_json()["wire"], json!("serde"));
        assert!(plain.to_json()["stats"].get("wire_bytes").is_none());
    }
}

#[test]
fn a_reproducer_records_the_check_and_its_replay_counts_the_same_bytes() {
    let m = model(Flavour::Correct);
    let first = run_with(Flavour::Correct, 7, SERDE);
    let repro = Repro::from_report(&first, &[]);
    assert!(
        repro.to_yaml().contains("wire: serde"),
        "{}",
        repro.to_yaml()
    );
    let back: Repro = serde_yaml::from_str(&repro.to_yaml()).unwrap();
    let again = run(
        &m,
        &RunRequest {
            seed: back.seed,
            config: back.config.apply(m.config(None)),
            faults: Faults::Steps(back.schedule.clone()),
            fail_on: vec![],
            trace: false,
        },
    )
    .unwrap();
    assert_eq!(again.config.wire, SERDE);
    assert_eq!(again.fingerprint, first.fingerprint);
    assert_eq!(again.stats.wire_bytes, first.stats.wire_bytes);
    assert!(again.stats.wire_bytes.unwrap() > 0);
}

#[test]
fn a_protocol_without_a_codec_is_refused() {
    let m = model(Flavour::NoCodec);
    let err = common::refused(
        &m,
        ModelConfig {
            wire: SERDE,
            ..m.config(None)
        },
        "no codec",
    );
    assert!(
        err.to_string()
            .contains("--wire serde: this protocol declares no wire codec"),
        "{err}"
    );
}

#[test]
fn a_built_in_model_runs_the_same_with_the_check() {
    // Raft's log entries share their body through an `Arc`: on the wire each follower rebuilds
    // its own, and the run is the same.
    common::assert_same_run_with_wire(&faultline_models::raft::model(), 0..2);
}

#[test]
fn the_command_line_takes_wire_serde_and_refuses_anything_else() {
    let dir = TempDir::new("wire");
    let out = faultline_in(
        dir.path(),
        &["run", "raft", "--seed", "3", "--wire", "serde", "--json"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.json()["stats"]["wire_bytes"].as_u64().unwrap() > 0);
    let bogus = faultline_in(
        dir.path(),
        &["fuzz", "raft", "--seeds", "1", "--wire", "bogus"],
    );
    assert_eq!(bogus.code, 2, "{}", bogus.stderr);
    assert!(
        bogus
            .stderr
            .contains("--wire bogus: unknown wire check `bogus` (known: serde)"),
        "{}",
        bogus.stderr
    );
}
