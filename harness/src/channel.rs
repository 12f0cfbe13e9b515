//! Node-local channels ([`NodeCtx::channel`](crate::NodeCtx::channel)): how a node's tasks pass
//! values to each other. Unbounded, FIFO, single-threaded like everything in a simulation, so
//! deterministic; the [`Sender`] is cloneable, the [`Receiver`] is one task's.
//!
//! Both ends check that they are used from their node's own tasks: a channel between two nodes
//! would be a network the nemesis cannot partition, delay or crash.
use madsim::task::NodeId;
use madsim::time::{Instant, Sleep};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

struct Shared<T> {
    queue: VecDeque<T>,
    /// The receiving task, while it waits.
    waker: Option<Waker>,
    /// Live senders; at 0 a waiting receiver learns the channel is closed.
    senders: usize,
    receiver: bool,
    /// madsim's node the channel belongs to, and the node's name for messages.
    node: NodeId,
    name: Rc<str>,
    /// When a timeout of `d` from now ends, in true time: the node's clock may drift.
    timeout_at: Rc<dyn Fn(Duration) -> Instant>,
}

impl<T> Shared<T> {
    #[track_caller]
    fn check_here(&self, what: &str) {
        if madsim::plugin::node() != self.node {
            panic!(
                "a channel of node {} was used to {what} from another node's task: channels \
                 connect the tasks of one node (between nodes, send messages)",
                self.name
            );
        }
    }
}

/// Makes a channel belonging to madsim node `node` (named `name` in messages); `timeout_at`
/// turns a timeout on the node's clock into the true instant it ends.
pub(crate) fn new<T>(
    node: NodeId,
    name: String,
    timeout_at: Rc<dyn Fn(Duration) -> Instant>,
) -> (Sender<T>, Receiver<T>) {
    let shared = Rc::new(RefCell::new(Shared {
        queue: VecDeque::new(),
        waker: None,
        senders: 1,
        receiver: true,
        node,
        name: name.into(),
        timeout_at,
    }));
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

/// The sending end of a node-local channel ([`NodeCtx::channel`](crate::NodeCtx::channel)).
/// Clone it for every task that sends.
pub struct Sender<T> {
    shared: Rc<RefCell<Shared<T>>>,
}

/// The receiving end of a node-local channel ([`NodeCtx::channel`](crate::NodeCtx::channel)).
pub struct Receiver<T> {
    shared: Rc<RefCell<Shared<T>>>,
}

/// A value sent after the [`Receiver`] was dropped; the value comes back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the channel's receiver is gone")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// Why [`Receiver::recv_timeout`] returned without a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvTimeoutError {
    /// The timeout passed first.
    Timeout,
    /// Every sender is gone and the channel is empty.
    Disconnected,
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecvTimeoutError::Timeout => "timed out waiting on the channel",
            RecvTimeoutError::Disconnected => "every sender of the channel is gone",
        })
    }
}

impl std::error::Error for RecvTimeoutError {}

impl<T> Sender<T> {
    /// Queues `value` for the receiver (never blocks); `Err` gives it back when the receiver
    /// is gone.
    #[track_caller]
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        let waker = {
            let mut sh = self.shared.borrow_mut();
            sh.check_here("send");
            if !sh.receiver {
                return Err(SendError(value));
            }
            sh.queue.push_back(value);
            sh.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.borrow_mut().senders += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut sh = self.shared.borrow_mut();
            sh.senders -= 1;
            if sh.senders > 0 {
                return;
            }
            sh.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sh = self.shared.borrow();
        write!(f, "Sender(node {}, {} queued)", sh.name, sh.queue.len())
    }
}

impl<T> Receiver<T> {
    /// Waits for the next value; `None` once every sender is gone and the channel is empty.
    pub async fn recv(&mut self) -> Option<T> {
        RecvFut {
            rx: self,
            deadline: None,
            sleep: None,
        }
        .await
        .ok()
    }

    /// Waits for the next value at most `timeout` on the node's clock (which may drift).
    pub async fn recv_timeout(&mut self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        let deadline = (self.shared.borrow().timeout_at)(timeout);
        RecvFut {
            rx: self,
            deadline: Some(deadline),
            sleep: None,
        }
        .await
    }

    /// The next value if one is queued, without waiting.
    #[track_caller]
    pub fn try_recv(&mut self) -> Option<T> {
        let mut sh = self.shared.borrow_mut();
        sh.check_here("receive");
        sh.queue.pop_front()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let queued = {
            let mut sh = self.shared.borrow_mut();
            sh.receiver = false;
            sh.waker = None;
            std::mem::take(&mut sh.queue)
        };
        // Dropped outside the borrow: a queued value may own a sender of this very channel.
        drop(queued);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sh = self.shared.borrow();
        write!(f, "Receiver(node {}, {} queued)", sh.name, sh.queue.len())
    }
}

/// One wait on a channel. Its timer is polled once only: madsim adds a timer on every poll of
/// a pending `Sleep`, so re-polling it at each wake-up (each send) would pile up timers.
struct RecvFut<'a, T> {
    rx: &'a mut Receiver<T>,
    deadline: Option<Instant>,
    /// Registered with madsim once, at the first wait.
    sleep: Option<Sleep>,
}

impl<T> Future for RecvFut<'_, T> {
    type Output = Result<T, RecvTimeoutError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        {
            let mut sh = self.rx.shared.borrow_mut();
            sh.check_here("receive");
            if let Some(v) = sh.queue.pop_front() {
                return Poll::Ready(Ok(v));
            }
            if sh.senders == 0 {
                return Poll::Ready(Err(RecvTimeoutError::Disconnected));
            }
            if !sh.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                sh.waker = Some(cx.waker().clone());
            }
        }
        let Some(deadline) = self.deadline else {
            return Poll::Pending;
        };
        match &mut self.sleep {
            Some(s) if s.is_elapsed() => Poll::Ready(Err(RecvTimeoutError::Timeout)),
            Some(_) => Poll::Pending,
            None => {
                let mut s = madsim::time::sleep_until(deadline);
                let fired = Pin::new(&mut s).poll(cx).is_ready();
                self.sleep = Some(s);
                if fired {
                    Poll::Ready(Err(RecvTimeoutError::Timeout))
                } else {
                    Poll::Pending
                }
            }
        }
    }
}
