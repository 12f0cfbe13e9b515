//! The trace fingerprint: a running 64-bit hash of every delivery, drop, timer, fault and client
//! operation, in the order they happened. Two runs with the same fingerprint took the same path.

/// A running hash over trace events. Each event is a tag plus a few integers; mixing is a
/// splitmix-style finaliser so that a change in any field or in the order changes the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint(u64);

impl Default for Fingerprint {
    fn default() -> Self {
        Fingerprint(0x6a09_e667_f3bc_c908)
    }
}

#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Fingerprint {
    #[inline]
    pub fn add(&mut self, word: u64) {
        self.0 = mix(self.0.rotate_left(5) ^ word.wrapping_add(0x9e37_79b9_7f4a_7c15));
    }

    #[inline]
    pub fn event(&mut self, tag: u8, time_ns: u64, a: u64, b: u64) {
        self.add(tag as u64);
        self.add(time_ns);
        self.add(a);
        self.add(b);
    }

    pub fn add_bytes(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(w));
        }
        self.add(bytes.len() as u64);
    }

    pub fn value(&self) -> u64 {
        self.0
    }

    /// The 16-hex-digit form used in JSON and reproducers.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_fields_matter() {
        let mut a = Fingerprint::default();
        a.event(1, 10, 2, 3);
        a.event(2, 20, 3, 4);
        let mut b = Fingerprint::default();
        b.event(2, 20, 3, 4);
        b.event(1, 10, 2, 3);
        assert_ne!(a, b);
        let mut c = Fingerprint::default();
        c.event(1, 10, 2, 3);
        c.event(2, 20, 3, 5);
        assert_ne!(a, c);
        let mut d = Fingerprint::default();
        d.event(1, 10, 2, 3);
        d.event(2, 20, 3, 4);
        assert_eq!(a, d);
        assert_eq!(a.hex().len(), 16);
    }
}
