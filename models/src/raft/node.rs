//! One Raft server: its roles, the two RPCs, commitment and the key-value state machine.
//!
//! Protocol-aware recovery (PAR): a node whose log holds faulty entries (a record that failed its
//! checksum) or lost a tail it cannot read (`Meta::repairing`), or whose metadata is unreadable,
//! neither grants votes nor stands for election, and fails the leader's consistency check at a
//! faulty index so the leader re-sends it. Why this is safe and live: an entry is committed only
//! once a majority holds it durably; the corruption budget strikes at most a minority of the
//! nodes, and a struck node's copy never counts in an election because it does not vote. So any
//! election majority contains a healthy node holding every committed entry, and the up-to-date
//! check still elects only a leader holding them all; that leader repairs the struck nodes from
//! its own log (Leader Completeness). The healthy majority is always there to elect it.
//! A node whose metadata cannot be read may have voted in a term it cannot know, so it stays out
//! of the protocol entirely (it answers clients with redirects only): one lost node of the
//! budget's minority.
use super::log::{Command, Entry, Loaded, Log};
use super::meta::{Meta, MetaStore};
use super::{Bug, Msg};
use faultline::prelude::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Leaders send AppendEntries at least this often (heartbeats), and at once on a new request.
const HEARTBEAT: Duration = Duration::from_millis(100);
/// Election timeouts are drawn uniformly from this range (ms), per node and per wait.
const ELECTION_MS: (u64, u64) = (300, 600);
/// The rate of a buggify point reached at every heartbeat (`spurious-election-timeout`).
const RARE_PER_HEARTBEAT: f64 = 0.01;
/// The rate of `transfer-leadership`, reached at each heartbeat of a leader not already
/// transferring: an enabled point hands leadership over every few seconds of a stable leader.
const TRANSFER_PER_HEARTBEAT: f64 = 0.02;
/// How long a leadership transfer may take: if the target has not been elected within the
/// maximum election timeout, the leader aborts it and takes proposals again (etcd's).
const TRANSFER_TIMEOUT: Duration = Duration::from_millis(ELECTION_MS.1);
/// The rate of a buggify point reached at every durable write (`slow-fsync`).
const RARE_PER_WRITE: f64 = 0.05;
/// The minimum election timeout: a follower neither stands nor votes for another candidate
/// within this long (on its own clock) of hearing from a current leader, the half of the lease
/// that followers keep.
const MIN_ELECTION: Duration = Duration::from_millis(ELECTION_MS.0);
/// The clock drift raft tolerates (`Protocol::max_drift`): every node's clock runs at a rate
/// within `1 ± MAX_DRIFT` of true time. A realistic bound is far smaller (quartz drifts by
/// 10⁻⁴); 20% leaves room for VMs whose clocks stall and catch up.
pub(crate) const MAX_DRIFT: f64 = 0.2;

/// How long a leader's lease lasts on its own clock, from the moment it *sent* a round that a
/// majority (itself included) acknowledged.
///
/// Why it is safe: a follower that acknowledged the round received it no earlier than it was
/// sent, and then neither votes for another candidate nor stands until `MIN_ELECTION` has
/// passed on *its* clock, which takes at least `MIN_ELECTION / (1 + d)` of true time when its
/// clock runs at most `1 + d` fast. Every election majority includes one of those followers, so
/// no other leader can be elected (nor commit anything) for that long after the send. The
/// leader's own clock runs at least `1 - d` fast, so `L` of its time lasts at most
/// `L / (1 - d)` of true time. The lease is safe when `L / (1 - d) <= MIN_ELECTION / (1 + d)`,
/// that is `L = MIN_ELECTION * (1 - d) / (1 + d)` (about `MIN_ELECTION * (1 - 2d)`): 200 ms of
/// 300 with `d = 0.2`. (`lease-no-drift-margin` takes `L = MIN_ELECTION`: right only when every
/// clock runs at true speed.)
fn lease_len(bug: Bug) -> Duration {
    if bug == Bug::LeaseNoDriftMargin {
        return MIN_ELECTION;
    }
    MIN_ELECTION.mul_f64((1.0 - MAX_DRIFT) / (1.0 + MAX_DRIFT))
}

