//! The shared folder of real linearizability histories with known verdicts (Porcupine's test
//! suite): where it is, what `VERDICTS.tsv` says, and how fast the checker decides them all.
//!
//! The data is never copied into a repository; tests, benches and `faultline bench` find it
//! through `$FAULTLINE_SHARED_DATA` (the folder holding `linearizability/`) or a default base.
//!
//! ```no_run
//! use faultline_checkers::shared_data;
//! let dir = shared_data::locate("../shared/data".as_ref()).expect("shared data present");
//! let t = shared_data::time_all(&dir, 3).unwrap();
//! println!("{} files in {:.1} ms", t.files, t.total_ms);
//! ```
use crate::check_history::check_parsed;
use crate::formats::{parse_str, FormatName};
use crate::linearizability::Verdict;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// `$FAULTLINE_SHARED_DATA/linearizability`, else `default_base/linearizability`.
pub fn folder(default_base: &Path) -> PathBuf {
    std::env::var_os("FAULTLINE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| default_base.to_path_buf())
        .join("linearizability")
}

/// The folder when it holds `VERDICTS.tsv`; otherwise the path that was looked at, for a
/// "skipped" message.
pub fn locate(default_base: &Path) -> Result<PathBuf, PathBuf> {
    let dir = folder(default_base);
    if dir.join("VERDICTS.tsv").is_file() {
        Ok(dir)
    } else {
        Err(dir)
    }
}

/// One row of `VERDICTS.tsv`.
#[derive(Clone, Debug)]
pub struct Row {
    pub path: String,
    pub linearizable: bool,
    pub ops: usize,
    /// Porcupine's median check time on another machine, parsing excluded: a reference only.
    /// Speed-ups are measured side by side (`faultline bench --porcupine DIR`), never against it.
    pub porcupine_ms: f64,
}

/// The rows of `dir/VERDICTS.tsv`; an error names the line that does not parse.
pub fn verdicts(dir: &Path) -> Result<Vec<Row>, String> {
    let file = dir.join("VERDICTS.tsv");
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut rows = Vec::new();
    for (i, l) in text.lines().enumerate() {
        if l.starts_with('#') || l.trim().is_empty() || l.starts_with("path\t") {
            continue;
        }
        let bad = |what: &str| format!("{}:{}: {what}: {l}", file.display(), i + 1);
        let f: Vec<&str> = l.split('\t').collect();
        if f.len() != 4 {
            return Err(bad("expected 4 tab-separated fields"));
        }
        rows.push(Row {
            path: f[0].to_string(),
            linearizable: match f[1] {
                "linearizable" => true,
                "not" => false,
                _ => return Err(bad("verdict is neither `linearizable` nor `not`")),
            },
            ops: f[2].parse().map_err(|_| bad("ops is not a number"))?,
            porcupine_ms: f[3]
                .parse()
                .map_err(|_| bad("porcupine_ms is not a number"))?,
        });
    }
    Ok(rows)
}

/// How long the checker took over every history of the folder.
#[derive(Clone, Debug, Serialize)]
pub struct Timing {
    pub files: usize,
    /// Sum over files of the median check time (parsing and counterexample excluded).
    pub total_ms: f64,
    /// Files whose verdict differs from `VERDICTS.tsv` (should be 0).
    pub wrong_verdicts: usize,
    /// The slowest file and its median time.
    pub slowest: (String, f64),
}

/// One history's check: the median time of `runs` checks, and what they found.
#[derive(Clone, Debug)]
pub struct FileTiming {
    /// The median of the runs.
    pub ms: f64,
    /// The fastest run (how side-by-side comparisons count, as Porcupine's driver does).
    pub best_ms: f64,
    pub verdict: Verdict,
    /// Search steps of the last run.
    pub steps: u64,
    /// Whether the verdict is the one `VERDICTS.tsv` gives.
    pub right: bool,
}

/// Checks one history `runs` times as Porcupine's figures were measured: parsing excluded, no
/// counterexample.
pub fn time_file(dir: &Path, row: &Row, runs: usize) -> Result<FileTiming, String> {
    let runs = runs.max(1);
    let path = dir.join(&row.path);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let h = parse_str(&text, FormatName::Auto, &row.path).map_err(|e| e.to_string())?;
    let mut times = Vec::with_capacity(runs);
    let (mut verdict, mut steps) = (Verdict::Undecided, 0);
    for _ in 0..runs {
        let c =
            check_parsed(&h, None, None, &Default::default(), false).map_err(|e| e.to_string())?;
        times.push(c.elapsed_ms);
        (verdict, steps) = (c.verdict, c.steps);
    }
    times.sort_by(f64::total_cmp);
    let want = if row.linearizable {
        Verdict::Linearizable
    } else {
        Verdict::NotLinearizable
    };
    Ok(FileTiming {
        ms: times[runs / 2],
        best_ms: times[0],
        verdict,
        steps,
        right: verdict == want,
    })
}

/// [`time_file`] over every history of the folder.
pub fn time_all(dir: &Path, runs: usize) -> Result<Timing, String> {
    let mut t = Timing {
        files: 0,
        total_ms: 0.0,
        wrong_verdicts: 0,
        slowest: (String::new(), 0.0),
    };
    for row in verdicts(dir)? {
        let f = time_file(dir, &row, runs)?;
        t.wrong_verdicts += usize::from(!f.right);
        t.files += 1;
        t.total_ms += f.ms;
        if f.ms > t.slowest.1 {
            t.slowest = (row.path.clone(), f.ms);
        }
    }
    Ok(t)
}
