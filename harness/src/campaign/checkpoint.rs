//! The campaign checkpoint: what `--resume` continues from, even after a SIGKILL.
//!
//! Two files in the campaign folder:
//! - `checkpoint.json`, a snapshot written atomically (temporary file, then rename): the
//!   campaign's header (everything that decides which seeds run and how), the finished seeds as
//!   inclusive ranges `[[first, last], ...]` of the campaign's own seeds, the failures, and the
//!   campaign's wall time so far.
//! - `checkpoint.journal`, what happened since that snapshot, one JSON line per finished seed:
//!   `{"seed":17}` (passed), `{"failure":{"seed":18,"dir":"seed-18","violations":[...]}}`,
//!   `{"undecided":{"seed":19,"dir":"seed-19","undecided":[...]}}` (a checker ran out of its
//!   budget), and now and then `{"wall_ms":1234.5}`. Each line goes out in one `write` call on a file opened
//!   for appending, and a failing seed's folder is written (atomically) before its line. A line
//!   that does not parse (torn: the kernel may stop a write that spans pages when the process is
//!   killed, or the machine lost power) is ignored, and that one seed runs again; resuming
//!   starts a fresh journal, so a torn tail never runs into the next line.
//!
//! So a seed counts as finished once its line is in the journal: no finished seed runs twice and
//! no failure is lost, at a cost of one small `write` per seed. Every 60 s (and at the start and
//! end of each session) the journal is folded into a new snapshot and emptied; a kill between
//! the two steps only replays lines the snapshot already holds, which changes nothing.
//!
//! Why not only temporary-file-and-rename, as for every other file: rewriting the whole state
//! after every seed costs O(campaign) per seed, and batching would re-run the seeds of the last
//! batch after a kill. The journal is the one file that is appended to; its reader tolerates a
//! torn last line, so a kill at any instant still leaves a usable checkpoint.
use super::recheck::Share;
use super::seeds::{RangeSet, SeedSpace, Shard};
use crate::artifacts::{write_file, WriteError};
use crate::repro::ReproConfig;
use faultline_checkers::Finding;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The checkpoint format this Faultline reads and writes.
pub const CHECKPOINT_FORMAT: u32 = 1;
pub(crate) const SNAPSHOT: &str = "checkpoint.json";
pub(crate) const JOURNAL: &str = "checkpoint.journal";
const COMPACT_EVERY: Duration = Duration::from_secs(60);
const COMPACT_LINES: u64 = 200_000;
const WALL_EVERY: Duration = Duration::from_secs(1);

/// Everything that decides which seeds a campaign runs and how they are judged. `--resume`
/// refuses a folder whose campaign differs from the command's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignHeader {
    /// The Faultline version that started the campaign.
    pub faultline: String,
    /// The model's name.
    pub model: String,
    /// The model's version ([`Model::model_version`](crate::Model::model_version)).
    pub model_version: String,
    /// The bug variant (`None`: the correct protocol).
    pub bug: Option<String>,
    /// The run configuration every seed uses.
    pub config: ReproConfig,
    /// `--schedule` as given: a built-in name or a file path.
    pub schedule: String,
    /// For a schedule file, the fingerprint of its contents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_fingerprint: Option<String>,
    #[serde(default)]
    /// `--fail-on` checkers.
    pub fail_on: Vec<String>,
    /// `--start-seed`: the first seed.
    pub start_seed: u64,
    /// `--seeds` (absent for a `--duration` campaign).
    pub seeds: Option<u64>,
    /// `--duration`, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// `--shard I/N`: every N-th seed from the I-th.
    pub shard: Option<Shard>,
    #[serde(default)]
    /// `--stop-on-first`: stop once the lowest failing seed is certain.
    pub stop_on_first: bool,
    /// `--check-determinism`: the share of passing seeds run twice (failing and undecided
    /// seeds always are).
    #[serde(default, skip_serializing_if = "Share::is_none")]
    pub check_determinism: Share,
}

impl CampaignHeader {
    /// The campaign's seeds, by index.
    pub fn space(&self) -> SeedSpace {
        SeedSpace::new(self.start_seed, self.seeds, self.shard)
    }

