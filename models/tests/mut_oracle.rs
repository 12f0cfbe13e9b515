//! The oracle of the mutation run (issue 16): the correct Raft passes 150 swarm seeds, judged
//! only by the harness's verdicts. `cargo mutants -p faultline-models -f models/src/raft/node.rs
//! -- --test mut_oracle` counts a mutant of the Raft code as caught when this test fails on it,
//! so a mutant that turns Raft into a store that never commits, never elects or never answers
//! must fail here (the `liveness` and `progress` guarantees), not only one that breaks safety.
use faultline::Check;
use faultline_models::raft;

#[test]
fn the_correct_raft_passes_150_swarm_seeds() {
    Check::new(raft::model())
        .seeds(0..150)
        .jobs(1)
        .no_regressions()
        .run()
        .assert_ok();
}
