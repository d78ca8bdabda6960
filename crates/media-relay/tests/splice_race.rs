//! The splice race under bursts, on real sockets on 127.0.0.1: two devices
//! (A and B) burst their backlog, as a sender does after a CPU stall,
//! while the bridge toward R is re-pointed between them up to 2,000 times
//! (a switch landing while the old device's burst is still being
//! forwarded). R must hear one stream in arrival order: one SSRC, every
//! step exactly +1. Bounded: 5 s whatever happens (about 3 s here).
//!
//! The legs of A and B sit on different relay workers (legs are spread
//! over the workers in turn), so the two streams reach R's egress from two
//! threads at once — the case the end-to-end handover tests hit. Before
//! the fix (the egress lock released before `send_to`), 8 runs in 10
//! failed here, e.g. R heard `..., 44524, 44526, ... 44541, 44525, 44542`:
//! the old device's last packet, numbered before the new device's first,
//! left after it. With numbering and sending under one lock: 0 in 20.

use baton_media_relay::{LegHandle, Relay, RtpHeader};
use socket2::Socket;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

mod support;

use support::{relay, rtp, Phone};

/// Re-points done per run.
const REPOINTS: usize = 2000;
/// Packets per burst: the backlog of a sender that was stalled 480 ms.
const BURST: u16 = 24;
/// The whole run stops after this, whatever is left.
const BUDGET: Duration = Duration::from_secs(5);

/// A device's stream: consecutive G.711 packets, sent in bursts.
struct Device {
    phone: Phone,
    to: SocketAddr,
    ssrc: u32,
    seq: u16,
    ts: u32,
}

impl Device {
    fn new(phone: Phone, to: SocketAddr, ssrc: u32) -> Self {
        Device {
            phone,
            to,
            ssrc,
            seq: (ssrc as u16).wrapping_mul(7),
            ts: ssrc.wrapping_mul(13),
        }
    }

    /// `BURST` packets back to back, as a stalled sender catches up.
    fn burst(&mut self) {
        for _ in 0..BURST {
            self.phone.send(self.to, &rtp(self.ssrc, self.seq, self.ts));
            self.seq = self.seq.wrapping_add(1);
            self.ts = self.ts.wrapping_add(160);
        }
    }
}

/// Busy-waits `d`: sleeping would overshoot by far more than `d`.
fn spin_for(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// What R heard, in arrival order: (SSRC, sequence number).
fn receiver(socket: UdpSocket, stop: Arc<AtomicBool>, heard: Arc<Mutex<Vec<(u32, u16)>>>) {
    let mut buf = [0u8; 2048];
    loop {
        match socket.recv_from(&mut buf) {
            Ok((n, _)) => {
                if let Some(h) = RtpHeader::parse(&buf[..n]) {
                    heard.lock().expect("heard").push((h.ssrc.0, h.sequence));
                }
            }
            // Timeouts let the loop see `stop` once the senders are done.
            Err(_) if stop.load(Ordering::Relaxed) => return,
            Err(_) => {}
        }
    }
}

fn leg(relay: &Relay, phone: &Phone) -> LegHandle {
    relay.open_leg(Some(phone.addr()), false).expect("leg")
}

#[test]
fn r_hears_one_stream_stepping_by_one_across_hundreds_of_repoints_under_bursts() {
    let relay = relay(24_200, 10);
    let (a, b, r) = (Phone::new(), Phone::new(), Phone::new());
    // A deep queue at R: a loss there would be the test's, not the relay's.
    let deep = Socket::from(r.socket.try_clone().expect("clone"));
    deep.set_recv_buffer_size(4 << 20).expect("rcvbuf");
    r.socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    // Opened in this order, A and B land on different workers.
    let (leg_a, leg_b, leg_r) = (leg(&relay, &a), leg(&relay, &b), leg(&relay, &r));
    let bridge = relay.connect(&leg_a, &leg_r).expect("connect");

    let stop = Arc::new(AtomicBool::new(false));
    let heard = Arc::new(Mutex::new(Vec::new()));
    let rx = {
        let socket = r.socket.try_clone().expect("clone");
        let (stop, heard) = (Arc::clone(&stop), Arc::clone(&heard));
        thread::spawn(move || receiver(socket, stop, heard))
    };
    let mut devices = [
        Device::new(a, leg_a.local_rtp(), 0xaaaa),
        Device::new(b, leg_b.local_rtp(), 0xbbbb),
    ];
    let legs = [&leg_a, &leg_b];
    let started = Instant::now();
    let mut repoints = 0;
    // Irregular delays so the switch lands anywhere in the old device's
    // burst, while its worker is still forwarding it with the route it
    // loaded before the switch.
    let mut rng: u64 = 0x2545_f491;
    while repoints < REPOINTS && started.elapsed() < BUDGET {
        let (old, new) = (repoints % 2, (repoints + 1) % 2);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // The device R hears bursts its backlog...
        devices[old].burst();
        spin_for(Duration::from_micros(rng % 50));
        // ...the call moves while it is being forwarded...
        bridge.repoint(legs[old], legs[new]).expect("repoint");
        // ...and the new device bursts too, on another worker.
        devices[new].burst();
        thread::sleep(Duration::from_micros(500 + rng % 1000));
        repoints += 1;
    }
    thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    rx.join().expect("receiver");

    let heard = heard.lock().expect("heard").clone();
    assert!(repoints >= 100, "only {repoints} re-points in {BUDGET:?}");
    assert!(heard.len() > 1000, "R heard only {} packets", heard.len());
    let ssrcs: std::collections::BTreeSet<u32> = heard.iter().map(|(s, _)| *s).collect();
    assert_eq!(ssrcs.len(), 1, "R heard SSRCs {ssrcs:x?}");
    let bad: Vec<(usize, u16, u16)> = heard
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[1].1 != w[0].1.wrapping_add(1))
        .map(|(i, w)| (i, w[0].1, w[1].1))
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} steps at R were not +1 over {repoints} re-points; first: {:?}",
        bad.len(),
        heard.len(),
        &bad[..bad.len().min(10)]
    );
}
