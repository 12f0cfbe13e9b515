//! The per-node disk model. madsim's file system keeps unsynced data across a kill, so the harness
//! owns the crash semantics: writes are volatile until `fsync`, a crash loses every unsynced write,
//! and a restarted node sees only durable state.
use crate::world::World;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

/// How long an fsync takes in simulated time. A crash during it loses the writes it covers.
const FSYNC_LATENCY: Duration = Duration::from_micros(500);

#[derive(Default)]
pub(crate) struct DiskState {
    /// What reads see: durable state plus unsynced writes.
    current: BTreeMap<String, Vec<u8>>,
    /// What survives a crash.
    durable: BTreeMap<String, Vec<u8>>,
    dirty: BTreeSet<String>,
}

impl DiskState {
    /// Power loss: forget every write since the last completed fsync.
    pub fn crash(&mut self) {
        for f in std::mem::take(&mut self.dirty) {
            match self.durable.get(&f) {
                Some(v) => {
                    self.current.insert(f, v.clone());
                }
                None => {
                    self.current.remove(&f);
                }
            }
        }
    }

    fn sync(&mut self) {
        for f in std::mem::take(&mut self.dirty) {
            match self.current.get(&f) {
                Some(v) => {
                    self.durable.insert(f, v.clone());
                }
                None => {
                    self.durable.remove(&f);
                }
            }
        }
    }
}

/// A node's disk: named files, written in memory and made durable by [`Disk::fsync`].
///
/// ```no_run
/// # async fn f(ctx: faultline_harness::NodeCtx<()>) {
/// let disk = ctx.disk();
/// disk.put("term", &7u64);
/// disk.fsync().await;            // only now does `term` survive a crash
/// assert_eq!(disk.get::<u64>("term"), Some(7));
/// # }
/// ```
pub struct Disk<M: 'static> {
    world: Rc<World<M>>,
    node: usize,
}

impl<M: 'static> Disk<M> {
    pub(crate) fn new(world: Rc<World<M>>, node: usize) -> Self {
        Disk { world, node }
    }

    fn with<R>(&self, f: impl FnOnce(&mut DiskState) -> R) -> R {
        let mut core = self.world.core.borrow_mut();
        f(&mut core.disks[self.node])
    }

    /// Replaces a file's contents (volatile until fsync).
    pub fn write(&self, file: &str, data: Vec<u8>) {
        self.with(|d| {
            d.current.insert(file.to_string(), data);
            d.dirty.insert(file.to_string());
        })
    }

    /// Appends to a file (volatile until fsync).
    pub fn append(&self, file: &str, data: &[u8]) {
        self.with(|d| {
            d.current
                .entry(file.to_string())
                .or_default()
                .extend_from_slice(data);
            d.dirty.insert(file.to_string());
        })
    }

    pub fn remove(&self, file: &str) {
        self.with(|d| {
            d.current.remove(file);
            d.dirty.insert(file.to_string());
        })
    }

    /// The file as this node sees it now (unsynced writes included).
    pub fn read(&self, file: &str) -> Option<Vec<u8>> {
        self.with(|d| d.current.get(file).cloned())
    }

    /// Writes a value as JSON (volatile until fsync).
    pub fn put<T: Serialize>(&self, file: &str, value: &T) {
        self.write(
            file,
            serde_json::to_vec(value).expect("disk values serialize"),
        );
    }

    /// Reads a value written by [`Disk::put`]; `None` if absent or unreadable.
    pub fn get<T: DeserializeOwned>(&self, file: &str) -> Option<T> {
        self.with(|d| {
            d.current
                .get(file)
                .and_then(|b| serde_json::from_slice(b).ok())
        })
    }

    /// Makes every write so far durable. Takes simulated time; a crash before it returns loses
    /// the writes.
    pub async fn fsync(&self) {
        madsim::time::sleep(FSYNC_LATENCY).await;
        self.with(DiskState::sync);
    }
}

/// Crash semantics applied by the nemesis.
pub(crate) fn crash_disk<M: 'static>(world: &World<M>, node: usize) {
    world.core.borrow_mut().disks[node].crash();
}
