//! A write-ahead log of checksummed records ([`faultline::records`]) on a node's disk, through
//! the `std::fs`-shaped file API, as the single-copy logs of the commit and saga models keep
//! theirs: each record is appended and synced (`sync_data`) before the node acts on it, and a
//! new log file's name is made durable (`sync_dir`) before the first record goes in.
//!
//! Recovery ([`Wal::open`]) tells the two kinds of damage apart:
//! - a **torn tail** (a power loss cut the last append short) was never synced, so never acted
//!   on: it is cut off, and appends continue after the last whole record;
//! - a **corrupt record** (a checksum fails) is never trusted: its payload comes back as `None`,
//!   and a corrupt header (nothing after it can be read) leaves a durable marker file
//!   (`NAME.damaged`) before the unreadable bytes are cut, so every later recovery still knows
//!   that records were lost ([`Recovered::damaged`]). What to do about a lost record is the
//!   protocol's decision (a 2PC participant treats what it cannot read as in doubt and asks).
//!
//! I/O errors (the `disk-error` fault) are retried until the call succeeds: a failed fsync
//! drops the file's unsynced writes (fsyncgate), so the unsynced bytes are written again from
//! memory before the next fsync, never assumed to be on the disk.
use faultline::records::{encode, scan, Tail};
use faultline::{DiskError, File, Message, NodeCtx};
use std::time::Duration;

/// How long to wait before retrying a disk call that failed (a write that found the disk full,
/// a read of a bad sector): simulated time must pass, or a retry loop would never end.
const RETRY: Duration = Duration::from_millis(1);

/// What recovery found in a log.
pub(crate) struct Recovered {
    /// Every record with a readable header, in order: the payload, or `None` when its checksum
    /// fails (never trust it).
    pub records: Vec<Option<Vec<u8>>>,
    /// Whether records were lost or are unreadable: a corrupt record now, or a corrupt header
    /// at this or an earlier recovery (its marker file).
    pub damaged: bool,
}

/// An open log: appends go at `end`; `unsynced` holds the bytes since the last successful sync,
/// to write again if an fsync fails.
pub(crate) struct Wal<M: Message> {
    file: File<M>,
    end: u64,
    synced: u64,
    unsynced: Vec<u8>,
}

/// Runs `f` until it succeeds, waiting [`RETRY`] between attempts.
async fn retry<M: Message, T>(ctx: &NodeCtx<M>, mut f: impl FnMut() -> Result<T, DiskError>) -> T {
    loop {
        match f() {
            Ok(v) => return v,
            Err(_) => ctx.sleep(RETRY).await,
        }
    }
}

/// Syncs `file`, writing `unsynced` again at `at` after each failed fsync (its pages were
/// dropped) until one succeeds.
async fn sync<M: Message>(ctx: &NodeCtx<M>, file: &File<M>, at: u64, unsynced: &[u8]) {
    while file.sync_data().await.is_err() {
        if !unsynced.is_empty() {
            retry(ctx, || file.write_at(at, unsynced)).await;
        }
    }
}

/// Makes the directory's entries durable, retrying a failed directory sync.
async fn sync_dir<M: Message>(ctx: &NodeCtx<M>) {
    while ctx.disk().sync_dir().await.is_err() {}
}

impl<M: Message> Wal<M> {
    /// Opens the log `name` (creating it if absent; its name made durable either way) and
    /// recovers it: a torn tail is cut off, a corrupt header is marked and cut, and what is left
    /// (records that may have survived a process crash only in the page cache included) is
    /// synced before it is returned, so the caller may act on every record it gets.
    pub(crate) async fn open(ctx: &NodeCtx<M>, name: &str) -> (Wal<M>, Recovered) {
        let disk = ctx.disk();
        let file = retry(ctx, || disk.open_or_create(name)).await;
        // The name may be only in the page cache (created by an incarnation that a process
        // crash stopped before its directory sync): make it durable before trusting it.
        sync_dir(ctx).await;
        let data = retry(ctx, || file.read()).await;
        let scanned = scan(&data);
        let marker = format!("{name}.damaged");
        let mut damaged = disk.exists(&marker);
        let cut = match scanned.tail {
            Tail::Clean => None,
            Tail::Torn { offset } => Some(offset),
            Tail::Corrupt { offset } => {
                // Remember the loss durably before cutting the unreadable bytes off.
                if !damaged {
                    retry(ctx, || disk.open_or_create(&marker)).await;
                    sync_dir(ctx).await;
                }
                damaged = true;
                Some(offset)
            }
        };
        let end = match cut {
            Some(at) => {
                retry(ctx, || file.set_len(at as u64)).await;
                at as u64
            }
            None => data.len() as u64,
        };
        // Whole records found after a process crash may be only in the page cache: the caller
        // is about to act on them, so they must be durable first. Writing them again makes
        // sure a dropped page (an earlier failed fsync) reaches the disk too.
        let kept = &data[..end as usize];
        retry(ctx, || file.write_at(0, kept)).await;
        sync(ctx, &file, 0, kept).await;
        let records: Vec<Option<Vec<u8>>> =
            scanned.records.into_iter().map(|r| r.payload).collect();
        damaged |= records.iter().any(Option::is_none);
        let wal = Wal {
            file,
            end,
            synced: end,
            unsynced: Vec::new(),
        };
        (wal, Recovered { records, damaged })
    }

