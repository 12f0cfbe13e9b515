//! Registering a protocol as a named model: its bug variants, defaults and version. The harness
//! never imports a model; models plug in here, exactly as a user's protocol does.
use crate::protocol::{Cap, ModelConfig, Protocol};
use crate::schedule::Step;
use crate::sim::{simulate, SimOutput};
use faultline_checkers::Finding;
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

/// A named bug variant (`--bug NAME`).
#[derive(Clone, Debug, Serialize)]
pub struct Bug {
    /// Its name (`--bug NAME`, `--set NAME=...`).
    pub name: String,
    /// What it does, in a sentence.
    pub description: String,
}

/// A model parameter (`--set NAME=VALUE`).
#[derive(Clone, Debug, Serialize)]
pub struct Param {
    /// Its name (`--bug NAME`, `--set NAME=...`).
    pub name: String,
    /// What it does, in a sentence.
    pub description: String,
}

/// What `list` shows about a model and what the verdict needs.
#[derive(Clone, Debug, Serialize)]
pub struct ModelInfo {
    /// The model's name.
    pub name: String,
    /// The model's version (recorded in reproducers).
    pub version: String,
    /// What the model is, in a sentence.
    pub description: String,
    /// The CAP choice it declares.
    pub cap: Cap,
    /// The checkers whose findings fail a run.
    pub guarantees: Vec<String>,
    /// Its bug variants.
    pub bugs: Vec<Bug>,
    /// Its `--set` parameters.
    pub params: Vec<Param>,
    /// Every checker name its runs report (the harness's own included).
    pub checkers: Vec<String>,
    #[serde(skip)]
    /// How long the workload phase is expected to last (simulated ms): where generated schedules place their steps.
    pub expected_ms: u64,
    /// Server nodes in a run of this configuration ([`Protocol::servers`]).
    #[serde(skip)]
    pub servers: usize,
    /// The roles its nodes take ([`Protocol::roles`]): generated schedules draw role-aimed
    /// steps only for these.
    pub roles: crate::protocol::Roles,
    /// How many server nodes' storage may be corrupted in one run
    /// ([`Protocol::corruption_budget`]): generated schedules draw `corrupt`/`misdirect` only
    /// when it is above 0.
    pub corruption_budget: usize,
    /// The buggify points the protocol declares ([`Protocol::buggify_points`]).
    #[serde(default)]
    pub buggify_points: Vec<String>,
    /// The name of the codec the wire check uses ([`Protocol::wire_codec`]), `None` when the
    /// protocol declares none (`--wire` is then refused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wire_codec: Option<String>,
}

/// A protocol under a name, with its bug variants and default sizes.
///
/// ```no_run
/// # use faultline::prelude::*;
/// # struct MyKv; impl MyKv { fn new(_: &ModelConfig) -> Self { MyKv } }
/// # impl Protocol for MyKv { type Msg = (); fn cap(&self) -> Cap { Cap::CP }
/// #   async fn node(&self, _: NodeCtx<()>) {}
/// #   async fn call(&self, _: &ClientCtx<()>, _: u64, _: &Invocation) -> Outcome { Outcome::Fail("".into()) } }
/// let model = Model::new("my-kv", |cfg| Ok(MyKv::new(cfg)))
///     .describe("my replicated key-value store")
///     .bug("skip-fsync", "acknowledges writes before they are durable")
///     .nodes(3);
/// ```
#[derive(Clone)]
pub struct Model {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) description: String,
    pub(crate) bugs: Vec<Bug>,
    pub(crate) params: Vec<Param>,
    pub(crate) workloads: Vec<String>,
    pub(crate) nodes: usize,
    pub(crate) clients: usize,
    pub(crate) ops: usize,
    imp: Arc<dyn DynModel>,
}

/// A simulated and judged run, before the verdict.
pub(crate) struct Judged {
    pub sim: SimOutput,
    pub findings: Vec<Finding>,
    pub info: ModelInfo,
    pub wall_ms: f64,
}

