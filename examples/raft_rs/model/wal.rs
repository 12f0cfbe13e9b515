//! The write-ahead log raft-rs's storage lives in: one file of checksummed records
//! (`faultline::records`) on the node's disk, written with the `std::fs`-shaped file API, so torn
//! writes, lost unsynced names, failed fsyncs, full disks and unreadable sectors all reach it.
//!
//! A record's payload is `[kind: u8][offset: u64 LE][protobuf]`: the `ConfState` (always the first
//! record), an `Entry` (a record for index `i` replaces the entries from `i` on, so overwriting a
//! conflicting suffix is an append too) or a `HardState` (the last one wins). The offset is where
//! the record was meant to sit in the file: a record found anywhere else (a misdirected or stale
//! write) is corruption, even though its checksum holds.
//!
//! Recovery ([`recover`]) tells the two ways a log goes bad apart:
//! - a torn tail (a power loss cut the last unsynced append short) was never acknowledged, because
//!   the driver syncs before it sends what promises durability: it is cut off;
//! - a corrupt record (checksum, misplaced, undecodable, or an entry that does not continue the
//!   log) may hold acknowledged, even committed, data. raft-rs trusts its storage and offers no
//!   way to fetch one entry back from peers, and truncating could lose a committed entry, so the
//!   node refuses to start: it stays down (a minority under the corruption budget).
//!
//! Errors are never acknowledged through: a full disk (ENOSPC, nothing written) is retried after a
//! backoff; a failed fsync (EIO) dropped the file's unsynced writes (fsyncgate), so they are
//! written again from memory before the fsync is retried; an unreadable sector (EIO on read) is
//! read again. Each boot rewrites the recovered state into a fresh file (temp file, fsync, rename,
//! directory fsync), which compacts the log, cuts a torn tail and makes the file's name durable
//! whatever an earlier incarnation's directory fsync did.
use super::Msg;
use faultline::records::{self, Tail};
use faultline::{Disk, DiskError, File, NodeCtx};
use protobuf::Message as _;
use raft::prelude::{ConfState, Entry, HardState};
use std::time::Duration;

/// The log's file name.
pub const WAL: &str = "raft-wal";
/// Where a boot writes the rewritten log before renaming it over [`WAL`].
const WAL_TMP: &str = "raft-wal.tmp";

const CONF: u8 = 1;
const ENTRY: u8 = 2;
const HARD: u8 = 3;
/// Bytes before the protobuf in a payload: the kind and the intended offset.
const PREFIX: usize = 9;

/// The first wait after an I/O error, doubled per retry up to [`MAX_BACKOFF`]: a disk that stays
/// broken makes the node stall (as a stuck disk does), never acknowledge.
const FIRST_BACKOFF: Duration = Duration::from_millis(2);
const MAX_BACKOFF: Duration = Duration::from_millis(64);

/// What a log file holds, replayed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recovered {
    pub conf: ConfState,
    /// The log from index 1, contiguous.
    pub entries: Vec<Entry>,
    pub hard_state: HardState,
    /// Where the last whole record ends: a torn tail starts here (equal to the file's length when
    /// none).
    pub end: usize,
}

/// A log that cannot be trusted: where, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corruption {
    pub offset: usize,
    pub why: String,
}

impl Corruption {
    fn at(offset: usize, why: impl Into<String>) -> Self {
        Corruption {
            offset,
            why: why.into(),
        }
    }
}

/// Replays a log file. `Ok(None)`: nothing was ever made durable (no file content, or only a torn
/// first record), so the node starts fresh; `Ok(Some(..))`: the state, with any torn tail left
/// out (`end`); `Err`: a record is damaged and the log cannot be trusted. `recover(&image(s))`
/// gives `s` back (the tests below hold it to that).
pub fn recover(bytes: &[u8]) -> Result<Option<Recovered>, Corruption> {
    let scan = records::scan(bytes);
    let end = match scan.tail {
        Tail::Clean => bytes.len(),
        Tail::Torn { offset } => offset,
        Tail::Corrupt { offset } => {
            return Err(Corruption::at(offset, "a record header's checksum fails"))
        }
    };
    let mut state: Option<Recovered> = None;
    for rec in &scan.records {
        let at = rec.offset;
        let payload = rec
            .payload
            .as_deref()
            .ok_or_else(|| Corruption::at(at, "a record's checksum fails"))?;
        let (kind, body) = decode(payload, at)?;
        match (kind, state.as_mut()) {
            (CONF, None) => {
                let conf = ConfState::parse_from_bytes(body)
                    .map_err(|e| Corruption::at(at, format!("conf state: {e}")))?;
                state = Some(Recovered {
                    conf,
                    end,
                    ..Recovered::default()
                });
            }
            (ENTRY, Some(s)) => {
                let e = Entry::parse_from_bytes(body)
                    .map_err(|e| Corruption::at(at, format!("entry: {e}")))?;
                let keep = usize::try_from(e.index)
                    .ok()
                    .and_then(|i| i.checked_sub(1))
                    .filter(|&k| k <= s.entries.len())
                    .ok_or_else(|| {
                        Corruption::at(at, format!("entry {} does not continue the log", e.index))
                    })?;
                s.entries.truncate(keep);
                s.entries.push(e);
            }
            (HARD, Some(s)) => {
                s.hard_state = HardState::parse_from_bytes(body)
                    .map_err(|e| Corruption::at(at, format!("hard state: {e}")))?;
            }
            _ => {
                return Err(Corruption::at(
                    at,
                    format!("record kind {kind} out of place"),
                ))
            }
        }
    }
    Ok(state)
}

