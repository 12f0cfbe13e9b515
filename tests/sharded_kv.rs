//! `sharded-kv`: shards move between replicated groups during the run and every key stays
//! linearizable; a group that keeps serving a shard it handed over is caught.
use faultline::prelude::*;
use faultline::run::RunReport;
use faultline_models::sharded_kv::model;
use std::collections::BTreeSet;

mod common;

fn run_seed(bug: Option<&str>, seed: u64, schedule: &str) -> RunReport {
    common::run_seed(&model(), bug, schedule, seed, &[])
}

#[test]
fn shards_move_while_clients_work() {
    let r = run_seed(None, 1, "none");
    assert!(r.passed, "{:?}", r.violations);
    let versions: BTreeSet<u64> = r
        .recording
        .observations_of("shard-map")
        .filter_map(|o| o.u64("version"))
        .collect();
    assert!(versions.len() >= 3, "only {versions:?} map versions");
    // Moves make some requests bounce, but without faults every operation completes.
    assert_eq!(r.stats.info, 0, "{:?}", r.stats);
    assert!(r.stats.ok * 10 >= r.stats.ops * 9, "{:?}", r.stats);
}

#[test]
fn the_correct_variant_passes_swarm_and_partitions() {
    Check::new(model()).seeds(0..40).run().assert_ok();
    Check::new(model())
        .seeds(0..20)
        .schedule("partitions")
        .run()
        .assert_ok();
}

#[test]
fn stale_shard_map_serves_a_moved_key() {
    let result = Check::new(model())
        .bug("stale-shard-map")
        .seeds(0..50)
        .stop_on_first()
        .run();
    let f = result
        .first_failure()
        .expect("stale-shard-map fails within 50 seeds");
    let checkers = f.violated_checkers();
    assert!(
        checkers.contains(&"linearizability".to_string()) && checkers.contains(&"cap".to_string()),
        "{checkers:?}"
    );
    let fixed = run_seed(None, f.seed, "swarm");
    assert!(fixed.passed, "seed {}: {:?}", f.seed, fixed.violations);
}

#[test]
fn the_layout_needs_equal_groups() {
    let m = model();
    let mut cfg = m.config(None);
    cfg.nodes = 10;
    let err = common::refused(&m, cfg, "10 nodes cannot form 3 equal groups");
    assert!(err.to_string().contains("--nodes 12"), "{err}");
}
