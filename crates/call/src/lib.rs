//! Calls: every call is a [`CallActor`] owning its caller leg, one leg per
//! fork and a media bridge (ractor actors). The decisions each call takes
//! are the pure state machine in [`b2bua`]; the legs pump the sans-IO
//! transaction and dialog machines of `sip-proto`; RTP never passes through
//! an actor: the media bridge only points the relay's fast path.
//!
//! ```text
//!   router (node) ──Deliver──▶ CallActor ──▶ LegActor A (UAS)  ◀──▶ caller
//!                                 │   └────▶ LegActor 1..n (UAC) ◀──▶ callee's contacts
//!                                 └───────▶ MediaBridgeActor ──▶ media-relay (threads)
//! ```
#![deny(missing_docs)]

pub mod b2bua;
mod call;
pub mod flow_guard;
pub mod handover;
pub mod ids;
mod leg;
pub mod log;
mod media;
pub mod metrics;
mod net;
mod pull;

pub use call::{CallActor, CallArgs, CallMsg};
pub use leg::{Arrival, LegEvent, LegMsg, Rebinding, RequestOrigin};
pub use net::{to_flow, to_target, SignallingContext};
pub use pull::{HandoverPolicy, HANDOVER_JSON};

/// `Server`/`User-Agent` value.
pub const SERVER: &str = concat!("Baton/", env!("CARGO_PKG_VERSION"));

/// One contact of the callee to fork to.
#[derive(Debug, Clone)]
pub struct CallTarget {
    /// The registered contact URI (the Request-URI of the fork's INVITE).
    pub uri: sip_message::Uri,
    /// Where the contact registered from (NAT-friendly: requests go there).
    pub flow: sip_proto::Flow,
}

/// What calls tell the router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallNotice {
    /// The call's actors have stopped: forget its routes.
    Gone(ids::CallNumber),
    /// One leg of a call that goes on stopped for good (a refused,
    /// cancelled, denied or rolled-back new device; a device the call moved
    /// away from, once its BYE is over): forget its route and its dialog.
    LegGone {
        /// The call.
        call: ids::CallNumber,
        /// The leg.
        leg: ids::LegIndex,
    },
    /// A handover attempt of a call is over (for the node's pull limits:
    /// a denied or timed-out attempt backs the next one off).
    PullEnded {
        /// The call.
        call: ids::CallNumber,
        /// How it ended.
        outcome: handover::Outcome,
    },
    /// A user's device dialog in a call changed (for the dialog event
    /// package and for finding the call a switch request names).
    Dialog(Box<UserDialog>),
}

/// One device dialog of a user of the domain in a call: the S<->A dialog
/// of the handover protocol, as the dialog event package (RFC 4235)
/// reports it and as a switch request names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDialog {
    /// The call.
    pub call: ids::CallNumber,
    /// The call's leg that is this device's dialog.
    pub leg: ids::LegIndex,
    /// The user (user part of the AOR, e.g. `alice`).
    pub user: String,
    /// The dialog's Call-ID.
    pub call_id: String,
    /// The device's tag in the dialog (RFC 4235 `local-tag`; a Replaces
    /// header's `from-tag`).
    pub device_tag: String,
    /// Baton's tag in the dialog (RFC 4235 `remote-tag`; a Replaces
    /// header's `to-tag`: Baton's local tag, RFC 3891 §3).
    pub baton_tag: String,
    /// True when the device sent the dialog's INVITE (RFC 4235
    /// `direction="initiator"`), false when Baton did (`recipient`).
    pub initiator: bool,
    /// The device's Contact URI (the device holding the call).
    pub device_contact: String,
    /// The remote party's identity (R's AOR).
    pub remote_identity: String,
    /// Where the dialog is.
    pub phase: DialogPhase,
    /// The remote party or the device put the call on hold.
    pub on_hold: bool,
}

/// The state of a [`UserDialog`] (RFC 4235 `<state>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogPhase {
    /// Ringing (a provisional response with a tag).
    Early,
    /// Answered.
    Confirmed,
    /// Over; `replaced` when a handover moved the call to another device
    /// (RFC 4235 `event="replaced"`), else a hang-up, cancel or failure.
    Terminated {
        /// Ended by a handover.
        replaced: bool,
    },
}

#[cfg(test)]
mod origins {
    use crate::ids::LegIndex;
    use crate::RequestOrigin;

    /// Baton's own requests are told apart by their kind, not by a leg
    /// number: the highest leg number a new device can get (`u16::MAX`,
    /// once the marker of Baton's own requests) is an ordinary leg.
    #[test]
    fn no_leg_is_taken_for_batons_own_requests() {
        for leg in [0, 1, LegIndex::FIRST_PULLED, u16::MAX] {
            let relayed = RequestOrigin::Leg(LegIndex(leg), 0);
            assert_ne!(relayed, RequestOrigin::Baton, "leg {leg}");
            assert!(matches!(relayed, RequestOrigin::Leg(LegIndex(l), 0) if l == leg));
        }
    }
}

#[cfg(test)]
mod sizes {
    use ractor::{Actor, ActorRef};
    use std::mem::size_of;

    /// Every message sent is boxed by ractor (its mailboxes hold
    /// `Box<dyn Any>`, not our types): keep the boxes small.
    #[test]
    fn actor_messages_stay_small() {
        assert!(
            size_of::<crate::CallMsg>() <= 128,
            "CallMsg is {} bytes",
            size_of::<crate::CallMsg>()
        );
        assert!(
            size_of::<crate::LegMsg>() <= 128,
            "LegMsg is {} bytes",
            size_of::<crate::LegMsg>()
        );
    }

    /// The size of the future an async fn item returns.
    fn future_size<'a, A: 'a, M, S: 'a, R>(
        _: impl FnOnce(&'a A, ActorRef<M>, M, &'a mut S) -> R,
    ) -> usize {
        size_of::<R>()
    }

    /// ractor boxes each actor's message loop once, for the actor's whole
    /// life, sized by the largest `handle` future; the task holds the state
    /// inline. Four actors per call (`memory_per_call.sh`): what is rare
    /// (a handover, a send, an unacknowledged response) is boxed.
    #[test]
    fn per_call_actor_memory_stays_small() {
        let sizes = [
            (
                "CallActor::handle",
                future_size(<crate::CallActor as Actor>::handle),
                512,
            ),
            (
                "LegActor::handle",
                future_size(<crate::leg::LegActor as Actor>::handle),
                512,
            ),
            (
                "MediaBridgeActor::handle",
                future_size(<crate::media::MediaBridgeActor as Actor>::handle),
                512,
            ),
            ("CallState", size_of::<crate::call::CallState>(), 1024),
            // 1,280 until issue 8: the device's signalling flow (every
            // in-dialog request is checked against it) and the transaction
            // layer's index of merged requests (RFC 3261 §8.2.2.2) each
            // leg now carries cost 24 bytes more.
            ("LegState", size_of::<crate::leg::LegState>(), 1312),
        ];
        for (what, size, bound) in sizes {
            assert!(size <= bound, "{what} is {size} bytes (at most {bound})");
        }
    }
}
