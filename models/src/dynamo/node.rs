//! One dynamo node: it coordinates the client requests it receives (sloppy quorum, hinted
//! handoff, read repair), serves as a replica for the keys the ring gives it, and runs the
//! background loops that repair what the foreground missed (handoff, anti-entropy).
use super::msg::Msg;
use super::ring::Ring;
use super::store::{Hints, Store, Versioned};
use super::{Bug, Params};
use faultline::prelude::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How long a coordinator waits for each phase (home replicas, then fallbacks).
const STAGE: Duration = Duration::from_millis(120);
/// How often a hint holder retries delivering its hints.
const HANDOFF_EVERY: Duration = Duration::from_millis(150);
/// How often a node compares digests with every peer.
const ANTI_ENTROPY_EVERY: Duration = Duration::from_millis(400);

/// A client request being coordinated.
struct Pending {
    client: usize,
    id: u64,
    key: String,
    replicas: Vec<usize>,
    /// The stamped item, for a write; `None` for a read.
    write: Option<Versioned>,
    /// Nodes that acknowledged the write (replicas or fallbacks).
    acks: BTreeSet<usize>,
    /// Replicas' answers to a read.
    replies: Vec<(usize, Option<Versioned>)>,
    /// Fallbacks asked to hold a write for an unreachable replica: (fallback, replica).
    sloppy: Vec<(usize, usize)>,
    answered: bool,
    stage: u8,
    deadline: Instant,
}

pub struct Node<'a> {
    ctx: &'a NodeCtx<Msg>,
    params: Params,
    bug: Bug,
    ring: Ring,
    store: Store,
    hints: Hints,
    pending: BTreeMap<u64, Pending>,
    next_req: u64,
    /// The last timestamp this node stamped a write with: stamps only grow, so two writes it
    /// coordinates in the same millisecond (say, a backlog handled after a pause) never share a
    /// version — equal versions with different values would never converge.
    last_stamp: i64,
}

