//! Tasks of a node ([`NodeCtx::spawn`](crate::NodeCtx::spawn)): madsim tasks on the node's own
//! madsim node, so a crash (`Handle::kill`) drops them all with the node's first task, and a
//! restart (`Handle::restart`, which calls the node's init afresh) starts none of them again.
//!
//! madsim 0.2.34 (`sim/task/mod.rs`): `kill` marks the node's `NodeInfo` killed and wakes every
//! task of it; the executor drops a killed node's task instead of running it. `restart` gives the
//! node a new `NodeInfo` (old tasks stay killed) and runs its init function once more.
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A task spawned with [`NodeCtx::spawn`](crate::NodeCtx::spawn). Await it for the task's
/// output; dropping it detaches the task (it keeps running until it finishes or its node
/// crashes), as with tokio's and madsim's `JoinHandle`.
///
/// ```no_run
/// # use faultline::NodeCtx;
/// # use std::time::Duration;
/// async fn node(ctx: NodeCtx<()>) {
///     let c = ctx.clone();
///     let work = ctx.spawn(async move {
///         c.sleep(Duration::from_millis(5)).await;
///         42
///     });
///     assert_eq!(work.await, Ok(42));
/// }
/// ```
pub struct Task<T> {
    handle: madsim::task::JoinHandle<T>,
}

/// The error of awaiting a [`Task`] that was [aborted](Task::abort) before it finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Aborted;

impl fmt::Display for Aborted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the task was aborted")
    }
}

impl std::error::Error for Aborted {}

impl<T: 'static> Task<T> {
    /// Spawns on the current task's madsim node (the caller has checked it is the context's).
    #[track_caller]
    pub(crate) fn spawn_here<F>(future: F) -> Task<T>
    where
        F: Future<Output = T> + 'static,
    {
        Task {
            handle: madsim::task::spawn_local(future),
        }
    }
}

impl<T> Task<T> {
    /// Stops the task: it is dropped before it runs again, and awaiting it gives [`Aborted`].
    pub fn abort(&self) {
        self.handle.abort();
    }

    /// Whether the task has finished (or been aborted).
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

impl<T> Future for Task<T> {
    type Output = Result<T, Aborted>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.handle)
            .poll(cx)
            .map(|r| r.map_err(|_| Aborted))
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.handle.id())
            .finish()
    }
}
