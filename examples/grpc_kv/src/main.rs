//! A durable key-value store served over gRPC (tonic), under Faultline through madsim's tonic
//! shim (`madsim-tonic`): the same code is real tonic without `--cfg madsim`. One server; its
//! gRPC handlers hand each operation to a task that owns the log (write, fsync, apply, answer),
//! so a crash loses nothing acknowledged. Crashes, pauses, loss and delay reach its gRPC traffic
//! (madsim's transport under tonic is the network the nemesis drives).
//!
//! ```sh
//! cd examples/grpc_kv && cargo run --release -- fuzz grpc-kv --seeds 200
//! ```
use faultline::prelude::*;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::BTreeMap;
use tokio::sync::{mpsc, oneshot};
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status};

pub mod kv {
    tonic::include_proto!("kv");
}
use kv::kv_client::KvClient;
use kv::kv_server::{Kv, KvServer};
use kv::{OpReply, OpRequest};

const PORT: u16 = 50051;
const LOG: &str = "ops.log";

/// What the log task is asked to do, and where to answer.
type Cmd = (OpRequest, oneshot::Sender<OpReply>);

/// The gRPC service: handlers are `Send`, so they only pass operations to the log task.
struct Service {
    tx: mpsc::UnboundedSender<Cmd>,
}

#[tonic::async_trait]
impl Kv for Service {
    async fn apply(&self, req: Request<OpRequest>) -> Result<Response<OpReply>, Status> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send((req.into_inner(), tx))
            .map_err(|_| Status::unavailable("shutting down"))?;
        let reply = rx.await.map_err(|_| Status::unavailable("shutting down"))?;
        Ok(Response::new(reply))
    }
}

fn apply(data: &mut BTreeMap<String, Value>, op: &OpRequest) -> Result<Value, String> {
    let value: Value = serde_json::from_str(&op.value_json).unwrap_or(Value::Null);
    faultline::workload::apply(data, &op.f, &op.key, &value)
}

struct GrpcKv {
    client: RefCell<Option<KvClient<Channel>>>,
}

impl Protocol for GrpcKv {
    type Msg = ();

    fn cap(&self) -> Cap {
        Cap::CP
    }

    async fn node(&self, ctx: NodeCtx<()>) {
        let disk = ctx.disk();
        // Recovery: replay the durable log (a torn last line is dropped).
        let mut data = BTreeMap::new();
        let bytes = disk.read(LOG).unwrap_or_default();
        let mut valid = 0;
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            match serde_json::from_slice::<(String, String, String)>(line) {
                Ok((f, key, value_json)) if line.ends_with(b"\n") => {
                    let _ = apply(&mut data, &OpRequest { f, key, value_json });
                    valid += line.len();
                }
                _ => break,
            }
        }
        disk.write(LOG, bytes[..valid].to_vec());
        let (tx, mut rx) = mpsc::unbounded_channel::<Cmd>();
        madsim::task::spawn_local(async move {
            while let Some((op, reply)) = rx.recv().await {
                let result = apply(&mut data, &op);
                if op.f != "read" && result.is_ok() {
                    let mut line = serde_json::to_vec(&(&op.f, &op.key, &op.value_json)).unwrap();
                    line.push(b'\n');
                    disk.append(LOG, &line);
                    disk.fsync().await;
                }
                let _ = reply.send(match result {
                    Ok(v) => OpReply {
                        ok: true,
                        value_json: v.to_string(),
                        error: String::new(),
                    },
                    Err(e) => OpReply {
                        ok: false,
                        value_json: String::new(),
                        error: e,
                    },
                });
            }
        });
        let service = KvServer::new(Service { tx });
        let _ = Server::builder()
            .add_service(service)
            .serve(ctx.addr(0, PORT))
            .await;
    }

    async fn call(&self, c: &ClientCtx<()>, _id: u64, op: &Invocation) -> Outcome {
        let taken = self.client.borrow_mut().take();
        let mut client = match taken {
            Some(client) => client,
            None => match KvClient::connect(format!("http://{}", c.addr(0, PORT))).await {
                Ok(client) => client,
                Err(e) => return Outcome::Fail(format!("connect: {e}")),
            },
        };
        let req = OpRequest {
            f: op.f.clone(),
            key: op.key.clone().unwrap_or_default(),
            value_json: op.value.to_string(),
        };
        match client.apply(req).await {
            Ok(reply) => {
                *self.client.borrow_mut() = Some(client);
                let r = reply.into_inner();
                if r.ok {
                    Outcome::Ok(serde_json::from_str(&r.value_json).unwrap_or(Value::Null))
                } else {
                    Outcome::Fail(r.error)
                }
            }
            Err(status) if op.f == "read" => Outcome::Fail(status.to_string()),
            Err(status) => Outcome::Unknown(status.to_string()),
        }
    }
}

fn main() {
    let model = Model::new("grpc-kv", |_| {
        Ok(GrpcKv {
            client: RefCell::new(None),
        })
    })
    .describe("a durable key-value store served over gRPC (madsim-tonic)")
    .nodes(1);
    std::process::exit(faultline_cli::main(vec![model]));
}
