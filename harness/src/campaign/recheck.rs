//! Every reported seed is run twice: a seed whose second run (fresh thread, same configuration)
//! differs in fingerprint or verdict gets a `determinism` violation naming both (FoundationDB
//! re-runs a share of its seeds for the same reason). `--check-determinism N%` also re-runs a
//! share of the passing seeds, chosen by a hash of the seed, so every machine re-checks the same
//! ones.
use crate::model::Model;
use crate::run::{compare_runs, run, RunError, RunReport, RunRequest};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A share of seeds, in hundredths of a percent (`10%` is 1000).
///
/// ```
/// use faultline::campaign::Share;
/// let s: Share = "12.5%".parse().unwrap();
/// assert_eq!((s.0, s.to_string()), (1250, "12.5%".to_string()));
/// assert_eq!("100".parse::<Share>().unwrap(), Share::ALL);
/// assert!("150%".parse::<Share>().is_err() && "x".parse::<Share>().is_err());
/// // The same seeds are chosen on every machine.
/// let chosen = (0..1000).filter(|&s| Share(1000).selects(s)).count();
/// assert!((60..140).contains(&chosen), "{chosen}");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Share(pub u32);

impl Share {
    /// No seed.
    pub const NONE: Share = Share(0);
    /// Every seed (100%).
    pub const ALL: Share = Share(10_000);

    /// Whether `seed` is in the share: a fixed hash of the seed (splitmix64), never a clock or
    /// an rng, so the choice is the same on every machine and under any `--jobs`.
    pub fn selects(self, seed: u64) -> bool {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        z % 10_000 < u64::from(self.0)
    }

    /// Whether the share selects no seed.
    pub fn is_none(&self) -> bool {
        self.0 == 0
    }
}

impl FromStr for Share {
    type Err = String;
    fn from_str(s: &str) -> Result<Share, String> {
        let bad = || format!("`{s}`: expected a share like 10% or 2.5% (0% to 100%)");
        let t = s.trim();
        let t = t.strip_suffix('%').unwrap_or(t).trim();
        let (int, frac) = t.split_once('.').unwrap_or((t, ""));
        if int.is_empty() || frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let int: u32 = int.parse().map_err(|_| bad())?;
        let frac: u32 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<2}").parse().map_err(|_| bad())?
        };
        let v = int.checked_mul(100).and_then(|v| v.checked_add(frac));
        match v {
            Some(v) if v <= 10_000 => Ok(Share(v)),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (i, r) = (self.0 / 100, self.0 % 100);
        match r {
            0 => write!(f, "{i}%"),
            r if r % 10 == 0 => write!(f, "{i}.{}%", r / 10),
            r => write!(f, "{i}.{r:02}%"),
        }
    }
}

impl Serialize for Share {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Share {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Share, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Share;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a share like \"10%\"")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Share, E> {
                n.to_string().parse().map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Share, E> {
                n.to_string().parse().map_err(E::custom)
            }
            fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Share, E> {
                n.to_string().parse().map_err(E::custom)
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Share, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Which seeds of a campaign run twice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recheck {
    /// Every seed that does not pass (fails or is undecided): what `fuzz` and `ci` report.
    pub reported: bool,
    /// Passing seeds in this share too.
    pub share: Share,
}

impl Recheck {
    /// What `fuzz` and `ci` do: every reported seed, and `share` of the passing ones.
    pub fn campaign(share: Share) -> Recheck {
        Recheck {
            reported: true,
            share,
        }
    }

    fn wants(&self, r: &RunReport) -> bool {
        (self.reported && !r.passed) || self.share.selects(r.seed)
    }

    /// Runs `req` a second time when `first` is to be re-checked; a difference becomes a
    /// `determinism` violation of `first`.
    pub(crate) fn apply(
        &self,
        model: &Model,
        req: &RunRequest,
        first: &mut RunReport,
    ) -> Result<(), RunError> {
        if !self.wants(first) {
            return Ok(());
        }
        // `run` simulates on a fresh thread, as the first run did.
        let second = run(model, req)?;
        if let Some(v) = compare_runs(first, &second) {
            first.add_violation(v);
        }
        Ok(())
    }
}
