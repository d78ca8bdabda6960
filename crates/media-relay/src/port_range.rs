//! The configured media port range and the even/odd pairs inside it.

use crate::PortRangeError;
use std::fmt;
use std::str::FromStr;

/// An inclusive range of UDP ports for media, as configured
/// (`media.ports = "20000-29999"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    first: u16,
    last: u16,
}

impl PortRange {
    /// The range `first..=last`. Refused if reversed, if it includes port 0,
    /// or if it holds no even port whose odd neighbour is also inside.
    pub fn new(first: u16, last: u16) -> Result<Self, PortRangeError> {
        if first == 0 {
            return Err(PortRangeError::PortZero);
        }
        if first > last {
            return Err(PortRangeError::Reversed { first, last });
        }
        let range = PortRange { first, last };
        if range.pairs() == 0 {
            return Err(PortRangeError::NoPair { first, last });
        }
        Ok(range)
    }

    /// The first port of the range.
    pub fn first(&self) -> u16 {
        self.first
    }

    /// The last port of the range (inclusive).
    pub fn last(&self) -> u16 {
        self.last
    }

    /// The first even port of the range: RTP takes even ports (RFC 3550
    /// §11), RTCP the odd one above.
    pub(crate) fn first_even(&self) -> u32 {
        u32::from(self.first) + u32::from(self.first % 2)
    }

    /// How many RTP/RTCP pairs fit in the range.
    pub fn pairs(&self) -> usize {
        let first = self.first_even();
        let last = u32::from(self.last);
        if last < first + 1 {
            0
        } else {
            (last - first).div_ceil(2) as usize
        }
    }

    /// The pair at `index` (`0..pairs()`).
    pub(crate) fn pair(&self, index: usize) -> PortPair {
        let rtp = self.first_even() + 2 * index as u32;
        // `index < pairs()` keeps `rtp + 1 <= last <= u16::MAX`.
        PortPair { rtp: rtp as u16 }
    }

    /// The index of `pair` in this range, if it is one of its pairs.
    pub(crate) fn index_of(&self, pair: PortPair) -> Option<usize> {
        let rtp = u32::from(pair.rtp);
        let first = self.first_even();
        if rtp < first || !(rtp - first).is_multiple_of(2) {
            return None;
        }
        let index = ((rtp - first) / 2) as usize;
        (index < self.pairs()).then_some(index)
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl FromStr for PortRange {
    type Err = PortRangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || PortRangeError::Syntax {
            found: s.to_owned(),
        };
        let (first, last) = s.trim().split_once('-').ok_or_else(syntax)?;
        let first = first.trim().parse::<u16>().map_err(|_| syntax())?;
        let last = last.trim().parse::<u16>().map_err(|_| syntax())?;
        PortRange::new(first, last)
    }
}

/// An RTP port (even) and its RTCP port (the odd one above), allocated to
/// one leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortPair {
    rtp: u16,
}

impl PortPair {
    /// The even RTP port.
    pub fn rtp(&self) -> u16 {
        self.rtp
    }

    /// The odd RTCP port, `rtp + 1`.
    pub fn rtcp(&self) -> u16 {
        self.rtp + 1
    }
}

impl fmt::Display for PortPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.rtp(), self.rtcp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_default_range() {
        let r: PortRange = "20000-29999".parse().expect("range");
        assert_eq!((r.first(), r.last()), (20000, 29999));
        assert_eq!(r.pairs(), 5000);
        assert_eq!(r.pair(0).rtp(), 20000);
        assert_eq!(r.pair(4999).rtcp(), 29999);
        assert_eq!(r.to_string(), "20000-29999");
    }

    #[test]
    fn odd_start_skips_to_the_next_even_port() {
        let r = PortRange::new(20001, 20004).expect("range");
        assert_eq!(r.pairs(), 1);
        assert_eq!(r.pair(0).rtp(), 20002);
        assert_eq!(r.index_of(r.pair(0)), Some(0));
    }

    #[test]
    fn the_top_of_the_port_space_is_usable() {
        let r = PortRange::new(65534, 65535).expect("range");
        assert_eq!(r.pairs(), 1);
        assert_eq!(r.pair(0).rtcp(), 65535);
    }

    #[test]
    fn bad_ranges_are_refused_with_their_cause() {
        assert!(matches!(
            "30001-20000".parse::<PortRange>(),
            Err(PortRangeError::Reversed { .. })
        ));
        assert!(matches!(
            "0-100".parse::<PortRange>(),
            Err(PortRangeError::PortZero)
        ));
        assert!(matches!(
            "20001-20002".parse::<PortRange>(),
            Err(PortRangeError::NoPair { .. })
        ));
        assert!(matches!(
            "20000".parse::<PortRange>(),
            Err(PortRangeError::Syntax { .. })
        ));
        assert!(matches!(
            "a-b".parse::<PortRange>(),
            Err(PortRangeError::Syntax { .. })
        ));
    }

    #[test]
    fn index_of_refuses_foreign_ports() {
        let r = PortRange::new(20000, 20009).expect("range");
        assert_eq!(r.index_of(PortPair { rtp: 20010 }), None);
        assert_eq!(r.index_of(PortPair { rtp: 19998 }), None);
        assert_eq!(r.index_of(PortPair { rtp: 20003 }), None);
        assert_eq!(r.index_of(PortPair { rtp: 20008 }), Some(4));
    }
}
