//! Sagas: `saga-outcome` and `conservation`, over the facts the services report once durable.
//!
//! The vocabulary (observation kinds; `saga` is a numeric id):
//! - `charged` / `refunded` (payment service): `{"saga", "amount"}`.
//! - `reserved` / `released` (inventory): `{"saga", "item", "qty", "left"}`, `left` being the
//!   item's stock after the change.
//! - `shipped` (shipping): `{"saga", "amount"}` — the order's value.
//! - `inventory` (inventory, at every start): `{"stock": {item: level}}`.
//!
//! An effect may carry an `id` (unique per node and kind): a service re-reports on recovery
//! every effect it finds durable, since a crash may have cut the first report off, and the
//! checkers count each (node, kind, id) once ([`crate::observation::distinct_effects`]); a
//! re-report comes before the inventory's `inventory` at that start, so the stock replay sees
//! an effect whose first report was lost at the level it left.
use crate::finding::{Finding, FindingKind};
use crate::observation::Observation;
use crate::requirements::{FieldType, Needed, Requirement};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// What happened to one saga, summed over its observations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SagaEffects {
    pub charged: u64,
    pub refunded: u64,
    pub charges: u32,
    pub refunds: u32,
    pub reserves: u32,
    pub releases: u32,
    pub shipped: Option<u64>,
    /// When the last effect happened (ms).
    pub last_ms: u64,
}

/// Every saga with at least one effect, by id.
pub fn effects(obs: &[Observation]) -> BTreeMap<u64, SagaEffects> {
    let mut out: BTreeMap<u64, SagaEffects> = BTreeMap::new();
    for o in crate::observation::distinct_effects(obs) {
        let Some(id) = o.u64("saga") else { continue };
        let amount = o.u64("amount").unwrap_or(0);
        let e = out.entry(id).or_default();
        match o.kind.as_str() {
            "charged" => {
                e.charged += amount;
                e.charges += 1;
            }
            "refunded" => {
                e.refunded += amount;
                e.refunds += 1;
            }
            "reserved" => e.reserves += 1,
            "released" => e.releases += 1,
            "shipped" => e.shipped = Some(amount),
            _ => continue,
        }
        e.last_ms = o.at_ms();
    }
    out
}

fn describe(e: &SagaEffects) -> String {
    format!(
        "{} charge(s), {} refund(s), {} reservation(s), {} release(s), {}",
        e.charges,
        e.refunds,
        e.reserves,
        e.releases,
        if e.shipped.is_some() {
            "shipped"
        } else {
            "not shipped"
        }
    )
}

/// `saga-outcome`: at the end, every saga is either fully completed (charged, reserved, shipped,
/// nothing undone) or fully compensated (not shipped, and every step that took effect undone).
///
/// ```
/// use faultline_checkers::{saga::check_saga_outcome, Observation};
/// use serde_json::json;
/// // Charged, then forgotten: neither completed nor compensated.
/// let log = vec![Observation::new(1, 1, "charged", json!({"saga": 3, "amount": 20}))];
/// assert_eq!(check_saga_outcome(&log).len(), 1);
/// ```
pub fn check_saga_outcome(obs: &[Observation]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (id, e) in effects(obs) {
        let completed =
            e.charges > 0 && e.reserves > 0 && e.shipped.is_some() && e.refunds + e.releases == 0;
        let compensated = e.shipped.is_none()
            && (e.charges == 0 || e.refunds > 0)
            && (e.reserves == 0 || e.releases > 0);
        if !completed && !compensated {
            out.push(
                Finding::new(
                    "saga-outcome",
                    FindingKind::Safety,
                    format!(
                        "saga {id} ended neither completed nor compensated: {}",
                        describe(&e)
                    ),
                )
                .at_ms(e.last_ms)
                .detail(json!({
                    "saga": id, "charges": e.charges, "refunds": e.refunds,
                    "reservations": e.reserves, "releases": e.releases,
                    "shipped": e.shipped.is_some(),
                })),
            );
        }
    }
    out
}

