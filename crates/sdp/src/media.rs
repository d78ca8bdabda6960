use std::net::{IpAddr, Ipv4Addr};

use crate::session_description::{connection_ip, declared_direction, parse_payload_type};
use crate::{Attribute, Codec, Direction, MediaKind, Rtcp, TransportProtocol};

/// One media description (an `m=` line and what follows it), borrowed from
/// a [`SessionDescription`](crate::SessionDescription). Session-level
/// defaults (connection address, direction) are already applied.
#[derive(Debug, Clone, Copy)]
pub struct Media<'a> {
    session: &'a sdp_types::Session,
    media: &'a sdp_types::Media,
    index: usize,
}

impl<'a> Media<'a> {
    pub(crate) fn new(
        session: &'a sdp_types::Session,
        media: &'a sdp_types::Media,
        index: usize,
    ) -> Self {
        Media {
            session,
            media,
            index,
        }
    }

    /// Position of this description among the `m=` lines, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Audio, video or other.
    pub fn kind(&self) -> MediaKind {
        MediaKind::from_media_type(&self.media.media)
    }

    /// The media type as written (`audio`, `image`, …).
    pub fn media_type(&self) -> &'a str {
        &self.media.media
    }

    /// The port of `m=`; 0 means the stream is disabled (RFC 3264 §5.1).
    pub fn port(&self) -> u16 {
        self.media.port
    }

    /// The number of ports of `m=<type> <port>/<count>`, when written.
    pub fn port_count(&self) -> Option<u16> {
        self.media.num_ports
    }

    /// Whether the port is 0: a stream rejected in an answer or removed in
    /// a re-offer (RFC 3264 §6, §8.2).
    pub fn is_disabled(&self) -> bool {
        self.media.port == 0
    }

    /// The transport protocol of `m=`.
    pub fn protocol(&self) -> TransportProtocol {
        TransportProtocol::from_proto(&self.media.proto)
    }

    /// The transport protocol as written (`RTP/AVP`, `udptl`, …).
    pub fn protocol_name(&self) -> &'a str {
        &self.media.proto
    }

    /// The formats of `m=` as written, in order.
    pub fn formats(&self) -> impl Iterator<Item = &'a str> {
        self.media.fmt.split_ascii_whitespace()
    }

    /// The payload types of an RTP stream, in the writer's order of
    /// preference; empty for a stream that is not RTP.
    pub fn payload_types(&self) -> Vec<u8> {
        if !self.protocol().is_rtp() {
            return Vec::new();
        }
        self.formats().filter_map(parse_payload_type).collect()
    }

    /// The codecs of an RTP stream, in the writer's order of preference:
    /// each payload type with its `a=rtpmap` (or its RFC 3551 static
    /// assignment when there is none) and its `a=fmtp`. A dynamic payload
    /// type without a readable rtpmap is left out, since nobody can know
    /// what it is.
    pub fn codecs(&self) -> Vec<Codec> {
        self.payload_types()
            .into_iter()
            .filter_map(|pt| self.codec(pt))
            .collect()
    }

    /// The codec for one payload type, as [`codecs`](Self::codecs) reads it.
    pub fn codec(&self, payload_type: u8) -> Option<Codec> {
        let mut codec = self
            .attribute_values("rtpmap")
            .filter_map(Codec::from_rtpmap)
            .find(|codec| codec.payload_type == payload_type)
            .or_else(|| Codec::from_static(payload_type))?;
        codec.fmtp = self.fmtp(payload_type).map(str::to_owned);
        Some(codec)
    }

    /// The RFC 4733 `telephone-event` payload type: the one whose clock rate
    /// matches the preferred codec, else the first offered.
    pub fn telephone_event(&self) -> Option<u8> {
        let codecs = self.codecs();
        let preferred_rate = codecs
            .iter()
            .find(|codec| !codec.is_telephone_event())
            .map(|codec| codec.clock_rate);
        let mut events = codecs.iter().filter(|codec| codec.is_telephone_event());
        let first = events.clone().next()?;
        events
            .find(|event| Some(event.clock_rate) == preferred_rate)
            .or(Some(first))
            .map(|event| event.payload_type)
    }

    /// `a=ptime` in milliseconds (RFC 8866 §6.4); `None` when absent or
    /// unreadable.
    pub fn ptime(&self) -> Option<u32> {
        self.attribute_values("ptime")
            .next()
            .and_then(|value| value.trim().parse().ok())
    }

    /// `a=rtcp` (RFC 3605); `None` when absent or unreadable.
    pub fn rtcp(&self) -> Option<Rtcp> {
        self.attribute_values("rtcp").next().and_then(Rtcp::parse)
    }

    /// Where media for this stream goes: its own `c=` address, else the
    /// session-level one (RFC 8866 §5.7).
    pub fn connection_address(&self) -> Option<IpAddr> {
        self.own_connection_address()
            .or_else(|| self.session.connection.as_ref().and_then(connection_ip))
    }

    /// The stream's own `c=` address, ignoring the session level.
    pub fn own_connection_address(&self) -> Option<IpAddr> {
        self.media.connections.first().and_then(connection_ip)
    }

    /// Whether the stream is on hold the RFC 2543 way, with its connection
    /// address set to `0.0.0.0` (RFC 3264 §8.4 still asks answerers to
    /// understand it).
    pub fn is_legacy_hold(&self) -> bool {
        self.connection_address() == Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    /// The direction the writer asks for: the media-level attribute, else
    /// the session-level one, else `sendrecv` (RFC 8866 §6.7). A legacy
    /// hold removes the receiving half, since nobody can send to 0.0.0.0.
    pub fn direction(&self) -> Direction {
        let declared = self.declared_direction().unwrap_or_default();
        if self.is_legacy_hold() {
            declared.without_receive()
        } else {
            declared
        }
    }

    /// The direction written for this stream (media level, else session
    /// level), without the legacy-hold reading; `None` when neither level
    /// has one.
    pub fn declared_direction(&self) -> Option<Direction> {
        declared_direction(&self.media.attributes)
            .or_else(|| declared_direction(&self.session.attributes))
    }

    /// The media-level attributes, in order.
    pub fn attributes(&self) -> impl Iterator<Item = Attribute<'a>> {
        self.media.attributes.iter().map(Attribute::from_sdp_types)
    }

    /// Whether a media-level attribute of that name (ignoring case) is present.
    pub fn has_attribute(&self, name: &str) -> bool {
        self.attributes()
            .any(|attribute| attribute.name.eq_ignore_ascii_case(name))
    }

    /// The values of the media-level attributes named `name` (ignoring case).
    fn attribute_values(&self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.attributes()
            .filter(move |attribute| attribute.name.eq_ignore_ascii_case(name))
            .filter_map(|attribute| attribute.value)
    }

    /// The parameters of `a=fmtp:<pt> <parameters>`, as written.
    fn fmtp(&self, payload_type: u8) -> Option<&'a str> {
        self.attribute_values("fmtp").find_map(|value| {
            let value = value.trim_start();
            let (format, parameters) = value
                .split_once(|c: char| c.is_ascii_whitespace())
                .unwrap_or((value, ""));
            (parse_payload_type(format) == Some(payload_type)).then(|| parameters.trim())
        })
    }
}
