//! The config group: a replicated shard map (which group serves which shard), and the mover its
//! primary runs to move shards between groups while clients keep working.
//!
//! A move is three logged steps, so a new config primary resumes a half-done move: `move-begin`
//! in the config log; then `freeze` in the old group's log (it stops serving the shard and hands
//! back its data) and `install` in the new group's log (it starts serving it with that data);
//! then `move-done` in the config log, which updates the map. Between the freeze and the
//! install nobody serves the shard: the price of consistency.
use super::shard::move_value;
use super::Layout;
use crate::replication::{Entry, Msg, Replica, StateMachine};
use faultline::prelude::*;
use serde_json::{json, Value};
use std::time::Duration;

/// How often the mover starts a move.
const MOVE_EVERY: Duration = Duration::from_millis(700);
/// How long the mover waits for a group before asking again (another member, a new id).
const RETRY: Duration = Duration::from_millis(150);
/// How long a `migration-step-delayed` holds the next step of a move back.
const STEP_DELAY: Duration = Duration::from_millis(400);

/// A move in progress, as the config log records it.
#[derive(Clone, Debug, PartialEq)]
pub struct Move {
    pub id: u64,
    pub shard: usize,
    pub from: usize,
    pub to: usize,
}

pub struct ConfigState {
    layout: Layout,
    /// Shard → group.
    map: Vec<usize>,
    version: u64,
    moving: Option<Move>,
}

impl ConfigState {
    pub fn new(layout: Layout) -> Self {
        let mut s = ConfigState {
            layout,
            map: vec![],
            version: 0,
            moving: None,
        };
        s.reset();
        s
    }

    /// How many moves the map has seen.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Shard → group.
    pub fn map(&self) -> &[usize] {
        &self.map
    }
}

impl StateMachine for ConfigState {
    fn apply(&mut self, e: &Entry) -> Result<Value, String> {
        let id = e.value["id"].as_u64().unwrap_or(0);
        match e.f.as_str() {
            "move-begin" => {
                if self.moving.is_some() {
                    return Err("a move is in progress".into());
                }
                let shard = e.value["shard"].as_u64().unwrap_or(0) as usize % self.map.len();
                let to = e.value["to"].as_u64().unwrap_or(0) as usize % self.layout.groups;
                let from = self.map[shard];
                if from == to {
                    return Err("already there".into());
                }
                self.moving = Some(Move {
                    id,
                    shard,
                    from,
                    to,
                });
                Ok(Value::Null)
            }
            "move-done" => match &self.moving {
                Some(m) if m.id == id => {
                    self.map[m.shard] = m.to;
                    self.version += 1;
                    self.moving = None;
                    Ok(Value::Null)
                }
                _ => Err("no such move".into()),
            },
            _ => Ok(json!({"map": self.map, "version": self.version})),
        }
    }

    fn reset(&mut self) {
        self.map = (0..self.layout.shards)
            .map(|s| self.layout.initial_group(s))
            .collect();
        self.version = 0;
        self.moving = None;
    }

    fn read_local(&self, _key: &str) -> Value {
        json!({"map": self.map, "version": self.version})
    }
}

enum Phase {
    Freeze,
    Install(Value),
    Done,
}

/// The config primary's driver of the current move (volatile: the log says which move is
/// current, and every step is idempotent, so a new primary just starts over at the freeze).
pub struct Mover {
    layout: Layout,
    current: Option<(u64, Phase)>,
    /// The request in flight: its id, and the group member it went to.
    asked: Option<(u64, usize)>,
    /// Per group: the member to ask next (a guess at its primary).
    guess: Vec<usize>,
    counter: u64,
    next_move: Instant,
    pub deadline: Instant,
}

impl Mover {
    pub fn new(layout: Layout, now: Instant) -> Mover {
        Mover {
            layout,
            current: None,
            asked: None,
            guess: vec![0; layout.groups],
            counter: 0,
            next_move: now + MOVE_EVERY,
            deadline: now + MOVE_EVERY,
        }
    }

    /// A fresh request id: above every client id, unique per (epoch, counter), so a retry is
    /// never mistaken for a duplicate of an earlier request.
    fn fresh_id(&mut self, epoch: u64) -> u64 {
        self.counter += 1;
        (1 << 62) | (epoch << 24) | self.counter
    }

