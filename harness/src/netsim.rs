//! The bridge from the nemesis to madsim's own network (`madsim::net::NetSim`), which carries the
//! traffic of madsim's sockets (`TcpStream`/`TcpListener`, `UdpSocket`, `Endpoint`, and through
//! them madsim's tokio and tonic shims). The harness's own network (`NodeCtx::send`) is
//! untouched: each fault is applied to both, so a protocol may use either or both.
//!
//! What each fault does to socket traffic (madsim 0.2.34, read from its source):
//! - partition: one `clog_link(src, dst)` per cut link, counted like the harness's own cuts so
//!   overlapping partitions compose; a link is unclogged when no partition cuts it any more.
//!   Datagrams (`UdpSocket`, `Endpoint`) on a clogged link are dropped; a TCP `connect` fails
//!   with `ConnectionRefused`; bytes written on an open TCP connection are held and retried
//!   (backoff from 1 ms doubling to 10 s) until the link is unclogged, then delivered in order —
//!   the connection is not reset.
//! - crash: madsim's `kill` drops every task of the node (so its sockets close: peers read
//!   end-of-file and their writes fail with `ConnectionReset`) and unbinds its ports; the
//!   restart runs the node afresh.
//! - pause: the node's tasks stop; bytes sent to it wait in its sockets until it resumes.
//! - loss: `packet_loss_rate` (global, like the harness's own loss windows): a lost datagram is
//!   gone; a lost TCP segment is retried like a clogged link (delay, never loss), and a lost
//!   connection request fails with `ConnectionRefused`.
//! - delay: `send_latency` (global): madsim draws latency uniformly from a range, so a delay
//!   window of mean `m` widens the base range by `2m` (both shapes, exponential or uniform,
//!   become uniform). One TCP connection stays in order; datagrams may be reordered.
//! - duplicate: no effect — madsim's transports never duplicate.
//! - clock skew: no effect on sockets (madsim has one clock; skew is `NodeCtx::clock_ms`'s).
use crate::world::NetFaults;
use madsim::net::NetSim;
use madsim::task::NodeId;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// The latency of one message on madsim's network when no delay fault is active: the same range
/// as the harness's own network.
pub(crate) const BASE_LATENCY: std::ops::Range<Duration> =
    Duration::from_millis(1)..Duration::from_millis(5);

/// The first node's address; node `i` is this plus `i` (servers first, then clients, then the
/// final reader).
const FIRST_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

/// The simulated IP address of node `node` (a harness id: servers are `0..servers`, clients come
/// after, the final reader last): `10.0.0.1` for node 0, `10.0.0.2` for node 1, and so on.
///
/// ```
/// use faultline::netsim::ip_of;
/// assert_eq!(ip_of(0).to_string(), "10.0.0.1");
/// assert_eq!(ip_of(300).to_string(), "10.0.1.45");
/// ```
pub fn ip_of(node: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(u32::from(FIRST_IP) + node as u32))
}

/// The harness id of the node with address `ip`, if it is one of [`ip_of`]'s.
///
/// ```
/// use faultline::netsim::{ip_of, node_of};
/// assert_eq!(node_of(ip_of(7)), Some(7));
/// assert_eq!(node_of("127.0.0.1".parse().unwrap()), None);
/// ```
pub fn node_of(ip: IpAddr) -> Option<usize> {
    match ip {
        IpAddr::V4(v4) => u32::from(v4)
            .checked_sub(u32::from(FIRST_IP))
            .filter(|&n| n < 1 << 16)
            .map(|n| n as usize),
        IpAddr::V6(_) => None,
    }
}

/// `ip_of(node)` at `port`.
pub fn addr_of(node: usize, port: u16) -> SocketAddr {
    SocketAddr::new(ip_of(node), port)
}

/// The network configuration a run starts with.
pub(crate) fn base_config() -> madsim::Config {
    let mut cfg = madsim::Config::default();
    cfg.net.send_latency = BASE_LATENCY;
    cfg
}

/// The nemesis's handle on madsim's network: server `i` is madsim node `ids[i]`.
pub(crate) struct SocketNet {
    net: std::sync::Arc<NetSim>,
    ids: Vec<NodeId>,
}

impl SocketNet {
    pub fn new(ids: Vec<NodeId>) -> Self {
        SocketNet {
            net: NetSim::current(),
            ids,
        }
    }

    /// Cuts (`on`) or restores socket traffic from server `from` to server `to`. Called on the
    /// first cut of a link and when its last cut ends, never in between.
    pub fn set_link(&self, from: usize, to: usize, on: bool) {
        let (a, b) = (self.ids[from], self.ids[to]);
        if on {
            self.net.clog_link(a, b);
        } else {
            self.net.unclog_link(a, b);
        }
    }

    /// Sets loss and latency from the harness's active windows (the strongest of each, as the
    /// harness's own network does).
    pub fn apply(&self, faults: &NetFaults) {
        let strongest = |v: &[(usize, f64)]| v.iter().map(|(_, r)| *r).fold(0.0, f64::max);
        let loss = strongest(&faults.loss).clamp(0.0, 1.0);
        let mean_ms = strongest(&faults.delay).max(strongest(&faults.delay_uniform));
        let extra = Duration::from_secs_f64(2.0 * mean_ms.max(0.0) / 1e3);
        self.net.update_config(|c| {
            c.packet_loss_rate = loss;
            c.send_latency = BASE_LATENCY.start..BASE_LATENCY.end + extra;
        });
    }

    /// The final heal: every link open, no loss, the base latency.
    pub fn heal(&self) {
        for &a in &self.ids {
            for &b in &self.ids {
                if a != b {
                    self.net.unclog_link(a, b);
                }
            }
        }
        self.apply(&NetFaults::default());
    }
}

/// Messages madsim's network has carried so far in this run (0 when no socket was used).
pub(crate) fn messages() -> u64 {
    NetSim::current().stat().msg_count
}
