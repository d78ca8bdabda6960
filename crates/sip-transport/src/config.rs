use crate::ListenSpec;
use sip_message::Limits;
use std::time::Duration;

/// Everything [`crate::Transport::start`] needs.
///
/// Every timeout and queue here is a bound on what a peer can make the
/// server hold: none of them may be "unlimited".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportConfig {
    /// Sockets to bind. An empty list is allowed: outbound TCP still works.
    pub listen: Vec<ListenSpec>,
    /// Size caps for framing and parsing, on every transport.
    pub limits: Limits,
    /// A TCP connection on which the peer sends nothing (not even a CRLF
    /// keep-alive) for this long is closed.
    pub tcp_idle_timeout: Duration,
    /// Once the first byte of a message has arrived, the rest must follow
    /// within this time, or the connection is closed (slowloris guard). The
    /// clock is not restarted by each new byte.
    pub tcp_body_timeout: Duration,
    /// Bound on establishing an outbound TCP connection.
    pub tcp_connect_timeout: Duration,
    /// Bound on writing one message to a TCP peer that stopped reading; the
    /// connection is closed when it is exceeded.
    pub tcp_write_timeout: Duration,
    /// Most TCP connections open at once, inbound and outbound together.
    /// Inbound connections over the cap are closed as soon as accepted.
    pub max_tcp_connections: usize,
    /// Most TCP connections open at once with one remote IP address.
    /// Inbound connections over it are closed as soon as accepted, so one
    /// host cannot take the whole `max_tcp_connections`.
    pub max_tcp_connections_per_ip: usize,
    /// Act as if every request carried `rport` (RFC 3581), so responses go
    /// back to the source address even from clients behind NAT that forgot it.
    pub force_rport: bool,
    /// Capacity of the event channel. When it is full, UDP datagrams are
    /// dropped and counted; TCP readers wait, which pushes back on the peer
    /// through TCP flow control.
    pub event_queue: usize,
}

impl TransportConfig {
    /// Default TCP idle timeout: 300 s.
    pub const DEFAULT_TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
    /// Default bound on completing a partial TCP message: 5 s.
    pub const DEFAULT_TCP_BODY_TIMEOUT: Duration = Duration::from_secs(5);
    /// Default TCP connect timeout: 5 s.
    pub const DEFAULT_TCP_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    /// Default TCP write timeout: 10 s.
    pub const DEFAULT_TCP_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default connection cap: 10 000.
    pub const DEFAULT_MAX_TCP_CONNECTIONS: usize = 10_000;
    /// Default per-address connection cap: 256 (an SBC multiplexes many
    /// users on a few connections; a phone opens one or two).
    pub const DEFAULT_MAX_TCP_CONNECTIONS_PER_IP: usize = 256;
    /// Default event channel capacity: 4096.
    pub const DEFAULT_EVENT_QUEUE: usize = 4096;

    /// The defaults, listening on `listen`.
    pub fn new(listen: Vec<ListenSpec>) -> Self {
        TransportConfig {
            listen,
            ..Self::default()
        }
    }
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            listen: Vec::new(),
            limits: Limits::DEFAULT,
            tcp_idle_timeout: Self::DEFAULT_TCP_IDLE_TIMEOUT,
            tcp_body_timeout: Self::DEFAULT_TCP_BODY_TIMEOUT,
            tcp_connect_timeout: Self::DEFAULT_TCP_CONNECT_TIMEOUT,
            tcp_write_timeout: Self::DEFAULT_TCP_WRITE_TIMEOUT,
            max_tcp_connections: Self::DEFAULT_MAX_TCP_CONNECTIONS,
            max_tcp_connections_per_ip: Self::DEFAULT_MAX_TCP_CONNECTIONS_PER_IP,
            force_rport: true,
            event_queue: Self::DEFAULT_EVENT_QUEUE,
        }
    }
}
