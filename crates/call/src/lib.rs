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
pub mod ids;
mod leg;
pub mod log;
mod media;
pub mod metrics;
mod net;

pub use call::{CallActor, CallArgs, CallMsg};
pub use leg::{LegEvent, LegMsg};
pub use net::{to_flow, to_target, SignallingContext};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallNotice {
    /// The call's actors have stopped: forget its routes.
    Gone(ids::CallNumber),
}

#[cfg(test)]
mod sizes {
    /// Mailbox slots are sized by the largest message: keep them small.
    #[test]
    fn actor_messages_stay_small() {
        assert!(
            std::mem::size_of::<crate::CallMsg>() <= 128,
            "CallMsg is {} bytes",
            std::mem::size_of::<crate::CallMsg>()
        );
        assert!(
            std::mem::size_of::<crate::LegMsg>() <= 128,
            "LegMsg is {} bytes",
            std::mem::size_of::<crate::LegMsg>()
        );
    }
}
