//! `faultline shrink REPRO.yaml`: the command line around [`faultline::shrink`] (which does the
//! search): load the reproducer, shrink it within `--time`, write the smaller reproducer and
//! print the failure story.
use faultline::model::Model;
use faultline::repro::{write_atomic, Repro};
use faultline::run::{Faults, RunRequest};
use faultline::shrink::{shrink, size, Exhausted, ShrinkError, ShrinkOptions};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `faultline shrink REPRO.yaml [-o OUT.yaml] [--time DUR] [--checker NAME] [--json]`.
#[derive(clap::Args, Debug)]
pub struct ShrinkArgs {
    /// The reproducer to shrink.
    pub repro: PathBuf,
    /// Where to write the smaller reproducer (default: REPRO.min.yaml beside the input).
    #[arg(short = 'o', long = "out")]
    pub out: Option<PathBuf>,
    /// Wall-time budget, e.g. 20s, 2m (the best reproducer so far is written when it runs out).
    #[arg(long, default_value = "60s")]
    pub time: String,
    /// Keep a violation of this checker (default: the checker of the run's first violation).
    #[arg(long)]
    pub checker: Option<String>,
    /// Noise seeds each candidate tries after the current one (network delays, scheduling,
    /// node randomness redrawn; workload and schedule kept): a failure that needs one
    /// interleaving survives a smaller schedule under another draw. 0: exactly one run each.
    #[arg(long, default_value_t = 3)]
    pub noise_tries: u64,
    #[arg(long)]
    pub json: bool,
}

/// Exit code when the reproducer does not fail at all (it passes or is undecided): there is
/// nothing to shrink, and no reproducer is written.
pub const EXIT_NOTHING_TO_SHRINK: i32 = 3;

/// `20s`, `500ms`, `2m`, `1h`, or plain seconds.
pub fn parse_time(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("--time {s}: expected a number and a unit, like 20s or 2m"))?;
    Ok(match unit {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => {
            return Err(format!(
                "--time {s}: unknown unit `{unit}` (use ms, s, m or h)"
            ))
        }
    })
}

/// `dir/repro.yaml` -> `dir/repro.min.yaml`.
pub fn default_out(repro: &Path) -> PathBuf {
    let ext = repro
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_else(|| "yaml".into());
    repro.with_extension(format!("min.{ext}"))
}