    /// The options that differ from `other`'s (versions and `ignore` aside), as
    /// `name (this vs other)`.
    pub fn differences(&self, other: &CampaignHeader, ignore: &[&str]) -> Vec<String> {
        let a = serde_json::to_value(self).expect("headers serialize");
        let b = serde_json::to_value(other).expect("headers serialize");
        let (Value::Object(a), Value::Object(b)) = (a, b) else {
            return vec![];
        };
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .filter(|k| !matches!(k.as_str(), "faultline" | "model_version"))
            .filter(|k| !ignore.contains(&k.as_str()))
            .filter(|k| a.get(*k) != b.get(*k))
            .map(|k| {
                let show = |v: Option<&Value>| match v {
                    None | Some(Value::Null) => "none".to_string(),
                    Some(v) => v.to_string(),
                };
                format!("{k} ({} vs {})", show(a.get(k)), show(b.get(k)))
            })
            .collect()
    }
}

/// One failing seed of a campaign.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailureRecord {
    /// The seed.
    pub seed: u64,
    /// Its folder (repro.yaml, history.jsonl, timeline.html), relative to the campaign folder;
    /// absent when none was written (a seed above the first failure with `--stop-on-first`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    /// What it violated.
    pub violations: Vec<Finding>,
}

impl FailureRecord {
    /// The violated checkers, sorted and unique: with the model and bug, the failure's
    /// signature.
    pub fn checkers(&self) -> Vec<String> {
        let mut v: Vec<String> = self.violations.iter().map(|f| f.checker.clone()).collect();
        v.sort();
        v.dedup();
        v
    }
}

/// One undecided seed of a campaign: nothing failed, but a checker whose verdict counts ran
/// out of its work budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UndecidedRecord {
    /// The seed.
    pub seed: u64,
    /// Its folder (repro.yaml, history.jsonl, timeline.html), relative to the campaign folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    /// The `undecided` findings: which checker could not decide, and why.
    pub undecided: Vec<Finding>,
}

/// A campaign as its checkpoint records it.
#[derive(Clone, Debug, PartialEq)]
pub struct CampaignState {
    /// What the campaign runs.
    pub header: CampaignHeader,
    /// Finished seeds, as indices of [`CampaignHeader::space`].
    pub done: RangeSet,
    /// Failing seeds, by seed.
    pub failures: BTreeMap<u64, FailureRecord>,
    /// Undecided seeds (neither failing nor passing).
    pub undecided: BTreeMap<u64, UndecidedRecord>,
    /// Wall time spent so far, over every session (ms).
    pub wall_ms: f64,
}

/// A checkpoint that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A checkpoint file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint file could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A checkpoint file is not what Faultline writes (edited, or from another version).
    #[error("{path}:{line}: {message}")]
    Corrupt {
        /// The file.
        path: String,
        /// The line (1-based).
        line: usize,
        /// What is wrong there.
        message: String,
    },
    /// The folder holds no campaign (merging or resuming a wrong path).
    #[error("{0}: no campaign there (no {SNAPSHOT})")]
    Missing(String),
    /// `--resume` of a folder whose campaign has other options than the command's.
    #[error("--resume: {dir} holds a different campaign: {differences}. Run the command that started it again, with --resume (or choose another --out)")]
    Mismatch {
        /// The campaign folder.
        dir: String,
        /// The options that differ, as `name (this vs other)`.
        differences: String,
    },
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    faultline_checkpoint: u32,
    header: CampaignHeader,
    done: Vec<[u64; 2]>,
    failures: Vec<FailureRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    undecided: Vec<UndecidedRecord>,
    wall_ms: f64,
}

#[derive(Default, Serialize, Deserialize)]
struct Line {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failure: Option<FailureRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    undecided: Option<UndecidedRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wall_ms: Option<f64>,
}

impl CampaignState {
    fn new(header: CampaignHeader) -> CampaignState {
        CampaignState {
            header,
            done: RangeSet::default(),
            failures: BTreeMap::new(),
            undecided: BTreeMap::new(),
            wall_ms: 0.0,
        }
    }

    /// Finished seeds as inclusive seed ranges.
    pub fn done_seeds(&self) -> Vec<[u64; 2]> {
        let space = self.header.space();
        self.done
            .ranges()
            .filter_map(|(a, b)| Some([space.seed(a)?, space.seed(b - 1)?]))
            .collect()
    }

