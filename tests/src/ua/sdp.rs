//! The test agent's SDP: just enough of RFC 8866 / RFC 3264 to offer one
//! audio stream and read the peer's address, port, codecs and direction.
//! Production SDP lives in `crates/sdp`; this one stays small on purpose,
//! so a test reads as the phone's point of view and never depends on the
//! code under test.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The media direction attribute (RFC 3264 §5.1, §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MediaDirection {
    /// `a=sendrecv` (also the default when absent).
    #[default]
    SendRecv,
    /// `a=sendonly`: the usual way to put the peer on hold.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl MediaDirection {
    /// The attribute name, without `a=`.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaDirection::SendRecv => "sendrecv",
            MediaDirection::SendOnly => "sendonly",
            MediaDirection::RecvOnly => "recvonly",
            MediaDirection::Inactive => "inactive",
        }
    }

    /// The direction an answerer that can both send and receive puts in
    /// its answer to an offer with this direction (RFC 3264 §6.1).
    pub fn answer(self) -> MediaDirection {
        match self {
            MediaDirection::SendRecv => MediaDirection::SendRecv,
            MediaDirection::SendOnly => MediaDirection::RecvOnly,
            MediaDirection::RecvOnly => MediaDirection::SendOnly,
            MediaDirection::Inactive => MediaDirection::Inactive,
        }
    }

    fn parse(attribute: &str) -> Option<MediaDirection> {
        Some(match attribute {
            "sendrecv" => MediaDirection::SendRecv,
            "sendonly" => MediaDirection::SendOnly,
            "recvonly" => MediaDirection::RecvOnly,
            "inactive" => MediaDirection::Inactive,
            _ => return None,
        })
    }
}

impl fmt::Display for MediaDirection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One RTP payload format of the `m=` line, with its `a=rtpmap`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Codec {
    /// The RTP payload type.
    pub payload_type: u8,
    /// The encoding name (`PCMU`, `telephone-event` …).
    pub name: String,
    /// The RTP clock rate.
    pub clock_rate: u32,
}

impl Codec {
    /// G.711 µ-law, static payload type 0.
    pub fn pcmu() -> Codec {
        Codec::new(0, "PCMU", 8000)
    }

    /// G.711 A-law, static payload type 8.
    pub fn pcma() -> Codec {
        Codec::new(8, "PCMA", 8000)
    }

    /// RFC 4733 telephone events on the dynamic payload type 101.
    pub fn telephone_event() -> Codec {
        Codec::new(101, "telephone-event", 8000)
    }

    /// Any other format.
    pub fn new(payload_type: u8, name: &str, clock_rate: u32) -> Codec {
        Codec {
            payload_type,
            name: name.to_string(),
            clock_rate,
        }
    }
}

/// A session description with one audio stream: what a phone offers or
/// answers, and what it reads back from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdp {
    /// The connection address (`c=`).
    pub addr: IpAddr,
    /// The RTP port (`m=audio PORT`); 0 means the stream is refused.
    pub port: u16,
    /// The payload formats, in preference order.
    pub codecs: Vec<Codec>,
    /// The direction attribute.
    pub direction: MediaDirection,
}

impl Sdp {
    /// An offer for `addr`/`port` with PCMU/0, PCMA/8 and
    /// telephone-event/101, `sendrecv`.
    pub fn offer(addr: SocketAddr) -> Sdp {
        Sdp {
            addr: addr.ip(),
            port: addr.port(),
            codecs: vec![Codec::pcmu(), Codec::pcma(), Codec::telephone_event()],
            direction: MediaDirection::SendRecv,
        }
    }

    /// The same description with another direction (hold: `SendOnly`).
    pub fn with_direction(&self, direction: MediaDirection) -> Sdp {
        Sdp {
            direction,
            ..self.clone()
        }
    }

    /// Where to send RTP for this description.
    pub fn rtp_addr(&self) -> SocketAddr {
        SocketAddr::new(self.addr, self.port)
    }

    /// The payload type of the first format with this encoding name
    /// (case-insensitive), e.g. `telephone-event`.
    pub fn payload_type_of(&self, name: &str) -> Option<u8> {
        self.codecs
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
            .map(|c| c.payload_type)
    }

    /// The first format that is not telephone-event: the audio codec an
    /// answerer would pick.
    pub fn audio_codec(&self) -> Option<&Codec> {
        self.codecs
            .iter()
            .find(|c| !c.name.eq_ignore_ascii_case("telephone-event"))
    }

    /// The body text, with the origin's session id and version (RFC 3264
    /// §8: the version goes up by one whenever the description changes).
    pub fn render(&self, session_id: u64, version: u64) -> String {
        let ip = match self.addr {
            IpAddr::V4(_) => "IP4",
            IpAddr::V6(_) => "IP6",
        };
        let mut out = format!(
            "v=0\r\no=- {session_id} {version} IN {ip} {addr}\r\ns=baton-test\r\nc=IN {ip} {addr}\r\nt=0 0\r\nm=audio {port} RTP/AVP",
            addr = self.addr,
            port = self.port
        );
        for c in &self.codecs {
            out.push_str(&format!(" {}", c.payload_type));
        }
        out.push_str("\r\n");
        for c in &self.codecs {
            out.push_str(&format!(
                "a=rtpmap:{} {}/{}\r\n",
                c.payload_type, c.name, c.clock_rate
            ));
            if c.name.eq_ignore_ascii_case("telephone-event") {
                out.push_str(&format!("a=fmtp:{} 0-16\r\n", c.payload_type));
            }
        }
        out.push_str(&format!("a=ptime:20\r\na={}\r\n", self.direction));
        out
    }

