//! One server of the chain: recovery from its log, the accept loop, one task per connection, and
//! the replication task towards the next server.
use super::codec::{read_frame, write_frame};
use super::rt::{sleep, spawn_local, timeout, TcpListener, TcpStream};
use super::{apply, Entry, Events, Frame, Op, Storage};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::Notify;

/// How long the head waits for a write to commit before answering `Unavailable`.
const COMMIT_WAIT: Duration = Duration::from_millis(800);
/// How long a server holds a `Status` back waiting for its own commit point to catch up.
const LONG_POLL: Duration = Duration::from_millis(100);
/// A replication round trip slower than this drops the connection (a stalled TCP stream).
const REPLY_TIMEOUT: Duration = Duration::from_millis(600);
/// An idle replication link exchanges a heartbeat this often.
const HEARTBEAT: Duration = Duration::from_millis(100);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
const MIN_BACKOFF: Duration = Duration::from_millis(20);
const MAX_BACKOFF: Duration = Duration::from_millis(300);
/// Entries per `Push`.
const BATCH: usize = 64;

/// How the head recognises a retried request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dedup {
    /// By client id, in a table rebuilt from the log: a retry is recognised on any connection,
    /// even after the head restarted.
    Client,
    /// By connection (the mistake: a session is taken to be a connection, so a client that
    /// reconnects and retries gets its write applied twice).
    Connection,
}

/// Where a server sits and how it behaves.
#[derive(Clone, Debug)]
pub struct Config {
    /// This server's position in the chain.
    pub me: usize,
    /// Every server's address, head first.
    pub chain: Vec<SocketAddr>,
    pub dedup: Dedup,
}

#[derive(Default)]
struct State {
    log: Vec<Entry>,
    /// Entries `[0, durable)` are synced.
    durable: u64,
    /// Entries `[0, committed)` are durable at the tail.
    committed: u64,
    data: BTreeMap<String, Value>,
    /// The result of each applied (durable) entry.
    results: Vec<Result<Value, String>>,
    /// client -> (last request, its log index + 1).
    sessions: BTreeMap<u64, (u64, u64)>,
}

struct Node<S, E> {
    cfg: Config,
    st: RefCell<State>,
    /// Signalled on every change of the log, durability or commit point. (Not `tokio::sync::watch`:
    /// it spreads its waiters over notifiers chosen at random, which a simulation cannot replay.)
    changed: Notify,
    storage: S,
    events: E,
}

/// Runs server `cfg.me` until its process dies.
pub async fn run<S: Storage, E: Events + 'static>(cfg: Config, storage: S, events: E) {
    let node = Rc::new(Node {
        cfg,
        st: RefCell::new(State::default()),
        changed: Notify::new(),
        storage,
        events,
    });
    node.recover();
    if !node.is_tail() {
        spawn_local(replicate(node.clone()));
    }
    let addr = node.cfg.chain[node.cfg.me];
    let listener = loop {
        match TcpListener::bind(addr).await {
            Ok(l) => break l,
            Err(e) => {
                node.events
                    .event("bind-failed", json!({ "error": e.to_string() }));
                sleep(MAX_BACKOFF).await;
            }
        }
    };
    if node.is_head() {
        node.events
            .event("leader-elected", json!({ "role": "head" }));
    }
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                spawn_local(serve(node.clone(), stream, peer));
            }
            Err(e) => {
                node.events
                    .event("accept-failed", json!({ "error": e.to_string() }));
                sleep(MIN_BACKOFF).await;
            }
        }
    }
}

impl<S: Storage, E: Events> Node<S, E> {
    fn is_head(&self) -> bool {
        self.cfg.me == 0
    }

    fn is_tail(&self) -> bool {
        self.cfg.me + 1 == self.cfg.chain.len()
    }

    fn bump(&self) {
        self.changed.notify_waiters();
    }

