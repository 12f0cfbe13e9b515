//! What a node's disk holds, shaped like a POSIX file system with a page cache: one directory of
//! names pointing at inodes, each inode's contents as reads see them (the page cache) and as the
//! platter holds them (durable), and the writes in between (pending, in order). Plain state, owned
//! by the world; [`crate::disk::Disk`] is the handle a node uses.
//!
//! Two crash kinds: a process crash keeps the page cache (nothing on the disk changes), a power
//! loss keeps only what was synced, plus (when `torn`) a random prefix of each file's pending
//! writes cut at sector granularity, drawn independently per file (so writes are reordered across
//! files), and a random prefix of the directory's pending entry changes.
use crate::disk_error::{DiskError, DiskOp, ErrorWindows};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// The unit a torn write is cut at: what survives of a pending write ends on a sector boundary.
pub(crate) const SECTOR: usize = 512;

/// An inode number. Never reused within a run, so a stale handle can never reach another file.
pub(crate) type Ino = u64;

/// One pending (unsynced) change to a file's contents.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    /// Bytes written at an offset (an append is a write at the end). A write past the end leaves
    /// a hole of zeros. `legacy`: made by a convenience call (see [`Inode::lose_power`]).
    Write {
        off: usize,
        data: Vec<u8>,
        legacy: bool,
    },
    /// The file truncated or extended with zeros.
    SetLen(usize),
    /// The whole contents replaced at once (the convenience `write`: never torn).
    Replace(Vec<u8>),
}

impl Op {
    /// The first byte this change may alter.
    pub(crate) fn first_byte(&self) -> usize {
        match self {
            Op::Write { off, .. } => *off,
            Op::SetLen(n) => *n,
            Op::Replace(_) => 0,
        }
    }

    fn apply(&self, buf: &mut Vec<u8>) {
        match self {
            Op::Write { off, data, .. } => write_into(buf, *off, data),
            Op::SetLen(n) => buf.resize(*n, 0),
            Op::Replace(data) => buf.clone_from(data),
        }
    }

    /// Applies a prefix of this op cut at a random sector boundary (possibly none of it, never
    /// all of it: the full op is the next prefix length up).
    fn apply_torn(&self, buf: &mut Vec<u8>, rng: &mut ChaCha8Rng) {
        let Op::Write { off, data, .. } = self else {
            return; // a truncate or an atomic replace either happened or did not
        };
        let end = off + data.len();
        // Cut points: the start, then every sector boundary strictly inside the write.
        let first = (off / SECTOR + 1) * SECTOR;
        let inner = if first < end {
            (end - 1 - first) / SECTOR + 1
        } else {
            0
        };
        let k = rng.gen_range(0..=inner);
        let cut = if k == 0 {
            *off
        } else {
            first + (k - 1) * SECTOR
        };
        if cut > *off {
            write_into(buf, *off, &data[..cut - off]);
        }
    }
}

fn write_into(buf: &mut Vec<u8>, off: usize, data: &[u8]) {
    if buf.len() < off + data.len() {
        buf.resize(off + data.len(), 0);
    }
    buf[off..off + data.len()].copy_from_slice(data);
}

/// One file's contents: what reads see, what survives a power loss, and the writes in between.
#[derive(Clone, Debug, Default)]
pub(crate) struct Inode {
    pub(crate) current: Vec<u8>,
    pub(crate) durable: Vec<u8>,
    pub(crate) pending: Vec<Op>,
}

impl Inode {
    fn push(&mut self, op: Op) {
        // Consecutive appends coalesce into one write (as the page cache writes them back).
        if let (
            Some(Op::Write { off, data, legacy }),
            Op::Write {
                off: o2,
                data: d2,
                legacy: l2,
            },
        ) = (self.pending.last_mut(), &op)
        {
            if *off + data.len() == *o2 && legacy == l2 {
                data.extend_from_slice(d2);
                return;
            }
        }
        self.pending.push(op);
    }

    /// Writes `data` at `off` in the page cache (`legacy`: from a convenience call).
    pub(crate) fn write_at(&mut self, off: usize, data: &[u8], legacy: bool) {
        write_into(&mut self.current, off, data);
        self.push(Op::Write {
            off,
            data: data.to_vec(),
            legacy,
        });
    }

