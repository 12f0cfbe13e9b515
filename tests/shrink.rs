//! `faultline shrink` end to end: a failing primary-backup reproducer shrinks to no more steps and
//! ops, `replay` of the result still fails the same way without diverging, the result is the same
//! on a second run, and bad or passing input gets its documented exit code.
use faultline::prelude::*;
use faultline::repro::Repro;
use faultline::run::{run, Faults, RunReport, RunRequest};
use faultline::schedule::Schedule;
use faultline_models::primary_backup::model;
use std::path::Path;

mod common;
use common::{faultline_in, TempDir};

/// Seed 0 of the correct variant with `ops` operations under `schedule`.
fn correct_seed_0(ops: usize, schedule: &str) -> RunReport {
    let m = model();
    run(
        &m,
        &RunRequest {
            seed: 0,
            config: ModelConfig {
                ops,
                ..m.config(None)
            },
            faults: Faults::Schedule(Schedule::load(schedule).unwrap()),
            fail_on: vec![],
            trace: false,
        },
    )
    .unwrap()
}

/// The first failing swarm seed of `async-ack` with a short workload, as a reproducer file.
fn failing_repro(dir: &TempDir) -> (std::path::PathBuf, Repro) {
    let failure = Check::new(model())
        .bug("async-ack")
        .ops(80)
        .seeds(0..200)
        .stop_on_first()
        .run();
    let report = failure
        .first_failure()
        .expect("async-ack fails within 200 swarm seeds");
    let repro = Repro::from_report(report, &[]);
    let path = dir.join("repro.yaml");
    std::fs::write(&path, repro.to_yaml()).unwrap();
    (path, repro)
}

