//! The registrar (RFC 3261 §10.3), sans-IO: a table of bindings from
//! addresses of record to contacts, and the processing of a REGISTER that
//! has already been authenticated.
//!
//! Time is an input (`now`); nothing here reads a clock, touches a socket
//! or knows about digest. The node authenticates the request (the
//! identity must own the To AOR), then calls [`Registrar::register`], and
//! answers with the outcome; calls look contacts up with
//! [`Registrar::lookup`]; a timer calls [`Registrar::expire`].
#![deny(missing_docs)]

mod binding;
mod config;
mod outcome;
mod registrar;

pub use binding::{Binding, Source};
pub use config::RegistrarConfig;
pub use outcome::{Refusal, RegisterOutcome};
pub use registrar::Registrar;
