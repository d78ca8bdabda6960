use crate::normalize::trim_lws;
use crate::InvalidValue;
use crate::Method;
use std::fmt;

/// The CSeq header: a sequence number and a method (RFC 3261 §20.16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// The sequence number; the grammar allows any 32-bit unsigned value.
    pub seq: u32,
    /// The method.
    pub method: Method,
}

impl CSeq {
    /// Parses `1*DIGIT LWS Method`. Numbers over 2^32-1 are refused
    /// (RFC 4475 scalar02).
    pub fn parse(value: &str) -> Result<CSeq, InvalidValue> {
        Self::parse_raw(value).map_err(|()| InvalidValue::new("CSeq"))
    }

    /// [`Self::parse`] with a unit error, for the parser's own use.
    pub(crate) fn parse_raw(value: &str) -> Result<CSeq, ()> {
        let s = trim_lws(value);
        let end = s.find([' ', '\t']).ok_or(())?;
        let digits = &s[..end];
        if digits.is_empty() || digits.len() > 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(());
        }
        let seq: u64 = digits.parse().map_err(|_| ())?;
        let seq = u32::try_from(seq).map_err(|_| ())?;
        let method = Method::parse(trim_lws(&s[end..])).ok_or(())?;
        Ok(CSeq { seq, method })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_leading_zeros_and_refuses_overflow() {
        assert_eq!(
            CSeq::parse("0009 INVITE"),
            Ok(CSeq {
                seq: 9,
                method: Method::INVITE
            })
        );
        assert_eq!(CSeq::parse("4294967295 BYE").map(|c| c.seq), Ok(u32::MAX));
        assert!(CSeq::parse("36893488147419103232 INVITE").is_err());
        assert!(CSeq::parse("4294967296 INVITE").is_err());
        assert!(CSeq::parse("INVITE").is_err());
    }
}
