//! The WGL search over one partition, as a resumable state machine so that several partitions
//! can be interleaved deterministically (by step counts, never by wall-clock time).
//!
//! Operations are split into *completed* ops (a real return time; they must all be linearized)
//! and *open* ops (`info` or never returned: they may take effect any time after their call, or
//! never). Completed ops are numbered by return time, so the op owning the earliest remaining
//! return is simply the first zero bit of the linearized set.
use super::hash::{mix, splitmix64, FxHashMap};
use super::memo::Memo;
use super::Operation;
use crate::spec::Spec;

const NONE: u32 = u32::MAX;

const LOOKAHEAD: usize = 2;

/// One partition's operations, preprocessed for the search.
pub(crate) struct Compiled {
    pub nr: usize,
    pub no: usize,
    /// Original index (into the caller's slice) of each completed op (by return order), then of
    /// each open op (by call order): the search's local op ids.
    pub orig: Vec<usize>,
    /// For completed op j as the earliest remaining return: the completed ops i >= j with
    /// call_i <= ret_j, in call order (the only completed candidates while j is pending).
    win_off: Vec<u32>,
    win: Vec<u32>,
    /// For completed op j: how many open ops (in call order) were called by ret_j.
    open_upto: Vec<u32>,
    /// Call and return time of each completed op.
    r_call: Vec<u64>,
    r_ret: Vec<u64>,
    /// Completed ops in call order: the ops called within a time range.
    by_call: Vec<u32>,
    /// For completed op j: how many completed ops (in call order) were called by ret_j.
    call_upto: Vec<u32>,
    /// For each open op: the previous open op with an identical input, or NONE.
    twin: Vec<u32>,
    zobrist: Vec<u64>,
    /// Completed ops the spec promises never change the state (reads).
    read_only: Vec<bool>,
}

impl Compiled {
    pub fn new<S: Spec>(
        spec: &S,
        ops: &[Operation<S::Input, S::Output>],
        members: &[usize],
    ) -> Self {
        let mut rs: Vec<usize> = Vec::new();
        let mut os: Vec<usize> = Vec::new();
        for &m in members {
            if ops[m].is_open() {
                os.push(m);
            } else {
                rs.push(m);
            }
        }
        let ret = |m: usize| ops[m].ret.unwrap_or(u64::MAX);
        rs.sort_by_key(|&m| (ret(m), ops[m].call, m));
        os.sort_by_key(|&m| (ops[m].call, m));
        let r_call: Vec<u64> = rs.iter().map(|&m| ops[m].call).collect();
        let r_ret: Vec<u64> = rs.iter().map(|&m| ret(m)).collect();
        let o_call: Vec<u64> = os.iter().map(|&m| ops[m].call).collect();
        let nr = rs.len();

        // Candidate windows. Sorting by call lets each j scan only forward from j: ops i < j are
        // linearized whenever j is the first pending return.
        let mut by_call: Vec<u32> = (0..nr as u32).collect();
        by_call.sort_by_key(|&i| (r_call[i as usize], i));
        let mut win_off = Vec::with_capacity(nr + 1);
        let mut win = Vec::new();
        win_off.push(0u32);
        for (j, &limit) in r_ret.iter().enumerate() {
            for &i in &by_call {
                if r_call[i as usize] > limit {
                    break;
                }
                if i as usize >= j {
                    win.push(i);
                }
            }
            win_off.push(win.len() as u32);
        }
        let by_call_t: Vec<u64> = by_call.iter().map(|&i| r_call[i as usize]).collect();
        let call_upto = (0..nr)
            .map(|j| by_call_t.partition_point(|&c| c <= r_ret[j]) as u32)
            .collect();
        let open_upto = (0..nr)
            .map(|j| o_call.partition_point(|&c| c <= r_ret[j]) as u32)
            .collect();
        let mut twin = vec![NONE; os.len()];
        for a in 0..os.len() {
            for b in (0..a).rev() {
                if ops[os[b]].input == ops[os[a]].input {
                    twin[a] = b as u32;
                    break;
                }
            }
        }
        let mut seed = 0x6661_756c_746c_696e_u64;
        let zobrist = (0..nr).map(|_| splitmix64(&mut seed)).collect();
        let no = os.len();
        let read_only = rs
            .iter()
            .map(|&m| {
                ops[m]
                    .output
                    .as_ref()
                    .is_some_and(|o| spec.is_read_only(&ops[m].input, o))
            })
            .collect();
        let mut orig = rs;
        orig.extend(os);
        Compiled {
            nr,
            no,
            orig,
            win_off,
            win,
            open_upto,
            r_call,
            r_ret,
            by_call,
            call_upto,
            twin,
            zobrist,
            read_only,
        }
    }

