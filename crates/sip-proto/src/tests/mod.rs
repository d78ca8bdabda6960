//! Scenario tests on a virtual clock over a simulated lossy link.

mod pair;

mod cancel;
mod client_invite;
mod client_non_invite;
mod layer_api;
mod lifecycle;
mod merged;
mod reliable;
mod rfc2543;
mod server_invite;
mod server_non_invite;
mod two_xx;
