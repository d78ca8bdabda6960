use crate::TransactionKey;
use sip_message::Message;

/// What [`crate::TransactionLayer::handle_request`] did with a request.
#[derive(Debug)]
pub enum RequestOutcome {
    /// A retransmission (or the ACK of a non-2xx final): the transaction
    /// absorbed it, re-sending its last response if the RFC says so.
    Absorbed,
    /// A new server transaction was created; an [`crate::Event::Request`]
    /// carrying the message is queued.
    New(TransactionKey),
    /// An ACK the transaction layer does not own, handed back to the TU:
    /// the ACK to a 2xx (a transaction of its own, RFC 3261 §17.1.1.3), or
    /// an ACK matching an INVITE server transaction in the Accepted state,
    /// which RFC 6026 §8.7 passes up.
    StrayAck(Message),
    /// A merged request (RFC 3261 §8.2.2.2): no To tag, and the From tag,
    /// Call-ID and CSeq of a live server transaction, but another branch.
    /// The layer answered it `482 (Loop Detected)` on a transaction of its
    /// own; the TU gets no [`crate::Event::Request`] for it.
    Merged(TransactionKey),
}

/// What [`crate::TransactionLayer::handle_response`] did with a response.
#[derive(Debug)]
pub enum ResponseOutcome {
    /// It matched this client transaction (RFC 3261 §17.1.3). The
    /// transaction queued an [`crate::Event::Response`] unless it absorbed
    /// a retransmission.
    Matched(TransactionKey),
    /// No client transaction matches. A proxy would forward it; a UA drops
    /// it, except a 2xx to an INVITE arriving after Timer M, which the
    /// dialog layer may still ACK (RFC 3261 §13.2.2.4).
    Stray(Message),
}