    /// Reads the log back; a torn last record (a crash during a write) is dropped.
    fn recover(&self) {
        let bytes = self.storage.read();
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        let mut valid = 0;
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            if !line.ends_with(b"\n") {
                break;
            }
            let Ok(e) = serde_json::from_slice::<Entry>(line) else {
                break;
            };
            valid += line.len();
            st.log.push(e);
        }
        if valid < bytes.len() {
            self.storage.rewrite(bytes[..valid].to_vec());
        }
        let len = st.log.len() as u64;
        for (i, e) in st.log.iter().enumerate() {
            st.sessions.insert(e.client, (e.req, i as u64 + 1));
        }
        Self::apply_upto(st, len);
        if self.is_tail() {
            st.committed = len;
        }
        drop(guard);
        self.events.event(
            "recovered",
            json!({ "entries": len, "torn": valid < bytes.len() }),
        );
    }

    fn apply_upto(st: &mut State, upto: u64) {
        while (st.results.len() as u64) < upto {
            let i = st.results.len();
            let r = apply(&mut st.data, &st.log[i].op);
            st.results.push(r);
        }
        st.durable = st.durable.max(upto);
    }

    /// Appends entries to the log (volatile until [`Node::make_durable`]).
    fn append_local(&self, st: &mut State, entries: &[Entry]) {
        let mut bytes = Vec::new();
        for e in entries {
            st.log.push(e.clone());
            let idx = st.log.len() as u64;
            st.sessions.insert(e.client, (e.req, idx));
            serde_json::to_writer(&mut bytes, e).expect("entries serialize");
            bytes.push(b'\n');
        }
        self.storage.append(&bytes);
    }

    /// Syncs the log so that at least `upto` entries are durable, then applies them.
    async fn make_durable(&self, upto: u64) {
        if self.st.borrow().durable >= upto {
            return;
        }
        let target = self.st.borrow().log.len() as u64;
        self.storage.sync().await;
        let mut st = self.st.borrow_mut();
        Self::apply_upto(&mut st, target);
        if self.is_tail() {
            st.committed = st.durable;
        }
        drop(st);
        self.bump();
    }

    /// Waits until `cond` holds or `limit` passes; whether it held.
    async fn wait_for(&self, limit: Duration, cond: impl Fn(&State) -> bool) -> bool {
        let wait = async {
            loop {
                // Registered before the check, so a change in between still wakes it.
                let notified = self.changed.notified();
                if cond(&self.st.borrow()) {
                    return;
                }
                notified.await;
            }
        };
        timeout(limit, wait).await.is_ok()
    }

    /// A client's write at the head: logged once per request, answered once committed.
    async fn write(
        &self,
        conn_sessions: &mut BTreeMap<u64, (u64, u64)>,
        client: u64,
        req: u64,
        op: Op,
    ) -> Frame {
        if !self.is_head() {
            return Frame::Rejected(format!("server {} is not the head", self.cfg.me));
        }
        let index = {
            let mut st = self.st.borrow_mut();
            let seen = match self.cfg.dedup {
                Dedup::Client => st.sessions.get(&client).copied(),
                Dedup::Connection => conn_sessions.get(&client).copied(),
            };
            match seen {
                Some((r, idx)) if r == req => idx,
                Some((r, _)) if r > req => {
                    return Frame::Rejected(format!("request {req} superseded by {r}"))
                }
                _ => {
                    let entry = Entry { client, req, op };
                    self.append_local(&mut st, std::slice::from_ref(&entry));
                    let idx = st.log.len() as u64;
                    conn_sessions.insert(client, (req, idx));
                    idx
                }
            }
        };
        self.bump();
        self.make_durable(index).await;
        if !self.wait_for(COMMIT_WAIT, |st| st.committed >= index).await {
            return Frame::Unavailable("not committed yet".into());
        }
        Frame::Done(self.st.borrow().results[index as usize - 1].clone())
    }

    /// A push from the previous server: keep what is new, make it durable, report.
    async fn receive(&self, start: u64, entries: Vec<Entry>) -> Frame {
        let stored = {
            let mut st = self.st.borrow_mut();
            let len = st.log.len() as u64;
            if start <= len {
                let skip = (len - start) as usize;
                if skip < entries.len() {
                    self.append_local(&mut st, &entries[skip..]);
                }
            }
            st.log.len() as u64
        };
        let before = self.st.borrow().durable;
        self.make_durable(stored).await;
        let durable = self.st.borrow().durable;
        if durable > before {
            self.events.event(
                "stored",
                json!({ "from": self.cfg.me - 1, "upto": durable }),
            );
        }
        if !self.is_tail() {
            // Hold the answer a little so the commit point travels back up without polling.
            self.wait_for(LONG_POLL, |st| st.committed >= st.durable)
                .await;
        }
        let st = self.st.borrow();
        Frame::Status {
            have: st.durable,
            committed: st.committed,
        }
    }
}

