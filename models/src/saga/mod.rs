//! `saga`: the order saga — charge Payment, reserve Inventory, schedule Shipping — with an
//! orchestrator (node 0) and one node per service (payment 1, inventory 2, shipping 3).
//!
//! A saga trades atomicity for compensations: when a step fails (the card is declined, the item
//! is out of stock, the address is undeliverable) or cannot be reached, the orchestrator undoes
//! the steps already taken in reverse order (release the stock, refund the charge). It writes
//! each transition to its durable saga log before acting, so a restarted orchestrator resumes
//! every saga in flight. Every step and compensation is idempotent by saga id (a service
//! remembers what it did for each saga and answers a repeat with the same result), and a
//! compensation that arrives before its step leaves a tombstone so the late step is refused.
//! Compensations are retried until they are acknowledged; shipping, the pivot, is retried until
//! it answers. Checkers: `saga-outcome` (every saga ends completed or fully compensated) and
//! `conservation` (money and stock add up).
//!
//! Bug variants:
//! - `no-compensation-retry`: a compensation is sent once and assumed done; a lost message
//!   leaves a charge unrefunded.
//! - `non-idempotent-refund`: the payment service refunds every refund request it gets, so a
//!   retried (or duplicated) refund pays twice.
//! - `volatile-saga-log`: the saga log is kept in memory; an orchestrator crash forgets the
//!   sagas in flight, their charges and reservations included.
mod orchestrator;
mod services;

use faultline::prelude::*;
use faultline::recording::Recording;
use faultline::workload::Generator;
use faultline_checkers::saga::{check_conservation, check_saga_outcome};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub const ORCHESTRATOR: usize = 0;
pub const PAYMENT: usize = 1;
pub const INVENTORY: usize = 2;
pub const SHIPPING: usize = 3;
/// Items sold, and the stock each starts with.
pub const ITEMS: usize = 3;
pub const INITIAL_STOCK: i64 = 90;

/// A step or a compensation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    Charge,
    Reserve,
    Ship,
    Refund,
    Release,
}

impl Step {
    /// The service that performs it.
    pub fn service(self) -> usize {
        match self {
            Step::Charge | Step::Refund => PAYMENT,
            Step::Reserve | Step::Release => INVENTORY,
            Step::Ship => SHIPPING,
        }
    }
}

/// One order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub saga: u64,
    pub amount: u64,
    pub item: String,
    pub qty: i64,
}

/// How a saga ended, as the orchestrator tells the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Ending {
    /// Every step took effect.
    Completed,
    /// A service refused a step (sold out, declined) and the saga was compensated.
    Refused,
    /// The saga was compensated after a step's answers stopped coming (it may have taken
    /// effect; the compensation undoes it).
    Compensated,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Msg {
    /// Client → orchestrator.
    Place(Order),
    /// Orchestrator → client: how the saga ended.
    Done { saga: u64, ending: Ending },
    /// Orchestrator → service.
    Do { step: Step, order: Order },
    /// Service → orchestrator: the step took effect (`ok`) or was refused.
    Did { saga: u64, step: Step, ok: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bug {
    None,
    NoCompensationRetry,
    NonIdempotentRefund,
    VolatileSagaLog,
}

pub struct Saga {
    bug: Bug,
}

impl Saga {
    pub fn new(cfg: &ModelConfig) -> Result<Self, String> {
        let bug = match cfg.bug.as_deref() {
            None => Bug::None,
            Some("no-compensation-retry") => Bug::NoCompensationRetry,
            Some("non-idempotent-refund") => Bug::NonIdempotentRefund,
            Some("volatile-saga-log") => Bug::VolatileSagaLog,
            Some(other) => return Err(format!("unknown bug `{other}`")),
        };
        if cfg.nodes != 4 {
            return Err(format!(
                "saga runs exactly 4 nodes (orchestrator, payment, inventory, shipping), not --nodes {}",
                cfg.nodes
            ));
        }
        Ok(Saga { bug })
    }
}

/// The registered model.
pub fn model() -> Model {
    Model::new("saga", Saga::new)
        .describe("an order saga (payment, inventory, shipping) with compensations and a durable saga log")
        .version("1")
        .bug(
            "no-compensation-retry",
            "compensations are sent once and assumed done: a lost refund is never made",
        )
        .bug(
            "non-idempotent-refund",
            "the payment service refunds every request: a retried refund pays twice",
        )
        .bug(
            "volatile-saga-log",
            "the saga log is in memory: an orchestrator crash forgets the sagas in flight",
        )
        .nodes(4)
}

/// `saga-outcome`.
pub struct SagaOutcome;

impl Checker for SagaOutcome {
    fn name(&self) -> &'static str {
        "saga-outcome"
    }
    fn check(&self, rec: &Recording) -> Vec<Finding> {
        check_saga_outcome(&rec.observations)
    }
    fn requires(&self) -> Vec<faultline::checker::Requirement> {
        faultline_checkers::saga::saga_outcome_requirements()
    }
}

/// `conservation`.
pub struct Conservation;

impl Checker for Conservation {
    fn name(&self) -> &'static str {
        "conservation"
    }
    fn check(&self, rec: &Recording) -> Vec<Finding> {
        check_conservation(&rec.observations)
    }
    fn requires(&self) -> Vec<faultline::checker::Requirement> {
        faultline_checkers::saga::conservation_requirements()
    }
}

