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
    // Recovery: what the disk shows may still sit in the page cache (a process crash keeps
    // unsynced writes), so make it durable, then report every charge found: a crash during the
    // fsync of a charge kept the charge but cut its report off, and a retry will find its key.
    // A charge is named by its receipt, so the checker counts one reported twice once.
    if !d.ledger.is_empty() {
        disk.fsync().await;
        for (receipt, c) in d.ledger.iter().enumerate() {
            observe_charge(ctx, c, receipt as u64);
        }
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
            account,
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
        observe_charge(ctx, &d.ledger[receipt as usize], receipt);
        if ctx.buggify("reply-lost-after-charge") {
            // The charge is durable but its reply never leaves (a connection reset after the
            // commit): the client times out and retries with the same key.
            continue;
        }
        ctx.send(from, Msg::Paid { request, receipt });
    }
}

/// Reports a durable charge; its receipt is the effect's id (`exactly-once` counts an id once).
fn observe_charge(ctx: &NodeCtx<Msg>, c: &Charge, receipt: u64) {
    ctx.observe(
        "charged",
        &json!({"request": c.request, "account": c.account, "amount": c.amount,
                "receipt": receipt, "id": receipt}),
    );
}
