//! `faultline ci`: exit codes, JUnit, and file:line errors for malformed suites.
use std::path::Path;

mod common;
use common::{faultline_in, TempDir};

fn ci(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let args: Vec<&str> = std::iter::once("ci").chain(args.iter().copied()).collect();
    faultline_in(cwd, &args).into_parts()
}

/// A minimal XML well-formedness check: every tag closes in order, one root. Returns the tag
/// names in document order (open tags only).
fn xml_tags(x: &str) -> Vec<String> {
    let body = x
        .trim()
        .strip_prefix("<?xml")
        .and_then(|r| r.split_once("?>"))
        .map(|(_, r)| r)
        .expect("an XML declaration");
    let mut stack: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    let mut roots = 0;
    let mut rest = body;
    while let Some(i) = rest.find('<') {
        let text = &rest[..i];
        assert!(!text.contains('>'), "a stray `>` in text: {text}");
        let j = rest[i..].find('>').expect("tag closes") + i;
        let tag = &rest[i + 1..j];
        rest = &rest[j + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "balanced tags");
        } else {
            let self_closing = tag.ends_with('/');
            let name = tag
                .trim_end_matches('/')
                .split_whitespace()
                .next()
                .unwrap()
                .to_string();
            assert_eq!(tag.matches('"').count() % 2, 0, "quoted attributes: {tag}");
            if stack.is_empty() {
                roots += 1;
            }
            seen.push(name.clone());
            if !self_closing {
                stack.push(name);
            }
        }
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    assert!(!rest.contains('>'), "a stray `>` after the root");
    assert_eq!(roots, 1, "one root element");
    seen
}

const SUITE: &str = "\
# a small suite
- {model: primary-backup, seeds: 8, ops: 60, expect: pass}
- {model: primary-backup, bug: async-ack, seeds: \"0..60\", ops: 60, expect: fail, checker: linearizability}
";

#[test]
fn a_met_suite_exits_0_with_junit_and_a_flipped_expectation_exits_1() {
    let dir = TempDir::new("ci");
    let suite = dir.join("suite.yaml");
    std::fs::write(&suite, SUITE).unwrap();
    let junit = dir.join("junit.xml");
    let (code, stdout, stderr) = ci(
        dir.path(),
        &[
            suite.to_str().unwrap(),
            "--jobs",
            "2",
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("2 of 2 expectations met"), "{stdout}");
    let x = std::fs::read_to_string(&junit).unwrap();
    let tags = xml_tags(&x);
    assert_eq!(tags.iter().filter(|t| *t == "testcase").count(), 2, "{x}");
    assert!(!tags.iter().any(|t| t == "failure"), "{x}");
    assert!(x.contains("tests=\"2\" failures=\"0\""), "{x}");
    // The caught bug's reproducer is written under faultline-out/ci/.
    assert!(stdout.contains("faultline-out/ci/02-primary-backup-async-ack-swarm/seed-"));

    // Flip the bug's expectation: the gate fails, and JUnit says why.
    let flipped = SUITE.replace("expect: fail, checker: linearizability", "expect: pass");
    std::fs::write(&suite, flipped).unwrap();
    let (code, stdout, stderr) = ci(
        dir.path(),
        &[
            suite.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let j: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(j["passed"], false);
    assert_eq!(j["entries"][0]["met"], true);
    let e = &j["entries"][1];
    assert_eq!(e["met"], false);
    let seed = e["seed"].as_u64().expect("the failing seed");
    let repro = e["repro"].as_str().expect("a reproducer");
    assert!(dir.path().join(repro).is_file(), "{repro}");
    let x = std::fs::read_to_string(&junit).unwrap();
    let tags = xml_tags(&x);
    assert_eq!(tags.iter().filter(|t| *t == "testcase").count(), 2);
    assert_eq!(tags.iter().filter(|t| *t == "failure").count(), 1, "{x}");
    let failure = &x[x.find("<failure").unwrap()..];
    assert!(
        failure.contains(&format!("seed {seed} failed")),
        "{failure}"
    );
    assert!(failure.contains("[linearizability]"), "{failure}");
    assert!(failure.contains(repro), "{failure}");
}

#[test]
fn unmet_findings_and_checkers_fail_the_gate() {
    let dir = TempDir::new("ci-finding");
    let suite = dir.join("s.yaml");
    std::fs::write(
        &suite,
        "- {model: primary-backup, seeds: 3, ops: 40, expect: pass, finding: lost-write}\n",
    )
    .unwrap();
    let (code, stdout, _) = ci(dir.path(), &[suite.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("no seed of the 3 run reported a `lost-write` finding"),
        "{stdout}"
    );
}

#[test]
fn a_malformed_suite_exits_2_naming_the_file_and_line() {
    let dir = TempDir::new("ci-bad");
    let cases = [
        (
            "- {model: primary-backup, seeds: 5, expect: pass}\n- {model: primary-backup, seeds: 5, expect: maybe}\n",
            ":2:",
            "maybe",
        ),
        (
            "# comment\n- {model: primary-backup, seeds: 5, expect: pass}\n- {model: no-such, seeds: 5, expect: pass}\n",
            ":3:",
            "unknown model",
        ),
        (
            "- model: primary-backup\n  seeds: \"5..x\"\n  expect: pass\n",
            ":2:",
            "5..x",
        ),
        (
            "- {model: primary-backup, bug: nope, seeds: 5, expect: fail}\n",
            ":1:",
            "nope",
        ),
        (
            "- {model: primary-backup, seeds: 5, expect: fail, checker: raft-lost-commit}\n",
            ":1:",
            "raft-lost-commit",
        ),
        (
            "- {model: primary-backup, seeds: 5, expect: pass, colour: red}\n",
            ":1:",
            "colour",
        ),
        ("[]\n", ":1:", "no entries"),
    ];
    for (i, (text, at, what)) in cases.iter().enumerate() {
        let suite = dir.join(&format!("bad{i}.yaml"));
        std::fs::write(&suite, text).unwrap();
        let (code, stdout, stderr) = ci(dir.path(), &[suite.to_str().unwrap()]);
        assert_eq!(code, 2, "case {i}: {stdout}{stderr}");
        let expected = format!("{}{at}", suite.display());
        assert!(
            stderr.contains(&expected),
            "case {i}: want {expected} in {stderr}"
        );
        assert!(stderr.contains(what), "case {i}: want {what} in {stderr}");
        assert!(stdout.is_empty(), "case {i}: nothing runs: {stdout}");
    }
    let (code, _, stderr) = ci(dir.path(), &[dir.join("missing.yaml").to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("missing.yaml"), "{stderr}");
}

#[test]
fn a_schedule_file_is_found_beside_the_suite() {
    let dir = TempDir::new("ci-schedule");
    std::fs::create_dir_all(dir.join("suites")).unwrap();
    std::fs::write(
        dir.join("suites/crash-one.yaml"),
        "# one crash of node 1\nsteps:\n  - {at_ms: 100, fault: crash, node: 1, for_ms: 500}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("suites/s.yaml"),
        "- {model: primary-backup, schedule: crash-one.yaml, seeds: 3, ops: 40, expect: pass}\n",
    )
    .unwrap();
    let (code, stdout, stderr) = ci(dir.path(), &["suites/s.yaml", "--json"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let j: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(j["entries"][0]["seeds_run"], 3);
}
