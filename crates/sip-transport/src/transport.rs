//! Starting the transport, and the handle that sends and shuts it down.

use crate::flow::canonical;
use crate::lifecycle::ShutdownSignal;
use crate::shared::Shared;
use crate::target::check_destination;
use crate::tcp::{accept_loop, spawn_tcp, Entry};
use crate::{
    ListenSpec, Target, TransportConfig, TransportError, TransportEvent, TransportKind,
    TransportStats,
};
use bytes::Bytes;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, PoisonError, RwLock};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, watch};
use tokio::time::timeout;
use tracing::info;

/// The entry point: [`Transport::start`].
#[derive(Debug, Clone, Copy)]
pub struct Transport;

impl Transport {
    /// Binds every listener of `config`, starts their tasks, and returns the
    /// handle to send with and the channel of received events.
    ///
    /// Nothing is spawned unless every listener binds. The event channel
    /// yields `None` once the transport has shut down (by
    /// [`TransportHandle::shutdown`], or when the last handle is dropped).
    pub async fn start(
        config: TransportConfig,
    ) -> Result<(TransportHandle, mpsc::Receiver<TransportEvent>), TransportError> {
        // tokio::spawn would panic outside a runtime.
        tokio::runtime::Handle::try_current().map_err(|_| TransportError::NoRuntime)?;

        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        let mut local = Vec::with_capacity(config.listen.len());
        for spec in &config.listen {
            let bind_error = |source| TransportError::Bind {
                spec: *spec,
                source,
            };
            let addr = match spec.kind {
                TransportKind::Udp => {
                    let socket = UdpSocket::bind(spec.addr).await.map_err(bind_error)?;
                    let addr = socket.local_addr().map_err(bind_error)?;
                    udp.push((addr, Arc::new(socket)));
                    addr
                }
                TransportKind::Tcp => {
                    let listener = TcpListener::bind(spec.addr).await.map_err(bind_error)?;
                    let addr = listener.local_addr().map_err(bind_error)?;
                    tcp.push(listener);
                    addr
                }
            };
            local.push(ListenSpec {
                kind: spec.kind,
                addr,
            });
        }

        let (events_tx, events_rx) = mpsc::channel(config.event_queue.max(1));
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let shutdown = ShutdownSignal::new(shutdown_rx);
        let shared = Arc::new(Shared::new(config, events_tx.clone()));
        for (addr, socket) in &udp {
            shared.tasks.spawn(crate::udp::receive_loop(
                Arc::clone(socket),
                *addr,
                Arc::clone(&shared),
                events_tx.clone(),
                shutdown.clone(),
            ));
        }
        for listener in tcp {
            shared
                .tasks
                .spawn(accept_loop(listener, Arc::clone(&shared), shutdown.clone()));
        }
        for spec in &local {
            info!(%spec, "SIP transport listening");
        }
        let handle = TransportHandle {
            inner: Arc::new(Inner {
                shared,
                local,
                udp: RwLock::new(udp),
                shutdown: shutdown_tx,
            }),
        };
        Ok((handle, events_rx))
    }
}

/// Sends messages and controls the transport. Cheap to clone; every clone
/// drives the same sockets. Dropping the last clone shuts the transport
/// down, like [`TransportHandle::shutdown`] without the wait.
#[derive(Clone)]
pub struct TransportHandle {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    local: Vec<ListenSpec>,
    // Emptied on shutdown so the UDP ports close once the receive loops end.
    udp: RwLock<Vec<(SocketAddr, Arc<UdpSocket>)>>,
    shutdown: watch::Sender<bool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        self.shared.close_events();
    }
}

impl fmt::Debug for TransportHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportHandle")
            .field("local", &self.inner.local)
            .field("connections", &self.inner.shared.connections.len())
            .finish_non_exhaustive()
    }
}

impl TransportHandle {
    /// The listeners as bound, in the order of [`TransportConfig::listen`],
    /// with the ports the OS chose for port 0.
    pub fn local_addrs(&self) -> &[ListenSpec] {
        &self.inner.local
    }

    /// The address of the first listener of `kind`.
    pub fn local_addr(&self, kind: TransportKind) -> Option<SocketAddr> {
        self.inner
            .local
            .iter()
            .find(|spec| spec.kind == kind)
            .map(|spec| spec.addr)
    }

    /// The configuration the transport runs with.
    pub fn config(&self) -> &TransportConfig {
        &self.inner.shared.config
    }

    /// Counters, for tests and health checks; the same values go to the
    /// `metrics` facade.
    pub fn stats(&self) -> TransportStats {
        let shared = &self.inner.shared;
        shared.counters.snapshot(shared.connections.len())
    }

    /// True once [`TransportHandle::shutdown`] has been called.
    pub fn is_shut_down(&self) -> bool {
        *self.inner.shutdown.borrow()
    }

