//! Faultline's command line and its tools, as a library so a user's own binary can register
//! their own protocols: `std::process::exit(faultline_cli::main(models))`.
//!
//! The protocol API, the simulation engine and the runner (`Check`) live in the `faultline`
//! crate, which is all a user's `cargo test` needs; this crate adds what only a command line
//! needs (clap, the progress bar, the CI suite, shard merging, JUnit, the benchmarks). The map:
//! docs/architecture.md.
//!
//! ```no_run
//! use faultline::prelude::*;
//! # fn my_models() -> Vec<Model> { vec![] }
//! fn main() {
//!     let mut models = faultline_models::all();
//!     models.extend(my_models());
//!     std::process::exit(faultline_cli::main(models));
//! }
//! ```
pub mod bench;
pub mod cli;
pub mod junit;
pub mod merge;
pub mod progress;
pub mod shrink;
pub mod suite;

pub use cli::main;

/// docs/writing-a-protocol.md, whose Rust examples `cargo test --doc` compiles and runs: the
/// guide's paths and signatures stay those of the code.
#[cfg(doctest)]
#[doc = include_str!("../docs/writing-a-protocol.md")]
pub struct WritingAProtocolGuide;