    fn mark_done(&mut self, seed: u64) -> bool {
        match self.header.space().index(seed) {
            Some(k) => {
                self.done.insert(k);
                true
            }
            None => false,
        }
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            faultline_checkpoint: CHECKPOINT_FORMAT,
            header: self.header.clone(),
            done: self.done_seeds(),
            failures: self.failures.values().cloned().collect(),
            undecided: self.undecided.values().cloned().collect(),
            wall_ms: self.wall_ms,
        }
    }

    /// Reads a campaign folder's checkpoint (snapshot and journal).
    pub fn load(dir: &Path) -> Result<CampaignState, CheckpointError> {
        let path = dir.join(SNAPSHOT);
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CheckpointError::Missing(dir.display().to_string()))
            }
            Err(source) => {
                return Err(CheckpointError::Read {
                    path: shown,
                    source,
                })
            }
        };
        let snap: Snapshot = serde_json::from_str(&text).map_err(|e| CheckpointError::Corrupt {
            path: shown.clone(),
            line: e.line(),
            message: e.to_string(),
        })?;
        if snap.faultline_checkpoint != CHECKPOINT_FORMAT {
            return Err(CheckpointError::Corrupt {
                path: shown,
                line: 1,
                message: format!(
                    "checkpoint format {} (this Faultline reads format {CHECKPOINT_FORMAT})",
                    snap.faultline_checkpoint
                ),
            });
        }
        let mut state = CampaignState::new(snap.header);
        let space = state.header.space();
        for [a, b] in snap.done {
            match (space.index(a), space.index(b)) {
                (Some(a), Some(b)) if a <= b => state.done.insert_range(a, b + 1),
                _ => {
                    return Err(CheckpointError::Corrupt {
                        path: shown,
                        line: 1,
                        message: format!("done range [{a}, {b}] is not in the campaign's seeds"),
                    })
                }
            }
        }
        state.wall_ms = snap.wall_ms;
        for f in snap.failures {
            state.mark_done(f.seed);
            state.failures.insert(f.seed, f);
        }
        for u in snap.undecided {
            state.mark_done(u.seed);
            state.undecided.insert(u.seed, u);
        }
        let jpath = dir.join(JOURNAL);
        let journal = match std::fs::read_to_string(&jpath) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(CheckpointError::Read {
                    path: jpath.display().to_string(),
                    source,
                })
            }
        };
        for line in journal.lines() {
            // A line that does not parse is a torn tail: its seed runs again.
            let Ok(l) = serde_json::from_str::<Line>(line) else {
                continue;
            };
            if let Some(w) = l.wall_ms {
                state.wall_ms = state.wall_ms.max(w);
            }
            if let Some(s) = l.seed {
                state.mark_done(s);
            }
            if let Some(f) = l.failure {
                if state.mark_done(f.seed) {
                    state.failures.insert(f.seed, f);
                }
            }
            if let Some(u) = l.undecided {
                if state.mark_done(u.seed) {
                    state.undecided.insert(u.seed, u);
                }
            }
        }
        Ok(state)
    }
}

/// The writer side: appends finished seeds to the journal and folds it into snapshots.
pub(crate) struct Journal {
    dir: PathBuf,
    file: File,
    state: CampaignState,
    lines: u64,
    last_compact: Instant,
    last_wall: Instant,
    session: Instant,
    wall_base: f64,
}