    pub(crate) fn set_len(&mut self, n: usize) {
        self.current.resize(n, 0);
        self.push(Op::SetLen(n));
    }

    pub(crate) fn replace(&mut self, data: Vec<u8>) {
        self.pending.clear(); // the replace supersedes every earlier pending write
        self.push(Op::Replace(data.clone()));
        self.current = data;
    }

    /// fsync: every pending write reaches the platter.
    pub(crate) fn sync(&mut self) {
        for op in std::mem::take(&mut self.pending) {
            match op {
                Op::Replace(data) => self.durable = data,
                op => op.apply(&mut self.durable),
            }
        }
    }

    /// A failed fsync (fsyncgate): the pending writes are marked clean without reaching the
    /// platter. Reads still see them until a power loss; no later fsync writes them.
    pub(crate) fn drop_pending(&mut self) {
        self.pending.clear();
    }

    /// Power loss: the durable contents, plus (with `rng`) a random prefix of the pending writes.
    ///
    /// Writes made by the convenience calls keep the rule they had before the file API: without
    /// an fsync none survives whole (an atomic replace is lost, an append keeps a strict prefix),
    /// so code that treats "fsync returned" as "durable" and only then reports an effect sees no
    /// effect that became durable unreported.
    fn lose_power(&mut self, rng: Option<&mut ChaCha8Rng>) {
        let pending = std::mem::take(&mut self.pending);
        if let Some(rng) = rng.filter(|_| !pending.is_empty()) {
            let k = rng.gen_range(0..=pending.len());
            let legacy = |op: &Op| matches!(op, Op::Replace(_) | Op::Write { legacy: true, .. });
            let stop = pending[..k].iter().position(legacy).unwrap_or(k);
            for op in &pending[..stop] {
                op.apply(&mut self.durable);
            }
            if let Some(op) = pending.get(stop) {
                op.apply_torn(&mut self.durable, rng);
            }
        }
        self.current.clone_from(&self.durable);
    }
}

/// A pending change to the directory.
#[derive(Clone, Debug)]
pub(crate) enum DirOp {
    Link(String, Ino),
    Unlink(String),
}

fn apply_dir(names: &mut BTreeMap<String, Ino>, op: DirOp) {
    match op {
        DirOp::Link(n, ino) => names.insert(n, ino),
        DirOp::Unlink(n) => names.remove(&n),
    };
}

/// What a crash does to the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CrashKind {
    /// The process dies; the page cache (every unsynced write) survives.
    Process,
    /// The machine loses power: only synced state survives, plus with `torn` a random prefix of
    /// each file's pending writes and of the directory's pending changes.
    Power { torn: bool },
}

#[derive(Default)]
pub(crate) struct DiskState {
    /// The directory as lookups see it.
    pub(crate) names: BTreeMap<String, Ino>,
    /// The directory as of its last sync.
    pub(crate) durable_names: BTreeMap<String, Ino>,
    /// Directory changes since its last sync, in order.
    pub(crate) dir_pending: Vec<DirOp>,
    pub(crate) inodes: BTreeMap<Ino, Inode>,
    next_ino: Ino,
    /// Injected I/O error windows (the `disk-error` fault).
    pub(crate) errors: ErrorWindows,
    /// An armed `misdirect` strike (its step, its stream): the next file-API write lands at the
    /// wrong place ([`crate::corruption::misdirect`]).
    pub(crate) misdirect: Option<(usize, ChaCha8Rng)>,
}

impl DiskState {
    /// The inode `name` points at.
    pub(crate) fn lookup(&self, name: &str) -> Result<Ino, DiskError> {
        self.names.get(name).copied().ok_or(DiskError::NotFound)
    }

    pub(crate) fn inode(&mut self, ino: Ino) -> Result<&mut Inode, DiskError> {
        // An inode disappears only with a crash, which kills the process holding the handle.
        self.inodes.get_mut(&ino).ok_or(DiskError::NotFound)
    }

    /// The file's contents as reads see them, without error injection (the convenience calls).
    pub(crate) fn contents(&self, name: &str) -> Option<&Vec<u8>> {
        let ino = self.names.get(name)?;
        self.inodes.get(ino).map(|i| &i.current)
    }

