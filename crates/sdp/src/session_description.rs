use std::fmt;
use std::net::IpAddr;

use crate::{Attribute, Direction, Limits, Media, Origin, SdpError, TransportProtocol};

/// A parsed SDP body (RFC 8866).
///
/// Everything a peer sent is kept, in order, and printed back as it came,
/// except for what Baton rewrites on purpose ([`anchor`](Self::anchor),
/// [`OriginRewriter`](crate::OriginRewriter)). Line types that RFC 8866 does
/// not define (such as GB28181's `y=`) are dropped; media attach to the
/// `m=` line they follow; `c=` lines are printed before `a=` lines.
///
/// A description that parsed holds only IP-literal connection addresses
/// and, in RTP streams, only payload types in 0–127, so the accessors need
/// not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    pub(crate) inner: sdp_types::Session,
}

impl SessionDescription {
    /// Parses an SDP body within [`Limits::DEFAULT`]. Call it on the body
    /// of every INVITE, re-INVITE, UPDATE, 18x/2xx and ACK that carries
    /// `application/sdp`.
    pub fn parse(bytes: &[u8]) -> Result<Self, SdpError> {
        Self::parse_with_limits(bytes, &Limits::DEFAULT)
    }

    /// Parses an SDP body within `limits`.
    ///
    /// The caps are checked on the raw bytes before anything is parsed.
    /// The syntax is sdp-types's (lenient about line order and missing
    /// `o=`/`s=`/`t=`, strict about `v=`, numbers, NUL and bare CR; a
    /// missing `t=` reads as `t=0 0`, as it is printed). On top
    /// of it, connection addresses must be IP literals and RTP formats
    /// payload types in 0–127. Policy checks live in
    /// [`validate`](Self::validate).
    pub fn parse_with_limits(bytes: &[u8], limits: &Limits) -> Result<Self, SdpError> {
        if bytes.len() > limits.max_bytes {
            return Err(SdpError::TooLarge {
                size: bytes.len(),
                limit: limits.max_bytes,
            });
        }
        check_line_counts(bytes, limits)?;
        let mut inner = sdp_types::Session::parse(bytes).map_err(SdpError::from_parser)?;
        if inner.times.is_empty() {
            // sdp-types prints `t=0 0` for a body without `t=`; reading it
            // the same way keeps parse → print → parse stable.
            inner.times.push(sdp_types::Time::new(0, 0));
        }
        let description = SessionDescription { inner };
        description.check_structure()?;
        Ok(description)
    }