trait DynModel: Send + Sync {
    fn info(&self, m: &Model, cfg: &ModelConfig) -> Result<ModelInfo, String>;
    fn run(
        &self,
        m: &Model,
        seed: u64,
        cfg: &ModelConfig,
        steps: Vec<Step>,
        trace: bool,
    ) -> Result<Judged, String>;
}

/// The model's factory. Shared (`Arc`) so the seed thread can build a fresh protocol value for
/// every node incarnation, every client and the final reader.
struct Factory<F>(Arc<F>);

impl<F, P> Factory<F>
where
    F: Fn(&ModelConfig) -> Result<P, String> + Send + Sync + 'static,
    P: Protocol,
{
    fn info_of(m: &Model, p: &P, cfg: &ModelConfig) -> ModelInfo {
        ModelInfo {
            name: m.name.clone(),
            version: m.version.clone(),
            description: m.description.clone(),
            cap: p.cap(),
            guarantees: p.guarantees().iter().map(|s| s.to_string()).collect(),
            bugs: m.bugs.clone(),
            params: m.params.clone(),
            checkers: crate::checker::with_harness_checkers(crate::protocol::checkers_of(p))
                .iter()
                .flat_map(|c| c.reports())
                .map(str::to_string)
                .collect(),
            expected_ms: p.workload().expected_ms(cfg.ops, cfg.clients),
            servers: p.servers(cfg.nodes),
            roles: p.roles(),
            corruption_budget: p.corruption_budget(),
            buggify_points: p.buggify_points().iter().map(|s| s.to_string()).collect(),
            wire_codec: p.wire_codec().map(|c| c.name().to_string()),
        }
    }
}

impl<F, P> DynModel for Factory<F>
where
    F: Fn(&ModelConfig) -> Result<P, String> + Send + Sync + 'static,
    P: Protocol,
{
    fn info(&self, m: &Model, cfg: &ModelConfig) -> Result<ModelInfo, String> {
        let p = (self.0)(cfg)?;
        Ok(Self::info_of(m, &p, cfg))
    }

    fn run(
        &self,
        m: &Model,
        seed: u64,
        cfg: &ModelConfig,
        steps: Vec<Step>,
        trace: bool,
    ) -> Result<Judged, String> {
        let info = Self::info_of(m, &(self.0)(cfg)?, cfg);
        // The simulation runs every server node, those `--nodes` does not count included.
        let sim_cfg = ModelConfig {
            nodes: info.servers,
            ..cfg.clone()
        };
        // Protocol values are built from the user's configuration (a factory that adds nodes of
        // its own must see the same `--nodes` at every call), and only on the seed thread.
        let factory = self.0.clone();
        let user_cfg = cfg.clone();
        crate::panics::install_hook();
        let t0 = Instant::now();
        // One fresh thread per seed: madsim's determinism depends on fresh thread-locals.
        let out = std::thread::Builder::new()
            .name(format!("{}{seed}", crate::panics::SEED_THREAD_PREFIX))
            .stack_size(16 << 20)
            .spawn(move || {
                let make = move || factory(&user_cfg);
                // The harness's own value: the workload, the CAP choice and the checkers. Nodes
                // and clients never see it; each gets one of its own.
                let p = make()?;
                let mut sim = simulate(&p, Arc::new(make), seed, &sim_cfg, steps, trace);
                // Every checker counts its work against the configured budget, never time.
                sim.recording.check_budget = crate::recording::CheckBudget(sim_cfg.check_budget());
                let guarantees = p.guarantees();
                let findings: Vec<Finding> =
                    crate::checker::with_harness_checkers(crate::protocol::checkers_of(&p))
                        .iter()
                        .flat_map(|c| {
                            crate::checker::judge(c.as_ref(), &sim.recording, &guarantees)
                        })
                        .collect();
                Ok::<_, String>((sim, findings))
            })
            .map_err(|e| format!("cannot start a seed thread: {e}"))?
            .join()
            .map_err(|_| "the harness itself panicked while running the seed".to_string())??;
        Ok(Judged {
            sim: out.0,
            findings: out.1,
            info,
            wall_ms: t0.elapsed().as_secs_f64() * 1e3,
        })
    }
}

