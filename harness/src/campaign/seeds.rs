//! Which seeds a campaign runs, and sets of finished seeds kept as ranges.
//!
//! A campaign's seeds are numbered by an *index* `k = 0, 1, 2, ...`: the seed of index `k` is
//! `first + k * step`. A shard `I/N` is a progression with step `N`; a plain campaign has step 1.
//! Workers take indices in increasing order, so the finished indices are, at any instant, one
//! long run plus the few seeds still in flight: a [`RangeSet`] holds them in a handful of
//! ranges whatever the campaign's length.
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// `--shard I/N`: the seeds `s` (absolute value) with `s % N == I`.
///
/// ```
/// use faultline::campaign::Shard;
/// let s: Shard = "1/4".parse().unwrap();
/// assert_eq!((s.index, s.count), (1, 4));
/// assert!("4/4".parse::<Shard>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which shard, from 0.
    pub index: u64,
    /// How many shards in all.
    pub count: u64,
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("--shard {s}: expected I/N with 0 <= I < N");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Serialize for Shard {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Shard {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Shard, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The seeds of a run, by index.
#[derive(Clone, Debug, PartialEq)]
pub enum SeedSpace {
    /// `first + k * step` for `k < count` (`None`: until the seed numbers run out).
    Progression {
        /// The seed of index 0.
        first: u64,
        /// The distance between consecutive seeds (a shard `I/N` has step `N`).
        step: u64,
        /// How many seeds (`None`: until the seed numbers run out).
        count: Option<u64>,
    },
    /// An explicit list (regression seeds first, then a range).
    List(Vec<u64>),
}

impl SeedSpace {
    /// Seeds `start .. start + seeds` (unbounded when `seeds` is `None`), only those of `shard`.
    pub fn new(start: u64, seeds: Option<u64>, shard: Option<Shard>) -> SeedSpace {
        let (step, first) = match shard {
            None => (1, Some(start)),
            Some(Shard { index, count }) => {
                let first = start.checked_add((index + count - start % count) % count);
                (count, first)
            }
        };
        let end = seeds.map(|n| start.saturating_add(n));
        let count = match (first, end) {
            (None, _) => Some(0),
            (Some(f), Some(e)) => Some(if f < e { (e - 1 - f) / step + 1 } else { 0 }),
            (Some(_), None) => None,
        };
        SeedSpace::Progression {
            first: first.unwrap_or(0),
            step,
            count,
        }
    }

    /// How many seeds (`None`: unbounded).
    pub fn count(&self) -> Option<u64> {
        match self {
            SeedSpace::Progression { count, .. } => *count,
            SeedSpace::List(l) => Some(l.len() as u64),
        }
    }

    /// The seed of index `k`, `None` past the end.
    pub fn seed(&self, k: u64) -> Option<u64> {
        match self {
            SeedSpace::Progression { first, step, count } => {
                if count.is_some_and(|c| k >= c) {
                    return None;
                }
                k.checked_mul(*step).and_then(|o| first.checked_add(o))
            }
            SeedSpace::List(l) => usize::try_from(k).ok().and_then(|k| l.get(k).copied()),
        }
    }

    /// The index of `seed`, when the space holds it (progressions only).
    pub fn index(&self, seed: u64) -> Option<u64> {
        match self {
            SeedSpace::Progression { first, step, count } => {
                if seed < *first || !(seed - first).is_multiple_of(*step) {
                    return None;
                }
                let k = (seed - first) / step;
                (!count.is_some_and(|c| k >= c)).then_some(k)
            }
            SeedSpace::List(l) => l.iter().position(|&s| s == seed).map(|p| p as u64),
        }
    }
}

/// A set of `u64` as disjoint, non-adjacent half-open ranges.
///
/// ```
/// # use faultline::campaign::RangeSet;
/// let mut s = RangeSet::default();
/// for k in [0, 1, 2, 5, 3] { s.insert(k); }
/// assert_eq!(s.ranges().collect::<Vec<_>>(), vec![(0, 4), (5, 6)]);
/// assert_eq!(s.len(), 5);
/// assert_eq!(s.next_absent(0), 4);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RangeSet {
    map: BTreeMap<u64, u64>,
}

impl RangeSet {
    /// Inserts `k`.
    pub fn insert(&mut self, k: u64) {
        self.insert_range(k, k.saturating_add(1));
    }

    /// Inserts `a..b`.
    pub fn insert_range(&mut self, mut a: u64, mut b: u64) {
        if a >= b {
            return;
        }
        // Merge with every range that overlaps or touches a..b.
        if let Some((&s, &e)) = self.map.range(..=a).next_back() {
            if e >= a {
                a = s;
                b = b.max(e);
                self.map.remove(&s);
            }
        }
        let touching: Vec<(u64, u64)> = self.map.range(a..=b).map(|(&s, &e)| (s, e)).collect();
        for (s, e) in touching {
            b = b.max(e);
            self.map.remove(&s);
        }
        self.map.insert(a, b);
    }

    /// Whether `k` is in the set.
    pub fn contains(&self, k: u64) -> bool {
        self.map
            .range(..=k)
            .next_back()
            .is_some_and(|(_, &e)| k < e)
    }

    /// The smallest value `>= k` not in the set.
    pub fn next_absent(&self, k: u64) -> u64 {
        match self.map.range(..=k).next_back() {
            Some((_, &e)) if k < e => e,
            _ => k,
        }
    }

    /// How many values.
    pub fn len(&self) -> u64 {
        self.map.iter().map(|(s, e)| e - s).sum()
    }

    /// Whether the set holds no value.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The ranges `(start, end_exclusive)`, in order.
    pub fn ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.map.iter().map(|(&s, &e)| (s, e))
    }

    /// Whether the two sets share a value.
    pub fn intersects(&self, other: &RangeSet) -> bool {
        self.ranges().any(|(a, b)| {
            let k = other.next_absent(a);
            k > a || other.map.range(a..b).next().is_some()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_the_seeds_exactly() {
        for start in [0, 1, 7, 100] {
            for n in [1, 2, 3, 5] {
                let mut all = Vec::new();
                for i in 0..n {
                    let sp = SeedSpace::new(start, Some(23), Some(Shard { index: i, count: n }));
                    let c = sp.count().unwrap();
                    for k in 0..c {
                        let s = sp.seed(k).unwrap();
                        assert_eq!(s % n, i);
                        assert_eq!(sp.index(s), Some(k));
                        all.push(s);
                    }
                    assert_eq!(sp.seed(c), None);
                }
                all.sort_unstable();
                assert_eq!(all, (start..start + 23).collect::<Vec<_>>(), "{start} {n}");
            }
        }
        assert_eq!(
            SeedSpace::new(0, Some(1), Some(Shard { index: 1, count: 2 })).count(),
            Some(0)
        );
        assert_eq!(SeedSpace::new(5, None, None).count(), None);
        assert_eq!(SeedSpace::new(5, None, None).seed(3), Some(8));
    }

    #[test]
    fn range_sets_merge_and_intersect() {
        let mut s = RangeSet::default();
        s.insert_range(10, 20);
        s.insert_range(0, 5);
        s.insert(5);
        assert_eq!(s.ranges().collect::<Vec<_>>(), vec![(0, 6), (10, 20)]);
        s.insert_range(3, 12);
        assert_eq!(s.ranges().collect::<Vec<_>>(), vec![(0, 20)]);
        assert!(s.contains(19) && !s.contains(20));
        let mut t = RangeSet::default();
        t.insert_range(20, 30);
        assert!(!s.intersects(&t) && !t.intersects(&s));
        t.insert(19);
        assert!(s.intersects(&t) && t.intersects(&s));
        let mut u = RangeSet::default();
        u.insert_range(2, 3);
        assert!(s.intersects(&u) && u.intersects(&s));
    }
}
