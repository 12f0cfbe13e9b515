//! The replicated log, in memory and in its file on the node's disk.
//!
//! Entries share their command and its on-disk record through an `Arc`, so replicating a batch
//! clones pointers, and a follower writes the bytes the leader encoded once. Each entry carries a
//! digest (its identity: term, operation id and the payload's checksum, so a corrupted value that
//! still decodes is a different entry) and the log keeps a prefix hash per index, which the
//! observations report so the checkers can compare logs without shipping them.
//!
//! On disk the log is one file of [`faultline::records`]: one checksummed record per entry,
//! appended and then synced (`File::sync_data`) before the node acknowledges. Recovery at startup
//! (protocol-aware recovery, PAR, FAST '18) tells apart what a crash can do from what corruption
//! can do: a torn tail was never acknowledged and is cut off; a record whose payload checksum
//! fails is kept as a *faulty* index (never applied, never truncated away, repaired from the
//! leader); a damaged header makes everything after it unknown, which the node records durably in
//! its metadata (`repairing`) before it drops the unreadable bytes. A failed read is retried (an
//! I/O error is not damage). See `node.rs` for how a node with faulty entries behaves and why
//! that is safe.
use super::Bug;
use faultline::prelude::*;
use faultline::records::{self, Tail, HEADER};
use faultline::{DiskError, File};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// What a client asked for, as it travels in the log.
#[derive(Debug, PartialEq)]
pub struct Command {
    /// The client's operation id, unique per run: the state machine applies it at most once.
    pub op_id: u64,
    pub f: String,
    pub key: String,
    pub value: Value,
}

/// A command and its record as the log file holds it (encoded once, by whoever created the
/// entry).
#[derive(Debug, PartialEq)]
pub struct Body {
    pub cmd: Command,
    /// The entry's record ([`records::encode`] of term and command).
    record: Vec<u8>,
}

/// One log entry: a command and the term of the leader that appended it. On the wire (`--wire
/// serde`) it travels as its term and command: the receiver rebuilds its own body (record and
/// digest), as a real follower decoding an RPC does, instead of sharing the sender's `Arc`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(into = "WireEntry", from = "WireEntry")]
pub struct Entry {
    pub term: u64,
    /// Identifies the entry (its term, op id and payload checksum), for the observations.
    pub digest: u64,
    pub body: Arc<Body>,
}

/// A 64-bit mixer (splitmix64's finalizer): cheap, deterministic, good enough to tell entries
/// apart.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Digests and prefix hashes are kept to 48 bits so they stay exact as JSON numbers in a browser.
const HASH_MASK: u64 = (1 << 48) - 1;

// Value tags in an entry's payload. Integers (what the workloads write) are stored as 8 raw
// bytes, so a bit flip inside one still decodes, to another number: exactly the corruption a
// reader that skips checksums turns into a wrong state machine.
const V_NULL: u8 = 0;
const V_INT: u8 = 1;
const V_JSON: u8 = 2;

/// The payload of an entry's record: term, op id, `f`, key and value, length-prefixed.
fn encode_payload(term: u64, cmd: &Command) -> Vec<u8> {
    let mut p = Vec::with_capacity(32 + cmd.f.len() + cmd.key.len());
    p.extend_from_slice(&term.to_le_bytes());
    p.extend_from_slice(&cmd.op_id.to_le_bytes());
    p.push(cmd.f.len() as u8);
    p.extend_from_slice(cmd.f.as_bytes());
    p.extend_from_slice(&(cmd.key.len() as u16).to_le_bytes());
    p.extend_from_slice(cmd.key.as_bytes());
    match &cmd.value {
        Value::Null => p.push(V_NULL),
        v => match v.as_i64() {
            Some(n) => {
                p.push(V_INT);
                p.extend_from_slice(&n.to_le_bytes());
            }
            None => {
                p.push(V_JSON);
                serde_json::to_writer(&mut p, v).expect("values serialize");
            }
        },
    }
    p
}

/// A reader over a payload.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn string(&mut self, n: usize) -> Option<String> {
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

