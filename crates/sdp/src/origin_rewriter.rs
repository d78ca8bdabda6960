use std::net::IpAddr;

use crate::{Origin, SessionDescription};

/// Gives every description Baton sends on one leg the same `o=` line, with
/// Baton's own user name, session id and address, and a version that
/// follows RFC 3264 §8: one more for each changed description, the same for
/// an unchanged one.
///
/// Keep one per leg for the life of the dialog. The devices' own `o=` lines
/// never cross Baton: they change when a device is swapped (handover),
/// which the far side must not see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginRewriter {
    session_id: u64,
    address: IpAddr,
    version: u64,
    /// The last description written, with the origin left out.
    last: Option<Vec<u8>>,
}

impl OriginRewriter {
    /// The user name Baton writes in `o=`.
    pub const USERNAME: &'static str = "baton";

    /// The first version written on a leg.
    pub const FIRST_VERSION: u64 = 1;

    /// A rewriter for a new leg. `session_id` must be unique to the leg
    /// (RFC 8866 §5.2 suggests an NTP timestamp; this crate has no clock,
    /// so the caller picks it); `address` is Baton's own address on that
    /// leg.
    pub fn new(session_id: u64, address: IpAddr) -> Self {
        OriginRewriter {
            session_id,
            address,
            version: Self::FIRST_VERSION,
            last: None,
        }
    }

    /// Sets `description`'s `o=` to ours. The version goes up by one when
    /// the rest of the description differs from the last one rewritten,
    /// and stays when it is the same (a re-INVITE that only refreshes the
    /// session, or a device that bumped its own version for nothing). Call
    /// it last, after [`anchor`](SessionDescription::anchor), on every
    /// description sent on the leg.
    pub fn rewrite(&mut self, description: &mut SessionDescription) {
        description.inner.origin = self.sdp_types_origin(0);
        let body = description.to_bytes();
        match &self.last {
            Some(last) if *last == body => {}
            Some(_) => {
                self.version = self.version.saturating_add(1);
                self.last = Some(body);
            }
            None => self.last = Some(body),
        }
        description.inner.origin = self.sdp_types_origin(self.version);
    }

    /// The `o=` line the next unchanged description will carry.
    pub fn origin(&self) -> Origin {
        Origin::from_sdp_types(&self.sdp_types_origin(self.version))
    }

    fn sdp_types_origin(&self, version: u64) -> sdp_types::Origin {
        let mut origin = sdp_types::Origin::with_ip_addr(self.session_id, version, self.address);
        origin.set_username(Self::USERNAME);
        origin
    }
}
