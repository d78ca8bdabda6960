//! The I/O edge: sockets, worker threads, and the handles the control side
//! (a call's media-bridge actor) holds. Everything that decides lives in the
//! pure modules above; this layer moves bytes and publishes state.

mod bridge;
mod leg;
mod monitor;
mod ports;
mod relay;
mod socket;
mod worker;

pub use bridge::BridgeHandle;
pub use leg::LegHandle;
pub use relay::Relay;

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, ignoring poisoning: every critical section here leaves its
/// data consistent at each step, so a panic elsewhere does not taint it,
/// and the packet path must not die with another thread.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
