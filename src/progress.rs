//! The campaign progress bar on a terminal (indicatif): seeds done, seeds/s, failures, undecided
//! seeds, elapsed, ETA. The campaign itself (`faultline::campaign`) knows only the
//! [`ProgressBar`] hook and prints plain lines when no bar is given (CI logs).
use faultline::campaign::ProgressBar;

struct Bar(indicatif::ProgressBar);

/// The bar `faultline fuzz` shows: a [`ProgressBarFactory`](faultline::campaign::ProgressBarFactory)
/// for [`FuzzOptions::progress_bar`](faultline::campaign::FuzzOptions).
pub fn bar(total: Option<u64>, initial: u64) -> Box<dyn ProgressBar> {
    let b = match total {
        Some(t) => indicatif::ProgressBar::new(t),
        None => indicatif::ProgressBar::new_spinner(),
    };
    b.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    let template = if total.is_some() {
        "{elapsed_precise} [{bar:30}] {pos}/{len} seeds {per_sec} eta {eta} {msg}"
    } else {
        "{elapsed_precise} {spinner} {pos} seeds {per_sec} {msg}"
    };
    b.set_style(
        indicatif::ProgressStyle::with_template(template)
            .expect("valid template")
            .progress_chars("=> "),
    );
    b.set_position(initial);
    b.reset_eta();
    Box::new(Bar(b))
}

impl ProgressBar for Bar {
    fn update(&self, done: u64, failures: usize, undecided: usize) {
        self.0.set_position(done);
        self.0
            .set_message(format!("{failures} failing, {undecided} undecided"));
    }

    fn println(&self, line: &str) {
        self.0.println(line);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
