//! The 2PC coordinator: collects votes, makes a commit durable before anyone hears of it, and
//! tells the participants until each has acknowledged. Presumed abort: only commits are logged,
//! and a transaction with no record is answered "aborted".
use super::{Bug, Msg};
use crate::commit::coordinator::{send_prepares, Informing, Journal};
use crate::commit::wake_at;
use faultline::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How long the coordinator waits for votes before aborting.
const VOTE_TIMEOUT: Duration = Duration::from_millis(400);
/// How often an unacknowledged decision is sent again.
const RESEND: Duration = Duration::from_millis(200);
/// The decision log: one checksummed record per commit, append-only.
const LOG: &str = "decisions";

#[derive(Serialize, Deserialize)]
struct Record {
    txn: u64,
    commit: bool,
}

/// A transaction still collecting votes.
struct Pending {
    client: usize,
    participants: Vec<usize>,
    yes: BTreeSet<usize>,
    deadline: Instant,
}

struct Coordinator<'a> {
    ctx: &'a NodeCtx<Msg>,
    bug: Bug,
    participants: usize,
    /// The decision log (its `damaged`: a commit record may be lost, so a transaction with no
    /// record is not presumed aborted).
    log: Journal<Msg>,
    decided: BTreeMap<u64, bool>,
    pending: BTreeMap<u64, Pending>,
    informing: Informing,
}

pub(super) async fn run(ctx: &NodeCtx<Msg>, bug: Bug) {
    ctx.observe("coordinator", &json!({}));
    let (log, records) = Journal::open::<Record>(ctx, LOG).await;
    let mut c = Coordinator {
        ctx,
        bug,
        participants: ctx.servers() - 1,
        log,
        decided: records.into_iter().map(|r| (r.txn, r.commit)).collect(),
        pending: BTreeMap::new(),
        informing: Informing::new(RESEND).with_buggify("decision-to-first-only"),
    };
    loop {
        let deadlines = c.pending.values().map(|p| p.deadline);
        let next = wake_at(ctx, deadlines.chain(c.informing.deadlines()));
        if let Some((from, msg)) = ctx.recv_until(next).await {
            c.handle(from, msg).await;
        }
        c.tick().await;
    }
}

impl Coordinator<'_> {
    async fn handle(&mut self, from: usize, msg: Msg) {
        match msg {
            Msg::Begin { txn, keys } => self.begin(from, txn, keys),
            Msg::Vote { txn, yes } => {
                let Some(p) = self.pending.get_mut(&txn) else {
                    // Late, or about a transaction this incarnation never ran: answer from the
                    // log (presumed abort).
                    if let Some(commit) = self.presumed(txn) {
                        self.ctx.send(from, Msg::Decision { txn, commit });
                    }
                    return;
                };
                if !yes {
                    self.decide(txn, false).await;
                    return;
                }
                p.yes.insert(from);
                if self.bug == Bug::EarlyCommitReply && p.yes.len() == 1 {
                    // The bug: the client hears "committed" at the first yes-vote; the other
                    // votes may still say no (or never come) and the transaction abort.
                    self.ctx.send(p.client, Msg::Outcome { txn, commit: true });
                }
                if p.participants.iter().all(|q| p.yes.contains(q)) {
                    self.decide(txn, true).await;
                }
            }
            Msg::Ack { txn } => self.informing.ack(txn, from),
            Msg::Inquire { txn } => {
                if self.pending.contains_key(&txn) {
                    return; // still collecting votes: the decision will come
                }
                if let Some(commit) = self.presumed(txn) {
                    self.ctx.send(from, Msg::Decision { txn, commit });
                }
            }
            Msg::Outcome { .. } | Msg::Prepare { .. } | Msg::Decision { .. } => {}
            Msg::Inspect | Msg::State { .. } => {}
        }
    }

    /// The outcome of a transaction not in progress: its logged decision, else aborted
    /// (presumed abort) — unless the log is damaged, when a lost commit record may be why there
    /// is none: then nobody is told anything (`None`), and the asker keeps asking its peers.
    fn presumed(&self, txn: u64) -> Option<bool> {
        match self.decided.get(&txn) {
            Some(&commit) => Some(commit),
            None if self.log.damaged => None,
            None => Some(false),
        }
    }

    fn begin(&mut self, client: usize, txn: u64, keys: Vec<String>) {
        if let Some(&commit) = self.decided.get(&txn) {
            self.ctx.send(client, Msg::Outcome { txn, commit });
            return;
        }
        if self.pending.contains_key(&txn) {
            return; // a duplicated request
        }
        let participants = send_prepares(self.ctx, txn, &keys, self.participants);
        self.pending.insert(
            txn,
            Pending {
                client,
                participants,
                yes: BTreeSet::new(),
                deadline: self.ctx.instant() + VOTE_TIMEOUT,
            },
        );
    }

    /// Decides, makes a commit durable (unless the bug), then tells everyone.
    async fn decide(&mut self, txn: u64, commit: bool) {
        let Some(p) = self.pending.remove(&txn) else {
            return;
        };
        if commit && self.bug != Bug::NoDecisionLog {
            let ctx = self.ctx;
            self.log.append(ctx, &Record { txn, commit }, true).await;
        }
        self.decided.insert(txn, commit);
        self.informing
            .announce(self.ctx, txn, commit, p.participants, Some(p.client));
    }

    /// Vote timeouts abort; unacknowledged decisions are sent again.
    async fn tick(&mut self) {
        let now = self.ctx.instant();
        let expired: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(&t, _)| t)
            .collect();
        for txn in expired {
            self.decide(txn, false).await;
        }
        self.informing.resend_due(self.ctx, now);
    }
}
