//! The `faultline` command line as a library function, so a user's own binary can register their
//! own protocols: `std::process::exit(faultline_cli::main(models))`.
//!
//! Exit codes: 0 success, 1 violation found, 2 usage or input error, 3 undecided (a checker
//! ran out of its work budget, nothing failed) or, for `shrink`, nothing to shrink.
use clap::{Args, Parser, Subcommand};
use faultline::model::Model;
use faultline::repro::Repro;
use faultline::run::{run, Faults, RunReport, RunRequest};
use faultline::schedule::{builtin_description, builtin_names, Schedule};
use serde_json::{json, Value};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "faultline",
    version,
    about = "Deterministic chaos testing for distributed protocols"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Models (bug variants, guarantees, checkers), schedules and specs.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One simulation.
    Run(RunArgs),
    /// Many seeds on all cores: a campaign folder with each failing seed, a summary and a
    /// checkpoint (docs/campaigns.md).
    Fuzz(FuzzArgs),
    /// Re-run a reproducer bit for bit.
    Replay(ReplayArgs),
    /// Linearizability of a history recorded elsewhere (exit 0 yes, 1 no, 3 undecided).
    CheckHistory(CheckHistoryArgs),
    /// The smallest schedule and workload that still fail the same way (exit 0 written,
    /// 2 bad input, 3 the reproducer does not fail).
    Shrink(crate::shrink::ShrinkArgs),
    /// The CI gate: run a suite of expectations (exit 0 every one met, 1 some not met, 3 the
    /// unmet ones are unmet only for undecided seeds).
    Ci(CiArgs),
    /// Combine the campaign folders of several shards into one report.
    Merge(MergeArgs),
    /// Performance figures measured in one process: raw madsim vs the harness's network, seeds
    /// per second per model, the checker against Porcupine, the --jobs speed-up.
    Bench(BenchArgs),
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Short budgets (under 30 s in all).
    #[arg(long)]
    quick: bool,
    #[arg(long)]
    json: bool,
    /// Only these models (repeatable; default all).
    #[arg(long = "model")]
    models: Vec<String>,
    /// Worker threads for the scaling and memory figures (default: all cores, at least 2).
    #[arg(long)]
    jobs: Option<usize>,
    /// Also run this many short seeds (default 100000) and report peak RSS after a tenth of them
    /// and after all.
    #[arg(long, num_args = 0..=1, default_missing_value = "100000")]
    memory: Option<u64>,
    /// Time Porcupine's own checker beside Faultline's on this machine, built with `go` from
    /// this Porcupine checkout (default: $FAULTLINE_PORCUPINE_DIR). Without it no speed-up is
    /// reported.
    #[arg(long)]
    porcupine: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct CiArgs {
    /// The suite (YAML; see docs/reference.md and ci/faultline.yaml).
    suite: PathBuf,
    /// Write a JUnit XML report here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Where failing seeds' reproducers go (default ./faultline-out/ci/).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Accept undecided seeds (a checker ran out of its work budget) in every entry; without
    /// it, a suite whose only unmet entries are unmet for undecided seeds exits 3.
    #[arg(long)]
    allow_undecided: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct MergeArgs {
    /// Campaign folders (one per shard).
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// The merged folder (default ./faultline-out/merge-MODEL[-BUG]/).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long)]
    json: bool,
    /// Exit 0 rather than 3 when seeds were undecided and none failed (as fuzz and ci).
    #[arg(long)]
    allow_undecided: bool,
}

#[derive(Args, Debug)]
struct CheckHistoryArgs {
    file: PathBuf,
    /// register, cas-register, kv or append (default: inferred from the operations).
    #[arg(long)]
    spec: Option<String>,
    /// auto, porcupine-kv, jepsen-etcd, jepsen-edn or jsonl.
    #[arg(long, default_value = "auto")]
    format: String,
    /// The initial value of every register (JSON; default nil).
    #[arg(long)]
    initial: Option<String>,
    /// The search's work budget in steps (default 20000000); past it the verdict is undecided
    /// (exit 3). The same history and budget give the same verdict on any machine.
    #[arg(long)]
    check_budget: Option<u64>,
    /// Also give up after this much wall time (exit 3), e.g. 30s. Machine-dependent: the same
    /// history may get another verdict on a slower or busier machine. Off by default.
    #[arg(long)]
    timeout: Option<String>,
    #[arg(long)]
    json: bool,
    /// Write a self-contained HTML report (timeline and counterexample).
    #[arg(long)]
    html: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
struct ModelArgs {
    /// The model to run (see `faultline list`).
    model: String,
    #[arg(long)]
    bug: Option<String>,
    /// A built-in schedule name or a schedule file.
    #[arg(long, default_value = "swarm")]
    schedule: String,
    #[arg(long)]
    nodes: Option<usize>,
    #[arg(long)]
    clients: Option<usize>,
    #[arg(long)]
    ops: Option<usize>,
    /// Model parameters, KEY=VALUE[,KEY=VALUE...].
    #[arg(long, value_delimiter = ',')]
    set: Vec<String>,
    /// Checkers whose findings fail the run on top of the model's guarantees.
    #[arg(long, value_delimiter = ',')]
    fail_on: Vec<String>,
    /// The client workload: register (read/write per key) or append (list-append per key);
    /// default: the model's own.
    #[arg(long)]
    workload: Option<String>,
    /// Every final read must succeed within this long (simulated) after the final heal, e.g.
    /// 10s (the default) or 500ms.
    #[arg(long)]
    liveness_timeout: Option<String>,
    /// The checkers' work budget in search steps (default 20000000); past it the verdict is
    /// `undecided`. Counted in work, so the verdict never depends on the machine.
    #[arg(long)]
    check_budget: Option<u64>,
    /// Buggify: each `ctx.buggify(point)` the run reaches is enabled with probability 1/4,
    /// drawn from the seed and the point's name, and then fires at 1/4 of its reaches.
    #[arg(long)]
    buggify: bool,
    /// The wire check: `serde` round-trips every message through the protocol's codec (its
    /// `Protocol::wire_codec`) and delivers the decoded copy; the stats count the bytes.
    #[arg(long, value_name = "CHECK")]
    wire: Option<String>,
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    m: ModelArgs,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long)]
    json: bool,
    /// Run the seed twice and fail (a `determinism` violation) if the fingerprints or verdicts
    /// differ.
    #[arg(long)]
    check_determinism: bool,
    /// Print the event trace to stderr.
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Args, Debug)]
struct FuzzArgs {
    #[command(flatten)]
    m: ModelArgs,
    /// How many seeds from --start-seed (default 100).
    #[arg(long, conflicts_with = "duration")]
    seeds: Option<u64>,
    /// Run until this much time has passed (90s, 30m, 8h).
    #[arg(long)]
    duration: Option<String>,
    #[arg(long, default_value_t = 0)]
    start_seed: u64,
    /// Worker threads (default: all cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Run only seeds s with s % N == I.
    #[arg(long)]
    shard: Option<String>,
    /// Stop once the lowest failing seed is certain.
    #[arg(long)]
    stop_on_first: bool,
    /// The campaign folder: failing seeds, campaign.json, checkpoint (default
    /// ./faultline-out/fuzz-MODEL[-BUG]/).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the campaign in --out (after a kill or Ctrl-C): same command, plus --resume.
    #[arg(long)]
    resume: bool,
    /// Also run this share of the passing seeds twice (e.g. 10%; alone: 100%) and report a
    /// `determinism` violation when the runs differ. Failing and undecided seeds always run
    /// twice. The seeds are chosen by a hash of the seed: the same ones on every machine.
    #[arg(long, num_args = 0..=1, default_missing_value = "100%")]
    check_determinism: Option<String>,
    /// Exit 0 instead of 3 when seeds were undecided (a checker ran out of its work budget)
    /// and none failed.
    #[arg(long)]
    allow_undecided: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct ReplayArgs {
    repro: PathBuf,
    #[arg(long)]
    json: bool,
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(short, long)]
    verbose: bool,
}

