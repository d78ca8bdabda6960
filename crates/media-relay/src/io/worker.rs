//! A forwarding thread: one edge-triggered poller over the sockets of the
//! legs assigned to it, a tight loop of receive, judge, rewrite, send.
//!
//! Why threads and not tokio tasks: a task per socket pays the scheduler on
//! every packet (wake, queue, poll) and tokio clears readiness only on
//! `WouldBlock`, costing one failing `recv` per wakeup; a single task over
//! many sockets would reimplement this loop inside a runtime that adds
//! nothing to it. A plain thread with its own `mio` poller has neither
//! cost, and control never waits on it: operations are route swaps and
//! queued commands. Measured with the relay benchmark at 1000 calls
//! (100,000 packets/s): a tokio baseline that only forwards (a task per
//! socket, 2 runtime threads, no latching, validation or rewriting) spent
//! 5.3-5.9 µs of CPU per packet; these threads, doing all of it, 4.6-4.9.

use super::bridge::Route;
use super::leg::Leg;
use super::lock;
use super::monitor::{self, extras};
use super::socket::Received;
use crate::dtmf::KeyVerdict;
use crate::leg_state::{Port, Verdict};
use crate::metrics::MetricsBatch;
use crate::rtp::{payload_range, RtpHeader};
use crate::DropReason;
use mio::{Events, Poll, Token};
use nix::sys::socket::{MultiHeaders, SockaddrStorage};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The token of the worker's waker (commands are queued).
pub(crate) const WAKER: Token = Token(usize::MAX);

/// Datagrams read per `recvmmsg`. A port carries ~50 packets a second, so
/// one call nearly always empties it; the batch matters after a stall.
const BATCH: usize = 8;
/// Batches read from one socket per wakeup before moving on to the others,
/// so one flooded port cannot starve the rest; the socket is revisited
/// right after.
const ROUNDS: usize = 4;
/// Poller events taken per wakeup.
const EVENTS: usize = 1024;
/// The longest the worker sleeps without applying its queued commands:
/// adding and removing legs do not wake it, so this bounds how long a
/// closed leg's ports stay out of the pool.
const TICK: Duration = Duration::from_millis(50);

/// What the control side tells a worker.
#[derive(Debug)]
pub(crate) enum Command {
    /// Start reading this leg; its sockets are registered at its slot.
    /// Not woken for: see [`Worker::readable`].
    Add(Arc<Leg>),
    /// Stop reading the leg at this slot and let go of it.
    Remove(usize),
    /// Exit.
    Shutdown,
}

/// A poller slot: the leg whose sockets are registered there, if the
/// worker knows it yet.
#[derive(Default, Clone)]
struct Slot {
    leg: Option<Arc<Leg>>,
    /// Readiness reported on the slot's RTP (bit 0) and RTCP (bit 1)
    /// sockets while no leg was known there: the edge-triggered poller
    /// will not report it again, so the leg added next reads them first.
    missed: u8,
}

/// One worker thread's state.
pub(crate) struct Worker {
    poll: Poll,
    commands: Receiver<Command>,
    slots: Vec<Slot>,
    /// A shutdown was seen while reading: exit after this wakeup.
    stopping: bool,
    bufs: [Vec<u8>; BATCH],
    received: [Received; BATCH],
    /// Sockets that still had data when their round budget ran out.
    backlog: Vec<Token>,
    ready: Vec<Token>,
    metrics: MetricsBatch,
}

impl Worker {
    pub(crate) fn new(poll: Poll, commands: Receiver<Command>, max_packet: usize) -> Self {
        Worker {
            poll,
            commands,
            slots: Vec::new(),
            stopping: false,
            // One byte more than the largest packet accepted: a datagram
            // that fills the buffer was (or may have been) too large.
            bufs: std::array::from_fn(|_| vec![0; max_packet + 1]),
            received: [Received {
                len: 0,
                source: SocketAddr::from(([0, 0, 0, 0], 0)),
                truncated: false,
            }; BATCH],
            backlog: Vec::new(),
            ready: Vec::new(),
            metrics: MetricsBatch::new(),
        }
    }

    /// The loop. Returns on [`Command::Shutdown`] or when the relay is gone.
    pub(crate) fn run(mut self) {
        let mut events = Events::with_capacity(EVENTS);
        // Made here: the kernel headers hold raw pointers (not `Send`).
        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
        loop {
            let timeout = if self.backlog.is_empty() {
                TICK
            } else {
                Duration::ZERO
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::error!(error = %e, "media relay poller failed; worker stops");
                return;
            }
            if !self.commands() {
                return;
            }
            let now = Instant::now();
            let mut ready = std::mem::take(&mut self.ready);
            ready.append(&mut self.backlog);
            ready.extend(events.iter().map(|e| e.token()).filter(|t| *t != WAKER));
            for token in ready.drain(..) {
                self.readable(token, now, &mut headers);
            }
            self.ready = ready;
            self.metrics.flush();
            if self.stopping {
                return;
            }
        }
    }

