//! The current term and vote (what a node must not forget across a crash), kept in two files,
//! `meta.0` and `meta.1`, each one checksummed record with a sequence number.
//!
//! Every change is written to both copies in turn, each synced before the next is written, and
//! only then does the node act on it. So at any moment at least one copy holds the newest state
//! the node acted on: a torn or failed write hits one copy while the other still holds the
//! previous, complete state (which the node never acted past), and a damaged copy (a bit flip; a failed read
//! is retried, not taken for damage) leaves the other one. At startup the copy with the higher sequence number
//! among the readable ones wins, and both are rewritten from it.
use super::log::{write_new, ATTEMPTS};
use super::{Bug, Msg};
use faultline::prelude::*;
use faultline::records;
use faultline::{DiskError, File};

const FILES: [&str; 2] = ["meta.0", "meta.1"];

/// The durable state besides the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    pub term: u64,
    pub voted_for: Option<usize>,
    /// The log lost entries it may have acknowledged (a damaged header, an unreadable file):
    /// the node neither votes nor stands until a leader has brought its log up to the leader's
    /// end. Durable, so a restart during the repair does not forget it.
    pub repairing: bool,
}

const NO_VOTE: u64 = u64::MAX;

fn encode(seq: u64, m: &Meta) -> Vec<u8> {
    let mut p = Vec::with_capacity(25);
    p.extend_from_slice(&seq.to_le_bytes());
    p.extend_from_slice(&m.term.to_le_bytes());
    p.extend_from_slice(&m.voted_for.map_or(NO_VOTE, |v| v as u64).to_le_bytes());
    p.push(m.repairing as u8);
    records::encode(&p)
}

fn decode(p: &[u8]) -> Option<(u64, Meta)> {
    if p.len() != 25 {
        return None;
    }
    let word = |i: usize| u64::from_le_bytes(p[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    let vote = word(2);
    Some((
        word(0),
        Meta {
            term: word(1),
            voted_for: (vote != NO_VOTE).then_some(vote as usize),
            repairing: p[24] != 0,
        },
    ))
}

/// What one copy held at startup.
enum Copy {
    Missing,
    Damaged,
    Valid(u64, Meta),
}

fn read_copy(read: Option<Vec<u8>>, bug: Bug) -> Copy {
    let Some(bytes) = read else {
        return Copy::Missing;
    };
    if bytes.is_empty() {
        // Never written durably: a correct node syncs a copy before its name (`write_new`), so
        // only a variant that skips fsyncs leaves an empty copy, and corruption never shortens
        // a file.
        return Copy::Missing;
    }
    if bug == Bug::NoChecksum {
        // Trusts whatever the bytes say.
        return match bytes.get(records::HEADER..).and_then(decode) {
            Some((seq, m)) => Copy::Valid(seq, m),
            None => Copy::Damaged,
        };
    }
    let scan = records::scan(&bytes);
    match scan.records.first().and_then(|r| r.payload.as_deref()) {
        Some(p) => decode(p).map_or(Copy::Damaged, |(s, m)| Copy::Valid(s, m)),
        None => Copy::Damaged,
    }
}

/// The two copies on disk.
pub struct MetaStore {
    files: [Option<File<Msg>>; 2],
    seq: u64,
}

impl MetaStore {
    /// Reads both copies: the newest readable one, or `None` if the node's metadata is lost (a
    /// copy exists but none reads: the node may have voted in a term it cannot know).
    pub async fn load(ctx: &NodeCtx<Msg>, disk: &Disk<Msg>, bug: Bug) -> (MetaStore, Option<Meta>) {
        let mut copies = [Copy::Missing, Copy::Missing];
        for (copy, name) in copies.iter_mut().zip(FILES) {
            *copy = read_copy(super::log::read_file(ctx, disk, name).await, bug);
        }
        let best = copies
            .iter()
            .filter_map(|c| match c {
                Copy::Valid(s, m) => Some((*s, *m)),
                _ => None,
            })
            .max_by_key(|(s, _)| *s);
        let store = MetaStore {
            files: [None, None],
            seq: best.map_or(0, |(s, _)| s),
        };
        let meta = match best {
            Some((_, m)) => Some(m),
            None if copies.iter().all(|c| matches!(c, Copy::Missing)) => Some(Meta::default()),
            None => None,
        };
        (store, meta)
    }

    /// Writes `m` to both copies, each synced (without `sync`: written only, a bug variant).
    /// `false` if a copy could not be made durable after retries: the caller must not act on `m`.
    pub async fn save(&mut self, disk: &Disk<Msg>, m: &Meta, sync: bool, bug: Bug) -> bool {
        self.seq += 1;
        let rec = encode(self.seq, m);
        for k in 0..2 {
            if !self.save_copy(disk, k, &rec, sync, bug).await {
                return false;
            }
        }
        true
    }

    async fn save_copy(
        &mut self,
        disk: &Disk<Msg>,
        k: usize,
        rec: &[u8],
        sync: bool,
        bug: Bug,
    ) -> bool {
        for _ in 0..ATTEMPTS {
            match &self.files[k] {
                // The first write of this run: a fresh file (durable name) replaces whatever the
                // copy held.
                None => match write_new(disk, FILES[k], rec, sync).await {
                    Ok(f) => {
                        self.files[k] = Some(f);
                        return true;
                    }
                    Err(_) => continue,
                },
                Some(f) => match overwrite(f, rec, sync, bug).await {
                    Ok(()) => return true,
                    // A failed fsync dropped the write: write it again from memory.
                    Err(_) => continue,
                },
            }
        }
        false
    }
}

/// Overwrites a copy in place. The record is shorter than a sector, so a power loss keeps all of
/// it or none of it.
async fn overwrite(f: &File<Msg>, rec: &[u8], sync: bool, bug: Bug) -> Result<(), DiskError> {
    f.write_at(0, rec)?;
    if sync {
        if let Err(e) = f.sync_data().await {
            if bug != Bug::FsyncRetry {
                return Err(e);
            }
            f.sync_data().await?; // fsyncgate: "succeeds", the write is gone
        }
    }
    Ok(())
}
