//! Identifiers Baton mints for its own side of each call, and how the
//! router finds a call again from them.
//!
//! Every Via branch and Call-ID Baton sends on a call's leg carries the
//! call's number and the leg's index, so that responses and in-dialog
//! requests go straight to the right leg actor without a lookup table on
//! the hot path (`z9hG4bK` + `c12l3` + `.` + random).

use std::fmt;

/// A call's number on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallNumber(pub u64);

/// A leg of a call: 0 is the caller's leg (A), 1.. are the forks, and
/// from [`LegIndex::FIRST_PULLED`] on the legs of new devices that asked
/// for the call (handover).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegIndex(pub u16);

impl LegIndex {
    /// The caller's leg.
    pub const CALLER: LegIndex = LegIndex(0);

    /// The first leg number of a new device's switch request; forks stay
    /// below it.
    pub const FIRST_PULLED: u16 = 1000;

    /// Whether this is the leg of a new device's switch request.
    pub fn is_pulled(self) -> bool {
        self.0 >= Self::FIRST_PULLED
    }

    /// The leg of fork `n` (0-based).
    pub fn fork(n: usize) -> LegIndex {
        LegIndex(u16::try_from(n + 1).unwrap_or(u16::MAX))
    }

    /// The fork number of a callee leg (none for the caller's leg or a
    /// new device's).
    pub fn fork_number(self) -> Option<usize> {
        (self.0 > 0 && !self.is_pulled()).then(|| usize::from(self.0 - 1))
    }
}

impl fmt::Display for CallNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call-{}", self.0)
    }
}

/// A random token (64 bits, hex): tags, branch and Call-ID suffixes.
pub fn random_token() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// A Via branch for a request sent on `leg` of `call`.
pub fn branch(call: CallNumber, leg: LegIndex) -> String {
    format!("z9hG4bKc{}l{}.{}", call.0, leg.0, random_token())
}

/// A Call-ID for a callee leg Baton creates (topology hiding: nothing of
/// the caller's Call-ID crosses over).
pub fn call_id(call: CallNumber, leg: LegIndex, host: &str) -> String {
    format!("c{}l{}.{}@{}", call.0, leg.0, random_token(), host)
}

/// Reads `c<call>l<leg>.` at the start of `s` (after the magic cookie for a
/// branch): the inverse of [`branch`] and [`call_id`].
pub fn parse_marker(s: &str) -> Option<(CallNumber, LegIndex)> {
    let rest = s.strip_prefix("z9hG4bK").unwrap_or(s).strip_prefix('c')?;
    let (marker, _) = rest.split_once('.')?;
    let (call, leg) = marker.split_once('l')?;
    Some((CallNumber(call.parse().ok()?), LegIndex(leg.parse().ok()?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_and_foreign_values_do_not_parse() {
        let b = branch(CallNumber(42), LegIndex(3));
        assert!(b.starts_with("z9hG4bKc42l3."));
        assert_eq!(parse_marker(&b), Some((CallNumber(42), LegIndex(3))));
        let c = call_id(CallNumber(7), LegIndex::fork(0), "baton.invalid");
        assert_eq!(parse_marker(&c), Some((CallNumber(7), LegIndex(1))));
        for foreign in [
            "z9hG4bK776asdhds",
            "a84b4c76e66710@pc33.example.com",
            "z9hG4bKcXl1.x",
            "c1l.x",
            "",
        ] {
            assert_eq!(parse_marker(foreign), None, "{foreign}");
        }
    }
}
