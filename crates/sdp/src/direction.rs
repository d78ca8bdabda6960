use std::fmt;
use std::str::FromStr;

/// Media direction attribute (RFC 8866 §6.7, RFC 3264 §5.1), from the point
/// of view of the party that wrote the description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// `a=sendrecv`, the default when no direction attribute is present.
    #[default]
    SendRecv,
    /// `a=sendonly`: the writer sends and does not want to receive (hold).
    SendOnly,
    /// `a=recvonly`: the writer receives and does not send.
    RecvOnly,
    /// `a=inactive`: neither.
    Inactive,
}

impl Direction {
    /// The attribute name, as written in SDP.
    pub fn as_str(self) -> &'static str {
        self.to_sdp_types().as_str()
    }

    /// The direction an answerer writes for a stream offered with `self`
    /// when it accepts every way offered (RFC 3264 §6.1): `sendonly` is
    /// answered `recvonly`, `recvonly` is answered `sendonly`, `inactive`
    /// and `sendrecv` are answered in kind.
    pub fn answer(self) -> Direction {
        Self::from_sdp_types(self.to_sdp_types().reverse())
    }

    /// Whether the writer sends media.
    pub fn sends(self) -> bool {
        self.to_sdp_types().has_send()
    }

    /// Whether the writer wants to receive media.
    pub fn receives(self) -> bool {
        self.to_sdp_types().has_recv()
    }

    /// The same direction without the receiving half: what an RFC 2543
    /// hold (`c=0.0.0.0`) means, since nobody can send to 0.0.0.0.
    pub(crate) fn without_receive(self) -> Direction {
        match self {
            Direction::SendRecv | Direction::SendOnly => Direction::SendOnly,
            Direction::RecvOnly | Direction::Inactive => Direction::Inactive,
        }
    }

    /// Reads a property attribute name (`sendonly`, …); `None` for any other
    /// attribute.
    pub(crate) fn from_attribute(name: &str, value: Option<&str>) -> Option<Direction> {
        if value.is_some() {
            return None;
        }
        sdp_types::Direction::from_str(name)
            .ok()
            .map(Self::from_sdp_types)
    }

    fn to_sdp_types(self) -> sdp_types::Direction {
        match self {
            Direction::SendRecv => sdp_types::Direction::SendRecv,
            Direction::SendOnly => sdp_types::Direction::SendOnly,
            Direction::RecvOnly => sdp_types::Direction::RecvOnly,
            Direction::Inactive => sdp_types::Direction::Inactive,
        }
    }

    fn from_sdp_types(direction: sdp_types::Direction) -> Self {
        match direction {
            sdp_types::Direction::SendRecv => Direction::SendRecv,
            sdp_types::Direction::SendOnly => Direction::SendOnly,
            sdp_types::Direction::RecvOnly => Direction::RecvOnly,
            sdp_types::Direction::Inactive => Direction::Inactive,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_reverses_one_way_streams() {
        assert_eq!(Direction::SendOnly.answer(), Direction::RecvOnly);
        assert_eq!(Direction::RecvOnly.answer(), Direction::SendOnly);
        assert_eq!(Direction::Inactive.answer(), Direction::Inactive);
        assert_eq!(Direction::SendRecv.answer(), Direction::SendRecv);
    }

    #[test]
    fn attribute_names_are_read_case_insensitively_and_only_without_value() {
        assert_eq!(
            Direction::from_attribute("SendOnly", None),
            Some(Direction::SendOnly)
        );
        assert_eq!(Direction::from_attribute("sendonly", Some("x")), None);
        assert_eq!(Direction::from_attribute("rtpmap", None), None);
    }

    #[test]
    fn legacy_hold_removes_the_receiving_half() {
        assert_eq!(Direction::SendRecv.without_receive(), Direction::SendOnly);
        assert_eq!(Direction::RecvOnly.without_receive(), Direction::Inactive);
        assert!(Direction::SendRecv.sends() && Direction::SendRecv.receives());
    }
}
