//! The splice race under bursts, on real sockets on 127.0.0.1: two devices
//! (A and B) send continuously, in bursts as a sender does after a CPU
//! stall, while the bridge toward R is re-pointed between them hundreds of
//! times. R must hear one stream in arrival order: one SSRC, every step
//! exactly +1. Bounded: a few seconds whatever happens.
//!
//! The legs of A and B sit on different relay workers (legs are spread
//! over the workers in turn), so the two streams reach R's egress from two
//! threads at once — the case the end-to-end handover tests hit.

use baton_media_relay::{LegHandle, Relay, RtpHeader};
use socket2::Socket;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

mod support;

use support::{relay, rtp, Phone};

/// Re-points done per run.
const REPOINTS: usize = 400;
/// Packets per burst: the backlog of a sender that was stalled 320 ms.
const BURST: u16 = 16;
/// Busy threads competing with the relay for the cores.
const SPINNERS: usize = 2;
/// The whole run stops after this, whatever is left.
const BUDGET: Duration = Duration::from_secs(6);

/// A sender: bursts of `BURST` consecutive packets with a short pause,
/// until told to stop.
fn sender(phone: Phone, to: std::net::SocketAddr, ssrc: u32, stop: Arc<AtomicBool>) {
    let mut seq: u16 = (ssrc as u16).wrapping_mul(7);
    let mut ts: u32 = ssrc.wrapping_mul(13);
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..BURST {
            phone.send(to, &rtp(ssrc, seq, ts));
            seq = seq.wrapping_add(1);
            ts = ts.wrapping_add(160);
        }
        thread::sleep(Duration::from_micros(1500));
    }
}

/// What R heard, in arrival order: (SSRC, sequence number).
fn receiver(socket: UdpSocket, stop: Arc<AtomicBool>, heard: Arc<Mutex<Vec<(u32, u16)>>>) {
    let mut buf = [0u8; 2048];
    loop {
        match socket.recv_from(&mut buf) {
            Ok((n, _)) => {
                if let Some(h) = RtpHeader::parse(&buf[..n]) {
                    heard
                        .lock()
                        .expect("heard")
                        .push((h.ssrc.0, h.sequence));
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

    let stop_senders = Arc::new(AtomicBool::new(false));
    let stop_receiver = Arc::new(AtomicBool::new(false));
    let heard = Arc::new(Mutex::new(Vec::new()));
    let rx = {
        let socket = r.socket.try_clone().expect("clone");
        let (stop, heard) = (Arc::clone(&stop_receiver), Arc::clone(&heard));
        thread::spawn(move || receiver(socket, stop, heard))
    };
    let senders: Vec<_> = [(a, leg_a.local_rtp(), 0xaaaa), (b, leg_b.local_rtp(), 0xbbbb)]
        .into_iter()
        .map(|(phone, to, ssrc)| {
            let stop = Arc::clone(&stop_senders);
            thread::spawn(move || sender(phone, to, ssrc, stop))
        })
        .collect();

    // CPU pressure, as when ~20 tests share two cores: the relay's workers
    // get preempted anywhere, between judging a packet and sending it too.
    let spinners: Vec<_> = (0..SPINNERS)
        .map(|_| {
            let stop = Arc::clone(&stop_senders);
            thread::spawn(move || {
                let mut x = 1u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..10_000 {
                        x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    let mut repoints = 0;
    let legs = [&leg_a, &leg_b];
    // Irregular pauses (0-2.9 ms) so switches land anywhere in a burst.
    let mut pause: u64 = 0x2545_f491;
    while repoints < REPOINTS && started.elapsed() < BUDGET {
        pause ^= pause << 13;
        pause ^= pause >> 7;
        pause ^= pause << 17;
        thread::sleep(Duration::from_micros(pause % 3000));
        bridge
            .repoint(legs[repoints % 2], legs[(repoints + 1) % 2])
            .expect("repoint");
        repoints += 1;
    }
    stop_senders.store(true, Ordering::Relaxed);
    for s in senders.into_iter().chain(spinners) {
        s.join().expect("sender");
    }
    thread::sleep(Duration::from_millis(100));
    stop_receiver.store(true, Ordering::Relaxed);
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
