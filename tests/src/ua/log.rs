//! The message log every phone keeps: one entry per datagram or framed
//! message sent or received, retransmissions included, for debugging a
//! failed test and for drawing a ladder diagram of a scenario.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Instant;

/// Which way a logged message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The phone sent it.
    Sent,
    /// The phone received it.
    Received,
}

/// One message sent or received by a phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// When.
    pub at: Instant,
    /// The phone's name (`A`, `B`, `R` …).
    pub phone: String,
    /// Sent or received.
    pub direction: Direction,
    /// The other end: where it went, or where it came from.
    pub peer: SocketAddr,
    /// The start line (`INVITE sip:… SIP/2.0`, `SIP/2.0 180 Ringing`), with
    /// ` [send failed: …]` appended when the socket refused it.
    pub first_line: String,
    /// The whole message as text (bodies are SDP or short text here).
    pub text: String,
}

impl LogEntry {
    /// The start line without the trailing ` SIP/2.0` of requests.
    pub fn short(&self) -> &str {
        self.first_line
            .strip_suffix(" SIP/2.0")
            .unwrap_or(&self.first_line)
    }
}

/// A text ladder of several phones' logs merged in time order: one line per
/// message, `+0.012s  A -> 127.0.0.1:5060  INVITE sip:bob@…`, relative to
/// the first entry. A message between two phones of the list appears twice
/// (sent, then received), which shows its transit time.
pub fn ladder(logs: &[Vec<LogEntry>]) -> String {
    let mut all: Vec<&LogEntry> = logs.iter().flatten().collect();
    all.sort_by_key(|e| e.at);
    let Some(first) = all.first().map(|e| e.at) else {
        return String::new();
    };
    let mut out = String::new();
    for e in all {
        let t = e.at.saturating_duration_since(first).as_secs_f64();
        let arrow = match e.direction {
            Direction::Sent => "->",
            Direction::Received => "<-",
        };
        let _ = writeln!(
            out,
            "+{t:.3}s  {:>3} {arrow} {:<21} {}",
            e.phone,
            e.peer.to_string(),
            e.short()
        );
    }
    out
}
