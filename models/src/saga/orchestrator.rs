//! The saga orchestrator: a durable saga log written before every action, steps retried, and
//! compensations in reverse order retried until acknowledged.
//!
//! The saga log is a log of checksummed records ([`crate::wal`]): each transition of a saga
//! appends the saga's new entry (or its end) and syncs it before the orchestrator acts on it.
//! At restart a torn last record (never synced, so never acted on) is dropped; a corrupt one is
//! never trusted: it is skipped and the orchestrator reports `log-damaged`.
use super::{Bug, Ending, Msg, Order, Step};
use crate::wal::Wal;
use faultline::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

/// The forward steps, in order; the first two have compensations.
const FORWARD: [Step; 3] = [Step::Charge, Step::Reserve, Step::Ship];
/// How long to wait for a service before sending a step again.
const RETRY: Duration = Duration::from_millis(150);
/// Sends of a charge or reservation before giving up on it and compensating (shipping, the
/// pivot, and compensations are retried for as long as it takes).
const FORWARD_ATTEMPTS: u32 = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Phase {
    /// Performing forward step `i`.
    Forward(usize),
    /// Undoing step `i` (then `i - 1`, ..., 0).
    Back(usize),
}

fn compensation(i: usize) -> Step {
    if i == 0 {
        Step::Refund
    } else {
        Step::Release
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Entry {
    client: usize,
    order: Order,
    phase: Phase,
    /// The compensation began because a service refused a step (sold out, declined), not
    /// because its answers stopped coming: the saga's answer is a definite "no".
    #[serde(default)]
    refused: bool,
}

impl Entry {
    fn step(&self) -> Step {
        match self.phase {
            Phase::Forward(i) => FORWARD[i],
            Phase::Back(i) => compensation(i),
        }
    }
}

/// One record of the saga log: a saga's entry as it now stands, or its end.
#[derive(Serialize, Deserialize)]
enum Record {
    Put(u64, Entry),
    End(u64),
}

/// The saga log file.
const LOG: &str = "sagas";

struct Orchestrator<'a> {
    ctx: &'a NodeCtx<Msg>,
    bug: Bug,
    /// The saga log on disk (`None` with the bug: it is kept in memory only).
    wal: Option<Wal<Msg>>,
    /// The saga log: sagas in flight (durable unless the bug).
    log: BTreeMap<u64, Entry>,
    /// Finished sagas: how each ended.
    done: BTreeMap<u64, Ending>,
    /// Per saga in flight: sends of the current step, and when to send it again.
    timers: BTreeMap<u64, (u32, Instant)>,
}

pub(super) async fn run(ctx: &NodeCtx<Msg>, bug: Bug) {
    ctx.observe("coordinator", &json!({}));
    let mut log: BTreeMap<u64, Entry> = BTreeMap::new();
    let wal = if bug == Bug::VolatileSagaLog {
        None
    } else {
        let (wal, found) = Wal::open(ctx, LOG).await;
        let mut unreadable = 0;
        for rec in &found.records {
            match rec.as_deref().map(serde_json::from_slice::<Record>) {
                Some(Ok(Record::Put(saga, e))) => {
                    log.insert(saga, e);
                }
                Some(Ok(Record::End(saga))) => {
                    log.remove(&saga);
                }
                _ => unreadable += 1,
            }
        }
        if found.damaged {
            ctx.observe("log-damaged", &json!({"unreadable": unreadable}));
        }
        Some(wal)
    };
    let mut o = Orchestrator {
        ctx,
        bug,
        wal,
        log,
        done: BTreeMap::new(),
        timers: BTreeMap::new(),
    };
    // Resume every saga in flight where its log entry says it was.
    let resumed: Vec<u64> = o.log.keys().copied().collect();
    for saga in resumed {
        o.send(saga);
    }
    loop {
        let next = o
            .timers
            .values()
            .map(|t| t.1)
            .min()
            .unwrap_or_else(|| ctx.instant() + Duration::from_secs(1));
        if let Some((from, msg)) = ctx.recv_until(next).await {
            o.handle(from, msg).await;
        }
        o.tick().await;
    }
}

impl Orchestrator<'_> {
    /// Logs `saga`'s entry as it now stands (or its end) durably.
    async fn persist(&mut self, saga: u64) {
        let Some(wal) = self.wal.as_mut() else {
            return; // the bug: the log never reaches the disk
        };
        let rec = match self.log.get(&saga) {
            Some(e) => Record::Put(saga, e.clone()),
            None => Record::End(saga),
        };
        let bytes = serde_json::to_vec(&rec).expect("records serialize");
        wal.append(self.ctx, &bytes).await;
    }

    fn send(&mut self, saga: u64) {
        let Some(e) = self.log.get(&saga) else { return };
        let step = e.step();
        self.ctx.send(
            step.service(),
            Msg::Do {
                step,
                order: e.order.clone(),
            },
        );
        let t = self.timers.entry(saga).or_insert((0, self.ctx.instant()));
        t.0 += 1;
        t.1 = self.ctx.instant() + RETRY;
    }

    async fn handle(&mut self, from: usize, msg: Msg) {
        match msg {
            Msg::Place(order) => {
                let saga = order.saga;
                if let Some(&ending) = self.done.get(&saga) {
                    self.ctx.send(from, Msg::Done { saga, ending });
                    return;
                }
                if self.log.contains_key(&saga) {
                    return;
                }
                self.log.insert(
                    saga,
                    Entry {
                        client: from,
                        order,
                        phase: Phase::Forward(0),
                        refused: false,
                    },
                );
                self.persist(saga).await;
                self.send(saga);
            }
            Msg::Did { saga, step, ok } => {
                let Some(e) = self.log.get_mut(&saga) else {
                    return;
                };
                if e.step() != step {
                    return; // an answer to an earlier step, repeated
                }
                if let (Phase::Forward(_), false) = (e.phase, ok) {
                    e.refused = true; // logged with the first compensation step
                }
                let next = match (e.phase, ok) {
                    (Phase::Forward(2), true) => None,
                    (Phase::Forward(i), true) => Some(Phase::Forward(i + 1)),
                    // A refused step did nothing, but undoing it is harmless (a tombstone).
                    (Phase::Forward(i), false) => Some(Phase::Back(i.min(1))),
                    (Phase::Back(0), _) => None,
                    (Phase::Back(i), _) => Some(Phase::Back(i - 1)),
                };
                self.advance(saga, next).await;
            }
            Msg::Done { .. } | Msg::Do { .. } => {}
        }
    }

    /// Moves a saga to its next phase (`None`: finished), logging it before acting.
    async fn advance(&mut self, saga: u64, mut next: Option<Phase>) {
        loop {
            self.timers.remove(&saga);
            let Some(phase) = next else {
                let Some(e) = self.log.remove(&saga) else {
                    return;
                };
                self.persist(saga).await;
                let ending = match e.phase {
                    Phase::Forward(_) => Ending::Completed,
                    Phase::Back(_) if e.refused => Ending::Refused,
                    Phase::Back(_) => Ending::Compensated,
                };
                self.done.insert(saga, ending);
                self.ctx.send(e.client, Msg::Done { saga, ending });
                return;
            };
            if let Some(e) = self.log.get_mut(&saga) {
                e.phase = phase;
            }
            self.persist(saga).await;
            self.send(saga);
            match phase {
                // The bug: a compensation is sent once and taken as done.
                Phase::Back(i) if self.bug == Bug::NoCompensationRetry => {
                    next = i.checked_sub(1).map(Phase::Back);
                }
                _ => return,
            }
        }
    }

    /// Sends again every step whose answer is overdue; gives up on a charge or reservation
    /// after `FORWARD_ATTEMPTS` and compensates it (it may have taken effect).
    async fn tick(&mut self) {
        let now = self.ctx.instant();
        let due: Vec<(u64, u32)> = self
            .timers
            .iter()
            .filter(|(_, t)| t.1 <= now)
            .map(|(&s, t)| (s, t.0))
            .collect();
        for (saga, sends) in due {
            let Some(e) = self.log.get(&saga) else {
                self.timers.remove(&saga);
                continue;
            };
            match e.phase {
                Phase::Forward(i) if i < 2 && sends >= FORWARD_ATTEMPTS => {
                    self.advance(saga, Some(Phase::Back(i))).await;
                }
                _ => self.send(saga),
            }
        }
    }
}
