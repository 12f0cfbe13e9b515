//! `twopc`: blocking under a coordinator crash is reported (a finding, a violation only with
//! `--fail-on blocking`) and never breaks atomicity; each bug variant breaks atomicity within a
//! bounded number of seeds, and the correct protocol passes the seed that caught it.
mod common;

use common::{found_by, run_seed};
use faultline_models::twopc::model;

#[test]
fn a_coordinator_crash_blocks_participants_but_stays_atomic() {
    let m = model();
    let r = run_seed(&m, None, "crash-coordinator", 3, &[]);
    assert!(r.passed, "{:?}", r.violations);
    let blocking: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.checker == "blocking")
        .collect();
    assert!(
        !blocking.is_empty(),
        "no blocking finding: {:?}",
        r.findings
    );
    let d = blocking[0].detail.as_ref().expect("detail");
    assert!(d["participants"].as_array().is_some_and(|p| !p.is_empty()));
    assert!(d["locks"].as_array().is_some_and(|l| !l.is_empty()));
    assert!(d["duration_ms"].as_f64().unwrap() > 1000.0, "{d}");
    assert!(r.findings.iter().all(|f| f.checker != "atomicity"));

    let strict = run_seed(&m, None, "crash-coordinator", 3, &["blocking"]);
    assert!(!strict.passed);
    assert_eq!(strict.violated_checkers(), vec!["blocking".to_string()]);
}

#[test]
fn the_coordinator_counts_on_top_of_nodes() {
    let m = model();
    let r = run_seed(&m, None, "none", 0, &[]);
    assert_eq!(r.recording.nodes, 4, "3 participants and a coordinator");
    assert!(r.passed, "{:?}", r.violations);
    assert!(r.stats.ok > 0, "some transactions commit");
}

#[test]
fn correct_twopc_is_atomic_under_swarm_and_crashes() {
    for schedule in ["swarm", "crashes", "crash-coordinator"] {
        let result = faultline::Check::new(model())
            .schedule(schedule)
            .seeds(0..25)
            .run();
        result.assert_ok();
    }
}

#[test]
fn no_decision_log_breaks_atomicity() {
    // A restarted coordinator presumes abort for a transaction it committed.
    // Participants that applied different outcomes also disagree with what the client heard.
    // The data the final reads find disagrees with the client first; atomicity (participants
    // disagreeing with each other) follows within the campaign.
    found_by(
        model,
        "no-decision-log",
        "crashes",
        60,
        &["client-outcome"],
        &["atomicity"],
    );
    common::hunt(
        model,
        "no-decision-log",
        "crashes",
        60,
        common::Failures::All,
        &["atomicity", "client-outcome"],
        &[],
    );
}

#[test]
fn unsynced_prepare_breaks_atomicity() {
    // A participant forgets its yes-vote in a crash; the commit finds nothing to commit.
    // The data the final reads find disagrees with the client first; atomicity (participants
    // disagreeing with each other) follows within the campaign.
    found_by(
        model,
        "unsynced-prepare",
        "swarm",
        60,
        &["client-outcome"],
        &["atomicity"],
    );
    // A power loss is what forgets an unsynced vote (a process crash keeps the page cache).
    common::hunt(
        model,
        "unsynced-prepare",
        "power-loss",
        60,
        common::Failures::All,
        &["atomicity", "client-outcome"],
        &[],
    );
}

#[test]
fn cooperative_termination_lets_peers_decide_without_the_coordinator() {
    // While the coordinator is down, an in-doubt participant learns the outcome from a peer
    // that knows it (or that had not voted yet and aborts unilaterally).
    let m = model();
    let helped = (0..20).any(|seed| {
        let r = run_seed(&m, None, "crash-coordinator", seed, &[]);
        assert!(r.passed, "seed {seed}: {:?}", r.violations);
        r.recording.observations.iter().any(|o| {
            (o.kind == "committed" || o.kind == "aborted") && o.u64("from").is_some_and(|f| f != 0)
        })
    });
    assert!(helped, "no participant ever learned an outcome from a peer");
}

#[test]
fn early_commit_reply_is_caught_only_by_what_the_client_was_told() {
    // The participants agree with each other (atomic), but a transaction the client heard
    // "committed" aborted: only the final reads of the participants' data show it.
    found_by(
        model,
        "early-commit-reply",
        "swarm",
        20,
        &["client-outcome"],
        &[],
    );
}