/// The kind and protobuf of a payload whose checksum held, checking it sits where it was written.
fn decode(payload: &[u8], at: usize) -> Result<(u8, &[u8]), Corruption> {
    let Some((head, body)) = payload.split_first_chunk::<PREFIX>() else {
        return Err(Corruption::at(at, "a record too short for its prefix"));
    };
    let meant = u64::from_le_bytes(head[1..].try_into().expect("8 bytes"));
    if meant != at as u64 {
        return Err(Corruption::at(
            at,
            format!("a record written for offset {meant} (misdirected)"),
        ));
    }
    Ok((head[0], body))
}

/// The log file holding `state` and nothing else (what a boot installs).
pub fn image(state: &Recovered) -> Vec<u8> {
    let mut out = record(
        CONF,
        &state.conf.write_to_bytes().expect("conf state encodes"),
        0,
    );
    for e in &state.entries {
        let at = out.len() as u64;
        out.extend(record(
            ENTRY,
            &e.write_to_bytes().expect("entries encode"),
            at,
        ));
    }
    if state.hard_state != HardState::default() {
        let at = out.len() as u64;
        out.extend(record(
            HARD,
            &state
                .hard_state
                .write_to_bytes()
                .expect("hard state encodes"),
            at,
        ));
    }
    out
}

/// Frames one record meant for `offset`.
fn record(kind: u8, body: &[u8], offset: u64) -> Vec<u8> {
    let mut payload = Vec::with_capacity(PREFIX + body.len());
    payload.push(kind);
    payload.extend_from_slice(&offset.to_le_bytes());
    payload.extend_from_slice(body);
    records::encode(&payload)
}

/// Doubling waits between retries of a failing disk call.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Backoff(FIRST_BACKOFF)
    }

    async fn wait(&mut self, ctx: &NodeCtx<Msg>) {
        ctx.sleep(self.0).await;
        self.0 = (self.0 * 2).min(MAX_BACKOFF);
    }
}

/// The open log: records are staged in memory, written to the file (the page cache) by
/// [`Wal::flush`] and made durable by [`Wal::sync`].
pub struct Wal {
    file: File<Msg>,
    /// Where the durable prefix ends: every byte before it was covered by a successful fsync.
    synced: u64,
    /// Records in the file past `synced`, not yet durable: kept so that, when an fsync fails and
    /// drops them, they can be written again.
    unsynced: Vec<u8>,
    /// Records not written to the file yet (each framed for the offset it will land at).
    staged: Vec<u8>,
    /// `--bug fsync-retry`: after a failed fsync, retry it without writing the dropped bytes
    /// again, and take its success for durability (PostgreSQL's pre-2018 fsyncgate mistake).
    blind_retry: bool,
}

impl Wal {
    /// Where the next staged record lands.
    fn end(&self) -> u64 {
        self.synced + (self.unsynced.len() + self.staged.len()) as u64
    }

    fn stage(&mut self, kind: u8, body: &[u8]) {
        let rec = record(kind, body, self.end());
        self.staged.extend_from_slice(&rec);
    }

    /// `--bug fsync-retry`: a failed fsync is retried as is, its success taken for durability.
    pub fn retry_fsync_blindly(&mut self) {
        self.blind_retry = true;
    }

    /// Stages entries (durable after the next [`Wal::sync`]).
    pub fn stage_entries(&mut self, entries: &[Entry]) {
        for e in entries {
            self.stage(ENTRY, &e.write_to_bytes().expect("entries encode"));
        }
    }

    /// Stages the hard state.
    pub fn stage_hard_state(&mut self, hs: &HardState) {
        self.stage(HARD, &hs.write_to_bytes().expect("hard state encodes"));
    }

