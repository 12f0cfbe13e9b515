//! A 2PC participant: votes, holds locks while in doubt, applies the decision, and when the
//! coordinator is silent asks its peers (cooperative termination).
use super::{Bug, Msg};
use crate::commit::coordinator::Journal;
use crate::commit::participant::{send_peers, vote_no_conflict, vote_yes, Locks, STATE};
use crate::commit::{wake_at, CommitMsg, Data, COORDINATOR};
use faultline::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long after voting yes a participant first asks the coordinator, and then how often it
/// asks again (the coordinator and, from the second time on, its peers).
const INQUIRE_EVERY: Duration = Duration::from_millis(300);

/// A yes-vote: what the participant must remember until the decision.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Prepared {
    keys: Vec<String>,
    participants: Vec<usize>,
}

/// The participant's durable state: prepared (in doubt) transactions and known outcomes.
#[derive(Default)]
struct Durable {
    prepared: BTreeMap<u64, Prepared>,
    decided: BTreeMap<u64, bool>,
    /// The writes of committed transactions (each transaction writes its id to its keys):
    /// what the final reads compare with what clients were told.
    data: Data,
}

/// One change of [`Durable`], as the journal records it.
#[derive(Serialize, Deserialize)]
enum Change {
    Prepared {
        txn: u64,
        prep: Prepared,
    },
    /// The outcome is known; the transaction is no longer in doubt.
    Decided {
        txn: u64,
        commit: bool,
    },
}

impl Durable {
    fn apply(&mut self, c: Change) {
        match c {
            Change::Prepared { txn, prep } => {
                self.prepared.insert(txn, prep);
            }
            Change::Decided { txn, commit } => {
                // A commit applies the prepared writes; with no prepare record (a forgotten
                // yes-vote) there is nothing to apply.
                if let (true, Some(prep)) = (commit, self.prepared.get(&txn)) {
                    for k in &prep.keys {
                        self.data.entry(k.clone()).or_default().insert(txn);
                    }
                }
                self.prepared.remove(&txn);
                self.decided.insert(txn, commit);
            }
        }
    }
}

struct Participant<'a> {
    ctx: &'a NodeCtx<Msg>,
    bug: Bug,
    /// The journal of [`Change`]s. When it is damaged, a transaction with no record may be one
    /// this node voted yes on (and maybe committed): it is never presumed unknown, it is asked.
    journal: Journal<Msg>,
    d: Durable,
    locks: Locks,
    /// In-doubt transactions: how many times asked, and when to ask next.
    asking: BTreeMap<u64, (u32, Instant)>,
}

pub(super) async fn run(ctx: &NodeCtx<Msg>, bug: Bug) {
    let mut d = Durable::default();
    let (journal, changes) = Journal::open::<Change>(ctx, STATE).await;
    for c in changes {
        d.apply(c);
    }
    let mut p = Participant {
        ctx,
        bug,
        journal,
        locks: Locks::default(),
        asking: BTreeMap::new(),
        d,
    };
    // Recovery: every prepared transaction is still in doubt, and its locks are held again.
    let in_doubt: Vec<u64> = p.d.prepared.keys().copied().collect();
    ctx.observe("participant-start", &json!({"in_doubt": in_doubt}));
    for (&txn, prep) in &p.d.prepared {
        p.locks.lock(&prep.keys, txn);
        p.asking.insert(txn, (1, ctx.instant()));
    }
    loop {
        let next = wake_at(ctx, p.asking.values().map(|a| a.1));
        if let Some((from, msg)) = ctx.recv_until(next).await {
            p.handle(from, msg).await;
        }
        p.inquire();
    }
}

