//! What the transport counts: atomics readable from the handle, mirrored to
//! the `metrics` facade (a no-op until the node installs a recorder).

use crate::{CloseReason, TransportKind};
use std::sync::atomic::{AtomicU64, Ordering};

const DROPPED: &str = "baton_sip_transport_dropped_total";
const MALFORMED: &str = "baton_sip_transport_malformed_total";
const REJECTED: &str = "baton_sip_transport_connections_rejected_total";
const CLOSED: &str = "baton_sip_transport_connections_closed_total";

/// Registers the descriptions of this crate's metrics. Call once at
/// startup, after installing the recorder.
pub fn describe_metrics() {
    metrics::describe_counter!(
        DROPPED,
        "Received datagrams dropped before parsing, by reason (queue_full)"
    );
    metrics::describe_counter!(
        MALFORMED,
        "Received bytes that did not frame or parse, by transport"
    );
    metrics::describe_counter!(
        REJECTED,
        "Inbound TCP connections closed on accept, by reason (limit, per_source)"
    );
    metrics::describe_counter!(CLOSED, "TCP connections closed, by reason");
}

/// A snapshot of the transport's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Datagrams dropped because the event channel was full.
    pub dropped_queue_full: u64,
    /// Malformed messages reported, all transports.
    pub malformed: u64,
    /// Inbound connections refused because `max_tcp_connections` was reached.
    pub connections_rejected: u64,
    /// Inbound connections refused because their address already had
    /// `max_tcp_connections_per_ip` open.
    pub connections_rejected_per_ip: u64,
    /// TCP connections closed so far, for any reason.
    pub connections_closed: u64,
    /// TCP connections open now.
    pub connections_open: usize,
}

/// The live counters behind [`TransportStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    dropped_queue_full: AtomicU64,
    malformed: AtomicU64,
    connections_rejected: AtomicU64,
    connections_rejected_per_ip: AtomicU64,
    connections_closed: AtomicU64,
}

impl Counters {
    pub(crate) fn dropped_queue_full(&self) {
        self.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(DROPPED, "reason" => "queue_full").increment(1);
    }

    pub(crate) fn malformed(&self, kind: TransportKind) {
        self.malformed.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(MALFORMED, "transport" => kind.as_str()).increment(1);
    }

    pub(crate) fn connection_rejected(&self) {
        self.connections_rejected.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(REJECTED, "reason" => "limit").increment(1);
    }

    pub(crate) fn connection_rejected_per_ip(&self) {
        self.connections_rejected_per_ip
            .fetch_add(1, Ordering::Relaxed);
        metrics::counter!(REJECTED, "reason" => "per_source").increment(1);
    }

    pub(crate) fn connection_closed(&self, reason: CloseReason) {
        self.connections_closed.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(CLOSED, "reason" => reason.as_str()).increment(1);
    }

    pub(crate) fn snapshot(&self, connections_open: usize) -> TransportStats {
        TransportStats {
            dropped_queue_full: self.dropped_queue_full.load(Ordering::Relaxed),
            malformed: self.malformed.load(Ordering::Relaxed),
            connections_rejected: self.connections_rejected.load(Ordering::Relaxed),
            connections_rejected_per_ip: self.connections_rejected_per_ip.load(Ordering::Relaxed),
            connections_closed: self.connections_closed.load(Ordering::Relaxed),
            connections_open,
        }
    }
}