/// Reads a payload written by [`encode_payload`]; `None` if it does not parse.
fn decode_payload(p: &[u8]) -> Option<(u64, Command)> {
    let mut c = Cursor(p);
    let term = c.u64()?;
    let op_id = c.u64()?;
    let flen = c.take(1)?[0] as usize;
    let f = c.string(flen)?;
    let klen = u16::from_le_bytes(c.take(2)?.try_into().ok()?) as usize;
    let key = c.string(klen)?;
    let value = match c.take(1)?[0] {
        V_NULL => Value::Null,
        V_INT => Value::from(c.u64()? as i64),
        V_JSON => serde_json::from_slice(std::mem::take(&mut c.0)).ok()?,
        _ => return None,
    };
    if !c.0.is_empty() {
        return None;
    }
    Some((
        term,
        Command {
            op_id,
            f,
            key,
            value,
        },
    ))
}

/// An entry as it crosses the wire: what [`Entry::new`] needs to rebuild it.
#[derive(serde::Serialize, serde::Deserialize)]
struct WireEntry {
    term: u64,
    op_id: u64,
    f: String,
    key: String,
    value: Value,
}

impl From<Entry> for WireEntry {
    fn from(e: Entry) -> WireEntry {
        let c = e.cmd();
        WireEntry {
            term: e.term,
            op_id: c.op_id,
            f: c.f.clone(),
            key: c.key.clone(),
            value: c.value.clone(),
        }
    }
}

impl From<WireEntry> for Entry {
    fn from(w: WireEntry) -> Entry {
        Entry::new(
            w.term,
            Command {
                op_id: w.op_id,
                f: w.f,
                key: w.key,
                value: w.value,
            },
        )
    }
}

impl Entry {
    pub fn new(term: u64, cmd: Command) -> Entry {
        let record = records::encode(&encode_payload(term, &cmd));
        Entry::with_record(term, cmd, record)
    }

    fn with_record(term: u64, cmd: Command, record: Vec<u8>) -> Entry {
        // The record's payload checksum covers every field: two entries that differ anywhere
        // have different digests (with overwhelming probability).
        let pcrc = u32::from_le_bytes(record[8..12].try_into().expect("a record header"));
        let digest = mix(term ^ mix(cmd.op_id ^ mix(pcrc as u64))) & HASH_MASK;
        Entry {
            term,
            digest,
            body: Arc::new(Body { cmd, record }),
        }
    }

    pub fn cmd(&self) -> &Command {
        &self.body.cmd
    }

    /// Decodes a payload read back from the file (its checksum already checked, or not, by the
    /// caller).
    fn decode(payload: &[u8]) -> Option<Entry> {
        let (term, cmd) = decode_payload(payload)?;
        Some(Entry::new(term, cmd))
    }
}

/// An entry as observations report it (see `faultline_checkers::raft`). A plain struct, so
/// observing it builds the JSON object once.
#[derive(Serialize)]
pub struct EntryFact<'a> {
    pub index: usize,
    pub term: u64,
    pub digest: u64,
    /// Hash of the log prefix ending here.
    pub chain: u64,
    /// The client operation the entry carries, as the history records its invocation, so the
    /// checkers can tie every acknowledged write to its place in the log.
    pub op: OpFact<'a>,
}

/// A client operation as the `applied` observations name it (`f`, `key`, `value`).
#[derive(Serialize)]
pub struct OpFact<'a> {
    pub f: &'a str,
    pub key: &'a str,
    pub value: &'a Value,
}

const LOG_FILE: &str = "log";

/// How many times a write-and-sync is retried (rewriting from memory) before the node gives up
/// for now and does not acknowledge.
pub const ATTEMPTS: usize = 3;

