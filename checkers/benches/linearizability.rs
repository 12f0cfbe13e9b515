//! Times the linearizability check on every history in the shared folder (parsing excluded, as
//! Porcupine's figures are). VERDICTS.tsv's `porcupine_ms` was recorded on another machine: it is
//! printed as a per-file reference, never divided into a speed-up. A speed-up measured side by
//! side on this machine comes from `faultline bench --porcupine DIR`.
//!
//! `cargo bench -p faultline-checkers` (release). Each file is checked `RUNS` times and the
//! median is reported; the counterexample is not shrunk (Porcupine does not compute one either).
#[path = "../tests/common/mod.rs"]
mod common;

use faultline_checkers::linearizability::Verdict;

const RUNS: usize = 5;

fn main() {
    let only: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let Some(dir) = common::lin_data_dir("linearizability bench") else {
        return;
    };
    let rows = common::verdicts(&dir);
    let (mut total, mut wrong) = (0.0f64, 0usize);
    let mut slowest = (0.0f64, String::new());
    println!(
        "{:<22} {:>8} {:>10} {:>14}",
        "file", "verdict", "ms", "ref ms (other)"
    );
    for row in &rows {
        if only
            .as_ref()
            .is_some_and(|o| !row.path.contains(o.as_str()))
        {
            continue;
        }
        let f = faultline_checkers::shared_data::time_file(&dir, row, RUNS).expect("checks");
        let (ms, verdict, steps) = (f.ms, f.verdict, f.steps);
        if !f.right {
            wrong += 1;
        }
        total += ms;
        if ms > slowest.0 {
            slowest = (ms, row.path.clone());
        }
        println!(
            "{:<22} {:>8} {:>10.3} {:>14.3}  steps {}{}",
            row.path,
            if verdict == Verdict::Linearizable {
                "ok"
            } else if verdict == Verdict::NotLinearizable {
                "not"
            } else {
                "?"
            },
            ms,
            row.porcupine_ms,
            steps,
            if !f.right { "  WRONG VERDICT" } else { "" }
        );
    }
    println!(
        "total {total:.3} ms; slowest {} ({:.3} ms); wrong verdicts: {wrong}",
        slowest.1, slowest.0
    );
}
