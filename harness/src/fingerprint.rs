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
    /// Folds one word in.
    pub fn add(&mut self, word: u64) {
        self.0 = mix(self.0.rotate_left(5) ^ word.wrapping_add(0x9e37_79b9_7f4a_7c15));
    }

    #[inline]
    /// Folds in one simulation event: its kind, its time and two operands.
    pub fn event(&mut self, tag: u8, time_ns: u64, a: u64, b: u64) {
        self.add(tag as u64);
        self.add(time_ns);
        self.add(a);
        self.add(b);
    }

    /// Folds in a byte string (its length first, so concatenations differ).
    pub fn add_bytes(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(w));
        }
        self.add(bytes.len() as u64);
    }

    /// Hashes a JSON value by walking it: no text is formatted and nothing is allocated, which
    /// matters on a path taken for every client operation.
    pub fn add_json(&mut self, v: &serde_json::Value) {
        use serde_json::Value;
        match v {
            Value::Null => self.add(1),
            Value::Bool(b) => self.add(2 + *b as u64),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    self.add(4);
                    self.add(u);
                } else if let Some(i) = n.as_i64() {
                    self.add(5);
                    self.add(i as u64);
                } else {
                    self.add(6);
                    self.add(n.as_f64().unwrap_or(0.0).to_bits());
                }
            }
            Value::String(s) => {
                self.add(7);
                self.add_bytes(s.as_bytes());
            }
            Value::Array(a) => {
                self.add(8);
                a.iter().for_each(|x| self.add_json(x));
                self.add(a.len() as u64);
            }
            Value::Object(m) => {
                self.add(9);
                for (k, x) in m {
                    self.add_bytes(k.as_bytes());
                    self.add_json(x);
                }
                self.add(m.len() as u64);
            }
        }
    }

    /// The fingerprint so far.
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
        let json = |v: serde_json::Value| {
            let mut f = Fingerprint::default();
            f.add_json(&v);
            f
        };
        assert_eq!(
            json(serde_json::json!([1, "a"])),
            json(serde_json::json!([1, "a"]))
        );
        assert_ne!(
            json(serde_json::json!([1, "a"])),
            json(serde_json::json!(["a", 1]))
        );
        assert_ne!(json(serde_json::json!(1)), json(serde_json::json!(-1)));
        assert_ne!(
            json(serde_json::json!(null)),
            json(serde_json::json!(false))
        );
        let mut d = Fingerprint::default();
        d.event(1, 10, 2, 3);
        d.event(2, 20, 3, 4);
        assert_eq!(a, d);
        assert_eq!(a.hex().len(), 16);
    }
}