    /// Sends one serialized message.
    ///
    /// - UDP: from the first UDP listener of the target's address family
    ///   (an IPv4 target may go through a dual-stack IPv6 listener).
    ///   Choosing UDP for a message too big for the path MTU (RFC 3261
    ///   §18.1.1) is the caller's decision.
    /// - TCP: on `target.connection` if it is still open, else on an open
    ///   connection to `target.remote`, else on a new outbound connection
    ///   (within `max_tcp_connections`) whose incoming messages arrive on
    ///   the event channel like any other. Returns once the bytes are queued
    ///   for the connection's writer; a later write failure closes the
    ///   connection and shows up as [`TransportEvent::ConnectionClosed`].
    ///
    /// Broadcast, multicast and unspecified destinations are refused.
    pub async fn send(&self, target: &Target, bytes: Bytes) -> Result<(), TransportError> {
        let remote = canonical(target.remote);
        check_destination(remote)?;
        if self.is_shut_down() {
            return Err(TransportError::Shutdown);
        }
        match target.kind {
            TransportKind::Udp => self.send_udp(remote, bytes).await,
            TransportKind::Tcp => self.send_tcp(target, remote, bytes).await,
        }
    }

    async fn send_udp(&self, remote: SocketAddr, bytes: Bytes) -> Result<(), TransportError> {
        let (socket, dest) = self.udp_socket_for(remote)?;
        socket
            .send_to(&bytes, dest)
            .await
            .map(drop)
            .map_err(|source| TransportError::Send { remote, source })
    }

    /// The first UDP listener of the remote's family. Failing that, an IPv4
    /// remote is reached through an IPv6 listener at its mapped address: a
    /// dual-stack `[::]` socket serves both (if the OS made it IPv6-only,
    /// the send fails with the OS error).
    fn udp_socket_for(
        &self,
        remote: SocketAddr,
    ) -> Result<(Arc<UdpSocket>, SocketAddr), TransportError> {
        let udp = self
            .inner
            .udp
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((_, socket)) = udp.iter().find(|(l, _)| l.is_ipv4() == remote.is_ipv4()) {
            return Ok((Arc::clone(socket), remote));
        }
        match (remote.ip(), udp.iter().find(|(l, _)| l.is_ipv6())) {
            (IpAddr::V4(v4), Some((_, socket))) => Ok((
                Arc::clone(socket),
                SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), remote.port()),
            )),
            _ => Err(TransportError::NoListener {
                kind: TransportKind::Udp,
                remote,
            }),
        }
    }

    async fn send_tcp(
        &self,
        target: &Target,
        remote: SocketAddr,
        bytes: Bytes,
    ) -> Result<(), TransportError> {
        let connections = &self.inner.shared.connections;
        let open = target
            .connection
            .and_then(|id| connections.get(id))
            .or_else(|| connections.by_remote(remote));
        let mut bytes = bytes;
        if let Some(entry) = open {
            // Never wait for room: a peer that does not read must not stall
            // the caller (a transaction, a timer).
            match entry.writer.try_send(bytes) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(_)) => {
                    return Err(TransportError::SendQueueFull {
                        connection: entry.id,
                    })
                }
                // Closing right now: fall through to a new connection.
                Err(TrySendError::Closed(returned)) => bytes = returned,
            }
        }
        let entry = self.connect(remote).await?;
        entry.writer.try_send(bytes).map_err(|e| match e {
            TrySendError::Full(_) => TransportError::SendQueueFull {
                connection: entry.id,
            },
            TrySendError::Closed(_) => TransportError::ConnectionClosed {
                connection: entry.id,
            },
        })
    }

    /// Opens an outbound connection. Two concurrent sends to a new remote
    /// may open two connections; both work, and the newer one is reused.
    async fn connect(&self, remote: SocketAddr) -> Result<Entry, TransportError> {
        let shared = &self.inner.shared;
        if !shared.connections.has_room() {
            return Err(TransportError::TooManyConnections {
                limit: shared.connections.limit(),
            });
        }
        let stream = match timeout(
            shared.config.tcp_connect_timeout,
            TcpStream::connect(remote),
        )
        .await
        {
            Err(_) => return Err(TransportError::ConnectTimeout { remote }),
            Ok(Err(source)) => return Err(TransportError::Connect { remote, source }),
            Ok(Ok(stream)) => stream,
        };
        let shutdown = ShutdownSignal::new(self.inner.shutdown.subscribe());
        spawn_tcp(shared, stream, remote, shutdown)
    }

    /// Stops accepting, closes every listener and connection, and returns
    /// once every task of the transport has ended. Pending events already
    /// queued stay readable; the event channel then yields `None`.
    /// Idempotent.
    pub async fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
        self.inner.shared.close_events();
        self.inner
            .udp
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.inner.shared.tasks.close_and_wait().await;
        info!("SIP transport shut down");
    }
}
