//! The per-node disk: a file API shaped like `std::fs` over the page-cache model of
//! [`crate::disk_state`]. madsim's own file system keeps unsynced data across a kill and knows no
//! power loss, so the harness owns the crash semantics: a process crash keeps unsynced writes, a
//! power loss keeps only what was synced (file data by the file's fsync, names by the directory's).
use crate::disk_error::{DiskError, DiskOp};
use crate::disk_state::{CrashKind, DiskState, Ino, Inode};
use crate::recording::FaultEvent;
use crate::world::World;
use rand_chacha::ChaCha8Rng;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::rc::Rc;
use std::time::Duration;

/// How long an fsync takes in simulated time. A power loss during it loses the writes it covers.
const FSYNC_LATENCY: Duration = Duration::from_micros(500);

/// A node's disk: one directory of named files, in a page cache that survives a process crash
/// and reaches the platter only when synced.
///
/// Two ways to use it:
/// - the file API, shaped like `std::fs` ([`Disk::create`], [`Disk::open`], [`File::write_at`],
///   [`File::sync_data`], [`Disk::rename`], [`Disk::sync_dir`], ...): every call returns a
///   `Result<_, DiskError>` and sees injected I/O errors (the `disk-error` fault); a file's fsync
///   makes only that file's data durable, and a name is durable only once the directory is synced;
/// - the convenience calls ([`Disk::put`], [`Disk::get`], [`Disk::write`], [`Disk::append`],
///   [`Disk::read`], [`Disk::remove`], [`Disk::fsync`]): infallible, never see injected errors,
///   and [`Disk::fsync`] syncs every file and the directory at once (syncfs).
///
/// ```no_run
/// # async fn f(ctx: faultline::NodeCtx<()>) -> Result<(), faultline::DiskError> {
/// let disk = ctx.disk();
/// disk.put("term", &7u64);
/// disk.fsync().await;            // only now does `term` survive a power loss
/// assert_eq!(disk.get::<u64>("term"), Some(7));
///
/// // The same with the file API: write a temporary file, sync it, rename it over the old one,
/// // sync the directory (the atomic-replace idiom).
/// let tmp = disk.create("meta.tmp")?;
/// tmp.write_at(0, b"7")?;
/// tmp.sync_all().await?;
/// disk.rename("meta.tmp", "meta")?;
/// disk.sync_dir().await?;
/// # Ok(()) }
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

    fn file(&self, ino: Ino) -> File<M> {
        File {
            world: self.world.clone(),
            node: self.node,
            ino,
        }
    }

    // ---- the file API ----

    /// Opens an existing file (`NotFound` if there is none).
    pub fn open(&self, name: &str) -> Result<File<M>, DiskError> {
        let ino = self.with(|d| d.lookup(name))?;
        Ok(self.file(ino))
    }

    /// Opens a file, creating it empty if absent (`OpenOptions::new().create(true)`). A new name is
    /// durable only after [`Disk::sync_dir`].
    pub fn open_or_create(&self, name: &str) -> Result<File<M>, DiskError> {
        let ino = self.with(|d| d.open_or_create(name));
        Ok(self.file(ino))
    }

    /// Creates a file, truncating it if it exists (`File::create`).
    pub fn create(&self, name: &str) -> Result<File<M>, DiskError> {
        let f = self.open_or_create(name)?;
        if f.len()? > 0 {
            f.set_len(0)?;
        }
        Ok(f)
    }

    /// Creates a new file (`AlreadyExists` if the name is taken).
    pub fn create_new(&self, name: &str) -> Result<File<M>, DiskError> {
        if self.exists(name) {
            return Err(DiskError::AlreadyExists);
        }
        self.open_or_create(name)
    }

    /// Atomically points `to` at `from`'s file, replacing whatever `to` named (`std::fs::rename`).
    /// Durable only after [`Disk::sync_dir`]: a power loss before it may keep either name.
    pub fn rename(&self, from: &str, to: &str) -> Result<(), DiskError> {
        self.with(|d| d.rename(from, to))
    }

    /// Removes a name (`std::fs::remove_file`); durable only after [`Disk::sync_dir`]. Open
    /// handles keep working until the next crash.
    pub fn remove_file(&self, name: &str) -> Result<(), DiskError> {
        self.with(|d| d.unlink(name))
    }

    /// The names in the directory, sorted (as the page cache sees them).
    pub fn read_dir(&self) -> Result<Vec<String>, DiskError> {
        Ok(self.with(|d| d.names.keys().cloned().collect()))
    }

    /// Whether a file has this name.
    pub fn exists(&self, name: &str) -> bool {
        self.with(|d| d.names.contains_key(name))
    }

    /// Makes the directory's entries (creates, renames, removes) durable: fsync of the
    /// directory. Under a `disk-error` fault on `fsync` it fails with `Eio` and the pending entry
    /// changes are dropped (they stay visible until a power loss; no later sync writes them).
    pub async fn sync_dir(&self) -> Result<(), DiskError> {
        madsim::time::sleep(FSYNC_LATENCY).await;
        self.with(|d| {
            if d.fails(DiskOp::Fsync) {
                d.dir_pending.clear();
                return Err(DiskError::Eio);
            }
            d.sync_dir();
            Ok(())
        })
    }

    // ---- the convenience calls (infallible, no injected errors) ----

    /// Replaces a file's contents atomically, creating it if absent (durable after
    /// [`Disk::fsync`]; a power loss before it keeps the old contents).
    pub fn write(&self, file: &str, data: Vec<u8>) {
        self.with(|d| {
            let ino = d.open_or_create(file);
            d.inode(ino).expect("just opened").replace(data);
        })
    }

    /// Appends to a file, creating it if absent (durable after [`Disk::fsync`]; a torn power loss
    /// before it keeps a strict prefix of the unsynced appends, never all of them).
    pub fn append(&self, file: &str, data: &[u8]) {
        self.with(|d| {
            let ino = d.open_or_create(file);
            let inode = d.inode(ino).expect("just opened");
            inode.write_at(inode.current.len(), data, true);
        })
    }

    /// Removes `file` if present (durable after [`Disk::fsync`]).
    pub fn remove(&self, file: &str) {
        self.with(|d| {
            let _ = d.unlink(file);
        })
    }

    /// The file as this node sees it now (unsynced writes included).
    pub fn read(&self, file: &str) -> Option<Vec<u8>> {
        self.with(|d| d.contents(file).cloned())
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
            d.contents(file)
                .and_then(|b| serde_json::from_slice(b).ok())
        })
    }

    /// Makes every write so far durable, names included (syncfs). Takes simulated time; a power
    /// loss before it returns loses the writes.
    pub async fn fsync(&self) {
        madsim::time::sleep(FSYNC_LATENCY).await;
        self.with(DiskState::sync);
    }
}