    /// Opens `name`, creating an empty file (and a pending directory entry) if absent.
    pub(crate) fn open_or_create(&mut self, name: &str) -> Ino {
        if let Some(&ino) = self.names.get(name) {
            return ino;
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.inodes.insert(ino, Inode::default());
        self.link(name, ino);
        ino
    }

    fn link(&mut self, name: &str, ino: Ino) {
        self.names.insert(name.to_string(), ino);
        self.dir_pending.push(DirOp::Link(name.to_string(), ino));
    }

    /// Removes the name (the inode lives on for open handles until the next crash).
    pub(crate) fn unlink(&mut self, name: &str) -> Result<(), DiskError> {
        self.names.remove(name).ok_or(DiskError::NotFound)?;
        self.dir_pending.push(DirOp::Unlink(name.to_string()));
        Ok(())
    }

    /// Atomically points `to` at `from`'s inode and removes `from`.
    pub(crate) fn rename(&mut self, from: &str, to: &str) -> Result<(), DiskError> {
        let ino = self.lookup(from)?;
        if from == to {
            return Ok(());
        }
        self.names.remove(from);
        self.dir_pending.push(DirOp::Unlink(from.to_string()));
        self.link(to, ino);
        Ok(())
    }

    /// Makes the directory's pending changes durable. They are replayed onto the durable
    /// directory rather than copied from the page cache's, because changes dropped by a failed
    /// directory sync are still in the page cache but must never reach the disk.
    pub(crate) fn sync_dir(&mut self) {
        for op in std::mem::take(&mut self.dir_pending) {
            apply_dir(&mut self.durable_names, op);
        }
    }

    /// syncfs: every file and the directory.
    pub(crate) fn sync(&mut self) {
        for inode in self.inodes.values_mut() {
            if !inode.pending.is_empty() {
                inode.sync();
            }
        }
        self.sync_dir();
    }

    /// A crash of the given kind (`rng` draws what a torn power loss keeps).
    pub(crate) fn crash(&mut self, kind: CrashKind, mut rng: Option<&mut ChaCha8Rng>) {
        if let CrashKind::Power { torn } = kind {
            if !torn {
                rng = None;
            }
            let pending = std::mem::take(&mut self.dir_pending);
            let mut names = self.durable_names.clone();
            if let Some(rng) = rng.as_deref_mut().filter(|_| !pending.is_empty()) {
                // Directory changes are journalled in order: a prefix of them survives.
                let k = rng.gen_range(0..=pending.len());
                for op in pending.into_iter().take(k) {
                    apply_dir(&mut names, op);
                }
            }
            self.names = names;
            self.durable_names.clone_from(&self.names);
            for inode in self.inodes.values_mut() {
                inode.lose_power(rng.as_deref_mut());
            }
        }
        // No process holds a handle any more: unnamed inodes are gone.
        let (names, durable) = (&self.names, &self.durable_names);
        self.inodes.retain(|ino, _| {
            names.values().any(|i| i == ino) || durable.values().any(|i| i == ino)
        });
    }

    /// Whether an injected error hits this call of `op` now.
    pub(crate) fn fails(&mut self, op: DiskOp) -> bool {
        self.errors.fails(op)
    }
}

#[cfg(test)]
mod tests {
    use super::{CrashKind, DiskState};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    const POWER: CrashKind = CrashKind::Power { torn: false };

    fn append(d: &mut DiskState, f: &str, v: &[u8]) {
        let ino = d.open_or_create(f);
        let i = d.inode(ino).unwrap();
        let n = i.current.len();
        i.write_at(n, v, true);
    }

    fn replace(d: &mut DiskState, f: &str, v: &[u8]) {
        let ino = d.open_or_create(f);
        d.inode(ino).unwrap().replace(v.to_vec());
    }

    fn read(d: &DiskState, f: &str) -> Option<Vec<u8>> {
        d.contents(f).cloned()
    }

    #[test]
    fn appends_survive_a_power_loss_only_up_to_the_last_sync() {
        let mut d = DiskState::default();
        append(&mut d, "log", b"ab");
        d.sync();
        append(&mut d, "log", b"cd");
        append(&mut d, "log", b"ef");
        assert_eq!(read(&d, "log").unwrap(), b"abcdef");
        d.crash(CrashKind::Process, None);
        assert_eq!(
            read(&d, "log").unwrap(),
            b"abcdef",
            "the page cache survives"
        );
        d.crash(POWER, None);
        assert_eq!(read(&d, "log").unwrap(), b"ab");
        append(&mut d, "log", b"gh");
        d.sync();
        assert_eq!(d.inode(d.lookup("log").unwrap()).unwrap().durable, b"abgh");
    }

