//! The relay: its worker threads, its port pool, and the operations the
//! control side calls.

use super::bridge::{unlink, BridgeHandle};
use super::leg::{Destinations, Leg, LegHandle, Outbound, PortLease};
use super::lock;
use super::monitor;
use super::ports::{placement, Ports, Sockets};
use super::socket::bind_pair;
use super::worker::{Command, Worker, WAKER};
use crate::egress::Egress;
use crate::leg_state::LegState;
use crate::{LegId, PortPair, RelayConfig, RelayError};
use arc_swap::{ArcSwap, ArcSwapOption};
use mio::unix::SourceFd;
use mio::{Interest, Poll, Registry, Token, Waker};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

/// The RTP/RTCP relay. Start one per node; open a leg per call leg; bridge
/// legs; re-point a bridge on handover.
///
/// Dropping the relay stops its workers (forwarding stops). Legs whose
/// handles are still held keep their ports until those handles drop.
pub struct Relay {
    shared: Arc<RelayShared>,
    threads: Vec<JoinHandle<()>>,
}

/// What the handles share with the relay.
pub(crate) struct RelayShared {
    config: RelayConfig,
    ports: Arc<Mutex<Ports>>,
    workers: Vec<WorkerLink>,
    /// Serialises connect, re-point, disconnect and close, so that two
    /// control operations never interleave their route swaps. Never taken
    /// on the packet path.
    pub(crate) control: Mutex<()>,
    next_leg: AtomicU64,
    next_epoch: AtomicU64,
    stopped: AtomicBool,
}

/// The control side's line to one worker.
///
/// Adding and removing a leg queue a command without waking the worker:
/// it applies its queue whenever it wakes, when it meets a slot it does
/// not know (before reading it), and at least every poll timeout, which
/// bounds how long a closed leg's ports stay out of the pool. Only
/// shutdown wakes it. (A wakeup per command was an `eventfd` write, an
/// `epoll_wait` return and a context switch, ~5 per call.)
struct WorkerLink {
    commands: Sender<Command>,
    waker: Waker,
    /// The worker's poller, for registering sockets from the control side:
    /// a registration error then reaches `open_leg`'s caller. Slot `s` is
    /// tokens `2s` (RTP) and `2s + 1` (RTCP); a pair's slot is fixed (see
    /// [`placement`]).
    registry: Registry,
}

impl Relay {
    /// Starts the workers. Binds nothing yet: ports are bound per leg.
    pub fn start(config: RelayConfig) -> Result<Relay, RelayError> {
        let workers = config.workers.max(1);
        let mut links = Vec::with_capacity(workers);
        let mut runners = Vec::with_capacity(workers);
        for _ in 0..workers {
            let poll = Poll::new().map_err(|source| RelayError::Worker { source })?;
            let waker = Waker::new(poll.registry(), WAKER)
                .map_err(|source| RelayError::Worker { source })?;
            let registry = poll
                .registry()
                .try_clone()
                .map_err(|source| RelayError::Worker { source })?;
            let (tx, rx) = mpsc::channel();
            links.push(WorkerLink {
                commands: tx,
                waker,
                registry,
            });
            runners.push(Worker::new(poll, rx, config.max_packet));
        }
        let ports = Ports::new(config.ports, config.socket_budget);
        metrics::gauge!(crate::metrics::PORTS_IN_USE).set(0.0);
        let shared = Arc::new(RelayShared {
            config,
            ports: Arc::new(Mutex::new(ports)),
            workers: links,
            control: Mutex::new(()),
            next_leg: AtomicU64::new(1),
            next_epoch: AtomicU64::new(1),
            stopped: AtomicBool::new(false),
        });
        let mut relay = Relay {
            shared,
            threads: Vec::with_capacity(workers),
        };
        for (i, worker) in runners.into_iter().enumerate() {
            let thread = std::thread::Builder::new()
                .name(format!("baton-relay-{i}"))
                .spawn(move || worker.run())
                .map_err(|source| RelayError::Worker { source })?;
            relay.threads.push(thread);
        }
        Ok(relay)
    }