/// `conservation`: money charged minus refunded equals the value of the orders shipped (no
/// refund larger than its charge), and each item's stock never goes negative and reconciles:
/// every reservation and release moves it by exactly its quantity from the level the inventory
/// reported at its start.
///
/// ```
/// use faultline_checkers::{saga::check_conservation, Observation};
/// use serde_json::json;
/// // One charge, refunded twice.
/// let log = vec![
///     Observation::new(1, 1, "charged", json!({"saga": 3, "amount": 20})),
///     Observation::new(2, 1, "refunded", json!({"saga": 3, "amount": 20})),
///     Observation::new(3, 1, "refunded", json!({"saga": 3, "amount": 20})),
/// ];
/// assert!(!check_conservation(&log).is_empty());
/// ```
pub fn check_conservation(obs: &[Observation]) -> Vec<Finding> {
    let mut out = Vec::new();
    let all = effects(obs);
    for (id, e) in &all {
        if e.refunded > e.charged {
            out.push(
                Finding::new(
                    "conservation",
                    FindingKind::Safety,
                    format!(
                        "saga {id} was refunded {} but charged {}: {}",
                        e.refunded,
                        e.charged,
                        describe(e)
                    ),
                )
                .at_ms(e.last_ms)
                .detail(json!({"saga": id, "charged": e.charged, "refunded": e.refunded})),
            );
        }
    }
    let charged: u64 = all.values().map(|e| e.charged).sum();
    let refunded: u64 = all.values().map(|e| e.refunded).sum();
    let shipped: u64 = all.values().filter_map(|e| e.shipped).sum();
    if charged as i128 - refunded as i128 != shipped as i128 {
        out.push(
            Finding::new(
                "conservation",
                FindingKind::Safety,
                format!(
                    "money: charged {charged} - refunded {refunded} = {} but the orders shipped are worth {shipped}",
                    charged as i128 - refunded as i128
                ),
            )
            .detail(json!({"charged": charged, "refunded": refunded, "shipped": shipped})),
        );
    }
    // Stock: replay every reservation and release against the reported levels.
    let mut level: BTreeMap<String, i64> = BTreeMap::new();
    for o in crate::observation::distinct_effects(obs) {
        let delta = match o.kind.as_str() {
            "inventory" => {
                if let Some(stock) = o.data.get("stock").and_then(Value::as_object) {
                    for (item, v) in stock {
                        level.insert(item.clone(), v.as_i64().unwrap_or(0));
                    }
                }
                continue;
            }
            "reserved" => -1,
            "released" => 1,
            _ => continue,
        };
        let item = o.data.get("item").and_then(Value::as_str).unwrap_or("");
        let qty = o.data.get("qty").and_then(Value::as_i64).unwrap_or(0);
        let left = o.data.get("left").and_then(Value::as_i64).unwrap_or(0);
        let Some(l) = level.get_mut(item) else {
            continue;
        };
        *l += delta * qty;
        if *l < 0 || *l != left {
            out.push(
                Finding::new(
                    "conservation",
                    FindingKind::Safety,
                    format!(
                        "stock of {item}: {} of {qty} leaves {left}, but the reservations and releases so far leave {l}",
                        o.kind
                    ),
                )
                .at_ms(o.at_ms())
                .detail(json!({"item": item, "expected": *l, "reported": left})),
            );
            *l = left;
        }
    }
    out
}

fn money(kind: &'static str, needed: Needed) -> Requirement {
    Requirement::new(kind, needed)
        .field("saga", FieldType::U64)
        .field("amount", FieldType::U64)
}

fn stock(kind: &'static str, needed: Needed) -> Requirement {
    Requirement::new(kind, needed)
        .field("saga", FieldType::U64)
        .field("item", FieldType::Str)
        .field("qty", FieldType::U64)
        .field("left", FieldType::Any)
}

/// What `saga-outcome` reads: an order answered `ok` (completed) was charged, reserved and
/// shipped, so each kind must be there once one succeeded; compensations are checked for shape.
pub fn saga_outcome_requirements() -> Vec<Requirement> {
    vec![
        money("charged", Needed::AnyOk),
        stock("reserved", Needed::AnyOk),
        money("shipped", Needed::AnyOk),
        money("refunded", Needed::IfPresent),
        stock("released", Needed::IfPresent),
    ]
}

