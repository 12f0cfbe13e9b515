//! The files of a failing run: `repro.yaml`, `history.jsonl` and `timeline.html`, each written
//! atomically. `run`, `replay`, `fuzz`, `ci` and [`Check`](crate::Check) all write them here.
use crate::repro::{write_atomic, Repro};
use crate::run::RunReport;
use std::path::{Path, PathBuf};

/// A file that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: cannot write: {source}")]
pub struct WriteError {
    /// The file.
    pub path: String,
    #[source]
    /// What the operating system said.
    pub source: std::io::Error,
}

/// Writes `contents` to `path` atomically (see [`write_atomic`]), naming the file on error.
pub fn write_file(path: &Path, contents: &[u8]) -> Result<(), WriteError> {
    write_atomic(path, contents).map_err(|source| WriteError {
        path: path.display().to_string(),
        source,
    })
}

/// Where a failing run's files went.
#[derive(Clone, Debug, PartialEq)]
pub struct Artifacts {
    /// `repro.yaml`: replays the run bit for bit (`faultline replay`).
    pub repro: PathBuf,
    /// `history.jsonl`: the operations, one JSON object per line (Jepsen's fields).
    pub history: PathBuf,
    /// `timeline.html`: the run on a time axis, with its failure story.
    pub timeline: PathBuf,
}

/// Writes `dir/repro.yaml`, `dir/history.jsonl` and `dir/timeline.html` for a run. The
/// reproducer goes last, so a folder with a `repro.yaml` is always complete.
pub fn write_run_artifacts(
    dir: &Path,
    r: &RunReport,
    fail_on: &[String],
) -> Result<Artifacts, WriteError> {
    let a = Artifacts {
        repro: dir.join("repro.yaml"),
        history: dir.join("history.jsonl"),
        timeline: dir.join("timeline.html"),
    };
    write_file(&a.history, r.recording.history.to_jsonl().as_bytes())?;
    write_file(&a.timeline, crate::timeline::render(r).as_bytes())?;
    write_file(
        &a.repro,
        Repro::from_report(r, fail_on).to_yaml().as_bytes(),
    )?;
    Ok(a)
}