/// At most this many entries per AppendEntries: a follower that fell far behind catches up over
/// several round trips instead of one huge message per heartbeat.
const MAX_BATCH: usize = 64;
/// `ack-before-fsync`: how long a follower lets acknowledged entries sit unsynced.
const LAZY_FSYNC: Duration = Duration::from_millis(100);

enum Role {
    Follower,
    Candidate {
        votes: BTreeSet<usize>,
    },
    Leader {
        /// Next index to send to each node.
        next: Vec<usize>,
        /// Highest index known replicated (durably) on each node.
        matched: Vec<usize>,
        /// When each node was last sent an AppendEntries: heartbeats go only to idle links.
        last_sent: Vec<Instant>,
        /// Per node, the send time of the latest AppendEntries it answered in this term (the
        /// leader's own clock): the lease runs from the majority's oldest of these.
        acked: Vec<Option<Instant>>,
        /// A leadership transfer in progress (ended by stepping down: a new role).
        transfer: Option<Transfer>,
    },
}

/// A leadership transfer in progress (Raft thesis §3.10): the leader takes no new proposals, so
/// the target catches up, and tells it to stand (`TimeoutNow`) once its log matches.
#[derive(Clone, Copy, Debug)]
struct Transfer {
    /// The follower to hand leadership to.
    target: usize,
    /// Whether `TimeoutNow` was sent (the target's log matched).
    told: bool,
    /// When the transfer is aborted if the leader still leads (its own clock).
    until: Instant,
}

/// A leader's read lease: while it holds, no other leader can exist, so the leader answers reads
/// from its applied state without a log round trip.
#[derive(Clone, Copy, Debug)]
struct Lease {
    /// The term it was earned in.
    term: u64,
    /// When it ends, on this node's clock.
    until: Instant,
}

struct Server<'a> {
    ctx: &'a NodeCtx<Msg>,
    disk: Disk<Msg>,
    bug: Bug,
    meta: Meta,
    /// The term and vote as last made durable (rewritten only when they change).
    meta_written: Meta,
    meta_store: MetaStore,
    log: Log,
    role: Role,
    commit: usize,
    applied: usize,
    kv: BTreeMap<String, Value>,
    /// Results of applied operations by op id: a re-logged retry is answered, not re-applied.
    results: BTreeMap<u64, Result<Value, String>>,
    /// Op ids in the log (kept while leading): a duplicated request is logged at most once.
    in_log: BTreeSet<u64>,
    /// Clients waiting for an op id to be applied (any node that logged it answers when it
    /// applies it, even after stepping down: an applied entry is committed).
    waiting: BTreeMap<u64, usize>,
    leader_hint: Option<usize>,
    election_deadline: Instant,
    /// `ack-before-fsync`: when the pending lazy fsync is due.
    lazy_sync: Option<Instant>,
    /// When the leader sends its next heartbeat.
    next_beat: Instant,
    /// This incarnation's start: AppendEntries carry their send time as an offset from it, and
    /// the answers echo it back.
    epoch: Instant,
    /// When this node last heard from a current leader (its own clock): within `MIN_ELECTION`
    /// of it the node neither votes for another candidate nor stands.
    heard_leader: Option<Instant>,
    /// The read lease while leading (see `lease_len`).
    lease: Option<Lease>,
    /// The term in which this node last started a leadership transfer: it earns no lease in
    /// that term again, since the target may be elected (by voters that waive their guard)
    /// whenever its `TimeoutNow` arrives, even after the transfer was aborted here.
    handed_over: Option<u64>,
}

fn majority(n: usize) -> usize {
    n / 2 + 1
}

