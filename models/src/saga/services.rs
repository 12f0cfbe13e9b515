//! The three services. Each remembers, durably, what it did for every saga, so a repeated
//! request gets the same answer without a second effect; a compensation that arrives before its
//! step leaves a tombstone that refuses the late step. Effects are observed once durable.
use super::{Bug, Msg, Order, Step, INITIAL_STOCK, ITEMS};
use faultline::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// The card limit: larger charges are declined.
const CARD_LIMIT: u64 = 100;

async fn persist<T: Serialize>(ctx: &NodeCtx<Msg>, state: &T) {
    let disk = ctx.disk();
    disk.put("state", state);
    disk.fsync().await;
}

fn load<T: DeserializeOwned + Default>(ctx: &NodeCtx<Msg>) -> T {
    ctx.disk().get("state").unwrap_or_default()
}

/// The next request for this service, with the orchestrator's id.
async fn next(ctx: &NodeCtx<Msg>) -> (usize, Step, Order) {
    loop {
        if let (from, Msg::Do { step, order }) = ctx.recv().await {
            return (from, step, order);
        }
    }
}

fn reply(ctx: &NodeCtx<Msg>, to: usize, step: Step, saga: u64, ok: bool) {
    ctx.send(to, Msg::Did { saga, step, ok });
}

#[derive(Default, Serialize, Deserialize)]
struct Ledger {
    /// Saga → (amount, accepted).
    charges: BTreeMap<u64, (u64, bool)>,
    /// Sagas refunded (or refunded before their charge came: tombstones).
    refunded: BTreeSet<u64>,
}

pub(super) async fn payment(ctx: &NodeCtx<Msg>, bug: Bug) {
    let mut l: Ledger = load(ctx);
    loop {
        let (from, step, o) = next(ctx).await;
        let ok = match step {
            Step::Charge => {
                if l.refunded.contains(&o.saga) {
                    false
                } else if let Some(&(_, ok)) = l.charges.get(&o.saga) {
                    ok
                } else {
                    let ok = o.amount <= CARD_LIMIT;
                    l.charges.insert(o.saga, (o.amount, ok));
                    persist(ctx, &l).await;
                    if ok {
                        ctx.observe("charged", &json!({"saga": o.saga, "amount": o.amount}));
                    }
                    ok
                }
            }
            Step::Refund => {
                let repeat = l.refunded.contains(&o.saga);
                if !repeat || bug == Bug::NonIdempotentRefund {
                    // The bug: a repeated refund request pays again.
                    l.refunded.insert(o.saga);
                    persist(ctx, &l).await;
                    if let Some(&(amount, true)) = l.charges.get(&o.saga) {
                        ctx.observe("refunded", &json!({"saga": o.saga, "amount": amount}));
                    }
                }
                true
            }
            _ => continue,
        };
        reply(ctx, from, step, o.saga, ok);
    }
}

#[derive(Serialize, Deserialize)]
struct Stock {
    level: BTreeMap<String, i64>,
    /// Saga → (item, quantity, accepted).
    reserved: BTreeMap<u64, (String, i64, bool)>,
    released: BTreeSet<u64>,
}

impl Default for Stock {
    fn default() -> Self {
        Stock {
            level: (0..ITEMS)
                .map(|i| (format!("i{i}"), INITIAL_STOCK))
                .collect(),
            reserved: BTreeMap::new(),
            released: BTreeSet::new(),
        }
    }
}

pub(super) async fn inventory(ctx: &NodeCtx<Msg>) {
    let mut s: Stock = load(ctx);
    ctx.observe("inventory", &json!({"stock": s.level}));
    loop {
        let (from, step, o) = next(ctx).await;
        let ok = match step {
            Step::Reserve => {
                if s.released.contains(&o.saga) {
                    false
                } else if let Some(r) = s.reserved.get(&o.saga) {
                    r.2
                } else {
                    let level = s.level.entry(o.item.clone()).or_insert(0);
                    let ok = *level >= o.qty;
                    if ok {
                        *level -= o.qty;
                    }
                    let left = *level;
                    s.reserved.insert(o.saga, (o.item.clone(), o.qty, ok));
                    persist(ctx, &s).await;
                    if ok {
                        ctx.observe(
                            "reserved",
                            &json!({"saga": o.saga, "item": o.item, "qty": o.qty, "left": left}),
                        );
                    }
                    ok
                }
            }
            Step::Release => {
                if s.released.insert(o.saga) {
                    let held = s.reserved.get(&o.saga).filter(|r| r.2).cloned();
                    let mut left = 0;
                    if let Some((item, qty, _)) = &held {
                        let level = s.level.entry(item.clone()).or_insert(0);
                        *level += qty;
                        left = *level;
                    }
                    persist(ctx, &s).await;
                    if let Some((item, qty, _)) = held {
                        ctx.observe(
                            "released",
                            &json!({"saga": o.saga, "item": item, "qty": qty, "left": left}),
                        );
                    }
                }
                true
            }
            _ => continue,
        };
        reply(ctx, from, step, o.saga, ok);
    }
}

pub(super) async fn shipping(ctx: &NodeCtx<Msg>) {
    // Saga → scheduled (`false`: the address was undeliverable).
    let mut shipped: BTreeMap<u64, bool> = load(ctx);
    loop {
        let (from, step, o) = next(ctx).await;
        if step != Step::Ship {
            continue;
        }
        let ok = match shipped.get(&o.saga) {
            Some(&ok) => ok,
            None => {
                // Every sixth order has an address we cannot deliver to.
                let ok = o.saga % 6 != 0;
                shipped.insert(o.saga, ok);
                persist(ctx, &shipped).await;
                if ok {
                    ctx.observe("shipped", &json!({"saga": o.saga, "amount": o.amount}));
                }
                ok
            }
        };
        reply(ctx, from, step, o.saga, ok);
    }
}
