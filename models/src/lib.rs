//! Faultline's built-in protocol models. Each is written only against the harness's public API,
//! exactly as a user's own protocol would be.
use faultline::Model;

mod commit;
pub mod dynamo;
pub mod payments;
pub mod primary_backup;
pub mod raft;
pub mod replication;
pub mod saga;
pub mod sharded_kv;
pub mod threepc;
pub mod twopc;
mod wal;

/// Every built-in model, registered for the CLI.
pub fn all() -> Vec<Model> {
    vec![
        primary_backup::model(),
        raft::model(),
        dynamo::model(),
        sharded_kv::model(),
        twopc::model(),
        threepc::model(),
        saga::model(),
        payments::model(),
    ]
}
