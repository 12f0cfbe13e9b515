//! Checksummed, length-prefixed records: the framing a log on a [`crate::Disk`] needs to tell a
//! torn tail (a power loss cut the last append short) from a corrupted record (a bit flip or a
//! misdirected write), which protocol-aware recovery must treat differently: a torn tail was never
//! acknowledged and may be dropped, a corrupted record may hold committed data and must be
//! repaired, never truncated away and never trusted.
//!
//! Each record is a 12-byte header and the payload:
//! `[len: u32 LE][header crc: u32 LE = crc32c(len)][payload crc: u32 LE = crc32c(payload)]`.
//! The header's own checksum is what separates the cases: a torn append leaves a short header or
//! a valid header with a short payload (the file ends inside the record); a full header whose
//! checksum fails, or a full record whose payload checksum fails, was damaged at rest.
//!
//! ```
//! use faultline::records::{encode, scan, Tail};
//! let mut log = encode(b"first");
//! log.extend(encode(b"second"));
//! let whole = scan(&log);
//! assert_eq!(whole.payloads(), vec![&b"first"[..], &b"second"[..]]);
//! assert_eq!(whole.tail, Tail::Clean);
//!
//! // A power loss kept only part of the second append: a torn tail, safe to cut off.
//! let torn = scan(&log[..log.len() - 3]);
//! assert_eq!(torn.payloads(), vec![&b"first"[..]]);
//! assert!(matches!(torn.tail, Tail::Torn { .. }));
//!
//! // A bit flip inside the first payload: that record is corrupt, the second still reads.
//! let mut flipped = log.clone();
//! flipped[13] ^= 0x10;
//! let scanned = scan(&flipped);
//! assert!(scanned.records[0].payload.is_none());
//! assert_eq!(scanned.records[1].payload.as_deref(), Some(&b"second"[..]));
//! ```

/// Bytes in a record's header.
pub const HEADER: usize = 12;

/// CRC-32C (Castagnoli), the checksum storage systems use for records (ext4, iSCSI, LevelDB).
///
/// ```
/// assert_eq!(faultline::records::crc32c(b"123456789"), 0xE306_9283);
/// ```
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc = TABLE[((crc ^ b as u32) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0x82F6_3B78 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// Frames one payload as a record (append the result to a log file).
pub fn encode(payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_le_bytes();
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc32c(&len).to_le_bytes());
    out.extend_from_slice(&crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// One record found by [`scan`]: where it sits and, if its checksum holds, its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Byte offset of the record's header in the file.
    pub offset: usize,
    /// The payload, or `None` when its checksum fails (damaged at rest: repair it, do not trust
    /// it, and do not cut the log there — the records after it are still there).
    pub payload: Option<Vec<u8>>,
}

/// How a scanned file ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tail {
    /// The last record ends exactly at the end of the file.
    Clean,
    /// The file ends inside a record (a short header, or a valid header whose payload runs past
    /// the end): an append a power loss cut short. Never acknowledged if the log syncs before
    /// it acknowledges, so it may be cut off at `offset`.
    Torn {
        /// Where the incomplete record starts.
        offset: usize,
    },
    /// A full header whose checksum fails: the record's length is unknown, so nothing from
    /// `offset` on can be read. An unknown number of records (possibly acknowledged ones) is
    /// lost from this copy: recover them from elsewhere, never treat the log as ending here.
    Corrupt {
        /// Where the unreadable header starts.
        offset: usize,
    },
}

/// The records of a file, in order, and how it ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scan {
    /// Every record with a readable header, corrupt payloads included (as `payload: None`).
    pub records: Vec<Record>,
    /// How the file ends after the last record.
    pub tail: Tail,
}

impl Scan {
    /// The readable payloads, skipping corrupt records (for a reader that only wants what it
    /// can trust; a log's recovery usually wants [`Scan::records`] to see the gaps).
    pub fn payloads(&self) -> Vec<&[u8]> {
        self.records
            .iter()
            .filter_map(|r| r.payload.as_deref())
            .collect()
    }

    /// Whether every record read and the file ends cleanly.
    pub fn is_clean(&self) -> bool {
        self.tail == Tail::Clean && self.records.iter().all(|r| r.payload.is_some())
    }
}

/// Reads a file of [`encode`]d records.
pub fn scan(data: &[u8]) -> Scan {
    let mut records = Vec::new();
    let mut at = 0;
    let tail = loop {
        let rest = &data[at..];
        if rest.is_empty() {
            break Tail::Clean;
        }
        if rest.len() < HEADER {
            break Tail::Torn { offset: at };
        }
        let len_bytes: [u8; 4] = rest[0..4].try_into().expect("4 bytes");
        let hcrc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
        if crc32c(&len_bytes) != hcrc {
            break Tail::Corrupt { offset: at };
        }
        let len = u32::from_le_bytes(len_bytes) as usize;
        if rest.len() - HEADER < len {
            break Tail::Torn { offset: at };
        }
        let pcrc = u32::from_le_bytes(rest[8..12].try_into().expect("4 bytes"));
        let payload = &rest[HEADER..HEADER + len];
        records.push(Record {
            offset: at,
            payload: (crc32c(payload) == pcrc).then(|| payload.to_vec()),
        });
        at += HEADER + len;
    };
    Scan { records, tail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_single_bit_flip_is_seen() {
        let mut log = encode(b"alpha");
        log.extend(encode(b"beta-beta"));
        for bit in 0..log.len() * 8 {
            let mut bad = log.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let s = scan(&bad);
            assert!(!s.is_clean(), "flip of bit {bit} went unseen: {s:?}");
        }
    }

    #[test]
    fn every_cut_is_torn_not_corrupt() {
        let mut log = encode(b"alpha");
        log.extend(encode(b"beta-beta"));
        let first = HEADER + 5;
        for cut in 1..log.len() {
            let s = scan(&log[..cut]);
            if cut == first {
                assert_eq!(s.tail, Tail::Clean);
            } else {
                assert!(matches!(s.tail, Tail::Torn { .. }), "cut {cut}: {s:?}");
            }
            assert!(s.records.iter().all(|r| r.payload.is_some()));
        }
    }
}