/// The node's log (indices start at 1; index 0 is the empty prefix, term 0) and the state of its
/// file.
pub struct Log {
    entries: Vec<Entry>,
    /// `chains[i]`: hash of the prefix ending at index `i + 1`.
    chains: Vec<u64>,
    /// Indices whose record failed its checksum at startup, with the record's raw bytes (kept so
    /// a rewrite of the file keeps them faulty). Their `entries` slot is a placeholder.
    faulty: BTreeMap<usize, Vec<u8>>,
    /// The open log file (`None` until the first write creates it).
    file: Option<File<super::Msg>>,
    /// `offsets[i]`: byte offset of entry `i + 1`'s record, for `i < on_disk`; then the end.
    offsets: Vec<u64>,
    /// Entries the file holds as the log has them.
    on_disk: usize,
    /// Entries whose records were replaced in memory (repairs) and are to be rewritten in place.
    in_place: BTreeSet<usize>,
    /// The file must be cut back to `on_disk` entries before appending (a truncation).
    cut: bool,
    /// Entries known durable (written and synced).
    synced: usize,
    /// A write or sync failed: the page cache no longer tells what the disk holds (a failed
    /// fsync drops the file's dirty pages), so the file is rewritten whole from memory.
    broken: bool,
}

/// What [`Log::load`] found besides the entries.
pub struct Loaded {
    pub log: Log,
    /// Entries past the readable ones are unknown (a damaged header, or an unreadable file): the
    /// node must not vote until a leader has repaired its log.
    pub lost_tail: bool,
}

