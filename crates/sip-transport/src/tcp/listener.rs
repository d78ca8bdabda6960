//! The accept loop of one TCP listener.

use super::spawn_tcp;
use crate::lifecycle::ShutdownSignal;
use crate::shared::Shared;
use crate::TransportError;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tracing::{debug, warn};

/// Pause after an accept error. Errors such as EMFILE repeat until a
/// connection closes; retrying at once would spin a core.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Accepts connections until shutdown; dropping the listener on return
/// closes the port.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: ShutdownSignal,
) {
    loop {
        let accepted = tokio::select! {
            biased;
            () = shutdown.wait() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                warn!(%error, "accept failed");
                tokio::select! {
                    biased;
                    () = shutdown.wait() => return,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        let per_ip = shared
            .connections
            .count_from(crate::flow::canonical(remote).ip());
        if per_ip >= shared.config.max_tcp_connections_per_ip {
            // Dropping the stream closes it at once.
            drop(stream);
            shared.counters.connection_rejected_per_ip();
            debug!(%remote, limit = shared.config.max_tcp_connections_per_ip,
                "TCP connection refused: per-address limit reached");
            continue;
        }
        match spawn_tcp(&shared, stream, remote, shutdown.clone()) {
            Ok(_) => {}
            Err(TransportError::TooManyConnections { limit }) => {
                // The stream was dropped, so the peer sees the connection
                // close right after it opened.
                shared.counters.connection_rejected();
                warn!(%remote, limit, "TCP connection refused: limit reached");
            }
            Err(TransportError::Shutdown) => return,
            Err(error) => debug!(%remote, %error, "TCP connection not started"),
        }
    }
}
