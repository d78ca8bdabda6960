//! Baton's node-to-node transport.
//!
//! Today this crate holds only the sans-IO [`frame`] codec that cuts a
//! byte stream (a QUIC stream delivers arbitrary pieces) into checked
//! frames. The quinn endpoint, mutual TLS, the `raft::PeerNetwork`
//! implementation and the media datagram connection come next, on top of
//! it. Like `cluster/raft`, this crate imports no SIP crate.

pub mod frame;

pub use frame::{encode, encode_into, FrameDecoder, FrameError, DEFAULT_MAX_PAYLOAD};
