//! The 2PC coordinator: collects votes, makes a commit durable before anyone hears of it, and
//! tells the participants until each has acknowledged. Presumed abort: only commits are logged,
//! and a transaction with no record is answered "aborted".
use super::{Bug, Msg};
use crate::commit::owner;
use faultline_harness::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How long the coordinator waits for votes before aborting.
const VOTE_TIMEOUT: Duration = Duration::from_millis(400);
/// How often an unacknowledged decision is sent again.
const RESEND: Duration = Duration::from_millis(200);
/// The decision log: one JSON record per line, append-only.
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

/// A decided transaction whose participants have not all acknowledged it.
struct Informing {
    commit: bool,
    unacked: BTreeSet<usize>,
    next: Instant,
}

struct Coordinator<'a> {
    ctx: &'a NodeCtx<Msg>,
    bug: Bug,
    participants: usize,
    decided: BTreeMap<u64, bool>,
    pending: BTreeMap<u64, Pending>,
    informing: BTreeMap<u64, Informing>,
}

/// The logged decisions. A torn crash may leave a partial last record: reading stops at the
/// first record that does not parse (it was never fsynced, so nobody heard of it).
fn load(disk: &Disk<Msg>) -> BTreeMap<u64, bool> {
    let bytes = disk.read(LOG).unwrap_or_default();
    let mut out = BTreeMap::new();
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let Some(line) = line.strip_suffix(b"\n") else {
            break;
        };
        match serde_json::from_slice::<Record>(line) {
            Ok(r) => {
                out.insert(r.txn, r.commit);
            }
            Err(_) => break,
        }
    }
    out
}

pub(super) async fn run(ctx: &NodeCtx<Msg>, bug: Bug) {
    ctx.observe("coordinator", &json!({}));
    let mut c = Coordinator {
        ctx,
        bug,
        participants: ctx.servers() - 1,
        decided: load(&ctx.disk()),
        pending: BTreeMap::new(),
        informing: BTreeMap::new(),
    };
    loop {
        let next = c
            .pending
            .values()
            .map(|p| p.deadline)
            .chain(c.informing.values().map(|i| i.next))
            .min()
            .unwrap_or_else(|| ctx.instant() + Duration::from_secs(1));
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
                    let commit = self.decided.get(&txn).copied().unwrap_or(false);
                    self.ctx.send(from, Msg::Decision { txn, commit });
                    return;
                };
                if !yes {
                    self.decide(txn, false).await;
                    return;
                }
                p.yes.insert(from);
                if p.participants.iter().all(|q| p.yes.contains(q)) {
                    self.decide(txn, true).await;
                }
            }
            Msg::Ack { txn } => {
                if let Some(i) = self.informing.get_mut(&txn) {
                    i.unacked.remove(&from);
                    if i.unacked.is_empty() {
                        self.informing.remove(&txn);
                    }
                }
            }
            Msg::Inquire { txn } => {
                if self.pending.contains_key(&txn) {
                    return; // still collecting votes: the decision will come
                }
                let commit = self.decided.get(&txn).copied().unwrap_or(false);
                self.ctx.send(from, Msg::Decision { txn, commit });
            }
            Msg::Outcome { .. } | Msg::Prepare { .. } | Msg::Decision { .. } => {}
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
        let participants: Vec<usize> = keys
            .iter()
            .map(|k| owner(k, self.participants))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        self.ctx
            .observe("begin", &json!({"txn": txn, "participants": participants}));
        for &p in &participants {
            let mine = keys
                .iter()
                .filter(|k| owner(k, self.participants) == p)
                .cloned()
                .collect();
            self.ctx.send(
                p,
                Msg::Prepare {
                    txn,
                    keys: mine,
                    participants: participants.clone(),
                },
            );
        }
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
            let mut rec = serde_json::to_vec(&Record { txn, commit }).expect("records serialize");
            rec.push(b'\n');
            let disk = self.ctx.disk();
            disk.append(LOG, &rec);
            disk.fsync().await;
        }
        self.decided.insert(txn, commit);
        self.ctx
            .observe("decided", &json!({"txn": txn, "commit": commit}));
        for &q in &p.participants {
            self.ctx.send(q, Msg::Decision { txn, commit });
        }
        self.ctx.send(p.client, Msg::Outcome { txn, commit });
        self.informing.insert(
            txn,
            Informing {
                commit,
                unacked: p.participants.into_iter().collect(),
                next: self.ctx.instant() + RESEND,
            },
        );
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
        for (&txn, i) in self.informing.iter_mut().filter(|(_, i)| i.next <= now) {
            for &q in &i.unacked {
                self.ctx.send(
                    q,
                    Msg::Decision {
                        txn,
                        commit: i.commit,
                    },
                );
            }
            i.next = now + RESEND;
        }
    }
}
