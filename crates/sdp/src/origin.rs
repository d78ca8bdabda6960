use std::net::IpAddr;

/// The `o=` line (RFC 8866 §5.2): who made the description, and which
/// version of it this is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The user name; `None` for `-`.
    pub username: Option<String>,
    /// The session id, a numeric string that may exceed 64 bits.
    pub session_id: String,
    /// The session version; RFC 3264 §8 makes it grow by one per changed
    /// offer.
    pub session_version: u64,
    /// The address of the host that made the session, as written: an IP
    /// literal or a host name (`o=bob … IN IP4 host.example.com`).
    pub address: String,
}

impl Origin {
    /// The address as an IP literal, when it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.address.parse().ok()
    }

    pub(crate) fn from_sdp_types(origin: &sdp_types::Origin) -> Self {
        Origin {
            username: origin.username.clone(),
            session_id: origin.sess_id.clone(),
            session_version: origin.sess_version,
            address: origin.unicast_address.clone(),
        }
    }
}
