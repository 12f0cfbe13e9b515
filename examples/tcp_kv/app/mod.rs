//! The TCP example: [`service`], a chain-replicated key-value store written as for production,
//! and [`model`], the Faultline glue that registers it as the `tcp-kv` model.
pub mod model;
pub mod service;
pub use model::model;