impl Server<'_> {
    fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader { .. })
    }

    /// Whether this node heard from a current leader within the minimum election timeout: it
    /// must then not help elect another (the leader's lease counts on it).
    fn hears_leader(&self) -> bool {
        !self.is_leader()
            && self
                .heard_leader
                .is_some_and(|t| self.ctx.instant() < t + MIN_ELECTION)
    }

    /// Whether a read may be answered from local state: this node leads under a lease that has
    /// not ended, and its commit index is in the lease's term, so every entry committed before
    /// this term is applied here (a new leader learns what its predecessors committed only when
    /// it commits an entry of its own term).
    fn lease_holds(&self) -> bool {
        if self.is_leader() && self.ctx.servers() == 1 {
            return self.log.term_at(self.commit) == Some(self.meta.term);
        }
        let Some(l) = self.lease else {
            return false;
        };
        let serving = self.is_leader() || self.bug == Bug::LeaseAfterStepDown;
        serving && self.ctx.instant() < l.until && self.log.term_at(self.commit) == Some(l.term)
    }

    /// Extends the lease from the acknowledged rounds: it starts at the send time of the newest
    /// round a majority (this leader included) has answered.
    fn renew_lease(&mut self) {
        let Role::Leader { acked, .. } = &self.role else {
            return;
        };
        if self.handed_over == Some(self.meta.term) && self.bug != Bug::LeaseAfterStepDown {
            return;
        }
        let need = majority(self.ctx.servers()) - 1;
        let mut sent: Vec<Instant> = acked.iter().flatten().copied().collect();
        sent.sort_unstable_by(|a, b| b.cmp(a));
        let Some(&start) = sent.get(need.saturating_sub(1)) else {
            return;
        };
        let until = start + lease_len(self.bug);
        let term = self.meta.term;
        if self.lease.is_none_or(|l| l.until < until) {
            self.lease = Some(Lease { term, until });
        }
    }

    fn reset_election(&mut self) {
        let mut ms = self.ctx.rng().gen_range(ELECTION_MS.0..=ELECTION_MS.1);
        // Reached at every heartbeat and append, so it fires at 1/100 of reaches (a follower's
        // timer fires early every few seconds): at buggify's default 1/4 a follower would
        // stand at every fourth heartbeat, constant election churn that hides the paths
        // needing a stable leader (ack-before-fsync: 81 of 1,000 swarm seeds failed so, 99
        // without buggify).
        if self
            .ctx
            .buggify_rate("spurious-election-timeout", RARE_PER_HEARTBEAT)
        {
            // A timer that fires early (a stalled heartbeat, a GC pause on the receiving
            // side): the node stands although its leader is alive.
            ms = ELECTION_MS.0 / 10;
        }
        self.election_deadline = self.ctx.instant() + Duration::from_millis(ms);
    }

    /// Makes term, vote and log durable: the metadata's two copies first, then the log, each
    /// synced (the log only with `sync`: `ack-before-fsync` writes it and syncs later). `false`
    /// if a write or sync kept failing: the caller must not act on what it meant to persist (no
    /// vote, no acknowledgement); a later call retries. `volatile-vote` never syncs the
    /// metadata, `process-crash-only` nothing at all.
    async fn persist(&mut self, sync: bool) -> bool {
        if self.meta != self.meta_written {
            let meta_sync = !matches!(self.bug, Bug::VolatileVote | Bug::ProcessCrashOnly);
            let (meta, bug) = (self.meta, self.bug);
            if !self
                .meta_store
                .save(&self.disk, &meta, meta_sync, bug)
                .await
            {
                return false;
            }
            self.meta_written = meta;
        }
        let sync = sync && self.bug != Bug::ProcessCrashOnly;
        // Reached at every synced write: 1/20 of them stall (at 1/4 the disk is simply slow).
        if sync && self.ctx.buggify_rate("slow-fsync", RARE_PER_WRITE) {
            // A slow disk on this call: the node stalls before its log is durable, and the
            // cluster moves on meanwhile (elections, retries).
            self.ctx.sleep(Duration::from_millis(60)).await;
        }
        self.log.save(&self.disk, sync, self.bug).await
    }

    /// Whether the metadata and log in memory are what the disk holds.
    fn settled(&self) -> bool {
        self.meta == self.meta_written && self.log.is_durable()
    }

    /// Persists a change of term or vote before the node acts on it.
    async fn persist_meta(&mut self) -> bool {
        self.persist(true).await
    }

    /// Whether this node may vote or stand: not while its log holds faulty entries or lost a
    /// tail (see the module doc).
    fn can_vote(&self) -> bool {
        !self.meta.repairing && !self.log.has_faulty()
    }

    /// Adopts a higher term as a follower (not yet persisted: callers persist before replying).
    fn become_follower(&mut self, term: u64) {
        if term > self.meta.term {
            self.meta.term = term;
            self.meta.voted_for = None;
        }
        self.role = Role::Follower;
        // A node that no longer leads stops answering reads from its state at once: with its
        // vote it may help elect the next leader while its lease would still run.
        if self.bug != Bug::LeaseAfterStepDown {
            self.lease = None;
        }
    }

    /// Stands for election. `transfer`: told to by its leader (`TimeoutNow`), which gave up its
    /// lease, so the guard of having heard from it is waived here and by the voters.
    async fn start_election(&mut self, transfer: bool) {
        self.reset_election();
        if !self.can_vote() || (self.hears_leader() && !transfer) {
            // Not within the minimum election timeout of hearing from a leader (an early timer,
            // `spurious-election-timeout`): its own vote would count against the lease.
            return;
        }
        self.meta.term += 1;
        self.meta.voted_for = Some(self.ctx.id());
        self.leader_hint = None;
        if !self.persist_meta().await {
            return; // not durable: stand again at the next timeout
        }
        self.role = Role::Candidate {
            votes: BTreeSet::from([self.ctx.id()]),
        };
        for p in self.ctx.peers() {
            self.ctx.send(
                p,
                Msg::RequestVote {
                    term: self.meta.term,
                    last_index: self.log.len(),
                    last_term: self.log.last_term(),
                    transfer,
                },
            );
        }
        self.maybe_win();
    }

    fn maybe_win(&mut self) {
        let n = self.ctx.servers();
        let Role::Candidate { votes } = &self.role else {
            return;
        };
        if votes.len() < majority(n) {
            return;
        }
        let term = self.meta.term;
        self.ctx.observe("leader-elected", &json!({ "term": term }));
        let mut matched = vec![0; n];
        matched[self.ctx.id()] = self.log.len();
        self.role = Role::Leader {
            next: vec![self.log.len() + 1; n],
            matched,
            last_sent: vec![self.ctx.instant(); n],
            acked: vec![None; n],
            transfer: None,
        };
        self.lease = None;
        self.leader_hint = Some(self.ctx.id());
        self.next_beat = self.ctx.instant() + HEARTBEAT;
        self.in_log = (1..=self.log.len())
            .map(|i| self.log.get(i).cmd().op_id)
            .collect();
        self.broadcast();
    }

    /// Sends `to` the entries from its next index on, and assumes they arrive (pipelining): a
    /// lost message shows as a failed log-matching check on the next one, which rewinds `next`.
    /// Without this, every acknowledgement of a heartbeat would resend the entries in flight.
    fn send_append(&mut self, to: usize) {
        let Role::Leader {
            next, last_sent, ..
        } = &mut self.role
        else {
            return;
        };
        let prev_index = next[to] - 1;
        let entries = self.log.slice_from(next[to], MAX_BATCH);
        next[to] += entries.len();
        let now = self.ctx.instant();
        last_sent[to] = now;
        self.ctx.send(
            to,
            Msg::Append {
                term: self.meta.term,
                prev_index,
                prev_term: self.log.term_at(prev_index).expect("next <= len + 1"),
                entries,
                commit: self.commit,
                last: self.log.len(),
                sent: (now - self.epoch).as_nanos() as u64,
            },
        );
    }

    fn broadcast(&mut self) {
        for p in self.ctx.peers() {
            self.send_append(p);
        }
    }

    /// Heartbeats to the nodes that have not heard from this leader for half a period: while
    /// requests flow, their AppendEntries already keep followers from standing for election.
    fn heartbeat(&mut self) {
        let Role::Leader { last_sent, .. } = &self.role else {
            return;
        };
        let due = self.ctx.instant() - HEARTBEAT / 2;
        let idle: Vec<usize> = self.ctx.peers().filter(|&p| last_sent[p] <= due).collect();
        for p in idle {
            self.send_append(p);
        }
    }

    /// Commits the highest index a majority holds, if its entry is from the current term
    /// (`commit-old-term`: any term), and applies what became committed.
    fn advance_commit(&mut self) {
        let n = self.ctx.servers();
        let Role::Leader { matched, .. } = &self.role else {
            return;
        };
        let mut m = matched.clone();
        m.sort_unstable_by(|a, b| b.cmp(a));
        let replicated = m[majority(n) - 1];
        let mut target = self.commit;
        for i in (self.commit + 1..=replicated).rev() {
            if self.bug == Bug::CommitOldTerm || self.log.term_at(i) == Some(self.meta.term) {
                target = i;
                break;
            }
        }
        for i in self.commit + 1..=target {
            self.ctx.observe("committed", &self.log.fact(i));
        }
        self.commit = target;
        self.apply();
    }

    /// Applies committed entries in order; answers the clients waiting on them.
    fn apply(&mut self) {
        while self.applied < self.commit {
            self.applied += 1;
            let i = self.applied;
            let e = self.log.get(i).clone();
            self.ctx.observe("applied", &self.log.fact(i));
            let op_id = e.cmd().op_id;
            let result = match self.results.get(&op_id) {
                Some(r) => r.clone(), // a retry logged twice: applied once
                None => {
                    let r = self.execute(e.cmd());
                    self.results.insert(op_id, r.clone());
                    r
                }
            };
            if let Some(client) = self.waiting.remove(&op_id) {
                self.ctx.send(client, Msg::Reply { id: op_id, result });
            }
        }
    }

    /// The key-value state machine: registers or lists, as the workload's operations say.
    fn execute(&mut self, cmd: &Command) -> Result<Value, String> {
        faultline::workload::apply(&mut self.kv, &cmd.f, &cmd.key, &cmd.value)
    }

    async fn on_request(&mut self, from: usize, id: u64, op: Invocation) {
        if self.bug == Bug::LeaderLocalRead && self.is_leader() && op.f == "read" {
            let key = op.key.as_deref().unwrap_or_default();
            let v = self.kv.get(key).cloned().unwrap_or(Value::Null);
            self.ctx.send(from, Msg::Reply { id, result: Ok(v) });
            return;
        }
        if op.f == "read" && self.lease_holds() {
            // No other leader can exist and everything committed is applied here.
            let key = op.key.as_deref().unwrap_or_default();
            let v = self.kv.get(key).cloned().unwrap_or(Value::Null);
            self.ctx.send(from, Msg::Reply { id, result: Ok(v) });
            return;
        }
        if !self.is_leader() {
            let hint = self.leader_hint;
            self.ctx.send(from, Msg::NotLeader { id, hint });
            return;
        }
        if let Some(result) = self.results.get(&id) {
            let result = result.clone();
            self.ctx.send(from, Msg::Reply { id, result });
            return;
        }
        if let Role::Leader {
            transfer: Some(t), ..
        } = &self.role
        {
            // No new proposals while handing over (the target must catch up): the client
            // retries at the target, which leads soon (or redirects back if it is aborted).
            let hint = Some(t.target);
            self.ctx.send(from, Msg::NotLeader { id, hint });
            return;
        }
        if !self.in_log.insert(id) {
            // Already logged (a retry or a duplicate): answered when applied.
            self.waiting.insert(id, from);
            return;
        }
        let early_ack =
            self.bug == Bug::AckUnapplied && matches!(op.f.as_str(), "write" | "append");
        if !early_ack {
            self.waiting.insert(id, from);
        }
        let cmd = Command {
            op_id: id,
            key: op.key.unwrap_or_default(),
            f: op.f,
            value: op.value,
        };
        self.log.push(Entry::new(self.meta.term, cmd));
        // The leader counts its own copy only once it is durable (a failed write or fsync is
        // retried with the next request or heartbeat).
        let durable = self.persist(true).await;
        if early_ack {
            // `ack-unapplied`: "it is in my log, so it will commit" (it will not if this leader
            // is deposed before a majority has it).
            let result = Ok(Value::Null);
            self.ctx.send(from, Msg::Reply { id, result });
        }
        if durable {
            self.count_own_copy();
        }
        self.broadcast();
        self.advance_commit();
    }

    /// The leader's own durable copy counts towards commitment.
    fn count_own_copy(&mut self) {
        let len = self.log.len();
        if let Role::Leader { matched, .. } = &mut self.role {
            matched[self.ctx.id()] = len;
        }
    }

    async fn on_request_vote(
        &mut self,
        from: usize,
        term: u64,
        (last_index, last_term): (usize, u64),
        transfer: bool,
    ) {
        if self.hears_leader() && !transfer {
            // The lease's other half (Raft thesis §6.4): within the minimum election timeout
            // of hearing from a leader, neither adopt the candidate's term nor vote for it.
            let term = self.meta.term;
            self.ctx.send(
                from,
                Msg::Vote {
                    term,
                    granted: false,
                },
            );
            return;
        }
        let before = self.meta;
        if term > self.meta.term {
            self.become_follower(term);
        }
        let up_to_date = (last_term, last_index) >= (self.log.last_term(), self.log.len());
        let granted = term == self.meta.term
            && self.can_vote()
            && self.meta.voted_for.unwrap_or(from) == from
            && (up_to_date || self.bug == Bug::NoVoteLogCheck);
        if granted {
            self.meta.voted_for = Some(from);
            self.reset_election();
        }
        if (self.meta != before || !self.settled()) && !self.persist_meta().await {
            return; // a vote that is not durable is not given
        }
        let term = self.meta.term;
        self.ctx.send(from, Msg::Vote { term, granted });
    }

    async fn on_vote(&mut self, from: usize, term: u64, granted: bool) {
        if term > self.meta.term {
            self.become_follower(term);
            self.reset_election();
            self.persist_meta().await;
            return;
        }
        if let Role::Candidate { votes } = &mut self.role {
            if term == self.meta.term && granted {
                votes.insert(from);
                self.maybe_win();
            }
        }
    }

    async fn on_append(
        &mut self,
        from: usize,
        term: u64,
        (prev_index, prev_term): (usize, u64),
        entries: Vec<Entry>,
        (commit, last, sent): (usize, usize, u64),
    ) {
        if term < self.meta.term {
            // A stale leader (or a late message of an earlier term): tell it the current term.
            // `matched: 0` marks this as no retry point, since the answer may reach a node that
            // leads the current term and must not rewind on it.
            let term = self.meta.term;
            self.ctx.send(
                from,
                Msg::AppendResp {
                    term,
                    success: false,
                    matched: 0,
                    sent,
                },
            );
            return;
        }
        let before = self.meta;
        self.become_follower(term);
        self.leader_hint = Some(from);
        self.heard_leader = Some(self.ctx.instant());
        self.reset_election();
        // A faulty entry at or before `prev_index` fails the check: the leader must re-send it
        // (and must not count this node as holding it).
        let faulty = self.log.first_faulty().filter(|&f| f <= prev_index);
        if faulty.is_some() || self.log.term_at(prev_index) != Some(prev_term) {
            // Log-matching check failed: tell the leader where to retry from.
            let retry = if let Some(f) = faulty {
                f
            } else if prev_index > self.log.len() {
                self.log.len() + 1
            } else {
                self.log.first_of_term(prev_index)
            };
            if self.meta != before {
                self.persist_meta().await;
            }
            self.ctx.send(
                from,
                Msg::AppendResp {
                    term,
                    success: false,
                    matched: retry.min(prev_index).max(1),
                    sent,
                },
            );
            return;
        }
        let mut changed = false;
        for (k, e) in entries.iter().enumerate() {
            let index = prev_index + 1 + k;
            if self.log.is_faulty(index) {
                self.log.repair(index, e.clone());
                changed = true;
                continue;
            }
            match self.log.term_at(index) {
                Some(t) if t == e.term => {} // the same entry (log matching)
                Some(_) if self.bug == Bug::NoTruncate => {} // keeps its conflicting entry
                Some(_) => {
                    self.log.truncate_from(index);
                    self.log.push(e.clone());
                    changed = true;
                }
                None => {
                    self.log.push(e.clone());
                    changed = true;
                }
            }
        }
        let matched = prev_index + entries.len();
        if changed || !self.settled() {
            let lazy = self.bug == Bug::AckBeforeFsync;
            if !self.persist(!lazy).await {
                return; // not durable: no acknowledgement (the leader re-sends)
            }
            if lazy && !self.log.is_durable() && self.lazy_sync.is_none() {
                self.lazy_sync = Some(self.ctx.instant() + LAZY_FSYNC);
            }
        }
        if self.meta.repairing && matched >= last && self.log.is_durable() {
            // The log matches the leader's whole log, durably: it holds every committed entry
            // again, so the node may vote. (If this write fails the disk still says
            // `repairing`, which only keeps the node out of elections after a restart.)
            self.meta.repairing = false;
            self.persist_meta().await;
        }
        // Only entries known to match the leader's log may be committed here.
        self.commit = self.commit.max(commit.min(matched));
        self.apply();
        self.ctx.send(
            from,
            Msg::AppendResp {
                term,
                success: true,
                matched,
                sent,
            },
        );
    }

    async fn on_append_resp(
        &mut self,
        from: usize,
        term: u64,
        success: bool,
        matched_at: usize,
        sent: u64,
    ) {
        if term > self.meta.term {
            self.become_follower(term);
            self.reset_election();
            self.persist_meta().await;
            return;
        }
        if term != self.meta.term {
            return;
        }
        let len = self.log.len();
        let epoch = self.epoch;
        let Role::Leader { acked, .. } = &mut self.role else {
            return;
        };
        if success || matched_at > 0 {
            // The follower took this round as from its leader (a log-matching failure too) and
            // restarted its election timer on receipt: the round counts for the lease.
            // (`matched: 0` answers an earlier term's round, which it did not take.)
            let at = epoch + Duration::from_nanos(sent);
            if acked[from].is_none_or(|t| t < at) {
                acked[from] = Some(at);
                self.renew_lease();
            }
        }
        let Role::Leader { next, matched, .. } = &mut self.role else {
            return;
        };
        if success {
            matched[from] = matched[from].max(matched_at);
            let before = next[from];
            next[from] = next[from].max(matched_at + 1);
            // Entries not sent yet (a batch was capped): keep the follower catching up — but
            // only on news. A duplicated or stale answer must not trigger another send, or a
            // duplicating network doubles the traffic every round trip.
            let behind = next[from] > before && next[from] <= len;
            self.advance_commit();
            self.maybe_tell_target();
            if behind {
                self.send_append(from);
            }
        } else if matched_at > 0 && matched_at < next[from] {
            // Trust the follower even below `matched`: a correct follower never loses what it
            // acknowledged, but one that acked before its fsync (a bug variant) does, and must
            // still be able to catch up.
            next[from] = matched_at;
            self.send_append(from);
        }
    }

    /// Reached at each heartbeat (`transfer-leadership`): hands leadership to the most
    /// up-to-date follower, as an operator does before restarting the leader's machine. The
    /// leader gives up its lease first: the target may win while this node still leads.
    fn maybe_start_transfer(&mut self) {
        let now = self.ctx.instant();
        let term = self.meta.term;
        let Role::Leader {
            matched, transfer, ..
        } = &mut self.role
        else {
            return;
        };
        if let Some(t) = transfer {
            if now >= t.until {
                // Not elected in time (the target is cut off or lost the election): take
                // proposals again. No lease in this term (see `handed_over`).
                *transfer = None;
            }
            return;
        }
        if !self
            .ctx
            .buggify_rate("transfer-leadership", TRANSFER_PER_HEARTBEAT)
        {
            return;
        }
        let me = self.ctx.id();
        // The most up-to-date follower (the lowest id among equals): the quickest to catch up.
        let Some(target) = (0..matched.len())
            .filter(|&p| p != me)
            .max_by_key(|&p| (matched[p], std::cmp::Reverse(p)))
        else {
            return;
        };
        *transfer = Some(Transfer {
            target,
            told: false,
            until: now + TRANSFER_TIMEOUT,
        });
        self.ctx.observe(
            "transfer-leadership",
            &json!({ "term": term, "to": target }),
        );
        self.handed_over = Some(term);
        if self.bug != Bug::LeaseAfterStepDown {
            self.lease = None;
        }
        self.maybe_tell_target();
        self.send_append(target);
    }

    /// Sends `TimeoutNow` to the transfer's target once its log durably matches the leader's.
    fn maybe_tell_target(&mut self) {
        let len = self.log.len();
        let term = self.meta.term;
        let Role::Leader {
            matched,
            transfer: Some(t),
            ..
        } = &mut self.role
        else {
            return;
        };
        if t.told || matched[t.target] < len {
            return;
        }
        t.told = true;
        let target = t.target;
        self.ctx.send(target, Msg::TimeoutNow { term });
    }

    /// The leader of `term` hands leadership over: stand at once (a stale order, of an earlier
    /// term, is ignored).
    async fn on_timeout_now(&mut self, term: u64) {
        if term != self.meta.term || self.is_leader() {
            return;
        }
        self.start_election(true).await;
    }

    async fn handle(&mut self, from: usize, msg: Msg) {
        match msg {
            Msg::Request { id, op } => self.on_request(from, id, op).await,
            Msg::RequestVote {
                term,
                last_index,
                last_term,
                transfer,
            } => {
                self.on_request_vote(from, term, (last_index, last_term), transfer)
                    .await
            }
            Msg::TimeoutNow { term } => self.on_timeout_now(term).await,
            Msg::Vote { term, granted } => self.on_vote(from, term, granted).await,
            Msg::Append {
                term,
                prev_index,
                prev_term,
                entries,
                commit,
                last,
                sent,
            } => {
                let tail = (commit, last, sent);
                self.on_append(from, term, (prev_index, prev_term), entries, tail)
                    .await
            }
            Msg::AppendResp {
                term,
                success,
                matched,
                sent,
            } => {
                self.on_append_resp(from, term, success, matched, sent)
                    .await
            }
            Msg::Reply { .. } | Msg::NotLeader { .. } => {}
        }
    }
}

