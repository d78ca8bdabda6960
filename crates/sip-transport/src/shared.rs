//! State shared by the handle and every task.

use crate::lifecycle::TaskSet;
use crate::stats::Counters;
use crate::tcp::ConnectionTable;
use crate::{ConnectionId, TransportConfig, TransportEvent};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use tokio::sync::mpsc;

/// What tasks need from the transport. Tasks hold an `Arc<Shared>`, never
/// the handle, so that dropping the last handle shuts the transport down.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: TransportConfig,
    pub(crate) connections: ConnectionTable,
    pub(crate) counters: Counters,
    pub(crate) tasks: TaskSet,
    // Taken on shutdown: once every task has dropped its clone, the event
    // receiver yields `None`, which is how the node learns we are done.
    events: Mutex<Option<mpsc::Sender<TransportEvent>>>,
    next_connection: AtomicU64,
}

impl Shared {
    pub(crate) fn new(config: TransportConfig, events: mpsc::Sender<TransportEvent>) -> Self {
        Shared {
            connections: ConnectionTable::new(config.max_tcp_connections),
            config,
            counters: Counters::default(),
            tasks: TaskSet::new(),
            events: Mutex::new(Some(events)),
            next_connection: AtomicU64::new(1),
        }
    }

    /// A sender for a new task, or `None` once shutting down.
    pub(crate) fn events(&self) -> Option<mpsc::Sender<TransportEvent>> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn close_events(&self) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    pub(crate) fn next_connection_id(&self) -> ConnectionId {
        ConnectionId(self.next_connection.fetch_add(1, Ordering::Relaxed))
    }
}