    fn window(&self, j: usize) -> &[u32] {
        &self.win[self.win_off[j] as usize..self.win_off[j + 1] as usize]
    }
}

/// Interned states and a cached step table: the search works on small state ids only, and each
/// (state, op) pair is evaluated by the spec at most once.
struct Machine<'a, S: Spec> {
    spec: &'a S,
    ops: &'a [Operation<S::Input, S::Output>],
    states: Vec<S::State>,
    ids: FxHashMap<S::State, u32>,
    cache: FxHashMap<u64, u32>,
}

impl<'a, S: Spec> Machine<'a, S> {
    fn new(spec: &'a S, ops: &'a [Operation<S::Input, S::Output>]) -> Self {
        let mut m = Machine {
            spec,
            ops,
            states: Vec::new(),
            ids: FxHashMap::default(),
            cache: FxHashMap::default(),
        };
        m.intern(spec.init());
        m
    }

    fn intern(&mut self, s: S::State) -> u32 {
        if let Some(&id) = self.ids.get(&s) {
            return id;
        }
        let id = self.states.len() as u32;
        self.states.push(s.clone());
        self.ids.insert(s, id);
        id
    }

    #[inline]
    fn step(&mut self, c: &Compiled, state: u32, local: u32) -> Option<u32> {
        let key = (state as u64) << 32 | local as u64;
        if let Some(&r) = self.cache.get(&key) {
            return (r != NONE).then_some(r);
        }
        let op = &self.ops[c.orig[local as usize]];
        let cur = &self.states[state as usize];
        let next = match &op.output {
            Some(out) if (local as usize) < c.nr => self.spec.step(cur, &op.input, out),
            _ => self.spec.step_unknown(cur, &op.input),
        };
        let r = match next {
            Some(s) => self.intern(s),
            None => NONE,
        };
        self.cache.insert(key, r);
        (r != NONE).then_some(r)
    }
}

struct Frame {
    /// The local op applied to reach this node (NONE at the root).
    via: u32,
    state: u32,
    /// The first pending return at this node (nr when none).
    j: u32,
    start: u32,
    end: u32,
    cursor: u32,
}

/// How one partition's search ended.
pub(crate) enum Outcome {
    Linearizable,
    /// No linearization exists. `prefix`: the local ops of the deepest configuration reached
    /// (most completed ops linearized), in order; `stuck`: the op whose check pruned that
    /// configuration, else the first completed op missing from it.
    Illegal {
        prefix: Vec<u32>,
        stuck: u32,
    },
}

pub(crate) struct Search<'a, S: Spec> {
    c: &'a Compiled,
    m: Machine<'a, S>,
    rbits: Vec<u64>,
    obits: Vec<u64>,
    zob: u64,
    r_count: usize,
    stack: Vec<Frame>,
    cands: Vec<(u64, u32, u32)>,
    memo: Memo,
    jit: bool,
    best: usize,
    best_path: Vec<u32>,
    /// The op whose check pruned the deepest configuration (NONE: it was not pruned), and
    /// whether the node being expanded is that configuration; `blocker`: set by `viable`.
    best_blocker: u32,
    at_best: bool,
    blocker: u32,
    pub steps: u64,
    pub done: Option<Outcome>,
    pending_buf: Vec<&'a S::Input>,
}