/// An open file on a node's [`Disk`], shaped like `std::fs::File` with positional I/O
/// (`FileExt`). The handle names the file, not its name: it keeps working across a rename or a
/// removal of the name, until the node crashes.
///
/// ```no_run
/// # async fn f(ctx: faultline::NodeCtx<()>) -> Result<(), faultline::DiskError> {
/// let log = ctx.disk().open_or_create("log")?;
/// log.append(b"record\n")?;
/// log.sync_data().await?;         // this file's data is durable; its name needs sync_dir
/// assert_eq!(log.read()?, b"record\n");
/// # Ok(()) }
/// ```
pub struct File<M: 'static> {
    world: Rc<World<M>>,
    node: usize,
    ino: Ino,
}

impl<M: 'static> File<M> {
    fn with<R>(
        &self,
        fail: Option<(DiskOp, DiskError)>,
        f: impl FnOnce(&mut Inode) -> R,
    ) -> Result<R, DiskError> {
        let mut core = self.world.core.borrow_mut();
        let d = &mut core.disks[self.node];
        if let Some((op, e)) = fail {
            if d.fails(op) {
                return Err(e);
            }
        }
        Ok(f(d.inode(self.ino)?))
    }

    /// Writes `buf` at `offset` (a write past the end leaves a hole of zeros). Fails with
    /// `NoSpace` under a `disk-error` fault on `write`, writing nothing. Under an armed
    /// `misdirect` fault it lands at the wrong place and still reports success.
    pub fn write_at(&self, offset: u64, buf: &[u8]) -> Result<usize, DiskError> {
        self.write(Some(offset as usize), buf)?;
        Ok(buf.len())
    }

    /// Appends `buf` at the end of the file (under an armed `misdirect` fault, somewhere else).
    pub fn append(&self, buf: &[u8]) -> Result<(), DiskError> {
        self.write(None, buf)
    }

    /// A write at `offset` (`None`: at the end), through the injected faults.
    fn write(&self, offset: Option<usize>, buf: &[u8]) -> Result<(), DiskError> {
        let mut core = self.world.core.borrow_mut();
        let d = &mut core.disks[self.node];
        if d.fails(DiskOp::Write) {
            return Err(DiskError::NoSpace);
        }
        // One branch on an empty Option when no `misdirect` is armed (every run of a protocol
        // whose corruption budget is 0).
        let armed = d.misdirect.is_some();
        let inode = d.inode(self.ino)?;
        let off = offset.unwrap_or(inode.current.len());
        if !armed {
            inode.write_at(off, buf, false);
            return Ok(());
        }
        let (step, mut rng) = d.misdirect.take().expect("armed");
        let what = crate::corruption::misdirect(d, self.ino, off, buf, &mut rng);
        core.record_fault(FaultEvent {
            phase: "hit".into(),
            step,
            kind: "misdirect".into(),
            nodes: vec![self.node],
            description: format!("misdirect n{}: {what}", self.node),
            ..FaultEvent::default()
        });
        Ok(())
    }

    /// Truncates or extends (with zeros) the file to `len` bytes.
    pub fn set_len(&self, len: u64) -> Result<(), DiskError> {
        self.with(Some((DiskOp::Write, DiskError::NoSpace)), |i| {
            i.set_len(len as usize)
        })
    }

    /// The whole file as reads see it (unsynced writes included). Fails with `Eio` under a
    /// `disk-error` fault on `read`.
    pub fn read(&self) -> Result<Vec<u8>, DiskError> {
        self.with(Some((DiskOp::Read, DiskError::Eio)), |i| i.current.clone())
    }

    /// Reads into `buf` from `offset`; returns how many bytes were read (0 at or past the end).
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, DiskError> {
        self.with(Some((DiskOp::Read, DiskError::Eio)), |i| {
            let data = i.current.get(offset as usize..).unwrap_or(&[]);
            let n = data.len().min(buf.len());
            buf[..n].copy_from_slice(&data[..n]);
            n
        })
    }

    /// The file's length in bytes.
    pub fn len(&self) -> Result<u64, DiskError> {
        self.with(None, |i| i.current.len() as u64)
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> Result<bool, DiskError> {
        Ok(self.len()? == 0)
    }

    /// Makes this file's data durable (and only this file's; its name needs
    /// [`Disk::sync_dir`]). Takes simulated time. Under a `disk-error` fault on `fsync` it fails
    /// with `Eio` and the file's unsynced writes are dropped: reads still see them until a power
    /// loss, but no later fsync writes them (fsyncgate), and a retried fsync succeeds.
    pub async fn sync_data(&self) -> Result<(), DiskError> {
        madsim::time::sleep(FSYNC_LATENCY).await;
        let mut core = self.world.core.borrow_mut();
        let d = &mut core.disks[self.node];
        let fails = d.fails(DiskOp::Fsync);
        let inode = d.inode(self.ino)?;
        if fails {
            inode.drop_pending();
            return Err(DiskError::Eio);
        }
        inode.sync();
        Ok(())
    }

    /// The same as [`File::sync_data`]: the model keeps no metadata apart from the length, which
    /// `sync_data` already makes durable.
    pub async fn sync_all(&self) -> Result<(), DiskError> {
        self.sync_data().await
    }
}

