//! Receiving: the future behind every `recv` (a node's main mailbox or a subscription's), and
//! [`Mailbox`], a registered handler's own queue (`NodeCtx::subscribe`).
//!
//! Routing happens when a message is sent (`World::send`): to the first live subscription of the
//! destination whose filter accepts it, else to the main mailbox. Each queue has at most one
//! waiting receive; a second one waiting at once is a protocol bug (one of them would starve
//! silently), so it panics naming the node.
use super::{Inner, Message, NodeCtx};
use crate::world::{tag, Mailbox as NodeMail, Slot};
use madsim::time::{Instant, Sleep};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Which queue of a node a receive reads: the main mailbox ([`MAIN`]) or a subscription's id.
pub(crate) type SubId = u64;

/// The node's main mailbox (subscription ids start at 1).
pub(crate) const MAIN: SubId = 0;

/// A registered handler's own mailbox, from [`NodeCtx::subscribe`]: it receives the messages
/// its filter accepts (routed when they are sent), so the task holding it never steals the main
/// loop's messages and the main loop never sees its replies.
///
/// Dropping it ends the subscription: messages it had not yet received (due or still in flight)
/// go to the node's main mailbox with their delivery times, so nothing is silently lost. A crash
/// ends every subscription of the node.
///
/// ```no_run
/// # use faultline::NodeCtx;
/// # use std::time::Duration;
/// # #[derive(Clone, Debug)] enum Msg { Ping(u64), Pong(u64) }
/// async fn ping(ctx: NodeCtx<Msg>, to: usize, n: u64) -> bool {
///     let pongs = ctx.subscribe(move |from, m| from == to && matches!(m, Msg::Pong(k) if *k == n));
///     ctx.send(to, Msg::Ping(n));
///     pongs.recv_timeout(Duration::from_millis(100)).await.is_some()
/// }
/// ```
pub struct Mailbox<M: 'static> {
    ctx: NodeCtx<M>,
    key: SubId,
}

impl<M: Message> Mailbox<M> {
    pub(crate) fn new(ctx: NodeCtx<M>, key: SubId) -> Self {
        Mailbox { ctx, key }
    }

    /// Waits for this mailbox's next message. One task at a time may wait on it.
    pub async fn recv(&self) -> (usize, M) {
        loop {
            if let Some(m) = Recv::new(&self.ctx.inner, self.key, None).await {
                return m;
            }
        }
    }

    /// Waits for this mailbox's next message, or `None` once `timeout` has passed.
    pub async fn recv_timeout(&self, timeout: Duration) -> Option<(usize, M)> {
        let deadline = self.ctx.instant() + timeout;
        self.recv_until(deadline).await
    }

    /// Waits for this mailbox's next message, or `None` at `deadline` (simulated time).
    pub async fn recv_until(&self, deadline: Instant) -> Option<(usize, M)> {
        let deadline = self.ctx.inner.deadline_ns(deadline);
        Recv::new(&self.ctx.inner, self.key, Some(deadline)).await
    }
}

impl<M: 'static> Drop for Mailbox<M> {
    fn drop(&mut self) {
        let inner = &self.ctx.inner;
        inner.world.unsubscribe(inner.id, self.key, inner.epoch);
    }
}

impl<M: 'static> std::fmt::Debug for Mailbox<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox")
            .field("node", &self.ctx.inner.id)
            .field("subscription", &self.key)
            .finish()
    }
}

/// The queue `key` names in `mb`, split from `next_id` so a receive can take a token while it
/// holds the queue. `None` when a crash has emptied the mailbox since `epoch` (the receiving
/// context's): the receiver is code of a crashed incarnation.
#[inline]
fn slot<M>(mb: &mut NodeMail<M>, key: SubId, epoch: u64) -> Option<(&mut Slot<M>, &mut u64)> {
    let NodeMail {
        main,
        subs,
        epoch: now,
        next_id,
    } = mb;
    if epoch != *now {
        return None;
    }
    if key == MAIN {
        return Some((main, next_id));
    }
    let i = subs.binary_search_by_key(&key, |s| s.id).ok()?;
    Some((&mut subs[i].slot, next_id))
}

/// Receives the earliest message whose delivery time has come, or times out at the deadline.
/// One future per wait, no task per message: each queue is a heap ordered by delivery time. The
/// receiver keeps one madsim timer, for the earlier of its next message and its deadline, and
/// registers it once per target: madsim adds a timer on every poll of a pending `Sleep`, and
/// never removes one, so re-polling would pile up timers that each wake the task again. A sender
/// wakes the receiver only when its message is due before that timer. Each receive (and so each
/// task) has its own timer; the queue remembers which receive waits on it (`token`), so a second
/// one waiting at once is caught.
pub(crate) struct Recv<'a, M: 'static> {
    inner: &'a Inner<M>,
    key: SubId,
    /// When to give up (ns since the start).
    deadline: Option<u64>,
    sleep: Option<Sleep>,
    /// The target (ns since the start) this future's timer is registered for.
    armed: Option<u64>,
    /// This receive's token while it waits on its queue, 0 before it first waits and once done.
    token: u64,
}