/// A usage or input error: exit code 2, message on stderr.
#[derive(Debug)]
struct UsageError(String);

impl<E: std::fmt::Display> From<E> for UsageError {
    fn from(e: E) -> Self {
        UsageError(e.to_string())
    }
}

type CliResult = Result<i32, UsageError>;

/// Parses `std::env::args()` and runs the command; returns the exit code.
pub fn main(models: Vec<Model>) -> i32 {
    // Like any Unix tool, stop quietly when the reader of our output goes away
    // (`faultline list | head`); Rust ignores SIGPIPE, so `println!` would panic instead.
    // SAFETY: restoring the default disposition of one signal, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    run_cli(std::env::args_os(), models)
}

/// Like [`main`], with explicit arguments (the first is the program name).
pub fn run_cli<I, T>(args: I, models: Vec<Model>) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    // Printed commands (`... replay FILE`) and usage name the binary as it was invoked: a
    // user's own binary knows models the stock `faultline` does not.
    if let Some(argv0) = args.first() {
        faultline::command::set_binary(argv0);
    }
    let parsed = {
        use clap::{CommandFactory, FromArgMatches};
        Cli::command()
            .bin_name(faultline::command::binary())
            .try_get_matches_from(args)
            .and_then(|m| Cli::from_arg_matches(&m))
    };
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let result = match cli.command {
        Command::List { json } => list(&models, json),
        Command::Run(a) => run_cmd(&models, a),
        Command::Fuzz(a) => fuzz_cmd(&models, a),
        Command::Replay(a) => replay_cmd(&models, a),
        Command::CheckHistory(a) => check_history_cmd(a),
        Command::Shrink(a) => crate::shrink::command(&models, a).map_err(UsageError),
        Command::Ci(a) => ci_cmd(&models, a),
        Command::Merge(a) => merge_cmd(a),
        Command::Bench(a) => bench_cmd(&models, a),
    };
    match result {
        Ok(code) => code,
        Err(UsageError(msg)) => {
            eprintln!("error: {msg}");
            2
        }
    }
}

