//! One node's durable, versioned key-value store with last-writer-wins merging, and the hints
//! it holds for other nodes.
use faultline::prelude::*;
use faultline::Message;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A last-writer-wins version: the coordinator's local clock (ms), then its id to break ties.
/// A skewed clock therefore orders writes wrongly: that is the point of the clock-skew faults.
pub type Version = (i64, usize);

/// A value with its version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Versioned {
    pub value: Value,
    pub version: Version,
}

/// The node's replicas of the keys it owns, persisted one file per key.
pub struct Store {
    items: BTreeMap<String, Versioned>,
}

impl Store {
    /// Loads what survived on disk (`keys` lists the files written so far).
    pub fn load<M: Message>(ctx: &NodeCtx<M>) -> Store {
        let disk = ctx.disk();
        let keys: Vec<String> = disk.get("keys").unwrap_or_default();
        let items = keys
            .into_iter()
            .filter_map(|k| disk.get(&format!("key/{k}")).map(|v| (k, v)))
            .collect();
        Store { items }
    }

    pub fn get(&self, key: &str) -> Option<&Versioned> {
        self.items.get(key)
    }

    pub fn items(&self) -> &BTreeMap<String, Versioned> {
        &self.items
    }

    /// Merges `item` (last writer wins) and, when it is newer, writes it durably and reports the
    /// replica's new state for the convergence and lost-update checkers. Returns whether it
    /// changed anything.
    pub async fn merge<M: Message>(
        &mut self,
        ctx: &NodeCtx<M>,
        key: &str,
        item: &Versioned,
        replicas: &[usize],
    ) -> bool {
        if self
            .items
            .get(key)
            .is_some_and(|cur| cur.version >= item.version)
        {
            return false;
        }
        let disk = ctx.disk();
        let new_key = !self.items.contains_key(key);
        self.items.insert(key.to_string(), item.clone());
        if new_key {
            disk.put("keys", &self.items.keys().collect::<Vec<_>>());
        }
        disk.put(&format!("key/{key}"), item);
        disk.fsync().await;
        ctx.observe(
            faultline_checkers::convergence::REPLICA_STATE,
            &json!({
                "key": key,
                "value": item.value,
                "version": [item.version.0, item.version.1],
                "replicas": replicas,
            }),
        );
        true
    }
}

/// Writes held for a replica that could not be reached (hinted handoff), in memory: a crash of
/// the holder loses them, which is one reason anti-entropy is needed.
#[derive(Default)]
pub struct Hints {
    by_target: BTreeMap<(usize, String), Versioned>,
}

impl Hints {
    /// Keeps the newest hint per target and key.
    pub fn add(&mut self, target: usize, key: &str, item: &Versioned) {
        let e = self
            .by_target
            .entry((target, key.to_string()))
            .or_insert_with(|| item.clone());
        if item.version > e.version {
            *e = item.clone();
        }
    }

    /// The target acknowledged `version` of `key`: the hint is delivered (unless a newer one
    /// arrived meanwhile).
    pub fn delivered(&mut self, target: usize, key: &str, version: Version) {
        let k = (target, key.to_string());
        if self.by_target.get(&k).is_some_and(|h| h.version <= version) {
            self.by_target.remove(&k);
        }
    }

    pub fn all(&self) -> impl Iterator<Item = (usize, &str, &Versioned)> {
        self.by_target.iter().map(|((t, k), v)| (*t, k.as_str(), v))
    }

    /// The newest hint this node holds for `key`, for any target (a sloppy read may use it).
    pub fn newest(&self, key: &str) -> Option<&Versioned> {
        self.by_target
            .iter()
            .filter(|((_, k), _)| k == key)
            .map(|(_, v)| v)
            .max_by_key(|v| v.version)
    }
}