impl Participant<'_> {
    /// Applies a change and journals it; with `sync`, durably before returning.
    async fn change(&mut self, c: Change, sync: bool) {
        let ctx = self.ctx;
        self.journal.append(ctx, &c, sync).await;
        self.d.apply(c);
    }

    async fn decide(&mut self, txn: u64, commit: bool) {
        self.change(Change::Decided { txn, commit }, true).await;
    }

    async fn handle(&mut self, from: usize, msg: Msg) {
        match msg {
            Msg::Prepare {
                txn,
                keys,
                participants,
            } => self.prepare(txn, keys, participants).await,
            Msg::Decision { txn, commit } => self.apply(from, txn, commit).await,
            Msg::Inquire { txn } => {
                if let Some(&commit) = self.d.decided.get(&txn) {
                    self.ctx.send(from, Msg::Decision { txn, commit });
                } else if !self.d.prepared.contains_key(&txn) && !self.journal.damaged {
                    // Never voted: abort unilaterally, durably, so that no yes-vote can follow
                    // and no commit can happen. Peers in doubt learn the outcome from us.
                    self.decide(txn, false).await;
                    self.ctx.observe(
                        "aborted",
                        &json!({"txn": txn, "why": "a peer asked before we voted"}),
                    );
                    self.ctx.send(from, Msg::Decision { txn, commit: false });
                }
            }
            Msg::Inspect => self.ctx.send(
                from,
                Msg::State {
                    data: self.d.data.clone(),
                },
            ),
            Msg::Begin { .. } | Msg::Outcome { .. } | Msg::Vote { .. } | Msg::Ack { .. } => {}
            Msg::State { .. } => {}
        }
    }

    async fn prepare(&mut self, txn: u64, keys: Vec<String>, participants: Vec<usize>) {
        if let Some(&commit) = self.d.decided.get(&txn) {
            self.ctx.send(COORDINATOR, Msg::vote(txn, commit));
            return;
        }
        if self.d.prepared.contains_key(&txn) {
            self.ctx.send(COORDINATOR, Msg::vote(txn, true));
            return;
        }
        if self.journal.damaged {
            // This node may have voted on (or aborted) `txn` in a record it can no longer
            // read: it does not vote again on its own, it asks the coordinator, which knows.
            self.ctx
                .observe("in-doubt", &json!({"txn": txn, "why": "damaged journal"}));
            self.ctx.send(COORDINATOR, Msg::Inquire { txn });
            return;
        }
        if self.locks.conflict(&keys, txn) {
            // A lock conflict: vote no. Forgetting this vote in a crash is harmless (the
            // coordinator aborts on it, and an unknown transaction is aborted when asked).
            self.change(Change::Decided { txn, commit: false }, false)
                .await;
            vote_no_conflict(self.ctx, txn);
            return;
        }
        self.locks.lock(&keys, txn);
        let prep = Prepared {
            keys: keys.clone(),
            participants,
        };
        // The bug: the vote goes out while the prepare record is not yet durable.
        let sync = self.bug != Bug::UnsyncedPrepare;
        self.change(Change::Prepared { txn, prep }, sync).await;
        vote_yes(self.ctx, txn, &keys);
        self.asking
            .insert(txn, (0, self.ctx.instant() + INQUIRE_EVERY));
    }

    /// Applies the outcome `from` told (the coordinator, or a peer during cooperative
    /// termination: the observation says which).
    async fn apply(&mut self, from: usize, txn: u64, commit: bool) {
        if self.d.decided.contains_key(&txn) {
            self.ctx.send(COORDINATOR, Msg::ack(txn));
            return;
        }
        self.asking.remove(&txn);
        match self.d.prepared.get(&txn) {
            Some(prep) => {
                self.locks.unlock(&prep.keys, txn);
                self.decide(txn, commit).await;
                let kind = if commit { "committed" } else { "aborted" };
                self.ctx.observe(kind, &json!({"txn": txn, "from": from}));
            }
            None => {
                // No prepare record: an abort of a transaction we never voted on, or (only when
                // a yes-vote was forgotten) a commit whose writes are gone — it cannot commit here.
                self.decide(txn, false).await;
                let why = if commit {
                    "commit for a transaction with no prepare record"
                } else {
                    "aborted before we voted"
                };
                self.ctx
                    .observe("aborted", &json!({"txn": txn, "why": why}));
            }
        }
        self.ctx.send(COORDINATOR, Msg::ack(txn));
    }

    /// Asks about every in-doubt transaction whose time has come: the coordinator first, and
    /// the peers too once the coordinator has stayed silent.
    fn inquire(&mut self) {
        let now = self.ctx.instant();
        for (&txn, a) in self.asking.iter_mut().filter(|(_, a)| a.1 <= now) {
            self.ctx.send(COORDINATOR, Msg::Inquire { txn });
            if a.0 > 0 {
                if let Some(prep) = self.d.prepared.get(&txn) {
                    send_peers(self.ctx, &prep.participants, Msg::Inquire { txn });
                }
            }
            a.0 += 1;
            a.1 = now + INQUIRE_EVERY;
        }
    }
}
