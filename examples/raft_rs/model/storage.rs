//! raft-rs's durable state on the harness disk, and the `MemStorage` rebuilt from it at every
//! (re)start.
//!
//! Three files:
//! - `raft-log`: an append-only write-ahead log of entry records (a little-endian `u32` length,
//!   then the protobuf-encoded `Entry`). A record for index `i` replaces the entries from `i` on,
//!   so overwriting a conflicting suffix is an append too. A crash can tear the last unsynced
//!   record: loading stops at the first incomplete one and rewrites the file without it.
//! - `hard-state`: the protobuf `HardState` (term, vote, commit).
//! - `conf-state`: the protobuf `ConfState`, written once when the node first boots. Membership
//!   is static here (every node starts with all servers as voters, as `MemStorage`'s docs
//!   suggest) and the log is never compacted, so there are no snapshots to store.
//!
//! Nothing here is durable until the driver fsyncs, which is the point: the Ready loop decides
//! when, and the bug variants get it wrong.
//!
//! The driver also keeps, per stable index, what the Raft checkers need to compare logs without
//! shipping them: the entry's term, a digest of the entry and a hash of the log prefix ending at
//! it (`chain`).
use faultline::Disk;
use protobuf::Message as _;
use raft::prelude::{ConfState, Entry, HardState};
use raft::storage::MemStorage;
use serde_json::{json, Value};

const LOG: &str = "raft-log";
const HARD_STATE: &str = "hard-state";
const CONF_STATE: &str = "conf-state";

/// Digests and prefix hashes are kept to 48 bits so they stay exact as JSON numbers in a browser.
const HASH_MASK: u64 = (1 << 48) - 1;

/// A 64-bit mixer (splitmix64's finalizer).
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Identifies an entry: its term, type and payload (FNV-1a over the bytes, then mixed).
fn digest(e: &Entry) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in e.data.iter() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    mix(h ^ mix(e.term) ^ (e.get_entry_type() as u64).rotate_left(32)) & HASH_MASK
}

/// What the `committed` and `applied` observations say about one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fact {
    pub index: u64,
    pub term: u64,
    pub digest: u64,
    /// Hash of the log prefix ending here.
    pub chain: u64,
}

impl Fact {
    pub fn json(&self) -> Value {
        json!({"index": self.index, "term": self.term, "digest": self.digest, "chain": self.chain})
    }
}

/// The node's stable log as facts (index `i` at `facts[i - 1]`), mirroring `MemStorage`.
pub struct Durable {
    facts: Vec<Fact>,
}

impl Durable {
    /// Rebuilds raft-rs's storage from what the disk holds: a fresh node gets the initial
    /// configuration (`voters`, written to disk for the next boot), a restarted one its log, hard
    /// state and configuration.
    pub fn load<M>(disk: &Disk<M>, voters: &[u64]) -> (Durable, MemStorage) {
        let conf = match disk.read(CONF_STATE) {
            Some(bytes) => ConfState::parse_from_bytes(&bytes).expect("conf-state is protobuf"),
            None => {
                let cs = ConfState::from((voters.iter().copied(), Vec::new()));
                disk.write(CONF_STATE, cs.write_to_bytes().expect("encodes"));
                cs
            }
        };
        let storage = MemStorage::new_with_conf_state(conf);
        let (entries, torn) = read_log(disk);
        let mut durable = Durable { facts: Vec::new() };
        if torn {
            // New records must never land behind a torn fragment: rewrite the file clean.
            let mut buf = Vec::new();
            for e in &entries {
                encode(e, &mut buf);
            }
            disk.write(LOG, buf);
        }
        durable.mirror(&entries);
        let mut core = storage.wl();
        core.append(&entries)
            .expect("a contiguous log from index 1");
        if let Some(bytes) = disk.read(HARD_STATE) {
            core.set_hardstate(
                HardState::parse_from_bytes(&bytes).expect("hard-state is protobuf"),
            );
        }
        drop(core);
        (durable, storage)
    }

    /// Appends a Ready's entries to the storage and the log file (durable once fsynced). They may
    /// start inside the log: raft-rs overwrites a conflicting suffix.
    pub fn append<M>(&mut self, disk: &Disk<M>, storage: &MemStorage, entries: &[Entry]) {
        if entries.is_empty() {
            return;
        }
        storage
            .wl()
            .append(entries)
            .expect("raft-rs hands contiguous entries");
        let mut buf = Vec::new();
        for e in entries {
            encode(e, &mut buf);
        }
        disk.append(LOG, &buf);
        self.mirror(entries);
    }

    /// Records the hard state in the storage and, unless `volatile`, in its file (durable once
    /// fsynced).
    pub fn set_hard_state<M>(
        &self,
        disk: &Disk<M>,
        storage: &MemStorage,
        hs: &HardState,
        volatile: bool,
    ) {
        storage.wl().set_hardstate(hs.clone());
        if !volatile {
            disk.write(HARD_STATE, hs.write_to_bytes().expect("encodes"));
        }
    }

    /// A new commit index from a light Ready: raft-rs needs it in the storage; on disk it rides
    /// along with the next fsync (losing it in a crash only makes the node re-learn it).
    pub fn set_commit<M>(&self, disk: &Disk<M>, storage: &MemStorage, commit: u64, volatile: bool) {
        let hs = {
            let mut core = storage.wl();
            core.mut_hard_state().commit = commit;
            core.hard_state().clone()
        };
        if !volatile {
            disk.write(HARD_STATE, hs.write_to_bytes().expect("encodes"));
        }
    }

    /// The fact about the stable entry at `index`, if the log holds it.
    pub fn fact(&self, index: u64) -> Option<Fact> {
        let i = usize::try_from(index).ok()?.checked_sub(1)?;
        self.facts.get(i).copied()
    }

    fn mirror(&mut self, entries: &[Entry]) {
        let Some(first) = entries.first() else {
            return;
        };
        let keep = usize::try_from(first.index - 1).expect("index fits");
        assert!(keep <= self.facts.len(), "entries continue the log");
        self.facts.truncate(keep);
        for e in entries {
            let prev = self.facts.last().map_or(0, |f| f.chain);
            let digest = digest(e);
            self.facts.push(Fact {
                index: e.index,
                term: e.term,
                digest,
                chain: mix(prev.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ digest) & HASH_MASK,
            });
        }
    }
}

fn encode(e: &Entry, buf: &mut Vec<u8>) {
    let bytes = e.write_to_bytes().expect("entries encode");
    let len = u32::try_from(bytes.len()).expect("an entry under 4 GiB");
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&bytes);
}

/// The log as the file holds it, replaying overwrites; `true` when a torn record ends it.
fn read_log<M>(disk: &Disk<M>) -> (Vec<Entry>, bool) {
    let mut entries: Vec<Entry> = Vec::new();
    let Some(bytes) = disk.read(LOG) else {
        return (entries, false);
    };
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        let Some((len, body)) = rest.split_first_chunk::<4>() else {
            return (entries, true);
        };
        let len = u32::from_le_bytes(*len) as usize;
        if body.len() < len {
            return (entries, true);
        }
        let e = Entry::parse_from_bytes(&body[..len]).expect("complete records decode");
        let keep = usize::try_from(e.index - 1).expect("index fits");
        assert!(keep <= entries.len(), "records continue the log");
        entries.truncate(keep);
        entries.push(e);
        rest = &body[len..];
    }
    (entries, false)
}
