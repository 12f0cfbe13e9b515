//! The client library: one connection per server, kept between requests; a request that times
//! out or whose connection breaks is retried (same request number) on a fresh connection, with
//! exponential backoff, until the caller's deadline.
use super::codec::{read_frame, write_frame};
use super::rt::{sleep, timeout, Instant, TcpStream};
use super::{Events, Frame, Op};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_millis(200);
/// One attempt (send, then wait for the answer) before the connection is dropped.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(400);
const MIN_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_millis(200);

/// Why a call did not succeed.
#[derive(Clone, Debug, PartialEq)]
pub enum CallError {
    /// It certainly did not take effect.
    Rejected(String),
    /// It may have taken effect, or may yet.
    Unknown(String),
}

/// A client of the chain. Requests are sequential: one outstanding request per client.
pub struct Client {
    id: u64,
    chain: Vec<SocketAddr>,
    /// Open connections by server, reused while they work.
    pool: RefCell<BTreeMap<usize, TcpStream>>,
}

impl Client {
    /// A client with a unique `id` (it names the client's requests to the head).
    pub fn new(id: u64, chain: Vec<SocketAddr>) -> Self {
        Client {
            id,
            chain,
            pool: RefCell::new(BTreeMap::new()),
        }
    }

    /// Applies `op` once; `req` numbers this client's requests in increasing order.
    pub async fn write(
        &self,
        events: &impl Events,
        req: u64,
        op: Op,
        deadline: Duration,
    ) -> Result<Value, CallError> {
        let frame = Frame::Write {
            client: self.id,
            req,
            op,
        };
        self.call(events, 0, &frame, deadline, true).await
    }

    /// Reads `key` at the tail.
    pub async fn read(
        &self,
        events: &impl Events,
        key: &str,
        deadline: Duration,
    ) -> Result<Value, CallError> {
        let tail = self.chain.len() - 1;
        let frame = Frame::Read {
            key: key.to_string(),
        };
        self.call(events, tail, &frame, deadline, false).await
    }

    async fn call(
        &self,
        events: &impl Events,
        server: usize,
        frame: &Frame,
        deadline: Duration,
        effects: bool,
    ) -> Result<Value, CallError> {
        let deadline = Instant::now() + deadline;
        let mut backoff = MIN_BACKOFF;
        // Whether some attempt may have reached the server (then failure is not certain).
        let mut sent = false;
        let mut last = String::from("no attempt");
        while Instant::now() < deadline {
            match self.attempt(events, server, frame, &mut sent).await {
                Ok(Frame::Done(Ok(v))) => return Ok(v),
                Ok(Frame::Done(Err(e)) | Frame::Rejected(e)) => return Err(CallError::Rejected(e)),
                Ok(Frame::Unavailable(e)) => last = e,
                Ok(other) => last = format!("unexpected {other:?}"),
                Err(e) => last = e,
            }
            let left = deadline.saturating_duration_since(Instant::now());
            sleep(backoff.min(left)).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        Err(if sent && effects {
            CallError::Unknown(last)
        } else {
            CallError::Rejected(last)
        })
    }

    /// One round trip on a pooled or fresh connection. A connection that failed is dropped.
    async fn attempt(
        &self,
        events: &impl Events,
        server: usize,
        frame: &Frame,
        sent: &mut bool,
    ) -> Result<Frame, String> {
        let pooled = self.pool.borrow_mut().remove(&server);
        let mut conn = match pooled {
            Some(c) => c,
            None => match timeout(CONNECT_TIMEOUT, TcpStream::connect(self.chain[server])).await {
                Ok(Ok(c)) => {
                    events.event("client-connected", json!({ "server": server }));
                    c
                }
                Ok(Err(e)) => return Err(format!("connect: {e}")),
                Err(_) => return Err("connect: timed out".into()),
            },
        };
        *sent = true;
        let exchange = async {
            write_frame(&mut conn, frame).await?;
            read_frame::<_, Frame>(&mut conn).await
        };
        let result = match timeout(ATTEMPT_TIMEOUT, exchange).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".into()),
        };
        match result {
            Ok(reply) => {
                self.pool.borrow_mut().insert(server, conn);
                Ok(reply)
            }
            Err(e) => {
                events.event("client-reconnect", json!({ "server": server, "error": e }));
                Err(e)
            }
        }
    }
}
