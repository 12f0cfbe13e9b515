//! `twopc`: two-phase commit — a coordinator (node 0) and `--nodes` participants (3 by default).
//!
//! A client asks the coordinator to commit a transaction writing keys on several participants.
//! The coordinator sends `Prepare`; a participant votes yes only if it can lock the keys, and
//! only once its prepare record (keys, participants) is durable — from then on it is **in
//! doubt**: it holds the locks until it learns the decision. The coordinator commits when every
//! participant voted yes, aborts on a no or after a vote timeout, makes a commit durable in its
//! decision log before telling anyone (presumed abort: a transaction it has no record of was
//! aborted), then tells participants and client, resending until every participant acknowledged.
//! A restarted coordinator reloads its log and answers inquiries from it. A participant in doubt
//! asks the coordinator, and once the coordinator has been silent for a while it also asks its
//! peers (cooperative termination): a peer that knows the outcome tells it, and a peer that never
//! voted aborts unilaterally (it can no longer vote yes, so no commit can happen). When every
//! peer is in doubt too, nobody can decide: 2PC **blocks** until the coordinator returns, and the
//! `blocking` checker reports it (a finding, not a violation: 2PC never promised otherwise).
//!
//! Bug variants:
//! - `no-decision-log`: the coordinator decides without logging; after a restart it presumes
//!   abort for a transaction it had committed, and participants still in doubt abort it while
//!   others committed.
//! - `unsynced-prepare`: a participant votes yes before its prepare record is durable; a crash
//!   forgets the vote, and the commit it later receives finds nothing to commit.
//! - `early-commit-reply`: the coordinator tells the client "committed" at the first yes-vote;
//!   a later no-vote or a vote timeout aborts the transaction the client believes committed.
//!   Participants agree (it is atomic), so only `client-outcome` sees it.
mod coordinator;
mod participant;

use crate::commit::{self, commit_msg, COORDINATOR};
use faultline::prelude::*;

pub use crate::commit::BLOCKING_THRESHOLD_MS;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Msg {
    /// Client → participant, in the final reads: what have you applied?
    Inspect,
    /// Participant → client: each key it owns → the committed transactions that wrote it.
    State {
        data: crate::commit::Data,
    },
    /// Client → coordinator: commit this transaction.
    Begin {
        txn: u64,
        keys: Vec<String>,
    },
    /// Coordinator → client.
    Outcome {
        txn: u64,
        commit: bool,
    },
    /// Coordinator → participant: lock these keys and vote.
    Prepare {
        txn: u64,
        keys: Vec<String>,
        participants: Vec<usize>,
    },
    Vote {
        txn: u64,
        yes: bool,
    },
    /// The outcome, from the coordinator or from a peer that knows it.
    Decision {
        txn: u64,
        commit: bool,
    },
    /// Participant → coordinator: the decision is applied and durable.
    Ack {
        txn: u64,
    },
    /// A participant in doubt asks the coordinator or a peer.
    Inquire {
        txn: u64,
    },
}

commit_msg!(Msg, prepare: Prepare);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bug {
    None,
    NoDecisionLog,
    UnsyncedPrepare,
    EarlyCommitReply,
}

pub struct TwoPc {
    bug: Bug,
    participants: usize,
}

impl TwoPc {
    pub fn new(cfg: &ModelConfig) -> Result<Self, String> {
        let bug = match cfg.bug.as_deref() {
            None => Bug::None,
            Some("no-decision-log") => Bug::NoDecisionLog,
            Some("unsynced-prepare") => Bug::UnsyncedPrepare,
            Some("early-commit-reply") => Bug::EarlyCommitReply,
            Some(other) => return Err(format!("unknown bug `{other}`")),
        };
        Ok(TwoPc {
            bug,
            participants: cfg.nodes,
        })
    }
}

/// The registered model.
pub fn model() -> Model {
    commit::model(
        "twopc",
        TwoPc::new,
        "two-phase commit: atomic, but blocking when the coordinator fails (node 0 is the coordinator; --nodes counts participants)",
    )
    .bug(
        "no-decision-log",
        "the coordinator decides without logging; after a restart it presumes abort for a committed transaction",
    )
    .bug(
        "unsynced-prepare",
        "participants vote yes before the prepare record is durable and forget the vote in a crash",
    )
    .bug(
        "early-commit-reply",
        "the coordinator tells the client \"committed\" at the first yes-vote, before every vote is in; the transaction may then abort",
    )
}

impl Protocol for TwoPc {
    type Msg = Msg;

    fn wire_codec(&self) -> Option<faultline::protocol::WireCodec<Msg>> {
        Some(faultline::protocol::WireCodec::serde())
    }

    fn buggify_points(&self) -> &'static [&'static str] {
        // decision-to-first-only: the coordinator sends a decision to its first participant
        // only; the others learn it from the resend (models/src/commit/coordinator.rs).
        &["decision-to-first-only"]
    }

    fn cap(&self) -> Cap {
        Cap::None
    }

    // One coordinator node (`coordinator`), no elected leader: swarm draws no leader step.
    fn roles(&self) -> Roles {
        Roles::COORDINATOR
    }

    /// The participants plus the coordinator.
    fn servers(&self, nodes: usize) -> usize {
        nodes + 1
    }

    fn workload(&self) -> Workload {
        commit::txn_workload(self.participants)
    }

    fn guarantees(&self) -> Vec<&'static str> {
        // Blocking while the coordinator is down is a finding; once everything is healed it
        // must serve again (liveness, progress never judge time under a fault).
        vec!["atomicity", "client-outcome", "liveness", "progress"]
    }

    // Replaces the standard set: a commit protocol's history is transactions, not reads and writes.
    fn checkers(&self) -> Vec<Box<dyn Checker>> {
        commit::checkers(BLOCKING_THRESHOLD_MS, false)
    }

    async fn node(&self, ctx: NodeCtx<Msg>) {
        if ctx.id() == COORDINATOR {
            coordinator::run(&ctx, self.bug).await
        } else {
            participant::run(&ctx, self.bug).await
        }
    }

    async fn call(&self, c: &ClientCtx<Msg>, _id: u64, op: &Invocation) -> Outcome {
        commit::call(c, op).await
    }
}