fn order_of(op: &Invocation) -> Option<Order> {
    serde_json::from_value(op.value.clone()).ok()
}

impl Protocol for Saga {
    type Msg = Msg;

    fn wire_codec(&self) -> Option<faultline::protocol::WireCodec<Msg>> {
        Some(faultline::protocol::WireCodec::serde())
    }

    fn buggify_points(&self) -> &'static [&'static str] {
        // slow-service: a service sleeps 200 ms before handling a step.
        &["slow-service"]
    }

    fn cap(&self) -> Cap {
        Cap::None
    }

    // One coordinator node (`coordinator`), no elected leader: swarm draws no leader step.
    fn roles(&self) -> Roles {
        Roles::COORDINATOR
    }

    fn workload(&self) -> Workload {
        Workload::registers()
            .custom(Generator::new(|rng, saga| {
                let item = format!("i{}", rng.gen_range(0..ITEMS));
                Invocation {
                    f: "order".into(),
                    key: Some(item.clone()),
                    value: json!({
                        "saga": saga,
                        "amount": rng.gen_range(5..=120u64),
                        "item": item,
                        "qty": rng.gen_range(1..=3i64),
                    }),
                }
            }))
            .final_ops(vec![])
            .timeout_ms(3000)
    }

    fn guarantees(&self) -> Vec<&'static str> {
        vec!["saga-outcome", "conservation", "liveness", "progress"]
    }

    // Replaces the standard set: a saga's history is orders, not reads and writes.
    fn checkers(&self) -> Vec<Box<dyn Checker>> {
        vec![Box::new(SagaOutcome), Box::new(Conservation)]
    }

    async fn node(&self, ctx: NodeCtx<Msg>) {
        match ctx.id() {
            ORCHESTRATOR => orchestrator::run(&ctx, self.bug).await,
            PAYMENT => services::payment(&ctx, self.bug).await,
            INVENTORY => services::inventory(&ctx).await,
            _ => services::shipping(&ctx).await,
        }
    }

    async fn call(&self, c: &ClientCtx<Msg>, _id: u64, op: &Invocation) -> Outcome {
        let Some(order) = order_of(op) else {
            return Outcome::Fail("not an order".into());
        };
        let saga = order.saga;
        c.send(ORCHESTRATOR, Msg::Place(order));
        loop {
            match c.recv().await {
                (_, Msg::Done { saga: s, ending }) if s == saga => {
                    return match ending {
                        Ending::Completed => Outcome::Ok(Value::Null),
                        // A definite answer from live services (sold out, declined): the
                        // saga did its job, and `progress` counts it as service given.
                        Ending::Refused => Outcome::Ok(Value::from("refused")),
                        Ending::Compensated => Outcome::Fail("compensated".into()),
                    };
                }
                _ => {}
            }
        }
    }
}
