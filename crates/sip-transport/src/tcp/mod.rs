//! Stream transports: the accept loop, one reader and one writer task per
//! connection, and the table that finds a connection to reuse.

mod connection;
mod listener;
mod table;

pub(crate) use connection::spawn_tcp;
pub(crate) use listener::accept_loop;
pub(crate) use table::{ConnectionTable, Entry};
