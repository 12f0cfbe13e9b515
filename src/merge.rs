//! `faultline merge DIR...`: the campaign folders of several shards (or of several machines)
//! combined into one report.
//!
//! Every folder must hold the same campaign (model, bug, configuration, schedule, seeds) but for
//! `--shard`; shards must share `N` and no seed may have run in two folders. The merged folder
//! gets `campaign.json` (failures, undecided seeds and signatures of all shards, one entry per
//! shard under `shards`) and a copy of every failing or undecided seed's folder. Its wall time is the longest shard's
//! (shards run side by side), so `seeds_per_sec` is the whole fleet's rate.
//!
//! ```no_run
//! use std::path::PathBuf;
//! let dirs = [PathBuf::from("shard-0"), PathBuf::from("shard-1")];
//! let report = faultline_cli::merge::merge(&dirs, Some("merged".as_ref())).unwrap();
//! assert!(report.failures.windows(2).all(|w| w[0].seed < w[1].seed));
//! ```
use faultline::artifacts::write_file;
use faultline::campaign::{
    CampaignError, CampaignReport, CampaignState, FailureRecord, ShardReport, UndecidedRecord,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Merges campaign folders; writes the merged folder (default
/// `faultline-out/merge-MODEL[-BUG]/`) and returns its report.
pub fn merge(dirs: &[PathBuf], out: Option<&Path>) -> Result<CampaignReport, CampaignError> {
    let invalid = CampaignError::Invalid;
    if dirs.is_empty() {
        return Err(invalid("merge: no campaign folder given".into()));
    }
    let mut states: Vec<(PathBuf, CampaignState)> = Vec::new();
    for d in dirs {
        states.push((d.clone(), CampaignState::load(d)?));
    }
    let (d0, s0) = &states[0];
    let mut header = s0.header.clone();
    for (d, s) in &states[1..] {
        let diff = s.header.differences(&header, &["shard"]);
        if !diff.is_empty() {
            return Err(invalid(format!(
                "{}: not part of the same campaign as {}: {}",
                d.display(),
                d0.display(),
                diff.join(", ")
            )));
        }
        let (a, b) = (s.header.shard, header.shard);
        if a.map(|x| x.count) != b.map(|x| x.count) {
            let show = |s: Option<faultline::campaign::Shard>| {
                s.map_or("no --shard".to_string(), |s| format!("--shard {s}"))
            };
            return Err(invalid(format!(
                "{} ran {} but {} ran {}: shards must share N",
                d.display(),
                show(a),
                d0.display(),
                show(b)
            )));
        }
    }
    for (i, (da, a)) in states.iter().enumerate() {
        for (db, b) in &states[..i] {
            if a.header.shard == b.header.shard && a.done.intersects(&b.done) {
                return Err(invalid(format!(
                    "{} and {} both ran some of the same seeds (the same shard given twice?)",
                    db.display(),
                    da.display()
                )));
            }
        }
    }
    let out = out.map(Path::to_path_buf).unwrap_or_else(|| {
        let mut n = format!("merge-{}", header.model);
        if let Some(b) = &header.bug {
            n.push('-');
            n.push_str(b);
        }
        PathBuf::from("faultline-out").join(n)
    });
    let canon = |p: &Path| std::fs::canonicalize(p).ok();
    if canon(&out).is_some() && states.iter().any(|(d, _)| canon(d) == canon(&out)) {
        return Err(invalid(format!(
            "merge --out {}: that is one of the folders being merged",
            out.display()
        )));
    }
    let mut failures: BTreeMap<u64, FailureRecord> = BTreeMap::new();
    let mut undecided: BTreeMap<u64, UndecidedRecord> = BTreeMap::new();
    let mut shards = Vec::new();
    for (d, s) in &states {
        let r = CampaignReport::from_state(d, s, false);
        for f in s.failures.values() {
            let mut f = f.clone();
            if let Some(name) = &f.dir {
                if !copy_failure(&d.join(name), &out.join(name))? {
                    eprintln!(
                        "faultline: note: {} is missing; seed {} is listed without its folder",
                        d.join(name).display(),
                        f.seed
                    );
                    f.dir = None;
                }
            }
            failures.insert(f.seed, f);
        }
        for u in s.undecided.values() {
            let mut u = u.clone();
            if let Some(name) = &u.dir {
                if !copy_failure(&d.join(name), &out.join(name))? {
                    u.dir = None;
                }
            }
            undecided.insert(u.seed, u);
        }
        shards.push(ShardReport {
            dir: d.clone(),
            shard: s.header.shard,
            seeds_run: r.seeds_run,
            wall_ms: r.wall_ms,
            complete: r.complete,
        });
    }
    let all_shards = match header.shard {
        None => true,
        Some(s) => (0..s.count).all(|i| shards.iter().any(|r| r.shard.map(|x| x.index) == Some(i))),
    };
    header.shard = None;
    let mut failures: Vec<FailureRecord> = failures.into_values().collect();
    let seeds_failed = failures.len() as u64;
    if header.stop_on_first {
        failures.truncate(1);
    }
    let report = CampaignReport {
        dir: out,
        header,
        seeds_run: shards.iter().map(|s| s.seeds_run).sum(),
        wall_ms: shards.iter().map(|s| s.wall_ms).fold(0.0, f64::max),
        failures,
        seeds_failed,
        undecided: undecided.into_values().collect(),
        done: vec![],
        complete: all_shards && shards.iter().all(|s| s.complete),
        interrupted: false,
        running: false,
        shards,
    };
    report.write()?;
    Ok(report)
}

/// Copies a failing seed's folder (atomically, file by file, the reproducer last). Returns false
/// when the source folder is missing.
fn copy_failure(from: &Path, to: &Path) -> Result<bool, CampaignError> {
    if !from.join("repro.yaml").is_file() {
        return Ok(false);
    }
    let read = |p: &Path| {
        std::fs::read(p)
            .map_err(|e| CampaignError::Invalid(format!("{}: cannot read: {e}", p.display())))
    };
    let mut names: Vec<String> = std::fs::read_dir(from)
        .map_err(|e| CampaignError::Invalid(format!("{}: cannot read: {e}", from.display())))?
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort_by_key(|n| n == "repro.yaml");
    for n in names {
        write_file(&to.join(&n), &read(&from.join(&n))?)?;
    }
    Ok(true)
}