/// One accepted connection: a client's or the previous server's, request by request.
async fn serve<S: Storage, E: Events>(
    node: Rc<Node<S, E>>,
    mut stream: TcpStream,
    peer: SocketAddr,
) {
    // Requests seen on this connection (what `Dedup::Connection` trusts).
    let mut conn_sessions = BTreeMap::new();
    loop {
        let frame: Frame = match read_frame(&mut stream).await {
            Ok(f) => f,
            Err(e) => {
                node.events.event(
                    "connection-closed",
                    json!({ "peer": peer.to_string(), "error": e.to_string() }),
                );
                return;
            }
        };
        let reply = match frame {
            Frame::Write { client, req, op } => {
                node.write(&mut conn_sessions, client, req, op).await
            }
            Frame::Read { key } if node.is_tail() => {
                let st = node.st.borrow();
                Frame::Done(Ok(st.data.get(&key).cloned().unwrap_or(Value::Null)))
            }
            Frame::Read { .. } => {
                Frame::Rejected(format!("server {} is not the tail", node.cfg.me))
            }
            Frame::Push { start, entries } => node.receive(start, entries).await,
            other => Frame::Rejected(format!("unexpected {other:?}")),
        };
        if write_frame(&mut stream, &reply).await.is_err() {
            return;
        }
    }
}

/// Keeps the next server's log up to date: connect, push what it lacks, learn the commit point;
/// on any error or stall, drop the connection and reconnect with backoff.
async fn replicate<S: Storage, E: Events>(node: Rc<Node<S, E>>) {
    let next = node.cfg.me + 1;
    let addr = node.cfg.chain[next];
    let mut backoff = MIN_BACKOFF;
    loop {
        let stream = match timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            _ => {
                sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        node.events.event("connected", json!({ "to": next }));
        let why = push_loop(&node, stream, &mut backoff).await;
        node.events
            .event("replication-reset", json!({ "to": next, "error": why }));
        sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn push_loop<S: Storage, E: Events>(
    node: &Node<S, E>,
    mut stream: TcpStream,
    backoff: &mut Duration,
) -> String {
    // How much of the log the next server holds; unknown until it says.
    let mut have: Option<u64> = None;
    loop {
        let notified = node.changed.notified();
        let (start, entries) = {
            let st = node.st.borrow();
            let from = have.unwrap_or(st.durable).min(st.durable);
            let upto = st.durable.min(from + BATCH as u64);
            (from, st.log[from as usize..upto as usize].to_vec())
        };
        if let Err(e) = write_frame(&mut stream, &Frame::Push { start, entries }).await {
            return e.to_string();
        }
        let reply = match timeout(REPLY_TIMEOUT, read_frame::<_, Frame>(&mut stream)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return e.to_string(),
            Err(_) => return "no answer in time".into(),
        };
        let Frame::Status { have: h, committed } = reply else {
            return format!("unexpected {reply:?}");
        };
        *backoff = MIN_BACKOFF;
        have = Some(h);
        let (behind, advanced) = {
            let mut st = node.st.borrow_mut();
            let advanced = committed > st.committed;
            st.committed = st.committed.max(committed.min(st.durable));
            (h < st.durable, advanced)
        };
        if advanced {
            node.bump();
        }
        if !behind && committed >= h {
            // Up to date: wait for something new to push, or send a heartbeat.
            let _ = timeout(HEARTBEAT, notified).await;
        }
    }
}
