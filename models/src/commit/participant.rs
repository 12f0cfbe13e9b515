//! What the `twopc` and `threepc` participants share: key locks, the durable state, and votes.
use super::{CommitMsg, COORDINATOR};
use faultline::prelude::*;
use serde_json::json;
use std::collections::BTreeMap;

/// The file holding a participant's durable state: a journal of changes, one record per
/// change ([`super::coordinator::Journal`]), replayed on restart. Rewriting the whole state on
/// every change made a run's disk traffic grow with the square of its transactions.
pub const STATE: &str = "state";

/// key → the transaction holding its lock.
#[derive(Default)]
pub struct Locks(BTreeMap<String, u64>);

impl Locks {
    /// Whether another transaction than `txn` holds one of `keys`.
    pub fn conflict(&self, keys: &[String], txn: u64) -> bool {
        keys.iter()
            .any(|k| self.0.get(k).is_some_and(|&t| t != txn))
    }

    pub fn lock(&mut self, keys: &[String], txn: u64) {
        for k in keys {
            self.0.insert(k.clone(), txn);
        }
    }

    /// Releases those of `keys` that `txn` holds.
    pub fn unlock(&mut self, keys: &[String], txn: u64) {
        for k in keys {
            if self.0.get(k) == Some(&txn) {
                self.0.remove(k);
            }
        }
    }
}

/// Votes no on a lock conflict.
pub fn vote_no_conflict<M: CommitMsg>(ctx: &NodeCtx<M>, txn: u64) {
    ctx.observe("aborted", &json!({"txn": txn, "why": "lock conflict"}));
    ctx.send(COORDINATOR, M::vote(txn, false));
}

/// Votes yes, the prepare record of `keys` being in place.
pub fn vote_yes<M: CommitMsg>(ctx: &NodeCtx<M>, txn: u64, keys: &[String]) {
    ctx.observe("prepared", &json!({"txn": txn, "keys": keys}));
    ctx.send(COORDINATOR, M::vote(txn, true));
}

/// Sends `msg` to every participant in `participants` but this node.
pub fn send_peers<M: CommitMsg>(ctx: &NodeCtx<M>, participants: &[usize], msg: M) {
    for &q in participants.iter().filter(|&&q| q != ctx.id()) {
        ctx.send(q, msg.clone());
    }
}