impl<'a, S: Spec> Search<'a, S> {
    pub fn new(spec: &'a S, ops: &'a [Operation<S::Input, S::Output>], c: &'a Compiled) -> Self {
        let wr = c.nr.div_ceil(64);
        let wo = c.no.div_ceil(64);
        let mut s = Search {
            c,
            m: Machine::new(spec, ops),
            rbits: vec![0; wr],
            obits: vec![0; wo],
            zob: 0,
            r_count: 0,
            stack: Vec::new(),
            cands: Vec::new(),
            memo: Memo::new(wr, wo),
            // Just-in-time ordering pays off when open ops exist (they otherwise get linearized
            // as early as possible and multiply configurations); without them the plain call
            // order is as good and sometimes better (see the notes).
            jit: c.no > 0,
            best: 0,
            best_path: Vec::new(),
            best_blocker: NONE,
            at_best: true,
            blocker: NONE,
            steps: 0,
            done: None,
            pending_buf: Vec::new(),
        };
        if c.nr == 0 {
            s.done = Some(Outcome::Linearizable);
            return s;
        }
        let h = s.hash(0);
        s.memo.insert(h, &s.rbits, 0, &s.obits);
        s.expand(NONE, 0);
        s.at_best = false;
        s
    }

    #[inline]
    fn hash(&self, state: u32) -> u64 {
        mix(self.zob ^ (state as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    #[inline]
    fn rbit(&self, i: usize) -> bool {
        self.rbits[i >> 6] >> (i & 63) & 1 == 1
    }

    #[inline]
    fn obit(&self, i: usize) -> bool {
        self.obits[i >> 6] >> (i & 63) & 1 == 1
    }

    fn first_pending(&self) -> usize {
        for (w, &word) in self.rbits.iter().enumerate() {
            if word != u64::MAX {
                return w * 64 + word.trailing_ones() as usize;
            }
        }
        self.c.nr
    }

    /// Pushes a node for `state` with its candidate moves, best first.
    ///
    /// Without open ops (plain order) the candidates are pushed unevaluated (`NONE` next state)
    /// and stepped only when their turn comes, as Porcupine does: in a linearizable history the
    /// first few candidates usually succeed and the rest are never stepped at all.
    fn expand(&mut self, via: u32, state: u32) {
        let c = self.c;
        let j = self.first_pending();
        let start = self.cands.len();
        // Reached from the parent by a read (same state, and only a read left the pending ops):
        // the reads the parent already checked would get the same answer, skip them.
        let checked_upto = match self.stack.last() {
            Some(p) if p.state == state && (via as usize) < c.nr && c.read_only[via as usize] => {
                Some(c.r_ret[p.j as usize])
            }
            _ => None,
        };
        if !self.viable(j, state, checked_upto) {
            if self.at_best {
                self.best_blocker = self.blocker;
            }
            self.stack.push(Frame {
                via,
                state,
                j: j as u32,
                start: start as u32,
                end: start as u32,
                cursor: start as u32,
            });
            return;
        }
        if !self.jit {
            // Reads are tried first: when one matches, it is the only
            // child (see `run`), which spares stepping the others at all.
            for pass in [true, false] {
                for &i in c.window(j) {
                    if !self.rbit(i as usize) && c.read_only[i as usize] == pass {
                        self.cands.push((0, i, NONE));
                    }
                }
            }
        } else {
            let mut forced = false;
            for &i in c.window(j) {
                if self.rbit(i as usize) {
                    continue;
                }
                if let Some(ns) = self.m.step(c, state, i) {
                    if c.read_only[i as usize] {
                        // A matching read: the only child worth trying (see `run`).
                        self.cands.truncate(start);
                        self.cands.push((0, i, ns));
                        forced = true;
                        break;
                    }
                    let key = if i as usize == j {
                        0
                    } else if self.m.step(c, ns, j as u32).is_some() {
                        1 << 32
                    } else {
                        2 << 32 | i as u64
                    };
                    self.cands.push((key, i, ns));
                }
            }
            for o in 0..c.open_upto[j] as usize {
                if forced {
                    break;
                }
                if self.obit(o) {
                    continue;
                }
                // Symmetry: of identical open ops, the earliest-called one goes first; any
                // linearization using a later twin alone can use the earlier one instead.
                let t = c.twin[o];
                if t != NONE && !self.obit(t as usize) {
                    continue;
                }
                let local = (c.nr + o) as u32;
                if let Some(ns) = self.m.step(c, state, local) {
                    // An open op that leaves the state unchanged constrains nothing: skip it.
                    if ns == state {
                        continue;
                    }
                    let key = if self.m.step(c, ns, j as u32).is_some() {
                        1 << 32 | (1 << 31) | o as u64
                    } else {
                        3 << 32 | o as u64
                    };
                    self.cands.push((key, local, ns));
                }
            }
            self.cands[start..].sort_by_key(|&(k, _, _)| k);
        }
        let end = self.cands.len();
        self.stack.push(Frame {
            via,
            state,
            j: j as u32,
            start: start as u32,
            end: end as u32,
            cursor: start as u32,
        });
    }

    /// False when some pending completed op can provably never become legal from `state`, so
    /// that no linearization extends this configuration: the next op to return (`j`) and every
    /// pending read already invoked (in `j`'s window) are asked, via [`Spec::can_still_hold`],
    /// whether they can still hold given the ops that may be linearized before them.
    ///
    /// The ops that may precede a pending op `g` are the unlinearized ops called by `ret_g`: the
    /// unlinearized ops of `j`'s window (every op linearized so far was called by `ret_j <=
    /// ret_g`), the open ops called by `ret_j` and not linearized, and every op called in
    /// `(ret_j, ret_g]` (none of them can be linearized yet). Ops the spec declares read-only
    /// are left out: they never change the state, so no sequence needs them to reach one.
    /// The list may hold `g`'s own input (when `g` is not read-only): a superset, still sound.
    fn viable(&mut self, j: usize, state: u32, checked_upto: Option<u64>) -> bool {
        let c = self.c;
        let ok = self.m.step(c, state, j as u32).is_some() || {
            self.build_pending(j);
            self.holds(j, state)
        };
        if !ok {
            self.blocker = j as u32;
            return false;
        }
        let mut base = usize::MAX;
        for &g in c.window(j) {
            let g = g as usize;
            if g == j
                || !c.read_only[g]
                || self.rbit(g)
                || checked_upto.is_some_and(|t| c.r_call[g] <= t)
            {
                continue;
            }
            if !self.read_can_hold(j, g, state, &mut base) {
                self.blocker = g as u32;
                return false;
            }
        }
        if checked_upto.is_none() {
            let from = c.call_upto[j] as usize;
            let mut left = LOOKAHEAD;
            for &g in &c.by_call[from..] {
                if left == 0 {
                    break;
                }
                let g = g as usize;
                if c.read_only[g] {
                    left -= 1;
                    if !self.read_can_hold(j, g, state, &mut base) {
                        self.blocker = g as u32;
                        return false;
                    }
                }
            }
        }
        true
    }

    /// Whether pending read `g` can still hold from `state` (see [`Self::viable`]). `base`:
    /// length of the part of `pending_buf` shared by every read at this node (`usize::MAX`:
    /// not built yet).
    fn read_can_hold(&mut self, j: usize, g: usize, state: u32, base: &mut usize) -> bool {
        let c = self.c;
        if self.m.step(c, state, g as u32).is_some() {
            return true;
        }
        if *base == usize::MAX {
            self.build_pending(j);
            *base = self.pending_buf.len();
        }
        self.pending_buf.truncate(*base);
        let ops = self.m.ops;
        for &i in &c.by_call[c.call_upto[j] as usize..c.call_upto[g] as usize] {
            if !c.read_only[i as usize] {
                self.pending_buf.push(&ops[c.orig[i as usize]].input);
            }
        }
        for o in c.open_upto[j] as usize..c.open_upto[g] as usize {
            if !self.obit(o) {
                self.pending_buf.push(&ops[c.orig[c.nr + o]].input);
            }
        }
        self.holds(g, state)
    }

    /// Fills `pending_buf` with the inputs of the ops that may be linearized before `j`, the
    /// first pending return: the unlinearized ops of its window (itself included, reads left
    /// out) and the unlinearized open ops called by `ret_j`.
    fn build_pending(&mut self, j: usize) {
        let c = self.c;
        let ops = self.m.ops;
        self.pending_buf.clear();
        for &i in c.window(j) {
            if !self.rbit(i as usize) && !c.read_only[i as usize] {
                self.pending_buf.push(&ops[c.orig[i as usize]].input);
            }
        }
        for o in 0..c.open_upto[j] as usize {
            if !self.obit(o) {
                self.pending_buf.push(&ops[c.orig[c.nr + o]].input);
            }
        }
    }

    /// Asks the spec whether completed op `g` can still become legal from `state` using the ops
    /// in `pending_buf`.
    fn holds(&self, g: usize, state: u32) -> bool {
        let op = &self.m.ops[self.c.orig[g]];
        match &op.output {
            Some(out) => self.m.spec.can_still_hold(
                &self.m.states[state as usize],
                &self.pending_buf,
                &op.input,
                out,
            ),
            None => true,
        }
    }

    fn toggle(&mut self, local: u32) {
        let l = local as usize;
        if l < self.c.nr {
            self.rbits[l >> 6] ^= 1 << (l & 63);
            self.zob ^= self.c.zobrist[l];
        } else {
            let o = l - self.c.nr;
            self.obits[o >> 6] ^= 1 << (o & 63);
        }
    }

    fn path(&self) -> Vec<u32> {
        self.stack.iter().skip(1).map(|f| f.via).collect()
    }

    /// Runs at most `budget` steps; returns true once `done` is set.
    pub fn run(&mut self, budget: u64) -> bool {
        if self.done.is_some() {
            return true;
        }
        let c = self.c;
        let limit = self.steps + budget;
        while self.steps < limit {
            self.steps += 1;
            let top = self
                .stack
                .last_mut()
                .expect("stack never empty while running");
            if top.cursor == top.end {
                let f = self.stack.pop().expect("non-empty");
                self.cands.truncate(f.start as usize);
                if f.via == NONE {
                    let stuck = self.best_stuck();
                    self.done = Some(Outcome::Illegal {
                        prefix: std::mem::take(&mut self.best_path),
                        stuck,
                    });
                    return true;
                }
                self.toggle(f.via);
                if (f.via as usize) < c.nr {
                    self.r_count -= 1;
                }
                continue;
            }
            let (_, op, mut ns) = self.cands[top.cursor as usize];
            top.cursor += 1;
            if ns == NONE {
                let state = top.state;
                match self.m.step(c, state, op) {
                    Some(n) => ns = n,
                    None => continue,
                }
            }
            let completed = (op as usize) < c.nr;
            let top = self.stack.last_mut().expect("non-empty");
            if completed && c.read_only[op as usize] {
                // A read that is legal here can be moved here from wherever a linearization
                // puts it later: it changes no state (the spec promises it, whatever the state)
                // and every op that must precede it already is linearized. So this child is
                // the only one worth trying: if it fails, so does this node.
                top.cursor = top.end;
            }
            self.toggle(op);
            if completed {
                self.r_count += 1;
                if self.r_count == c.nr {
                    self.done = Some(Outcome::Linearizable);
                    return true;
                }
            }
            let new_best = completed && self.r_count > self.best;
            if new_best {
                self.best = self.r_count;
                self.best_path = self.path();
                self.best_path.push(op);
                self.best_blocker = NONE;
            }
            let h = self.hash(ns);
            if self.memo.insert(h, &self.rbits, ns, &self.obits) {
                self.at_best = new_best;
                self.expand(op, ns);
                self.at_best = false;
            } else {
                self.toggle(op);
                if completed {
                    self.r_count -= 1;
                }
            }
        }
        false
    }

    /// The op whose check pruned the deepest prefix (the next op to return, or a pending read
    /// that could no longer hold), else the first completed op missing from it.
    fn best_stuck(&self) -> u32 {
        if self.best_blocker != NONE {
            return self.best_blocker;
        }
        let mut seen = vec![false; self.c.nr];
        for &l in &self.best_path {
            if (l as usize) < self.c.nr {
                seen[l as usize] = true;
            }
        }
        seen.iter().position(|s| !s).unwrap_or(0) as u32
    }
}
