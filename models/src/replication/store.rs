//! A replica's files, on the `std::fs`-shaped file API: `log` (one JSON line per entry,
//! append-only within an epoch) and `meta` (the promised epoch and the epoch whose log this node
//! holds). A file is replaced the way a careful program replaces one: write a temporary file,
//! sync it, rename it over the old one, sync the directory — the rename is durable only with
//! the directory's sync, so a power loss before it brings the old file back. The
//! `rename-no-dirsync` flaw skips that last sync (ALICE's most common crash vulnerability): a
//! process crash never shows it (the page cache keeps the rename), a power loss does.
//!
//! Every call is retried until it succeeds: a failed fsync drops the file's unsynced writes
//! (fsyncgate), and a failed directory sync drops the pending renames, so the whole replace is
//! done again rather than the sync retried.
use super::Entry;
use faultline::{DiskError, File, Message, NodeCtx};
use std::time::Duration;

const LOG: &str = "log";
const META: &str = "meta";
/// How long to wait before retrying a failed disk call (simulated time must pass).
const RETRY: Duration = Duration::from_millis(1);

/// What a replica knows about its files.
pub(super) struct Store<M: 'static> {
    /// The log file, while its name is the durable `log` (or the flaw pretends it is).
    log: Option<File<M>>,
    /// How many entries the log file holds (`None`: it must be rewritten).
    on_disk: Option<usize>,
    /// The (promised, normal) epochs `meta` holds.
    meta: Option<(u64, u64)>,
    /// Whether to sync the directory after a rename (the flaw: no).
    dir_sync: bool,
}

/// What a replica finds on its disk at start.
pub(super) struct Loaded {
    pub promised: u64,
    pub normal: u64,
    pub log: Vec<Entry>,
}

fn lines(entries: &[Entry]) -> Vec<u8> {
    let mut buf = Vec::new();
    for e in entries {
        serde_json::to_writer(&mut buf, e).expect("entries serialize");
        buf.push(b'\n');
    }
    buf
}

impl<M: Message> Store<M> {
    /// Reads the files as the page cache shows them.
    pub(super) fn load(ctx: &NodeCtx<M>, dir_sync: bool) -> (Self, Loaded) {
        let disk = ctx.disk();
        let (promised, normal) = disk.get::<(u64, u64)>(META).unwrap_or_default();
        let bytes = disk.read(LOG).unwrap_or_default();
        let mut log = Vec::new();
        for line in bytes.split_inclusive(|&c| c == b'\n') {
            // A power loss can tear the last append: the log ends at the first partial line.
            let Some(Ok(e)) = line.strip_suffix(b"\n").map(serde_json::from_slice) else {
                break;
            };
            log.push(e);
        }
        // What was found may be only in the page cache (a process crash before a sync, or
        // before the directory sync of a rename), and the log may end in a torn line: the first
        // persist replaces both files, so nothing is appended after a torn line or to a file
        // whose name is not durable.
        let store = Store {
            log: None,
            on_disk: None,
            meta: None,
            dir_sync,
        };
        let loaded = Loaded {
            promised,
            normal,
            log,
        };
        (store, loaded)
    }

    /// The log was replaced in memory: the file must be rewritten.
    pub(super) fn log_replaced(&mut self) {
        self.on_disk = None;
    }

    /// Makes the log and then the epochs durable: the log first, so that `meta` never names
    /// an epoch whose log this node does not hold yet.
    pub(super) async fn persist(
        &mut self,
        ctx: &NodeCtx<M>,
        promised: u64,
        normal: u64,
        log: &[Entry],
    ) {
        loop {
            let appended = match (self.on_disk, &self.log) {
                (Some(n), Some(f)) if n <= log.len() => append(f, &lines(&log[n..])).await,
                _ => Err(DiskError::NotFound),
            };
            if appended.is_ok() {
                break;
            }
            // The file's end is no longer known to hold exactly `on_disk` entries (a failed
            // fsync may have dropped pages the page cache still shows): never append to it again.
            self.on_disk = None;
            // No file yet, a new epoch's log, or a failed write or fsync (whose dropped pages no
            // later fsync writes): replace the whole file.
            match self.replace(ctx, LOG, &lines(log)).await {
                Ok(f) => {
                    self.log = Some(f);
                    break;
                }
                Err(_) => ctx.sleep(RETRY).await,
            }
        }
        self.on_disk = Some(log.len());
        if self.meta != Some((promised, normal)) {
            let bytes = serde_json::to_vec(&(promised, normal)).expect("epochs serialize");
            while self.replace(ctx, META, &bytes).await.is_err() {
                ctx.sleep(RETRY).await;
            }
            self.meta = Some((promised, normal));
        }
    }

    /// The atomic-replace idiom: a temporary file written and synced, renamed over `name`, the
    /// directory synced (unless the flaw). Returns the new file.
    async fn replace(
        &self,
        ctx: &NodeCtx<M>,
        name: &str,
        bytes: &[u8],
    ) -> Result<File<M>, DiskError> {
        let disk = ctx.disk();
        let tmp = format!("{name}.tmp");
        let f = disk.create(&tmp)?;
        f.write_at(0, bytes)?;
        f.sync_data().await?;
        disk.rename(&tmp, name)?;
        if self.dir_sync {
            disk.sync_dir().await?;
        }
        Ok(f)
    }
}

/// Appends `bytes` to `f` and syncs it.
async fn append<M: 'static>(f: &File<M>, bytes: &[u8]) -> Result<(), DiskError> {
    if bytes.is_empty() {
        return Ok(());
    }
    f.append(bytes)?;
    f.sync_data().await
}
