//! Task lifecycle: a shutdown signal every task watches, and a set that
//! knows when the last task has ended.

use std::future::Future;
use std::sync::{Mutex, PoisonError};
use tokio::sync::{mpsc, watch};

/// The receiving side of the shutdown signal.
#[derive(Debug, Clone)]
pub(crate) struct ShutdownSignal(watch::Receiver<bool>);

impl ShutdownSignal {
    pub(crate) fn new(rx: watch::Receiver<bool>) -> Self {
        ShutdownSignal(rx)
    }

    /// Completes once shutdown is requested, or when the last handle is
    /// dropped (the sender goes away). Checks the current value first, so a
    /// task started after shutdown ends at once. Cancel-safe.
    pub(crate) async fn wait(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// Tracks spawned tasks without keeping their handles: each task holds a
/// clone of a sender, and the set is empty when the receiver sees the
/// channel close. Nothing is ever sent on it.
#[derive(Debug)]
pub(crate) struct TaskSet {
    guard: Mutex<Option<mpsc::Sender<()>>>,
    done: tokio::sync::Mutex<mpsc::Receiver<()>>,
}

impl TaskSet {
    pub(crate) fn new() -> Self {
        let (tx, rx) = mpsc::channel(1);
        TaskSet {
            guard: Mutex::new(Some(tx)),
            done: tokio::sync::Mutex::new(rx),
        }
    }

    /// Spawns `task` unless the set is closed; returns whether it was spawned.
    pub(crate) fn spawn<F>(&self, task: F) -> bool
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let guard = self
            .guard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some(guard) = guard else {
            return false;
        };
        tokio::spawn(async move {
            task.await;
            drop(guard);
        });
        true
    }

    /// Refuses new tasks, then waits until every spawned task has ended.
    pub(crate) async fn close_and_wait(&self) {
        self.guard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        // `None` once every guard clone is dropped.
        let _ = self.done.lock().await.recv().await;
    }
}