impl<'a, M: 'static> Recv<'a, M> {
    pub(crate) fn new(inner: &'a Inner<M>, key: SubId, deadline: Option<u64>) -> Self {
        Recv {
            inner,
            key,
            deadline,
            sleep: None,
            armed: None,
            token: 0,
        }
    }
}

#[cold]
#[inline(never)]
fn two_waiters(node: &str, key: SubId) -> ! {
    let which = if key == MAIN {
        "its main mailbox (ctx.recv)".to_string()
    } else {
        format!("the same subscription's Mailbox (#{key})")
    };
    panic!(
        "node {node}: two receives wait on {which} at once; each message would reach only one \
         of them. Give each task its own queue: ctx.subscribe(filter) for the replies a task \
         waits for, or ctx.channel() to pass messages between tasks"
    )
}

impl<M: Message> Future for Recv<'_, M> {
    type Output = Option<(usize, M)>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.inner;
        let me = inner.id;
        let key = self.key;
        loop {
            let (target, start) = {
                let mut core = inner.world.core.borrow_mut();
                let now = core.now_ns();
                let mut mail = inner.world.mail.borrow_mut();
                let Some((mb, next_id)) = slot(&mut mail[me], key, inner.epoch) else {
                    core.check_alive(me, inner.incarnation, "waited for a message");
                    unreachable!("a live incarnation's subscription is registered until dropped")
                };
                while mb.queue.peek().is_some_and(|e| e.at_ns <= now) {
                    let env = mb.queue.pop().expect("peeked");
                    if core.link_cut(env.from, me) && env.seq & crate::world::RESET_SEQ == 0 {
                        // A partition that began while the message was in flight cuts it too
                        // (not a reset notice: the partition is what it announces).
                        core.fp.event(tag::DROP, now, env.from as u64, me as u64);
                        if core.trace {
                            tracing::debug!(target: "faultline::net", t_ms = now as f64 / 1e6, "drop (partitioned in flight) {} -> {}: {:?}", core.nodes[env.from].name, core.nodes[me].name, env.msg);
                        }
                        continue;
                    }
                    core.fp.event(tag::DELIVER, now, env.from as u64, me as u64);
                    if env.from >= core.servers && me < core.servers {
                        core.contacts.push(faultline_checkers::cap::Contact {
                            at_ns: now,
                            client: env.from,
                            server: me,
                        });
                    }
                    if core.trace {
                        tracing::debug!(target: "faultline::net", t_ms = now as f64 / 1e6, "deliver {} -> {}: {:?}", core.nodes[env.from].name, core.nodes[me].name, env.msg);
                    }
                    if self.token != 0 {
                        mb.waiter = 0;
                        self.token = 0;
                    }
                    return Poll::Ready(Some((env.from, env.msg)));
                }
                let deadline_ns = self.deadline;
                if deadline_ns.is_some_and(|d| d <= now) {
                    core.fp.event(tag::TIMER, now, me as u64, 1);
                    if core.trace {
                        tracing::trace!(target: "faultline::timer", t_ms = now as f64 / 1e6, "{} timer", core.nodes[me].name);
                    }
                    if self.token != 0 {
                        mb.waiter = 0;
                        self.token = 0;
                    }
                    return Poll::Ready(None);
                }
                if self.token == 0 || mb.waiter != self.token {
                    if mb.waiter != 0 {
                        two_waiters(&core.nodes[me].name, key);
                    }
                    *next_id += 1;
                    self.token = *next_id;
                    mb.waiter = self.token;
                }
                if !mb.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    mb.waker = Some(cx.waker().clone());
                }
                let target = match (mb.queue.peek().map(|e| e.at_ns), deadline_ns) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                mb.armed_ns = target;
                (target, core.start)
            };
            let Some(target) = target else {
                return Poll::Pending;
            };
            if self.armed == Some(target) {
                return Poll::Pending;
            }
            let at = start + Duration::from_nanos(target);
            match &mut self.sleep {
                Some(s) => Pin::new(s).reset(at),
                None => self.sleep = Some(madsim::time::sleep_until(at)),
            }
            let sleep = self.sleep.as_mut().expect("armed");
            match Pin::new(sleep).poll(cx) {
                Poll::Ready(()) => continue,
                Poll::Pending => {
                    self.armed = Some(target);
                    return Poll::Pending;
                }
            }
        }
    }
}

impl<M: 'static> Drop for Recv<'_, M> {
    /// A receive dropped while waiting (a timeout or `select` around it) frees its queue for
    /// the next one. Its waker stays: clearing it would change which tasks a later send wakes,
    /// and so every fingerprint.
    #[inline]
    fn drop(&mut self) {
        if self.token != 0 {
            self.abandon();
        }
    }
}

impl<M: 'static> Recv<'_, M> {
    #[cold]
    #[inline(never)]
    fn abandon(&mut self) {
        let Ok(mut mail) = self.inner.world.mail.try_borrow_mut() else {
            return;
        };
        if let Some((mb, _)) = slot(&mut mail[self.inner.id], self.key, self.inner.epoch) {
            if mb.waiter == self.token {
                mb.waiter = 0;
            }
        }
    }
}
