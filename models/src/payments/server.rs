//! A payment server: a durable ledger and a dedup table (idempotency key → response).
use super::{Bug, Msg};
use faultline::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

/// One charge in the ledger.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Charge {
    request: u64,
    account: String,
    amount: u64,
}

/// What survives a crash: the ledger and (unless the bug) the dedup table.
#[derive(Default, Serialize, Deserialize)]
struct Durable {
    ledger: Vec<Charge>,
    /// Idempotency key → the receipt (ledger index) answered for it.
    dedup: BTreeMap<String, u64>,
}

pub(super) async fn run(ctx: &NodeCtx<Msg>, bug: Bug) {
    let disk = ctx.disk();
    let mut d: Durable = disk.get("state").unwrap_or_default();
    if bug == Bug::VolatileDedup {
        // The bug: the table is only ever in memory, so a restart starts it empty.
        d.dedup.clear();
    }
    loop {
        let (from, msg) = ctx.recv().await;
        let Msg::Pay {
            key,
            request,
            account,
            amount,
        } = msg
        else {
            continue;
        };
        if let Some(&receipt) = d.dedup.get(&key) {
            ctx.send(from, Msg::Paid { request, receipt });
            continue;
        }
        let receipt = d.ledger.len() as u64;
        d.ledger.push(Charge {
            request,
            account: account.clone(),
            amount,
        });
        d.dedup.insert(key, receipt);
        // Ledger and dedup entry become durable together: a crash loses both or neither.
        if bug == Bug::VolatileDedup {
            let kept = Durable {
                ledger: d.ledger.clone(),
                dedup: BTreeMap::new(),
            };
            disk.put("state", &kept);
        } else {
            disk.put("state", &d);
        }
        disk.fsync().await;
        ctx.observe(
            "charged",
            &json!({"request": request, "account": account, "amount": amount, "receipt": receipt}),
        );
        ctx.send(from, Msg::Paid { request, receipt });
    }
}
