use sip_message::Uri;
use std::net::SocketAddr;
use std::time::Instant;

/// Where a REGISTER came from: what the node needs to reach the contact
/// behind NAT (the flow the registration arrived on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    /// The transport token (`udp`, `tcp`).
    pub transport: &'static str,
    /// The source address of the REGISTER.
    pub addr: SocketAddr,
}

/// One contact bound to an AOR.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// The contact URI, as registered (URI parameters kept, RFC 4475 cparam02).
    pub contact: Uri,
    /// The contact as written, with its header parameters, for the 200.
    pub contact_value: String,
    /// `+sip.instance` (RFC 5626), identifying the device across restarts.
    pub instance: Option<String>,
    /// `q` in thousandths (0–1000); 1000 when absent.
    pub q: u16,
    /// When the binding lapses.
    pub expires_at: Instant,
    /// Call-ID of the REGISTER that made it (§10.3 step 7).
    pub call_id: String,
    /// CSeq of that REGISTER.
    pub cseq: u32,
    /// The flow it arrived on.
    pub source: Source,
}

impl Binding {
    /// Seconds left, rounded down, at `now`.
    pub fn expires_in(&self, now: Instant) -> u64 {
        self.expires_at.saturating_duration_since(now).as_secs()
    }

    /// True when this binding and a new contact are the same device: the
    /// same `+sip.instance` (RFC 5626 §6), or, both without instances, the
    /// same URI (§10.3 step 7, URI comparison simplified to the printed
    /// form). A contact without an instance never replaces one with an
    /// instance (nor the reverse): otherwise another device of the user
    /// could overwrite a device's binding, Call-ID included, by registering
    /// its Contact URI, and that device's NAT rebinding would no longer be
    /// recognised as its own refresh.
    pub fn same_contact(&self, uri: &Uri, instance: Option<&str>) -> bool {
        match (self.instance.as_deref(), instance) {
            (Some(a), Some(b)) => a == b,
            (None, None) => self
                .contact
                .to_string()
                .eq_ignore_ascii_case(&uri.to_string()),
            _ => false,
        }
    }
}