    /// Writes the staged records to the file (the page cache: a process crash keeps them, a power
    /// loss may not). A full disk writes nothing: retried until it takes them.
    pub async fn flush(&mut self, ctx: &NodeCtx<Msg>) {
        if self.staged.is_empty() {
            return;
        }
        let at = self.synced + self.unsynced.len() as u64;
        write_all(ctx, &self.file, at, &self.staged).await;
        self.unsynced.append(&mut self.staged);
    }

    /// Flushes, then makes everything written durable. Returns only once an fsync succeeded
    /// after the last write: a failed fsync dropped the unsynced writes (fsyncgate), so they are
    /// written again before the next attempt, never assumed to have reached the disk.
    pub async fn sync(&mut self, ctx: &NodeCtx<Msg>) {
        self.flush(ctx).await;
        if self.unsynced.is_empty() {
            return;
        }
        let mut backoff = Backoff::new();
        while self.file.sync_data().await.is_err() {
            backoff.wait(ctx).await;
            if !self.blind_retry {
                write_all(ctx, &self.file, self.synced, &self.unsynced).await;
            }
        }
        self.synced += self.unsynced.len() as u64;
        self.unsynced.clear();
    }
}

/// Whether `file` reads back exactly `expected` (an unreadable sector counts as a mismatch).
fn reads_back(file: &File<Msg>, expected: &[u8]) -> bool {
    file.read().is_ok_and(|got| got == expected)
}

/// `write_at` until it succeeds (ENOSPC writes nothing, so the same bytes go to the same place).
async fn write_all(ctx: &NodeCtx<Msg>, file: &File<Msg>, at: u64, buf: &[u8]) {
    let mut backoff = Backoff::new();
    while let Err(e) = file.write_at(at, buf) {
        assert_eq!(
            e,
            DiskError::NoSpace,
            "an open log's writes only fail for space"
        );
        backoff.wait(ctx).await;
    }
}

/// The log's whole contents, `None` if there is no log file. Unreadable sectors are read again.
async fn read_log(ctx: &NodeCtx<Msg>, disk: &Disk<Msg>) -> Option<Vec<u8>> {
    let file = disk.open(WAL).ok()?;
    let mut backoff = Backoff::new();
    loop {
        match file.read() {
            Ok(bytes) => return Some(bytes),
            Err(_) => backoff.wait(ctx).await,
        }
    }
}

/// What a boot does with a damaged log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnDamage {
    /// Refuse to start (the correct driver).
    Refuse,
    /// `--bug truncate-on-corruption`: cut the log at the first damaged record and start on the
    /// prefix, as PAR (FAST '18) found LogCabin- and ZooKeeper-style recovery doing.
    Truncate,
}

/// Opens the node's log at boot: replays it (a fresh node starts from `conf`), then rewrites the
/// recovered state into a new file installed by rename with a directory fsync. `Err` when the log
/// holds a damaged record (and `on_damage` refuses it): the caller must not start raft-rs on it.
pub async fn open(
    ctx: &NodeCtx<Msg>,
    disk: &Disk<Msg>,
    conf: &ConfState,
    on_damage: OnDamage,
) -> Result<(Wal, Recovered), Corruption> {
    let bytes = read_log(ctx, disk).await.unwrap_or_default();
    let recovered = match recover(&bytes) {
        Err(c) if on_damage == OnDamage::Truncate => {
            ctx.observe(
                "wal-truncated",
                &serde_json::json!({"offset": c.offset, "why": c.why}),
            );
            // Damage is found at a record's start: the bytes before it are whole records.
            recover(&bytes[..c.offset])?
        }
        r => r?,
    };
    let state = recovered.unwrap_or_else(|| Recovered {
        conf: conf.clone(),
        ..Recovered::default()
    });
    let wal = install(ctx, disk, &state).await;
    Ok((wal, state))
}

/// Writes `state` to a temporary file, fsyncs it, renames it over the log and fsyncs the
/// directory, retrying from the start when the directory fsync fails (its dropped entries would
/// never reach the disk, and a retried directory fsync would succeed without them).
async fn install(ctx: &NodeCtx<Msg>, disk: &Disk<Msg>, state: &Recovered) -> Wal {
    let mut backoff = Backoff::new();
    loop {
        let file = loop {
            match disk.create(WAL_TMP) {
                Ok(f) => break f,
                Err(_) => backoff.wait(ctx).await, // ENOSPC truncating a leftover
            }
        };
        let mut wal = Wal {
            file,
            synced: 0,
            unsynced: Vec::new(),
            staged: image(state),
            blind_retry: false,
        };
        wal.sync(ctx).await;
        // A misdirected write may have put the image elsewhere (even into the old log) and left
        // the temporary file short: installing it would make an empty log look like a fresh
        // node, which forgets its votes and entries. Read it back before the rename.
        if !reads_back(&wal.file, &image(state)) {
            backoff.wait(ctx).await;
            continue;
        }
        disk.rename(WAL_TMP, WAL)
            .expect("the temporary log was just created");
        if disk.sync_dir().await.is_ok() {
            return wal;
        }
        backoff.wait(ctx).await;
    }
}