impl<'a> Node<'a> {
    pub fn new(ctx: &'a NodeCtx<Msg>, params: Params, bug: Bug) -> Node<'a> {
        Node {
            ctx,
            params,
            bug,
            ring: Ring::new(ctx.servers()),
            store: Store::load(ctx),
            hints: Hints::default(),
            pending: BTreeMap::new(),
            next_req: 0,
            last_stamp: i64::MIN / 2,
        }
    }

    fn me(&self) -> usize {
        self.ctx.id()
    }

    fn replicas(&self, key: &str) -> Vec<usize> {
        self.ring.replicas(key, self.params.n)
    }

    /// The server loop: messages, coordinator deadlines, handoff and anti-entropy ticks.
    pub async fn run(mut self) {
        let ctx = self.ctx;
        let mut next_handoff = ctx.instant() + HANDOFF_EVERY;
        let mut next_sync = ctx.instant() + ANTI_ENTROPY_EVERY;
        loop {
            let mut deadline = next_handoff.min(next_sync);
            if let Some(d) = self.pending.values().map(|p| p.deadline).min() {
                deadline = deadline.min(d);
            }
            if let Some((from, msg)) = ctx.recv_until(deadline).await {
                self.handle(from, msg).await;
            }
            let now = ctx.instant();
            let due: Vec<u64> = self
                .pending
                .iter()
                .filter(|(_, p)| p.deadline <= now)
                .map(|(r, _)| *r)
                .collect();
            for req in due {
                self.on_deadline(req).await;
            }
            // A hint holder that stalls (its hint store busy, a long GC): this round's handoff
            // is skipped, the replica stays behind for one more period.
            if now >= next_handoff && ctx.buggify("handoff-stalls") {
                next_handoff = now + HANDOFF_EVERY;
            }
            if now >= next_handoff {
                for (target, key, item) in self.hints.all() {
                    ctx.send(
                        target,
                        Msg::Handoff {
                            key: key.to_string(),
                            item: item.clone(),
                        },
                    );
                }
                next_handoff = now + HANDOFF_EVERY;
            }
            if now >= next_sync {
                if self.bug != Bug::NoAntiEntropy {
                    self.send_digests();
                }
                next_sync = now + ANTI_ENTROPY_EVERY;
            }
        }
    }

    async fn handle(&mut self, from: usize, msg: Msg) {
        let ctx = self.ctx;
        match msg {
            Msg::Request { id, op } => self.coordinate(from, id, op).await,
            Msg::Put {
                req,
                key,
                item,
                hint_for,
            } => {
                // A replica under load drops a write it was sent, unapplied and unacknowledged
                // (Cassandra's "dropped mutations": a mutation that waited in the queue past
                // its timeout is discarded). The coordinator's quorum comes from the other
                // replicas or a fallback; this replica has missed the write, and only
                // anti-entropy (or a read repair) brings it back. Reached at every replica
                // write: 1/20 of them are dropped (at 1/4 the node is simply overloaded).
                if hint_for.is_none()
                    && req != 0
                    && ctx.buggify_rate("replica-drops-mutation", 0.05)
                {
                    return;
                }
                match hint_for {
                    Some(target) => self.hints.add(target, &key, &item),
                    None => {
                        let replicas = self.replicas(&key);
                        self.store.merge(ctx, &key, &item, &replicas).await;
                    }
                }
                if req != 0 {
                    ctx.send(from, Msg::PutAck { req });
                }
            }
            Msg::PutAck { req } => self.acked(req, from),
            Msg::Get { req, key } => {
                let item = self.store.get(&key).cloned();
                ctx.send(from, Msg::GetReply { req, item });
            }
            Msg::GetReply { req, item } => {
                if let Some(p) = self.pending.get_mut(&req) {
                    if p.write.is_none() && !p.replies.iter().any(|(n, _)| *n == from) {
                        p.replies.push((from, item));
                        self.read_progress(req).await;
                    }
                }
            }
            Msg::Handoff { key, item } => {
                let replicas = self.replicas(&key);
                self.store.merge(ctx, &key, &item, &replicas).await;
                let version = item.version;
                ctx.send(from, Msg::HandoffAck { key, version });
            }
            Msg::HandoffAck { key, version } => self.hints.delivered(from, &key, version),
            Msg::Digest { versions } => self.on_digest(from, versions),
            Msg::Sync { items, want } => {
                for (key, item) in items {
                    let replicas = self.replicas(&key);
                    if replicas.contains(&self.me()) {
                        self.store.merge(ctx, &key, &item, &replicas).await;
                    }
                }
                let items: Vec<(String, Versioned)> = want
                    .into_iter()
                    .filter_map(|k| self.store.get(&k).cloned().map(|v| (k, v)))
                    .collect();
                if !items.is_empty() {
                    ctx.send(
                        from,
                        Msg::Sync {
                            items,
                            want: vec![],
                        },
                    );
                }
            }
            Msg::Inspect { keys } => {
                let values = keys
                    .into_iter()
                    .filter(|k| self.replicas(k).contains(&self.me()))
                    .map(|k| {
                        let v = self.store.get(&k).map_or(Value::Null, |i| i.value.clone());
                        (k, v)
                    })
                    .collect();
                ctx.send(from, Msg::State { values });
            }
            Msg::Reply { .. } | Msg::State { .. } => {}
        }
    }

    /// Starts coordinating a client's read or write: ask every replica of the key.
    async fn coordinate(&mut self, client: usize, id: u64, op: Invocation) {
        let ctx = self.ctx;
        let key = op.key.clone().unwrap_or_default();
        let replicas = self.replicas(&key);
        self.next_req += 1;
        let req = self.next_req;
        let write = (op.f == "write").then(|| Versioned {
            value: op.value.clone(),
            version: {
                self.last_stamp = ctx.clock_ms().max(self.last_stamp + 1);
                (self.last_stamp, self.me())
            },
        });
        if let Some(item) = &write {
            ctx.observe(
                faultline_checkers::lost_update::WRITE_STAMPED,
                &json!({"key": key, "value": item.value, "version": [item.version.0, item.version.1]}),
            );
        }
        self.pending.insert(
            req,
            Pending {
                client,
                id,
                key: key.clone(),
                replicas: replicas.clone(),
                write: write.clone(),
                acks: BTreeSet::new(),
                replies: Vec::new(),
                sloppy: Vec::new(),
                answered: false,
                stage: 1,
                deadline: ctx.instant() + STAGE,
            },
        );
        for &r in &replicas {
            match &write {
                Some(item) if r == self.me() => {
                    self.store.merge(ctx, &key, item, &replicas).await;
                    self.acked(req, r);
                }
                Some(item) => ctx.send(
                    r,
                    Msg::Put {
                        req,
                        key: key.clone(),
                        item: item.clone(),
                        hint_for: None,
                    },
                ),
                None if r == self.me() => {
                    let item = self.store.get(&key).cloned();
                    if let Some(p) = self.pending.get_mut(&req) {
                        p.replies.push((r, item));
                    }
                    self.read_progress(req).await;
                }
                None => ctx.send(
                    r,
                    Msg::Get {
                        req,
                        key: key.clone(),
                    },
                ),
            }
        }
    }

    fn reply(&self, p: &Pending, result: Result<Value, String>) {
        self.ctx.send(p.client, Msg::Reply { id: p.id, result });
    }

    /// A replica or fallback acknowledged a write: answer once `w` nodes hold it.
    fn acked(&mut self, req: u64, from: usize) {
        let w = self.params.w;
        let Some(p) = self.pending.get_mut(&req) else {
            return;
        };
        p.acks.insert(from);
        if !p.answered && p.acks.len() >= w {
            p.answered = true;
            let p = &self.pending[&req];
            self.reply(p, Ok(Value::Null));
        }
    }

    /// A read answers once `r` replicas replied (the newest version wins) and is repaired once
    /// all have.
    async fn read_progress(&mut self, req: u64) {
        let r = self.params.r;
        let Some(p) = self.pending.get_mut(&req) else {
            return;
        };
        if !p.answered && p.replies.len() >= r {
            p.answered = true;
            let value = newest(p.replies.iter().map(|(_, i)| i.as_ref()))
                .map(|i| i.value.clone())
                .unwrap_or(Value::Null);
            let p = &self.pending[&req];
            self.reply(p, Ok(value));
        }
        let p = &self.pending[&req];
        if p.replies.len() == p.replicas.len() {
            let p = self.pending.remove(&req).expect("present");
            self.read_repair(&p).await;
        }
    }

    /// Brings every replica that answered a read with an older version up to the newest.
    async fn read_repair(&mut self, p: &Pending) {
        let ctx = self.ctx;
        let Some(newest) = newest(p.replies.iter().map(|(_, i)| i.as_ref())).cloned() else {
            return;
        };
        for (node, item) in &p.replies {
            if item.as_ref().is_some_and(|i| i.version >= newest.version) {
                continue;
            }
            if *node == self.me() {
                self.store.merge(ctx, &p.key, &newest, &p.replicas).await;
            } else {
                ctx.send(
                    *node,
                    Msg::Put {
                        req: 0,
                        key: p.key.clone(),
                        item: newest.clone(),
                        hint_for: None,
                    },
                );
            }
        }
    }

    /// A coordinator phase timed out: widen to fallbacks (sloppy quorum), or answer with what
    /// there is — an AP store answers whenever it is reachable.
    async fn on_deadline(&mut self, req: u64) {
        let Some(mut p) = self.pending.remove(&req) else {
            return;
        };
        let Some(item) = p.write.clone() else {
            // A read: answer from whatever replied, plus what this node itself knows.
            if !p.answered {
                if self.bug == Bug::StrictQuorum {
                    self.reply(&p, Err("read quorum unreachable".into()));
                } else {
                    let mine = [self.store.get(&p.key), self.hints.newest(&p.key)];
                    let best = newest(
                        p.replies
                            .iter()
                            .map(|(_, i)| i.as_ref())
                            .chain(mine.iter().copied()),
                    );
                    self.reply(&p, Ok(best.map(|i| i.value.clone()).unwrap_or(Value::Null)));
                }
            }
            self.read_repair(&p).await;
            return;
        };
        if p.acks.len() >= self.params.w {
            // The quorum held; a straggler is anti-entropy's job.
            return;
        }
        if p.stage == 1 {
            if self.bug == Bug::StrictQuorum {
                self.reply(&p, Err("write quorum unreachable".into()));
                return;
            }
            // Sloppy quorum: the next nodes on the ring hold the write for the missing replicas.
            let missing: Vec<usize> = p
                .replicas
                .iter()
                .copied()
                .filter(|r| !p.acks.contains(r))
                .collect();
            let fallbacks: Vec<usize> = self
                .ring
                .walk(&p.key)
                .into_iter()
                .skip(p.replicas.len())
                .collect();
            for (target, fallback) in missing.iter().zip(&fallbacks) {
                p.sloppy.push((*fallback, *target));
                if *fallback == self.me() {
                    self.hints.add(*target, &p.key, &item);
                    p.acks.insert(self.me());
                } else {
                    self.ctx.send(
                        *fallback,
                        Msg::Put {
                            req,
                            key: p.key.clone(),
                            item: item.clone(),
                            hint_for: Some(*target),
                        },
                    );
                }
            }
            for target in missing.iter().skip(fallbacks.len()) {
                p.sloppy.push((self.me(), *target));
                self.hints.add(*target, &p.key, &item);
            }
            p.stage = 2;
            p.deadline = self.ctx.instant() + STAGE;
            let done = p.acks.len() >= self.params.w;
            if done && !p.answered {
                p.answered = true;
                self.reply(&p, Ok(Value::Null));
            }
            self.pending.insert(req, p);
            return;
        }
        // Stage 2: whatever no fallback took, this node holds as a hint itself, and answers.
        for (fallback, target) in &p.sloppy {
            if !p.acks.contains(fallback) {
                self.hints.add(*target, &p.key, &item);
            }
        }
        if !p.answered {
            self.reply(&p, Ok(Value::Null));
        }
    }

    /// Anti-entropy: tell every peer the versions of the keys both replicate.
    fn send_digests(&self) {
        for peer in self.ctx.peers() {
            let versions: Vec<_> = self
                .store
                .items()
                .iter()
                .filter(|(k, _)| self.replicas(k).contains(&peer))
                .map(|(k, v)| (k.clone(), v.version))
                .collect();
            if !versions.is_empty() {
                self.ctx.send(peer, Msg::Digest { versions });
            }
        }
    }

    /// Compares a peer's digest with this node's store: send what is newer here, ask for what
    /// is newer there.
    fn on_digest(&self, from: usize, versions: Vec<(String, super::store::Version)>) {
        let theirs: BTreeMap<String, super::store::Version> = versions.into_iter().collect();
        let items: Vec<(String, Versioned)> = self
            .store
            .items()
            .iter()
            .filter(|(k, v)| {
                self.replicas(k).contains(&from) && theirs.get(*k).is_none_or(|t| *t < v.version)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let want: Vec<String> = theirs
            .iter()
            .filter(|(k, t)| {
                self.replicas(k).contains(&self.me())
                    && self.store.get(k).is_none_or(|mine| mine.version < **t)
            })
            .map(|(k, _)| k.clone())
            .collect();
        if !items.is_empty() || !want.is_empty() {
            self.ctx.send(from, Msg::Sync { items, want });
        }
    }
}

/// The item with the highest version.
fn newest<'a>(items: impl Iterator<Item = Option<&'a Versioned>>) -> Option<&'a Versioned> {
    items.flatten().max_by_key(|i| i.version)
}