/// Runs `faultline shrink`; `Err` is a usage or input error (exit 2) with its message.
pub fn command(models: &[Model], a: ShrinkArgs) -> Result<i32, String> {
    let file = a.repro.display().to_string();
    let time = parse_time(&a.time)?;
    let repro = Repro::load(&a.repro).map_err(|e| e.to_string())?;
    let model = models
        .iter()
        .find(|m| m.name() == repro.model)
        .ok_or_else(|| {
            let known: Vec<&str> = models.iter().map(Model::name).collect();
            format!(
                "{file}: unknown model `{}` (known: {})",
                repro.model,
                known.join(", ")
            )
        })?;
    if repro.version.model != model.model_version() {
        eprintln!(
            "note: {file} was recorded with model version {}, this binary has {}",
            repro.version.model,
            model.model_version()
        );
    }
    let config = repro.config.apply(model.config(repro.bug.as_deref()));
    let req = RunRequest {
        seed: repro.seed,
        config,
        faults: Faults::Steps(repro.schedule.clone()),
        fail_on: repro.fail_on.clone(),
        trace: false,
    };
    let opts = ShrinkOptions {
        time,
        checker: a.checker.clone(),
        prefer: repro.violations.first().map(|v| v.checker.clone()),
        noise_tries: a.noise_tries,
        ..ShrinkOptions::default()
    };
    let shrunk = match shrink(model, &req, &opts, &mut |l: &str| eprintln!("{l}")) {
        Ok(s) => s,
        Err(ShrinkError::Passes) => {
            let msg = format!(
                "{file}: the reproducer passes (no violation), so there is nothing to shrink; \
                 no file written"
            );
            eprintln!("{msg}");
            if a.json {
                println!(
                    "{}",
                    json!({"repro": file, "verdict": "pass", "shrunk": false, "message": msg})
                );
            }
            return Ok(EXIT_NOTHING_TO_SHRINK);
        }
        Err(e @ ShrinkError::Undecided(_)) => {
            let msg = format!("{file}: {e}; no file written (--check-budget raises the budget)");
            eprintln!("{msg}");
            if a.json {
                println!(
                    "{}",
                    json!({"repro": file, "verdict": "undecided", "shrunk": false, "message": msg})
                );
            }
            return Ok(EXIT_NOTHING_TO_SHRINK);
        }
        Err(e) => return Err(format!("{file}: {e}")),
    };
    if shrunk.original.fingerprint != repro.fingerprint {
        eprintln!(
            "note: {file} diverges (recorded fingerprint {}, this binary gives {}): shrinking \
             what this binary does",
            repro.fingerprint, shrunk.original.fingerprint
        );
    }
    let out = a.out.clone().unwrap_or_else(|| default_out(&a.repro));
    let mut min = Repro::from_report(&shrunk.result, &repro.fail_on);
    min.schedule = shrunk.steps.clone();
    write_atomic(&out, min.to_yaml().as_bytes())
        .map_err(|e| format!("{}: cannot write: {e}", out.display()))?;
    let story = faultline::story::story_whole(&shrunk.result, Some(&shrunk.target));
    let r = &shrunk.result;
    let out_s = out.display().to_string();
    if a.json {
        println!(
            "{}",
            json!({
                "repro": file,
                "out": out_s,
                "model": r.model,
                "bug": r.config.bug,
                "seed": r.seed,
                "checker": shrunk.target,
                "before": {
                    "steps": repro.schedule.len(), "ops": shrunk.original.config.issued_ops(),
                    "clients": repro.config.clients, "nodes": repro.config.nodes,
                    "fingerprint": shrunk.original.fingerprint,
                    "sim_ms": shrunk.original.stats.sim_ms,
                },
                "after": {
                    "steps": min.schedule.len(), "ops": r.config.issued_ops(),
                    "clients": min.config.clients, "nodes": min.config.nodes,
                    "fingerprint": min.fingerprint,
                    "sim_ms": r.stats.sim_ms,
                },
                "noise": min.config.noise,
                "candidates": shrunk.candidates,
                "accepted": shrunk.accepted,
                "elapsed_ms": (shrunk.elapsed.as_secs_f64() * 1e4).round() / 10.0,
                "minimal": shrunk.minimal,
                "stopped_by": shrunk.stopped_by.map(Exhausted::as_str),
                "violations": r.violations,
                "story": story.to_text(),
            })
        );
    } else {
        println!(
            "{}: shrunk, keeping a `{}` violation",
            r.label(),
            shrunk.target
        );
        println!(
            "  before: {}",
            size(&shrunk.original.config, &repro.schedule)
        );
        println!("  after:  {}", size(&r.config, &min.schedule));
        println!(
            "  {} simulations in {:.1}s; {}",
            shrunk.candidates,
            shrunk.elapsed.as_secs_f64(),
            match shrunk.stopped_by {
                None =>
                    "minimal: no single step, op, client, node, partition member or 10 ms less still fails".into(),
                Some(e) => format!("stopped by the {} (--time): smaller may exist", e.as_str()),
            }
        );
        println!(
            "  wrote {out_s}  (replay: {})",
            faultline::command::replay(std::path::Path::new(&out_s))
        );
        println!("Failure story:");
        for l in story.to_text() {
            println!("  {l}");
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_paths() {
        assert_eq!(parse_time("20s").unwrap(), Duration::from_secs(20));
        assert_eq!(parse_time("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_time("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_time("7").unwrap(), Duration::from_secs(7));
        assert!(parse_time("soon").is_err() && parse_time("3y").is_err());
        assert_eq!(
            default_out(Path::new("d/repro.yaml")),
            Path::new("d/repro.min.yaml")
        );
        assert_eq!(default_out(Path::new("r")), Path::new("r.min.yaml"));
    }
}
