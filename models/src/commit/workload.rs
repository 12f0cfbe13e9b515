//! Transactions as clients issue them: `{"f": "txn", "value": {"txn": id, "keys": [..]}}`,
//! answered `ok` when committed and `fail` when aborted.
use super::{CommitMsg, COORDINATOR};
use faultline_harness::prelude::*;
use faultline_harness::workload::Generator;
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
                rng.gen_range(2..=n.min(3))
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
        .final_ops(vec![])
}

/// One transaction from a client: ask the coordinator, wait for its outcome. Committed is `Ok`,
/// aborted is `Fail` (it certainly did not take effect); no answer is `Unknown`.
pub async fn call<M: CommitMsg>(c: &ClientCtx<M>, op: &Invocation) -> Outcome {
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