    #[test]
    fn a_new_file_vanishes_on_power_loss() {
        let mut d = DiskState::default();
        append(&mut d, "log", b"ab");
        d.crash(POWER, None);
        assert_eq!(read(&d, "log"), None);
    }

    #[test]
    fn rewrite_after_append_restores_the_synced_copy() {
        let mut d = DiskState::default();
        replace(&mut d, "f", b"one");
        d.sync();
        append(&mut d, "f", b"+");
        replace(&mut d, "f", b"two");
        d.crash(POWER, None);
        assert_eq!(read(&d, "f").unwrap(), b"one");
        append(&mut d, "f", b"!");
        replace(&mut d, "f", b"x");
        append(&mut d, "f", b"y");
        d.sync();
        assert_eq!(d.inode(d.lookup("f").unwrap()).unwrap().durable, b"xy");
    }

    #[test]
    fn a_torn_power_loss_keeps_a_sector_aligned_prefix_of_the_pending_writes() {
        let old = vec![b'a'; 100];
        let new: Vec<u8> = (0..3000).map(|i| (i % 251) as u8).collect();
        let mut kept = std::collections::BTreeSet::new();
        for seed in 0..60 {
            let mut d = DiskState::default();
            append(&mut d, "log", &old);
            d.sync();
            append(&mut d, "log", &new);
            d.crash(
                CrashKind::Power { torn: true },
                Some(&mut ChaCha8Rng::seed_from_u64(seed)),
            );
            let cur = read(&d, "log").unwrap();
            let mut full = old.clone();
            full.extend_from_slice(&new);
            assert!(full.starts_with(&cur), "a prefix survives");
            assert!(cur.len() >= old.len(), "synced bytes survive");
            assert!(
                cur.len() == old.len() || cur.len() == full.len() || cur.len().is_multiple_of(512),
                "cut at a sector boundary: {}",
                cur.len()
            );
            // What a torn power loss left is durable: a second one keeps it.
            d.crash(POWER, None);
            assert_eq!(read(&d, "log").unwrap(), cur);
            kept.insert(cur.len());
        }
        assert!(kept.len() > 3, "tear points vary with the rng: {kept:?}");
    }

    #[test]
    fn a_name_is_durable_only_after_the_directory_sync() {
        let mut d = DiskState::default();
        let ino = d.open_or_create("f");
        d.inode(ino).unwrap().write_at(0, b"data", false);
        d.inode(ino).unwrap().sync();
        d.crash(POWER, None);
        assert_eq!(read(&d, "f"), None, "synced data, unsynced name");
        let ino = d.open_or_create("f");
        d.inode(ino).unwrap().write_at(0, b"data", false);
        d.inode(ino).unwrap().sync();
        d.sync_dir();
        d.crash(POWER, None);
        assert_eq!(read(&d, "f").unwrap(), b"data");
    }

    #[test]
    fn a_name_dropped_by_a_failed_directory_sync_never_reaches_the_disk() {
        let mut d = DiskState::default();
        d.open_or_create("lost");
        d.dir_pending.clear(); // what a failed sync_dir does
        d.open_or_create("kept");
        d.sync_dir();
        assert!(d.names.contains_key("lost"), "the page cache still has it");
        d.crash(POWER, None);
        assert_eq!(d.names.keys().collect::<Vec<_>>(), ["kept"]);
    }

    #[test]
    fn a_write_after_a_failed_fsync_leaves_a_hole_where_the_dropped_data_was() {
        let mut d = DiskState::default();
        append(&mut d, "log", b"ab");
        d.sync();
        append(&mut d, "log", b"cd");
        let ino = d.lookup("log").unwrap();
        d.inode(ino).unwrap().drop_pending();
        append(&mut d, "log", b"ef");
        d.sync();
        assert_eq!(
            read(&d, "log").unwrap(),
            b"abcdef",
            "the page cache still has it"
        );
        d.crash(POWER, None);
        assert_eq!(read(&d, "log").unwrap(), b"ab\0\0ef");
    }
}
