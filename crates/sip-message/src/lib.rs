//! SIP syntax for Baton: bytes in, typed messages out, and back.
//!
//! This crate has no I/O and no clock. A message travels through it like this:
//!
//! ```text
//! datagram / stream bytes
//!   └─ framing      (Content-Length, size caps)         framing::frame_datagram, StreamFramer
//!       └─ normalize (unfold, compact names, list split) normalize::tokenize_head
//!           └─ parse  (start line, typed checks)         Message::parse_head
//!               └─ Message ── serialize ──> bytes         Message::to_bytes
//! ```
//!
//! rsip 0.4 supplies the vocabulary (methods, status codes and their reason
//! phrases) and a bridge for code that wants rsip's typed headers
//! ([`Message::to_rsip`]). Its wire parser is not used on the receive path:
//! it misses compact names, folding, comma lists, bracketed IPv6 hosts,
//! `tel:` URIs and Content-Length (see the regression tests in
//! `tests/rsip_gaps.rs`), so framing, normalisation and the typed checks that
//! a carrier needs are ours.
#![deny(missing_docs)]

mod cseq;
mod error;
pub mod framing;
mod header_name;
mod headers;
mod limits;
mod message;
mod method;
mod name_addr;
pub mod normalize;
mod params;
mod response;
mod uri;
mod via;

pub use cseq::CSeq;
pub use error::{FramingError, InvalidValue, ParseError, SyntaxError};
pub use header_name::HeaderName;
pub use headers::{Header, Headers};
pub use limits::Limits;
pub use message::{Message, RequestLine, StartLine, StatusLine};
pub use method::Method;
pub use name_addr::{ContactValue, NameAddr};
pub use params::{Param, Params};
pub use response::{reason_phrase, ResponseBuilder};
pub use uri::{AbsoluteUri, Host, SipUri, TelUri, Uri};
pub use via::Via;
