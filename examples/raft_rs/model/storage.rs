//! raft-rs's durable state on the harness disk, and the `MemStorage` rebuilt from it at every
//! (re)start.
//!
//! Everything raft-rs's `Storage` contract asks to keep — the entries, the `HardState` (term,
//! vote, commit) and the `ConfState` — lives in one write-ahead log of checksummed records
//! (`wal.rs`), so one fsync per Ready makes all of it durable. Membership is static here (every
//! node starts with all servers as voters, as `MemStorage`'s docs suggest) and the log is never
//! compacted into a snapshot, so there are no snapshots to store.
//!
//! Nothing here is durable until the driver syncs, which is the point: the Ready loop decides
//! when, and the bug variants get it wrong.
//!
//! The driver also keeps, per stable index, what the Raft checkers need to compare logs without
//! shipping them: the entry's term, a digest of the entry and a hash of the log prefix ending at
//! it (`chain`).
use super::wal::{self, Corruption, OnDamage, Wal};
use super::Msg;
use faultline::NodeCtx;
use raft::prelude::{ConfState, Entry, HardState};
use raft::storage::MemStorage;
use serde_json::{json, Value};

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

/// The node's stable log as facts (index `i` at `facts[i - 1]`), mirroring `MemStorage`, and the
/// log file it is persisted in.
pub struct Durable {
    facts: Vec<Fact>,
    wal: Wal,
}

impl Durable {
    /// Rebuilds raft-rs's storage from what the disk holds: a fresh node gets the initial
    /// configuration (`voters`, made durable before raft-rs starts), a restarted one its log,
    /// hard state and configuration. `Err` when the log holds a damaged record.
    pub async fn load(
        ctx: &NodeCtx<Msg>,
        voters: &[u64],
        on_damage: OnDamage,
    ) -> Result<(Durable, MemStorage), Corruption> {
        let initial = ConfState::from((voters.iter().copied(), Vec::new()));
        let (wal, state) = wal::open(ctx, &ctx.disk(), &initial, on_damage).await?;
        let storage = MemStorage::new_with_conf_state(state.conf);
        let mut durable = Durable {
            facts: Vec::new(),
            wal,
        };
        durable.mirror(&state.entries);
        let mut core = storage.wl();
        core.append(&state.entries)
            .expect("a contiguous log from index 1");
        core.set_hardstate(state.hard_state);
        drop(core);
        Ok((durable, storage))
    }

    /// Appends a Ready's entries to the storage and stages them in the log (durable once synced).
    /// They may start inside the log: raft-rs overwrites a conflicting suffix.
    pub fn append(&mut self, storage: &MemStorage, entries: &[Entry]) {
        if entries.is_empty() {
            return;
        }
        storage
            .wl()
            .append(entries)
            .expect("raft-rs hands contiguous entries");
        self.wal.stage_entries(entries);
        self.mirror(entries);
    }

    /// Records the hard state in the storage and, unless `volatile`, stages it in the log
    /// (durable once synced).
    pub fn set_hard_state(&mut self, storage: &MemStorage, hs: &HardState, volatile: bool) {
        storage.wl().set_hardstate(hs.clone());
        if !volatile {
            self.wal.stage_hard_state(hs);
        }
    }

    /// A new commit index from a light Ready: raft-rs needs it in the storage; in the log it
    /// rides along with the next sync (losing it in a crash only makes the node re-learn it).
    pub fn set_commit(&mut self, storage: &MemStorage, commit: u64, volatile: bool) {
        let hs = {
            let mut core = storage.wl();
            core.mut_hard_state().commit = commit;
            core.hard_state().clone()
        };
        if !volatile {
            self.wal.stage_hard_state(&hs);
        }
    }

    /// `--bug fsync-retry`: the log retries a failed fsync without writing the dropped bytes again.
    pub fn retry_fsync_blindly(&mut self) {
        self.wal.retry_fsync_blindly();
    }

    /// Writes what is staged to the file: a process crash keeps it from here on.
    pub async fn flush(&mut self, ctx: &NodeCtx<Msg>) {
        self.wal.flush(ctx).await;
    }

    /// Makes everything staged durable; returns only once it is (a failed fsync is never taken
    /// for a durable write).
    pub async fn sync(&mut self, ctx: &NodeCtx<Msg>) {
        self.wal.sync(ctx).await;
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