    /// Appends one record without syncing it (it becomes durable with the next [`Wal::sync`]
    /// or [`Wal::append`], or is lost by a power loss before).
    pub(crate) async fn append_unsynced(&mut self, ctx: &NodeCtx<M>, payload: &[u8]) {
        let rec = encode(payload);
        let at = self.end;
        retry(ctx, || self.file.write_at(at, &rec)).await;
        self.end += rec.len() as u64;
        self.unsynced.extend_from_slice(&rec);
    }

    /// Makes every record appended so far durable.
    pub(crate) async fn sync(&mut self, ctx: &NodeCtx<M>) {
        if self.unsynced.is_empty() {
            return;
        }
        sync(ctx, &self.file, self.synced, &self.unsynced).await;
        self.synced = self.end;
        self.unsynced.clear();
    }

    /// Appends one record and makes it durable.
    pub(crate) async fn append(&mut self, ctx: &NodeCtx<M>, payload: &[u8]) {
        self.append_unsynced(ctx, payload).await;
        self.sync(ctx).await;
    }
}

#[cfg(test)]
mod tests {
    //! Recovery in a simulation: node 0 writes a log, damages it through the file API the way a
    //! torn power loss and a bit flip would, and reopens it; a checker compares what each
    //! recovery found with what it must find.
    use super::Wal;
    use faultline::prelude::*;
    use faultline::recording::Recording;
    use serde_json::{json, Value};

    struct Probe;

    /// Reopens the log and reports its records (`null` for an unreadable one) and `damaged`.
    async fn reopen(ctx: &NodeCtx<()>, step: &str) -> Wal<()> {
        let (wal, found) = Wal::open(ctx, "t").await;
        let records: Vec<Value> = found
            .records
            .iter()
            .map(|r| {
                r.as_ref()
                    .map_or(Value::Null, |p| json!(String::from_utf8_lossy(p)))
            })
            .collect();
        ctx.observe(
            "recovered",
            &json!({"step": step, "records": records, "damaged": found.damaged}),
        );
        wal
    }

    /// Overwrites one byte of the log at `at` (from the end when negative) and syncs it.
    async fn poke(ctx: &NodeCtx<()>, at: i64) {
        let f = ctx.disk().open("t").expect("the log exists");
        let len = f.len().unwrap() as i64;
        let at = if at < 0 { len + at } else { at } as u64;
        f.write_at(at, b"\xff").unwrap();
        f.sync_data().await.unwrap();
    }

    impl Protocol for Probe {
        type Msg = ();
        fn cap(&self) -> Cap {
            Cap::None
        }
        fn guarantees(&self) -> Vec<&'static str> {
            vec!["wal-recovery"]
        }
        fn checkers(&self) -> Vec<Box<dyn Checker>> {
            vec![Box::new(Expected)]
        }
        async fn node(&self, ctx: NodeCtx<()>) {
            if ctx.id() != 0 {
                return;
            }
            let mut wal = reopen(&ctx, "new").await;
            for p in ["a", "b", "c"] {
                wal.append(&ctx, p.as_bytes()).await;
            }
            // A torn append: the first bytes of a record, never synced whole.
            let torn = faultline::records::encode(b"lost");
            let f = ctx.disk().open("t").unwrap();
            f.append(&torn[..7]).unwrap();
            f.sync_data().await.unwrap();
            let mut wal = reopen(&ctx, "torn").await;
            wal.append(&ctx, b"e").await;
            reopen(&ctx, "after-torn").await;
            // A flipped payload byte of "b" (record 1: 13 bytes in, header 12 + 1 byte).
            poke(&ctx, 13 + 12).await;
            reopen(&ctx, "payload").await;
            // A flipped length byte in the last record's header ("e", 13 bytes long).
            poke(&ctx, -13).await;
            reopen(&ctx, "header").await;
            reopen(&ctx, "again").await;
        }
        async fn call(&self, _: &ClientCtx<()>, _: u64, _: &Invocation) -> Outcome {
            Outcome::Ok(Value::Null)
        }
    }

    struct Expected;

    impl Checker for Expected {
        fn name(&self) -> &'static str {
            "wal-recovery"
        }
        fn check(&self, rec: &Recording) -> Vec<Finding> {
            let want = json!([
                {"step": "new", "records": [], "damaged": false},
                // the torn tail is cut off; appends continue after the last whole record
                {"step": "torn", "records": ["a", "b", "c"], "damaged": false},
                {"step": "after-torn", "records": ["a", "b", "c", "e"], "damaged": false},
                // a corrupt payload is never trusted, and the records after it still read
                {"step": "payload", "records": ["a", null, "c", "e"], "damaged": true},
                // a corrupt header loses what follows; the marker keeps the loss known
                {"step": "header", "records": ["a", null, "c"], "damaged": true},
                {"step": "again", "records": ["a", null, "c"], "damaged": true},
            ]);
            let got: Vec<&Value> = rec
                .observations
                .iter()
                .filter(|o| o.kind == "recovered")
                .map(|o| &o.data)
                .collect();
            if json!(got) == want {
                return vec![];
            }
            vec![Finding::new(
                "wal-recovery",
                FindingKind::Safety,
                format!("recoveries found {}, expected {want}", json!(got)),
            )]
        }
    }

    #[test]
    fn recovery_cuts_a_torn_tail_and_never_trusts_a_corrupt_record() {
        let m = Model::new("wal-probe", |_| Ok(Probe)).nodes(1);
        let result = Check::new(m).schedule("none").seeds(0..1).run();
        result.assert_ok();
        assert_eq!(result.seeds_run, 1);
    }
}