fn bench_cmd(models: &[Model], a: BenchArgs) -> CliResult {
    use crate::bench::{run_with, BenchOptions};
    let mut o = if a.quick {
        BenchOptions::quick()
    } else {
        BenchOptions::full()
    };
    o.only = a.models;
    o.porcupine = a
        .porcupine
        .or_else(|| std::env::var_os("FAULTLINE_PORCUPINE_DIR").map(PathBuf::from));
    o.jobs = a
        .jobs
        .unwrap_or_else(|| faultline::campaign::default_jobs().max(2));
    if let Some(total) = a.memory {
        if total < 10 {
            return Err(UsageError(format!(
                "--memory {total}: needs at least 10 seeds"
            )));
        }
        o.memory = Some((20, total / 10, total));
    }
    let report = run_with(models, &o, &mut |stage| {
        eprintln!("faultline bench: {stage}")
    })?;
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(0)
}

fn find<'a>(models: &'a [Model], name: &str) -> Result<&'a Model, UsageError> {
    models.iter().find(|m| m.name() == name).ok_or_else(|| {
        UsageError(format!(
            "unknown model `{name}` (known: {})",
            models
                .iter()
                .map(Model::name)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

fn config(model: &Model, a: &ModelArgs) -> Result<faultline::ModelConfig, UsageError> {
    let mut cfg = model.config(a.bug.as_deref());
    if let Some(n) = a.nodes {
        cfg.nodes = n;
    }
    if let Some(n) = a.clients {
        cfg.clients = n;
    }
    if let Some(n) = a.ops {
        cfg.ops = n;
    }
    for kv in &a.set {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| UsageError(format!("--set {kv}: expected KEY=VALUE")))?;
        cfg.set.insert(k.trim().to_string(), v.trim().to_string());
    }
    cfg.workload = a.workload.clone();
    if let Some(t) = &a.liveness_timeout {
        cfg.liveness_ms = Some(
            faultline::run::parse_sim_duration_ms(t)
                .map_err(|e| UsageError(format!("--liveness-timeout {t}: {e}")))?,
        );
    }
    cfg.check_budget = a.check_budget;
    cfg.buggify = a.buggify;
    if let Some(w) = &a.wire {
        cfg.wire = Some(
            w.parse()
                .map_err(|e| UsageError(format!("--wire {w}: {e}")))?,
        );
    }
    let info = faultline::run::validate(model, &cfg)?;
    for c in &a.fail_on {
        if !info.checkers.iter().any(|k| k == c) && c != "panic" {
            return Err(UsageError(format!(
                "--fail-on {c}: model {} has no such checker (its checkers: {})",
                model.name(),
                info.checkers.join(", ")
            )));
        }
    }
    Ok(cfg)
}

fn init_trace(verbose: bool) {
    if verbose {
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .without_time()
            .with_ansi(std::io::stderr().is_terminal())
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "faultline=debug,madsim=off".into()),
            )
            .try_init();
    }
}

fn list(models: &[Model], json_out: bool) -> CliResult {
    let mut infos = Vec::new();
    for m in models {
        infos.push((m.info(&m.config(None))?, m.supported_workloads().to_vec()));
    }
    let schedules: Vec<Value> = builtin_names()
        .into_iter()
        .map(|n| json!({"name": n, "description": builtin_description(n)}))
        .collect();
    let specs: Vec<&str> = faultline_checkers::spec::SpecName::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    if json_out {
        let models: Vec<Value> = infos
            .iter()
            .map(|(i, workloads)| {
                json!({
                    "name": i.name, "cap": i.cap, "guarantees": i.guarantees,
                    "workloads": workloads,
                    "bugs": i.bugs.iter().map(|b| &b.name).collect::<Vec<_>>(),
                    "bug_descriptions": i.bugs,
                    "params": i.params,
                    "checkers": i.checkers, "description": i.description,
                    "roles": i.roles,
                    "corruption_budget": i.corruption_budget,
                    "buggify_points": i.buggify_points,
                })
            })
            .collect();
        println!(
            "{}",
            json!({"models": models, "schedules": schedules, "specs": specs})
        );
    } else {
        println!("Models:");
        for (i, workloads) in &infos {
            let cap = match i.cap {
                faultline::protocol::Cap::None => "—".to_string(),
                c => format!("{c:?}"),
            };
            println!("  {} ({cap}) — {}", i.name, i.description);
            println!("    guarantees: {}", i.guarantees.join(", "));
            println!("    checkers:   {}", i.checkers.join(", "));
            if !i.roles.names().is_empty() {
                println!("    roles:      {}", i.roles.names().join(", "));
            }
            if !i.buggify_points.is_empty() {
                println!("    buggify:    {}", i.buggify_points.join(", "));
            }
            if i.corruption_budget > 0 {
                println!(
                    "    corruption: up to {} node{} (corrupt/misdirect strikes; Protocol::corruption_budget)",
                    i.corruption_budget,
                    if i.corruption_budget == 1 { "" } else { "s" }
                );
            }
            if !workloads.is_empty() {
                println!(
                    "    workloads:  {} (--workload; the first is the default)",
                    workloads.join(", ")
                );
            }
            for b in &i.bugs {
                println!("    --bug {:<20} {}", b.name, b.description);
            }
            for p in &i.params {
                println!(
                    "    --set {:<20} {}",
                    format!("{}=...", p.name),
                    p.description
                );
            }
        }
        println!("Schedules:");
        for n in builtin_names() {
            println!("  {:<14} {}", n, builtin_description(n).unwrap_or_default());
        }
        println!("Specs: {}", specs.join(", "));
    }
    Ok(0)
}

fn default_dir(model: &str, bug: Option<&str>, seed: u64) -> PathBuf {
    let mut name = model.to_string();
    if let Some(b) = bug {
        name.push('-');
        name.push_str(b);
    }
    PathBuf::from("faultline-out").join(format!("{name}-{seed}"))
}

/// Writes repro.yaml, history.jsonl and timeline.html; returns their paths.
fn write_artifacts(dir: &Path, r: &RunReport, fail_on: &[String]) -> Result<Value, UsageError> {
    let a = faultline::artifacts::write_run_artifacts(dir, r, fail_on)?;
    Ok(json!({
        "repro": a.repro.display().to_string(),
        "history": a.history.display().to_string(),
        "timeline": a.timeline.display().to_string(),
    }))
}

fn print_human(r: &RunReport) {
    println!(
        "{}: {} (fingerprint {}, {} ops: {} ok / {} fail / {} info, {} messages, {} faults{}, {} ms simulated, {:.1} ms wall)",
        r.label(),
        r.verdict().as_str().to_uppercase(),
        r.fingerprint,
        r.stats.ops,
        r.stats.ok,
        r.stats.fail,
        r.stats.info,
        r.stats.messages,
        r.stats.faults,
        match r.stats.skipped {
            0 => String::new(),
            n => format!(" ({n} skipped)"),
        },
        r.stats.sim_ms,
        r.stats.wall_ms
    );
    for f in r.recording.faults.iter().filter(|f| f.phase == "skip") {
        println!("  skipped   {}", f.description);
    }
    for v in &r.violations {
        println!("  violation [{}] {}", v.checker, v.message);
    }
    for u in &r.undecided {
        println!("  undecided [{}] {}", u.checker, u.message);
    }
    for f in &r.findings {
        println!("  finding   [{}] {}", f.checker, f.message);
    }
}

fn run_cmd(models: &[Model], a: RunArgs) -> CliResult {
    init_trace(a.verbose);
    let model = find(models, &a.m.model)?;
    let cfg = config(model, &a.m)?;
    let schedule = Schedule::load(&a.m.schedule)?;
    let req = RunRequest {
        seed: a.seed,
        config: cfg,
        faults: Faults::Schedule(schedule),
        fail_on: a.m.fail_on.clone(),
        trace: a.verbose,
    };
    let mut report = run(model, &req)?;
    if a.check_determinism {
        let again = run(model, &req)?;
        if let Some(v) = faultline::run::compare_runs(&report, &again) {
            report.add_violation(v);
        }
    }
    finish_run(report, a.out, a.json, &a.m.fail_on, None)
}

fn finish_run(
    report: RunReport,
    out: Option<PathBuf>,
    json_out: bool,
    fail_on: &[String],
    extra: Option<(&str, bool)>,
) -> CliResult {
    let artifacts = if report.passed {
        Value::Null
    } else {
        let dir = out.unwrap_or_else(|| {
            default_dir(&report.model, report.config.bug.as_deref(), report.seed)
        });
        write_artifacts(&dir, &report, fail_on)?
    };
    if json_out {
        let mut j = report.to_json();
        j["artifacts"] = artifacts.clone();
        if let Some((recorded, diverged)) = extra {
            j["recorded_fingerprint"] = json!(recorded);
            j["diverged"] = json!(diverged);
        }
        println!("{j}");
    } else {
        print_human(&report);
        if let Some((recorded, diverged)) = extra {
            if diverged {
                println!(
                    "  diverged: the reproducer recorded fingerprint {recorded}; the code or the model changed"
                );
            } else {
                println!("  same fingerprint as recorded ({recorded})");
            }
        }
        if let Some(p) = artifacts.get("repro").and_then(Value::as_str) {
            println!(
                "  reproducer: {p}  (replay: {})",
                faultline::command::replay(Path::new(p))
            );
        }
    }
    Ok(report.verdict().exit_code())
}

fn replay_cmd(models: &[Model], a: ReplayArgs) -> CliResult {
    init_trace(a.verbose);
    let repro = Repro::load(&a.repro)?;
    let model = find(models, &repro.model)?;
    let cfg = repro.config.apply(model.config(repro.bug.as_deref()));
    if repro.version.model != model.model_version() {
        eprintln!(
            "note: the reproducer was recorded with model version {}, this binary has {}",
            repro.version.model,
            model.model_version()
        );
    }
    let req = RunRequest {
        seed: repro.seed,
        config: cfg,
        faults: Faults::Steps(repro.schedule.clone()),
        fail_on: repro.fail_on.clone(),
        trace: a.verbose,
    };
    let report = run(model, &req).map_err(|e| UsageError(format!("{}: {e}", a.repro.display())))?;
    let diverged = report.fingerprint != repro.fingerprint;
    let out = a.out.or_else(|| a.repro.parent().map(|p| p.join("replay")));
    finish_run(
        report,
        out,
        a.json,
        &repro.fail_on,
        Some((&repro.fingerprint, diverged)),
    )
}

/// `90s`, `30m`, `8h`, `2d`, or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, UsageError> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| {
        UsageError(format!(
            "--duration {s}: expected a number and a unit, like 90s, 30m or 8h"
        ))
    })?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => {
            return Err(UsageError(format!(
                "--duration {s}: unknown unit `{unit}` (use s, m, h or d)"
            )))
        }
    };
    Ok(Duration::from_secs(secs))
}

