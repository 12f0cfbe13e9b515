//! Times the linearizability check on every history in the shared folder (parsing excluded, as
//! Porcupine's figures are) and compares with VERDICTS.tsv's `porcupine_ms`.
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
    let (mut total, mut porcupine, mut wrong) = (0.0f64, 0.0f64, 0usize);
    let mut slowest = (0.0f64, String::new());
    println!(
        "{:<22} {:>8} {:>10} {:>10} {:>9}",
        "file", "verdict", "ms", "porcupine", "speedup"
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
        porcupine += row.porcupine_ms;
        if ms > slowest.0 {
            slowest = (ms, row.path.clone());
        }
        println!(
            "{:<22} {:>8} {:>10.3} {:>10.3} {:>8.1}x  steps {}{}",
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
            row.porcupine_ms / ms.max(1e-9),
            steps,
            if !f.right { "  WRONG VERDICT" } else { "" }
        );
    }
    println!(
        "total {total:.3} ms vs Porcupine {porcupine:.3} ms: {:.1}x faster; slowest {} ({:.3} ms); wrong verdicts: {wrong}",
        porcupine / total.max(1e-9),
        slowest.1,
        slowest.0
    );
}
