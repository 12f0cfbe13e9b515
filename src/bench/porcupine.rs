//! Porcupine timed on this machine, beside Faultline's checker, over the same histories.
//!
//! A speed-up is only worth quoting when both checkers ran on one machine: reference times
//! recorded elsewhere (VERDICTS.tsv's `porcupine_ms`) divide by another machine's speed. This
//! builds `benches/porcupine/main.go` (Faultline's driver: the two formats' parsers and models,
//! timing `porcupine.CheckOperations` best of N, parsing excluded) against a Porcupine checkout
//! with `go` (a `replace` in a generated go.mod: nothing is downloaded), then times Faultline's
//! checker the same way, file by file.
//!
//! ```no_run
//! use faultline_cli::bench::porcupine;
//! let f = porcupine::measure("../shared/data/linearizability".as_ref(),
//!                            "/src/porcupine".as_ref(), 3).unwrap();
//! println!("{:.1}x on {} histories ({})", f.speedup, f.files, f.machine);
//! ```
use faultline_checkers::shared_data;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::Command;

const DRIVER: &str = include_str!("../../benches/porcupine/main.go");

/// Both checkers over the same files, best of `runs` each.
#[derive(Clone, Debug, Serialize)]
pub struct PorcupineFigures {
    pub files: usize,
    pub faultline_ms: f64,
    pub porcupine_ms: f64,
    /// `porcupine_ms / faultline_ms`, measured here.
    pub speedup: f64,
    /// Files on which the two checkers disagree (should be none).
    pub disagreements: Vec<String>,
    /// `go version` and the checkout's last commit, when it is a git checkout.
    pub go: String,
    pub porcupine_commit: Option<String>,
    /// CPU model and core count of the machine both ran on.
    pub machine: String,
}

#[derive(Deserialize)]
struct DriverRow {
    path: String,
    ms: f64,
    linearizable: bool,
}

fn output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The machine in one line: CPU model and logical cores.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cpu}, {cores} cores")
}

/// Times Porcupine (checkout in `checkout`) and Faultline on every history of `data`
/// (a folder with `VERDICTS.tsv`). Errors say what is missing (`go`, the checkout, a build).
pub fn measure(data: &Path, checkout: &Path, runs: usize) -> Result<PorcupineFigures, String> {
    let runs = runs.max(1);
    let go = output(Command::new("go").arg("version"))
        .map_err(|e| format!("`go` is needed to time Porcupine: {e}"))?;
    let checkout = checkout
        .canonicalize()
        .map_err(|e| format!("Porcupine checkout {}: {e}", checkout.display()))?;
    if !checkout.join("go.mod").is_file() {
        return Err(format!(
            "{} is not a Porcupine checkout (no go.mod)",
            checkout.display()
        ));
    }
    let data = data
        .canonicalize()
        .map_err(|e| format!("{}: {e}", data.display()))?;
    let dir = std::env::temp_dir().join(format!("faultline-porcupine-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let gomod = format!(
        "module faultline-porcupine-bench\n\ngo 1.19\n\nrequire github.com/anishathalye/porcupine v0.0.0\n\nreplace github.com/anishathalye/porcupine => {}\n",
        checkout.display()
    );
    std::fs::write(dir.join("go.mod"), gomod).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("main.go"), DRIVER).map_err(|e| e.to_string())?;
    let ran = output(
        Command::new("go")
            .args(["run", ".", "--runs", &runs.to_string()])
            .arg(&data)
            .current_dir(&dir)
            .env("GOFLAGS", "-mod=mod")
            .env("GOPROXY", "off")
            .env("GOTOOLCHAIN", "local"),
    );
    let _ = std::fs::remove_dir_all(&dir);
    let ran = ran?;
    let rows = shared_data::verdicts(&data)?;
    let mut f = PorcupineFigures {
        files: 0,
        faultline_ms: 0.0,
        porcupine_ms: 0.0,
        speedup: 0.0,
        disagreements: vec![],
        go: go.trim().to_string(),
        porcupine_commit: output(
            Command::new("git")
                .args(["rev-parse", "--short", "HEAD"])
                .current_dir(&checkout),
        )
        .ok()
        .map(|s| s.trim().to_string()),
        machine: machine(),
    };
    for line in ran.lines().filter(|l| !l.trim().is_empty()) {
        let p: DriverRow =
            serde_json::from_str(line).map_err(|e| format!("driver output `{line}`: {e}"))?;
        let row = rows
            .iter()
            .find(|r| r.path == p.path)
            .ok_or_else(|| format!("driver timed {} which VERDICTS.tsv lacks", p.path))?;
        let ours = shared_data::time_file(&data, row, runs)?;
        if (ours.verdict == faultline_checkers::linearizability::Verdict::Linearizable)
            != p.linearizable
        {
            f.disagreements.push(p.path.clone());
        }
        f.files += 1;
        f.faultline_ms += ours.best_ms;
        f.porcupine_ms += p.ms;
    }
    if f.files == 0 {
        return Err("the Porcupine driver timed no history".into());
    }
    f.speedup = f.porcupine_ms / f.faultline_ms.max(1e-9);
    Ok(f)
}