    /// Appends an entry to the config log, as this primary's own client.
    async fn propose(&mut self, r: &mut Replica<'_, Msg, ConfigState>, f: &str, value: Value) {
        let Some(epoch) = r.epoch_led() else { return };
        let id = self.fresh_id(epoch);
        let op = Invocation {
            f: f.to_string(),
            key: None,
            value,
        };
        let from = r.id();
        r.handle(from, Msg::Request { id, op }).await;
    }

    /// Sends the current step of the move to the group it concerns.
    fn ask(&mut self, ctx: &NodeCtx<Msg>, epoch: u64, group: usize, f: &str, value: Value) {
        let id = self.fresh_id(epoch);
        let members = self.layout.group_members(group);
        let node = members[self.guess[group] % members.len()];
        self.asked = Some((id, node));
        ctx.send(
            node,
            Msg::Request {
                id,
                op: Invocation {
                    f: f.to_string(),
                    key: None,
                    value,
                },
            },
        );
    }

    /// Advances the move (or starts one); called on the config primary when `deadline` passes.
    pub async fn tick(&mut self, ctx: &NodeCtx<Msg>, r: &mut Replica<'_, Msg, ConfigState>) {
        let now = ctx.instant();
        self.on_retry();
        self.deadline = now + RETRY;
        let Some(epoch) = r.epoch_led() else { return };
        let Some(m) = r.state().moving.clone() else {
            self.current = None;
            if now >= self.next_move {
                self.next_move = now + MOVE_EVERY;
                let (shard, hop) = {
                    let mut rng = ctx.rng();
                    (
                        rng.gen_range(0..self.layout.shards),
                        rng.gen_range(1..self.layout.groups),
                    )
                };
                let to = (r.state().map[shard] + hop) % self.layout.groups;
                let id = self.fresh_id(epoch);
                self.propose(r, "move-begin", json!({"id": id, "shard": shard, "to": to}))
                    .await;
            }
            return;
        };
        if self.current.as_ref().map(|c| c.0) != Some(m.id) {
            self.current = Some((m.id, Phase::Freeze));
        }
        match &self.current.as_ref().expect("set").1 {
            Phase::Freeze => {
                let v = move_value(m.id, m.shard, None);
                self.ask(ctx, epoch, m.from, "freeze", v);
            }
            Phase::Install(data) => {
                let v = move_value(m.id, m.shard, Some(data));
                self.ask(ctx, epoch, m.to, "install", v);
            }
            Phase::Done => {
                self.propose(r, "move-done", json!({"id": m.id})).await;
            }
        }
    }

    /// A group answered (or redirected) the mover's request. Buggify point
    /// `migration-step-delayed`: the step done, the mover takes 400 ms before the next one (a
    /// slow data copy, a mover descheduled between the freeze and the install): the shard is
    /// served by nobody meanwhile and clients' maps age.
    pub fn on_answer(&mut self, ctx: &NodeCtx<Msg>, from: usize, msg: &Msg) {
        let now = ctx.instant();
        let Some((asked, node)) = self.asked else {
            return;
        };
        match msg {
            Msg::Reply { id, result } if *id == asked => {
                self.asked = None;
                if let (Some((_, phase)), Ok(data)) = (self.current.as_mut(), result) {
                    *phase = match phase {
                        Phase::Freeze => Phase::Install(data.clone()),
                        _ => Phase::Done,
                    };
                }
                self.deadline = if ctx.buggify("migration-step-delayed") {
                    now + STEP_DELAY
                } else {
                    now
                };
            }
            Msg::NotPrimary { id, hint } if *id == asked && from == node => {
                self.asked = None;
                let group = self.layout.group_of(node);
                let members = self.layout.group_members(group);
                self.guess[group] = match hint.and_then(|h| members.iter().position(|m| *m == h)) {
                    Some(i) if members[i] != node => i,
                    _ => self.guess[group] + 1,
                };
                self.deadline = now;
            }
            _ => {}
        }
    }

    /// No answer in time: ask the next member.
    fn on_retry(&mut self) {
        if let Some((_, node)) = self.asked.take() {
            let group = self.layout.group_of(node);
            self.guess[group] += 1;
        }
    }
}
