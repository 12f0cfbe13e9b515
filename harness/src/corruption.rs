//! Corruption of a node's disk (the `corrupt` and `misdirect` faults) and the budget that keeps
//! it survivable. Plain state changes on a [`DiskState`]; the nemesis decides when a strike may
//! land ([`Budget`]) and [`crate::disk`] lands an armed misdirected write.
//!
//! Both faults damage the media, so what they do survives every crash: a bit flip changes the
//! page cache and the platter alike; a misdirected write is an ordinary write that went to the
//! wrong place (synced or lost with its file like any other write).
use crate::disk_state::{DiskState, Ino, SECTOR};
use rand::seq::index::sample;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeSet;

/// The most bits one `corrupt` strike flips (at least one).
const MAX_FLIPS: usize = 8;
/// The farthest a misdirected write lands from its place in the same file, in sectors.
const MAX_SHIFT_SECTORS: usize = 8;

/// The nemesis's ledger of corruption strikes: at most `limit` distinct nodes are ever struck in
/// a run, each at most once (the rule documented on
/// [`Protocol::corruption_budget`](crate::Protocol::corruption_budget)).
#[derive(Debug, Default)]
pub(crate) struct Budget {
    limit: usize,
    struck: BTreeSet<usize>,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Self {
        Budget {
            limit,
            struck: BTreeSet::new(),
        }
    }

    /// Whether `node` may be struck now, or why not.
    pub(crate) fn check(&self, node: usize) -> Result<(), String> {
        if self.limit == 0 {
            return Err(
                "the protocol's corruption budget is 0 (Protocol::corruption_budget): no node's storage may be damaged".into(),
            );
        }
        if self.struck.contains(&node) {
            return Err(format!(
                "n{node} was struck already (one strike per node per run)"
            ));
        }
        if self.struck.len() >= self.limit {
            let names: Vec<String> = self.struck.iter().map(|n| format!("n{n}")).collect();
            return Err(format!(
                "the corruption budget of {} node{} is spent ({})",
                self.limit,
                if self.limit == 1 { "" } else { "s" },
                names.join(", ")
            ));
        }
        Ok(())
    }

    /// Counts a strike that landed on `node`.
    pub(crate) fn spend(&mut self, node: usize) {
        self.struck.insert(node);
    }
}

/// A name of `ino` for people: its first name in the page cache's directory.
fn name_of(d: &DiskState, ino: Ino) -> String {
    d.names.iter().find(|(_, &i)| i == ino).map_or_else(
        || format!("an unnamed file (inode {ino})"),
        |(n, _)| format!("`{n}`"),
    )
}

/// How many leading bytes of an inode hold the same data in the page cache and on the platter
/// as far as writes go: up to the shorter of the two, and below every pending write (a byte a
/// pending write covers will be rewritten by the next fsync, so a flip there would not stay).
fn clean_len(i: &crate::disk_state::Inode) -> usize {
    let mut n = i.current.len().min(i.durable.len());
    for op in &i.pending {
        n = n.min(op.first_byte());
    }
    n
}

/// Flips 1 to [`MAX_FLIPS`] distinct bits inside one sector of one file holding synced data,
/// in the page cache and on the platter, all drawn from `rng`. Returns what it did, or `None`
/// when no file holds synced data at rest (nothing to damage).
pub(crate) fn flip_bits(d: &mut DiskState, rng: &mut ChaCha8Rng) -> Option<String> {
    // Files in inode order (a BTreeMap: deterministic), only those with data at rest.
    let files: Vec<(Ino, usize)> = d
        .inodes
        .iter()
        .map(|(&ino, i)| (ino, clean_len(i)))
        .filter(|&(_, n)| n > 0)
        .collect();
    if files.is_empty() {
        return None;
    }
    let (ino, len) = files[rng.gen_range(0..files.len())];
    let sector = rng.gen_range(0..len.div_ceil(SECTOR));
    let start = sector * SECTOR;
    let end = (start + SECTOR).min(len);
    let bits = (end - start) * 8;
    let k = rng.gen_range(1..=MAX_FLIPS.min(bits));
    let inode = d.inodes.get_mut(&ino).expect("drawn from the map");
    for bit in sample(rng, bits, k).into_vec() {
        let (byte, mask) = (start + bit / 8, 1u8 << (bit % 8));
        inode.current[byte] ^= mask;
        inode.durable[byte] ^= mask;
    }
    Some(format!(
        "{k} bit{} flipped in {} sector {sector} (bytes {start}..{end})",
        if k == 1 { "" } else { "s" },
        name_of(d, ino)
    ))
}

