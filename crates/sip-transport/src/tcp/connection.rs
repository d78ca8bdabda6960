//! One connection: a reader task that frames, parses and reports, and a
//! writer task fed by a bounded queue.
//!
//! The tasks take any `AsyncRead` / `AsyncWrite` halves: TLS will wrap the
//! `TcpStream` and hand the halves of `tokio::io::split(tls_stream)` to
//! [`spawn_stream`], with nothing else to change.

use super::Entry;
use crate::flow::canonical;
use crate::lifecycle::ShutdownSignal;
use crate::shared::Shared;
use crate::via_stamp::stamp_request;
use crate::{CloseReason, ConnectionId, Flow, TransportError, TransportEvent, TransportKind};
use bytes::Bytes;
use sip_message::framing::{StreamFramer, StreamItem};
use sip_message::{FramingError, Message, ParseError};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, timeout, Instant};
use tracing::{debug, trace};

/// Messages waiting for the writer. Small: a peer that does not read
/// should make senders fail fast, not pile up memory.
const WRITE_QUEUE: usize = 64;

/// Bytes read per syscall. Most SIP messages fit; the framer reassembles
/// the rest. Kept small because every open connection holds one.
const READ_CHUNK: usize = 4096;

/// Bound on the final FIN after the writer stops.
const CLOSE_TIMEOUT: Duration = Duration::from_millis(500);

/// The CRLF pong answering a CRLF CRLF ping (RFC 5626 §3.5.1).
const PONG: &[u8] = b"\r\n";

/// Registers a TCP connection (inbound or outbound) and starts its tasks.
pub(crate) fn spawn_tcp(
    shared: &Arc<Shared>,
    stream: TcpStream,
    remote: SocketAddr,
    shutdown: ShutdownSignal,
) -> Result<Entry, TransportError> {
    // SIP messages are small and latency-bound (a 100 Trying, an ACK):
    // Nagle would hold them back waiting for an ACK of the previous segment.
    if let Err(error) = stream.set_nodelay(true) {
        debug!(%remote, %error, "TCP_NODELAY not set");
    }
    let remote = canonical(remote);
    let local = stream
        .local_addr()
        .unwrap_or_else(|_| unknown_local(remote));
    let (read, write) = stream.into_split();
    spawn_stream(
        shared,
        TransportKind::Tcp,
        read,
        write,
        local,
        remote,
        shutdown,
    )
}

/// Registers a connection over any byte stream and starts its tasks. Fails
/// when the cap is reached or the transport is shutting down; the halves
/// are then dropped, which closes the stream.
pub(crate) fn spawn_stream<R, W>(
    shared: &Arc<Shared>,
    kind: TransportKind,
    read: R,
    write: W,
    local: SocketAddr,
    remote: SocketAddr,
    shutdown: ShutdownSignal,
) -> Result<Entry, TransportError>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let events = shared.events().ok_or(TransportError::Shutdown)?;
    let id = shared.next_connection_id();
    let flow = Flow {
        kind,
        local,
        remote,
        connection: Some(id),
    };
    let (writer, queue) = mpsc::channel(WRITE_QUEUE);
    let entry = Entry {
        id,
        flow,
        writer: writer.clone(),
    };
    shared
        .connections
        .insert(entry.clone())
        .map_err(|_| TransportError::TooManyConnections {
            limit: shared.connections.limit(),
        })?;
    let (stop_writer, stopped) = oneshot::channel();
    let (writer_failed, failed) = oneshot::channel();
    let write_task = write_loop(
        write,
        queue,
        stopped,
        writer_failed,
        shared.config.tcp_write_timeout,
        shutdown.clone(),
    );
    let reader = Reader {
        id,
        shared: Arc::clone(shared),
        read,
        flow,
        events,
        pong: writer,
        writer_failed: failed,
        shutdown,
    };
    // If the reader is refused, dropping it drops `stop_writer`, which
    // ends a writer that was already spawned.
    if !shared.tasks.spawn(write_task) || !shared.tasks.spawn(reader.run(stop_writer)) {
        shared.connections.remove(id);
        return Err(TransportError::Shutdown);
    }
    debug!(connection = %id, %local, %remote, "connection open");
    Ok(entry)
}