impl Journal {
    /// Starts a campaign in `dir`. With `resume`, continues the one there (if any; its header
    /// must match); otherwise replaces whatever campaign the folder held. Returns notes for
    /// stderr alongside.
    pub fn open(
        dir: &Path,
        header: CampaignHeader,
        resume: bool,
    ) -> Result<(Journal, Vec<String>), CheckpointError> {
        let mut notes = Vec::new();
        std::fs::create_dir_all(dir).map_err(|source| {
            CheckpointError::Write(WriteError {
                path: dir.display().to_string(),
                source,
            })
        })?;
        let previous = match CampaignState::load(dir) {
            Ok(s) => Some(s),
            Err(CheckpointError::Missing(_)) => None,
            Err(e) if resume => return Err(e),
            Err(_) => None,
        };
        let state = match previous {
            Some(old) if resume => {
                // A campaign may be given more time or more seeds when resumed.
                let extend: &[&str] = match (header.seeds, old.header.seeds) {
                    (None, None) => &["duration_ms"],
                    (Some(new), Some(was)) if new >= was => &["seeds"],
                    _ => &[],
                };
                let diff = header.differences(&old.header, extend);
                if !diff.is_empty() {
                    return Err(CheckpointError::Mismatch {
                        dir: dir.display().to_string(),
                        differences: diff.join(", "),
                    });
                }
                if old.header.model_version != header.model_version {
                    notes.push(format!(
                        "note: the campaign in {} was started with model version {}, this binary has {}: seeds already run were judged by other code",
                        dir.display(),
                        old.header.model_version,
                        header.model_version
                    ));
                }
                notes.push(format!(
                    "resuming the campaign in {}: {} seeds already run, {} failing, {} undecided",
                    dir.display(),
                    old.done.len(),
                    old.failures.len(),
                    old.undecided.len()
                ));
                CampaignState { header, ..old }
            }
            old => {
                if old.is_some() {
                    notes.push(format!(
                        "replacing the campaign in {} (pass --resume to continue it instead)",
                        dir.display()
                    ));
                }
                CampaignState::new(header)
            }
        };
        let jpath = dir.join(JOURNAL);
        let mut j = Journal {
            dir: dir.to_path_buf(),
            file: open_journal(&jpath, false)?,
            wall_base: state.wall_ms,
            state,
            lines: 0,
            last_compact: Instant::now(),
            last_wall: Instant::now(),
            session: Instant::now(),
        };
        // Fold what was read into a fresh snapshot: the journal starts empty, so a torn tail
        // never runs into the next line.
        j.compact()?;
        if !resume {
            remove_stale_failures(dir);
        }
        Ok((j, notes))
    }

    pub fn state(&self) -> &CampaignState {
        &self.state
    }

    fn wall_now(&self) -> f64 {
        self.wall_base + self.session.elapsed().as_secs_f64() * 1e3
    }

    /// Records seed index `k` as finished (with its failure or its undecided findings, whose
    /// folder is already written; neither: it passed). Returns whether the journal was folded
    /// into a new snapshot.
    pub fn record(
        &mut self,
        k: u64,
        failure: Option<FailureRecord>,
        undecided: Option<UndecidedRecord>,
    ) -> Result<bool, CheckpointError> {
        let seed = self
            .state
            .header
            .space()
            .seed(k)
            .expect("k is a campaign seed");
        let mut line = Line::default();
        match (&failure, &undecided) {
            (Some(f), _) => line.failure = Some(f.clone()),
            (None, Some(u)) => line.undecided = Some(u.clone()),
            (None, None) => line.seed = Some(seed),
        }
        let mut text = serde_json::to_string(&line).expect("journal lines serialize");
        text.push('\n');
        if self.last_wall.elapsed() >= WALL_EVERY {
            self.last_wall = Instant::now();
            let w = Line {
                wall_ms: Some(self.wall_now()),
                ..Line::default()
            };
            text.push_str(&serde_json::to_string(&w).expect("journal lines serialize"));
            text.push('\n');
        }
        self.append(&text)?;
        self.state.done.insert(k);
        if let Some(f) = failure {
            self.state.failures.insert(seed, f);
        } else if let Some(u) = undecided {
            self.state.undecided.insert(seed, u);
        }
        self.state.wall_ms = self.wall_now();
        self.lines += 1;
        if self.lines >= COMPACT_LINES || self.last_compact.elapsed() >= COMPACT_EVERY {
            self.compact()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn append(&mut self, text: &str) -> Result<(), CheckpointError> {
        // One write call: a kill never leaves part of a line.
        self.file.write_all(text.as_bytes()).map_err(|source| {
            CheckpointError::Write(WriteError {
                path: self.dir.join(JOURNAL).display().to_string(),
                source,
            })
        })
    }

    /// Writes a snapshot of everything so far, then empties the journal.
    pub fn compact(&mut self) -> Result<(), CheckpointError> {
        self.state.wall_ms = self.wall_now();
        let snap = serde_json::to_string(&self.state.snapshot()).expect("snapshots serialize");
        write_file(&self.dir.join(SNAPSHOT), format!("{snap}\n").as_bytes())?;
        let jpath = self.dir.join(JOURNAL);
        self.file = open_journal(&jpath, true)?;
        self.lines = 0;
        self.last_compact = Instant::now();
        Ok(())
    }
}

/// Opens the journal for appending; with `empty`, first replaces it (atomically) by an empty
/// file.
fn open_journal(path: &Path, empty: bool) -> Result<File, CheckpointError> {
    if empty {
        write_file(path, b"")?;
    }
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|source| {
            CheckpointError::Write(WriteError {
                path: path.display().to_string(),
                source,
            })
        })
}

/// Removes the failure folders (`seed-N/` holding a repro.yaml) and the summary of a campaign
/// being replaced.
fn remove_stale_failures(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(super::SUMMARY));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let is_seed = name
            .strip_prefix("seed-")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if is_seed && e.path().join("repro.yaml").is_file() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> CampaignHeader {
        CampaignHeader {
            faultline: "0".into(),
            model: "m".into(),
            model_version: "1".into(),
            bug: None,
            config: ReproConfig {
                nodes: 3,
                clients: 2,
                ops: 10,
                set: Default::default(),
                workload: None,
                liveness_ms: None,
                check_budget: None,
                buggify: None,
                wire: None,
                noise: 0,
                skip_ops: Default::default(),
            },
            schedule: "swarm".into(),
            schedule_fingerprint: None,
            fail_on: vec![],
            start_seed: 10,
            seeds: Some(100),
            duration_ms: None,
            shard: Some(Shard { index: 1, count: 3 }),
            stop_on_first: false,
            check_determinism: Share::NONE,
        }
    }

