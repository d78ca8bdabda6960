//! The node under abuse, over real sockets on loopback: admission limits
//! (failed-digest bans, request rates, calls per user, the transaction
//! cap, TCP connections per source), the stateless `407`, digest checks,
//! merged requests, malformed ACKs, stray responses, and the acceptance
//! flood (2,000 wrong-password REGISTERs a second from 127.0.0.2 while a
//! legitimate user calls).

mod flood;
mod limits;
mod protocol;

use baton_system_tests::Baton;
use sip_message::{HeaderName, Message};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const DOMAIN: &str = "example.test";
const USERS: &str = "[[users]]\nname = \"alice\"\npassword = \"wonderland\"\n\n\
                     [[users]]\nname = \"bob\"\npassword = \"builder\"\n\n\
                     [[users]]\nname = \"carol\"\npassword = \"cheshire\"\n";
/// How long a phone or peer waits for one answer.
const T: Duration = Duration::from_secs(4);

/// The flood test measures latency: it runs alone (write), the other
/// tests of this binary beside each other (read).
static EXCLUSIVE: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Held by every test but the flood while it runs.
fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    EXCLUSIVE
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Held by the flood test.
fn exclusive() -> std::sync::RwLockWriteGuard<'static, ()> {
    EXCLUSIVE
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A node with `limits` (TOML lines of `[limits]`, may be empty).
fn start(limits: &str) -> Baton {
    Baton::start(
        DOMAIN,
        "",
        &format!("[media]\nports = \"52000-53999\"\n\n[limits]\n{limits}\n\n{USERS}"),
    )
}

/// A raw SIP peer on UDP: any loopback address, text in, messages out.
struct Peer {
    socket: UdpSocket,
    server: SocketAddr,
}

impl Peer {
    fn bind(ip: &str, server: SocketAddr) -> Peer {
        let socket = UdpSocket::bind((ip, 0)).expect("bind a loopback address");
        Peer { socket, server }
    }

    fn addr(&self) -> SocketAddr {
        self.socket.local_addr().expect("local addr")
    }

    fn send(&self, text: &str) {
        self.socket
            .send_to(text.as_bytes(), self.server)
            .expect("send");
    }

    /// The next datagram, raw, within `timeout`.
    fn recv_raw(&self, timeout: Duration) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 65_536];
        self.socket
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .expect("timeout");
        let (n, _) = self.socket.recv_from(&mut buf).ok()?;
        buf.truncate(n);
        Some(buf)
    }

    /// The next datagram as a message.
    fn recv(&self, timeout: Duration) -> Option<Message> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let bytes = self.recv_raw(left)?;
            if let Ok(m) = Message::parse(&bytes) {
                return Some(m);
            }
        }
    }

    /// Sends `text` and returns the first final response to it (matched by
    /// CSeq: provisionals and answers to other requests are skipped).
    fn request(&self, text: &str) -> Message {
        self.send(text);
        let cseq = text
            .lines()
            .find_map(|l| l.strip_prefix("CSeq: "))
            .expect("a CSeq line")
            .to_string();
        let deadline = Instant::now() + T;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let m = self
                .recv(left)
                .unwrap_or_else(|| panic!("no final answer to {cseq}"));
            if m.status().is_some_and(|s| s >= 200) && m.header(&HeaderName::CSeq) == Some(&cseq) {
                return m;
            }
        }
    }
}

/// A REGISTER of `user` from `peer` (its own Call-ID per peer).
fn register(peer: &Peer, user: &str, cseq: u32, branch: &str, auth: Option<&str>) -> String {
    let a = peer.addr();
    let mut text = format!(
        "REGISTER sip:{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bK{branch}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:{user}@{DOMAIN}>;tag=r{port}\r\nTo: <sip:{user}@{DOMAIN}>\r\n\
         Call-ID: reg-{port}-{ip}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{a}>\r\n",
        port = a.port(),
        ip = a.ip(),
    );
    if let Some(auth) = auth {
        text.push_str(&format!("Authorization: {auth}\r\n"));
    }
    text.push_str("Content-Length: 0\r\n\r\n");
    text
}

/// A new INVITE from `caller` at `peer` to `callee`, with an SDP offer,
/// shaped like a phone's (its usual headers).
fn invite(peer: &Peer, caller: &str, callee: &str, call_id: &str, branch: &str) -> String {
    let a = peer.addr();
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
        ip = a.ip()
    );
    format!(
        "INVITE sip:{callee}@{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bK{branch}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:{caller}@{DOMAIN}>;tag=i{port}\r\nTo: <sip:{callee}@{DOMAIN}>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:{caller}@{a}>\r\n\
         Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY\r\n\
         Supported: replaces, timer\r\nUser-Agent: baton-abuse-test/1.0\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len(),
        port = a.port(),
    )
}

/// An OPTIONS from `peer`.
fn options(peer: &Peer, call_id: &str, branch: &str) -> String {
    let a = peer.addr();
    format!(
        "OPTIONS sip:{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bK{branch}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@{DOMAIN}>;tag=o{port}\r\nTo: <sip:{DOMAIN}>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        port = a.port(),
    )
}

/// The first challenge of a 401/407 offering `algorithm`.
fn challenge_for(response: &Message, algorithm: &str) -> String {
    let name = if response.status() == Some(401) {
        HeaderName::WwwAuthenticate
    } else {
        HeaderName::ProxyAuthenticate
    };
    let wanted = format!("algorithm={algorithm}");
    let found = response
        .headers
        .get_all(&name)
        .find(|c| c.contains(&wanted))
        .map(str::to_string);
    found.unwrap_or_else(|| panic!("no {algorithm} challenge"))
}
