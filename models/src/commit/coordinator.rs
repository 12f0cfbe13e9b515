//! What the `twopc` and `threepc` coordinators share: the append-only JSON-lines log, sending a
//! transaction's keys to their participants, and telling the decision until every participant
//! acknowledged it.
use super::{owner, CommitMsg};
use faultline::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The records of the log `file`, one JSON record per line, up to the first that does not
/// parse: a torn crash may leave a partial last record, never fsynced, so nobody heard of it.
/// That fragment is cut off the file, or every record appended after it would be glued to it
/// and lost at the next restart.
pub fn load_log<R: DeserializeOwned, M: 'static>(disk: &Disk<M>, file: &str) -> Vec<R> {
    let bytes = disk.read(file).unwrap_or_default();
    let mut out = Vec::new();
    let mut good = 0;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let Some(record) = line.strip_suffix(b"\n") else {
            break;
        };
        match serde_json::from_slice::<R>(record) {
            Ok(r) => out.push(r),
            Err(_) => break,
        }
        good += line.len();
    }
    if good < bytes.len() {
        disk.write(file, bytes[..good].to_vec());
    }
    out
}

/// Appends `record` to the log `file` (volatile until the next fsync).
pub fn append_record<R: Serialize, M: 'static>(disk: &Disk<M>, file: &str, record: &R) {
    let mut rec = serde_json::to_vec(record).expect("records serialize");
    rec.push(b'\n');
    disk.append(file, &rec);
}

/// Appends `record` to the log `file` and makes it durable.
pub async fn append_log<R: Serialize, M: 'static>(disk: &Disk<M>, file: &str, record: &R) {
    append_record(disk, file, record);
    disk.fsync().await;
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
}

impl Informing {
    pub fn new(resend: Duration) -> Self {
        Informing {
            resend,
            txns: BTreeMap::new(),
        }
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
        for &q in &participants {
            ctx.send(q, M::decision(txn, commit));
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
