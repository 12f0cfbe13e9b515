//! The memo table of visited configurations: (linearized completed ops, state) plus, per such
//! pair, the sets of linearized open ops seen with it.
//!
//! Open addressing over an arena of bitset words: a lookup that hits copies nothing, and equality
//! is always checked exactly (hash, then state id, then every word) — a hash collision can cost
//! time, never a wrong verdict.

const EMPTY: u32 = u32::MAX;

struct Entry {
    hash: u64,
    state: u32,
    /// Head of this entry's list of open-op sets (index into `opens`), or EMPTY.
    open_head: u32,
}

pub struct Memo {
    wr: usize,
    wo: usize,
    slots: Vec<u32>,
    entries: Vec<Entry>,
    rwords: Vec<u64>,
    open_next: Vec<u32>,
    owords: Vec<u64>,
}

impl Memo {
    pub fn new(wr: usize, wo: usize) -> Self {
        Memo {
            wr,
            wo,
            slots: vec![EMPTY; 1024],
            entries: Vec::new(),
            rwords: Vec::new(),
            open_next: Vec::new(),
            owords: Vec::new(),
        }
    }

    /// Records the configuration and returns true, unless it is dominated by one already
    /// recorded: same completed ops and state, and a subset of its open ops. Such a
    /// configuration can reach nothing the recorded one cannot (it has fewer open ops left and
    /// the same constraints), so exploring it again is useless.
    pub fn insert(&mut self, hash: u64, r: &[u64], state: u32, o: &[u64]) -> bool {
        debug_assert_eq!(r.len(), self.wr);
        debug_assert_eq!(o.len(), self.wo);
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == EMPTY {
                break;
            }
            let e = &self.entries[slot as usize];
            if e.hash == hash
                && e.state == state
                && self.rwords[slot as usize * self.wr..(slot as usize + 1) * self.wr] == *r
            {
                if self.wo == 0 {
                    return false;
                }
                let mut rec = e.open_head;
                while rec != EMPTY {
                    let stored = &self.owords[rec as usize * self.wo..(rec as usize + 1) * self.wo];
                    if stored.iter().zip(o).all(|(s, c)| s & !c == 0) {
                        return false;
                    }
                    rec = self.open_next[rec as usize];
                }
                let head = e.open_head;
                let new = self.push_open(o, head);
                self.entries[slot as usize].open_head = new;
                return true;
            }
            i = (i + 1) & mask;
        }
        let idx = self.entries.len() as u32;
        let open_head = if self.wo == 0 {
            EMPTY
        } else {
            self.push_open(o, EMPTY)
        };
        self.entries.push(Entry {
            hash,
            state,
            open_head,
        });
        self.rwords.extend_from_slice(r);
        self.slots[i] = idx;
        if self.entries.len() * 2 > self.slots.len() {
            self.grow();
        }
        true
    }

    fn push_open(&mut self, o: &[u64], next: u32) -> u32 {
        let idx = self.open_next.len() as u32;
        self.open_next.push(next);
        self.owords.extend_from_slice(o);
        idx
    }

    fn grow(&mut self) {
        let n = self.slots.len() * 2;
        let mask = n - 1;
        let mut slots = vec![EMPTY; n];
        for (idx, e) in self.entries.iter().enumerate() {
            let mut i = e.hash as usize & mask;
            while slots[i] != EMPTY {
                i = (i + 1) & mask;
            }
            slots[i] = idx as u32;
        }
        self.slots = slots;
    }
}