fn fuzz_cmd(models: &[Model], a: FuzzArgs) -> CliResult {
    use faultline::campaign::{default_jobs, fuzz, FuzzOptions};
    let model = find(models, &a.m.model)?;
    let cfg = config(model, &a.m)?;
    let out = a.out.clone().unwrap_or_else(|| {
        let mut n = format!("fuzz-{}", model.name());
        if let Some(b) = &cfg.bug {
            n.push('-');
            n.push_str(b);
        }
        PathBuf::from("faultline-out").join(n)
    });
    let mut o = FuzzOptions::new(cfg, out);
    o.schedule = a.m.schedule.clone();
    o.fail_on = a.m.fail_on.clone();
    o.start_seed = a.start_seed;
    o.duration = a.duration.as_deref().map(parse_duration).transpose()?;
    o.seeds = if o.duration.is_some() {
        None
    } else {
        Some(a.seeds.unwrap_or(100))
    };
    o.shard = a.shard.as_deref().map(str::parse).transpose()?;
    o.jobs = a.jobs.unwrap_or_else(default_jobs).max(1);
    o.stop_on_first = a.stop_on_first;
    o.resume = a.resume;
    o.progress = true;
    o.progress_bar = Some(crate::progress::bar);
    o.catch_interrupts = true;
    if let Some(share) = &a.check_determinism {
        o.check_determinism = share
            .parse()
            .map_err(|e| UsageError(format!("--check-determinism {e}")))?;
    }
    let report = fuzz(model, &o)?;
    if a.json {
        println!("{}", report.to_json());
    } else {
        report.print_human();
    }
    Ok(report.exit_code(a.allow_undecided))
}