    /// Applies queued commands. False on shutdown.
    fn commands(&mut self) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(Command::Add(leg)) => {
                    let slot = leg.slot;
                    if self.slots.len() <= slot {
                        self.slots.resize(slot + 1, Slot::default());
                    }
                    let s = &mut self.slots[slot];
                    s.leg = Some(leg);
                    for bit in 0..2 {
                        if s.missed & (1 << bit) != 0 {
                            self.backlog.push(Token(2 * slot + bit));
                        }
                    }
                    s.missed = 0;
                }
                Ok(Command::Remove(slot)) => {
                    if let Some(s) = self.slots.get_mut(slot) {
                        *s = Slot::default();
                    }
                }
                Ok(Command::Shutdown) | Err(TryRecvError::Disconnected) => return false,
                Err(TryRecvError::Empty) => return true,
            }
        }
    }

    /// The leg at `slot`, if the worker knows it.
    fn leg(&self, slot: usize) -> Option<Arc<Leg>> {
        self.slots.get(slot).and_then(|s| s.leg.clone())
    }

    /// Reads the socket `token` names. Legs are added without waking the
    /// worker, so a slot not known yet makes it apply its queue first.
    fn readable(
        &mut self,
        token: Token,
        now: Instant,
        headers: &mut MultiHeaders<SockaddrStorage>,
    ) {
        let (slot, port) = (
            token.0 / 2,
            if token.0.is_multiple_of(2) {
                Port::Rtp
            } else {
                Port::Rtcp
            },
        );
        let leg = match self.leg(slot) {
            Some(leg) => leg,
            None => {
                // The leg may have been added since the queue was read
                // (adding one does not wake the worker): read it again.
                if !self.commands() {
                    self.stopping = true;
                    return;
                }
                match self.leg(slot) {
                    Some(leg) => leg,
                    None => {
                        // Nobody there yet (its Add is not queued yet), or
                        // a stale event of a closed leg, or late media to
                        // kept sockets (emptied when handed out). Whoever
                        // comes next reads first.
                        if let Some(s) = self.slots.get_mut(slot) {
                            s.missed |= 1 << (token.0 % 2);
                        } else {
                            self.slots.resize(slot + 1, Slot::default());
                            self.slots[slot].missed = 1 << (token.0 % 2);
                        }
                        return;
                    }
                }
            }
        };
        if leg.closed.load(Ordering::Acquire) {
            // Closed, its Remove on its way: let go now (the ports return
            // to the pool sooner), and leave what it received unread; the
            // sockets are emptied before another leg gets them.
            self.slots[slot].leg = None;
            return;
        }
        if self.drain(&leg, port, now, headers) {
            self.backlog.push(token);
        }
    }

    /// Reads and forwards what `leg`'s `port` holds. True if data may be
    /// left (round budget spent): the edge-triggered poller will not report
    /// it again, so the caller must come back.
    fn drain(
        &mut self,
        leg: &Leg,
        port: Port,
        now: Instant,
        headers: &mut MultiHeaders<SockaddrStorage>,
    ) -> bool {
        let socket = leg.socket(port);
        let mut core = lock(&leg.core);
        let mut more = true;
        for _ in 0..ROUNDS {
            let n = match socket.recv(headers, &mut self.bufs, &mut self.received) {
                Ok(n) => n,
                Err(e) => {
                    if e.kind() != io::ErrorKind::WouldBlock {
                        tracing::debug!(leg = %leg.id, error = %e, "media receive failed");
                    }
                    more = false;
                    break;
                }
            };
            for i in 0..n {
                let Received {
                    len,
                    source,
                    truncated,
                } = self.received[i];
                // A truncated datagram fills the buffer, one byte more than
                // the largest accepted: the leg state drops it as too large.
                let buf = &mut self.bufs[i];
                let len = if truncated {
                    buf.len()
                } else {
                    len.min(buf.len())
                };
                let data = &mut buf[..len];
                let verdict = core.on_datagram(now, port, source, data);
                if core.take_destinations_changed() {
                    leg.publish(&core);
                }
                self.metrics.received(data.len());
                let rtp = match verdict {
                    Verdict::Drop(reason) => {
                        self.metrics.dropped(reason); // the leg state counted it
                        continue;
                    }
                    Verdict::Rtp(h) => Some(h),
                    Verdict::Rtcp => None,
                };
                let bits = leg.extras.load(Ordering::Relaxed);
                if bits != 0 {
                    match extras(leg, bits, rtp, data, now) {
                        Ok(mixed) => {
                            if let Some(bytes) = mixed {
                                self.metrics.sent(bytes);
                            }
                        }
                        Err(reason) => {
                            core.dropped(reason);
                            self.metrics.dropped(reason);
                            continue;
                        }
                    }
                }
                // The route is read per packet, not once per wakeup: a
                // burst being drained when the bridge is re-pointed must
                // stop going to R at the switch, not carry on with the
                // old route (and advance R's numbering) until the burst
                // ends. One arc-swap load, a few nanoseconds.
                let route = leg.route.load();
                match forward(route.as_deref(), port, rtp, now, data) {
                    Ok(()) => self.metrics.sent(data.len()),
                    Err(reason) => {
                        // A failed send is counted on the sending leg.
                        if reason != DropReason::SendFailed {
                            core.dropped(reason);
                        }
                        self.metrics.dropped(reason);
                    }
                }
            }
            if n < BATCH {
                more = false;
                break;
            }
        }
        more
    }
}

