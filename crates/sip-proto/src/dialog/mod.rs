//! Dialogs (RFC 3261 §12), sans-IO: the state a UA keeps between requests
//! of one call leg, and the rules that build in-dialog requests from it.
//!
//! A `Dialog` is created from the request and response that establish it
//! (§12.1.1 for the UAS, §12.1.2 for the UAC), checks every remote request
//! against it (§12.2.2), and builds every local request (§12.2.1.1): the
//! Request-URI and Route set, the next CSeq, From, To and Call-ID. The
//! caller adds what belongs to the transport and the UA (Via, Contact,
//! Max-Forwards) and hands the request to the transaction layer.

mod error;
mod id;
mod state;

pub use error::DialogError;
pub use id::DialogId;
pub use state::{Dialog, DialogState};