/// What `conservation` reads: the stock at every inventory start, and every movement of money
/// and stock.
pub fn conservation_requirements() -> Vec<Requirement> {
    let mut r = saga_outcome_requirements();
    r.push(Requirement::new("inventory", Needed::Always).field("stock", FieldType::Object));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(ms: u64, node: usize, kind: &str, data: Value) -> Observation {
        Observation::new(ms * 1_000_000, node, kind, data)
    }

    /// Saga 1 completes; saga 2 is charged and reserved, then compensated.
    fn good() -> Vec<Observation> {
        vec![
            o(0, 2, "inventory", json!({"stock": {"i0": 5}})),
            o(1, 1, "charged", json!({"saga": 1, "amount": 30})),
            o(
                2,
                2,
                "reserved",
                json!({"saga": 1, "item": "i0", "qty": 2, "left": 3}),
            ),
            o(3, 3, "shipped", json!({"saga": 1, "amount": 30})),
            o(4, 1, "charged", json!({"saga": 2, "amount": 10})),
            o(
                5,
                2,
                "reserved",
                json!({"saga": 2, "item": "i0", "qty": 3, "left": 0}),
            ),
            o(
                6,
                2,
                "released",
                json!({"saga": 2, "item": "i0", "qty": 3, "left": 3}),
            ),
            o(7, 1, "refunded", json!({"saga": 2, "amount": 10})),
        ]
    }

    #[test]
    fn completed_and_compensated_sagas_pass() {
        assert!(check_saga_outcome(&good()).is_empty());
        assert!(check_conservation(&good()).is_empty());
    }

    #[test]
    fn an_uncompensated_charge_is_flagged() {
        let mut log = good();
        log.pop(); // the refund never happened
        let f = check_saga_outcome(&log);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].checker, "saga-outcome");
        assert!(
            f[0].message.starts_with("saga 2 ended neither"),
            "{}",
            f[0].message
        );
        // And the money no longer adds up.
        assert!(check_conservation(&log)
            .iter()
            .any(|f| f.message.contains("charged 40 - refunded 0")));
    }

    #[test]
    fn a_double_refund_breaks_conservation_only() {
        let mut log = good();
        log.push(o(8, 1, "refunded", json!({"saga": 2, "amount": 10})));
        assert!(check_saga_outcome(&log).is_empty());
        let f = check_conservation(&log);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f[0].message.contains("refunded 20 but charged 10"));
    }

    #[test]
    fn an_effect_reported_again_at_recovery_counts_once() {
        // Each effect named by its record's position; the inventory restarts and reports its
        // log again before its stock: reservation 1 (reported) and 2 (its report cut off).
        let mut log = vec![
            o(0, 2, "inventory", json!({"stock": {"i0": 5}})),
            o(1, 1, "charged", json!({"saga": 1, "amount": 30, "id": 0})),
            o(
                2,
                2,
                "reserved",
                json!({"saga": 1, "item": "i0", "qty": 2, "left": 3, "id": 0}),
            ),
            o(3, 3, "shipped", json!({"saga": 1, "amount": 30, "id": 0})),
            // restart of node 2: both reservations, then the stock it holds
            o(
                5,
                2,
                "reserved",
                json!({"saga": 1, "item": "i0", "qty": 2, "left": 3, "id": 0}),
            ),
            o(
                5,
                2,
                "reserved",
                json!({"saga": 2, "item": "i0", "qty": 1, "left": 2, "id": 1}),
            ),
            o(5, 2, "inventory", json!({"stock": {"i0": 2}})),
            // restart of node 1: its charge again
            o(6, 1, "charged", json!({"saga": 1, "amount": 30, "id": 0})),
            o(7, 1, "charged", json!({"saga": 2, "amount": 10, "id": 1})),
            o(8, 3, "shipped", json!({"saga": 2, "amount": 10, "id": 1})),
        ];
        assert!(
            check_saga_outcome(&log).is_empty(),
            "{:?}",
            check_saga_outcome(&log)
        );
        assert!(
            check_conservation(&log).is_empty(),
            "{:?}",
            check_conservation(&log)
        );
        // A second charge under another id is a second charge.
        log.push(o(
            9,
            1,
            "charged",
            json!({"saga": 2, "amount": 10, "id": 2}),
        ));
        assert!(check_conservation(&log)
            .iter()
            .any(|f| f.message.contains("charged 50")));
    }

    #[test]
    fn stock_that_does_not_reconcile_is_flagged() {
        let mut log = good();
        log[6] = o(
            6,
            2,
            "released",
            json!({"saga": 2, "item": "i0", "qty": 3, "left": 6}),
        );
        let f = check_conservation(&log);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].message.contains("stock of i0"));
    }
}
