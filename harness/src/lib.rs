//! Faultline's harness: the public API a protocol author programs against, and the deterministic
//! engine that runs it under faults.
//!
//! A protocol implements [`Protocol`]: a server loop over a [`NodeCtx`] (typed messages, timers,
//! a local clock, a disk that loses unsynced writes on a crash, a seeded rng, `observe(...)`), the
//! client side of one operation, and its CAP choice. Register it as a [`Model`] and every
//! `faultline` command works on it:
//!
//! ```no_run
//! use faultline_harness::prelude::*;
//! # struct MyKv; impl MyKv { fn new(_: &ModelConfig) -> Self { MyKv } }
//! # impl Protocol for MyKv { type Msg = (); fn cap(&self) -> Cap { Cap::CP }
//! #   async fn node(&self, _: NodeCtx<()>) {}
//! #   async fn call(&self, _: &ClientCtx<()>, _: u64, _: &Invocation) -> Outcome { Outcome::Fail("".into()) } }
//! fn main() {
//!     let models = vec![Model::new("my-kv", |cfg| Ok(MyKv::new(cfg)))];
//!     std::process::exit(faultline_harness::cli::main(models));
//! }
//! ```
//!
//! And from a user's own `cargo test`:
//!
//! ```no_run
//! # use faultline_harness::prelude::*;
//! # fn model() -> Model { unimplemented!() }
//! Check::new(model()).seeds(0..50).schedule("swarm").run().assert_ok();
//! ```
#[cfg(not(madsim))]
compile_error!(
    "Faultline must be built with `--cfg madsim` (set in .cargo/config.toml). A RUSTFLAGS \
     environment variable replaces that setting: unset it, or add `--cfg madsim` to it."
);

pub mod artifacts;
pub mod bench;
pub mod campaign;
pub mod check;
pub mod checker;
pub mod cli;
mod ctx;
pub mod data;
mod disk;
mod disk_state;
pub mod fingerprint;
pub mod junit;
pub mod leader;
pub mod linearizable;
pub mod merge;
pub mod model;
mod nemesis;
pub mod netsim;
mod panics;
pub mod protocol;
pub mod recording;
pub mod repro;
pub mod run;
pub mod schedule;
pub mod shrink;
mod sim;
pub mod story;
pub mod suite;
pub mod timeline;
pub mod workload;
mod world;

pub use check::Check;
pub use ctx::{Message, NodeCtx, SimRng};
pub use disk::Disk;
/// Simulated time instants (what `NodeCtx::instant` returns).
pub use madsim::time::Instant;
pub use model::Model;
pub use protocol::{Cap, ClientCtx, Invocation, ModelConfig, Outcome, Protocol};
pub use workload::Workload;

/// Everything a protocol author needs in one import.
pub mod prelude {
    pub use crate::checker::Checker;
    pub use crate::{
        Cap, Check, ClientCtx, Disk, Instant, Invocation, Model, ModelConfig, NodeCtx, Outcome,
        Protocol, Workload,
    };
    pub use faultline_checkers::{Finding, FindingKind};
    pub use rand::Rng;
}
