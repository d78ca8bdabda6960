//! What the loopback tests share: a relay on its own ports, "phones"
//! that are plain UDP sockets, packet builders, bounded waits.
#![allow(dead_code)] // each test file uses its own part

use baton_media_relay::{Relay, RelayConfig};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

pub const WAIT: Duration = Duration::from_secs(5);

/// A relay on its own slice of ports, so tests running in parallel rarely
/// collide (and when they do, the pool skips taken pairs).
pub fn relay(first: u16, pairs: u16) -> Relay {
    let ports = format!("{first}-{}", first + 2 * pairs - 1);
    let config = RelayConfig::new(
        "127.0.0.1".parse().expect("ip"),
        ports.parse().expect("range"),
    )
    .with_workers(2);
    Relay::start(config).expect("relay starts")
}

/// A phone: one UDP socket on an ephemeral loopback port.
pub struct Phone {
    pub socket: UdpSocket,
}

impl Phone {
    pub fn new() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind phone");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        Phone { socket }
    }

    pub fn addr(&self) -> SocketAddr {
        self.socket.local_addr().expect("addr")
    }

    pub fn send(&self, to: SocketAddr, data: &[u8]) {
        self.socket.send_to(data, to).expect("send");
    }

    /// The next datagram, within 5 s.
    pub fn recv(&self) -> (Vec<u8>, SocketAddr) {
        self.try_recv_until(Instant::now() + WAIT)
            .expect("a datagram within 5 s")
    }

    pub fn try_recv_until(&self, deadline: Instant) -> Option<(Vec<u8>, SocketAddr)> {
        let mut buf = [0u8; 2048];
        while Instant::now() < deadline {
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => return Some((buf[..n].to_vec(), from)),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("recv: {e}"),
            }
        }
        None
    }

    /// Whatever has arrived, without waiting.
    pub fn drain(&self) -> Vec<Vec<u8>> {
        self.socket.set_nonblocking(true).expect("nonblocking");
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        while let Ok((n, _)) = self.socket.recv_from(&mut buf) {
            out.push(buf[..n].to_vec());
        }
        self.socket.set_nonblocking(false).expect("blocking");
        out
    }
}

/// A G.711 packet: 12-byte header, 160-byte payload tagged with `seq`.
pub fn rtp(ssrc: u32, seq: u16, ts: u32) -> Vec<u8> {
    let mut v = vec![0x80, 0x08];
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&ts.to_be_bytes());
    v.extend_from_slice(&ssrc.to_be_bytes());
    v.extend((0..160u32).map(|i| (i as u8) ^ (seq as u8)));
    v
}

pub fn sender_report(ssrc: u32) -> Vec<u8> {
    let mut v = vec![0x80, 200, 0, 6];
    v.extend_from_slice(&ssrc.to_be_bytes());
    v.extend_from_slice(&[7; 20]);
    v
}

/// Polls `cond` every millisecond for at most 5 s.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "not within 5 s: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits (bounded) until `get` gives `want`, then asserts it: for
/// counters, which move just after a packet leaves, so that its receiver
/// may read them a moment early.
pub fn settles<T: PartialEq + std::fmt::Debug>(want: T, mut get: impl FnMut() -> T) {
    let deadline = Instant::now() + WAIT;
    let mut got = get();
    while got != want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
        got = get();
    }
    assert_eq!(got, want);
}

/// An RTP packet with payload type `pt` (0 PCMU, 8 PCMA, …) and `payload`.
pub fn packet(pt: u8, ssrc: u32, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80, pt];
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&ts.to_be_bytes());
    v.extend_from_slice(&ssrc.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// An RFC 4733 telephone-event in payload type 101: `event`, the end bit,
/// volume 10, `duration`.
pub fn dtmf(ssrc: u32, seq: u16, ts: u32, event: u8, end: bool, duration: u16) -> Vec<u8> {
    let d = duration.to_be_bytes();
    packet(
        101,
        ssrc,
        seq,
        ts,
        &[event, u8::from(end) << 7 | 10, d[0], d[1]],
    )
}

/// Everything that arrives within `window`.
pub fn collect(phone: &Phone, window: Duration) -> Vec<Vec<u8>> {
    let until = Instant::now() + window;
    let mut out = Vec::new();
    while let Some((p, _)) = phone.try_recv_until(until) {
        out.push(p);
    }
    out
}
