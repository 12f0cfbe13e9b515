//! The nemesis: starts and ends each step's fault at its time, fires triggered steps when their
//! observation comes, and resolves roles (`node: leader`) when a step starts.
//!
//! Determinism: every choice the nemesis makes (which follower, which partition, how much of a
//! torn write survives) comes from a ChaCha stream derived from the seed and the step's index, so
//! a reproducer that names the resolved nodes replays the very same run.
use crate::corruption::Budget;
use crate::disk::{arm_misdirect, corrupt_disk, crash_disk, set_disk_errors};
use crate::netsim::SocketNet;
use crate::recording::FaultEvent;
use crate::schedule::{self, ClientSet, Count, Fault, NodeRef, Select, Shape, Step};
use crate::world::{Watch, World};
use madsim::runtime::{Handle, NodeHandle};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeSet;
use std::rc::Rc;

/// What the nemesis does at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Action {
    End(usize),
    Start(usize),
}

pub(crate) struct Nemesis<M: 'static> {
    world: Rc<World<M>>,
    handle: Handle,
    servers: Vec<NodeHandle>,
    steps: Vec<Step>,
    seed: u64,
    /// Pending actions by (time ns, order): at one instant, ends come before starts, and lower
    /// steps first.
    queue: BTreeSet<(u64, usize, Action)>,
    /// The concrete fault each started step applied (what its end undoes).
    applied: Vec<Option<Fault>>,
    down: Vec<u32>,
    paused: Vec<u32>,
    /// madsim's own network, which every network fault reaches too (socket traffic).
    sockets: SocketNet,
    /// Which nodes `corrupt`/`misdirect` struck so far, against the protocol's budget.
    budget: Budget,
    /// The drift the protocol tolerates (`Protocol::max_drift`): clock-skew windows are clamped to it.
    max_drift: f64,
    /// The clients' madsim nodes (`c0` first), which client faults crash and restart.
    clients: Vec<NodeHandle>,
}

fn order(a: Action) -> usize {
    match a {
        Action::End(i) => 2 * i,
        Action::Start(i) => 2 * i + 1,
    }
}

