//! The guide cannot rot: every `faultline` command in `docs/guide.md` is run and must end the
//! way the guide says (the expectation grammar is documented at the top of the guide):
//!
//! - commands sit in ```` ```sh ```` blocks, one per line, each ending in `# expect: exit N`
//!   optionally followed by `, violation CHECKER` / `, finding CHECKER` (any number);
//! - a block's commands run in order in one fresh, empty temp directory (so a `shrink` can read
//!   the reproducer the `run` before it wrote under `./faultline-out/`);
//! - the test adds `--json` when a command lacks it and looks the checkers up in the output's
//!   `violations` / `findings` (and, for `fuzz`, in each failure's `violations`).
mod common;

use common::{faultline_in, TempDir};
use serde_json::Value;
use std::path::Path;

/// One checked command: its line in the guide, its arguments (after `faultline`) and what must hold.
#[derive(Debug, PartialEq)]
struct Command {
    line: usize,
    args: Vec<String>,
    exit: i32,
    violations: Vec<String>,
    findings: Vec<String>,
}

/// The `sh` blocks of `doc`, each a list of checked commands. A `faultline` line without a valid
/// `# expect:` marker is an error: every command the guide shows is checked.
fn parse(doc: &str) -> Result<Vec<Vec<Command>>, String> {
    let mut blocks = Vec::new();
    // Inside a fence: Some(commands) for an `sh` block, None for any other kind.
    let mut fence: Option<Option<Vec<Command>>> = None;
    for (i, raw) in doc.lines().enumerate() {
        let line = i + 1;
        let text = raw.trim();
        if let Some(info) = text.strip_prefix("```") {
            match fence.take() {
                Some(Some(block)) => blocks.push(block),
                Some(None) => {}
                None => fence = Some((info.trim() == "sh").then(Vec::new)),
            }
            continue;
        }
        let Some(Some(block)) = fence.as_mut() else {
            continue;
        };
        if !text.starts_with("faultline ") {
            continue;
        }
        let (cmd, expect) = text
            .split_once("# expect:")
            .ok_or_else(|| format!("line {line}: a `faultline` command without `# expect:`"))?;
        let mut parts = expect.split(',').map(str::trim);
        let exit = parts
            .next()
            .and_then(|p| p.strip_prefix("exit "))
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| format!("line {line}: `# expect:` must start with `exit N`"))?;
        let (mut violations, mut findings) = (Vec::new(), Vec::new());
        for p in parts {
            match p.split_once(' ') {
                Some(("violation", c)) => violations.push(c.trim().to_string()),
                Some(("finding", c)) => findings.push(c.trim().to_string()),
                _ => return Err(format!("line {line}: unknown expectation `{p}`")),
            }
        }
        block.push(Command {
            line,
            args: cmd.split_whitespace().skip(1).map(String::from).collect(),
            exit,
            violations,
            findings,
        });
    }
    if fence.is_some() {
        return Err("an unclosed code block".into());
    }
    Ok(blocks.into_iter().filter(|b| !b.is_empty()).collect())
}

/// The checkers named in `v[key]`, and in each fuzz failure's `violations` for violations.
fn checkers(v: &Value, key: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut add = |list: &Value| {
        for f in list.as_array().into_iter().flatten() {
            if let Some(c) = f["checker"].as_str() {
                found.push(c.to_string());
            }
        }
    };
    add(&v[key]);
    if key == "violations" {
        for failure in v["failures"].as_array().into_iter().flatten() {
            add(&failure["violations"]);
        }
    }
    found
}

