//! Policy checks on a parsed description: what Baton refuses to relay.

use std::net::{IpAddr, Ipv4Addr};

use crate::session_description::connection_ip;
use crate::{SdpError, SessionDescription};

/// How a stream of a valid description stands, from
/// [`SessionDescription::validate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamState {
    /// Port and address set: media flows (in the stream's direction).
    Active,
    /// Port 0: rejected in an answer, removed in a re-offer (RFC 3264 §6,
    /// §8.2). Legal; the stream keeps its place in the m-line order.
    Disabled,
    /// Connection address `0.0.0.0`: an RFC 2543 hold (RFC 3264 §8.4).
    /// Legal; nobody may send media to it.
    LegacyHold,
}

impl SessionDescription {
    /// Checks what a parsed description must also satisfy before Baton
    /// relays it, and classifies each stream. Call it after
    /// [`parse`](Self::parse) on every description received from a peer.
    ///
    /// Refused:
    /// - a multicast, limited-broadcast (`255.255.255.255`) or IPv6
    ///   unspecified (`::`) connection address at the session level or on
    ///   an active stream ([`SdpError::ForbiddenAddress`]): a B2BUA relays
    ///   unicast calls, and such an address would turn the relay into a
    ///   reflector. IPv4 `0.0.0.0` is not refused: it is the legacy hold.
    /// - an active stream with no connection address at either level
    ///   ([`SdpError::MissingConnection`]).
    ///
    /// Payload types out of range and floods of `m=` lines are refused
    /// earlier, by [`parse`](Self::parse).
    pub fn validate(&self) -> Result<Vec<StreamState>, SdpError> {
        if let Some(address) = self.connection_address() {
            if is_forbidden(address) {
                return Err(SdpError::ForbiddenAddress {
                    media: None,
                    address,
                });
            }
        }
        let mut states = Vec::with_capacity(self.media_count());
        for (index, media) in self.inner.medias.iter().enumerate() {
            if media.port == 0 {
                states.push(StreamState::Disabled);
                continue;
            }
            if let Some(address) = media
                .connections
                .iter()
                .filter_map(connection_ip)
                .find(|address| is_forbidden(*address))
            {
                return Err(SdpError::ForbiddenAddress {
                    media: Some(index),
                    address,
                });
            }
            let view = self.media(index);
            match view.and_then(|media| media.connection_address()) {
                None => return Err(SdpError::MissingConnection { media: index }),
                Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)) => states.push(StreamState::LegacyHold),
                Some(_) => states.push(StreamState::Active),
            }
        }
        Ok(states)
    }
}

/// Multicast, IPv4 limited broadcast or IPv6 unspecified: addresses a
/// unicast relay must never send to. IPv4 `0.0.0.0` is the legacy hold and
/// handled apart.
pub(crate) fn is_forbidden(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => v4.is_multicast() || v4.is_broadcast(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            // `::ffff:224.0.0.1` reaches the same group as `224.0.0.1`.
            Some(v4) => v4.is_multicast() || v4.is_broadcast() || v4.is_unspecified(),
            None => v6.is_multicast() || v6.is_unspecified(),
        },
    }
}
