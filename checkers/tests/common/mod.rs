//! Locating the shared linearizability data (never copied into the repo).
#![allow(dead_code)]
use std::path::{Path, PathBuf};

pub use faultline_checkers::shared_data::Row;

/// `$FAULTLINE_SHARED_DATA/linearizability`, default `../shared/data` relative to the
/// workspace root; `None` (and a plain message) when absent.
pub fn lin_data_dir(what: &str) -> Option<PathBuf> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    match faultline_checkers::shared_data::locate(&base) {
        Ok(dir) => Some(dir),
        Err(dir) => {
            // Straight to stderr, past the test harness's capture, so a CI log shows the skip.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {what}: no shared data at {} (set FAULTLINE_SHARED_DATA to the folder holding linearizability/)",
                dir.display()
            );
            None
        }
    }
}

pub fn verdicts(dir: &Path) -> Vec<Row> {
    faultline_checkers::shared_data::verdicts(dir).expect("VERDICTS.tsv parses")
}
