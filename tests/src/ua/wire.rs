//! The phone's SIP sockets: one UDP socket, or a TCP listener plus the
//! connections it accepts and the one it opens to its server. Reader
//! threads hand every framed message to the [`Engine`]; they poll a
//! shutdown flag on short read timeouts, so none outlives its phone by more
//! than a tick.

use super::engine::Engine;
use sip_message::framing::{StreamFramer, StreamItem};
use sip_message::Limits;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How often blocked reads wake up to look at the shutdown flag.
const POLL: Duration = Duration::from_millis(20);

/// Which SIP transport a phone uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Transport {
    /// One UDP socket; requests are retransmitted until answered.
    #[default]
    Udp,
    /// A TCP listener for requests towards us and one connection to the
    /// server for ours (RFC 3261 §18); no retransmissions.
    Tcp,
}

/// Where a message goes or came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    /// The phone's server (Baton, or the other phone in a direct call).
    Server,
    /// A UDP source address.
    Udp(SocketAddr),
    /// A TCP connection, by index.
    Tcp(usize),
}

#[derive(Debug)]
pub(crate) struct TcpWire {
    listener: TcpListener,
    /// Writers of every connection ever made, by index; `None` once closed.
    conns: Mutex<Vec<Option<(SocketAddr, TcpStream)>>>,
    /// The connection to the server: (server address, index).
    to_server: Mutex<Option<(SocketAddr, usize)>>,
}

/// One UDP socket, which [`Wire::rebind`] can swap for a fresh one (a NAT
/// rebinding: the device keeps its Contact and Via, its public source
/// address changes).
#[derive(Debug)]
pub(crate) struct UdpWire {
    socket: Mutex<Arc<UdpSocket>>,
    /// The address in our Via and Contact: the first socket's.
    advertised: SocketAddr,
}

impl UdpWire {
    fn socket(&self) -> Arc<UdpSocket> {
        Arc::clone(&lock(&self.socket))
    }
}

#[derive(Debug)]
pub(crate) enum Wire {
    Udp(UdpWire),
    Tcp(TcpWire),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Wire {
    /// Binds on an ephemeral loopback port.
    pub(crate) fn bind(transport: Transport) -> io::Result<Wire> {
        Ok(match transport {
            Transport::Udp => {
                let s = UdpSocket::bind("127.0.0.1:0")?;
                s.set_read_timeout(Some(POLL))?;
                Wire::Udp(UdpWire {
                    advertised: s.local_addr()?,
                    socket: Mutex::new(Arc::new(s)),
                })
            }
            Transport::Tcp => {
                let listener = TcpListener::bind("127.0.0.1:0")?;
                listener.set_nonblocking(true)?;
                Wire::Tcp(TcpWire {
                    listener,
                    conns: Mutex::new(Vec::new()),
                    to_server: Mutex::new(None),
                })
            }
        })
    }

    /// The address in our Via and Contact.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        match self {
            Wire::Udp(u) => Ok(u.advertised),
            Wire::Tcp(t) => t.listener.local_addr(),
        }
        .expect("local addr")
    }

    /// Where our datagrams come from now: [`Self::local_addr`] until a
    /// [`Self::rebind`]; the listener for TCP.
    pub(crate) fn source_addr(&self) -> SocketAddr {
        match self {
            Wire::Udp(u) => u.socket().local_addr(),
            Wire::Tcp(t) => t.listener.local_addr(),
        }
        .expect("local addr")
    }

    /// UDP: sends and receives on a fresh socket from now on; the old one
    /// closes (what a NAT rebinding looks like from the server). Returns
    /// the new source address. TCP: unsupported.
    pub(crate) fn rebind(&self) -> io::Result<SocketAddr> {
        match self {
            Wire::Udp(u) => {
                let s = UdpSocket::bind("127.0.0.1:0")?;
                s.set_read_timeout(Some(POLL))?;
                let addr = s.local_addr()?;
                *lock(&u.socket) = Arc::new(s);
                Ok(addr)
            }
            Wire::Tcp(_) => Err(io::Error::from(io::ErrorKind::Unsupported)),
        }
    }

    /// True for TCP: no retransmissions (RFC 3261 §17.1.1.2, §17.1.2.2).
    pub(crate) fn is_reliable(&self) -> bool {
        matches!(self, Wire::Tcp(_))
    }

    /// The Via transport token.
    pub(crate) fn token(&self) -> &'static str {
        match self {
            Wire::Udp(_) => "UDP",
            Wire::Tcp(_) => "TCP",
        }
    }

    /// The remote address of `peer`, for the log.
    pub(crate) fn peer_addr(&self, peer: Peer, server: SocketAddr) -> SocketAddr {
        match (self, peer) {
            (_, Peer::Server) => server,
            (_, Peer::Udp(a)) => a,
            (Wire::Tcp(t), Peer::Tcp(i)) => lock(&t.conns)
                .get(i)
                .and_then(|c| c.as_ref().map(|(a, _)| *a))
                .unwrap_or(server),
            (Wire::Udp(_), Peer::Tcp(_)) => server,
        }
    }

    /// Sends `bytes` to `peer`, opening the connection to the server on
    /// first use over TCP. Returns the remote address.
    pub(crate) fn send(
        &self,
        engine: &Engine,
        peer: Peer,
        server: SocketAddr,
        bytes: &[u8],
    ) -> io::Result<SocketAddr> {
        match self {
            Wire::Udp(u) => {
                let dest = match peer {
                    Peer::Udp(a) => a,
                    Peer::Server | Peer::Tcp(_) => server,
                };
                u.socket().send_to(bytes, dest)?;
                Ok(dest)
            }
            Wire::Tcp(t) => {
                let index = match peer {
                    Peer::Tcp(i) => i,
                    Peer::Server | Peer::Udp(_) => t.connection_to(engine, server)?,
                };
                let mut conns = lock(&t.conns);
                let (addr, stream) = conns
                    .get_mut(index)
                    .and_then(Option::as_mut)
                    .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
                stream.write_all(bytes)?;
                Ok(*addr)
            }
        }
    }

    /// Starts the reader threads: the UDP loop, or the TCP accept loop.
    pub(crate) fn start(&self, engine: &Arc<Engine>) {
        let reader = Arc::clone(engine);
        match self {
            Wire::Udp(_) => engine.spawn("sip-udp", move || udp_loop(&reader)),
            Wire::Tcp(_) => engine.spawn("sip-accept", move || accept_loop(&reader)),
        }
    }
}