/// Recovery on log images (compiled into `tests/raft_rs.rs`, which includes this model).
#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, term: u64, data: &str) -> Entry {
        Entry {
            index,
            term,
            data: data.as_bytes().to_vec().into(),
            ..Default::default()
        }
    }

    /// Three entries, then a hard state.
    fn state() -> Recovered {
        let hs = HardState {
            term: 2,
            vote: 1,
            commit: 2,
            ..Default::default()
        };
        let mut s = Recovered {
            conf: ConfState::from((vec![1, 2, 3], Vec::new())),
            entries: vec![entry(1, 1, ""), entry(2, 2, "put a"), entry(3, 2, "put b")],
            hard_state: hs,
            end: 0,
        };
        s.end = image(&s).len();
        s
    }

    /// Where each record of a scanned image starts.
    fn offsets(log: &[u8]) -> Vec<usize> {
        records::scan(log)
            .records
            .iter()
            .map(|r| r.offset)
            .collect()
    }

    #[test]
    fn an_image_recovers_to_its_state() {
        let s = state();
        assert_eq!(recover(&image(&s)), Ok(Some(s)));
        assert_eq!(recover(&[]), Ok(None), "no file content: a fresh node");
    }

    #[test]
    fn a_later_record_overwrites_a_conflicting_suffix() {
        let s = state();
        let mut log = image(&s);
        let at = log.len() as u64;
        log.extend(record(
            ENTRY,
            &entry(2, 3, "put c").write_to_bytes().unwrap(),
            at,
        ));
        let r = recover(&log).unwrap().unwrap();
        assert_eq!(r.entries, vec![entry(1, 1, ""), entry(2, 3, "put c")]);
    }

    #[test]
    fn a_torn_tail_is_cut_at_the_last_whole_record() {
        let s = state();
        let log = image(&s);
        let last = *offsets(&log).last().unwrap();
        // Every cut inside the last record (the hard state) keeps the records before it.
        for cut in last + 1..log.len() {
            let r = recover(&log[..cut])
                .unwrap()
                .expect("the conf record is whole");
            assert_eq!(r.end, last, "cut at {cut}");
            assert_eq!(r.entries, s.entries, "cut at {cut}");
            assert_eq!(r.hard_state, HardState::default(), "cut at {cut}");
        }
        // A cut inside the first record: nothing was ever durable, the node starts fresh.
        let second = offsets(&log)[1];
        for cut in 1..second {
            assert_eq!(recover(&log[..cut]), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn every_bit_flip_is_corruption_never_a_state() {
        let log = image(&state());
        for bit in 0..log.len() * 8 {
            let mut bad = log.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let got = recover(&bad);
            assert!(got.is_err(), "flip of bit {bit} was trusted: {got:?}");
        }
    }

    #[test]
    fn a_corrupt_record_is_named_by_its_offset_and_not_cut_away() {
        let log = image(&state());
        let second = offsets(&log)[2]; // entry 2
        let mut bad = log.clone();
        bad[second + records::HEADER + PREFIX] ^= 0x01; // inside entry 2's protobuf
        assert_eq!(
            recover(&bad),
            Err(Corruption::at(second, "a record's checksum fails"))
        );
    }

    #[test]
    fn a_whole_record_at_the_wrong_offset_is_corruption() {
        // Entries 2 and 3 frame to the same length: entry 3's record written over entry 2's
        // checksums fine, and only its intended offset gives it away.
        let log = image(&state());
        let at = offsets(&log);
        let (two, three, four) = (at[2], at[3], at[4]);
        assert_eq!(three - two, four - three);
        let mut bad = log.clone();
        bad.copy_within(three..four, two);
        assert!(records::scan(&bad).is_clean());
        let err = recover(&bad).unwrap_err();
        assert_eq!(err.offset, two);
        assert!(err.why.contains("misdirected"), "{err:?}");
    }

    #[test]
    fn an_entry_that_skips_indices_is_corruption() {
        let mut s = state();
        s.entries.remove(1);
        let err = recover(&image(&s)).unwrap_err();
        assert!(err.why.contains("entry 3 does not continue"), "{err:?}");
    }
}
