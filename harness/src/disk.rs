//! The per-node disk model. madsim's file system keeps unsynced data across a kill, so the harness
//! owns the crash semantics: writes are volatile until `fsync`, a crash loses every unsynced write,
//! and a restarted node sees only durable state.
use crate::disk_state::{Dirty, DiskState};
use crate::world::World;
use rand_chacha::ChaCha8Rng;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::rc::Rc;
use std::time::Duration;

/// How long an fsync takes in simulated time. A crash during it loses the writes it covers.
const FSYNC_LATENCY: Duration = Duration::from_micros(500);

/// A node's disk: named files, written in memory and made durable by [`Disk::fsync`].
///
/// ```no_run
/// # async fn f(ctx: faultline::NodeCtx<()>) {
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
            d.mark(file, Dirty::Replaced);
        })
    }

    /// Appends to a file (volatile until fsync).
    pub fn append(&self, file: &str, data: &[u8]) {
        self.with(|d| {
            let cur = d.current.entry(file.to_string()).or_default();
            let before = cur.len();
            cur.extend_from_slice(data);
            d.mark(file, Dirty::Appended(before));
        })
    }

    /// Removes `file` (durable only after the next [`fsync`](Disk::fsync)).
    pub fn remove(&self, file: &str) {
        self.with(|d| {
            d.current.remove(file);
            d.mark(file, Dirty::Replaced);
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
pub(crate) fn crash_disk<M: 'static>(world: &World<M>, node: usize, torn: Option<&mut ChaCha8Rng>) {
    world.core.borrow_mut().disks[node].crash(torn);
}
