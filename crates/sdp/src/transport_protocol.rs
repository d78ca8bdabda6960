/// The transport protocol of a media description (the `<proto>` of `m=`,
/// RFC 8866 §5.14), read case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportProtocol {
    /// `RTP/AVP` (RFC 3551), what desk phones send.
    RtpAvp,
    /// `RTP/AVPF` (RFC 4585).
    RtpAvpf,
    /// `RTP/SAVP` (RFC 3711, SDES keys in `a=crypto`).
    RtpSavp,
    /// `RTP/SAVPF` (RFC 5124).
    RtpSavpf,
    /// `UDP/TLS/RTP/SAVP` (RFC 5764, DTLS-SRTP).
    UdpTlsRtpSavp,
    /// `UDP/TLS/RTP/SAVPF` (RFC 5764), what browsers send.
    UdpTlsRtpSavpf,
    /// `TCP/DTLS/RTP/SAVP` (RFC 7850).
    TcpDtlsRtpSavp,
    /// `TCP/DTLS/RTP/SAVPF` (RFC 7850).
    TcpDtlsRtpSavpf,
    /// `udp` (RFC 8866).
    Udp,
    /// `udptl` (T.38 fax, ITU-T T.38 Annex D).
    Udptl,
    /// Anything else (`TCP/MSRP`, `UDP/BFCP`, `DTLS/SCTP`, …);
    /// [`Media::protocol_name`](crate::Media::protocol_name) has the name.
    Other,
}

impl TransportProtocol {
    pub(crate) fn from_proto(proto: &str) -> Self {
        use sdp_types::TransportProto as T;
        match T::from(proto) {
            T::RtpAvp => Self::RtpAvp,
            T::RtpAvpf => Self::RtpAvpf,
            T::RtpSavp => Self::RtpSavp,
            T::RtpSavpf => Self::RtpSavpf,
            T::UdpTlsRtpSavp => Self::UdpTlsRtpSavp,
            T::UdpTlsRtpSavpf => Self::UdpTlsRtpSavpf,
            T::TcpDtlsRtpSavp => Self::TcpDtlsRtpSavp,
            T::TcpDtlsRtpSavpf => Self::TcpDtlsRtpSavpf,
            T::Udp => Self::Udp,
            T::Other(other) if other.eq_ignore_ascii_case("udptl") => Self::Udptl,
            _ => Self::Other,
        }
    }

    /// Whether the stream is RTP, so that its formats are payload types.
    pub fn is_rtp(self) -> bool {
        matches!(
            self,
            Self::RtpAvp
                | Self::RtpAvpf
                | Self::RtpSavp
                | Self::RtpSavpf
                | Self::UdpTlsRtpSavp
                | Self::UdpTlsRtpSavpf
                | Self::TcpDtlsRtpSavp
                | Self::TcpDtlsRtpSavpf
        )
    }

    /// Whether the stream is SRTP (SDES or DTLS keyed), which Baton's
    /// relay does not terminate.
    pub fn is_secure(self) -> bool {
        self.is_rtp() && !matches!(self, Self::RtpAvp | Self::RtpAvpf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_profiles_case_insensitively() {
        assert_eq!(
            TransportProtocol::from_proto("rtp/avp"),
            TransportProtocol::RtpAvp
        );
        assert_eq!(
            TransportProtocol::from_proto("UDPTL"),
            TransportProtocol::Udptl
        );
        assert_eq!(
            TransportProtocol::from_proto("TCP/MSRP"),
            TransportProtocol::Other
        );
        assert!(TransportProtocol::UdpTlsRtpSavpf.is_secure());
        assert!(!TransportProtocol::RtpAvpf.is_secure());
        assert!(!TransportProtocol::Udptl.is_rtp());
    }
}
