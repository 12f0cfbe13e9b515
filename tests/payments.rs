//! `payments`: retries with an idempotency key charge once; each bug variant double-charges
//! within a bounded number of seeds, and the correct service passes the seed that caught it.
mod common;

use common::found_by;
use faultline::Check;
use faultline_models::payments::model;

#[test]
fn correct_payments_charge_exactly_once() {
    let result = Check::new(model()).seeds(0..150).run();
    result.assert_ok();
    assert_eq!(result.seeds_run, 150);
}

#[test]
fn no_idempotency_key_double_charges() {
    found_by(
        model,
        "no-idempotency-key",
        "swarm",
        20,
        &["exactly-once"],
        &[],
    );
}

#[test]
fn volatile_dedup_double_charges_after_a_crash() {
    found_by(
        model,
        "volatile-dedup",
        "lost-replies",
        100,
        &["exactly-once"],
        &[],
    );
}
