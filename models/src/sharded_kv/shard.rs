//! A shard group's state machine: the registers of the shards it owns, and the two entries that
//! move a shard — `freeze` on the group giving it up, `install` on the group taking it over.
use super::{shard_of, Layout};
use crate::replication::{Entry, StateMachine};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

pub struct ShardState {
    group: usize,
    layout: Layout,
    /// `stale-shard-map`: freezing a shard does not stop serving it.
    keep_serving: bool,
    owned: BTreeSet<usize>,
    kv: BTreeMap<String, Value>,
    /// The data each move took away (a retried freeze answers the same).
    frozen: BTreeMap<u64, Value>,
    /// Moves already installed (a retried install changes nothing).
    installed: BTreeSet<u64>,
}

impl ShardState {
    pub fn new(group: usize, layout: Layout, keep_serving: bool) -> Self {
        let mut s = ShardState {
            group,
            layout,
            keep_serving,
            owned: BTreeSet::new(),
            kv: BTreeMap::new(),
            frozen: BTreeMap::new(),
            installed: BTreeSet::new(),
        };
        s.reset();
        s
    }

    fn freeze(&mut self, id: u64, shard: usize) -> Result<Value, String> {
        if let Some(data) = self.frozen.get(&id) {
            return Ok(data.clone());
        }
        if !self.owned.contains(&shard) {
            return Err(format!("group {} does not own shard {shard}", self.group));
        }
        if !self.keep_serving {
            self.owned.remove(&shard);
        }
        let data: Map<String, Value> = self
            .kv
            .iter()
            .filter(|(k, _)| shard_of(k) == shard)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let data = Value::Object(data);
        self.frozen.insert(id, data.clone());
        Ok(data)
    }

    fn install(&mut self, id: u64, shard: usize, data: &Value) -> Result<Value, String> {
        if self.installed.insert(id) {
            // Whatever this group kept from an earlier ownership is out of date.
            self.kv.retain(|k, _| shard_of(k) != shard);
            if let Some(m) = data.as_object() {
                self.kv
                    .extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            self.owned.insert(shard);
        }
        Ok(Value::Null)
    }
}

impl StateMachine for ShardState {
    fn apply(&mut self, e: &Entry) -> Result<Value, String> {
        let id = e.value["id"].as_u64().unwrap_or(0);
        let shard = e.value["shard"].as_u64().unwrap_or(0) as usize;
        match e.f.as_str() {
            "freeze" => return self.freeze(id, shard),
            "install" => return self.install(id, shard, &e.value["data"]),
            _ => {}
        }
        // The ownership check happens here, in log order: a refused operation certainly did not
        // take effect, and nothing is served once the freeze is applied.
        if !self.owned.contains(&shard_of(&e.key)) {
            return Err(WRONG_GROUP.into());
        }
        faultline::workload::apply(&mut self.kv, &e.f, &e.key, &e.value)
    }
    fn reset(&mut self) {
        self.owned = (0..self.layout.shards)
            .filter(|s| self.layout.initial_group(*s) == self.group)
            .collect();
        self.kv.clear();
        self.frozen.clear();
        self.installed.clear();
    }

    fn read_local(&self, key: &str) -> Value {
        self.kv.get(key).cloned().unwrap_or(Value::Null)
    }
}

/// The refusal a group sends for a key it does not own: the client refreshes its shard map.
pub const WRONG_GROUP: &str = "wrong group";

/// The entry value of a freeze or install.
pub fn move_value(id: u64, shard: usize, data: Option<&Value>) -> Value {
    match data {
        Some(d) => json!({"id": id, "shard": shard, "data": d}),
        None => json!({"id": id, "shard": shard}),
    }
}