/// Runs one command in `dir` and says how it differs from the guide's expectation.
fn check(dir: &Path, cmd: &Command) -> Result<(), String> {
    let mut args: Vec<&str> = cmd.args.iter().map(String::as_str).collect();
    if !args.contains(&"--json") {
        args.push("--json");
    }
    let out = faultline_in(dir, &args);
    let shown = format!("guide line {}: faultline {}", cmd.line, args.join(" "));
    if out.code != cmd.exit {
        return Err(format!(
            "{shown}: exit {} (the guide says {})\nstdout: {}\nstderr: {}",
            out.code, cmd.exit, out.stdout, out.stderr
        ));
    }
    let v: Value = serde_json::from_str(out.stdout.trim())
        .map_err(|e| format!("{shown}: stdout is not JSON ({e}): {}", out.stdout))?;
    for (key, wanted) in [("violations", &cmd.violations), ("findings", &cmd.findings)] {
        let got = checkers(&v, key);
        for c in wanted {
            if !got.contains(c) {
                return Err(format!("{shown}: no `{c}` in {key} (got {got:?})"));
            }
        }
    }
    Ok(())
}

/// Runs every block, each in its own temp dir; the list of failures (empty: the guide holds).
fn run_all(blocks: &[Vec<Command>]) -> Vec<String> {
    let mut failures = Vec::new();
    for block in blocks {
        let dir = TempDir::new("guide");
        for cmd in block {
            if let Err(e) = check(dir.path(), cmd) {
                failures.push(e);
                break; // later commands of the block may depend on this one
            }
        }
    }
    failures
}

#[test]
fn every_command_in_the_guide_does_what_the_guide_says() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/guide.md");
    let doc = std::fs::read_to_string(&path).expect("docs/guide.md");
    let blocks = parse(&doc).unwrap_or_else(|e| panic!("docs/guide.md: {e}"));
    let n: usize = blocks.iter().map(Vec::len).sum();
    assert!(
        n >= 20,
        "the guide checks {n} commands; expected at least 20"
    );
    let failures = run_all(&blocks);
    assert!(
        failures.is_empty(),
        "{} of the guide's claims no longer hold:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_parser_reads_blocks_and_expectations() {
    let doc = "intro\n```text\nfaultline run raft   # expect: exit 7\n```\n\
               ```sh\n# a comment\nfaultline run twopc --seed 3   # expect: exit 0, finding blocking\n\
               faultline shrink x.yaml # expect: exit 0, violation atomicity, violation cap\n```\n\
               ```sh\nfaultline list   # expect: exit 0\n```\n";
    let blocks = parse(doc).unwrap();
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0].len(), 2);
    assert_eq!(
        blocks[0][0],
        Command {
            line: 7,
            args: vec!["run".into(), "twopc".into(), "--seed".into(), "3".into()],
            exit: 0,
            violations: vec![],
            findings: vec!["blocking".into()],
        }
    );
    assert_eq!(blocks[0][1].violations, vec!["atomicity", "cap"]);
    assert_eq!(blocks[1][0].args, vec!["list"]);

    let unmarked = "```sh\nfaultline run raft --seed 1\n```\n";
    assert!(parse(unmarked).unwrap_err().contains("without `# expect:`"));
    let bad = "```sh\nfaultline run raft # expect: exit 0, violatoin cap\n```\n";
    assert!(parse(bad).unwrap_err().contains("unknown expectation"));
}

#[test]
fn a_claim_that_does_not_hold_fails_the_test() {
    // Each line is wrong in one way: the exit code, a violation that does not happen, a
    // finding that does not happen.
    for wrong in [
        "faultline run twopc --seed 3 --schedule crash-coordinator   # expect: exit 1",
        "faultline run twopc --seed 3 --schedule crash-coordinator   # expect: exit 0, violation blocking",
        "faultline run twopc --seed 3 --schedule none   # expect: exit 0, finding blocking",
    ] {
        let blocks = parse(&format!("```sh\n{wrong}\n```\n")).unwrap();
        let failures = run_all(&blocks);
        assert_eq!(failures.len(), 1, "{wrong}: should not hold");
    }
    // And the right claim holds.
    let right = "```sh\nfaultline run twopc --seed 3 --schedule crash-coordinator   # expect: exit 0, finding blocking\n```\n";
    assert!(run_all(&parse(right).unwrap()).is_empty());
}
