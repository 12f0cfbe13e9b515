//! Panics in model code become `panic` violations, not harness crashes. A seed's thread is named
//! `faultline-seed-N`; the hook keeps those panics off stderr (the report carries them) and
//! records where they happened.
use std::cell::{Cell, RefCell};
use std::sync::Once;
use std::time::Instant;

thread_local! {
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
    /// When the last panic on this seed's thread happened, in simulated time (the hook runs
    /// inside the runtime, where madsim answers `Instant::now()`).
    static LAST_AT: Cell<Option<Instant>> = const { Cell::new(None) };
}

pub(crate) const SEED_THREAD_PREFIX: &str = "faultline-seed-";

/// Installs the hook once per process; other threads keep the default behaviour.
pub(crate) fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_seed = std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with(SEED_THREAD_PREFIX));
            if in_seed {
                LAST_AT.with(|t| t.set(Some(Instant::now())));
            }
            if in_seed && std::env::var_os("FAULTLINE_SHOW_PANICS").is_none() {
                let msg = payload_text(info.payload());
                let at = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                LAST.with(|l| *l.borrow_mut() = Some(format!("{msg}{at}")));
            } else {
                default(info);
            }
        }));
    });
}

fn payload_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// The message of a caught panic, with its location when the hook saw it.
pub(crate) fn message(p: &(dyn std::any::Any + Send)) -> String {
    LAST.with(|l| l.borrow_mut().take())
        .unwrap_or_else(|| payload_text(p))
}

/// When the last caught panic happened (simulated time), if the hook saw it.
pub(crate) fn time() -> Option<Instant> {
    LAST_AT.with(|t| t.take())
}
