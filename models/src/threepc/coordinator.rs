//! The 3PC coordinator: votes, a logged precommit phase, then a logged commit. It answers a
//! termination leader with authority: a transaction still collecting votes is aborted on the
//! spot, one precommitting will commit, and one it has no record of was aborted.
//!
//! Recovery follows Skeen's rule for a site that restarts in doubt: a precommit logged without a
//! decision is *not* resumed. While this node was down the operational participants ran the
//! termination protocol without it and may have aborted (everyone they reached was uncertain:
//! the precommit had been logged but not yet sent). Resuming phase 2 — sending `PreCommit` again,
//! then committing past the silence of a participant that had aborted and crashed — broke
//! atomicity under crashes alone (seed 850). The recovered coordinator stays silent about such a
//! transaction, as a crashed one would be, and learns the outcome: from a termination leader's
//! `Decision`, or by asking the participants until one has decided.
use super::{Msg, State};
use crate::commit::coordinator::{send_prepares, Informing, Journal};
use crate::commit::wake_at;
use faultline::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How long the coordinator waits for votes before aborting.
const VOTE_TIMEOUT: Duration = Duration::from_millis(300);
/// How long it waits for precommit acknowledgements before committing without them.
const PRE_TIMEOUT: Duration = Duration::from_millis(300);
/// How often an unacknowledged decision is sent again.
const RESEND: Duration = Duration::from_millis(200);
/// The coordinator's log: one checksummed record per phase change, append-only.
const LOG: &str = "log";

#[derive(Serialize, Deserialize)]
struct Record {
    txn: u64,
    /// `precommit`, `commit` or `abort`.
    phase: String,
    participants: Vec<usize>,
}

struct Phase {
    client: Option<usize>,
    participants: Vec<usize>,
    acked: BTreeSet<usize>,
    deadline: Instant,
}

struct Coordinator<'a> {
    ctx: &'a NodeCtx<Msg>,
    /// The log (its `damaged`: a record may be lost, so a transaction with no record is not
    /// presumed aborted).
    journal: Journal<Msg>,
    n: usize,
    voting: BTreeMap<u64, Phase>,
    precommitting: BTreeMap<u64, Phase>,
    decided: BTreeMap<u64, bool>,
    /// Transactions this incarnation restarted in doubt of (a logged precommit, no decision),
    /// with their participants: never decided here, only learned from the participants.
    in_doubt: BTreeMap<u64, Vec<usize>>,
    /// When to ask the in-doubt transactions' participants again.
    ask_at: Option<Instant>,
    informing: Informing,
}

pub(super) async fn run(ctx: &NodeCtx<Msg>) {
    ctx.observe("coordinator", &json!({}));
    let (journal, records) = Journal::open::<Record>(ctx, LOG).await;
    let mut c = Coordinator {
        ctx,
        journal,
        n: ctx.servers() - 1,
        voting: BTreeMap::new(),
        precommitting: BTreeMap::new(),
        decided: BTreeMap::new(),
        in_doubt: BTreeMap::new(),
        ask_at: None,
        informing: Informing::new(RESEND),
    };
    // Recovery: a precommit without a decision leaves this node in doubt (the module comment
    // says why it must not resume phase 2); it asks the participants at once.
    let mut started: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for r in records {
        match r.phase.as_str() {
            "precommit" => {
                started.insert(r.txn, r.participants);
            }
            phase => {
                started.remove(&r.txn);
                c.decided.insert(r.txn, phase == "commit");
            }
        }
    }
    if !started.is_empty() {
        let txns: Vec<u64> = started.keys().copied().collect();
        ctx.observe("coordinator-in-doubt", &json!({ "txns": txns }));
        c.in_doubt = started;
        c.ask_at = Some(ctx.instant());
    }
    loop {
        let phases = c.voting.values().chain(c.precommitting.values());
        let deadlines = phases.map(|p| p.deadline).chain(c.ask_at);
        let next = wake_at(ctx, deadlines.chain(c.informing.deadlines()));
        if let Some((from, msg)) = ctx.recv_until(next).await {
            c.handle(from, msg).await;
        }
        c.tick().await;
    }
}

