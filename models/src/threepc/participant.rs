//! A 3PC participant: votes, precommits, and when its coordinator stays silent leads (or joins)
//! the termination protocol instead of waiting.
use super::{Msg, State};
use crate::commit::coordinator::Journal;
use crate::commit::participant::{send_peers, vote_no_conflict, vote_yes, Locks, STATE};
use crate::commit::{wake_at, CommitMsg, Data, COORDINATOR};
use faultline::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How long an in-doubt participant waits for the coordinator before running the termination
/// protocol. Longer than the coordinator's own vote and precommit timeouts, so that a live
/// coordinator always speaks first.
const WAIT: Duration = Duration::from_millis(700);
/// How long a termination leader collects answers (and precommit acknowledgements).
const COLLECT: Duration = Duration::from_millis(100);
/// The longest a participant may stay in doubt while the protocol works as designed: its own wait,
/// then one termination round per leader that crashes mid-round before a survivor takes over (a
/// transaction has at most `MAX_PARTICIPANTS`), then the last collection. `blocking` judges
/// threepc against this, not against 2PC's threshold: waiting out a cascade of crashes is
/// termination, not blocking; waiting for a recovery would be.
pub(super) const TERMINATION_BOUND_MS: u64 = (WAIT.as_millis() as u64)
    + (crate::commit::MAX_PARTICIPANTS as u64 - 1)
        * (WAIT.as_millis() + COLLECT.as_millis()) as u64
    + COLLECT.as_millis() as u64;
/// How soon a restarted participant asks about what it was in doubt of.
const ON_RESTART: Duration = Duration::from_millis(20);
/// How long a `slow-fsync` stalls a participant's durable write: well inside the coordinator's
/// timeouts (3PC assumes bounded delays; a stall past them is a partition, not a rare path).
const SLOW_FSYNC: Duration = Duration::from_millis(60);

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Rec {
    keys: Vec<String>,
    participants: Vec<usize>,
    state: State,
}

/// A termination round this node leads.
enum Round {
    /// Collecting states: the participants' and, if it answers, the coordinator's.
    Collect {
        states: BTreeMap<usize, State>,
        coordinator: Option<State>,
    },
    /// Precommitting the uncertain participants that answered, before committing.
    Pre { waiting: BTreeSet<usize> },
}

struct Participant<'a> {
    ctx: &'a NodeCtx<Msg>,
    /// The journal of records. When it is damaged, a transaction with no record may be one this
    /// node voted on: it never refuses it alone (a durable abort), it stays silent and lets the
    /// others decide.
    journal: Journal<Msg>,
    txns: BTreeMap<u64, Rec>,
    locks: Locks,
    /// In-doubt transactions: when to start a termination round.
    timers: BTreeMap<u64, Instant>,
    rounds: BTreeMap<u64, (Round, Instant)>,
    /// Transactions this incarnation restarted in doubt of. Skeen's recovery rule: a recovered
    /// site never aborts alone — while it was down the coordinator may have presumed it failed
    /// and committed — so "everyone I reached is uncertain" decides abort only when every
    /// participant answered; otherwise it asks again later.
    recovered: BTreeSet<u64>,
}

pub(super) async fn run(ctx: &NodeCtx<Msg>) {
    // The journal holds each transaction's record as it changed; the last one counts.
    let (journal, recs) = Journal::open::<(u64, Rec)>(ctx, STATE).await;
    let txns: BTreeMap<u64, Rec> = recs.into_iter().collect();
    let mut p = Participant {
        ctx,
        journal,
        txns,
        locks: Locks::default(),
        timers: BTreeMap::new(),
        rounds: BTreeMap::new(),
        recovered: BTreeSet::new(),
    };
    let mut in_doubt = Vec::new();
    for (&txn, r) in &p.txns {
        if matches!(r.state, State::Uncertain | State::PreCommitted) {
            in_doubt.push(txn);
            p.recovered.insert(txn);
            p.locks.lock(&r.keys, txn);
            p.timers.insert(txn, ctx.instant() + ON_RESTART);
        }
    }
    ctx.observe("participant-start", &json!({"in_doubt": in_doubt}));
    loop {
        let rounds = p.rounds.values().map(|r| r.1);
        let next = wake_at(ctx, p.timers.values().copied().chain(rounds));
        if let Some((from, msg)) = ctx.recv_until(next).await {
            p.handle(from, msg).await;
        }
        p.tick().await;
    }
}