    /// Opens a leg: allocates a port pair, binds it (skipping pairs another
    /// process holds), and starts reading it. `expected_remote` is the RTP
    /// address from the remote's SDP, if known yet (see
    /// [`LegHandle::set_remote`]); `strict` accepts only that host.
    ///
    /// A pair whose sockets a closed leg left open (see
    /// [`RelayConfig::socket_budget`]) is taken over as it is, after
    /// dropping whatever reached it since that leg closed.
    pub fn open_leg(
        &self,
        expected_remote: Option<SocketAddr>,
        strict: bool,
    ) -> Result<LegHandle, RelayError> {
        let shared = &self.shared;
        if shared.stopped.load(Ordering::Acquire) {
            return Err(RelayError::Shutdown);
        }
        let config = &shared.config;
        let (pair, index, sockets) = shared.allocate()?;
        let (worker, slot) = placement(index, shared.workers.len());
        let link = &shared.workers[worker];
        let lease = PortLease {
            pair,
            sockets,
            ports: Arc::clone(&shared.ports),
        };
        let core = LegState::new(Instant::now(), expected_remote, strict, config.max_packet);
        let destinations = ArcSwap::from_pointee(Destinations {
            rtp: core.rtp_destination(),
            rtcp: core.rtcp_destination(),
        });
        let leg = Arc::new(Leg {
            id: LegId(shared.next_leg.fetch_add(1, Ordering::Relaxed)),
            core: Mutex::new(core),
            destinations,
            route: ArcSwapOption::empty(),
            egress: Mutex::new(Egress::new(config.clock_rate)),
            outbound: Outbound::default(),
            extras: AtomicU8::new(0),
            keys: Mutex::new(None),
            tap: ArcSwapOption::empty(),
            monitor: Mutex::new(None),
            closed: AtomicBool::new(false),
            worker,
            slot,
            lease,
        });
        // Not woken: the worker learns the slot before it reads it (an
        // event on a slot it does not know makes it apply its queue
        // first), and the sockets are registered already.
        if link.commands.send(Command::Add(Arc::clone(&leg))).is_err() {
            return Err(RelayError::Shutdown);
        }
        Ok(LegHandle {
            leg,
            relay: Arc::clone(shared),
        })
    }

    /// Bridges `a` and `b`: packets arriving on `a` leave from `b`'s
    /// sockets to `b`'s remote (latched, else expected), and the reverse.
    /// Refused if either leg is closed or already bridged.
    pub fn connect(&self, a: &LegHandle, b: &LegHandle) -> Result<BridgeHandle, RelayError> {
        BridgeHandle::connect(&self.shared, a, b)
    }

    /// Makes `listener` a monitor of `bridge`: from now on it hears both
    /// ends of the bridge mixed (G.711 decoded, summed with saturation,
    /// re-encoded in the law of the clock end's packets, one packet per
    /// clock packet), and everything it sends is dropped (counted as
    /// [`crate::DropReason::Monitor`]). The clock end is the one the
    /// latest re-point left in place (the remote party R; with no
    /// re-point, the second leg given to [`Relay::connect`]); if it is
    /// silent for over 60 ms, the other end is heard alone. The mix leaves
    /// from `listener`'s RTP port to its remote, continuing the stream it
    /// heard before (same SSRC, sequence +1, timestamps running on).
    ///
    /// The bridge itself is untouched. The monitor ends on
    /// [`LegHandle::stop_monitor`], when `listener` closes, or when it is
    /// bridged again; it follows the two legs it was started on, so stop
    /// it before re-pointing the bridge (a re-point left with a stale
    /// monitor still works, the moved-away leg just keeps feeding the mix).
    /// Refused if `listener` is closed, bridged, or an end of `bridge`, if
    /// an end is closed, or if an end already feeds another listener's
    /// monitor. A listener monitoring another bridge moves to this one.
    pub fn monitor(&self, bridge: &BridgeHandle, listener: &LegHandle) -> Result<(), RelayError> {
        bridge.monitor(listener)
    }

    /// Port pairs allocated now.
    pub fn ports_in_use(&self) -> usize {
        lock(&self.shared.ports).in_use()
    }

    /// Free port pairs whose sockets are kept open for the pair's next leg
    /// (see [`RelayConfig::socket_budget`]).
    pub fn idle_port_pairs(&self) -> usize {
        lock(&self.shared.ports).idle()
    }

