//! Faultline's checkers: plain functions over recorded histories and observations.
//!
//! This crate has no runtime dependency: "is this Jepsen history linearizable?" needs nothing else.
pub mod ap_lost_write;
pub mod cap;
pub mod convergence;
pub mod finding;
pub mod history;
pub mod invented_value;
pub mod liveness;
pub mod lost_element;
pub mod lost_update;
pub mod lost_write;
pub mod observation;
pub mod ops;
pub mod progress;
pub mod raft;
pub mod register;
pub mod requirements;

pub use finding::{Finding, FindingKind};
pub use history::{Event, EventType, History};
pub use observation::Observation;
pub mod check_history;
pub mod exactly_once;
pub mod formats;
pub mod html;
pub mod linearizability;
pub mod saga;
pub mod shared_data;
pub mod spec;
pub mod txn;
