//! Rewriting a description so that its media flow through Baton's relay.

use std::net::IpAddr;

use crate::{Attribute, Rtcp, SdpError, SessionDescription};

impl SessionDescription {
    /// Points one stream at the relay: the far side will send its media to
    /// `relay_addr:relay_port` and its RTCP to `relay_port + 1`. Call it for
    /// every active stream of every description that crosses Baton, before
    /// [`OriginRewriter::rewrite`](crate::OriginRewriter::rewrite).
    ///
    /// - `m=` takes `relay_port` (a `/<count>` suffix is dropped: the relay
    ///   gives one port pair).
    /// - The stream's effective `c=` becomes `relay_addr`. The session-level
    ///   `c=`, if any, also becomes `relay_addr`, so the device's own address
    ///   does not travel further; a stream that still relied on the old
    ///   session-level address gets it as its own `c=`, so no other stream
    ///   changes. A stream `c=` equal to the session one is left out, so a
    ///   one-stream description keeps its shape.
    /// - `a=rtcp` becomes `relay_port + 1` with `relay_addr` (RFC 3605).
    /// - ICE goes (`a=candidate`, `a=remote-candidates`,
    ///   `a=end-of-candidates`, every `a=ice-*`, at both levels): the relay is
    ///   the only address the far side may use, and candidates would lead it
    ///   around the relay.
    /// - Every other attribute stays, in order.
    pub fn anchor(
        &mut self,
        media_index: usize,
        relay_addr: IpAddr,
        relay_port: u16,
    ) -> Result<(), SdpError> {
        let count = self.media_count();
        if media_index >= count {
            return Err(SdpError::NoSuchMedia {
                index: media_index,
                count,
            });
        }
        if relay_port == 0 || relay_port == u16::MAX {
            return Err(SdpError::InvalidRelayPort { port: relay_port });
        }
        if crate::stream_state::is_forbidden(relay_addr) || relay_addr.is_unspecified() {
            return Err(SdpError::ForbiddenAddress {
                media: Some(media_index),
                address: relay_addr,
            });
        }

        let relay = sdp_types::Connection::from_ip_addr(relay_addr);
        let session = &mut self.inner;

        if let Some(session_connection) = session.connection.as_mut() {
            let previous = std::mem::replace(session_connection, relay.clone());
            // Streams that inherited the old session-level address keep it.
            for (index, media) in session.medias.iter_mut().enumerate() {
                if index != media_index
                    && media.port != 0
                    && media.connections.is_empty()
                    && previous != relay
                {
                    media.connections.push(previous.clone());
                }
            }
        }
        session
            .attributes
            .retain(|attribute| !Attribute::from_sdp_types(attribute).is_ice());

        let media = &mut session.medias[media_index];
        media.port = relay_port;
        media.num_ports = None;
        media.connections = if session.connection.as_ref() == Some(&relay) {
            Vec::new()
        } else {
            vec![relay]
        };
        media
            .attributes
            .retain(|attribute| !Attribute::from_sdp_types(attribute).is_ice());
        for attribute in &mut media.attributes {
            if attribute.attribute.eq_ignore_ascii_case("rtcp") {
                attribute.value = Some(Rtcp::value_for(relay_port + 1, relay_addr));
            }
        }
        Ok(())
    }
}
