//! The dialog event package (RFC 4235 over RFC 6665) for a user's own
//! address of record: how a device B of user U learns U's calls, so that it
//! can take one over (handover).
//!
//! Sans I/O: no sockets, no clock. The node feeds in SUBSCRIBEs (already
//! authenticated, reduced to a [`SubscribeRequest`]), dialog changes
//! ([`DialogState`]) and the time; the [`Subscriptions`] table answers with
//! [`NotifyOut`]s (who to notify, `Subscription-State`, the body). Building
//! the SIP messages is the node's job.
//!
//! # Policy
//!
//! - Only the user's own AOR: a SUBSCRIBE by `alice` for `bob` is refused
//!   (403, [`Refusal::Forbidden`]).
//! - Expires: absent means [`Limits::default_expires`] (3600 s); above
//!   [`Limits::max_expires`] it is capped; under [`Limits::min_expires`]
//!   (60 s) it is refused with 423; `0` on a new SUBSCRIBE is a fetch and on
//!   a refresh an unsubscribe: both get one final NOTIFY
//!   (`terminated;reason=timeout`) with the full state.
//! - Caps: [`Limits::per_user`] (16) subscriptions per user and
//!   [`Limits::total`] (10,000) in all. Over a cap the SUBSCRIBE gets 503
//!   with a Retry-After of the time until the earliest of the relevant
//!   subscriptions lapses: a device that crashed and re-subscribes finds
//!   room once its stale subscriptions expire, and a storm is not rewarded
//!   by evicting live subscribers.
//! - Every NOTIFY carries the full state (`state="full"`); `version` starts
//!   at 0 and grows by one per NOTIFY of a subscription (RFC 4235 §4.1).
//!   A terminated dialog is listed (with `event="replaced"` after a
//!   handover) in the NOTIFY that reports its end, then forgotten.
//! - Event filters (RFC 4235 §3.2 `call-id`/`to-tag`/`from-tag`) are not
//!   applied: a subscriber always gets all of the user's dialogs.
//!
//! # Tags and Replaces
//!
//! Each `<dialog>` is the device's dialog with Baton, seen from the device
//! (the subscribed entity is the user): `local-tag` is the **device's** tag,
//! `remote-tag` is **Baton's** tag. A device taking the call over therefore
//! sends (RFC 3891 §3: `to-tag` is the tag of the dialog's recipient of the
//! new INVITE, Baton):
//!
//! ```text
//! Replaces: <call-id>;to-tag=<remote-tag>;from-tag=<local-tag>
//! ```
#![deny(missing_docs)]

mod body;
mod table;
#[cfg(test)]
mod tests;

pub use body::{dialog_id, render, DialogState, Direction, Phase};
pub use table::{
    Accepted, NotifyOut, Refusal, SubscribeRequest, SubscriptionKey, SubscriptionState,
    Subscriptions, TerminationReason,
};

/// The MIME type of the bodies (RFC 4235 §4).
pub const CONTENT_TYPE: &str = "application/dialog-info+xml";

/// The event package name (`Event: dialog`, `Allow-Events: dialog`).
pub const EVENT_PACKAGE: &str = "dialog";

/// Bounds on subscriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Shortest accepted Expires, in seconds (shorter: 423 with Min-Expires).
    pub min_expires: u32,
    /// Longest granted Expires, in seconds (longer requests are capped).
    pub max_expires: u32,
    /// Expires granted when the SUBSCRIBE has none.
    pub default_expires: u32,
    /// Live subscriptions one user may hold.
    pub per_user: usize,
    /// Live subscriptions in the table.
    pub total: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            per_user: 16,
            total: 10_000,
        }
    }
}