/// Lands a write meant for `ino` at `off` somewhere else, drawn from `rng`: in another of the
/// node's files (at a sector boundary within its length), or in the same file shifted by 1 to
/// [`MAX_SHIFT_SECTORS`] sectors either way. The intended bytes keep what they held. Returns
/// what it did.
pub(crate) fn misdirect(
    d: &mut DiskState,
    ino: Ino,
    off: usize,
    buf: &[u8],
    rng: &mut ChaCha8Rng,
) -> String {
    let others: Vec<Ino> = d
        .names
        .values()
        .copied()
        .filter(|&i| i != ino)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let (target, at) = if !others.is_empty() && rng.gen_bool(0.5) {
        let other = others[rng.gen_range(0..others.len())];
        let len = d.inodes.get(&other).map_or(0, |i| i.current.len());
        (other, rng.gen_range(0..=len / SECTOR) * SECTOR)
    } else {
        let shift = rng.gen_range(1..=MAX_SHIFT_SECTORS) * SECTOR;
        // Backwards when there is room for it and the coin says so, else forwards.
        let at = if off >= shift && rng.gen_bool(0.5) {
            off - shift
        } else {
            off + shift
        };
        (ino, at)
    };
    let what = format!(
        "a {}-byte write meant for {} at byte {off} landed in {} at byte {at}",
        buf.len(),
        name_of(d, ino),
        name_of(d, target)
    );
    if let Some(i) = d.inodes.get_mut(&target) {
        i.write_at(at, buf, false);
    }
    what
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk_state::CrashKind;
    use rand::SeedableRng;

    fn disk_with(files: &[(&str, usize)], synced: bool) -> DiskState {
        let mut d = DiskState::default();
        for (name, len) in files {
            let ino = d.open_or_create(name);
            let data: Vec<u8> = (0..*len).map(|i| (i % 251) as u8).collect();
            d.inode(ino).unwrap().write_at(0, &data, false);
        }
        if synced {
            d.sync();
        }
        d
    }

    fn diff_bits(a: &[u8], b: &[u8]) -> Vec<usize> {
        let mut out = vec![];
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            for bit in 0..8 {
                if (x ^ y) & (1 << bit) != 0 {
                    out.push(i * 8 + bit);
                }
            }
        }
        out
    }

    #[test]
    fn a_flip_changes_one_sector_of_one_file_and_survives_a_power_loss() {
        let mut sectors = BTreeSet::new();
        for seed in 0..40 {
            let mut d = disk_with(&[("a", 2000), ("b", 700)], true);
            let before = disk_with(&[("a", 2000), ("b", 700)], true);
            let what = flip_bits(&mut d, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
            let mut flipped = vec![];
            for name in ["a", "b"] {
                let old = before.contents(name).unwrap();
                let new = d.contents(name).unwrap().clone();
                let bits = diff_bits(old, &new);
                if !bits.is_empty() {
                    flipped.push((name, bits));
                }
            }
            assert_eq!(flipped.len(), 1, "one file: {flipped:?} ({what})");
            let (name, bits) = &flipped[0];
            assert!((1..=MAX_FLIPS).contains(&bits.len()), "{bits:?}");
            let sector = bits[0] / 8 / SECTOR;
            assert!(bits.iter().all(|b| b / 8 / SECTOR == sector), "{bits:?}");
            sectors.insert((name.to_string(), sector));
            let seen = d.contents(name).unwrap().clone();
            d.crash(CrashKind::Power { torn: false }, None);
            assert_eq!(
                d.contents(name).unwrap(),
                &seen,
                "the flip is on the platter"
            );
        }
        assert!(sectors.len() > 3, "the rng picks the place: {sectors:?}");
    }

    #[test]
    fn nothing_unsynced_is_flipped() {
        let mut d = disk_with(&[("a", 2000)], false);
        assert_eq!(flip_bits(&mut d, &mut ChaCha8Rng::seed_from_u64(1)), None);
        let mut d = disk_with(&[("a", 600)], true);
        let ino = d.lookup("a").unwrap();
        d.inode(ino).unwrap().write_at(100, &[7; 50], false);
        for seed in 0..20 {
            let mut d2 = disk_with(&[("a", 600)], true);
            d2.inode(ino).unwrap().write_at(100, &[7; 50], false);
            flip_bits(&mut d2, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
            let bits = diff_bits(d.contents("a").unwrap(), d2.contents("a").unwrap());
            assert!(
                bits.iter().all(|b| b / 8 < 100),
                "below the pending write: {bits:?}"
            );
        }
    }

    #[test]
    fn a_misdirected_write_misses_its_place() {
        let mut places = BTreeSet::new();
        for seed in 0..40 {
            let mut d = disk_with(&[("log", 1024), ("meta", 512)], true);
            let ino = d.lookup("log").unwrap();
            let what = misdirect(
                &mut d,
                ino,
                1024,
                &[9; 100],
                &mut ChaCha8Rng::seed_from_u64(seed),
            );
            let log = d.contents("log").unwrap();
            assert!(
                log.len() < 1124 || log[1024..1124] != [9; 100],
                "the intended place did not get it: {what}"
            );
            let landed = d
                .contents("log")
                .unwrap()
                .windows(100)
                .any(|w| w == [9; 100])
                || d.contents("meta")
                    .unwrap()
                    .windows(100)
                    .any(|w| w == [9; 100]);
            assert!(landed, "{what}");
            places.insert(what);
        }
        assert!(places.len() > 5, "{places:?}");
    }

    #[test]
    fn the_budget_admits_distinct_nodes_once_each() {
        assert!(Budget::new(0).check(0).is_err());
        let mut b = Budget::new(2);
        assert!(b.check(1).is_ok());
        b.spend(1);
        assert!(b.check(1).unwrap_err().contains("struck already"));
        b.spend(0);
        assert!(b.check(2).unwrap_err().contains("spent"));
    }
}
