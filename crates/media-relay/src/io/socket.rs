//! One leg port: a non-blocking UDP socket bound with `socket2`, read in
//! batches with `recvmmsg` (through `nix`).
//!
//! Why `recvmmsg` when a port carries only 50 packets a second: the
//! poller is edge-triggered, so each wakeup must read until the queue is
//! empty. With single `recvfrom` calls that costs one extra, failing
//! syscall (`EAGAIN`) per wakeup; a batch that comes back short proves the
//! queue empty in the same call.
//!
//! Why `nix` and not `quinn-udp` for it: `quinn-udp` turns on
//! `IP_PKTINFO`, `IP_RECVTOS`, `SO_TIMESTAMPNS` and `UDP_GRO` for QUIC, so
//! the kernel builds three control messages per packet that the relay never
//! reads; in a profile of the relay benchmark that was about 3.5 % of the
//! workers' samples (`put_cmsg`, `__sock_recv_timestamp`), gone with plain
//! `recvmmsg`. Sends stay plain `sendto`: each packet leaves from its
//! own leg's socket, so there is nothing to batch per socket, and
//! `sendmmsg` cannot span sockets.

use nix::sys::socket::{recvmmsg, MsgFlags, MultiHeaders, SockaddrLike, SockaddrStorage};
use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};

/// A bound leg port.
#[derive(Debug)]
pub(crate) struct MediaSocket {
    io: UdpSocket,
    local: SocketAddr,
}

/// One datagram of a batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Received {
    /// Bytes in the buffer.
    pub(crate) len: usize,
    /// The sender.
    pub(crate) source: SocketAddr,
    /// The datagram did not fit the buffer (`MSG_TRUNC`).
    pub(crate) truncated: bool,
}

impl MediaSocket {
    /// Binds `ip:port`, without `SO_REUSEADDR`: a port another process
    /// holds must fail here so the pool can skip it.
    ///
    /// Three syscalls: `socket` made non-blocking by its type (not two
    /// `fcntl`s after), `bind`, and no `getsockname`: the port is given
    /// (never 0, see [`crate::PortRange`]), so the bound address is known.
    pub(crate) fn bind(ip: IpAddr, port: u16, buffer: Option<usize>) -> io::Result<Self> {
        let addr = SocketAddr::new(ip, port);
        let socket = Socket::new(
            Domain::for_address(addr),
            Type::DGRAM.nonblocking(),
            Some(Protocol::UDP),
        )?;
        if let Some(bytes) = buffer {
            socket.set_recv_buffer_size(bytes)?;
            socket.set_send_buffer_size(bytes)?;
        }
        socket.bind(&addr.into())?;
        let io: UdpSocket = socket.into();
        let local = if port == 0 { io.local_addr()? } else { addr };
        Ok(MediaSocket { io, local })
    }

    /// Reads and drops every datagram queued now, without blocking: a kept
    /// socket handed to a new leg must not deliver what the previous call's
    /// remote sent after that call ended (it would latch the new leg onto
    /// it). One failing `recvfrom` when the queue is empty. Bounded: under
    /// a flood it stops after `MAX` datagrams. Returns how many it dropped.
    pub(crate) fn discard(&self) -> usize {
        const MAX: usize = 4096;
        // A short buffer: the rest of a longer datagram is dropped with it.
        let mut buf = [0u8; 16];
        let mut dropped = 0;
        while dropped < MAX {
            match self.io.recv(&mut buf) {
                Ok(_) => dropped += 1,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // WouldBlock: empty. Anything else (an ICMP error reported
                // on the socket) is consumed by the read that returned it.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => dropped += 1,
            }
        }
        dropped
    }

    /// The bound address.
    pub(crate) fn local(&self) -> SocketAddr {
        self.local
    }

    /// Reads up to `bufs.len()` datagrams without blocking, describing
    /// them in `out`. `headers` is the caller's scratch space, sized for
    /// `bufs.len()` (it is not `Send`, so each worker makes its own).
    pub(crate) fn recv<const N: usize>(
        &self,
        headers: &mut MultiHeaders<SockaddrStorage>,
        bufs: &mut [Vec<u8>; N],
        out: &mut [Received; N],
    ) -> io::Result<usize> {
        let mut slices = bufs.each_mut().map(|b| [IoSliceMut::new(b)]);
        let results = recvmmsg(
            self.io.as_raw_fd(),
            headers,
            slices.iter_mut(),
            MsgFlags::MSG_DONTWAIT,
            None,
        )
        .map_err(io::Error::from)?;
        let mut n = 0;
        for (msg, slot) in results.zip(out.iter_mut()) {
            let Some(source) = msg.address.as_ref().and_then(socket_addr) else {
                continue; // no address: not a datagram we can answer
            };
            *slot = Received {
                len: msg.bytes,
                source,
                truncated: msg.flags.contains(MsgFlags::MSG_TRUNC),
            };
            n += 1;
        }
        Ok(n)
    }

    /// Sends one datagram without blocking.
    pub(crate) fn send_to(&self, data: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.io.send_to(data, to)
    }

    pub(crate) fn raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

fn socket_addr(s: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(SocketAddrV4::from(*v4).into());
    }
    s.as_sockaddr_in6()
        .map(|v6| SocketAddrV6::from(*v6).into())
        .filter(|_| s.family().is_some())
}

/// Binds the RTP port and the RTCP port above it; both or neither.
pub(crate) fn bind_pair(
    ip: IpAddr,
    rtp: u16,
    buffer: Option<usize>,
) -> io::Result<(MediaSocket, MediaSocket)> {
    let rtp_socket = MediaSocket::bind(ip, rtp, buffer)?;
    let rtcp_socket = MediaSocket::bind(ip, rtp + 1, buffer)?;
    Ok((rtp_socket, rtcp_socket))
}