impl<M: Clone + 'static> Nemesis<M> {
    pub fn new(
        world: Rc<World<M>>,
        handle: Handle,
        servers: Vec<NodeHandle>,
        steps: Vec<Step>,
        seed: u64,
        corruption_budget: usize,
        max_drift: f64,
    ) -> Self {
        let mut queue = BTreeSet::new();
        {
            let mut core = world.core.borrow_mut();
            core.ran = vec![None; steps.len()];
            for (i, s) in steps.iter().enumerate() {
                match &s.after {
                    None => {
                        queue.insert((
                            s.at_ms * 1_000_000,
                            order(Action::Start(i)),
                            Action::Start(i),
                        ));
                    }
                    Some(a) => core.watches.push(Watch {
                        step: i,
                        kind: a.kind.clone(),
                        from_ns: s.at_ms * 1_000_000,
                        remaining: a.nth,
                    }),
                }
            }
        }
        let n = servers.len();
        let sockets = SocketNet::new(servers.iter().map(NodeHandle::id).collect());
        Nemesis {
            sockets,
            world,
            handle,
            servers,
            applied: vec![None; steps.len()],
            steps,
            seed,
            queue,
            down: vec![0; n],
            paused: vec![0; n],
            budget: Budget::new(corruption_budget),
            max_drift,
            clients: Vec::new(),
        }
    }

    /// Gives the nemesis the clients' nodes (`c0` first), for client faults.
    pub fn set_clients(&mut self, clients: Vec<NodeHandle>) {
        self.world.core.borrow_mut().client_slots =
            clients.iter().map(|_| Default::default()).collect();
        self.clients = clients;
    }

    /// The client a `client: any` step strikes: one with an operation in flight if there is
    /// one (the interesting moment), else one still working, else any.
    fn pick_client(&self, rng: &mut ChaCha8Rng) -> usize {
        let core = self.world.core.borrow();
        let slots = &core.client_slots;
        let busy: Vec<usize> = (0..slots.len())
            .filter(|&c| slots[c].inflight.is_some())
            .collect();
        let working: Vec<usize> = (0..slots.len()).filter(|&c| !slots[c].finished).collect();
        let pool = if !busy.is_empty() { busy } else { working };
        pool.choose(rng).copied().unwrap_or(0)
    }

    /// When the next timed action is due (ns since the start), if any.
    pub fn next_due(&self) -> Option<u64> {
        self.queue.first().map(|(t, _, _)| *t)
    }

    /// Schedules the steps whose triggers fired, `delay_ms` after their observation.
    pub fn take_fired(&mut self) {
        let fired = std::mem::take(&mut self.world.core.borrow_mut().fired);
        for f in fired {
            let step = &mut self.steps[f.step];
            let delay = step.after.as_ref().map_or(0, |a| a.delay_ms);
            let at = f.at_ns + delay * 1_000_000;
            step.trigger = Some(format!(
                "after {} by n{} at {:.1} ms{}",
                step.after.as_ref().map_or("", |a| a.kind.as_str()),
                f.node,
                f.at_ns as f64 / 1e6,
                if delay > 0 {
                    format!(" +{delay} ms")
                } else {
                    String::new()
                }
            ));
            // Recorded now, not when it starts: a step that fired but never started (the
            // workload ended first) still woke the nemesis, so a replay must fire it too.
            let mut pending = step.clone();
            if let Some(t) = &mut pending.trigger {
                t.push_str("; never started (the workload ended first)");
            }
            self.world.core.borrow_mut().ran[f.step] = Some(pending);
            self.queue
                .insert((at, order(Action::Start(f.step)), Action::Start(f.step)));
        }
    }

    /// Applies every action due at or before `now_ns`.
    pub fn apply_due(&mut self, now_ns: u64) {
        while let Some(&(t, o, a)) = self.queue.first() {
            if t > now_ns {
                break;
            }
            self.queue.remove(&(t, o, a));
            self.apply(a, t);
        }
    }

    /// The final phase: every active fault ends.
    pub fn end_all(&mut self) {
        self.queue.clear();
        self.world.core.borrow_mut().watches.clear();
        for i in 0..self.steps.len() {
            self.apply(Action::End(i), 0);
        }
        // Every step's end undid its part already; this only makes the heal unconditional.
        self.sockets.heal();
    }

    fn rng(&self, step: usize) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(
            self.seed
                ^ 0x6e65_6d65_7369_7300
                ^ (step as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        )
    }

    /// The stream a step's effects draw from (torn writes, disk-error windows, strikes). Apart
    /// from the stream [`Nemesis::rng`] resolves the step with, so a reproducer, which records
    /// the resolved nodes and so skips the resolution's draws, replays the same effects.
    fn effect_rng(&self, step: usize) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(
            self.seed
                ^ 0x6566_6665_6374_7300
                ^ (step as u64 + 1).wrapping_mul(0xd1b5_4a32_d192_ed03),
        )
    }

    fn up(&self, n: usize) -> bool {
        self.world.core.borrow().nodes[n].up
    }

    /// The live node holding `role`, if any: the latest observation of kind `role` or
    /// `role-elected`, made by a node that is up.
    fn role_holder(&self, role: &str, rng: &mut ChaCha8Rng) -> Result<usize, String> {
        let n = self.servers.len();
        let live: Vec<usize> = (0..n).filter(|&i| self.up(i)).collect();
        let latest = |role: &str| {
            let elected = format!("{role}-elected");
            let core = self.world.core.borrow();
            core.observations
                .iter()
                .rev()
                .find(|o| o.node < n && (o.kind == role || o.kind == elected))
                .map(|o| o.node)
        };
        match role {
            "any" => live.choose(rng).copied().ok_or("no live node".into()),
            "follower" => {
                let leader = latest("leader");
                let f: Vec<usize> = live.into_iter().filter(|&i| Some(i) != leader).collect();
                f.choose(rng).copied().ok_or("no live follower".into())
            }
            _ => match latest(role) {
                Some(node) if self.up(node) => Ok(node),
                Some(node) => Err(format!("the {role} (n{node}) is down")),
                None => Err(format!("no node has observed `{role}` yet")),
            },
        }
    }

    fn node_ref(&self, r: &NodeRef, rng: &mut ChaCha8Rng) -> Result<usize, String> {
        match r {
            NodeRef::Id(n) => Ok(*n),
            NodeRef::Role(role) => self.role_holder(role, rng),
        }
    }

    /// The step's fault with concrete nodes, or why it cannot start.
    fn resolve(&self, i: usize, rng: &mut ChaCha8Rng) -> Result<Fault, String> {
        let step = &self.steps[i];
        let n = self.servers.len();
        let mut fault = step.fault.clone();
        if let Fault::ClientCrash { clients } | Fault::ClientPartition { clients, .. } = &mut fault
        {
            // `any` and `all` become ids, so the reproducer names who was struck.
            if !matches!(clients, ClientSet::Ids(_)) {
                let pick = match clients {
                    ClientSet::Any => self.pick_client(rng),
                    _ => 0,
                };
                *clients = ClientSet::Ids(clients.resolve(self.clients.len(), pick));
            }
        }
        let Some(sel) = &step.select else {
            return Ok(fault);
        };
        match (&mut fault, sel) {
            (
                Fault::Crash { nodes, .. }
                | Fault::Pause { nodes }
                | Fault::Corrupt { nodes }
                | Fault::Misdirect { nodes }
                | Fault::DiskError { nodes, .. }
                | Fault::ClientPartition { nodes, .. },
                Select::Role(r),
            ) => {
                *nodes = vec![self.role_holder(r, rng)?];
            }
            (
                Fault::Crash { nodes, .. }
                | Fault::Pause { nodes }
                | Fault::Corrupt { nodes }
                | Fault::Misdirect { nodes }
                | Fault::DiskError { nodes, .. }
                | Fault::ClientPartition { nodes, .. },
                Select::Count(c),
            ) => {
                let k = match c {
                    Count::Minority => n.saturating_sub(1) / 2,
                    Count::Majority => n / 2 + 1,
                    Count::All => n,
                };
                let mut all: Vec<usize> = (0..n).collect();
                all.shuffle(rng);
                all.truncate(k.max(1));
                all.sort_unstable();
                *nodes = all;
            }
            (Fault::ClockSkew { node, .. }, Select::Role(r)) => {
                *node = self.role_holder(r, rng)?;
            }
            (
                Fault::Link {
                    links: schedule::Links::Node(node),
                    ..
                },
                Select::Role(r),
            ) => {
                *node = self.role_holder(r, rng)?;
            }
            (Fault::Partition { groups, .. }, Select::Shape(shape, centre)) => {
                if n < 2 {
                    return Err("a partition needs two nodes".into());
                }
                let centre = centre.as_ref().map(|c| self.node_ref(c, rng)).transpose()?;
                let ids: Vec<usize> = (0..n).collect();
                let shape = if schedule::shapes_for(n).contains(shape) {
                    *shape
                } else {
                    Shape::Isolate
                };
                *groups = schedule::partition(rng, &ids, shape, centre);
            }
            (f, s) => return Err(format!("`{s}` does not apply to {}", f.kind())),
        }
        Ok(fault)
    }

    fn apply(&mut self, action: Action, at_ns: u64) {
        match action {
            Action::Start(i) => {
                if self.applied[i].is_some() {
                    return;
                }
                let mut rng = self.rng(i);
                let step = self.steps[i].clone();
                match self.resolve(i, &mut rng) {
                    Ok(fault @ (Fault::Corrupt { .. } | Fault::Misdirect { .. })) => {
                        self.strike(i, &step, fault, &mut self.effect_rng(i))
                    }
                    Ok(fault) => {
                        let mut ran = step.clone();
                        if step.select.is_none() && fault != step.fault {
                            // `client: any` / `clients: all`, resolved.
                            let how = format!("{} = {fault}", step.fault);
                            ran.trigger = Some(match &step.trigger {
                                Some(t) if step.after.is_some() => format!("{t}; {how}"),
                                _ => how,
                            });
                            ran.fault = fault.clone();
                        }
                        if let Some(sel) = &step.select {
                            let how = format!("{sel} = {fault}");
                            ran.trigger = Some(match &step.trigger {
                                Some(t) if step.after.is_some() => format!("{t}; {how}"),
                                _ => how,
                            });
                            ran.select = None;
                            ran.fault = fault.clone();
                        }
                        let mut core = self.world.core.borrow_mut();
                        core.ran[i] = Some(ran);
                        core.record_fault(FaultEvent::of(0, "start", i, &fault));
                        drop(core);
                        self.set(i, &fault, true, &mut self.effect_rng(i));
                        // A client crash without a window restarts the client at once.
                        let for_ms = match fault {
                            Fault::ClientCrash { .. } => Some(step.for_ms.unwrap_or(0)),
                            _ => step.for_ms,
                        };
                        self.applied[i] = Some(fault);
                        if let Some(d) = for_ms {
                            let end = at_ns + d * 1_000_000;
                            self.queue
                                .insert((end, order(Action::End(i)), Action::End(i)));
                        }
                    }
                    Err(why) => {
                        // Kept, unresolved, in the reproducer: replaying it skips it the same way.
                        let mut ran = step.clone();
                        ran.trigger = Some(match &step.trigger {
                            Some(t) if step.after.is_some() => format!("{t}; skipped: {why}"),
                            _ => format!("skipped: {why}"),
                        });
                        let mut core = self.world.core.borrow_mut();
                        core.ran[i] = Some(ran);
                        core.record_fault(FaultEvent {
                            phase: "skip".into(),
                            step: i,
                            kind: step.fault.kind().into(),
                            description: format!("{} skipped: {why}", step.fault.kind()),
                            ..FaultEvent::default()
                        });
                    }
                }
            }
            Action::End(i) => {
                let Some(fault) = self.applied[i].take() else {
                    return; // never started, or already ended
                };
                self.world
                    .core
                    .borrow_mut()
                    .record_fault(FaultEvent::of(0, "end", i, &fault));
                self.set(i, &fault, false, &mut self.effect_rng(i));
            }
        }
    }

    /// Lands a `corrupt` or `misdirect` step on each of its nodes the corruption budget admits,
    /// and records every node it skipped with the reason. Instantaneous: nothing to undo.
    fn strike(&mut self, i: usize, step: &Step, fault: Fault, rng: &mut ChaCha8Rng) {
        let kind = fault.kind();
        let mut notes = Vec::new();
        let mut landed = Vec::new();
        for node in fault.nodes() {
            // Each node's damage draws from its own stream, split off the step's.
            let node_rng = ChaCha8Rng::seed_from_u64(rng.gen());
            let outcome = self.budget.check(node).and_then(|()| match &fault {
                Fault::Corrupt { .. } => {
                    let mut node_rng = node_rng;
                    corrupt_disk(&self.world, node, &mut node_rng)
                        .ok_or_else(|| format!("n{node} holds no synced data to damage"))
                }
                _ => {
                    arm_misdirect(&self.world, node, i, node_rng);
                    Ok("armed: its next file write lands at the wrong place".into())
                }
            });
            let (phase, description) = match &outcome {
                Ok(what) => {
                    self.budget.spend(node);
                    landed.push(node);
                    ("strike", format!("{kind} n{node}: {what}"))
                }
                Err(why) => ("skip", format!("{kind} n{node} skipped: {why}")),
            };
            self.world.core.borrow_mut().record_fault(FaultEvent {
                phase: phase.into(),
                step: i,
                kind: kind.into(),
                nodes: vec![node],
                description,
                ..FaultEvent::default()
            });
            let (ok, text) = match outcome {
                Ok(what) => (true, what),
                Err(why) => (false, why),
            };
            notes.push((node, ok, text));
        }
        // The reproducer keeps the resolved nodes and says what each strike did, or why it was
        // skipped (a replay skips it the same way: the budget is the protocol's).
        let mut ran = step.clone();
        let how = match &step.select {
            Some(sel) => format!("{sel} = {fault}; "),
            None => String::new(),
        };
        // "skipped: nX: why" when nothing landed, else each node's outcome.
        let all_skipped = landed.is_empty();
        let told: Vec<String> = notes
            .iter()
            .map(|(node, ok, text)| match (ok, all_skipped) {
                (false, false) => format!("n{node} skipped: {text}"),
                _ => format!("n{node}: {text}"),
            })
            .collect();
        let note = format!(
            "{how}{}{}",
            if all_skipped { "skipped: " } else { "" },
            told.join("; ")
        );
        ran.trigger = Some(match &step.trigger {
            Some(t) if step.after.is_some() => format!("{t}; {note}"),
            _ => note,
        });
        ran.select = None;
        ran.fault = fault;
        self.world.core.borrow_mut().ran[i] = Some(ran);
    }

    /// Starts (`on`) or undoes one concrete fault.
    fn set(&mut self, i: usize, fault: &Fault, on: bool, rng: &mut ChaCha8Rng) {
        match fault {
            Fault::Partition { groups, oneway } => {
                // Links cut by this step that were open: their connections reset (ordered links).
                let mut broken = BTreeSet::new();
                let mut core = self.world.core.borrow_mut();
                let total = core.total_nodes();
                let n = self.servers.len();
                for a in 0..n {
                    for b in 0..n {
                        if Fault::cuts(groups, *oneway, a, b) {
                            let c = &mut core.net.cut[a * total + b];
                            let was = *c;
                            *c = if on { *c + 1 } else { c.saturating_sub(1) };
                            // Socket traffic: clogged on the first cut, unclogged with the last.
                            if (was == 0) != (*c == 0) {
                                self.sockets.set_link(a, b, on);
                                if on {
                                    broken.insert((a.min(b), a.max(b)));
                                }
                            }
                        }
                    }
                }
                drop(core);
                for (a, b) in broken {
                    self.world.reset_connection(a, b);
                }
            }
            Fault::Crash { nodes, power, torn } => {
                for &node in nodes {
                    if on {
                        self.down[node] += 1;
                        if self.down[node] == 1 {
                            self.handle.kill(self.servers[node].id());
                            self.world.core.borrow_mut().nodes[node].up = false;
                            self.world.clear_mailbox(node);
                            let total = self.world.core.borrow().total_nodes();
                            for peer in (0..total).filter(|&p| p != node) {
                                self.world.reset_connection(node, peer);
                            }
                            crash_disk(&self.world, node, *power, torn.then_some(&mut *rng));
                        }
                    } else {
                        self.down[node] -= 1;
                        if self.down[node] == 0 {
                            {
                                let mut core = self.world.core.borrow_mut();
                                core.nodes[node].up = true;
                                core.nodes[node].incarnation += 1;
                            }
                            self.handle.restart(self.servers[node].id());
                            if self.paused[node] > 0 {
                                // A restart runs fresh tasks; a pause still in force holds them.
                                self.handle.pause(self.servers[node].id());
                            }
                        }
                    }
                }
            }
            Fault::DiskError { nodes, op, rate } => {
                for &node in nodes {
                    // Each disk draws its failures from its own stream, split off the step's.
                    let window = on.then(|| (*op, *rate, ChaCha8Rng::seed_from_u64(rng.gen())));
                    set_disk_errors(&self.world, node, i, window);
                }
            }
            // Instantaneous: landed by `strike`, never started or undone here.
            Fault::Corrupt { .. } | Fault::Misdirect { .. } => {}
            Fault::Pause { nodes } => {
                for &node in nodes {
                    let id = self.servers[node].id();
                    if on {
                        self.paused[node] += 1;
                        if self.paused[node] == 1 {
                            self.handle.pause(id);
                        }
                    } else {
                        self.paused[node] -= 1;
                        if self.paused[node] == 0 {
                            self.handle.resume(id);
                        }
                    }
                }
            }
            Fault::Loss { rate } => self.window(i, on, *rate, |n| &mut n.loss),
            Fault::Duplicate { rate } => self.window(i, on, *rate, |n| &mut n.duplicate),
            Fault::Delay {
                mean_ms,
                uniform: false,
            } => self.window(i, on, *mean_ms, |n| &mut n.delay),
            Fault::Delay {
                mean_ms,
                uniform: true,
            } => self.window(i, on, *mean_ms, |n| &mut n.delay_uniform),
            Fault::Link { links, effect } => {
                let mut core = self.world.core.borrow_mut();
                if on {
                    let n = core.total_nodes();
                    let covered = (0..n * n).map(|l| links.covers(l / n, l % n)).collect();
                    core.net.links.push(crate::world::LinkWindow {
                        step: i,
                        covered,
                        effect: *effect,
                    });
                } else {
                    core.net.links.retain(|w| w.step != i);
                }
                // madsim's sockets have no per-link faults: socket traffic is not affected.
            }
            Fault::ClientCrash { clients } => {
                for &c in clients.ids() {
                    self.crash_client(c, on);
                }
            }
            Fault::ClientPartition { clients, nodes } => {
                let mut broken = BTreeSet::new();
                let mut core = self.world.core.borrow_mut();
                let total = core.total_nodes();
                let n = self.servers.len();
                for &c in clients.ids() {
                    for &s in nodes {
                        for (a, b) in [(n + c, s), (s, n + c)] {
                            let cut = &mut core.net.cut[a * total + b];
                            *cut = if on { *cut + 1 } else { cut.saturating_sub(1) };
                            if on && *cut == 1 {
                                broken.insert((a.min(b), a.max(b)));
                            }
                        }
                    }
                }
                drop(core);
                // madsim's sockets know only the servers: a client's socket traffic is not cut.
                for (a, b) in broken {
                    self.world.reset_connection(a, b);
                }
            }
            Fault::ClockSkew {
                node,
                offset_ms,
                drift,
                exceed,
            } => {
                // Within the protocol's declared bound unless the step says `exceed`.
                let bound = self.max_drift * 1000.0;
                let drift = if *exceed {
                    *drift
                } else {
                    drift.clamp(-bound, bound)
                };
                // Windows compose per node (rates multiply, offsets add; crate::clock).
                let mut core = self.world.core.borrow_mut();
                let now = core.now_ns();
                let clock = &mut core.nodes[*node].clock;
                if on {
                    // The composed rate of overlapping windows stays within the bound too.
                    let within = (!*exceed).then_some(self.max_drift);
                    let rate = 1.0 + drift / 1000.0;
                    clock.begin_within(i, offset_ms * 1_000_000, rate, now, within);
                } else {
                    clock.end(i, now);
                }
            }
        }
    }

    /// Crashes client `c` (`on`) or restarts it once no window holds it down. A crash records
    /// the client's operation in flight `info` (it may or may not take effect: its messages are
    /// on the wire), then kills the client's node, which drops its task and everything it
    /// spawned, so no retry of that operation goes on. The restarted client takes a fresh
    /// process (`sim::client_loop`). A client that finished its share is left alone.
    fn crash_client(&mut self, c: usize, on: bool) {
        let n = self.servers.len();
        let id = n + c;
        let mut core = self.world.core.borrow_mut();
        let Some(slot) = core.client_slots.get_mut(c) else {
            return; // validated against the run's clients before it starts
        };
        if on {
            if slot.finished {
                return;
            }
            slot.down += 1;
            if slot.down > 1 {
                return;
            }
            let inflight = slot.inflight.take();
            if let Some((process, inv)) = inflight {
                let now = core.now_ns();
                let mut done = faultline_checkers::Event::complete(
                    process,
                    faultline_checkers::EventType::Info,
                    &inv.f,
                    inv.key.as_deref(),
                    inv.value.clone(),
                    now,
                );
                done.error = Some("client crashed".into());
                core.record_event(done);
            }
            core.nodes[id].up = false;
            drop(core);
            self.handle.kill(self.clients[c].id());
            self.world.clear_mailbox(id);
            let total = self.world.core.borrow().total_nodes();
            for peer in (0..total).filter(|&p| p != id) {
                self.world.reset_connection(id, peer);
            }
        } else {
            if slot.down == 0 {
                return; // it had finished: never crashed
            }
            slot.down -= 1;
            if slot.down > 0 {
                return;
            }
            core.nodes[id].up = true;
            core.nodes[id].incarnation += 1;
            drop(core);
            self.handle.restart(self.clients[c].id());
        }
    }

    fn window(
        &self,
        step: usize,
        on: bool,
        value: f64,
        field: impl FnOnce(&mut crate::world::NetFaults) -> &mut Vec<(usize, f64)>,
    ) {
        let mut core = self.world.core.borrow_mut();
        let v = field(&mut core.net);
        if on {
            v.push((step, value));
        } else {
            v.retain(|(s, _)| *s != step);
        }
        self.sockets.apply(&core.net);
    }
}
