//! The three services. Each remembers, durably, what it did for every saga, so a repeated
//! request gets the same answer without a second effect; a compensation that arrives before its
//! step leaves a tombstone that refuses the late step. Effects are observed once durable.
//!
//! Each service's memory is a log of checksummed records ([`crate::wal`]), one per change,
//! appended and synced before the change is reported or answered, and replayed at start: a torn
//! last record (never synced, so never reported) is dropped, a corrupt one is never trusted
//! (skipped, and reported as `log-damaged`). At start a service also reports again every effect
//! its log holds, each named by its record's position (`id`): a crash during the sync can keep
//! the record (a process crash keeps the page cache) and cut off its report, and the checkers
//! count a (node, kind, id) once.
use super::{Bug, Msg, Order, Step, INITIAL_STOCK, ITEMS};
use crate::wal::Wal;
use faultline::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The card limit: larger charges are declined.
const CARD_LIMIT: u64 = 100;
/// Each service's log file.
const LOG: &str = "log";

/// A service's state, rebuilt from its log of changes.
trait Service: Default {
    /// One change, as the log records it.
    type Change: Serialize + DeserializeOwned;
    /// Applies a change; returns the effect to report (kind, data), if it has one.
    fn apply(&mut self, c: &Self::Change) -> Option<(&'static str, Value)>;
}

/// A service's state and its log; `next` is the position the next record gets.
struct Logged<S: Service> {
    state: S,
    wal: Wal<Msg>,
    next: u64,
}

/// Reports an effect, named by its record's position.
fn report(ctx: &NodeCtx<Msg>, effect: Option<(&'static str, Value)>, id: u64) {
    if let Some((kind, mut data)) = effect {
        data["id"] = json!(id);
        ctx.observe(kind, &data);
    }
}

impl<S: Service> Logged<S> {
    /// Recovers the state from the log, reporting again every effect it holds.
    async fn open(ctx: &NodeCtx<Msg>) -> Self {
        let (wal, found) = Wal::open(ctx, LOG).await;
        let mut state = S::default();
        let mut unreadable = 0;
        for (i, rec) in found.records.iter().enumerate() {
            match rec.as_deref().map(serde_json::from_slice::<S::Change>) {
                Some(Ok(c)) => report(ctx, state.apply(&c), i as u64),
                _ => unreadable += 1,
            }
        }
        if found.damaged {
            ctx.observe("log-damaged", &json!({"unreadable": unreadable}));
        }
        let next = found.records.len() as u64;
        Logged { state, wal, next }
    }

    /// Logs a change durably, then applies and reports it.
    async fn change(&mut self, ctx: &NodeCtx<Msg>, c: S::Change) {
        let bytes = serde_json::to_vec(&c).expect("changes serialize");
        self.wal.append(ctx, &bytes).await;
        let id = self.next;
        self.next += 1;
        report(ctx, self.state.apply(&c), id);
    }
}

/// The next request for this service, with the orchestrator's id.
async fn next(ctx: &NodeCtx<Msg>) -> (usize, Step, Order) {
    loop {
        if let (from, Msg::Do { step, order }) = ctx.recv().await {
            if ctx.buggify_rate("slow-service", 0.1) {
                // A service that answers slowly (a slow dependency): the orchestrator's retry
                // (150 ms) passes before the step is done. Rare (1 in 10 once enabled): a
                // service slow on every fourth request would be an overload, not a rare path.
                ctx.sleep(Duration::from_millis(200)).await;
            }
            return (from, step, order);
        }
    }
}

fn reply(ctx: &NodeCtx<Msg>, to: usize, step: Step, saga: u64, ok: bool) {
    ctx.send(to, Msg::Did { saga, step, ok });
}

#[derive(Default)]
struct Ledger {
    /// Saga → (amount, accepted).
    charges: BTreeMap<u64, (u64, bool)>,
    /// Sagas refunded (or refunded before their charge came: tombstones).
    refunded: BTreeSet<u64>,
}

#[derive(Serialize, Deserialize)]
enum Money {
    Charge { saga: u64, amount: u64, ok: bool },
    Refund { saga: u64 },
}

impl Service for Ledger {
    type Change = Money;
    fn apply(&mut self, c: &Money) -> Option<(&'static str, Value)> {
        match *c {
            Money::Charge { saga, amount, ok } => {
                self.charges.insert(saga, (amount, ok));
                ok.then(|| ("charged", json!({"saga": saga, "amount": amount})))
            }
            Money::Refund { saga } => {
                self.refunded.insert(saga);
                match self.charges.get(&saga) {
                    Some(&(amount, true)) => {
                        Some(("refunded", json!({"saga": saga, "amount": amount})))
                    }
                    _ => None,
                }
            }
        }
    }
}

pub(super) async fn payment(ctx: &NodeCtx<Msg>, bug: Bug) {
    let mut l = Logged::<Ledger>::open(ctx).await;
    loop {
        let (from, step, o) = next(ctx).await;
        let ok = match step {
            Step::Charge => {
                if l.state.refunded.contains(&o.saga) {
                    false
                } else if let Some(&(_, ok)) = l.state.charges.get(&o.saga) {
                    ok
                } else {
                    let ok = o.amount <= CARD_LIMIT;
                    let c = Money::Charge {
                        saga: o.saga,
                        amount: o.amount,
                        ok,
                    };
                    l.change(ctx, c).await;
                    ok
                }
            }
            Step::Refund => {
                let repeat = l.state.refunded.contains(&o.saga);
                if !repeat || bug == Bug::NonIdempotentRefund {
                    // The bug: a repeated refund request pays again.
                    l.change(ctx, Money::Refund { saga: o.saga }).await;
                }
                true
            }
            _ => continue,
        };
        reply(ctx, from, step, o.saga, ok);
    }
}

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

#[derive(Serialize, Deserialize)]
enum Goods {
    /// A reservation; `ok` when the stock sufficed.
    Reserve {
        saga: u64,
        item: String,
        qty: i64,
        ok: bool,
    },
    Release {
        saga: u64,
    },
}

impl Service for Stock {
    type Change = Goods;
    fn apply(&mut self, c: &Goods) -> Option<(&'static str, Value)> {
        match c {
            Goods::Reserve {
                saga,
                item,
                qty,
                ok,
            } => {
                self.reserved.insert(*saga, (item.clone(), *qty, *ok));
                if !ok {
                    return None;
                }
                let level = self.level.entry(item.clone()).or_insert(0);
                *level -= qty;
                let left = *level;
                Some((
                    "reserved",
                    json!({"saga": saga, "item": item, "qty": qty, "left": left}),
                ))
            }
            Goods::Release { saga } => {
                self.released.insert(*saga);
                let (item, qty, _) = self.reserved.get(saga).filter(|r| r.2).cloned()?;
                let level = self.level.entry(item.clone()).or_insert(0);
                *level += qty;
                let left = *level;
                Some((
                    "released",
                    json!({"saga": saga, "item": item, "qty": qty, "left": left}),
                ))
            }
        }
    }
}

pub(super) async fn inventory(ctx: &NodeCtx<Msg>) {
    // The effects found again come before the stock at this start: see the saga checkers.
    let mut s = Logged::<Stock>::open(ctx).await;
    ctx.observe("inventory", &json!({"stock": s.state.level}));
    loop {
        let (from, step, o) = next(ctx).await;
        let ok = match step {
            Step::Reserve => {
                if s.state.released.contains(&o.saga) {
                    false
                } else if let Some(r) = s.state.reserved.get(&o.saga) {
                    r.2
                } else {
                    let level = s.state.level.get(&o.item).copied().unwrap_or(0);
                    let ok = level >= o.qty;
                    let c = Goods::Reserve {
                        saga: o.saga,
                        item: o.item.clone(),
                        qty: o.qty,
                        ok,
                    };
                    s.change(ctx, c).await;
                    ok
                }
            }
            Step::Release => {
                if !s.state.released.contains(&o.saga) {
                    s.change(ctx, Goods::Release { saga: o.saga }).await;
                }
                true
            }
            _ => continue,
        };
        reply(ctx, from, step, o.saga, ok);
    }
}

/// Saga → scheduled (`false`: the address was undeliverable).
#[derive(Default)]
struct Shipments(BTreeMap<u64, bool>);

#[derive(Serialize, Deserialize)]
struct Ship {
    saga: u64,
    amount: u64,
    ok: bool,
}

impl Service for Shipments {
    type Change = Ship;
    fn apply(&mut self, c: &Ship) -> Option<(&'static str, Value)> {
        self.0.insert(c.saga, c.ok);
        c.ok.then(|| ("shipped", json!({"saga": c.saga, "amount": c.amount})))
    }
}

pub(super) async fn shipping(ctx: &NodeCtx<Msg>) {
    let mut shipped = Logged::<Shipments>::open(ctx).await;
    loop {
        let (from, step, o) = next(ctx).await;
        if step != Step::Ship {
            continue;
        }
        let ok = match shipped.state.0.get(&o.saga) {
            Some(&ok) => ok,
            None => {
                // Every sixth order has an address we cannot deliver to.
                let ok = o.saga % 6 != 0;
                let c = Ship {
                    saga: o.saga,
                    amount: o.amount,
                    ok,
                };
                shipped.change(ctx, c).await;
                ok
            }
        };
        reply(ctx, from, step, o.saga, ok);
    }
}