/// Crash semantics applied by the nemesis: a process crash keeps the page cache, a power loss
/// keeps what was synced (and, torn, a random prefix of each file's pending writes).
pub(crate) fn crash_disk<M: 'static>(
    world: &World<M>,
    node: usize,
    power: bool,
    torn: Option<&mut ChaCha8Rng>,
) {
    let kind = if power {
        CrashKind::Power {
            torn: torn.is_some(),
        }
    } else {
        CrashKind::Process
    };
    world.core.borrow_mut().disks[node].crash(kind, torn);
}

/// Opens or closes a `disk-error` window on a node's disk.
pub(crate) fn set_disk_errors<M: 'static>(
    world: &World<M>,
    node: usize,
    step: usize,
    window: Option<(DiskOp, f64, ChaCha8Rng)>,
) {
    let errors = &mut world.core.borrow_mut().disks[node].errors;
    match window {
        Some((op, rate, rng)) => errors.open(step, op, rate, rng),
        None => errors.close(step),
    }
}

/// Lands a `corrupt` strike on a node's disk: what it flipped, or `None` when the disk holds no
/// synced data to damage.
pub(crate) fn corrupt_disk<M: 'static>(
    world: &World<M>,
    node: usize,
    rng: &mut ChaCha8Rng,
) -> Option<String> {
    crate::corruption::flip_bits(&mut world.core.borrow_mut().disks[node], rng)
}

/// Arms a `misdirect` strike on a node's disk: its next file-API write lands at the wrong place.
pub(crate) fn arm_misdirect<M: 'static>(
    world: &World<M>,
    node: usize,
    step: usize,
    rng: ChaCha8Rng,
) {
    world.core.borrow_mut().disks[node].misdirect = Some((step, rng));
}