#[test]
fn a_failing_reproducer_shrinks_and_still_fails_the_same_way() {
    let dir = TempDir::new("shrink");
    let (path, before) = failing_repro(&dir);
    let p = path.to_str().unwrap();
    let o = faultline_in(dir.path(), &["shrink", p, "--time", "20s", "--json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let j = o.json();
    let checker = before.violations[0].checker.clone();
    assert_eq!(j["checker"], checker.as_str(), "{j}");
    let out = j["out"].as_str().expect("out path").to_string();
    assert!(out.ends_with("repro.min.yaml"), "{out}");
    for k in ["steps", "ops", "clients"] {
        let (b, a) = (
            j["before"][k].as_u64().unwrap(),
            j["after"][k].as_u64().unwrap(),
        );
        assert!(a <= b, "{k}: {a} after > {b} before: {j}");
    }
    assert_eq!(j["before"]["steps"], before.schedule.len());
    assert_eq!(j["before"]["ops"], before.config.ops);
    assert!(
        j["after"]["ops"].as_u64().unwrap() < before.config.ops as u64,
        "{j}"
    );
    assert!(j["candidates"].as_u64().unwrap() > 0);
    assert!(j["elapsed_ms"].as_f64().unwrap() >= 0.0);
    let story = j["story"].as_array().expect("story lines");
    // Told whole: a line per remaining fault step and per workload op, at most four
    // observations, the violation (and a final read the violation involves).
    let (steps_after, ops_after) = (
        j["after"]["steps"].as_u64().unwrap() as usize,
        j["after"]["ops"].as_u64().unwrap() as usize,
    );
    assert!(!story.is_empty(), "{j}");
    assert!(story.len() <= steps_after + ops_after + 4 + 1 + 8, "{j}");
    // `  1511 ms  p1: read k1 returned ...`: the third word names the client process.
    let op_lines = story
        .iter()
        .filter(|l| {
            let who = l.as_str().unwrap().split_whitespace().nth(2).unwrap_or("");
            who.starts_with('p') && who[1..].trim_end_matches(':').parse::<u64>().is_ok()
        })
        .count();
    assert!(op_lines >= ops_after, "every op is told: {story:?}");
    let fault_lines = story
        .iter()
        .filter(|l| l.as_str().unwrap().contains("fault:"))
        .count();
    assert!(fault_lines >= steps_after, "every step is told: {story:?}");
    assert!(
        !story
            .iter()
            .any(|l| l.as_str().unwrap().contains("more fault steps")),
        "{story:?}"
    );
    assert!(
        story
            .last()
            .unwrap()
            .as_str()
            .unwrap()
            .contains("VIOLATION"),
        "the story ends with the violation: {story:?}"
    );
    assert!(o.stderr.contains("shrink:"), "progress on stderr");

    // The written reproducer is what `replay` needs: it fails, does not diverge, same checker.
    let min = Repro::load(Path::new(&out)).expect("a valid reproducer");
    assert_eq!(
        min.schedule.len() as u64,
        j["after"]["steps"].as_u64().unwrap()
    );
    assert_eq!(min.fingerprint, j["after"]["fingerprint"].as_str().unwrap());
    let r = faultline_in(
        dir.path(),
        &[
            "replay",
            &out,
            "--json",
            "--out",
            dir.join("replay").to_str().unwrap(),
        ],
    );
    assert_eq!(
        r.code, 1,
        "replay of the shrunk reproducer fails: {}",
        r.stdout
    );
    let rj = r.json();
    assert_eq!(rj["diverged"], false, "{rj}");
    let checkers: Vec<&str> = rj["violations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["checker"].as_str())
        .collect();
    assert!(checkers.contains(&checker.as_str()), "{checkers:?}");

    // Deterministic: the same input shrinks to the same file (when the search finished).
    // The search finished (this one takes well under a second of its 60 s), so a second shrink
    // of the same reproducer writes the same file: deterministic, noise retries included.
    assert_eq!(j["minimal"], true, "{j}");
    let again = dir.join("again.yaml");
    let o2 = faultline_in(dir.path(), &["shrink", p, "-o", again.to_str().unwrap()]);
    assert_eq!(o2.code, 0, "{}", o2.stderr);
    assert!(o2.stdout.contains("Failure story"), "{}", o2.stdout);
    assert_eq!(
        std::fs::read_to_string(&again).unwrap(),
        std::fs::read_to_string(&out).unwrap()
    );
}

#[test]
fn the_target_checker_can_be_chosen() {
    let dir = TempDir::new("shrink-checker");
    // A seed violating two checkers, so the second can be chosen.
    let result = Check::new(model())
        .bug("async-ack")
        .ops(80)
        .seeds(0..100)
        .run();
    let report = result
        .failures
        .iter()
        .find(|f| f.violated_checkers().len() >= 2)
        .expect("some async-ack seed both breaks linearizability and loses a write");
    let path = dir.join("repro.yaml");
    std::fs::write(&path, Repro::from_report(report, &[]).to_yaml()).unwrap();
    let p = path.to_str().unwrap();
    let o = faultline_in(dir.path(), &["shrink", p, "--checker", "no-such-checker"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("no-such-checker"), "{}", o.stderr);
    let first = &report.violations[0].checker;
    let other = report
        .violated_checkers()
        .into_iter()
        .find(|c| c != first)
        .unwrap();
    let out = dir.join("other.yaml");
    let o = faultline_in(
        dir.path(),
        &[
            "shrink",
            p,
            "--checker",
            &other,
            "-o",
            out.to_str().unwrap(),
            "--time",
            "20s",
            "--json",
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.json()["checker"], other.as_str());
    let min = Repro::load(&out).unwrap();
    assert!(
        min.violations.iter().any(|v| v.checker == other),
        "{:?}",
        min.violations
    );
}

#[test]
fn a_malformed_reproducer_is_an_input_error_naming_the_file() {
    let dir = TempDir::new("shrink-bad");
    let bad = dir.join("broken.yaml");
    std::fs::write(&bad, "faultline: 1\nmodel: primary-backup\nseed: [oops\n").unwrap();
    let o = faultline_in(dir.path(), &["shrink", bad.to_str().unwrap(), "--json"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stdout.is_empty(), "{}", o.stdout);
    assert!(
        o.stderr.contains("broken.yaml:"),
        "names the file and line: {}",
        o.stderr
    );
    let o = faultline_in(dir.path(), &["shrink", "no-such-file.yaml"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("no-such-file.yaml"), "{}", o.stderr);
    let o = faultline_in(
        dir.path(),
        &["shrink", bad.to_str().unwrap(), "--time", "soon"],
    );
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("--time"), "{}", o.stderr);
}

#[test]
fn an_unknown_model_is_an_input_error() {
    let dir = TempDir::new("shrink-model");
    let report = correct_seed_0(10, "none");
    let mut repro = Repro::from_report(&report, &[]);
    repro.model = "no-such-model".into();
    let path = dir.join("r.yaml");
    std::fs::write(&path, repro.to_yaml()).unwrap();
    let o = faultline_in(dir.path(), &["shrink", path.to_str().unwrap()]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("r.yaml") && o.stderr.contains("no-such-model"),
        "{}",
        o.stderr
    );
}

#[test]
fn a_passing_reproducer_has_nothing_to_shrink() {
    let dir = TempDir::new("shrink-pass");
    let report = correct_seed_0(20, "swarm");
    assert!(report.passed, "the correct variant passes seed 0");
    let path = dir.join("pass.yaml");
    std::fs::write(&path, Repro::from_report(&report, &[]).to_yaml()).unwrap();
    let o = faultline_in(dir.path(), &["shrink", path.to_str().unwrap(), "--json"]);
    assert_eq!(o.code, 3, "documented: 3 = nothing to shrink: {}", o.stderr);
    assert!(o.stderr.contains("nothing to shrink"), "{}", o.stderr);
    assert_eq!(o.json()["shrunk"], false);
    assert!(!dir.join("pass.min.yaml").exists(), "no file written");
}

#[test]
fn the_timeline_of_a_shrunk_failure_tells_its_story() {
    let dir = TempDir::new("shrink-timeline");
    let (path, _) = failing_repro(&dir);
    let out = dir.join("min.yaml");
    let o = faultline_in(
        dir.path(),
        &[
            "shrink",
            path.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--time",
            "20s",
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    // The story is printed: the faults, the operations and the violation, in time order.
    let story: Vec<&str> = o
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Failure story"))
        .skip(1)
        .collect();
    assert!(!story.is_empty(), "{}", o.stdout);
    assert!(story.iter().any(|l| l.contains("fault:")), "{story:?}");
    assert!(story.last().unwrap().contains("VIOLATION"), "{story:?}");
    let times: Vec<u64> = story[..story.len() - 1]
        .iter()
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{story:?}");

    // The replay's timeline: the story on top, lanes per node and client, violating ops marked.
    let replay = dir.join("replay");
    let r = faultline_in(
        dir.path(),
        &[
            "replay",
            out.to_str().unwrap(),
            "--out",
            replay.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let html = std::fs::read_to_string(replay.join("timeline.html")).unwrap();
    let story_at = html
        .find("Failure story")
        .expect("the story is on the page");
    assert!(
        story_at < html.find("Timeline").unwrap(),
        "the story comes first"
    );
    for lane in ["node n0", "client c0", "final reads", "step 1:"] {
        assert!(html.contains(lane), "a `{lane}` lane");
    }
    assert!(html.contains("op ok hl"), "violating ops are highlighted");
    assert!(
        html.contains("band partition") || html.contains("win "),
        "fault windows"
    );
    assert!(!html.to_lowercase().contains("<script"), "no scripts");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no network"
    );
}

/// The noise seed redraws the incidental randomness and nothing else: noise 0 is the seed's
/// own run, another noise gives another run of the same workload (the same operations, by
/// key and value, in the same order of generation) that replays from its reproducer exactly.
#[test]
fn a_noise_seed_redraws_the_interleaving_and_keeps_the_workload() {
    let m = model();
    let at = |noise: u64| {
        let config = ModelConfig {
            ops: 60,
            noise,
            ..m.config(None)
        };
        common::run_config(&m, 3, config, "partitions")
    };
    let (zero, one, two) = (at(0), at(1), at(2));
    // Noise 0 is the seed's own run, the one every older reproducer of this seed recorded.
    assert_eq!(faultline::protocol::noise_seed(3, 0), 3);
    assert_ne!(
        one.fingerprint, zero.fingerprint,
        "another noise, another run"
    );
    assert_ne!(one.fingerprint, two.fingerprint);
    assert_eq!(
        at(1).fingerprint,
        one.fingerprint,
        "a noise is deterministic"
    );
    // The same schedule (when each step starts and how long it lasts; a role such as "the
    // leader" resolves to whoever leads in that run) and the same operations, only timed and
    // interleaved differently.
    let timing = |r: &RunReport| -> Vec<(u64, Option<u64>)> {
        r.steps.iter().map(|s| (s.at_ms, s.for_ms)).collect()
    };
    assert_eq!(timing(&one), timing(&zero));
    assert_eq!(workload_ops(&one), workload_ops(&zero));
    // A reproducer records the noise and replays the run bit for bit.
    let repro = Repro::from_report(&one, &[]);
    assert_eq!(repro.config.noise, 1);
    let dir = TempDir::new("noise-repro");
    let file = dir.join("noise.yaml");
    std::fs::write(&file, repro.to_yaml()).unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("noise: 1"), "{text}");
    let o = faultline_in(dir.path(), &["replay", file.to_str().unwrap(), "--json"]);
    let j = o.json();
    assert_eq!(j["diverged"], false, "{j}");
    assert_eq!(j["fingerprint"], one.fingerprint.as_str(), "{j}");
}

/// `skip_ops` drops single operations from the workload and leaves every other one as it was
/// (its key and value), which is how shrink removes operations from the middle.
#[test]
fn skipped_operations_leave_the_others_as_they_were() {
    let m = model();
    let invoked = |skip: &[usize]| {
        let config = ModelConfig {
            ops: 20,
            skip_ops: skip.iter().copied().collect(),
            ..m.config(None)
        };
        assert_eq!(config.issued_ops(), 20 - skip.len());
        workload_ops(&common::run_config(&m, 4, config, "none"))
    };
    let all = invoked(&[]);
    let some = invoked(&[0, 5]);
    assert_eq!(all.len(), 20);
    assert_eq!(some.len(), 18);
    let mut rest = all.clone();
    for op in &some {
        let at = rest
            .iter()
            .position(|o| o == op)
            .unwrap_or_else(|| panic!("{op} is not one of the full workload's operations"));
        rest.remove(at);
    }
    assert_eq!(
        rest.len(),
        2,
        "exactly the two skipped operations are missing"
    );
}

/// The workload operations a run invoked (not the final reads), as `f key value`, sorted: what
/// the workload drew, whatever the interleaving.
fn workload_ops(r: &RunReport) -> Vec<String> {
    let mut ops: Vec<String> = r
        .recording
        .history
        .events
        .iter()
        .filter(|e| {
            e.kind == faultline_checkers::EventType::Invoke
                && e.process < r.recording.final_process_base
        })
        .map(|e| format!("{} {:?} {}", e.f, e.key, e.value))
        .collect();
    ops.sort();
    ops
}