    /// Reads the first `m=audio` stream of a body: its address (media-level
    /// `c=` over session-level), port, formats (static ones named even
    /// without `a=rtpmap`) and direction (media-level over session-level,
    /// `sendrecv` when absent). `None` if there is no audio stream or no
    /// usable address.
    pub fn parse(body: &str) -> Option<Sdp> {
        let mut session_addr = None;
        let mut session_dir = None;
        let mut media: Option<(Option<IpAddr>, u16, Vec<u8>)> = None;
        let mut media_dir = None;
        let mut rtpmap: Vec<Codec> = Vec::new();
        let mut in_audio = false;
        let mut seen_m = false;
        for line in body.lines().map(str::trim_end) {
            let Some((kind, value)) = line.split_once('=') else {
                continue;
            };
            match kind {
                "m" => {
                    seen_m = true;
                    if media.is_some() {
                        // Only the first audio stream matters to a phone.
                        in_audio = false;
                        continue;
                    }
                    let mut words = value.split_whitespace();
                    in_audio = words.next() == Some("audio");
                    if in_audio {
                        let port = words.next()?.split('/').next()?.parse().ok()?;
                        let _proto = words.next()?;
                        let pts = words.filter_map(|p| p.parse().ok()).collect();
                        media = Some((None, port, pts));
                    }
                }
                "c" => {
                    let addr = value.split_whitespace().nth(2)?.split('/').next()?;
                    let addr: IpAddr = addr.parse().ok()?;
                    match media.as_mut() {
                        _ if !seen_m => session_addr = Some(addr),
                        Some(m) if in_audio => m.0 = Some(addr),
                        _ => {}
                    }
                }
                "a" => {
                    let (name, rest) = value.split_once(':').unwrap_or((value, ""));
                    if let Some(d) = MediaDirection::parse(name) {
                        if !seen_m {
                            session_dir = Some(d);
                        } else if in_audio {
                            media_dir = Some(d);
                        }
                    } else if name == "rtpmap" && in_audio {
                        let (pt, enc) = rest.split_once(' ')?;
                        let mut enc = enc.split('/');
                        let name = enc.next()?.to_string();
                        let clock_rate = enc.next().and_then(|r| r.parse().ok()).unwrap_or(8000);
                        rtpmap.push(Codec {
                            payload_type: pt.parse().ok()?,
                            name,
                            clock_rate,
                        });
                    }
                }
                _ => {}
            }
        }
        let (addr, port, pts) = media?;
        let codecs = pts
            .into_iter()
            .filter_map(|pt| {
                rtpmap
                    .iter()
                    .find(|c| c.payload_type == pt)
                    .cloned()
                    .or_else(|| static_codec(pt))
            })
            .collect();
        Some(Sdp {
            addr: addr.or(session_addr)?,
            port,
            codecs,
            direction: media_dir
                .or(session_dir)
                .unwrap_or(MediaDirection::SendRecv),
        })
    }

    /// True when this description puts the other side on hold: a direction
    /// without `recv`, or the RFC 2543 `c=0.0.0.0`.
    pub fn is_hold(&self) -> bool {
        matches!(
            self.direction,
            MediaDirection::SendOnly | MediaDirection::Inactive
        ) || self.addr == IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    }
}

/// RFC 3551 static payload types a test may meet without `a=rtpmap`.
fn static_codec(pt: u8) -> Option<Codec> {
    match pt {
        0 => Some(Codec::pcmu()),
        8 => Some(Codec::pcma()),
        9 => Some(Codec::new(9, "G722", 8000)),
        18 => Some(Codec::new(18, "G729", 8000)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offer_renders_and_reads_back() {
        let sdp = Sdp::offer("127.0.0.1:40000".parse().expect("addr"))
            .with_direction(MediaDirection::SendOnly);
        let text = sdp.render(7, 2);
        assert!(text.contains("o=- 7 2 IN IP4 127.0.0.1\r\n"), "{text}");
        assert!(text.contains("m=audio 40000 RTP/AVP 0 8 101\r\n"), "{text}");
        assert_eq!(Sdp::parse(&text), Some(sdp));
    }

    #[test]
    fn media_level_lines_win_and_static_types_need_no_rtpmap() {
        let text =
            "v=0\r\no=x 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\na=inactive\r\n\
                    m=audio 5004 RTP/AVP 8 0\r\nc=IN IP4 10.0.0.2\r\na=recvonly\r\n\
                    m=video 5006 RTP/AVP 96\r\na=sendonly\r\n";
        let sdp = Sdp::parse(text).expect("audio");
        assert_eq!(sdp.rtp_addr(), "10.0.0.2:5004".parse().expect("addr"));
        assert_eq!(sdp.direction, MediaDirection::RecvOnly);
        assert_eq!(sdp.codecs, vec![Codec::pcma(), Codec::pcmu()]);
        assert_eq!(sdp.audio_codec().map(|c| c.payload_type), Some(8));
    }

    #[test]
    fn answers_mirror_the_offered_direction() {
        assert_eq!(MediaDirection::SendOnly.answer(), MediaDirection::RecvOnly);
        assert_eq!(MediaDirection::RecvOnly.answer(), MediaDirection::SendOnly);
        assert_eq!(MediaDirection::Inactive.answer(), MediaDirection::Inactive);
        assert_eq!(MediaDirection::SendRecv.answer(), MediaDirection::SendRecv);
    }
}
