//! `payments`: a payment service behind a lossy network, and clients that retry.
//!
//! Each server node owns some accounts (`--nodes` shards; account `a{i}` lives on node
//! `i % nodes`). A client's payment carries an **idempotency key** derived from its request id;
//! when no answer comes within a short timeout it sends the same request again, and again, until
//! one is answered. The server charges a request once: it records the charge in its ledger and
//! the key → response pair in its dedup table, makes both durable in one fsync, and only then
//! answers. A retry, a duplicated message or a request replayed after a crash finds the key and
//! gets the stored response without a second charge. The `exactly-once` checker counts the
//! durable charges (`charged` observations) per request id. A crash during the fsync can keep
//! a charge (a process crash keeps the page cache) while cutting off its report, so a restarted
//! server makes what it finds durable and reports every charge in its ledger again, each named
//! by its receipt (`id`): the checker counts a receipt once, and a request charged under two
//! receipts twice.
//!
//! Bug variants:
//! - `no-idempotency-key`: each retry is sent under a fresh key, so a lost reply or a slow
//!   server turns a retry into a double charge.
//! - `volatile-dedup`: the dedup table lives in memory only; after a crash a retry of a request
//!   charged before it is charged again.
mod server;

use faultline::prelude::*;
use faultline::recording::Recording;
use faultline::workload::Generator;
use faultline_checkers::exactly_once::check_exactly_once;
use serde_json::{json, Value};
use std::time::Duration;

/// Accounts per server node.
const ACCOUNTS_PER_NODE: u64 = 4;
/// How long a client waits for an answer before it sends the request again.
const RETRY_AFTER: Duration = Duration::from_millis(150);
/// Attempts per payment before the client gives up (an `info`: it may have been charged).
const ATTEMPTS: u32 = 12;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Msg {
    Pay {
        key: String,
        request: u64,
        account: String,
        amount: u64,
    },
    /// The charge's receipt (a ledger sequence number), stored with the key.
    Paid { request: u64, receipt: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bug {
    None,
    NoIdempotencyKey,
    VolatileDedup,
}

pub struct Payments {
    bug: Bug,
    nodes: usize,
}

impl Payments {
    pub fn new(cfg: &ModelConfig) -> Result<Self, String> {
        let bug = match cfg.bug.as_deref() {
            None => Bug::None,
            Some("no-idempotency-key") => Bug::NoIdempotencyKey,
            Some("volatile-dedup") => Bug::VolatileDedup,
            Some(other) => return Err(format!("unknown bug `{other}`")),
        };
        Ok(Payments {
            bug,
            nodes: cfg.nodes,
        })
    }
}

/// The registered model.
pub fn model() -> Model {
    Model::new("payments", Payments::new)
        .describe("a payment service with idempotency keys; clients retry on timeout")
        .version("1")
        .bug(
            "no-idempotency-key",
            "retries carry a fresh key: a lost reply leads to a double charge",
        )
        .bug(
            "volatile-dedup",
            "the key -> response table is not durable: a retry after a crash charges again",
        )
        .nodes(2)
}

/// `exactly-once` over the `charged` observations and the acknowledged payments.
pub struct ExactlyOnce;

impl Checker for ExactlyOnce {
    fn name(&self) -> &'static str {
        "exactly-once"
    }
    fn check(&self, rec: &Recording) -> Vec<Finding> {
        check_exactly_once(&rec.observations, "charged", &rec.history)
    }
}

impl Protocol for Payments {
    type Msg = Msg;

    fn wire_codec(&self) -> Option<faultline::protocol::WireCodec<Msg>> {
        Some(faultline::protocol::WireCodec::serde())
    }

    fn buggify_points(&self) -> &'static [&'static str] {
        // reply-lost-after-charge: a durable charge whose reply is never sent.
        &["reply-lost-after-charge"]
    }

    fn cap(&self) -> Cap {
        Cap::None
    }

    fn workload(&self) -> Workload {
        let accounts = self.nodes as u64 * ACCOUNTS_PER_NODE;
        Workload::registers()
            .custom(Generator::new(move |rng, id| Invocation {
                f: "pay".into(),
                key: Some(format!("a{}", rng.gen_range(0..accounts))),
                value: json!({"request": id, "amount": rng.gen_range(1..=100u64)}),
            }))
            .final_ops(vec![])
            .timeout_ms(RETRY_AFTER.as_millis() as u64 * (ATTEMPTS as u64 + 1))
    }

    fn guarantees(&self) -> Vec<&'static str> {
        vec!["exactly-once", "liveness", "progress"]
    }

    // Replaces the standard set: a payment history is requests, not reads and writes.
    fn checkers(&self) -> Vec<Box<dyn Checker>> {
        vec![Box::new(ExactlyOnce)]
    }

    async fn node(&self, ctx: NodeCtx<Msg>) {
        server::run(&ctx, self.bug).await
    }

    async fn call(&self, c: &ClientCtx<Msg>, _id: u64, op: &Invocation) -> Outcome {
        let (Some(request), Some(amount), Some(account)) = (
            op.value.get("request").and_then(Value::as_u64),
            op.value.get("amount").and_then(Value::as_u64),
            op.key.clone(),
        ) else {
            return Outcome::Fail("not a payment".into());
        };
        let shard = account
            .strip_prefix('a')
            .and_then(|i| i.parse::<usize>().ok())
            .unwrap_or(0)
            % c.servers();
        for attempt in 0..ATTEMPTS {
            let key = if self.bug == Bug::NoIdempotencyKey {
                format!("pay-{request}-attempt-{attempt}")
            } else {
                format!("pay-{request}")
            };
            c.send(
                shard,
                Msg::Pay {
                    key,
                    request,
                    account: account.clone(),
                    amount,
                },
            );
            let deadline = c.instant() + RETRY_AFTER;
            while let Some((_, msg)) = c.recv_until(deadline).await {
                if matches!(msg, Msg::Paid { request: r, .. } if r == request) {
                    return Outcome::Ok(Value::Null);
                }
            }
        }
        Outcome::Unknown("no answer after every retry".into())
    }
}