/// A placeholder local address when the OS cannot tell (the socket already
/// died); the connection will fail on its first read anyway.
fn unknown_local(remote: SocketAddr) -> SocketAddr {
    let ip = match remote.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

/// `from + after`, saturating: a configured timeout of `Duration::MAX`
/// means "practically never", not a panic.
fn deadline(from: Instant, after: Duration) -> Instant {
    from.checked_add(after)
        .unwrap_or_else(|| from + Duration::from_secs(100 * 365 * 24 * 3600))
}

struct Reader<R> {
    id: ConnectionId,
    shared: Arc<Shared>,
    read: R,
    flow: Flow,
    events: mpsc::Sender<TransportEvent>,
    pong: mpsc::Sender<Bytes>,
    writer_failed: oneshot::Receiver<CloseReason>,
    shutdown: ShutdownSignal,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    /// Reads until the connection ends, then unregisters it, stops the
    /// writer and reports the close: always in that order, so that a
    /// `ConnectionClosed` seen by the node means sends can no longer pick
    /// this connection.
    async fn run(mut self, stop_writer: oneshot::Sender<()>) {
        let reason = self.read_until_closed().await;
        self.shared.connections.remove(self.id);
        let _ = stop_writer.send(());
        self.shared.counters.connection_closed(reason);
        debug!(
            connection = %self.id,
            remote = %self.flow.remote,
            reason = reason.as_str(),
            "connection closed"
        );
        let event = TransportEvent::ConnectionClosed {
            flow: self.flow,
            reason,
        };
        match reason {
            CloseReason::EventsClosed => {}
            // Shutting down: the node may no longer be reading.
            CloseReason::Shutdown => {
                let _ = self.events.try_send(event);
            }
            _ => {
                let _ = self.deliver(event).await;
            }
        }
    }

    async fn read_until_closed(&mut self) -> CloseReason {
        let config = &self.shared.config;
        let (idle, body_timeout) = (config.tcp_idle_timeout, config.tcp_body_timeout);
        let mut framer = StreamFramer::new(config.limits);
        // The framer's cap bounds this connection's buffer: it refuses any
        // push beyond one maximal message.
        let mut chunk = vec![0u8; READ_CHUNK];
        let mut idle_deadline = deadline(Instant::now(), idle);
        // When the message now buffered began: the body timeout counts from
        // there, and trickling bytes does not restart it (slowloris).
        let mut partial_since: Option<Instant> = None;
        loop {
            let mut completed = false;
            loop {
                match framer.poll_item() {
                    Ok(None) => break,
                    Ok(Some(StreamItem::Ping)) => {
                        trace!(remote = %self.flow.remote, "keep-alive ping");
                        // A full queue means the peer is not reading; it
                        // will not miss the pong.
                        let _ = self.pong.try_send(Bytes::from_static(PONG));
                    }
                    Ok(Some(StreamItem::Message(bytes))) => {
                        completed = true;
                        let event = self.parse(&bytes);
                        if let Err(reason) = self.deliver(event).await {
                            return reason;
                        }
                    }
                    Err(error) => return self.unframeable(error).await,
                }
            }
            partial_since = match (framer.is_partial(), partial_since) {
                (false, _) => None,
                (true, Some(since)) if !completed => Some(since),
                (true, _) => Some(Instant::now()),
            };
            let body_deadline = partial_since.map(|since| deadline(since, body_timeout));

            tokio::select! {
                biased;
                () = self.shutdown.wait() => return CloseReason::Shutdown,
                failed = &mut self.writer_failed => {
                    // An Err means the writer ended without a cause: only
                    // shutdown does that.
                    return failed.unwrap_or(CloseReason::Shutdown);
                }
                () = sleep_until(body_deadline.unwrap_or(idle_deadline)), if body_deadline.is_some() => {
                    // sip-message has no "timed out" framing cause; the
                    // nearest is "the header section did not end". The
                    // close reason below is the precise one.
                    return match self.unframeable(FramingError::HeadNotTerminated).await {
                        CloseReason::Malformed => CloseReason::IncompleteMessage,
                        other => other,
                    };
                }
                () = sleep_until(idle_deadline) => return CloseReason::IdleTimeout,
                read = self.read.read(&mut chunk) => match read {
                    Ok(0) => return CloseReason::PeerClosed,
                    Ok(n) => {
                        idle_deadline = deadline(Instant::now(), idle);
                        if let Err(error) = framer.push(chunk.get(..n).unwrap_or_default()) {
                            return self.unframeable(error).await;
                        }
                    }
                    Err(error) => {
                        debug!(remote = %self.flow.remote, %error, "read failed");
                        return CloseReason::ReadFailed;
                    }
                },
            }
        }
    }

    fn parse(&mut self, bytes: &[u8]) -> TransportEvent {
        let flow = self.flow;
        match Message::parse_with(bytes, &self.shared.config.limits) {
            Ok(mut message) => {
                stamp_request(&mut message, flow.remote, self.shared.config.force_rport);
                TransportEvent::Message { message, flow }
            }
            Err(error) => {
                self.shared.counters.malformed(flow.kind);
                TransportEvent::Malformed {
                    error,
                    flow,
                    closed: false,
                }
            }
        }
    }

    /// The stream can no longer be framed: report it and close.
    async fn unframeable(&mut self, error: FramingError) -> CloseReason {
        debug!(remote = %self.flow.remote, %error, "closing unframeable stream");
        self.shared.counters.malformed(self.flow.kind);
        let event = TransportEvent::Malformed {
            // No head and `is_request: false`: the connection is closing,
            // so there is nothing to answer on.
            error: ParseError::Framing {
                error,
                head: None,
                is_request: false,
            },
            flow: self.flow,
            closed: true,
        };
        match self.deliver(event).await {
            Ok(()) => CloseReason::Malformed,
            Err(reason) => reason,
        }
    }

    /// Queues an event, waiting for room: back-pressure reaches the peer
    /// through TCP flow control. Shutdown interrupts the wait.
    async fn deliver(&mut self, event: TransportEvent) -> Result<(), CloseReason> {
        tokio::select! {
            biased;
            () = self.shutdown.wait() => Err(CloseReason::Shutdown),
            sent = self.events.send(event) => sent.map_err(|_| CloseReason::EventsClosed),
        }
    }
}

/// Writes queued messages until told to stop, the queue closes, shutdown,
/// or a write fails or stalls (reported to the reader, which closes).
async fn write_loop<W: AsyncWrite + Unpin>(
    mut write: W,
    mut queue: mpsc::Receiver<Bytes>,
    mut stop: oneshot::Receiver<()>,
    failed: oneshot::Sender<CloseReason>,
    write_timeout: Duration,
    mut shutdown: ShutdownSignal,
) {
    loop {
        let bytes = tokio::select! {
            biased;
            _ = &mut stop => break,
            () = shutdown.wait() => break,
            next = queue.recv() => match next {
                Some(bytes) => bytes,
                None => break,
            },
        };
        let result = tokio::select! {
            biased;
            _ = &mut stop => break,
            () = shutdown.wait() => break,
            written = timeout(write_timeout, write.write_all(&bytes)) => written,
        };
        let reason = match result {
            Ok(Ok(())) => continue,
            Ok(Err(error)) => {
                debug!(%error, "write failed");
                CloseReason::WriteFailed
            }
            Err(_) => CloseReason::WriteTimeout,
        };
        let _ = failed.send(reason);
        return;
    }
    let _ = timeout(CLOSE_TIMEOUT, write.shutdown()).await;
}
