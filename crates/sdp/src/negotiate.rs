//! RFC 3264 offer/answer, for the descriptions Baton answers itself:
//! re-offers on an anchored call, and a new device's offer at handover.

use std::net::Ipv4Addr;

use crate::{Codec, CodecSpec, Media, OriginRewriter, SdpError, SessionDescription};

/// The port an accepted stream carries until it is anchored: 9, the
/// discard port, which RFC 8840 also uses for "not known yet".
pub const UNANCHORED_PORT: u16 = 9;

/// Answers `offer` with the formats of `supported` (RFC 3264 §6).
///
/// For each offered stream, in order (the answer has as many `m=` lines as
/// the offer):
/// - An RTP/AVP or RTP/AVPF stream with at least one codec in `supported`
///   is accepted with the intersection, in the offerer's order and with
///   the offerer's payload type numbers and `a=rtpmap`/`a=fmtp` lines
///   (RFC 3264 §6.1). `telephone-event` is kept when offered, at the clock
///   rate of a kept codec (else the first offered), since the relay
///   carries DTMF through. `a=ptime` is echoed. The direction is the
///   offer's answered ([`Direction::answer`](crate::Direction::answer)).
/// - Any other stream is rejected with port 0 (RFC 3264 §6): already
///   disabled, no common codec, not RTP, or SRTP, which the relay does not
///   terminate.
///
/// The answer is not ready to send: accepted streams carry port
/// [`UNANCHORED_PORT`] and no connection address, so
/// [`validate`](SessionDescription::validate) refuses it until each is
/// [`anchor`](SessionDescription::anchor)ed, and its origin is a
/// placeholder for [`OriginRewriter::rewrite`].
///
/// Fails with [`SdpError::NoCommonCodec`] (a `488`) when no stream is
/// accepted.
pub fn negotiate(
    offer: &SessionDescription,
    supported: &[CodecSpec],
) -> Result<SessionDescription, SdpError> {
    let medias: Vec<sdp_types::Media> = offer
        .medias()
        .map(|media| answer_media(&media, supported))
        .collect();
    if medias.iter().all(|media| media.port == 0) {
        return Err(SdpError::NoCommonCodec);
    }
    let mut origin = sdp_types::Origin::with_ip_addr(0, 0, Ipv4Addr::UNSPECIFIED);
    origin.set_username(OriginRewriter::USERNAME);
    let mut session = sdp_types::Session::new(origin, "-");
    session.add_time(sdp_types::Time::new(0, 0));
    session.add_medias(medias);
    Ok(SessionDescription { inner: session })
}

/// Whether `offer` can carry the call's codec: some active RTP stream offers
/// the same format (name without case, clock rate, channels), whatever its
/// payload type number. At handover a new device's offer that fails this is
/// answered `488`, since the far side keeps sending the call's codec.
pub fn codec_matches(call_codec: &Codec, offer: &SessionDescription) -> bool {
    offer
        .medias()
        .filter(|media| !media.is_disabled() && media.protocol().is_rtp())
        .any(|media| {
            media
                .codecs()
                .iter()
                .any(|codec| codec.same_format(call_codec))
        })
}

fn answer_media(offered: &Media<'_>, supported: &[CodecSpec]) -> sdp_types::Media {
    let protocol = offered.protocol();
    let codecs = if offered.is_disabled() || !protocol.is_rtp() || protocol.is_secure() {
        Vec::new()
    } else {
        offered.codecs()
    };
    let chosen: Vec<&Codec> = codecs
        .iter()
        .filter(|codec| {
            !codec.is_telephone_event() && supported.iter().any(|spec| spec.matches(codec))
        })
        .collect();
    if chosen.is_empty() {
        return rejected(offered);
    }
    let events: Vec<&Codec> = codecs.iter().filter(|c| c.is_telephone_event()).collect();
    let event = events
        .iter()
        .find(|event| chosen.iter().any(|c| c.clock_rate == event.clock_rate))
        .or(events.first());
    let kept: Vec<&Codec> = codecs
        .iter()
        .filter(|codec| {
            chosen.iter().any(|c| c.payload_type == codec.payload_type)
                || event.is_some_and(|e| e.payload_type == codec.payload_type)
        })
        .collect();

    let formats: Vec<String> = kept.iter().map(|c| c.payload_type.to_string()).collect();
    let mut media = sdp_types::Media {
        media: offered.media_type().to_owned(),
        port: UNANCHORED_PORT,
        num_ports: None,
        proto: offered.protocol_name().to_owned(),
        fmt: formats.join(" "),
        media_title: None,
        connections: Vec::new(),
        bandwidths: Vec::new(),
        key: None,
        attributes: Vec::new(),
    };
    for codec in kept {
        media.add_attribute_with_value("rtpmap", codec.rtpmap_value());
        if let Some(fmtp) = &codec.fmtp {
            media.add_attribute_with_value("fmtp", format!("{} {fmtp}", codec.payload_type));
        }
    }
    if let Some(ptime) = offered.ptime() {
        media.add_attribute_with_value("ptime", ptime);
    }
    media.add_attribute(sdp_types::Attribute::new(
        offered.direction().answer().as_str(),
    ));
    media
}

/// A stream answered with port 0, its formats as offered (RFC 3264 §6:
/// "at least one" format must be listed, and the offered ones are safe).
fn rejected(offered: &Media<'_>) -> sdp_types::Media {
    let formats: Vec<&str> = offered.formats().collect();
    sdp_types::Media {
        media: offered.media_type().to_owned(),
        port: 0,
        num_ports: None,
        proto: offered.protocol_name().to_owned(),
        fmt: formats.join(" "),
        media_title: None,
        connections: Vec::new(),
        bandwidths: Vec::new(),
        key: None,
        attributes: Vec::new(),
    }
}
