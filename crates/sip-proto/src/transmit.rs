use crate::{Flow, TransactionKey};
use bytes::Bytes;

/// A datagram or stream segment the driver must hand to the transport.
///
/// The payload is one serialised SIP message. Retransmissions reuse the
/// same `Bytes`, so draining a retransmission costs no serialisation.
#[derive(Debug, Clone)]
pub struct Transmit {
    /// Where to send it.
    pub destination: Flow,
    /// The serialised message.
    pub payload: Bytes,
    /// The transaction that sent it, to report a transport failure with
    /// [`crate::TransactionLayer::handle_transport_error`]; `None` for
    /// messages sent outside a transaction.
    pub key: Option<TransactionKey>,
}
