//! The replicated log and the durable state (term, vote, log) on the node's disk.
//!
//! Entries share their command through an `Arc`, so replicating a batch clones pointers, not
//! strings and JSON values. Each entry carries a digest (its identity) and the log keeps a prefix
//! hash per index, which the observations report so the checkers can compare logs without
//! shipping them.
use faultline::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// What a client asked for, as it travels in the log.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// The client's operation id, unique per run: the state machine applies it at most once.
    pub op_id: u64,
    pub f: String,
    pub key: String,
    pub value: Value,
}

/// One log entry: a command and the term of the leader that appended it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub term: u64,
    /// Identifies the entry (its term and command), for the observations.
    pub digest: u64,
    pub cmd: Arc<Command>,
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

impl Entry {
    pub fn new(term: u64, cmd: Command) -> Entry {
        let digest = mix(term ^ mix(cmd.op_id)) & HASH_MASK;
        Entry {
            term,
            digest,
            cmd: Arc::new(cmd),
        }
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

/// The node's log (indices start at 1; index 0 is the empty prefix, term 0) and how much of it
/// the log file already holds.
pub struct Log {
    entries: Vec<Entry>,
    /// `chains[i]`: hash of the prefix ending at index `i + 1`.
    chains: Vec<u64>,
    /// Entries the log file holds that are still in the log (appends need write only the rest).
    on_disk: usize,
    /// The file holds entries the log no longer has (a truncation): rewrite it.
    rewrite: bool,
}

impl Log {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn last_term(&self) -> u64 {
        self.entries.last().map_or(0, |e| e.term)
    }

    /// The term of the entry at `index` (0 for index 0); `None` beyond the end.
    pub fn term_at(&self, index: usize) -> Option<u64> {
        match index {
            0 => Some(0),
            i => self.entries.get(i - 1).map(|e| e.term),
        }
    }

    /// The entry at `index` (1-based).
    pub fn get(&self, index: usize) -> &Entry {
        &self.entries[index - 1]
    }

    /// What the `committed` and `applied` observations say about the entry at `index`.
    pub fn fact(&self, index: usize) -> EntryFact<'_> {
        let e = &self.entries[index - 1];
        EntryFact {
            index,
            term: e.term,
            digest: e.digest,
            chain: self.chains[index - 1],
            op: OpFact {
                f: &e.cmd.f,
                key: &e.cmd.key,
                value: &e.cmd.value,
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

    pub fn push(&mut self, e: Entry) {
        let prev = self.chains.last().copied().unwrap_or(0);
        self.chains
            .push(mix(prev.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ e.digest) & HASH_MASK);
        self.entries.push(e);
    }

    /// Drops the entries from `index` on.
    pub fn truncate_from(&mut self, index: usize) {
        let keep = index - 1;
        if keep < self.entries.len() {
            self.entries.truncate(keep);
            self.chains.truncate(keep);
            if keep < self.on_disk {
                self.on_disk = keep;
                self.rewrite = true;
            }
        }
    }

    /// Writes what changed since the last call to the log file (an append, or a rewrite after a
    /// truncation). Not durable until the caller fsyncs.
    pub fn write_to<M>(&mut self, disk: &Disk<M>) {
        if !self.rewrite && self.on_disk == self.entries.len() {
            return;
        }
        let from = if self.rewrite { 0 } else { self.on_disk };
        let mut buf = Vec::with_capacity(96 * (self.entries.len() - from));
        for e in &self.entries[from..] {
            serde_json::to_writer(&mut buf, &(e.term, &*e.cmd)).expect("entries serialize");
            buf.push(b'\n');
        }
        if self.rewrite {
            disk.write(LOG_FILE, buf);
        } else {
            disk.append(LOG_FILE, &buf);
        }
        self.on_disk = self.entries.len();
        self.rewrite = false;
    }

    /// The log as the disk holds it after a restart. A crash can tear the last unsynced append:
    /// whatever follows the last complete line is dropped (it was never acknowledged as
    /// durable), and the file is rewritten before the next append so that new entries never
    /// land behind a torn fragment.
    pub fn load<M>(disk: &Disk<M>) -> Log {
        let mut log = Log {
            entries: Vec::new(),
            chains: Vec::new(),
            on_disk: 0,
            rewrite: false,
        };
        if let Some(bytes) = disk.read(LOG_FILE) {
            let complete = bytes.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
            log.rewrite = complete < bytes.len();
            for line in bytes[..complete].split(|&c| c == b'\n') {
                if line.is_empty() {
                    continue;
                }
                match serde_json::from_slice::<(u64, Command)>(line) {
                    Ok((term, cmd)) => log.push(Entry::new(term, cmd)),
                    Err(_) => {
                        log.rewrite = true;
                        break;
                    }
                }
            }
        }
        log.on_disk = log.entries.len();
        log
    }
}

const LOG_FILE: &str = "log";
const META_FILE: &str = "meta";

/// The current term and the vote cast in it: what a node must not forget across a crash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub term: u64,
    pub voted_for: Option<usize>,
}

impl Meta {
    pub fn load<M>(disk: &Disk<M>) -> Meta {
        disk.get(META_FILE).unwrap_or_default()
    }

    /// Not durable until the caller fsyncs.
    pub fn write_to<M>(&self, disk: &Disk<M>) {
        disk.put(META_FILE, self);
    }
}
