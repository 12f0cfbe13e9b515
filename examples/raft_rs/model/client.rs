//! The client side of one operation: find the leader, follow redirects, retry on silence.
use super::{Msg, RaftRs};
use faultline::prelude::*;
use std::time::Duration;

/// How long one attempt waits for an answer before the client tries another node.
const ATTEMPT: Duration = Duration::from_millis(200);
/// How long to wait before retrying when no node knows the leader (an election is on).
const NO_LEADER_PAUSE: Duration = Duration::from_millis(30);
/// Attempts per operation; the harness's own timeout usually ends the call first.
const MAX_ATTEMPTS: usize = 32;

/// Sends `op` to the node this client believes leads, following `NotLeader` hints. Every attempt
/// carries the same op id, which the state machine applies at most once, so a retry never
/// applies an operation twice. Without an answer the outcome is unknown: an attempt may still
/// commit.
pub(super) async fn call(p: &RaftRs, c: &ClientCtx<Msg>, id: u64, op: &Invocation) -> Outcome {
    let n = c.servers();
    let me = c.id();
    let mut target = p.guess(me).unwrap_or_else(|| c.rng().gen_range(0..n));
    for _ in 0..MAX_ATTEMPTS {
        c.send(target, Msg::Request { id, op: op.clone() });
        let deadline = c.instant() + ATTEMPT;
        loop {
            match c.recv_until(deadline).await {
                None => {
                    target = (target + 1) % n;
                    break;
                }
                Some((_, Msg::Reply { id: rid, result })) if rid == id => {
                    p.set_guess(me, target);
                    return match result {
                        Ok(v) => Outcome::Ok(v),
                        // Only a cas that applied and found another value fails: certain.
                        Err(e) => Outcome::Fail(e),
                    };
                }
                Some((from, Msg::NotLeader { id: rid, hint })) if rid == id && from == target => {
                    match hint {
                        Some(h) if h != target => target = h,
                        _ => {
                            target = (target + 1) % n;
                            c.sleep(NO_LEADER_PAUSE).await;
                        }
                    }
                    break;
                }
                Some(_) => {} // a late answer to an earlier attempt or request
            }
        }
    }
    Outcome::Unknown("no leader answered".into())
}
