//! The one file that names the runtime: sockets, tasks and time. Built with `--cfg madsim` (as
//! Faultline builds everything) they are madsim's simulated ones, which the nemesis partitions,
//! delays and crashes; without it, tokio's real ones. The rest of the service imports them from
//! here and never knows which it got.
#[cfg(madsim)]
pub use madsim::net::{TcpListener, TcpStream};
#[cfg(not(madsim))]
pub use tokio::net::{TcpListener, TcpStream};

// madsim re-exports tokio's task and time modules when it is not simulating.
pub use madsim::task::spawn_local;
pub use madsim::time::{sleep, timeout, Instant};
pub use tokio::io::{AsyncRead, AsyncWrite};
