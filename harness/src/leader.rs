//! The client side of a leader-based store: find the leader, follow redirects, retry on silence.
use crate::ctx::{Message, NodeCtx};
use crate::protocol::Outcome;
use rand::Rng;
use std::cell::Cell;
use std::time::Duration;

/// What a node's message says about the request a [`LeaderClient`] is waiting on.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// The request's result.
    Answer(Outcome),
    /// "I do not lead", with the leader it knows of, if any.
    Redirect(Option<usize>),
}

/// Sends a request to the node a client believes leads, follows redirects, and tries the next
/// node after a silent attempt. It remembers the node that answered last: keep it in the
/// protocol value, which is the client's own (one per client).
///
/// Every attempt must carry the same request id, and the store must apply an id at most once:
/// then retrying never applies an operation twice. Without an answer the outcome is unknown,
/// since an unanswered attempt may still take effect.
///
/// ```no_run
/// use faultline::leader::{LeaderClient, Reply};
/// use faultline::prelude::*;
/// #[derive(Clone, Debug)]
/// enum Msg { Request(u64, Invocation), Done(u64, serde_json::Value), NotLeader(u64, Option<usize>) }
/// async fn call(leader: &LeaderClient, c: &ClientCtx<Msg>, id: u64, op: &Invocation) -> Outcome {
///     leader.call(c, Msg::Request(id, op.clone()), |m| match m {
///         Msg::Done(rid, v) if *rid == id => Some(Reply::Answer(Outcome::Ok(v.clone()))),
///         Msg::NotLeader(rid, hint) if *rid == id => Some(Reply::Redirect(*hint)),
///         _ => None, // an answer to an earlier request
///     }).await
/// }
/// ```
#[derive(Debug)]
pub struct LeaderClient {
    /// How long one attempt waits for an answer before the client tries another node.
    pub attempt: Duration,
    /// How long to wait before retrying when no node knows the leader (an election is on).
    pub no_leader_pause: Duration,
    /// Attempts per operation; the harness's own timeout usually ends the call first.
    pub max_attempts: usize,
    guess: Cell<Option<usize>>,
}

impl Default for LeaderClient {
    fn default() -> Self {
        LeaderClient {
            attempt: Duration::from_millis(200),
            no_leader_pause: Duration::from_millis(30),
            max_attempts: 32,
            guess: Cell::new(None),
        }
    }
}

impl LeaderClient {
    /// 200 ms per attempt, a 30 ms pause when nobody knows the leader, 32 attempts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Performs one request: `reply` reads each message the client receives and says whether it
    /// answers this request (`None` for anything else, such as a late answer to an earlier one).
    /// A redirect counts only from the node the attempt went to.
    pub async fn call<M: Message>(
        &self,
        c: &NodeCtx<M>,
        request: M,
        reply: impl Fn(&M) -> Option<Reply>,
    ) -> Outcome {
        let n = c.servers();
        // The node that answered last time: usually still the leader (a deposed leader that
        // still believes it leads keeps this client, which is how stale leaders get caught).
        let mut target = self.guess.get().unwrap_or_else(|| c.rng().gen_range(0..n));
        for _ in 0..self.max_attempts {
            c.send(target, request.clone());
            let deadline = c.instant() + self.attempt;
            loop {
                let Some((from, msg)) = c.recv_until(deadline).await else {
                    target = (target + 1) % n;
                    break;
                };
                match reply(&msg) {
                    Some(Reply::Answer(outcome)) => {
                        self.guess.set(Some(target));
                        return outcome;
                    }
                    Some(Reply::Redirect(hint)) if from == target => {
                        match hint {
                            Some(h) if h != target => target = h,
                            _ => {
                                target = (target + 1) % n;
                                c.sleep(self.no_leader_pause).await;
                            }
                        }
                        break;
                    }
                    _ => {}
                }
            }
        }
        Outcome::Unknown("no leader answered".into())
    }
}
