//! `saga`: every order ends completed or fully compensated, with money and stock conserved; each
//! bug variant is caught within a bounded number of seeds by the checker naming its failure, and
//! the correct saga passes the seed that caught it.
mod common;

use common::{assert_passes, found_by, run_seed};
use faultline::checkers::history::EventType;
use faultline::Check;
use faultline_models::saga::model;

#[test]
fn correct_sagas_complete_or_compensate() {
    let result = Check::new(model()).seeds(0..60).run();
    result.assert_ok();
    // Both endings happen: the workload exercises compensation, not only the happy path. Without
    // faults every compensation is a refusal (stock sold out), answered as a definite `refused`.
    let r = run_seed(&model(), None, "none", 0, &[]);
    assert!(r.passed, "{:?}", r.violations);
    let ok = |v: Option<&str>| {
        r.recording
            .history
            .events
            .iter()
            .filter(|e| e.kind == EventType::Ok && e.value.as_str() == v)
            .count()
    };
    assert!(ok(None) > 0 && ok(Some("refused")) > 0, "{:?}", r.stats);
}

#[test]
fn correct_sagas_survive_orchestrator_crashes() {
    assert_passes(model(), "crashes", 0..40);
}

#[test]
fn no_compensation_retry_leaves_sagas_half_done() {
    found_by(
        model,
        "no-compensation-retry",
        "swarm",
        40,
        &["saga-outcome"],
        &["conservation"],
    );
}

#[test]
fn non_idempotent_refund_pays_twice() {
    found_by(
        model,
        "non-idempotent-refund",
        "swarm",
        40,
        &["conservation"],
        &[],
    );
}

#[test]
fn volatile_saga_log_forgets_sagas_in_flight() {
    found_by(
        model,
        "volatile-saga-log",
        "swarm",
        60,
        &["saga-outcome"],
        &["conservation"],
    );
}

#[test]
fn saga_runs_exactly_four_nodes() {
    let m = model();
    let mut cfg = m.config(None);
    cfg.nodes = 5;
    assert!(m.info(&cfg).is_err());
}
