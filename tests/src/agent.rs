use sip_message::Message;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// The test agent's UDP side: sends raw datagrams, reads SIP messages.
#[derive(Debug)]
pub struct UdpAgent {
    socket: UdpSocket,
    server: SocketAddr,
}

impl UdpAgent {
    /// A socket on an ephemeral loopback port, talking to `server`.
    pub fn new(server: SocketAddr) -> UdpAgent {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        UdpAgent { socket, server }
    }

    /// Our address.
    pub fn local_addr(&self) -> SocketAddr {
        self.socket.local_addr().expect("local addr")
    }

    /// Sends one datagram.
    pub fn send(&self, bytes: &[u8]) {
        self.socket.send_to(bytes, self.server).expect("send");
    }

    /// The status code of the next datagram that starts with a status line,
    /// read from the raw bytes: a `400` echoes the malformed headers of the
    /// request, so it may not parse as a whole.
    pub fn recv_status(&self, timeout: Duration) -> Option<u16> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 65_536];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.socket.set_read_timeout(Some(left)).expect("timeout");
            let (n, _) = self.socket.recv_from(&mut buf).ok()?;
            let line = buf[..n].split(|b| *b == b'\r').next().unwrap_or(&[]);
            let text = String::from_utf8_lossy(line);
            if let Some(code) = text
                .strip_prefix("SIP/2.0 ")
                .and_then(|r| r.get(..3)?.parse().ok())
            {
                return Some(code);
            }
        }
    }

    /// The next SIP message, or `None` if nothing parseable comes within `timeout`.
    pub fn recv(&self, timeout: Duration) -> Option<Message> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 65_536];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.socket.set_read_timeout(Some(left)).expect("timeout");
            match self.socket.recv_from(&mut buf) {
                Ok((n, _)) => {
                    if let Ok(m) = Message::parse(&buf[..n]) {
                        return Some(m);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Sends a request and returns the first final response (1xx skipped).
    pub fn request(&self, bytes: &[u8]) -> Option<Message> {
        self.send(bytes);
        let deadline = Instant::now() + crate::REPLY_TIMEOUT;
        loop {
            let m = self.recv(deadline.saturating_duration_since(Instant::now()))?;
            if m.status().is_some_and(|s| s >= 200) {
                return Some(m);
            }
        }
    }
}

/// The test agent's TCP side.
#[derive(Debug)]
pub struct TcpAgent {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl TcpAgent {
    /// Connects to `server`.
    pub fn connect(server: SocketAddr) -> TcpAgent {
        let stream = TcpStream::connect_timeout(&server, crate::REPLY_TIMEOUT).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        TcpAgent {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes bytes; `false` if the server has closed the connection.
    pub fn send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).is_ok()
    }

    /// The next message framed by Content-Length, or `None` on timeout or close.
    pub fn recv(&mut self, timeout: Duration) -> Option<Message> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let len = sip_message::framing::content_length(&self.buf[..end])
                    .ok()
                    .flatten()
                    .unwrap_or(0);
                if self.buf.len() >= end + 4 + len {
                    let msg: Vec<u8> = self.buf.drain(..end + 4 + len).collect();
                    return Message::parse(&msg).ok();
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.stream.set_read_timeout(Some(left)).expect("timeout");
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Waits until the server closes the connection; `true` if it did
    /// within `timeout`. Data read meanwhile is discarded.
    pub fn wait_closed(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.stream.set_read_timeout(Some(left)).expect("timeout");
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
