//! placeholder until sip-proto lands
