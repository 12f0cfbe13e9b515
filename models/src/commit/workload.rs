//! Transactions as clients issue them: `{"f": "txn", "value": {"txn": id, "keys": [..]}}`,
//! answered `ok` when committed and `fail` when aborted. A transaction writes its id to each of
//! its keys. After the heal, the final reads read each participant's data
//! (`{"f": "read", "key": "n<p>"}`, answered with `{key: [txn ids]}`), which `client-outcome`
//! compares with what the clients were told.
use super::{CommitMsg, COORDINATOR};
use faultline::prelude::*;
use faultline::workload::Generator;
use serde_json::{json, Value};
use std::time::Duration;

/// Keys per participant.
const KEYS_PER_PARTICIPANT: usize = 2;

/// The participant (node id) holding `key` (`k{i}`) among `n` participants.
pub fn owner(key: &str, n: usize) -> usize {
    let i: usize = key
        .strip_prefix('k')
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    1 + i % n
}

/// The keys a transaction invocation writes.
pub fn keys_of(op: &Invocation) -> Vec<String> {
    op.value
        .get("keys")
        .and_then(Value::as_array)
        .map(|ks| {
            ks.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Transactions over `n` participants: each writes one key on each of two or three distinct
/// participants (one, when there is only one), so most transactions conflict with few others.
pub fn txn_workload(n: usize) -> Workload {
    let n = n.max(1);
    Workload::registers()
        .keys(n * KEYS_PER_PARTICIPANT)
        .custom(Generator::new(move |rng, id| {
            let want = if n == 1 {
                1
            } else {
                rng.gen_range(2..=n.min(super::MAX_PARTICIPANTS))
            };
            let mut parts: Vec<usize> = Vec::new();
            while parts.len() < want {
                let p = rng.gen_range(0..n);
                if !parts.contains(&p) {
                    parts.push(p);
                }
            }
            parts.sort_unstable();
            let keys: Vec<String> = parts
                .iter()
                .map(|&p| format!("k{}", p + n * rng.gen_range(0..KEYS_PER_PARTICIPANT)))
                .collect();
            Invocation {
                f: "txn".into(),
                key: None,
                value: json!({"txn": id, "keys": keys}),
            }
        }))
        .final_ops(
            (1..=n)
                .map(|p| Invocation {
                    f: "read".into(),
                    key: Some(format!("{STATE_PREFIX}{p}")),
                    value: Value::Null,
                })
                .collect(),
        )
}

/// The final reads name participant `p` as the key `n<p>`.
pub const STATE_PREFIX: &str = "n";

/// Reads participant `key` (`n<p>`)'s data: key → the committed transactions that wrote it.
async fn read_state<M: CommitMsg>(c: &ClientCtx<M>, key: &str) -> Outcome {
    let Some(p) = key
        .strip_prefix(STATE_PREFIX)
        .and_then(|p| p.parse::<usize>().ok())
    else {
        return Outcome::Fail(format!("`{key}` names no participant"));
    };
    c.send(p, M::inspect());
    while let Some((from, msg)) = c.recv_timeout(Duration::from_millis(900)).await {
        if let (true, Some(data)) = (from == p, msg.as_state()) {
            return Outcome::Ok(json!(data));
        }
    }
    Outcome::Unknown(format!("no state from participant n{p}"))
}

/// One transaction from a client: ask the coordinator, wait for its outcome. Committed is `Ok`,
/// aborted is `Fail` (it certainly did not take effect); no answer is `Unknown`.
pub async fn call<M: CommitMsg>(c: &ClientCtx<M>, op: &Invocation) -> Outcome {
    if op.f == "read" {
        return read_state(c, op.key.as_deref().unwrap_or_default()).await;
    }
    let Some(txn) = op.value.get("txn").and_then(Value::as_u64) else {
        return Outcome::Fail("not a transaction".into());
    };
    c.send(COORDINATOR, M::begin(txn, keys_of(op)));
    while let Some((_, msg)) = c.recv_timeout(Duration::from_millis(900)).await {
        match msg.as_outcome() {
            Some((t, true)) if t == txn => return Outcome::Ok(Value::Null),
            Some((t, false)) if t == txn => return Outcome::Fail("aborted".into()),
            _ => {}
        }
    }
    Outcome::Unknown("no outcome from the coordinator".into())
}
