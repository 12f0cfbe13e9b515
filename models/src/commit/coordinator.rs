//! What the `twopc` and `threepc` coordinators share: the checksummed journal, sending a
//! transaction's keys to their participants, and telling the decision until every participant
//! acknowledged it.
use super::{owner, CommitMsg};
use crate::wal::Wal;
use faultline::prelude::*;
use faultline::Message;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A log of JSON records framed as checksummed records ([`crate::wal`]): the coordinators'
/// decision logs and the participants' journals. A torn last record (never synced, so nobody
/// heard of it) is dropped at recovery; a record that cannot be read is never trusted, and the
/// journal says it is [`Journal::damaged`]: its owner then knows that it may have forgotten a
/// vote or a decision, and must ask rather than presume either outcome.
pub struct Journal<M: Message> {
    wal: Wal<M>,
    /// Records were lost or are unreadable (now, or at an earlier recovery).
    pub damaged: bool,
}

impl<M: Message> Journal<M> {
    /// Opens (creating it if absent) and recovers the journal `file`: its readable records,
    /// in order, durable.
    pub async fn open<R: DeserializeOwned>(ctx: &NodeCtx<M>, file: &str) -> (Self, Vec<R>) {
        let (wal, found) = Wal::open(ctx, file).await;
        let mut damaged = found.damaged;
        let mut out = Vec::with_capacity(found.records.len());
        for rec in &found.records {
            match rec.as_deref().map(serde_json::from_slice::<R>) {
                Some(Ok(r)) => out.push(r),
                _ => damaged = true,
            }
        }
        if damaged {
            ctx.observe("log-damaged", &json!({"file": file}));
        }
        (Journal { wal, damaged }, out)
    }

    /// Appends `record`; with `sync`, makes it (and every record before it) durable before
    /// returning.
    pub async fn append<R: Serialize>(&mut self, ctx: &NodeCtx<M>, record: &R, sync: bool) {
        let bytes = serde_json::to_vec(record).expect("records serialize");
        if sync {
            self.wal.append(ctx, &bytes).await;
        } else {
            self.wal.append_unsynced(ctx, &bytes).await;
        }
    }
}

/// Starts `txn`: the participants owning `keys` (ascending, among `n`) each get the prepare
/// message with their own keys. Returns the participants.
pub fn send_prepares<M: CommitMsg>(
    ctx: &NodeCtx<M>,
    txn: u64,
    keys: &[String],
    n: usize,
) -> Vec<usize> {
    let participants: Vec<usize> = keys
        .iter()
        .map(|k| owner(k, n))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    ctx.observe("begin", &json!({"txn": txn, "participants": participants}));
    for &p in &participants {
        let mine = keys.iter().filter(|k| owner(k, n) == p).cloned().collect();
        ctx.send(p, M::prepare(txn, mine, participants.clone()));
    }
    participants
}

/// A decided transaction whose participants have not all acknowledged it.
struct Unacked {
    commit: bool,
    participants: BTreeSet<usize>,
    next: Instant,
}

/// Decisions being told until every participant acknowledged them, sent again every `resend`.
pub struct Informing {
    resend: Duration,
    txns: BTreeMap<u64, Unacked>,
    /// A buggify point that sends a decision to the first participant only (see `announce`).
    partial: Option<&'static str>,
}

impl Informing {
    pub fn new(resend: Duration) -> Self {
        Informing {
            resend,
            txns: BTreeMap::new(),
            partial: None,
        }
    }

    /// With the buggify point `point`: a coordinator that stalls after telling the first
    /// participant. Only for a protocol whose participants wait for the decision however late
    /// (2PC); 3PC's participants decide alone after a timeout, assuming bounded delays, so a
    /// decision withheld past it is outside 3PC's fault model.
    pub fn with_buggify(mut self, point: &'static str) -> Self {
        self.partial = Some(point);
        self
    }

    /// Announces the decision: observed, sent to every participant and the client (if any),
    /// and told again until acknowledged.
    pub fn announce<M: CommitMsg>(
        &mut self,
        ctx: &NodeCtx<M>,
        txn: u64,
        commit: bool,
        participants: Vec<usize>,
        client: Option<usize>,
    ) {
        ctx.observe("decided", &json!({"txn": txn, "commit": commit}));
        // A coordinator that stalls after telling the first participant (a pause between
        // sends): the others learn the decision only from the resend, so for a while it is
        // known to some participants and not to others.
        let partial = self.partial.is_some_and(|p| ctx.buggify(p));
        for &q in &participants {
            ctx.send(q, M::decision(txn, commit));
            if partial {
                break;
            }
        }
        if let Some(c) = client {
            ctx.send(c, M::outcome(txn, commit));
        }
        self.txns.insert(
            txn,
            Unacked {
                commit,
                participants: participants.into_iter().collect(),
                next: ctx.instant() + self.resend,
            },
        );
    }

    /// `from` acknowledged `txn`.
    pub fn ack(&mut self, txn: u64, from: usize) {
        if let Some(i) = self.txns.get_mut(&txn) {
            i.participants.remove(&from);
            if i.participants.is_empty() {
                self.txns.remove(&txn);
            }
        }
    }

    /// When the next decision is due to be sent again.
    pub fn deadlines(&self) -> impl Iterator<Item = Instant> + '_ {
        self.txns.values().map(|i| i.next)
    }

    /// Sends every due decision again to the participants that have not acknowledged it.
    pub fn resend_due<M: CommitMsg>(&mut self, ctx: &NodeCtx<M>, now: Instant) {
        for (&txn, i) in self.txns.iter_mut().filter(|(_, i)| i.next <= now) {
            for &q in &i.participants {
                ctx.send(q, M::decision(txn, i.commit));
            }
            i.next = now + self.resend;
        }
    }
}
