//! What a running campaign shows on stderr, and how Ctrl-C stops it.
//!
//! On a terminal, with a [`ProgressBarFactory`] in [`FuzzOptions::progress_bar`](super::FuzzOptions)
//! (the CLI passes its indicatif bar): that bar. Otherwise (CI logs, a library caller): one plain
//! line every 10 s (`FAULTLINE_LOG_SECS` changes the period). The bar is a hook so that this
//! crate, the one a user's `cargo test` depends on, does not pull a terminal-UI dependency.
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A live view of a running campaign on a terminal. The `faultline` binary's indicatif bar
/// implements it; a campaign calls it from one thread only.
///
/// ```
/// use faultline::campaign::ProgressBar;
/// struct Quiet;
/// impl ProgressBar for Quiet {
///     fn update(&self, _done: u64, _failures: usize, _undecided: usize) {}
///     fn println(&self, line: &str) { eprintln!("{line}") }
///     fn finish(&self) {}
/// }
/// fn quiet(_total: Option<u64>, _initial: u64) -> Box<dyn ProgressBar> { Box::new(Quiet) }
/// # fn f(model: &faultline::Model) {
/// let mut o = faultline::campaign::FuzzOptions::new(model.config(None), "out".into());
/// o.progress = true;
/// o.progress_bar = Some(quiet);
/// # }
/// ```
pub trait ProgressBar {
    /// The campaign's totals, a few times a second: seeds done, failing and undecided seeds.
    fn update(&self, done: u64, failures: usize, undecided: usize);
    /// A message printed above the bar.
    fn println(&self, line: &str);
    /// The campaign is over: take the bar off the screen.
    fn finish(&self);
}

/// Makes the bar of a campaign of `total` seeds (`None`: until a deadline), `initial` of them
/// finished before (a resumed campaign).
pub type ProgressBarFactory = fn(total: Option<u64>, initial: u64) -> Box<dyn ProgressBar>;

pub(crate) struct Progress {
    bar: Option<Box<dyn ProgressBar>>,
    enabled: bool,
    total: Option<u64>,
    start: Instant,
    initial: u64,
    last_line: Instant,
    period: Duration,
    told_interrupt: bool,
}

impl Progress {
    /// `total` seeds (`None`: unbounded), `initial` of them finished before (a resumed
    /// campaign). Shows nothing unless `enabled`; the bar only on a terminal.
    pub fn new(
        total: Option<u64>,
        initial: u64,
        enabled: bool,
        bar: Option<ProgressBarFactory>,
    ) -> Progress {
        let bar = bar
            .filter(|_| enabled && std::io::stderr().is_terminal())
            .map(|make| make(total, initial));
        let period = std::env::var("FAULTLINE_LOG_SECS")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .map_or(Duration::from_secs(10), Duration::from_secs_f64);
        Progress {
            bar,
            enabled,
            total,
            start: Instant::now(),
            initial,
            last_line: Instant::now(),
            period,
            told_interrupt: false,
        }
    }

    /// Called a few times a second with the campaign's totals.
    pub fn tick(&mut self, done: u64, failures: usize, undecided: usize, interrupted: bool) {
        if !self.enabled {
            return;
        }
        if interrupted && !self.told_interrupt {
            self.told_interrupt = true;
            let text = "interrupted: finishing the seeds in flight, then the summary (interrupt again to quit at once; --resume continues)";
            match &self.bar {
                Some(b) => b.println(&format!("faultline: {text}")),
                None => eprintln!("faultline: {text}"),
            }
        }
        if let Some(b) = &self.bar {
            b.update(done, failures, undecided);
            return;
        }
        if self.last_line.elapsed() >= self.period {
            self.last_line = Instant::now();
            let secs = self.start.elapsed().as_secs_f64();
            let rate = (done - self.initial.min(done)) as f64 / secs.max(1e-9);
            let of = self.total.map(|t| format!("/{t}")).unwrap_or_default();
            let eta = match self.total {
                Some(t) if rate > 0.0 => {
                    format!(", eta {:.0}s", t.saturating_sub(done) as f64 / rate)
                }
                _ => String::new(),
            };
            eprintln!(
                "faultline: {done}{of} seeds, {rate:.0} seeds/s, {failures} failing, {undecided} undecided, {secs:.0}s elapsed{eta}"
            );
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish();
        }
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only async-signal-safe work here: an atomic swap, and _exit on a second signal.
    if STOP.swap(true, Ordering::SeqCst) {
        unsafe { libc::_exit(130) };
    }
}

/// Makes SIGINT (Ctrl-C) and SIGTERM (what Kubernetes and CI runners send before killing) set a
/// flag that campaigns poll: they finish the seeds in flight, write the checkpoint and the
/// summary, and return. A second signal exits at once (every file is atomic, so the checkpoint
/// stays usable).
pub(crate) fn catch_interrupts() -> &'static AtomicBool {
    // A fresh campaign in the same process starts uninterrupted.
    STOP.store(false, Ordering::SeqCst);
    let handler = on_signal as extern "C" fn(libc::c_int);
    // SAFETY: the handler only touches an atomic and calls _exit, both async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
        libc::signal(libc::SIGTERM, handler as libc::sighandler_t);
    }
    &STOP
}