    /// The body as bytes, CRLF-terminated, ready for a SIP message.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(512);
        self.inner
            .write(&mut bytes)
            .expect("writing to a Vec cannot fail");
        bytes
    }

    /// The `o=` line. A body without one reads as `- 0 0 IN IP4 0.0.0.0`.
    pub fn origin(&self) -> Origin {
        Origin::from_sdp_types(&self.inner.origin)
    }

    /// The `s=` line; empty when absent.
    pub fn session_name(&self) -> &str {
        &self.inner.session_name
    }

    /// The session-level `c=` address, the default for every media
    /// description without its own.
    pub fn connection_address(&self) -> Option<IpAddr> {
        self.inner.connection.as_ref().and_then(connection_ip)
    }

    /// The session-level direction attribute, the default for media that
    /// have none (RFC 8866 §6.7); `None` when absent.
    pub fn direction(&self) -> Option<Direction> {
        declared_direction(&self.inner.attributes)
    }

    /// The session-level attributes, in order.
    pub fn attributes(&self) -> impl Iterator<Item = Attribute<'_>> {
        self.inner.attributes.iter().map(Attribute::from_sdp_types)
    }

    /// How many media descriptions (`m=` lines) there are.
    pub fn media_count(&self) -> usize {
        self.inner.medias.len()
    }

    /// The media description at `index` (0-based, in `m=` order).
    pub fn media(&self, index: usize) -> Option<Media<'_>> {
        self.inner
            .medias
            .get(index)
            .map(|media| Media::new(&self.inner, media, index))
    }

    /// Every media description, in `m=` order.
    pub fn medias(&self) -> impl Iterator<Item = Media<'_>> {
        self.inner
            .medias
            .iter()
            .enumerate()
            .map(|(index, media)| Media::new(&self.inner, media, index))
    }

    /// Replaces the media-level direction attribute of one stream with
    /// `direction`, at the place of the old one (or last). Use it to put a
    /// leg on hold or to answer a stream one way.
    pub fn set_direction(
        &mut self,
        media_index: usize,
        direction: Direction,
    ) -> Result<(), SdpError> {
        let count = self.media_count();
        let media = self
            .inner
            .medias
            .get_mut(media_index)
            .ok_or(SdpError::NoSuchMedia {
                index: media_index,
                count,
            })?;
        let position = media.attributes.iter().position(is_direction);
        media
            .attributes
            .retain(|attribute| !is_direction(attribute));
        let attribute = sdp_types::Attribute::new(direction.as_str());
        match position {
            Some(position) => media.attributes.insert(position, attribute),
            None => media.attributes.push(attribute),
        }
        Ok(())
    }

    /// The checks that make the accessors total: IP-literal connection
    /// addresses, payload types in range.
    fn check_structure(&self) -> Result<(), SdpError> {
        if let Some(connection) = &self.inner.connection {
            if connection_ip(connection).is_none() {
                return Err(SdpError::InvalidConnection { media: None });
            }
        }
        for (index, media) in self.inner.medias.iter().enumerate() {
            if media
                .connections
                .iter()
                .any(|connection| connection_ip(connection).is_none())
            {
                return Err(SdpError::InvalidConnection { media: Some(index) });
            }
            if TransportProtocol::from_proto(&media.proto).is_rtp() {
                let mut formats = media.fmt.split_ascii_whitespace().peekable();
                if formats.peek().is_none() {
                    return Err(SdpError::InvalidPayloadType { media: index });
                }
                if formats.any(|format| parse_payload_type(format).is_none()) {
                    return Err(SdpError::InvalidPayloadType { media: index });
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every field is a `String`, so the bytes are UTF-8.
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

/// Counts `m=` and `a=` lines on the raw bytes, so that a flood of them is
/// refused before the parser allocates anything for it.
fn check_line_counts(bytes: &[u8], limits: &Limits) -> Result<(), SdpError> {
    let (mut media, mut attributes) = (0usize, 0usize);
    for line in bytes.split(|&byte| byte == b'\n') {
        match line {
            [b'm', b'=', ..] => {
                media += 1;
                if media > limits.max_media {
                    return Err(SdpError::TooManyMedia {
                        limit: limits.max_media,
                    });
                }
            }
            [b'a', b'=', ..] => {
                attributes += 1;
                if attributes > limits.max_attributes {
                    return Err(SdpError::TooManyAttributes {
                        limit: limits.max_attributes,
                    });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The IP of a `c=` line: `IN IP4 <v4>` or `IN IP6 <v6>`, with an optional
/// multicast TTL or count (RFC 8866 §5.7).
pub(crate) fn connection_ip(connection: &sdp_types::Connection) -> Option<IpAddr> {
    if connection.nettype != sdp_types::NetType::In {
        return None;
    }
    let ip = connection.try_address().ok()?.ip;
    let family_matches = match connection.addrtype {
        sdp_types::AddrType::Ip4 => ip.is_ipv4(),
        sdp_types::AddrType::Ip6 => ip.is_ipv6(),
        sdp_types::AddrType::Other(_) => false,
    };
    family_matches.then_some(ip)
}

/// A payload type: a decimal number in 0–127 (RFC 3551 §3).
pub(crate) fn parse_payload_type(format: &str) -> Option<u8> {
    if format.is_empty() || !format.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    format.parse::<u8>().ok().filter(|pt| *pt <= 127)
}

/// The first direction attribute in `attributes`.
pub(crate) fn declared_direction(attributes: &[sdp_types::Attribute]) -> Option<Direction> {
    attributes.iter().find_map(|attribute| {
        Direction::from_attribute(&attribute.attribute, attribute.value.as_deref())
    })
}

fn is_direction(attribute: &sdp_types::Attribute) -> bool {
    Direction::from_attribute(&attribute.attribute, attribute.value.as_deref()).is_some()
}
