//! Faultline: deterministic chaos testing for distributed protocols. Write your protocol
//! against this crate's API, and Faultline runs it in a deterministic simulation (madsim) under
//! network partitions, crashes, disk loss and clock skew, records every operation, and judges the
//! history with Jepsen-style checkers. A failing seed replays bit for bit.
//!
//! This crate is all a user's `cargo test` needs: the protocol API, the simulation engine and the
//! runner ([`Check`]). The command line (`faultline fuzz`, `replay`, `shrink`, `ci`, ...) is the
//! `faultline-cli` crate; the built-in protocols are `faultline-models`; the history checkers are
//! `faultline-checkers`, re-exported here as [`checkers`]. The map of the house:
//! `docs/architecture.md`.
//!
//! A node may run several tasks ([`NodeCtx::spawn`]), each with its own registered mailbox
//! ([`NodeCtx::subscribe`]) and node-local channels ([`NodeCtx::channel`]); a crash kills them all.
//!
//! # Write a protocol
//!
//! A protocol implements [`Protocol`]: the server loop of a node over a [`NodeCtx`] (typed
//! messages, timers, a local clock, a [`Disk`] whose unsynced writes a power loss loses, a seeded
//! rng), the client side of one operation, and its CAP choice. Here is a complete one: a
//! register per key, held by node 0, which applies writes durably and copies them to the other
//! nodes.
//!
//! ```
//! use faultline::prelude::*;
//! use serde_json::Value;
//! use std::collections::{BTreeMap, BTreeSet};
//! use std::time::Duration;
//!
//! /// Node 0 serves every request; the others keep copies.
//! struct Register;
//!
//! #[derive(Clone, Debug)]
//! enum Msg {
//!     Request(u64, Invocation), // client -> node 0, tagged with the call's id
//!     Reply(u64, Value),        // node 0 -> client
//!     Copy(String, Value),      // node 0 -> the others
//! }
//!
//! /// What node 0 keeps on its disk: the values, and the ids of the writes applied (the network
//! /// may deliver a request twice; a late duplicate must not overwrite a newer value).
//! #[derive(Default, serde::Serialize, serde::Deserialize)]
//! struct State {
//!     values: BTreeMap<String, Value>,
//!     applied: BTreeSet<u64>,
//! }
//!
//! impl Protocol for Register {
//!     type Msg = Msg;
//!
//!     fn cap(&self) -> Cap {
//!         Cap::CP // every answer linearizable; refusing during a partition is allowed
//!     }
//!
//!     async fn node(&self, ctx: NodeCtx<Msg>) {
//!         // A crash loses memory (a power loss, unsynced writes too): start from the disk.
//!         let disk = ctx.disk();
//!         let mut state: State = disk.get("state").unwrap_or_default();
//!         loop {
//!             let (from, msg) = ctx.recv().await;
//!             match msg {
//!                 Msg::Request(id, op) if ctx.id() == 0 => {
//!                     let key = op.key.clone().unwrap_or_default();
//!                     let result = if op.f == "write" {
//!                         if state.applied.insert(id) {
//!                             state.values.insert(key.clone(), op.value.clone());
//!                             disk.put("state", &state);
//!                             disk.fsync().await; // acknowledged means durable
//!                             for peer in ctx.peers() {
//!                                 ctx.send(peer, Msg::Copy(key.clone(), op.value.clone()));
//!                             }
//!                         }
//!                         Value::Null
//!                     } else {
//!                         state.values.get(&key).cloned().unwrap_or(Value::Null)
//!                     };
//!                     ctx.send(from, Msg::Reply(id, result));
//!                 }
//!                 Msg::Copy(key, value) => {
//!                     state.values.insert(key, value);
//!                 }
//!                 _ => {}
//!             }
//!         }
//!     }
//!
//!     async fn call(&self, client: &ClientCtx<Msg>, id: u64, op: &Invocation) -> Outcome {
//!         client.send(0, Msg::Request(id, op.clone()));
//!         while let Some((_, msg)) = client.recv_timeout(Duration::from_millis(500)).await {
//!             match msg {
//!                 Msg::Reply(rid, value) if rid == id => return Outcome::Ok(value),
//!                 _ => {} // a late reply to an earlier call
//!             }
//!         }
//!         // No reply: the write may or may not have happened. Saying `Fail` here would be a lie
//!         // the checkers catch.
//!         Outcome::Unknown("no reply within 500 ms".into())
//!     }
//! }
//!
//! /// The factory builds a fresh value for every node incarnation and every client.
//! fn model() -> Model {
//!     Model::new("register", |_cfg: &ModelConfig| Ok(Register))
//!         .describe("a register per key on node 0, copied to the others")
//!         .nodes(3)
//! }
//!
//! // In a test: 20 seeds under the default `swarm` schedule of faults, each run's history
//! // checked for linearizability, lost writes, liveness, ... A failure panics with the
//! // failing seed, its story and the command that replays it.
//! # fn run() {
//! Check::new(model()).seeds(0..20).run().assert_ok();
//! # }
//! # assert_eq!(model().name(), "register");
//! ```
//!
//! The same model in your own binary gets every `faultline` command (`faultline-cli`):
//! `std::process::exit(faultline_cli::main(vec![model()]))`.
//!
//! # Where to read next
//!
//! - [`Protocol`] and [`NodeCtx`]: what a node can do; [`Model`]: bug variants, parameters,
//!   workloads; [`Workload`]: the operations clients issue.
//! - [`checker`]: the checkers that judge a run, and how to add your own.
//! - [`Check`]: seeds, schedules and regressions in `cargo test`; [`run::run`]: one simulation;
//!   [`schedule`]: the fault schedules.
//! - [`campaign`], [`shrink`], [`repro`], [`story`], [`timeline`]: what the command line is
//!   built from.
#![warn(missing_docs)]