impl TcpWire {
    fn connection_to(&self, engine: &Engine, server: SocketAddr) -> io::Result<usize> {
        let mut to_server = lock(&self.to_server);
        if let Some((addr, i)) = *to_server {
            if addr == server && lock(&self.conns).get(i).is_some_and(Option::is_some) {
                return Ok(i);
            }
        }
        let stream = TcpStream::connect_timeout(&server, crate::REPLY_TIMEOUT)?;
        stream.set_nodelay(true)?;
        let i = self.adopt(engine, stream)?;
        *to_server = Some((server, i));
        Ok(i)
    }

    /// Registers a connection and starts its reader.
    fn adopt(&self, engine: &Engine, stream: TcpStream) -> io::Result<usize> {
        let peer = stream.peer_addr()?;
        let reader = stream.try_clone()?;
        reader.set_read_timeout(Some(POLL))?;
        let index = {
            let mut conns = lock(&self.conns);
            conns.push(Some((peer, stream)));
            conns.len() - 1
        };
        let engine_ref = engine.handle();
        engine.spawn("sip-tcp", move || {
            if let Some(e) = engine_ref {
                tcp_loop(&e, reader, index);
            }
        });
        Ok(index)
    }

    fn close(&self, index: usize) {
        if let Some(slot) = lock(&self.conns).get_mut(index) {
            *slot = None;
        }
    }
}

fn udp_loop(engine: &Arc<Engine>) {
    let Wire::Udp(udp) = &engine.wire else {
        return;
    };
    let mut buf = vec![0u8; 65_536];
    while !engine.shutdown.load(Ordering::SeqCst) {
        // Taken again each round: a rebind swaps it.
        let socket = udp.socket();
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => engine.receive(&buf[..n], Peer::Udp(from)),
            // Timeouts let the loop see the flag; ICMP errors are not fatal.
            Err(_) => continue,
        }
    }
}

fn accept_loop(engine: &Arc<Engine>) {
    let Wire::Tcp(t) = &engine.wire else {
        return;
    };
    while !engine.shutdown.load(Ordering::SeqCst) {
        match t.listener.accept() {
            Ok((stream, _)) => {
                let ok = stream.set_nonblocking(false).is_ok() && stream.set_nodelay(true).is_ok();
                if ok {
                    let _ = t.adopt(engine, stream);
                }
            }
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

fn tcp_loop(engine: &Arc<Engine>, mut stream: TcpStream, index: usize) {
    let Wire::Tcp(t) = &engine.wire else {
        return;
    };
    let mut framer = StreamFramer::new(Limits::DEFAULT);
    let mut chunk = vec![0u8; 16_384];
    while !engine.shutdown.load(Ordering::SeqCst) {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                if framer.push(&chunk[..n]).is_err() {
                    break;
                }
                loop {
                    match framer.poll_item() {
                        Ok(Some(StreamItem::Message(bytes))) => {
                            engine.receive(&bytes, Peer::Tcp(index));
                        }
                        Ok(Some(StreamItem::Ping)) => {
                            let _ = stream.write_all(b"\r\n");
                        }
                        Ok(None) => break,
                        Err(_) => {
                            t.close(index);
                            return;
                        }
                    }
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => break,
        }
    }
    t.close(index);
}
