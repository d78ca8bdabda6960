//! The open connections, by id and by remote address.

use crate::{ConnectionId, Flow};
use bytes::Bytes;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, MutexGuard, PoisonError};
use tokio::sync::mpsc;

/// One open connection: its flow and the queue of its writer task.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) id: ConnectionId,
    pub(crate) flow: Flow,
    pub(crate) writer: mpsc::Sender<Bytes>,
}

/// The cap was reached.
#[derive(Debug)]
pub(crate) struct TableFull;

#[derive(Debug, Default)]
struct Tables {
    by_id: HashMap<ConnectionId, Entry>,
    // The newest connection to a remote wins: it is the most likely to be
    // alive, and RFC 5923-style reuse only needs one.
    by_remote: HashMap<SocketAddr, ConnectionId>,
    /// Open connections per remote IP address (entries at zero are removed).
    per_ip: HashMap<IpAddr, usize>,
}

/// Shared between the handle (sending) and the connection tasks
/// (register, remove). The lock is only held for map operations, never
/// across an await.
#[derive(Debug)]
pub(crate) struct ConnectionTable {
    tables: Mutex<Tables>,
    limit: usize,
}

impl ConnectionTable {
    pub(crate) fn new(limit: usize) -> Self {
        ConnectionTable {
            tables: Mutex::new(Tables::default()),
            limit,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Tables> {
        // A panic elsewhere cannot leave the maps half-updated: every
        // operation below is a single insert/remove.
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    pub(crate) fn has_room(&self) -> bool {
        self.len() < self.limit
    }

    /// Open connections with `ip`, inbound and outbound.
    pub(crate) fn count_from(&self, ip: IpAddr) -> usize {
        self.lock().per_ip.get(&ip).copied().unwrap_or(0)
    }

    /// Registers a connection, unless the cap is reached.
    pub(crate) fn insert(&self, entry: Entry) -> Result<(), TableFull> {
        let mut t = self.lock();
        if t.by_id.len() >= self.limit {
            return Err(TableFull);
        }
        t.by_remote.insert(entry.flow.remote, entry.id);
        *t.per_ip.entry(entry.flow.remote.ip()).or_insert(0) += 1;
        t.by_id.insert(entry.id, entry);
        Ok(())
    }

    /// Forgets a connection. If it was the one reused for its remote, another
    /// open connection to the same remote takes its place.
    pub(crate) fn remove(&self, id: ConnectionId) {
        let mut t = self.lock();
        let Some(entry) = t.by_id.remove(&id) else {
            return;
        };
        let remote = entry.flow.remote;
        if let Some(n) = t.per_ip.get_mut(&remote.ip()) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                t.per_ip.remove(&remote.ip());
            }
        }
        if t.by_remote.get(&remote) == Some(&id) {
            let other = t
                .by_id
                .iter()
                .filter(|(_, e)| e.flow.remote == remote)
                .map(|(other, _)| *other)
                .max();
            match other {
                Some(other) => t.by_remote.insert(remote, other),
                None => t.by_remote.remove(&remote),
            };
        }
    }

    /// The connection with this id, if open.
    pub(crate) fn get(&self, id: ConnectionId) -> Option<Entry> {
        self.lock().by_id.get(&id).cloned()
    }

    /// An open connection to `remote`, if any.
    pub(crate) fn by_remote(&self, remote: SocketAddr) -> Option<Entry> {
        let t = self.lock();
        let id = t.by_remote.get(&remote)?;
        t.by_id.get(id).cloned()
    }
}