impl Coordinator<'_> {
    async fn log(&mut self, txn: u64, phase: &str, participants: &[usize]) {
        let rec = Record {
            txn,
            phase: phase.into(),
            participants: participants.to_vec(),
        };
        let ctx = self.ctx;
        self.journal.append(ctx, &rec, true).await;
    }

    async fn handle(&mut self, from: usize, msg: Msg) {
        match msg {
            Msg::Begin { txn, keys } => self.begin(from, txn, keys),
            Msg::Vote { txn, yes } => {
                let Some(p) = self.voting.get_mut(&txn) else {
                    return;
                };
                if !yes {
                    self.decide(txn, false).await;
                    return;
                }
                p.acked.insert(from);
                if p.participants.iter().all(|q| p.acked.contains(q)) {
                    self.precommit(txn).await;
                }
            }
            Msg::PreAck { txn, ok } => {
                let Some(p) = self.precommitting.get_mut(&txn) else {
                    return;
                };
                if !ok {
                    self.decide(txn, false).await;
                    return;
                }
                p.acked.insert(from);
                if p.participants.iter().all(|q| p.acked.contains(q)) {
                    self.decide(txn, true).await;
                }
            }
            // In doubt: silent, as while it was down — its logged precommit says nothing about
            // what the termination protocol decided meanwhile.
            Msg::StateReq { txn } if self.in_doubt.contains_key(&txn) => {}
            Msg::StateReq { txn } => {
                let state = if self.voting.contains_key(&txn) {
                    // Still collecting votes: abort now, so the answer stays true.
                    self.decide(txn, false).await;
                    State::Aborted
                } else if self.precommitting.contains_key(&txn) {
                    State::PreCommitted
                } else {
                    match self.decided.get(&txn) {
                        Some(true) => State::Committed,
                        Some(false) => State::Aborted,
                        // A damaged log may have lost this transaction's records: no answer.
                        None if self.journal.damaged => return,
                        None => State::Aborted, // presumed abort
                    }
                };
                self.ctx.send(from, Msg::StateResp { txn, state });
            }
            Msg::Decision { txn, commit } if self.in_doubt.contains_key(&txn) => {
                self.learn(txn, commit).await;
            }
            Msg::Decision { txn, commit } => {
                // A termination leader decided: adopt its decision if this node has none.
                if !self.decided.contains_key(&txn) {
                    self.decide(txn, commit).await;
                }
            }
            Msg::Ack { txn } => self.informing.ack(txn, from),
            Msg::Outcome { .. } | Msg::CanCommit { .. } | Msg::PreCommit { .. } => {}
            Msg::Inspect | Msg::State { .. } => {}
            Msg::StateResp { txn, state } => match state {
                State::Committed => self.learn(txn, true).await,
                State::Aborted => self.learn(txn, false).await,
                State::Uncertain | State::PreCommitted => {}
            },
        }
    }

    /// The outcome of a transaction this node restarted in doubt of, learned from a participant:
    /// logged, so a later restart knows it, and adopted (the participants decided it already).
    async fn learn(&mut self, txn: u64, commit: bool) {
        let Some(participants) = self.in_doubt.remove(&txn) else {
            return;
        };
        let phase = if commit { "commit" } else { "abort" };
        self.log(txn, phase, &participants).await;
        self.decided.insert(txn, commit);
        self.ctx
            .observe("learned", &json!({"txn": txn, "commit": commit}));
        if self.in_doubt.is_empty() {
            self.ask_at = None;
        }
    }

    fn begin(&mut self, client: usize, txn: u64, keys: Vec<String>) {
        if let Some(&commit) = self.decided.get(&txn) {
            self.ctx.send(client, Msg::Outcome { txn, commit });
            return;
        }
        if self.voting.contains_key(&txn)
            || self.precommitting.contains_key(&txn)
            || self.in_doubt.contains_key(&txn)
        {
            return;
        }
        let participants = send_prepares(self.ctx, txn, &keys, self.n);
        self.voting.insert(
            txn,
            Phase {
                client: Some(client),
                participants,
                acked: BTreeSet::new(),
                deadline: self.ctx.instant() + VOTE_TIMEOUT,
            },
        );
    }

    /// Every vote was yes: log the precommit phase, then send `PreCommit`.
    async fn precommit(&mut self, txn: u64) {
        let Some(mut p) = self.voting.remove(&txn) else {
            return;
        };
        self.log(txn, "precommit", &p.participants).await;
        for &q in &p.participants {
            self.ctx.send(q, Msg::PreCommit { txn });
        }
        p.acked.clear();
        p.deadline = self.ctx.instant() + PRE_TIMEOUT;
        self.precommitting.insert(txn, p);
    }

    async fn decide(&mut self, txn: u64, commit: bool) {
        let (p, logged) = match (self.voting.remove(&txn), self.precommitting.remove(&txn)) {
            (Some(p), _) => (p, false),
            (None, Some(p)) => (p, true),
            (None, None) => {
                // Adopting a termination leader's decision about a transaction this
                // incarnation never ran.
                self.decided.insert(txn, commit);
                return;
            }
        };
        // Presumed abort: an abort needs a record only once a precommit was logged.
        if commit || logged {
            let phase = if commit { "commit" } else { "abort" };
            self.log(txn, phase, &p.participants).await;
        }
        self.decided.insert(txn, commit);
        self.informing
            .announce(self.ctx, txn, commit, p.participants, p.client);
    }

    async fn tick(&mut self) {
        let now = self.ctx.instant();
        let late = |m: &BTreeMap<u64, Phase>| -> Vec<u64> {
            m.iter()
                .filter(|(_, p)| p.deadline <= now)
                .map(|(&t, _)| t)
                .collect()
        };
        for txn in late(&self.voting) {
            self.decide(txn, false).await;
        }
        // Skeen's rule: a participant that did not acknowledge the precommit is presumed
        // failed; every vote was yes, so commit.
        for txn in late(&self.precommitting) {
            self.decide(txn, true).await;
        }
        if self.ask_at.is_some_and(|t| t <= now) {
            // Ask until a participant has decided; a participant does not take this for a
            // termination leader's request (it keeps its own round going).
            for (&txn, participants) in &self.in_doubt {
                for &q in participants {
                    self.ctx.send(q, Msg::StateReq { txn });
                }
            }
            self.ask_at = Some(now + RESEND);
        }
        self.informing.resend_due(self.ctx, now);
    }
}
