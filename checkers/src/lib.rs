//! Faultline's checkers: plain functions over recorded histories and observations.
//!
//! This crate has no runtime dependency: "is this Jepsen history linearizable?" needs nothing else.
pub mod finding;
pub mod history;

pub use finding::{Finding, FindingKind};
pub use history::{Event, EventType, History};