#[test]
fn a_partition_that_cuts_a_participant_off_is_blocking() {
    // Under partitions, some seed leaves a participant in doubt with neither the coordinator
    // nor a peer that knows on its side; correct 2PC still passes (blocking is a finding).
    let m = model();
    let seed = (0..20)
        .find(|&seed| {
            let r = run_seed(&m, None, "partitions", seed, &[]);
            assert!(r.passed, "seed {seed}: {:?}", r.violations);
            r.findings
                .iter()
                .any(|f| f.checker == "blocking" && f.message.contains("a partition cut it off"))
        })
        .expect("a partition blocks a participant within 20 seeds");
    let strict = run_seed(&m, None, "partitions", seed, &["blocking"]);
    assert_eq!(strict.violated_checkers(), vec!["blocking".to_string()]);
}

#[test]
fn the_final_reads_see_every_participants_data() {
    let r = run_seed(&model(), None, "none", 0, &[]);
    let reads: Vec<_> = r
        .recording
        .history
        .events
        .iter()
        .filter(|e| e.process >= r.recording.final_process_base && e.f == "read")
        .filter(|e| e.kind == faultline_checkers::EventType::Ok)
        .collect();
    assert_eq!(reads.len(), 3, "one read per participant: {reads:?}");
    assert!(
        reads
            .iter()
            .any(|e| e.value.as_object().is_some_and(|o| !o.is_empty())),
        "committed transactions wrote somewhere: {reads:?}"
    );
}

/// `twopc` whose participants find their journal damaged at every restart: before a restarted
/// participant runs, one byte of its first record's payload is overwritten (as a bit flip at
/// rest would), so the record's checksum fails.
struct DamagedJournal(faultline_models::twopc::TwoPc);

impl faultline::Protocol for DamagedJournal {
    type Msg = faultline_models::twopc::Msg;
    fn cap(&self) -> faultline::Cap {
        self.0.cap()
    }
    fn roles(&self) -> faultline::Roles {
        self.0.roles()
    }
    fn servers(&self, nodes: usize) -> usize {
        self.0.servers(nodes)
    }
    fn workload(&self) -> faultline::Workload {
        self.0.workload()
    }
    fn guarantees(&self) -> Vec<&'static str> {
        self.0.guarantees()
    }
    fn checkers(&self) -> Vec<Box<dyn faultline::prelude::Checker>> {
        self.0.checkers()
    }
    // A wrapper forwards the points the wrapped model reaches: an undeclared point fails the run.
    fn buggify_points(&self) -> &'static [&'static str] {
        self.0.buggify_points()
    }
    async fn node(&self, ctx: faultline::NodeCtx<Self::Msg>) {
        if ctx.id() != 0 {
            if let Ok(f) = ctx.disk().open("state") {
                // Header (12 bytes), then the JSON payload: its second byte is a quote.
                if f.read().is_ok_and(|d| d.len() > 13 && d[13] != b'#') {
                    let _ = f.write_at(13, b"#");
                    let _ = f.sync_data().await;
                }
            }
        }
        self.0.node(ctx).await
    }
    async fn call(
        &self,
        c: &faultline::ClientCtx<Self::Msg>,
        id: u64,
        op: &faultline::Invocation,
    ) -> faultline::Outcome {
        self.0.call(c, id, op).await
    }
}

#[test]
fn a_participant_with_a_damaged_journal_asks_instead_of_presuming() {
    let m = faultline::Model::new("twopc-damaged", |cfg| {
        faultline_models::twopc::TwoPc::new(cfg).map(DamagedJournal)
    })
    .nodes(3);
    let (mut damaged, mut asked) = (0, 0);
    for seed in 0..30 {
        let r = run_seed(&m, None, "crashes", seed, &[]);
        let obs = &r.recording.observations;
        // Nodes whose journal was found damaged, from then on (the damage stays: every restart
        // finds it again).
        let mut hurt = std::collections::BTreeSet::new();
        for o in obs {
            match o.kind.as_str() {
                "log-damaged" => {
                    hurt.insert(o.node);
                    damaged += 1;
                }
                "in-doubt" if hurt.contains(&o.node) => asked += 1,
                // A damaged journal may have lost this node's yes-vote: aborting a transaction
                // it finds no record of would be a presumption.
                "aborted" => assert!(
                    !hurt.contains(&o.node) || o.data["why"] != "a peer asked before we voted",
                    "seed {seed}: node {} presumed an abort with a damaged journal: {:?}",
                    o.node,
                    o.data
                ),
                _ => {}
            }
        }
        assert!(
            r.findings.iter().all(|f| f.checker != "atomicity"),
            "seed {seed}: {:?}",
            r.findings
        );
    }
    assert!(damaged > 0, "no restarted participant found its damage");
    assert!(
        asked > 0,
        "no damaged participant asked about a transaction"
    );
}
