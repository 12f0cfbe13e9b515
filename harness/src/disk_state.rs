//! What a node's disk holds: every file as reads see it, what survives a crash, and what
//! changed since the last fsync. Plain state, owned by the world; [`crate::disk::Disk`] is the
//! handle a node uses.
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// How a file changed since the last fsync. Appends are tracked separately so that syncing or
/// crashing an append-only log costs the appended bytes, not the whole file.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Dirty {
    /// Only appended to; the durable copy is the first `n` bytes.
    Appended(usize),
    /// Written, replaced or removed.
    Replaced,
}

#[derive(Default)]
pub(crate) struct DiskState {
    /// What reads see: durable state plus unsynced writes.
    pub(crate) current: BTreeMap<String, Vec<u8>>,
    /// What survives a crash.
    pub(crate) durable: BTreeMap<String, Vec<u8>>,
    pub(crate) dirty: BTreeMap<String, Dirty>,
}

impl DiskState {
    /// Power loss: forget every write since the last completed fsync. With `torn`, an appended
    /// file keeps a random prefix of its unsynced tail instead (a torn last write), so readers
    /// of append-only logs must cope with a partial record at the end.
    pub fn crash(&mut self, mut torn: Option<&mut ChaCha8Rng>) {
        for (f, how) in std::mem::take(&mut self.dirty) {
            match (how, self.durable.get(&f)) {
                (Dirty::Appended(n), durable) if durable.is_some() || n == 0 => {
                    let Some(cur) = self.current.get_mut(&f) else {
                        continue;
                    };
                    let keep = match torn.as_deref_mut() {
                        Some(rng) if cur.len() > n => n + rng.gen_range(0..cur.len() - n),
                        _ => n,
                    };
                    cur.truncate(keep);
                    if durable.is_none() && keep == 0 {
                        self.current.remove(&f);
                    }
                }
                (_, Some(v)) => {
                    self.current.insert(f, v.clone());
                }
                (_, None) => {
                    self.current.remove(&f);
                }
            }
        }
        // What survived is all there is now.
        self.durable.clone_from(&self.current);
    }

    pub(crate) fn sync(&mut self) {
        for (f, how) in std::mem::take(&mut self.dirty) {
            match (how, self.current.get(&f)) {
                (Dirty::Appended(n), Some(cur)) if self.durable.contains_key(&f) => {
                    let d = self.durable.get_mut(&f).expect("checked");
                    d.truncate(n);
                    d.extend_from_slice(&cur[n..]);
                }
                (_, Some(cur)) => {
                    self.durable.insert(f, cur.clone());
                }
                (_, None) => {
                    self.durable.remove(&f);
                }
            }
        }
    }

    pub(crate) fn mark(&mut self, file: &str, how: Dirty) {
        match (self.dirty.get(file), how) {
            (Some(_), Dirty::Appended(_)) => {} // keep the first mark since the last sync
            _ => {
                self.dirty.insert(file.to_string(), how);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Dirty, DiskState};

    fn write(d: &mut DiskState, f: &str, v: &[u8]) {
        d.current.insert(f.into(), v.to_vec());
        d.mark(f, Dirty::Replaced);
    }

    fn append(d: &mut DiskState, f: &str, v: &[u8]) {
        let cur = d.current.entry(f.into()).or_default();
        let n = cur.len();
        cur.extend_from_slice(v);
        d.mark(f, Dirty::Appended(n));
    }

    #[test]
    fn appends_survive_only_up_to_the_last_sync() {
        let mut d = DiskState::default();
        append(&mut d, "log", b"ab");
        d.sync();
        append(&mut d, "log", b"cd");
        append(&mut d, "log", b"ef");
        assert_eq!(d.current["log"], b"abcdef");
        d.crash(None);
        assert_eq!(d.current["log"], b"ab");
        append(&mut d, "log", b"gh");
        d.sync();
        assert_eq!(d.durable["log"], b"abgh");
    }

    #[test]
    fn a_new_appended_file_vanishes_on_crash() {
        let mut d = DiskState::default();
        append(&mut d, "log", b"ab");
        d.crash(None);
        assert!(!d.current.contains_key("log"));
    }

    #[test]
    fn rewrite_after_append_restores_the_synced_copy() {
        let mut d = DiskState::default();
        write(&mut d, "f", b"one");
        d.sync();
        append(&mut d, "f", b"+");
        write(&mut d, "f", b"two");
        d.crash(None);
        assert_eq!(d.current["f"], b"one");
        append(&mut d, "f", b"!");
        write(&mut d, "f", b"x");
        append(&mut d, "f", b"y");
        d.sync();
        assert_eq!(d.durable["f"], b"xy");
    }

    #[test]
    fn a_torn_crash_keeps_a_strict_prefix_of_the_unsynced_tail() {
        use rand::SeedableRng;
        let mut kept = std::collections::BTreeSet::new();
        for seed in 0..40 {
            let mut d = DiskState::default();
            append(&mut d, "log", b"ab");
            d.sync();
            append(&mut d, "log", b"cdef");
            d.crash(Some(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed)));
            let cur = d.current["log"].clone();
            assert!(cur.len() < 6 && b"abcdef".starts_with(&cur), "{cur:?}");
            assert!(cur.starts_with(b"ab"), "synced bytes survive: {cur:?}");
            // What a torn crash left is durable: a second crash keeps it.
            d.crash(None);
            assert_eq!(d.current["log"], cur);
            kept.insert(cur.len());
        }
        assert!(kept.len() > 2, "tear points vary with the rng: {kept:?}");
    }
}