fn ci_cmd(models: &[Model], a: CiArgs) -> CliResult {
    let mut o = crate::suite::CiOptions::new(&a.suite);
    o.jobs = a
        .jobs
        .unwrap_or_else(faultline::campaign::default_jobs)
        .max(1);
    if let Some(out) = a.out {
        o.out = out;
    }
    o.junit = a.junit;
    o.progress = !a.json;
    o.allow_undecided = a.allow_undecided;
    let report = crate::suite::run_suite(models, &o)?;
    if a.json {
        println!("{}", report.to_json());
    } else {
        report.print_human();
    }
    Ok(report.exit_code())
}

fn merge_cmd(a: MergeArgs) -> CliResult {
    let report = crate::merge::merge(&a.dirs, a.out.as_deref())?;
    if a.json {
        println!("{}", report.to_json());
    } else {
        report.print_human();
    }
    Ok(report.exit_code(a.allow_undecided))
}

fn check_history_cmd(a: CheckHistoryArgs) -> CliResult {
    use faultline_checkers::check_history::{run_check_history, CheckHistoryOptions};
    let mut opts = CheckHistoryOptions::new(&a.file);
    opts.spec = a
        .spec
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e: String| UsageError(format!("--spec: {e}")))?;
    opts.format = a
        .format
        .parse()
        .map_err(|e: String| UsageError(format!("--format: {e}")))?;
    opts.initial = a
        .initial
        .as_deref()
        .map(|v| serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string())))
        .map(Some)
        .unwrap_or(None);
    if a.check_budget == Some(0) {
        return Err(UsageError("--check-budget must be at least 1".into()));
    }
    opts.check_budget = Some(
        a.check_budget
            .unwrap_or(faultline::protocol::DEFAULT_CHECK_BUDGET),
    );
    opts.timeout = a
        .timeout
        .as_deref()
        .map(|t| parse_duration(t).map_err(|e| UsageError(e.0.replace("--duration", "--timeout"))))
        .transpose()?;
    opts.html = a.html.clone();
    let report = run_check_history(&opts)?;
    if a.json {
        println!("{}", report.to_json());
    } else {
        println!("{}", report.summary());
    }
    Ok(report.exit_code())
}
