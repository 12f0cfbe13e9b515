//! The client side: find the shard's group from a cached shard map (refreshed from the config
//! group when it is old or a group says the key is not its own), then ask that group's primary.
use super::shard::WRONG_GROUP;
use super::{shard_of, Layout};
use crate::replication::Msg;
use faultline::prelude::*;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a client waits for one group member.
const ATTEMPT: Duration = Duration::from_millis(250);
/// How long a client trusts its shard map.
const MAP_TTL: Duration = Duration::from_millis(500);
/// Groups a client tries per operation while shards move.
const ROUNDS: usize = 4;
/// `guess` key for the config group.
const CONFIG: usize = usize::MAX;

/// What one client remembers between its operations. Each client has its own protocol value,
/// hence its own `ClientState`.
#[derive(Default)]
pub struct ClientState {
    /// The cached shard map and when it was fetched.
    map: RefCell<Option<(Vec<usize>, Instant)>>,
    /// Per group: the member this client believes is its primary.
    guess: RefCell<BTreeMap<usize, usize>>,
}

enum Answer {
    Ok(Value),
    Refused(String),
    Unknown(String),
}

/// Asks one group, following its members' redirects to the primary. The id is the same for
/// every member: a group logs an id at most once.
async fn ask(
    me: &ClientState,
    c: &ClientCtx<Msg>,
    group: usize,
    members: &[usize],
    id: u64,
    op: &Invocation,
) -> Answer {
    let mut at = me.guess.borrow().get(&group).copied().unwrap_or(0) % members.len();
    for _ in 0..2 * members.len() {
        let target = members[at];
        c.send(target, Msg::Request { id, op: op.clone() });
        loop {
            match c.recv_timeout(ATTEMPT).await {
                None => return Answer::Unknown("timeout".into()),
                Some((_, Msg::Reply { id: rid, result })) if rid == id => {
                    me.guess.borrow_mut().insert(group, at);
                    return match result {
                        Ok(v) => Answer::Ok(v),
                        Err(e) => Answer::Refused(e),
                    };
                }
                Some((from, Msg::NotPrimary { id: rid, hint })) if rid == id && from == target => {
                    at = match hint.and_then(|h| members.iter().position(|m| *m == h)) {
                        Some(i) if i != at => i,
                        _ => (at + 1) % members.len(),
                    };
                    me.guess.borrow_mut().insert(group, at);
                    break;
                }
                Some(_) => {} // a late answer to an earlier request
            }
        }
    }
    Answer::Unknown("no primary answered".into())
}

/// The client's shard map, fetched (through the config log, so never older than what the
/// client saw before) when missing, old, or known to be wrong.
async fn shard_map(
    me: &ClientState,
    c: &ClientCtx<Msg>,
    layout: &Layout,
    id: u64,
    refresh: bool,
) -> Option<Vec<usize>> {
    let now = c.instant();
    if !refresh {
        let cached = me.map.borrow().clone();
        if let Some((map, at)) = cached {
            if now < at + MAP_TTL {
                return Some(map);
            }
        }
    }
    let query = Invocation {
        f: "query".into(),
        key: None,
        value: Value::Null,
    };
    let Answer::Ok(v) = ask(me, c, CONFIG, &layout.config_members(), id, &query).await else {
        return None;
    };
    let map: Vec<usize> = serde_json::from_value(v["map"].clone()).ok()?;
    *me.map.borrow_mut() = Some((map.clone(), c.instant()));
    Some(map)
}

/// Performs one operation. Retries only after a definite refusal (`wrong group`: the group's
/// log refused it, so it never took effect); a timeout is an unknown outcome, never retried.
pub async fn call(
    layout: &Layout,
    me: &ClientState,
    c: &ClientCtx<Msg>,
    id: u64,
    op: &Invocation,
) -> Outcome {
    let shard = shard_of(op.key.as_deref().unwrap_or_default());
    // Each request gets its own id (the run-wide op id, times 256, plus a counter): a retry to
    // the same group must not be dropped as a duplicate of the refused one.
    let mut sub = 0u64;
    let mut next_id = || {
        sub += 1;
        (id << 8) | sub
    };
    let mut refresh = false;
    for _ in 0..ROUNDS {
        let Some(map) = shard_map(me, c, layout, next_id(), refresh).await else {
            return Outcome::Fail("no shard map".into());
        };
        let group = map[shard];
        match ask(me, c, group, &layout.group_members(group), next_id(), op).await {
            Answer::Ok(v) => return Outcome::Ok(v),
            Answer::Refused(e) if e == WRONG_GROUP => refresh = true,
            Answer::Refused(e) => return Outcome::Fail(e),
            Answer::Unknown(why) => return Outcome::Unknown(why),
        }
    }
    Outcome::Fail("the shard kept moving".into())
}
