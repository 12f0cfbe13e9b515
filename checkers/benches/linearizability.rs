//! Times the linearizability check on every history in the shared folder (parsing excluded, as
//! Porcupine's figures are) and compares with VERDICTS.tsv's `porcupine_ms`.
//!
//! `cargo bench -p faultline-checkers` (release). Each file is checked `RUNS` times and the
//! median is reported; the counterexample is not shrunk (Porcupine does not compute one either).
#[path = "../tests/common/mod.rs"]
mod common;

use faultline_checkers::check_history::check_parsed;
use faultline_checkers::formats::{parse_str, FormatName};
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
        let text = std::fs::read_to_string(dir.join(&row.path)).expect("readable");
        let h = parse_str(&text, FormatName::Auto, &row.path).expect("parses");
        let mut times = Vec::with_capacity(RUNS);
        let mut verdict = Verdict::Undecided;
        let mut steps = 0;
        for _ in 0..RUNS {
            let c = check_parsed(&h, None, None, None, false).expect("checks");
            times.push(c.elapsed_ms);
            verdict = c.verdict;
            steps = c.steps;
        }
        times.sort_by(f64::total_cmp);
        let ms = times[RUNS / 2];
        let want = if row.linearizable {
            Verdict::Linearizable
        } else {
            Verdict::NotLinearizable
        };
        if verdict != want {
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
            if verdict != want {
                "  WRONG VERDICT"
            } else {
                ""
            }
        );
    }
    println!(
        "total {total:.3} ms vs Porcupine {porcupine:.3} ms: {:.1}x faster; slowest {} ({:.3} ms); wrong verdicts: {wrong}",
        porcupine / total.max(1e-9),
        slowest.1,
        slowest.0
    );
}
