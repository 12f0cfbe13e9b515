//! Every history of the shared VERDICTS.tsv gets its known verdict.
mod common;

use faultline_checkers::check_history::check_parsed;
use faultline_checkers::formats::{parse_str, FormatName};
use faultline_checkers::linearizability::CheckOptions;
use faultline_checkers::linearizability::Verdict;

/// Per history: the harness's default work budget (search steps), far above what any of these
/// needs, so that a search regression fails the test (verdict `Undecided`) instead of hanging
/// CI, with the same verdict on any machine.
const BUDGET: CheckOptions = CheckOptions {
    timeout: None,
    max_steps: Some(20_000_000),
};

#[test]
fn all_shared_histories_get_their_known_verdict() {
    let Some(dir) = common::lin_data_dir("all_shared_histories_get_their_known_verdict") else {
        return;
    };
    let rows = common::verdicts(&dir);
    assert_eq!(rows.len(), 66);
    let mut wrong = Vec::new();
    for row in &rows {
        let path = dir.join(&row.path);
        let text = std::fs::read_to_string(&path).expect("readable");
        let h = parse_str(&text, FormatName::Auto, &row.path).expect("parses");
        let expected_format = if row.path.starts_with("etcd/") {
            FormatName::JepsenEtcd
        } else {
            FormatName::PorcupineKv
        };
        assert_eq!(h.format, expected_format, "{}", row.path);
        let c = check_parsed(&h, None, None, &BUDGET, true).expect("checks");
        assert_eq!(c.checked, row.ops, "{}: op count", row.path);
        let want = if row.linearizable {
            Verdict::Linearizable
        } else {
            Verdict::NotLinearizable
        };
        if c.verdict != want {
            wrong.push(format!(
                "{}: expected {want:?}, got {:?}",
                row.path, c.verdict
            ));
        }
        if let Some(v) = &c.violation {
            assert!(
                !v.counterexample.is_empty(),
                "{}: empty counterexample",
                row.path
            );
            assert!(v.counterexample.iter().all(|i| v.partition_ops.contains(i)));
        }
    }
    assert!(wrong.is_empty(), "wrong verdicts:\n{}", wrong.join("\n"));
}