impl Model {
    /// `factory` builds the protocol for one run from its configuration (nodes, bug, `--set`).
    pub fn new<P, F>(name: &str, factory: F) -> Model
    where
        P: Protocol,
        F: Fn(&ModelConfig) -> Result<P, String> + Send + Sync + 'static,
    {
        Model {
            name: name.to_string(),
            version: "1".into(),
            description: String::new(),
            bugs: Vec::new(),
            params: Vec::new(),
            workloads: Vec::new(),
            nodes: 5,
            clients: 3,
            ops: 200,
            imp: Arc::new(Factory(Arc::new(factory))),
        }
    }

    /// What the model is, in a sentence (`faultline list`).
    pub fn describe(mut self, text: &str) -> Self {
        self.description = text.to_string();
        self
    }

    /// The model's own version string, recorded in reproducers so `replay` can say why one
    /// diverges.
    pub fn version(mut self, v: &str) -> Self {
        self.version = v.to_string();
        self
    }

    /// The version set with [`Model::version`]: what reproducers record as `version.model`,
    /// compared on replay.
    pub fn model_version(&self) -> &str {
        &self.version
    }

    /// Declares a bug variant `--bug NAME`: the factory reads it from `cfg.bug` (see [`ModelConfig::bug_is`](crate::ModelConfig::bug_is)).
    pub fn bug(mut self, name: &str, description: &str) -> Self {
        self.bugs.push(Bug {
            name: name.to_string(),
            description: description.to_string(),
        });
        self
    }

    /// Declares a `--set NAME=VALUE` parameter; undeclared names are rejected.
    pub fn param(mut self, name: &str, description: &str) -> Self {
        self.params.push(Param {
            name: name.to_string(),
            description: description.to_string(),
        });
        self
    }

    /// Declares the workloads `--workload` may select (`register`, `append`), the model's default
    /// first (`list` says so); a model that declares none runs only its own.
    pub fn workloads(mut self, names: &[&str]) -> Self {
        self.workloads = names.iter().map(|s| s.to_string()).collect();
        self
    }

    /// The workloads `--workload` may select.
    pub fn supported_workloads(&self) -> &[String] {
        &self.workloads
    }

    /// The declared `--set` parameters.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// The default number of server nodes (`--nodes` overrides it).
    pub fn nodes(mut self, n: usize) -> Self {
        self.nodes = n;
        self
    }

    /// The default number of clients (`--clients` overrides it).
    pub fn clients(mut self, n: usize) -> Self {
        self.clients = n;
        self
    }

    /// The default number of client operations (`--ops` overrides it).
    pub fn ops(mut self, n: usize) -> Self {
        self.ops = n;
        self
    }

    /// The model's name, as commands and reproducers name it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The declared bug variants.
    pub fn bugs(&self) -> &[Bug] {
        &self.bugs
    }

    /// The default configuration, with `bug` set.
    pub fn config(&self, bug: Option<&str>) -> ModelConfig {
        ModelConfig {
            nodes: self.nodes,
            clients: self.clients,
            ops: self.ops,
            bug: bug.map(str::to_string),
            set: Default::default(),
            workload: None,
            liveness_ms: None,
            check_budget: None,
            buggify: false,
            buggify_only: None,
            wire: None,
            noise: 0,
            skip_ops: Default::default(),
        }
    }

    /// What `faultline list` shows of the model under `cfg`: builds one protocol value to ask it (`Err`: the factory refused `cfg`).
    pub fn info(&self, cfg: &ModelConfig) -> Result<ModelInfo, String> {
        self.imp.info(self, cfg)
    }

    pub(crate) fn run_steps(
        &self,
        seed: u64,
        cfg: &ModelConfig,
        steps: Vec<Step>,
        trace: bool,
    ) -> Result<Judged, String> {
        self.imp.run(self, seed, cfg, steps, trace)
    }
}
