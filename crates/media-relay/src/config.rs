//! How a [`crate::Relay`] is started.

use crate::PortRange;
use std::net::IpAddr;
use std::num::NonZeroUsize;

/// The relay's configuration (`media.address`, `media.ports` in the node's
/// TOML, plus tuning that has sensible defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayConfig {
    /// The local address every leg's sockets bind to.
    pub address: IpAddr,
    /// The ports legs are given, as even/odd pairs.
    pub ports: PortRange,
    /// Forwarding threads. Default: the available cores, since forwarding
    /// is CPU-bound and each thread runs its own poller without locks
    /// shared between threads on the packet path.
    pub workers: usize,
    /// Datagrams longer than this are dropped as `too_large`. Default 1500:
    /// RTP that does not fit an Ethernet MTU is not a phone's.
    pub max_packet: usize,
    /// `SO_RCVBUF` / `SO_SNDBUF` for each leg socket; `None` keeps the
    /// kernel default, ample at 50 packets a second per port and cheaper in
    /// memory across thousands of sockets.
    pub socket_buffer: Option<usize>,
    /// RTP clock rate used to turn wall-clock gaps into timestamp units when
    /// a re-point splices streams. Default 8000 (G.711, telephone-event).
    pub clock_rate: u32,
    /// Sockets the relay may hold open, live legs' and kept ones together,
    /// below which a closed leg's two sockets are kept open (bound and
    /// registered) for the next leg given its ports, saving ~14 syscalls
    /// per leg. Live legs are never refused for it: over it, released
    /// sockets are closed, and kept ones are closed before fresh ones are
    /// bound. Default: half the process's open-file limit (`RLIMIT_NOFILE`,
    /// soft), leaving the rest to the rest of the process. 0 keeps none
    /// (each leg binds and closes its own sockets). While kept, the ports
    /// stay bound: other processes cannot take them.
    pub socket_budget: usize,
}

impl RelayConfig {
    /// Defaults for everything but the address and the range.
    pub fn new(address: IpAddr, ports: PortRange) -> Self {
        RelayConfig {
            address,
            ports,
            workers: std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
            max_packet: 1500,
            socket_buffer: None,
            clock_rate: 8000,
            socket_budget: default_socket_budget(),
        }
    }

    /// Sets [`RelayConfig::socket_budget`].
    pub fn with_socket_budget(mut self, sockets: usize) -> Self {
        self.socket_budget = sockets;
        self
    }

    /// Sets [`RelayConfig::workers`] (at least one).
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// Sets [`RelayConfig::max_packet`].
    pub fn with_max_packet(mut self, max_packet: usize) -> Self {
        self.max_packet = max_packet;
        self
    }

    /// Sets [`RelayConfig::socket_buffer`].
    pub fn with_socket_buffer(mut self, bytes: Option<usize>) -> Self {
        self.socket_buffer = bytes;
        self
    }

    /// Sets [`RelayConfig::clock_rate`].
    pub fn with_clock_rate(mut self, clock_rate: u32) -> Self {
        self.clock_rate = clock_rate.max(1);
        self
    }
}

/// Half the soft open-file limit; 0 (keep nothing) if it cannot be read.
fn default_socket_budget() -> usize {
    use nix::sys::resource::{getrlimit, Resource};
    getrlimit(Resource::RLIMIT_NOFILE).map_or(0, |(soft, _)| {
        usize::try_from(soft).unwrap_or(usize::MAX) / 2
    })
}