/// Applies the extras on (`bits`) to an accepted datagram from `leg`
/// (`rtp`: its header, `None` for RTCP). `Err` names why it must be
/// dropped; `Ok` carries the bytes a monitor sent to its listener, if the
/// datagram fed one.
fn extras(
    leg: &Leg,
    bits: u8,
    rtp: Option<RtpHeader>,
    data: &[u8],
    now: Instant,
) -> Result<Option<usize>, DropReason> {
    if let Some(h) = rtp.filter(|_| bits & extras::KEYS != 0) {
        if consumed(leg, &h, data) {
            // The remote must not see the key's packets as loss: the
            // stream toward it closes the gap they leave.
            if let Some(route) = leg.route.load().as_deref() {
                lock(&route.to.egress).rewriter.skip(route.epoch, h);
            }
            return Err(DropReason::DtmfConsumed);
        }
    }
    if bits & extras::LISTENING != 0 {
        return Err(DropReason::Monitor);
    }
    match rtp.filter(|_| bits & extras::TAP != 0) {
        Some(h) => Ok(monitor::feed(leg, h, data, now)),
        None => Ok(None),
    }
}

/// Whether the RTP packet `data` (header `h`) is a watched key; reports
/// the key to the watch's sink on the first packet of its event.
fn consumed(leg: &Leg, h: &RtpHeader, data: &[u8]) -> bool {
    let (verdict, sink) = {
        let mut keys = lock(&leg.keys);
        let Some((watch, sink)) = keys.as_mut().filter(|(w, _)| w.carries(h.payload_type)) else {
            return false;
        };
        let Some(payload) = payload_range(data) else {
            return false;
        };
        let verdict = watch.judge(h, &data[payload]);
        let report = matches!(verdict, KeyVerdict::Consume { report: Some(_) });
        (verdict, report.then(|| Arc::clone(sink)))
    };
    match verdict {
        KeyVerdict::Pass => false,
        KeyVerdict::Consume { report } => {
            // Called outside the lock: the sink is the caller's code.
            if let (Some(key), Some(sink)) = (report, sink) {
                sink(key);
            }
            true
        }
    }
}

/// Sends an accepted datagram (`rtp`: its header, `None` for RTCP) on
/// along `route`, rewritten for the receiving leg's stream. `Err` names why
/// it was dropped.
fn forward(
    route: Option<&Route>,
    port: Port,
    rtp: Option<RtpHeader>,
    now: Instant,
    data: &mut [u8],
) -> Result<(), DropReason> {
    let route = route.ok_or(DropReason::NoDestination)?;
    let to = &route.to;
    let destinations = to.destinations.load();
    // RTCP multiplexed on the RTP port stays on the RTP port.
    let (destination, socket) = match port {
        Port::Rtp => (destinations.rtp, to.rtp()),
        Port::Rtcp => (destinations.rtcp, to.rtcp()),
    };
    let destination: SocketAddr = destination.ok_or(DropReason::NoDestination)?;
    // Sent with the egress locked (see `Egress::rtp`): packets toward one
    // remote leave in the order their numbers were given.
    let mut egress = lock(&to.egress);
    let send = |d: &[u8]| socket.send_to(d, destination);
    let sent = match rtp {
        Some(h) => egress.rtp(now, route.epoch, h, data, send),
        None => egress.rtcp(route.epoch, data, send),
    };
    drop(egress);
    match sent {
        Ok(bytes) => {
            to.outbound.sent(bytes);
            Ok(())
        }
        Err(DropReason::SendFailed) => {
            to.outbound.failed();
            Err(DropReason::SendFailed)
        }
        Err(reason) => Err(reason),
    }
}