    fn failure(seed: u64) -> FailureRecord {
        FailureRecord {
            seed,
            dir: Some(format!("seed-{seed}")),
            violations: vec![Finding::new(
                "lost-write",
                faultline_checkers::FindingKind::Safety,
                "lost",
            )],
        }
    }

    #[test]
    fn the_journal_survives_a_torn_tail_and_resume_keeps_everything() {
        let dir = std::env::temp_dir().join(format!("faultline-ckpt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (mut j, _) = Journal::open(&dir, header(), false).unwrap();
        let space = header().space();
        // Seeds 10, 13, 16, ... (shard 1/3 from 10): finish indices 0, 1, 3 (2 is in flight).
        j.record(0, None, None).unwrap();
        j.record(1, Some(failure(space.seed(1).unwrap())), None)
            .unwrap();
        let undecided = UndecidedRecord {
            seed: space.seed(3).unwrap(),
            dir: None,
            undecided: vec![],
        };
        j.record(3, None, Some(undecided)).unwrap();
        drop(j);
        // A torn last line (a power loss mid-write) is ignored.
        let jpath = dir.join(JOURNAL);
        let mut text = std::fs::read_to_string(&jpath).unwrap();
        text.push_str("{\"seed\":2");
        std::fs::write(&jpath, text).unwrap();
        let s = CampaignState::load(&dir).unwrap();
        assert_eq!(s.done.ranges().collect::<Vec<_>>(), vec![(0, 2), (3, 4)]);
        assert_eq!(s.done_seeds(), vec![[10, 13], [19, 19]]);
        assert_eq!(s.failures.keys().copied().collect::<Vec<_>>(), vec![13]);
        assert_eq!(s.undecided.keys().copied().collect::<Vec<_>>(), vec![19]);
        // Resuming folds the journal into a snapshot and empties it.
        let (j, notes) = Journal::open(&dir, header(), true).unwrap();
        assert!(
            notes
                .iter()
                .any(|n| n.contains("3 seeds already run, 1 failing, 1 undecided")),
            "{notes:?}"
        );
        assert_eq!(std::fs::read_to_string(&jpath).unwrap(), "");
        assert_eq!(j.state().done, s.done);
        assert_eq!(j.state().failures, s.failures);
        assert_eq!(j.state().undecided, s.undecided);
        drop(j);
        // Another campaign is refused by --resume, named by what differs.
        let mut other = header();
        other.seeds = Some(50);
        let e = Journal::open(&dir, other, true).err().expect("refused");
        assert!(e.to_string().contains("seeds (50 vs 100)"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
