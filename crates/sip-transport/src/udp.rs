//! The receive loop of one UDP listener.

use crate::flow::canonical;
use crate::lifecycle::ShutdownSignal;
use crate::shared::Shared;
use crate::via_stamp::stamp_request;
use crate::{Flow, TransportEvent, TransportKind};
use sip_message::framing::is_keepalive;
use sip_message::Message;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::UdpSocket;
use tokio::sync::mpsc::{self, error::TrySendError};
use tracing::{debug, trace};

/// Room for any UDP payload, so the kernel never truncates a datagram
/// silently; the `Limits` caps, much smaller, decide what is too big.
const MAX_DATAGRAM: usize = 65_535;

/// Receives, parses and reports datagrams until shutdown.
///
/// Never waits on the event channel: when the node falls behind, datagrams
/// are dropped and counted. UDP senders retransmit (RFC 3261 §17.1.1.2), so
/// a drop costs a retransmission, whereas blocking here would stall every
/// flow on this socket and let the kernel drop at random instead.
pub(crate) async fn receive_loop(
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    shared: Arc<Shared>,
    events: mpsc::Sender<TransportEvent>,
    mut shutdown: ShutdownSignal,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let received = tokio::select! {
            biased;
            () = shutdown.wait() => return,
            received = socket.recv_from(&mut buf) => received,
        };
        let (len, remote) = match received {
            Ok((len, remote)) => (len, canonical(remote)),
            Err(error) => {
                // ICMP errors surface here on some systems (ECONNRESET on
                // Windows); they concern a past send, not this socket.
                debug!(%local, %error, "UDP receive error");
                continue;
            }
        };
        let data = buf.get(..len).unwrap_or_default();
        if is_keepalive(data) {
            // CRLF keep-alives (and empty datagrams) need no answer on UDP.
            trace!(%remote, "UDP keep-alive");
            continue;
        }
        let flow = Flow {
            kind: TransportKind::Udp,
            local,
            remote,
            connection: None,
        };
        let event = match Message::parse_with(data, &shared.config.limits) {
            Ok(mut message) => {
                stamp_request(&mut message, remote, shared.config.force_rport);
                TransportEvent::Message { message, flow }
            }
            Err(error) => {
                shared.counters.malformed(TransportKind::Udp);
                TransportEvent::Malformed {
                    error,
                    flow,
                    closed: false,
                }
            }
        };
        match events.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => shared.counters.dropped_queue_full(),
            Err(TrySendError::Closed(_)) => {
                debug!(%local, "event receiver dropped; UDP receive loop ends");
                return;
            }
        }
    }
}
