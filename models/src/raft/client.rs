//! The client side of one operation: the harness's leader-following client.
use super::{Msg, Raft};
use faultline::leader::Reply;
use faultline::prelude::*;

/// Sends `op` to the node this client believes leads, following `NotLeader` hints. Every attempt
/// carries the same op id, which the state machine applies at most once, so retrying never
/// applies an operation twice.
pub(super) async fn call(p: &Raft, c: &ClientCtx<Msg>, id: u64, op: &Invocation) -> Outcome {
    let request = Msg::Request { id, op: op.clone() };
    // Client ids follow the servers'; any id past the table shares its last entry.
    let client = &p.clients[c.id().min(p.clients.len() - 1)];
    client
        .call(c, request, |m| match m {
            Msg::Reply { id: rid, result } if *rid == id => Some(Reply::Answer(match result {
                Ok(v) => Outcome::Ok(v.clone()),
                // Only a cas that applied and found another value fails: certain.
                Err(e) => Outcome::Fail(e.clone()),
            })),
            Msg::NotLeader { id: rid, hint } if *rid == id => Some(Reply::Redirect(*hint)),
            _ => None, // a late answer to an earlier attempt or request
        })
        .await
}
