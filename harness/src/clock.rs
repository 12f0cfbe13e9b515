//! A node's clock: a monotonic clock that runs at a rate, and a wall clock on top of it that
//! jumps by offsets. The nemesis's `clock-skew` windows set both; every timer, timeout and
//! `instant()` of the node reads the monotonic clock, `clock_ms()` reads the wall clock.
//!
//! Windows compose, reference-counted like partitions: each active window is kept with its step,
//! the rate is the product of the active windows' rates and the wall offset their sum, both
//! recomputed from the list (never divided back out), so ending every window restores rate
//! exactly 1 and offset exactly 0.
//!
//! The monotonic clock never steps: drift accumulates into it and stays (a clock that ran slow
//! stays behind). The wall clock carries the drift accumulated since the node's clock was last
//! free of windows, plus the active offsets; once no window is active it reads true time again
//! (as if NTP stepped it back), so a window's effect on `clock_ms()` ends with the window.

/// One node's clock state. Times are ns since the run's start.
#[derive(Clone, Debug)]
pub(crate) struct Clock {
    /// Active windows: (step index, offset ns, rate, drift bound), in the order they began.
    windows: Vec<(usize, i64, f64, Option<f64>)>,
    /// Product of the active windows' rates (exactly 1.0 with none).
    rate: f64,
    /// Sum of the active windows' offsets.
    offset_ns: i64,
    /// True time and monotonic time at the last rate change.
    anchor_true: u64,
    anchor_mono: u64,
    /// `mono - true` when the clock was last free of windows: the wall clock subtracts it, so
    /// it reads true time whenever no window is active.
    settled_ns: i64,
    /// No window ever touched this clock: monotonic time is true time (the hot path's test).
    pub pristine: bool,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            windows: Vec::new(),
            rate: 1.0,
            offset_ns: 0,
            anchor_true: 0,
            anchor_mono: 0,
            settled_ns: 0,
            pristine: true,
        }
    }
}

impl Clock {
    /// The monotonic clock (ns) at true time `now`: never goes backwards.
    #[inline]
    pub fn mono_ns(&self, now: u64) -> u64 {
        if self.pristine {
            return now;
        }
        let elapsed = now.saturating_sub(self.anchor_true);
        if self.rate == 1.0 {
            self.anchor_mono + elapsed
        } else {
            self.anchor_mono + (elapsed as f64 * self.rate) as u64
        }
    }

    /// The wall clock (ns, may be negative after a backward jump) at true time `now`.
    pub fn wall_ns(&self, now: u64) -> i64 {
        self.mono_ns(now) as i64 - self.settled_ns + self.offset_ns
    }

    /// The true time (ns) at which the monotonic clock reaches `mono`, rounded up so a timer
    /// never fires before its local deadline; `now` or earlier deadlines map to `now`. A rate
    /// change after the conversion does not move it (timers are armed in true time).
    #[inline]
    pub fn true_ns(&self, mono: u64, now: u64) -> u64 {
        if self.pristine {
            return mono;
        }
        let Some(ahead) = mono.checked_sub(self.mono_ns(now)) else {
            return now;
        };
        if self.rate == 1.0 {
            now + ahead
        } else {
            now + (ahead as f64 / self.rate).ceil() as u64
        }
    }

    /// The current rate (product of the active windows').
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Starts window `step` at true time `now`: the wall clock jumps by `offset_ns`, and the
    /// clock runs `rate` times as fast as true time (on top of the other active windows).
    #[cfg(test)]
    pub fn begin(&mut self, step: usize, offset_ns: i64, rate: f64, now: u64) {
        self.begin_within(step, offset_ns, rate, now, None);
    }

    /// [`begin`](Self::begin), with the protocol's drift bound: while every active window has
    /// one, the composed rate stays within `1 ± bound` (two windows each within the bound must
    /// not multiply past it: a lease shortened by the bound relies on the node's rate). `None`
    /// (a step that says `exceed`) lifts the clamp while the window lasts.
    pub fn begin_within(
        &mut self,
        step: usize,
        offset_ns: i64,
        rate: f64,
        now: u64,
        bound: Option<f64>,
    ) {
        self.rebase(now);
        self.windows.push((step, offset_ns, rate, bound));
        self.recompute();
    }

    /// Ends window `step` (a no-op if it is not active).
    pub fn end(&mut self, step: usize, now: u64) {
        self.rebase(now);
        self.windows.retain(|w| w.0 != step);
        self.recompute();
        if self.windows.is_empty() {
            self.settled_ns = self.anchor_mono as i64 - self.anchor_true as i64;
        }
    }

    /// Moves the anchor to `now`, so a new rate applies from now on.
    fn rebase(&mut self, now: u64) {
        self.anchor_mono = self.mono_ns(now);
        self.anchor_true = now;
        self.pristine = false;
    }

    fn recompute(&mut self) {
        self.rate = self.windows.iter().map(|w| w.2).product();
        let bound: Option<Vec<f64>> = self.windows.iter().map(|w| w.3).collect();
        if let Some(b) = bound.and_then(|b| b.into_iter().reduce(f64::min)) {
            self.rate = self.rate.clamp(1.0 - b, 1.0 + b);
        }
        self.offset_ns = self.windows.iter().map(|w| w.1).sum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn bounded_windows_compose_within_the_bound_unless_one_exceeds() {
        let mut c = Clock::default();
        c.begin_within(0, 0, 1.2, 0, Some(0.2));
        c.begin_within(1, 0, 1.2, 0, Some(0.2));
        assert_eq!(c.rate(), 1.2, "1.2 * 1.2 clamped to the bound");
        c.begin_within(2, 0, 1.1, 0, None);
        assert!(
            (c.rate() - 1.2 * 1.2 * 1.1).abs() < 1e-9,
            "an exceeding window lifts it"
        );
        c.end(2, 0);
        c.end(1, 0);
        assert_eq!(c.rate(), 1.2);
    }

    #[test]
    fn a_slow_clock_stretches_timers() {
        let mut c = Clock::default();
        c.begin(0, 0, 0.9, 0);
        assert_eq!(c.mono_ns(100 * MS), 90 * MS);
        let fire = c.true_ns(c.mono_ns(0) + 100 * MS, 0);
        assert_eq!(fire, 111_111_112);
        assert!(c.mono_ns(fire) >= 100 * MS);
    }

    #[test]
    fn overlapping_windows_compose_and_undo_exactly() {
        let mut c = Clock::default();
        c.begin(1, 5 * MS as i64, 1.1, 0);
        c.begin(2, -2 * MS as i64, 0.7, 10 * MS);
        assert_eq!(c.rate(), 1.1 * 0.7);
        assert_eq!(c.offset_ns, 3 * MS as i64);
        c.end(1, 20 * MS);
        assert_eq!(c.rate(), 0.7);
        c.end(2, 30 * MS);
        assert_eq!(c.rate(), 1.0);
        assert_eq!(c.offset_ns, 0);
        // The wall clock reads true time again; the monotonic clock kept its drift.
        assert_eq!(c.wall_ns(50 * MS), 50 * MS as i64);
        assert_ne!(c.mono_ns(50 * MS), 50 * MS);
    }

    #[test]
    fn a_backward_jump_leaves_the_monotonic_clock_alone() {
        let mut c = Clock::default();
        let before = c.mono_ns(10 * MS);
        c.begin(0, -1000 * MS as i64, 1.0, 10 * MS);
        assert_eq!(c.mono_ns(10 * MS), before);
        assert_eq!(c.wall_ns(10 * MS), -990 * MS as i64);
    }
}
