use crate::{Flow, Timer, TransactionKey};
use sip_message::Message;

/// What the transaction layer tells the transaction user (TU).
#[derive(Debug)]
pub enum Event {
    /// A new request created a server transaction (RFC 3261 §17.2). The TU
    /// answers it with [`crate::TransactionLayer::send_response`] and `key`.
    Request {
        /// The new server transaction.
        key: TransactionKey,
        /// The request.
        message: Message,
        /// The flow it arrived on; responses go back over it.
        flow: Flow,
    },
    /// A response for a client transaction that the TU must see: every
    /// provisional, the first final, and for INVITE every 2xx (RFC 6026
    /// §8.4: retransmitted or forked 2xx go up, the TU ACKs them).
    Response {
        /// The client transaction.
        key: TransactionKey,
        /// The response.
        message: Message,
    },
    /// A transaction gave up: Timer B or F (no final response) or Timer H
    /// (no ACK for a non-2xx final). A `Terminated` follows.
    Timeout {
        /// The transaction.
        key: TransactionKey,
        /// Which timer fired.
        timer: Timer,
    },
    /// The driver reported a transport failure for this transaction
    /// (RFC 3261 §17.1.4, §17.2.4). A `Terminated` follows.
    TransportError {
        /// The transaction.
        key: TransactionKey,
    },
    /// The transaction reached Terminated and was removed from the layer;
    /// its key is no longer valid.
    Terminated {
        /// The transaction.
        key: TransactionKey,
    },
}
