use sip_message::Message;
use std::fmt;

/// A dialog's identity as one side sees it (RFC 3261 §12): Call-ID, the
/// local tag and the remote tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
}

impl DialogId {
    /// The dialog a request received by a UAS belongs to: its To tag is
    /// ours, its From tag the peer's. `None` outside a dialog.
    pub fn of_incoming_request(request: &Message) -> Option<DialogId> {
        Some(DialogId {
            call_id: request.call_id()?.to_string(),
            local_tag: request.to_tag()?,
            remote_tag: request.from_tag()?,
        })
    }

    /// The dialog a response received by a UAC belongs to: its From tag is
    /// ours, its To tag the peer's.
    pub fn of_incoming_response(response: &Message) -> Option<DialogId> {
        Some(DialogId {
            call_id: response.call_id()?.to_string(),
            local_tag: response.from_tag()?,
            remote_tag: response.to_tag()?,
        })
    }
}

impl fmt::Display for DialogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{};local={};remote={}",
            self.call_id, self.local_tag, self.remote_tag
        )
    }
}