impl Log {
    fn empty() -> Log {
        Log {
            entries: Vec::new(),
            chains: Vec::new(),
            faulty: BTreeMap::new(),
            file: None,
            offsets: vec![0],
            on_disk: 0,
            in_place: BTreeSet::new(),
            cut: false,
            synced: 0,
            broken: false,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn last_term(&self) -> u64 {
        self.term_at(self.len()).unwrap_or(0)
    }

    /// The term of the entry at `index` (0 for index 0); `None` beyond the end or if faulty.
    pub fn term_at(&self, index: usize) -> Option<u64> {
        match index {
            0 => Some(0),
            i if self.faulty.contains_key(&i) => None,
            i => self.entries.get(i - 1).map(|e| e.term),
        }
    }

    /// The first index whose record failed its checksum, if any.
    pub fn first_faulty(&self) -> Option<usize> {
        self.faulty.keys().next().copied()
    }

    pub fn is_faulty(&self, index: usize) -> bool {
        self.faulty.contains_key(&index)
    }

    pub fn has_faulty(&self) -> bool {
        !self.faulty.is_empty()
    }

    /// The entry at `index` (1-based; never a faulty one: those are neither sent nor applied).
    pub fn get(&self, index: usize) -> &Entry {
        debug_assert!(!self.is_faulty(index), "faulty entry {index} read");
        &self.entries[index - 1]
    }

    /// What the `committed` and `applied` observations say about the entry at `index`.
    pub fn fact(&self, index: usize) -> EntryFact<'_> {
        let e = self.get(index);
        EntryFact {
            index,
            term: e.term,
            digest: e.digest,
            chain: self.chains[index - 1],
            op: OpFact {
                f: &e.cmd().f,
                key: &e.cmd().key,
                value: &e.cmd().value,
            },
        }
    }

    /// Entries from `index` on, at most `max`.
    pub fn slice_from(&self, index: usize, max: usize) -> Vec<Entry> {
        let from = (index - 1).min(self.entries.len());
        let to = (from + max).min(self.entries.len());
        self.entries[from..to].to_vec()
    }

    /// The first index holding an entry of the same term as `index`: where a follower's
    /// conflicting run of entries starts (the leader skips back a whole term at a time).
    pub fn first_of_term(&self, index: usize) -> usize {
        let term = self.term_at(index);
        let mut i = index;
        while i > 1 && self.term_at(i - 1) == term {
            i -= 1;
        }
        i.max(1)
    }

    fn chain_after(prev: u64, e: &Entry) -> u64 {
        mix(prev.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ e.digest) & HASH_MASK
    }

    pub fn push(&mut self, e: Entry) {
        let prev = self.chains.last().copied().unwrap_or(0);
        self.chains.push(Self::chain_after(prev, &e));
        self.entries.push(e);
    }

    /// Drops the entries from `index` on (a conflicting suffix).
    pub fn truncate_from(&mut self, index: usize) {
        let keep = index - 1;
        if keep < self.entries.len() {
            self.entries.truncate(keep);
            self.chains.truncate(keep);
            self.faulty.retain(|&i, _| i <= keep);
            self.in_place.retain(|&i| i <= keep);
            self.synced = self.synced.min(keep);
            if keep < self.on_disk {
                self.on_disk = keep;
                self.cut = true;
            }
        }
    }

    /// Repairs the faulty entry at `index` with the leader's entry. A record of the same length
    /// is rewritten in place and the entries after it stay (if they match the leader's, log
    /// matching says the lost entry was this one). A different length proves the lost entry was
    /// another one, so it and everything after it conflicted with the leader and were
    /// uncommitted: the log is cut there, as for any conflict.
    pub fn repair(&mut self, index: usize, e: Entry) {
        let raw = self
            .faulty
            .remove(&index)
            .expect("repairing a faulty index");
        if raw.len() != e.body.record.len() {
            self.truncate_from(index);
            self.push(e);
            return;
        }
        self.entries[index - 1] = e;
        for i in index - 1..self.entries.len() {
            let prev = if i == 0 { 0 } else { self.chains[i - 1] };
            self.chains[i] = Self::chain_after(prev, &self.entries[i]);
        }
        if index <= self.on_disk {
            self.in_place.insert(index);
        }
        self.synced = self.synced.min(index - 1);
    }

    /// Whether everything in memory is written and synced.
    pub fn is_durable(&self) -> bool {
        self.synced == self.entries.len() && !self.broken && self.in_place.is_empty()
    }

    /// The record bytes of entry `i` (a faulty one keeps its damaged bytes).
    fn record(&self, i: usize) -> &[u8] {
        match self.faulty.get(&i) {
            Some(raw) => raw,
            None => &self.entries[i - 1].body.record,
        }
    }

    /// Writes what changed since the last call into the page cache (not durable until synced).
    fn write_changes(&mut self) -> Result<(), DiskError> {
        let file = self.file.as_ref().expect("the log file is open");
        if self.cut {
            file.set_len(self.offsets[self.on_disk])?;
            self.offsets.truncate(self.on_disk + 1);
            self.cut = false;
        }
        for &i in &self.in_place {
            let rec = &self.entries[i - 1].body.record;
            file.write_at(self.offsets[i - 1], rec)?;
        }
        self.in_place.clear();
        if self.on_disk < self.entries.len() {
            let mut end = self.offsets[self.on_disk];
            let mut buf = Vec::new();
            for i in self.on_disk + 1..=self.entries.len() {
                let rec = self.record(i);
                buf.extend_from_slice(rec);
                end += rec.len() as u64;
                self.offsets.push(end);
            }
            file.append(&buf)?;
            landed(file, end)?;
            self.on_disk = self.entries.len();
        }
        Ok(())
    }

    /// Makes the log durable: writes what changed, then (with `sync`) syncs the file. On a
    /// failed write or fsync the data in the page cache can no longer be trusted to reach the
    /// disk, so the file is rewritten whole and synced again, up to [`ATTEMPTS`] times; `false`
    /// if it still failed (the caller must not acknowledge; a later call retries).
    ///
    /// `sync: false` (bug variants) only writes. `fsync-retry` instead retries the failed fsync,
    /// which succeeds with the data gone (fsyncgate), and reports success.
    pub async fn save(&mut self, disk: &Disk<super::Msg>, sync: bool, bug: Bug) -> bool {
        for _ in 0..ATTEMPTS {
            if self.file.is_none() || self.broken {
                match write_new(disk, LOG_FILE, &self.whole(), sync).await {
                    Ok(f) => {
                        self.file = Some(f);
                        self.laid_out();
                        self.broken = false;
                        if sync {
                            self.synced = self.entries.len();
                        }
                        return true;
                    }
                    Err(_) => continue,
                }
            }
            if self.write_changes().is_err() {
                self.broken = true;
                continue;
            }
            if !sync {
                return true;
            }
            if self.sync_file(bug).await {
                return true;
            }
        }
        false
    }

    /// Syncs the log file (after [`Log::save`] without sync: `ack-before-fsync`'s lazy fsync).
    pub async fn sync_file(&mut self, bug: Bug) -> bool {
        let Some(file) = &self.file else {
            return true;
        };
        if self.broken {
            return false;
        }
        match file.sync_data().await {
            Ok(()) => {}
            Err(_) if bug == Bug::FsyncRetry => {
                // fsyncgate: the retry succeeds because the dirty pages are already gone.
                if file.sync_data().await.is_err() {
                    self.broken = true;
                    return false;
                }
            }
            Err(_) => {
                self.broken = true;
                return false;
            }
        }
        self.synced = self.on_disk;
        true
    }

    /// The whole file's bytes as the log stands.
    fn whole(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        for i in 1..=self.entries.len() {
            buf.extend_from_slice(self.record(i));
        }
        buf
    }

    /// After writing [`Log::whole`]: the file holds every entry.
    fn laid_out(&mut self) {
        self.offsets.clear();
        self.offsets.push(0);
        let mut end = 0;
        for i in 1..=self.entries.len() {
            end += self.record(i).len() as u64;
            self.offsets.push(end);
        }
        self.on_disk = self.entries.len();
        self.in_place.clear();
        self.cut = false;
    }

    /// The log as the disk holds it after a restart (see the module doc). `no-checksum` reads
    /// records without checking any checksum; `truncate-on-corruption` cuts the log at the first
    /// bad record. The file itself is left as it is: the caller makes the recovered log durable
    /// with [`Log::save`] after recording a lost tail in the metadata.
    pub async fn load(ctx: &NodeCtx<super::Msg>, disk: &Disk<super::Msg>, bug: Bug) -> Loaded {
        let read = read_file(ctx, disk, LOG_FILE).await.map(Ok);
        Log::recover(read, bug)
    }

    /// [`Log::load`] from what reading the file gave: `None` if there is no file.
    fn recover(read: Option<Result<Vec<u8>, DiskError>>, bug: Bug) -> Loaded {
        let mut log = Log::empty();
        let bytes = match read {
            None => {
                return Loaded {
                    log,
                    lost_tail: false,
                }
            }
            Some(r) => match r {
                Ok(b) => b,
                // An error that does not go away (startup reads retry a transient one, see
                // `read_file`): as if the whole file were corrupt.
                Err(_) => {
                    log.broken = true;
                    return Loaded {
                        log,
                        lost_tail: bug != Bug::TruncateOnCorruption,
                    };
                }
            },
        };
        // The file was read back: rewrite it before use, so what the node acts on is durable
        // (after a failed fsync and a process crash, the page cache shows data the disk lacks).
        log.broken = true;
        if bug == Bug::NoChecksum {
            for payload in unchecked_payloads(&bytes) {
                match Entry::decode(payload) {
                    Some(e) => log.push(e),
                    None => break,
                }
            }
            return Loaded {
                log,
                lost_tail: false,
            };
        }
        let scan = records::scan(&bytes);
        for r in &scan.records {
            let entry = r.payload.as_deref().and_then(Entry::decode);
            match entry {
                Some(e) => log.push(e),
                None if bug == Bug::TruncateOnCorruption => {
                    return Loaded {
                        log,
                        lost_tail: false,
                    }
                }
                None => {
                    let len = u32::from_le_bytes(
                        bytes[r.offset..r.offset + 4].try_into().expect("a header"),
                    ) as usize;
                    let raw = bytes[r.offset..r.offset + HEADER + len].to_vec();
                    log.faulty.insert(log.entries.len() + 1, raw);
                    log.push(placeholder());
                }
            }
        }
        let lost_tail =
            matches!(scan.tail, Tail::Corrupt { .. }) && bug != Bug::TruncateOnCorruption;
        Loaded { log, lost_tail }
    }
}

/// The entry a faulty index holds in memory: never sent, applied or observed.
fn placeholder() -> Entry {
    Entry::new(
        0,
        Command {
            op_id: u64::MAX,
            f: String::new(),
            key: String::new(),
            value: Value::Null,
        },
    )
}

/// `no-checksum`'s reader: follows the length fields and trusts every payload.
fn unchecked_payloads(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = 0;
    while bytes.len() - at >= HEADER {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let Some(p) = bytes.get(at + HEADER..at + HEADER + len) else {
            break;
        };
        out.push(p);
        at += HEADER + len;
    }
    out
}

/// Checks that a write extending a file to `end` landed there: a misdirected write (one that went
/// to another offset or file) leaves the file another length. Caught here, it is a failed write
/// (rewritten whole, never acknowledged), not an acknowledged entry silently missing from the
/// log, which no checksum could see. Where the stray bytes landed, checksums see them on read.
/// A whole file as the disk holds it (`None` if there is none), a failed read retried until one
/// succeeds. A read error is a fault of the moment (a `disk-error` window): the bytes are still
/// there, so taking it for damage would have the node give up its log or its vote — three nodes
/// doing so at once leave no majority to elect (swarm seed 1463). The node stays down meanwhile.
pub async fn read_file(
    ctx: &NodeCtx<super::Msg>,
    disk: &Disk<super::Msg>,
    name: &str,
) -> Option<Vec<u8>> {
    let f = disk.open(name).ok()?;
    let mut wait = Duration::from_millis(2);
    loop {
        match f.read() {
            Ok(bytes) => return Some(bytes),
            Err(_) => {
                ctx.sleep(wait).await;
                wait = (wait * 2).min(Duration::from_millis(64));
            }
        }
    }
}

fn landed(f: &File<super::Msg>, end: u64) -> Result<(), DiskError> {
    if f.len()? == end {
        Ok(())
    } else {
        Err(DiskError::Eio)
    }
}

/// Creates `name` with `data` durably: written under a temporary name, synced, renamed over
/// `name`, and the directory synced (without `sync`, bug variants: no syncs at all). Returns
/// the open file.
pub async fn write_new(
    disk: &Disk<super::Msg>,
    name: &str,
    data: &[u8],
    sync: bool,
) -> Result<File<super::Msg>, DiskError> {
    let tmp = format!("{name}.tmp");
    let f = disk.create(&tmp)?;
    if !data.is_empty() {
        f.write_at(0, data)?;
        landed(&f, data.len() as u64)?;
    }
    if sync {
        f.sync_data().await?;
    }
    disk.rename(&tmp, name)?;
    if sync {
        disk.sync_dir().await?;
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(term: u64, op_id: u64, value: i64) -> Entry {
        Entry::new(
            term,
            Command {
                op_id,
                f: "append".into(),
                key: "k1".into(),
                value: Value::from(value),
            },
        )
    }

    /// A log file of `n` entries (term 1, op i, value 100 + i) and each record's offset.
    fn file(n: u64) -> (Vec<u8>, Vec<usize>) {
        let (mut bytes, mut offsets) = (Vec::new(), Vec::new());
        for i in 1..=n {
            offsets.push(bytes.len());
            bytes.extend_from_slice(&entry(1, i, 100 + i as i64).body.record);
        }
        (bytes, offsets)
    }

    fn load(bytes: &[u8], bug: Bug) -> Loaded {
        Log::recover(Some(Ok(bytes.to_vec())), bug)
    }

    /// Offset of the last byte of a record's value (an 8-byte integer ending the payload).
    fn value_byte(bytes: &[u8], offsets: &[usize], i: usize) -> usize {
        offsets.get(i).copied().unwrap_or(bytes.len()) - 1
    }

    #[test]
    fn payloads_round_trip_and_a_flip_in_a_value_still_decodes_to_another_value() {
        let e = entry(3, 7, 42);
        let p = &e.body.record[HEADER..];
        let (term, cmd) = decode_payload(p).unwrap();
        assert_eq!((term, &cmd), (3, e.cmd()));
        let mut bad = p.to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 0x40;
        let (_, flipped) = decode_payload(&bad).expect("a flipped integer still decodes");
        assert_ne!(flipped.value, cmd.value);
        let json = Entry::new(
            1,
            Command {
                value: serde_json::json!([1, "x"]),
                ..cmd
            },
        );
        assert_eq!(
            decode_payload(&json.body.record[HEADER..]).unwrap().1.value,
            serde_json::json!([1, "x"])
        );
    }

    #[test]
    fn a_torn_tail_is_cut_and_nothing_else_is_lost() {
        let (bytes, offsets) = file(5);
        let l = load(&bytes[..offsets[4] + 7], Bug::None);
        assert_eq!(l.log.len(), 4);
        assert!(!l.log.has_faulty() && !l.lost_tail);
    }

    #[test]
    fn a_corrupt_record_stays_as_a_faulty_index_and_is_repaired_in_place() {
        let (mut bytes, offsets) = file(5);
        let at = value_byte(&bytes, &offsets, 2); // entry 2's value
        bytes[at] ^= 0x01;
        let Loaded { mut log, lost_tail } = load(&bytes, Bug::None);
        assert!(!lost_tail);
        assert_eq!(log.len(), 5, "never truncated at the corruption");
        assert_eq!(log.first_faulty(), Some(2));
        assert_eq!(log.term_at(2), None, "a faulty entry matches nothing");
        assert_eq!(log.term_at(3), Some(1));
        let chain5 = {
            let (clean, _) = file(5);
            load(&clean, Bug::None).log.chains[4]
        };
        log.repair(2, entry(1, 2, 102));
        assert!(!log.has_faulty());
        assert_eq!(log.len(), 5, "the same entry: the entries after it stay");
        assert_eq!(log.chains[4], chain5, "prefix hashes are recomputed");
        // The repair is rewritten in place and the rest of the file is untouched.
        assert_eq!(log.whole(), file(5).0);
    }

    #[test]
    fn a_repair_with_another_entry_cuts_the_conflicting_suffix() {
        let (mut bytes, offsets) = file(5);
        let at = value_byte(&bytes, &offsets, 2); // entry 2's value
        bytes[at] ^= 0x01;
        let mut log = load(&bytes, Bug::None).log;
        let other = Entry::new(
            2,
            Command {
                op_id: 99,
                f: "write".into(),
                key: "another-key".into(),
                value: Value::from(1),
            },
        );
        log.repair(2, other.clone());
        assert_eq!(log.len(), 2);
        assert_eq!(log.get(2), &other);
    }

    #[test]
    fn a_damaged_header_loses_the_tail_durably_and_a_read_error_loses_everything() {
        let (mut bytes, offsets) = file(5);
        bytes[offsets[3]] ^= 0x01; // entry 4's length
        let l = load(&bytes, Bug::None);
        assert_eq!(l.log.len(), 3);
        assert!(l.lost_tail, "the node must not vote until repaired");
        let l = Log::recover(Some(Err(DiskError::Eio)), Bug::None);
        assert!(l.lost_tail && l.log.len() == 0);
    }

    #[test]
    fn the_bug_variants_trust_or_truncate_what_the_correct_log_keeps_faulty() {
        let (mut bytes, offsets) = file(5);
        let at = value_byte(&bytes, &offsets, 2); // entry 2's value
        bytes[at] ^= 0x01;
        let cut = load(&bytes, Bug::TruncateOnCorruption);
        assert_eq!(cut.log.len(), 1, "cut at the first bad record");
        assert!(!cut.log.has_faulty() && !cut.lost_tail);
        let trusted = load(&bytes, Bug::NoChecksum).log;
        assert_eq!(trusted.len(), 5);
        assert!(!trusted.has_faulty());
        assert_eq!(
            trusted.get(2).cmd().value,
            Value::from(102i64 ^ (1i64 << 56))
        );
        assert_ne!(trusted.get(2).digest, entry(1, 2, 102).digest);
    }
}