#[cfg(not(madsim))]
compile_error!(
    "Faultline must be built with `--cfg madsim` (set in .cargo/config.toml). A RUSTFLAGS \
     environment variable replaces that setting: unset it, or add `--cfg madsim` to it."
);

pub mod artifacts;
pub mod buggify;
pub mod campaign;
pub mod channel;
pub mod check;
pub mod checker;
mod clock;
pub mod command;
mod corruption;
mod ctx;
pub mod data;
mod disk;
mod disk_error;
mod disk_state;
pub mod fingerprint;
pub mod leader;
pub mod linearizable;
pub mod model;
mod nemesis;
pub mod netsim;
mod panics;
pub mod protocol;
pub mod recording;
pub mod records;
pub mod repro;
pub mod run;
pub mod schedule;
pub mod shrink;
mod sim;
pub mod story;
pub mod task;
pub mod timeline;
pub mod wire;
pub mod workload;
mod world;

pub use channel::{Receiver, Sender};
pub use check::Check;
pub use ctx::{Mailbox, Message, NodeCtx, SimRng};
pub use disk::{Disk, File};
pub use disk_error::{DiskError, DiskOp};
/// The history checkers (the `faultline-checkers` crate): linearizability and the invariants.
pub use faultline_checkers as checkers;
/// Simulated time instants (what `NodeCtx::instant` returns).
pub use madsim::time::Instant;
pub use model::Model;
pub use protocol::{Cap, ClientCtx, Invocation, ModelConfig, Outcome, Protocol, Roles};
pub use task::{Aborted, Task};
pub use workload::Workload;

/// Everything a protocol author needs in one import.
pub mod prelude {
    pub use crate::checker::Checker;
    pub use crate::{
        Aborted, Cap, Check, ClientCtx, Disk, DiskError, Instant, Invocation, Mailbox, Model,
        ModelConfig, NodeCtx, Outcome, Protocol, Receiver, Roles, Sender, Task, Workload,
    };
    pub use faultline_checkers::{Finding, FindingKind};
    pub use rand::Rng;
}
