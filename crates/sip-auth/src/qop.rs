//! Quality of protection (`qop`) values.

use std::fmt;
use std::str::FromStr;

use crate::error::AuthError;

/// A `qop` value chosen by the client in its credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qop {
    /// `auth`: authentication of the method and URI.
    Auth,
    /// `auth-int`: authentication with integrity protection of the body.
    /// Parsed, but rejected by [`verify`](crate::verify).
    AuthInt,
}

impl Qop {
    /// The canonical token, as hashed into the response.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::AuthInt => "auth-int",
        }
    }
}

impl fmt::Display for Qop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Qop {
    type Err = AuthError;

    /// Case-insensitive; anything but `auth` / `auth-int` is
    /// [`AuthError::UnknownQop`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("auth") {
            Ok(Self::Auth)
        } else if s.eq_ignore_ascii_case("auth-int") {
            Ok(Self::AuthInt)
        } else {
            Err(AuthError::UnknownQop(s.to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_case_insensitively() {
        assert_eq!("AUTH".parse::<Qop>(), Ok(Qop::Auth));
        assert_eq!("auth-Int".parse::<Qop>(), Ok(Qop::AuthInt));
        assert_eq!(
            "auth-conf".parse::<Qop>(),
            Err(AuthError::UnknownQop("auth-conf".into()))
        );
    }
}
