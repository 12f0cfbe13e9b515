//! The service under Faultline: the glue a user writes around an unchanged service. Servers run
//! [`server::run`] with the node's disk as their log and `observe` as their telemetry; clients
//! run the service's own [`Client`]. The service talks over madsim's TCP (its `rt` module), so
//! the nemesis's partitions, crashes, pauses, loss and delay reach its connections.
use super::service::client::{CallError, Client};
use super::service::server::{self, Dedup};
use super::service::{Events, Op, Storage};
use faultline::prelude::*;
use serde_json::Value;
use std::cell::OnceCell;
use std::rc::Rc;
use std::time::Duration;

/// The port every server listens on.
pub const PORT: u16 = 7000;
/// The log file on each server's disk.
const LOG: &str = "chain.log";

/// The registered model.
pub fn model() -> Model {
    Model::new("tcp-kv", TcpKv::new)
        .describe(
            "chain-replicated key-value store over madsim TCP: tasks, reconnects with backoff, \
             length-prefixed JSON frames (examples/tcp_kv)",
        )
        .version("1")
        .bug(
            "reconnect-new-session",
            "deduplicates retried requests per connection: a client that reconnects and \
             retries gets its write applied twice",
        )
        .workloads(&["append", "register"])
        .nodes(3)
}

pub struct TcpKv {
    dedup: Dedup,
    workload: Workload,
    /// Client side: this client's connections, opened on its first operation.
    client: OnceCell<Client>,
}

impl TcpKv {
    pub fn new(cfg: &ModelConfig) -> Result<Self, String> {
        let dedup = match cfg.bug.as_deref() {
            None => Dedup::Client,
            Some("reconnect-new-session") => Dedup::Connection,
            Some(other) => return Err(format!("unknown bug `{other}`")),
        };
        Ok(TcpKv {
            dedup,
            workload: Workload::named(cfg.workload_or("append"))?,
            client: OnceCell::new(),
        })
    }
}

/// The service's log on the node's simulated disk (unsynced appends are lost in a crash).
struct DiskLog(Disk<()>);

impl Storage for DiskLog {
    fn append(&self, bytes: &[u8]) {
        self.0.append(LOG, bytes);
    }
    fn read(&self) -> Vec<u8> {
        self.0.read(LOG).unwrap_or_default()
    }
    fn rewrite(&self, bytes: Vec<u8>) {
        self.0.write(LOG, bytes);
    }
    async fn sync(&self) {
        self.0.fsync().await;
    }
}

/// The service's telemetry becomes observations (in the story, and available to triggers).
struct Observe<'a>(&'a NodeCtx<()>);

impl Events for Observe<'_> {
    fn event(&self, name: &str, detail: Value) {
        self.0.observe(name, &detail);
    }
}

/// Servers outlive any borrow: their tasks own the context.
struct Owned(Rc<NodeCtx<()>>);

impl Events for Owned {
    fn event(&self, name: &str, detail: Value) {
        self.0.observe(name, &detail);
    }
}

fn chain(ctx: &NodeCtx<()>) -> Vec<std::net::SocketAddr> {
    (0..ctx.servers()).map(|i| ctx.addr(i, PORT)).collect()
}

impl Protocol for TcpKv {
    type Msg = ();

    // Its traffic is madsim's TCP (bytes already): the harness carries no message of its own,
    // so the wire check has nothing to change and `--wire serde` runs as without it.
    fn wire_codec(&self) -> Option<faultline::protocol::WireCodec<()>> {
        Some(faultline::protocol::WireCodec::serde())
    }

    fn cap(&self) -> Cap {
        Cap::CP
    }

    async fn node(&self, ctx: NodeCtx<()>) {
        let cfg = server::Config {
            me: ctx.id(),
            chain: chain(&ctx),
            dedup: self.dedup,
        };
        let log = DiskLog(ctx.disk());
        server::run(cfg, log, Owned(Rc::new(ctx))).await;
    }

    fn workload(&self) -> Workload {
        self.workload.clone()
    }

    async fn call(&self, c: &ClientCtx<()>, id: u64, op: &Invocation) -> Outcome {
        let client = self
            .client
            .get_or_init(|| Client::new(c.id() as u64, chain(c)));
        // Inside the harness's own timeout, so the call ends as the service decides.
        let deadline = Duration::from_millis(self.workload.timeout_ms * 9 / 10);
        let key = op.key.clone().unwrap_or_default();
        let events = Observe(c);
        let result = if op.f == "read" {
            client.read(&events, &key, deadline).await
        } else {
            let op = Op {
                f: op.f.clone(),
                key,
                value: op.value.clone(),
            };
            client.write(&events, id, op, deadline).await
        };
        match result {
            Ok(v) => Outcome::Ok(v),
            Err(CallError::Rejected(e)) => Outcome::Fail(e),
            Err(CallError::Unknown(e)) => Outcome::Unknown(e),
        }
    }
}