    /// The configuration the relay runs with.
    pub fn config(&self) -> &RelayConfig {
        &self.shared.config
    }

    /// Stops the workers and waits for them (as dropping does).
    pub fn shutdown(self) {}
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::Release);
        // Kept sockets are closed; legs closing from now on close theirs.
        let kept = lock(&self.shared.ports).close();
        drop(kept);
        for link in &self.shared.workers {
            let _ = link.commands.send(Command::Shutdown);
            let _ = link.waker.wake();
        }
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                tracing::error!("a media relay worker panicked");
            }
        }
    }
}

impl RelayShared {
    pub(crate) fn next_epoch(&self) -> u64 {
        self.next_epoch.fetch_add(1, Ordering::Relaxed)
    }

    /// Closes `leg`: out of its bridge, out of its worker's poller; the
    /// worker then drops its reference, and the last reference gives the
    /// ports back. Idempotent.
    pub(crate) fn close_leg(&self, leg: &Arc<Leg>) {
        if leg.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        {
            let _control = lock(&self.control);
            unlink(leg);
            monitor::stop(leg);
        }
        // The sockets stay registered (they may be kept for the pair's next
        // leg; closing them takes them out of the poller). The worker is
        // not woken: it applies the Remove within one poll timeout, or at
        // once if the leg's sockets are read before. FIFO: it sees this
        // Remove before the Add of the pair's next leg, which cannot come
        // before this leg (its lease) is dropped. If the worker is gone,
        // its references are gone with it.
        let _ = self.workers[leg.worker]
            .commands
            .send(Command::Remove(leg.slot));
    }

    /// Allocates a pair with its sockets: the kept ones if the pair has
    /// them (emptied), else fresh ones, bound and registered.
    fn allocate(&self) -> Result<(PortPair, usize, Arc<Sockets>), RelayError> {
        let config = &self.config;
        let mut ports = lock(&self.ports);
        let mut last_error = None;
        // Bounded: each free pair is tried at most once.
        for _ in 0..ports.capacity() {
            let (pair, index, kept) = ports.allocate()?;
            if let Some(sockets) = kept {
                metrics::gauge!(crate::metrics::PORTS_IN_USE).set(ports.in_use() as f64);
                drop(ports);
                sockets.rtp.discard();
                sockets.rtcp.discard();
                return Ok((pair, index, sockets));
            }
            let closing = ports.over_budget(index);
            if !closing.is_empty() {
                drop(ports);
                drop(closing);
                ports = lock(&self.ports);
            }
            match bind_pair(config.address, pair.rtp(), config.socket_buffer) {
                Ok((rtp, rtcp)) => {
                    let (worker, slot) = placement(index, self.workers.len());
                    let registry = &self.workers[worker].registry;
                    let registered = [(2 * slot, &rtp), (2 * slot + 1, &rtcp)]
                        .into_iter()
                        .try_for_each(|(token, socket)| {
                            registry.register(
                                &mut SourceFd(&socket.raw_fd()),
                                Token(token),
                                Interest::READABLE,
                            )
                        });
                    if let Err(source) = registered {
                        ports.release_unbound(pair);
                        return Err(RelayError::Worker { source });
                    }
                    metrics::gauge!(crate::metrics::PORTS_IN_USE).set(ports.in_use() as f64);
                    return Ok((pair, index, Arc::new(Sockets { rtp, rtcp })));
                }
                Err(e) => {
                    // Not ours to hand out: another process holds it.
                    // The pool's cursor has moved past it already.
                    tracing::debug!(%pair, error = %e, "media port pair unavailable, skipping");
                    ports.release_unbound(pair);
                    last_error = Some(e);
                }
            }
        }
        metrics::gauge!(crate::metrics::PORTS_IN_USE).set(ports.in_use() as f64);
        Err(match last_error {
            Some(source) => RelayError::Bind {
                range: config.ports,
                source,
            },
            None => RelayError::PortsExhausted {
                range: config.ports,
            },
        })
    }
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relay")
            .field("config", &self.shared.config)
            .field("workers", &self.threads.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for RelayShared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayShared")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
