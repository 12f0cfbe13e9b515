//! The consistent-hash ring: which nodes hold a key (its preference list) and which stand in for
//! them when they are unreachable (the fallbacks of a sloppy quorum).

/// Virtual nodes per server: spreads keys more evenly than one token per node.
const VNODES: u64 = 8;

/// FNV-1a: a fixed, platform-independent hash (std's hashers are randomly seeded).
fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Tokens on the ring, sorted: `(position, node)`.
#[derive(Clone, Debug)]
pub struct Ring {
    tokens: Vec<(u64, usize)>,
    nodes: usize,
}

impl Ring {
    pub fn new(nodes: usize) -> Ring {
        let mut tokens: Vec<(u64, usize)> = (0..nodes)
            .flat_map(|n| (0..VNODES).map(move |v| (fnv(format!("n{n}/{v}").as_bytes()), n)))
            .collect();
        tokens.sort_unstable();
        Ring { tokens, nodes }
    }

    /// Every node, in ring order starting at the key's position (distinct, so the first `n` are
    /// its replicas and the rest its fallbacks, in the order a sloppy quorum tries them).
    pub fn walk(&self, key: &str) -> Vec<usize> {
        let at = fnv(key.as_bytes());
        let start = self.tokens.partition_point(|(t, _)| *t < at);
        let mut out = Vec::with_capacity(self.nodes);
        for i in 0..self.tokens.len() {
            let node = self.tokens[(start + i) % self.tokens.len()].1;
            if !out.contains(&node) {
                out.push(node);
                if out.len() == self.nodes {
                    break;
                }
            }
        }
        out
    }

    /// The key's `n` replicas (its preference list).
    pub fn replicas(&self, key: &str, n: usize) -> Vec<usize> {
        let mut w = self.walk(key);
        w.truncate(n);
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_are_distinct_and_stable() {
        let ring = Ring::new(5);
        for k in ["k0", "k1", "k2"] {
            let r = ring.replicas(k, 3);
            assert_eq!(r.len(), 3);
            assert!(r.iter().all(|n| *n < 5));
            let mut d = r.clone();
            d.dedup();
            assert_eq!(d.len(), 3);
            assert_eq!(r, Ring::new(5).replicas(k, 3));
            assert_eq!(ring.walk(k).len(), 5);
        }
    }
}
