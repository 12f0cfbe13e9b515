//! Locating the shared linearizability data (never copied into the repo).
#![allow(dead_code)]
use std::path::PathBuf;

/// `$FAULTLINE_SHARED_DATA/linearizability`, default `../shared/data` relative to the
/// workspace root; `None` (and a plain message) when absent.
pub fn lin_data_dir(what: &str) -> Option<PathBuf> {
    let base = match std::env::var_os("FAULTLINE_SHARED_DATA") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("../shared/data"),
    };
    let dir = base.join("linearizability");
    if dir.join("VERDICTS.tsv").is_file() {
        Some(dir)
    } else {
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

/// One row of VERDICTS.tsv.
pub struct Row {
    pub path: String,
    pub linearizable: bool,
    pub ops: usize,
    pub porcupine_ms: f64,
}

pub fn verdicts(dir: &std::path::Path) -> Vec<Row> {
    let text = std::fs::read_to_string(dir.join("VERDICTS.tsv")).expect("VERDICTS.tsv readable");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty() && !l.starts_with("path\t"))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 4, "VERDICTS.tsv row: {l}");
            Row {
                path: f[0].to_string(),
                linearizable: match f[1] {
                    "linearizable" => true,
                    "not" => false,
                    v => panic!("unknown verdict {v}"),
                },
                ops: f[2].parse().expect("ops"),
                porcupine_ms: f[3].parse().expect("porcupine_ms"),
            }
        })
        .collect()
}
