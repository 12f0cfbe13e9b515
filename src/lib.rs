//! Faultline as one dependency: the harness's public API (`faultline::prelude::*`,
//! `faultline::cli::main`, `faultline::Check`), the checkers and the built-in models.
//!
//! ```no_run
//! use faultline::prelude::*;
//! faultline::models::all().into_iter().for_each(|m| println!("{}", m.name()));
//! ```
pub use faultline_checkers as checkers;
pub use faultline_harness::*;
pub use faultline_models as models;

/// docs/writing-a-protocol.md, whose Rust examples `cargo test --doc` compiles and runs: the
/// guide's paths and signatures stay those of the code.
#[cfg(doctest)]
#[doc = include_str!("../docs/writing-a-protocol.md")]
pub struct WritingAProtocolGuide;