/// A node whose metadata cannot be read: it may have voted in a term it cannot know, so it takes
/// no part in the protocol (see the module doc); clients are redirected.
async fn passive(ctx: &NodeCtx<Msg>) {
    loop {
        if let (from, Msg::Request { id, .. }) = ctx.recv().await {
            ctx.send(from, Msg::NotLeader { id, hint: None });
        }
    }
}

/// The server loop of one node, from its durable state.
pub(crate) async fn run(ctx: &NodeCtx<Msg>, bug: Bug) {
    let disk = ctx.disk();
    let (meta_store, meta) = MetaStore::load(ctx, &disk, bug).await;
    let Loaded { log, lost_tail } = Log::load(ctx, &disk, bug).await;
    let Some(mut meta) = meta else {
        return passive(ctx).await;
    };
    // A lost tail is recorded before the unreadable bytes are dropped by the rewrite below.
    meta.repairing |= lost_tail;
    let fresh = meta == Meta::default() && log.len() == 0;
    let mut s = Server {
        ctx,
        disk,
        bug,
        meta,
        // What was read is made durable before the node acts on it (after a failed fsync and
        // a process crash, the page cache may show what the disk lacks): force a rewrite.
        meta_written: if fresh {
            meta
        } else {
            Meta {
                term: u64::MAX,
                ..meta
            }
        },
        meta_store,
        log,
        role: Role::Follower,
        commit: 0,
        applied: 0,
        kv: BTreeMap::new(),
        results: BTreeMap::new(),
        in_log: BTreeSet::new(),
        waiting: BTreeMap::new(),
        leader_hint: None,
        election_deadline: ctx.instant(),
        lazy_sync: None,
        next_beat: ctx.instant(),
        epoch: ctx.instant(),
        // A restarted node may have acknowledged a leader just before it went down, and that
        // leader's lease counts on it: it keeps the guard for a full minimum election timeout
        // from boot. (A fresh node has no term, so it acknowledged no leader.)
        heard_leader: (!fresh).then(|| ctx.instant()),
        lease: None,
        handed_over: None,
    };
    if !fresh {
        // If this fails, the next persist retries; nothing is acknowledged until it succeeds.
        s.persist(true).await;
    }
    s.reset_election();
    if fresh && ctx.id() == 0 {
        // A fresh cluster: node 0 stands first, so runs start with a leader quickly.
        s.election_deadline = ctx.instant() + Duration::from_millis(10);
    }
    loop {
        let mut deadline = if s.is_leader() {
            s.next_beat
        } else {
            s.election_deadline
        };
        if let Some(t) = s.lazy_sync {
            deadline = deadline.min(t);
        }
        match ctx.recv_until(deadline).await {
            Some((from, msg)) => s.handle(from, msg).await,
            None => {
                let now = ctx.instant();
                if s.lazy_sync.is_some_and(|t| t <= now) {
                    s.lazy_sync = None;
                    s.log.sync_file(bug).await;
                } else if s.is_leader() {
                    // Heartbeats are sent below.
                } else if now >= s.election_deadline {
                    s.start_election(false).await;
                }
            }
        }
        if s.is_leader() && ctx.instant() >= s.next_beat {
            if !s.settled() && s.persist(true).await {
                // A write or fsync failed earlier: the leader's copy counts once durable.
                s.count_own_copy();
                s.advance_commit();
            }
            s.maybe_start_transfer();
            s.heartbeat();
            s.next_beat = ctx.instant() + HEARTBEAT;
        }
    }
}
