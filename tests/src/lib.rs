//! The harness of Baton's system tests: a real `baton` process on loopback,
//! and the project's own SIP test agent talking to it over real UDP and TCP
//! sockets. Every wait is bounded.
#![deny(missing_docs)]

mod agent;
mod baresip;
mod digest;
mod node;

pub use agent::{TcpAgent, UdpAgent};
pub use baresip::{Baresip, BaresipError};
pub use digest::authorization;
pub use node::{baton_bin, Baton};

/// How long any single expected reply may take before a test fails.
/// Generous: a passing test returns as soon as the reply is in, and on a
/// machine whose cores are busy with other work a loopback answer can take
/// seconds (`scripts/test-busy.sh`).
pub const REPLY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub mod ua;
pub use ua::{
    Call, CallStatus, IncomingCall, MediaDirection, OutgoingCall, Payload, Phone, ReinviteAnswer,
    RtpSend, RtpStream, Sdp, Transport, UaError,
};
