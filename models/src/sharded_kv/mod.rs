//! `sharded-kv`: partitioning *and* replication, as in Bigtable, MongoDB's sharded clusters or
//! CockroachDB's ranges. CP.
//!
//! Keys are split into shards, spread over three **shard groups**; each group replicates its
//! shards with the epoch-fenced primary-backup log of [`crate::replication`], so different
//! groups hold different data (partitioning) and each group's members hold the same
//! (replication). A small **config group**, replicated the same way, holds the shard map, and
//! its primary keeps **moving shards** between groups while clients work (see [`config`]).
//! Clients cache the map and refresh it when it is old or a group refuses a key it no longer
//! owns. Every operation is linearizable per key: ownership is checked in the group's log, in
//! order, so a group stops serving a shard exactly where its log froze it.
//!
//! Nodes: the config group is nodes 0..3, then each shard group's members in turn (default 12
//! nodes: 3 config + 3 groups of 3).
//!
//! Workloads: `append` (the default: list-append, where each lost write shows by itself) and
//! `register` (`--workload register`), one key per shard.
//!
//! Bug variant:
//! - `stale-shard-map`: a group that hands a shard over keeps serving it, so clients with an old
//!   map keep reading and writing a copy nobody else sees.
mod client;
pub mod config;
mod shard;

use crate::replication::{Flaw, Msg, Replica};
use config::{ConfigState, Mover};
use faultline::prelude::*;
use shard::ShardState;

/// Shards (one per workload key).
const SHARDS: usize = 6;
/// Shard groups.
const GROUPS: usize = 3;
/// Config group members.
const CONFIG_SIZE: usize = 3;

/// The shard of a key `k<i>`.
pub(crate) fn shard_of(key: &str) -> usize {
    key.trim_start_matches('k').parse::<usize>().unwrap_or(0) % SHARDS
}

/// Which nodes do what.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub shards: usize,
    pub groups: usize,
    pub group_size: usize,
}

impl Layout {
    fn new(nodes: usize) -> Result<Layout, String> {
        if nodes < CONFIG_SIZE + GROUPS || !(nodes - CONFIG_SIZE).is_multiple_of(GROUPS) {
            return Err(format!(
                "sharded-kv needs {CONFIG_SIZE} config nodes plus {GROUPS} equal groups \
                 (e.g. --nodes 12), not {nodes}"
            ));
        }
        Ok(Layout {
            shards: SHARDS,
            groups: GROUPS,
            group_size: (nodes - CONFIG_SIZE) / GROUPS,
        })
    }

    pub fn config_members(&self) -> Vec<usize> {
        (0..CONFIG_SIZE).collect()
    }

    pub fn group_members(&self, g: usize) -> Vec<usize> {
        let base = CONFIG_SIZE + g * self.group_size;
        (base..base + self.group_size).collect()
    }

    /// The shard group of a (non-config) node.
    pub fn group_of(&self, node: usize) -> usize {
        (node - CONFIG_SIZE) / self.group_size
    }

    pub fn initial_group(&self, shard: usize) -> usize {
        shard % self.groups
    }
}

pub struct ShardedKv {
    layout: Layout,
    stale_map: bool,
    /// A client's cached shard map and primary guesses (unused by server nodes).
    client: client::ClientState,
    workload: Workload,
}

/// The workload when `--workload` is not given: list-append sees every lost write.
const DEFAULT_WORKLOAD: &str = "append";

impl ShardedKv {
    pub fn new(cfg: &ModelConfig) -> Result<Self, String> {
        let stale_map = match cfg.bug.as_deref() {
            None => false,
            Some("stale-shard-map") => true,
            Some(other) => return Err(format!("unknown bug `{other}`")),
        };
        Ok(ShardedKv {
            layout: Layout::new(cfg.nodes)?,
            stale_map,
            client: client::ClientState::default(),
            workload: Workload::named(cfg.workload_or(DEFAULT_WORKLOAD))?.keys(SHARDS),
        })
    }

    async fn config_node(&self, ctx: &NodeCtx<Msg>) {
        let members = self.layout.config_members();
        let mut r = Replica::new(ctx, members, Flaw::None, ConfigState::new(self.layout));
        let mut mover = Mover::new(self.layout, ctx.instant());
        let mut seen_version = 0;
        loop {
            match ctx.recv_until(r.deadline().min(mover.deadline)).await {
                Some((from, msg @ (Msg::Reply { .. } | Msg::NotPrimary { .. }))) => {
                    mover.on_answer(ctx, from, &msg)
                }
                Some((from, msg)) => r.handle(from, msg).await,
                None => {}
            }
            if ctx.instant() >= r.deadline() {
                r.on_timeout().await;
            }
            r.after_event();
            if ctx.instant() >= mover.deadline {
                mover.tick(ctx, &mut r).await;
            }
            if r.state().version() != seen_version {
                // Each config replica reports the map it applied: the shard moves, in the trace.
                seen_version = r.state().version();
                ctx.observe(
                    "shard-map",
                    &serde_json::json!({"version": seen_version, "map": r.state().map()}),
                );
            }
        }
    }

    async fn shard_node(&self, ctx: &NodeCtx<Msg>) {
        let g = self.layout.group_of(ctx.id());
        let state = ShardState::new(g, self.layout, self.stale_map);
        let mut r = Replica::new(ctx, self.layout.group_members(g), Flaw::None, state);
        loop {
            match ctx.recv_until(r.deadline()).await {
                Some((from, msg)) => r.handle(from, msg).await,
                None => r.on_timeout().await,
            }
            r.after_event();
        }
    }
}

/// The registered model.
pub fn model() -> Model {
    Model::new("sharded-kv", ShardedKv::new)
        .describe(
            "keys partitioned over 3 replicated shard groups; a replicated config group moves \
             shards between them during the run",
        )
        .version("1")
        .bug(
            "stale-shard-map",
            "a group keeps serving a shard after handing it over: clients with an old map \
             read and write a copy nobody else sees",
        )
        .workloads(&["append", "register"])
        .nodes(CONFIG_SIZE + GROUPS * 3)
}

/// The replica's points (`crate::replication::POINTS`) and the mover's
/// `migration-step-delayed` (see [`config::Mover::on_answer`]).
const BUGGIFY_POINTS: &[&str] = &[
    "slow-fsync",
    "spurious-failover-timeout",
    "reply-lost-after-commit",
    "migration-step-delayed",
];

impl Protocol for ShardedKv {
    type Msg = Msg;

    fn buggify_points(&self) -> &'static [&'static str] {
        BUGGIFY_POINTS
    }

    fn wire_codec(&self) -> Option<faultline::protocol::WireCodec<Msg>> {
        Some(faultline::protocol::WireCodec::serde())
    }

    fn cap(&self) -> Cap {
        Cap::CP
    }

    // Elected leaders (`leader-elected`): swarm aims crashes, pauses and isolations at them.
    fn roles(&self) -> Roles {
        Roles::LEADER
    }

    async fn node(&self, ctx: NodeCtx<Msg>) {
        if ctx.id() < CONFIG_SIZE {
            self.config_node(&ctx).await
        } else {
            self.shard_node(&ctx).await
        }
    }

    async fn call(&self, c: &ClientCtx<Msg>, id: u64, op: &Invocation) -> Outcome {
        client::call(&self.layout, &self.client, c, id, op).await
    }

    fn workload(&self) -> Workload {
        self.workload.clone()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_points_include_every_replica_point() {
        for p in crate::replication::POINTS {
            assert!(super::BUGGIFY_POINTS.contains(p), "{p}");
        }
    }
}