impl Participant<'_> {
    /// The writes of the committed transactions (each writes its id to its keys here).
    fn data(&self) -> Data {
        let mut data = Data::new();
        for (&txn, r) in self
            .txns
            .iter()
            .filter(|(_, r)| r.state == State::Committed)
        {
            for k in &r.keys {
                data.entry(k.clone()).or_default().insert(txn);
            }
        }
        data
    }

    /// Stores `txn`'s record and makes it durable. Buggify point `slow-fsync`: a slow disk on
    /// this write stalls the participant 60 ms before the record is durable.
    async fn put(&mut self, txn: u64, rec: Rec) {
        let ctx = self.ctx;
        // Reached at every durable write: 1/20 of them stall (at 1/4 the disk is simply slow).
        if ctx.buggify_rate("slow-fsync", 0.05) {
            ctx.sleep(SLOW_FSYNC).await;
        }
        self.journal.append(ctx, &(txn, &rec), true).await;
        self.txns.insert(txn, rec);
    }

    fn state(&self, txn: u64) -> Option<State> {
        self.txns.get(&txn).map(|r| r.state)
    }

    /// A transaction this node never voted on: promise never to vote yes, durably.
    /// Refuses `txn`, durably; `false` (and nothing done) when the journal is damaged: the lost
    /// record may have been this node's yes-vote, so it must not abort alone.
    async fn refuse(&mut self, txn: u64) -> bool {
        if self.journal.damaged {
            self.ctx
                .observe("in-doubt", &json!({"txn": txn, "why": "damaged journal"}));
            return false;
        }
        self.put(
            txn,
            Rec {
                keys: vec![],
                participants: vec![],
                state: State::Aborted,
            },
        )
        .await;
        self.ctx
            .observe("aborted", &json!({"txn": txn, "why": "never voted"}));
        true
    }

    async fn handle(&mut self, from: usize, msg: Msg) {
        match msg {
            Msg::CanCommit {
                txn,
                keys,
                participants,
            } => self.vote(txn, keys, participants).await,
            Msg::PreCommit { txn } => {
                let ok = match self.state(txn) {
                    Some(State::Uncertain) => {
                        self.set(txn, State::PreCommitted).await;
                        if from != self.ctx.id() {
                            self.rounds.remove(&txn);
                        }
                        self.timers.insert(txn, self.ctx.instant() + WAIT);
                        true
                    }
                    Some(State::PreCommitted | State::Committed) => true,
                    Some(State::Aborted) => false,
                    None => {
                        if !self.refuse(txn).await {
                            return; // silent: the coordinator presumes this node failed
                        }
                        false
                    }
                };
                self.ctx.send(from, Msg::PreAck { txn, ok });
            }
            Msg::Decision { txn, commit } => {
                self.apply(txn, commit).await;
                self.ctx.send(from, Msg::ack(txn));
            }
            Msg::StateReq { txn } => {
                let state = match self.state(txn) {
                    Some(s) => s,
                    None => {
                        if !self.refuse(txn).await {
                            return; // silent, as a crashed participant would be
                        }
                        State::Aborted
                    }
                };
                // A lower-numbered leader supersedes this node's round. The coordinator asks
                // only when it restarted in doubt: it leads no round, so it supersedes none.
                if from != COORDINATOR && from < self.ctx.id() && self.rounds.remove(&txn).is_some()
                {
                    self.timers.insert(txn, self.ctx.instant() + WAIT);
                }
                self.ctx.send(from, Msg::StateResp { txn, state });
            }
            Msg::StateResp { txn, state } => {
                if let Some((
                    Round::Collect {
                        states,
                        coordinator,
                    },
                    _,
                )) = self.rounds.get_mut(&txn)
                {
                    if from == COORDINATOR {
                        *coordinator = Some(state);
                    } else {
                        states.insert(from, state);
                    }
                }
            }
            Msg::PreAck { txn, ok } => {
                if let Some((Round::Pre { waiting }, _)) = self.rounds.get_mut(&txn) {
                    waiting.remove(&from);
                    let done = waiting.is_empty();
                    if !ok {
                        self.conclude(txn, false).await;
                    } else if done {
                        self.conclude(txn, true).await;
                    }
                }
            }
            Msg::Inspect => self.ctx.send(from, Msg::State { data: self.data() }),
            Msg::Begin { .. } | Msg::Outcome { .. } | Msg::Vote { .. } | Msg::Ack { .. } => {}
            Msg::State { .. } => {}
        }
    }

    async fn vote(&mut self, txn: u64, keys: Vec<String>, participants: Vec<usize>) {
        if let Some(s) = self.state(txn) {
            let yes = s != State::Aborted;
            self.ctx.send(COORDINATOR, Msg::vote(txn, yes));
            return;
        }
        if self.journal.damaged {
            // It may have refused `txn` in a record it can no longer read (and told a peer
            // so): it does not vote; the coordinator's vote timeout aborts.
            self.ctx
                .observe("in-doubt", &json!({"txn": txn, "why": "damaged journal"}));
            return;
        }
        if self.locks.conflict(&keys, txn) {
            self.put(
                txn,
                Rec {
                    keys: vec![],
                    participants,
                    state: State::Aborted,
                },
            )
            .await;
            vote_no_conflict(self.ctx, txn);
            return;
        }
        self.locks.lock(&keys, txn);
        self.put(
            txn,
            Rec {
                keys: keys.clone(),
                participants,
                state: State::Uncertain,
            },
        )
        .await;
        vote_yes(self.ctx, txn, &keys);
        self.timers.insert(txn, self.ctx.instant() + WAIT);
    }

    async fn set(&mut self, txn: u64, state: State) {
        if let Some(r) = self.txns.get(&txn) {
            let rec = Rec { state, ..r.clone() };
            self.put(txn, rec).await;
        }
    }

    /// Applies an outcome once; a later, different one is ignored (and the checker will have
    /// seen both sides of it).
    async fn apply(&mut self, txn: u64, commit: bool) {
        match self.state(txn) {
            Some(State::Committed | State::Aborted) => return,
            None => {
                self.refuse(txn).await;
                return;
            }
            Some(_) => {}
        }
        self.timers.remove(&txn);
        self.rounds.remove(&txn);
        let keys = self
            .txns
            .get(&txn)
            .map(|r| r.keys.clone())
            .unwrap_or_default();
        self.locks.unlock(&keys, txn);
        let state = if commit {
            State::Committed
        } else {
            State::Aborted
        };
        self.set(txn, state).await;
        let kind = if commit { "committed" } else { "aborted" };
        self.ctx.observe(kind, &json!({"txn": txn}));
    }

    /// The leader's decision: apply it and tell everyone.
    async fn conclude(&mut self, txn: u64, commit: bool) {
        self.rounds.remove(&txn);
        self.apply(txn, commit).await;
        let others: Vec<usize> = self
            .txns
            .get(&txn)
            .map(|r| r.participants.clone())
            .unwrap_or_default();
        send_peers(self.ctx, &others, Msg::decision(txn, commit));
        self.ctx.send(COORDINATOR, Msg::Decision { txn, commit });
    }

    async fn tick(&mut self) {
        let now = self.ctx.instant();
        let start: Vec<u64> = self
            .timers
            .iter()
            .filter(|(_, &t)| t <= now)
            .map(|(&txn, _)| txn)
            .collect();
        for txn in start {
            self.timers.remove(&txn);
            let Some(r) = self.txns.get(&txn) else {
                continue;
            };
            if !matches!(r.state, State::Uncertain | State::PreCommitted) {
                continue;
            }
            let states = BTreeMap::from([(self.ctx.id(), r.state)]);
            self.ctx.send(COORDINATOR, Msg::StateReq { txn });
            send_peers(self.ctx, &r.participants, Msg::StateReq { txn });
            self.rounds.insert(
                txn,
                (
                    Round::Collect {
                        states,
                        coordinator: None,
                    },
                    now + COLLECT,
                ),
            );
        }
        let due: Vec<u64> = self
            .rounds
            .iter()
            .filter(|(_, r)| r.1 <= now)
            .map(|(&txn, _)| txn)
            .collect();
        for txn in due {
            self.decide_round(txn).await;
        }
    }

    /// The end of a collection (or precommit) window.
    async fn decide_round(&mut self, txn: u64) {
        let Some((round, _)) = self.rounds.remove(&txn) else {
            return;
        };
        let (states, coordinator) = match round {
            // Precommit acknowledgements timed out: the silent are presumed failed.
            Round::Pre { .. } => return self.conclude(txn, true).await,
            Round::Collect {
                states,
                coordinator,
            } => (states, coordinator),
        };
        let any = |s: State| states.values().any(|&x| x == s);
        let commit = match coordinator {
            Some(State::Committed | State::PreCommitted) => true,
            Some(State::Aborted) => false,
            Some(State::Uncertain) | None => {
                if any(State::Committed) {
                    true
                } else if any(State::Aborted) {
                    false
                } else if any(State::PreCommitted) {
                    // Precommit the uncertain ones that answered, then commit.
                    let waiting: BTreeSet<usize> = states
                        .iter()
                        .filter(|(&q, &s)| s == State::Uncertain && q != self.ctx.id())
                        .map(|(&q, _)| q)
                        .collect();
                    if self.state(txn) == Some(State::Uncertain) {
                        self.set(txn, State::PreCommitted).await;
                    }
                    if waiting.is_empty() {
                        true
                    } else {
                        for &q in &waiting {
                            self.ctx.send(q, Msg::PreCommit { txn });
                        }
                        let deadline = self.ctx.instant() + COLLECT;
                        self.rounds.insert(txn, (Round::Pre { waiting }, deadline));
                        return;
                    }
                } else {
                    // Everyone reachable is uncertain: nobody can have committed (true when
                    // silence means a crash, not when it means a partition) — unless this node
                    // was the silent one: then only every participant's answer settles it.
                    let everyone = self
                        .txns
                        .get(&txn)
                        .is_some_and(|r| r.participants.iter().all(|q| states.contains_key(q)));
                    if self.recovered.contains(&txn) && !everyone {
                        self.timers.insert(txn, self.ctx.instant() + WAIT);
                        return;
                    }
                    false
                }
            }
        };
        self.conclude(txn, commit).await;
    }
}
