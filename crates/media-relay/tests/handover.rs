//! The relay's part in a handover, on real sockets on 127.0.0.1: the key
//! the current device presses to authorise, the prompt tone it hears, the
//! monitor mix it may keep, and the splice report of the swap. Every wait
//! is bounded.

use baton_media_relay::{DropReason, Law, LegHandle, Relay, RelayError, RtpHeader, Splice, Ssrc};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod support;

use support::{collect, dtmf, eventually, packet, relay, rtp, Phone, WAIT};

const MS20: Duration = Duration::from_millis(20);

fn leg(relay: &Relay, phone: &Phone) -> LegHandle {
    relay.open_leg(Some(phone.addr()), false).expect("leg")
}

fn decode(law: Law, p: &[u8]) -> Vec<i32> {
    p[12..].iter().map(|c| i32::from(law.decode(*c))).collect()
}

fn header(p: &[u8]) -> RtpHeader {
    RtpHeader::parse(p).expect("rtp")
}

#[test]
fn watched_keys_are_reported_once_and_never_reach_r() {
    let relay = relay(23_000, 20);
    let (a, r) = (Phone::new(), Phone::new());
    let (leg_a, leg_r) = (leg(&relay, &a), leg(&relay, &r));
    let _bridge = relay.connect(&leg_a, &leg_r).expect("connect");
    let (tx, keys) = mpsc::channel();
    leg_a.watch_keys(
        101,
        &[1, 2, 3],
        Arc::new(move |k| {
            let _ = tx.send(k);
        }),
    );
    let audio = rtp(0xa, 1, 0);
    a.send(leg_a.local_rtp(), &audio);
    assert_eq!(r.recv().0, audio, "audio passes");
    // Key 1: start, two updates, the end three times (RFC 4733 §2.5.1.4).
    let mut seq = 2;
    for (end, duration) in [
        (false, 160),
        (false, 320),
        (false, 480),
        (true, 640),
        (true, 640),
        (true, 640),
    ] {
        a.send(leg_a.local_rtp(), &dtmf(0xa, seq, 1000, 1, end, duration));
        seq += 1;
    }
    // An unwatched key passes, and is the next thing R hears.
    let five = dtmf(0xa, seq, 2000, 5, true, 400);
    a.send(leg_a.local_rtp(), &five);
    // R's stream shows no gap where key 1 was consumed: same packet,
    // numbered right after the audio.
    let got = r.recv().0;
    assert_eq!(got[12..], five[12..], "no packet of key 1 reached R");
    assert_eq!(header(&got).sequence, 2, "no gap at R");
    for (i, end) in [false, true, true].into_iter().enumerate() {
        a.send(
            leg_a.local_rtp(),
            &dtmf(0xa, seq + 1 + i as u16, 3000, 2, end, 160),
        );
    }
    let after = rtp(0xa, seq + 4, 3160);
    a.send(leg_a.local_rtp(), &after);
    let got = r.recv().0;
    assert_eq!(got[12..], after[12..], "no packet of key 2 reached R");
    assert_eq!(header(&got).sequence, 3, "no gap at R");
    assert_eq!(keys.recv_timeout(WAIT), Ok(1));
    assert_eq!(keys.recv_timeout(WAIT), Ok(2));
    assert!(keys.try_recv().is_err(), "each press reported once");
    eventually("consumed packets counted", || {
        leg_a.stats().inbound.dropped.get(DropReason::DtmfConsumed) == 9
    });
    // The watch is on what A sends, not on what R sends.
    let from_r = dtmf(0xb, 1, 500, 1, false, 160);
    r.send(leg_r.local_rtp(), &from_r);
    assert_eq!(a.recv().0, from_r);
    // Unwatched, key 1 passes again.
    leg_a.unwatch_keys();
    let again = dtmf(0xa, seq + 5, 9000, 1, false, 160);
    a.send(leg_a.local_rtp(), &again);
    let got = r.recv().0;
    assert_eq!(got[12..], again[12..]);
    assert_eq!(header(&got).sequence, 4, "still no gap at R");
    assert!(keys.try_recv().is_err());
}

#[test]
fn a_prompt_tone_rides_on_g711_toward_the_leg_for_its_duration() {
    // One period of the 1 kHz tone at 8 kHz, -12 dBFS.
    const SINE: [i32; 8] = [0, 5820, 8231, 5820, 0, -5820, -8231, -5820];
    let relay = relay(23_200, 20);
    let (a, r) = (Phone::new(), Phone::new());
    let (leg_a, leg_r) = (leg(&relay, &a), leg(&relay, &r));
    let _bridge = relay.connect(&leg_a, &leg_r).expect("connect");
    let silence_mu = [Law::Mu.encode(0); 160];
    let silence_a = [Law::A.encode(0); 160];
    let start = Instant::now();
    leg_a.play_prompt(Duration::from_millis(400));
    let mut heard = Vec::new();
    for seq in 0..10u16 {
        r.send(
            leg_r.local_rtp(),
            &packet(0, 0xb, seq, u32::from(seq) * 160, &silence_mu),
        );
        heard.extend(decode(Law::Mu, &r_to(&a)));
    }
    // The beep (250 ms on) with its phase running on across packets.
    assert_eq!(heard.len(), 1600);
    for (n, s) in heard.iter().enumerate() {
        let want = SINE[n % 8];
        assert!(
            (s - want).abs() <= want.abs() / 16 + 8,
            "sample {n}: {s} vs {want}"
        );
    }
    // Other payload types pass untouched; PCMA gets the tone in A-law.
    let event = dtmf(0xb, 10, 1600, 4, false, 160);
    r.send(leg_r.local_rtp(), &event);
    assert_eq!(r_to(&a), event);
    r.send(leg_r.local_rtp(), &packet(8, 0xb, 11, 1760, &silence_a));
    let pcma = decode(Law::A, &r_to(&a));
    for (i, s) in pcma.iter().enumerate() {
        let want = SINE[(1600 + i) % 8];
        assert!(
            (s - want).abs() <= want.abs() / 16 + 16,
            "A-law {i}: {s} vs {want}"
        );
    }
    // Over after its duration.
    std::thread::sleep(
        (start + Duration::from_millis(450)).saturating_duration_since(Instant::now()),
    );
    r.send(leg_r.local_rtp(), &packet(0, 0xb, 12, 1920, &silence_mu));
    assert_eq!(&r_to(&a)[12..], &silence_mu[..]);
    // And stopped on request.
    leg_a.play_prompt(Duration::from_secs(60));
    r.send(leg_r.local_rtp(), &packet(0, 0xb, 13, 2080, &silence_mu));
    assert_ne!(&r_to(&a)[12..], &silence_mu[..]);
    leg_a.stop_prompt();
    r.send(leg_r.local_rtp(), &packet(0, 0xb, 14, 2240, &silence_mu));
    assert_eq!(&r_to(&a)[12..], &silence_mu[..]);
}

/// The next datagram `phone` receives.
fn r_to(phone: &Phone) -> Vec<u8> {
    phone.recv().0
}

/// R and A in a call, A hands over to B: returns the legs, the bridge now
/// R↔B, and the last header A heard from R.
struct Handover {
    a: Phone,
    r: Phone,
    b: Phone,
    leg_a: LegHandle,
    leg_r: LegHandle,
    leg_b: LegHandle,
    bridge: baton_media_relay::BridgeHandle,
    a_heard: RtpHeader,
}

fn handed_over(relay: &Relay) -> Handover {
    let (a, r, b) = (Phone::new(), Phone::new(), Phone::new());
    let (leg_a, leg_r, leg_b) = (leg(relay, &a), leg(relay, &r), leg(relay, &b));
    let bridge = relay.connect(&leg_a, &leg_r).expect("connect");
    let mut a_heard = None;
    for seq in 0..3u16 {
        r.send(
            leg_r.local_rtp(),
            &packet(0, 0xcccc, seq, u32::from(seq) * 160, &[0xff; 160]),
        );
        a_heard = Some(header(&a.recv().0));
        a.send(
            leg_a.local_rtp(),
            &packet(0, 0xaaaa, seq, u32::from(seq) * 160, &[0xff; 160]),
        );
        r.recv();
    }
    bridge.repoint(&leg_a, &leg_b).expect("repoint");
    Handover {
        a,
        r,
        b,
        leg_a,
        leg_r,
        leg_b,
        bridge,
        a_heard: a_heard.expect("A heard R"),
    }
}

#[test]
fn a_monitoring_leg_hears_r_and_b_mixed_and_is_heard_by_no_one() {
    let relay = relay(23_400, 20);
    let h = handed_over(&relay);
    relay.monitor(&h.bridge, &h.leg_a).expect("monitor");
    let r_frame = [Law::Mu.encode(1000); 160];
    let b_frame = [Law::A.encode(2000); 160]; // B speaks PCMA
    let a_frame = [0x55; 160];
    let (mut to_a, mut to_r, mut to_b) = (Vec::new(), Vec::new(), Vec::new());
    let start = Instant::now();
    for tick in 0..25u16 {
        let ts = u32::from(tick) * 160;
        h.b.send(
            h.leg_b.local_rtp(),
            &packet(8, 0xbbbb, 100 + tick, ts, &b_frame),
        );
        h.r.send(
            h.leg_r.local_rtp(),
            &packet(0, 0xcccc, 3 + tick, 480 + ts, &r_frame),
        );
        h.a.send(
            h.leg_a.local_rtp(),
            &packet(0, 0xaaaa, 3 + tick, 480 + ts, &a_frame),
        );
        std::thread::sleep(
            (start + MS20 * u32::from(tick + 1)).saturating_duration_since(Instant::now()),
        );
        to_a.extend(h.a.drain());
        to_r.extend(h.r.drain());
        to_b.extend(h.b.drain());
    }
    let window = Duration::from_millis(100);
    to_a.extend(collect(&h.a, window));
    to_r.extend(collect(&h.r, window));
    to_b.extend(collect(&h.b, window));

    // A hears one stream: the SSRC it knew, sequence +1 from before.
    assert!(to_a.len() >= 20, "A heard {} packets", to_a.len());
    let mut previous = h.a_heard;
    for p in &to_a {
        let hd = header(p);
        assert_eq!(
            (hd.ssrc, hd.payload_type),
            (Ssrc(0xcccc), 0),
            "R's stream, R's law"
        );
        assert_eq!(hd.sequence, previous.sequence.wrapping_add(1));
        assert!(hd.timestamp.wrapping_sub(previous.timestamp) >= 160);
        previous = hd;
    }
    // What A hears is the sum, within µ-law quantisation.
    let sum = i32::from(Law::Mu.decode(r_frame[0])) + i32::from(Law::A.decode(b_frame[0]));
    let mixed = to_a
        .iter()
        .filter(|p| {
            decode(Law::Mu, p)
                .iter()
                .all(|s| (s - sum).abs() <= sum / 16)
        })
        .count();
    assert!(
        mixed >= 15,
        "{mixed} of {} packets were the mix",
        to_a.len()
    );
    // Nobody hears A; R and B hear each other.
    assert!(to_r.len() >= 20 && to_b.len() >= 20);
    assert!(to_r.iter().all(|p| p[12..] == b_frame), "R hears only B");
    assert!(to_b.iter().all(|p| p[12..] == r_frame), "B hears only R");
    eventually("A's packets counted as monitor drops", || {
        h.leg_a.stats().inbound.dropped.get(DropReason::Monitor) == 25
    });

    // R falls silent: B alone, re-encoded in R's law.
    for tick in 0..5u16 {
        h.b.send(
            h.leg_b.local_rtp(),
            &packet(8, 0xbbbb, 200 + tick, 9000, &b_frame),
        );
        std::thread::sleep(MS20);
    }
    let alone = collect(&h.a, Duration::from_millis(100));
    let b_alone = i32::from(Law::A.decode(b_frame[0]));
    assert!(
        alone
            .iter()
            .filter(|p| decode(Law::Mu, p)
                .iter()
                .all(|s| (s - b_alone).abs() <= b_alone / 16))
            .count()
            >= 3,
        "B alone: {} packets",
        alone.len()
    );

    // A hangs up: R↔B carries on.
    h.leg_a.close();
    h.b.drain();
    h.r.drain();
    let x = packet(0, 0xcccc, 40, 8000, &r_frame);
    h.r.send(h.leg_r.local_rtp(), &x);
    assert_eq!(&h.b.recv().0[12..], &x[12..]);
    let y = packet(8, 0xbbbb, 300, 9160, &b_frame);
    h.b.send(h.leg_b.local_rtp(), &y);
    assert_eq!(&h.r.recv().0[12..], &y[12..]);
}

#[test]
fn stopping_the_monitor_or_repointing_past_it_leaves_r_and_b_alone() {
    let relay = relay(23_600, 20);
    let h = handed_over(&relay);
    assert!(matches!(
        relay.monitor(&h.bridge, &h.leg_r),
        Err(RelayError::MonitorOwnBridge { .. })
    ));
    relay.monitor(&h.bridge, &h.leg_a).expect("monitor");
    let other = relay.open_leg(None, false).expect("leg");
    assert!(matches!(
        relay.monitor(&h.bridge, &other),
        Err(RelayError::AlreadyMonitored { .. })
    ));
    let mut seq = 10u16;
    let mut r_says = |h: &Handover| {
        seq += 1;
        h.r.send(
            h.leg_r.local_rtp(),
            &packet(0, 0xcccc, seq, u32::from(seq) * 160, &[0x11; 160]),
        );
    };
    r_says(&h);
    h.b.recv();
    h.a.recv();
    h.leg_a.stop_monitor();
    r_says(&h);
    h.b.recv();
    assert!(
        collect(&h.a, Duration::from_millis(100)).is_empty(),
        "A hears nothing"
    );
    h.a.send(h.leg_a.local_rtp(), &packet(0, 0xaaaa, 99, 0, &[0x22; 160]));
    eventually("A's packet dropped as unbridged", || {
        h.leg_a
            .stats()
            .inbound
            .dropped
            .get(DropReason::NoDestination)
            == 1
    });

    // Monitor again, then re-point B → C without stopping it first.
    relay.monitor(&h.bridge, &h.leg_a).expect("monitor again");
    let c = Phone::new();
    let leg_c = leg(&relay, &c);
    h.b.send(
        h.leg_b.local_rtp(),
        &packet(0, 0xbbbb, 1, 160, &[0x33; 160]),
    );
    let last_to_r = header(&h.r.recv().0);
    h.bridge
        .repoint(&h.leg_b, &leg_c)
        .expect("repoint past a monitor");
    r_says(&h);
    assert_eq!(c.recv().0[12..], [0x11; 160], "C hears R");
    c.send(leg_c.local_rtp(), &packet(0, 0xdddd, 7, 7, &[0x44; 160]));
    let first_c = h.r.recv().0;
    assert_eq!(first_c[12..], [0x44; 160], "R hears C");
    let hd = header(&first_c);
    assert_eq!(
        (hd.ssrc, hd.sequence),
        (last_to_r.ssrc, last_to_r.sequence.wrapping_add(1))
    );
    drop(other);
}

/// A streams to R at 20 ms, stops; `pause` later B's first packet reaches
/// R through the re-pointed bridge. Returns the splice report and the
/// window in which B's first packet was sent and received.
fn splice_after(relay: &Relay, pause: Duration) -> (Splice, Instant, Instant) {
    let (a, r, b) = (Phone::new(), Phone::new(), Phone::new());
    let (leg_a, leg_r, leg_b) = (leg(relay, &a), leg(relay, &r), leg(relay, &b));
    let bridge = relay.connect(&leg_a, &leg_r).expect("connect");
    assert_eq!(bridge.last_splice(), None, "no re-point yet");
    let start = Instant::now();
    let mut last_sent = start;
    for seq in 0..10u16 {
        std::thread::sleep(
            (start + MS20 * u32::from(seq)).saturating_duration_since(Instant::now()),
        );
        a.send(leg_a.local_rtp(), &rtp(0xaaaa, seq, u32::from(seq) * 160));
        last_sent = Instant::now();
        r.recv();
    }
    bridge.repoint(&leg_a, &leg_b).expect("repoint");
    assert_eq!(bridge.last_splice(), None, "B has not spoken yet");
    std::thread::sleep((last_sent + pause).saturating_duration_since(Instant::now()));
    let sent = Instant::now();
    b.send(leg_b.local_rtp(), &rtp(0xbbbb, 500, 77));
    r.recv();
    let received = Instant::now();
    let splice = bridge.last_splice().expect("spliced");
    (splice, sent, received)
}

#[test]
fn the_splice_report_counts_the_packets_r_missed() {
    let relay = relay(23_800, 20);
    let (splice, sent, received) = splice_after(&relay, Duration::from_millis(100));
    assert!(sent <= splice.first_new_at && splice.first_new_at <= received);
    let intervals = (splice.gap.as_micros() + 10_000) / 20_000;
    assert_eq!(
        u128::from(splice.missed_packets),
        intervals.saturating_sub(1)
    );
    assert!(
        (3..=5).contains(&splice.missed_packets),
        "about 4 missed after a 100 ms pause: {splice:?}"
    );
}

#[test]
fn a_continuous_swap_misses_nothing() {
    let relay = relay(24_000, 30);
    // A loaded machine can delay one packet by a whole interval; three
    // tries keep the test about the relay, not the scheduler.
    let mut tries = Vec::new();
    for _ in 0..3 {
        let (splice, _, _) = splice_after(&relay, MS20);
        if splice.missed_packets == 0 {
            assert!(splice.gap < Duration::from_millis(30), "{splice:?}");
            return;
        }
        tries.push(splice);
    }
    panic!("a continuous swap reported missed packets every time: {tries:?}");
}

/// The grant by key, as a call does it: the first packet of key 1 is
/// consumed and reported, the bridge is re-pointed to B at once, and A
/// keeps sending the rest of its key and then audio into nowhere. R must
/// hear A's audio, then B's, as one stream.
#[test]
fn a_key_that_grants_then_a_swap_leave_r_one_stream() {
    let relay = relay(23_600, 20);
    let (a, b, r) = (Phone::new(), Phone::new(), Phone::new());
    let (leg_a, leg_b, leg_r) = (leg(&relay, &a), leg(&relay, &b), leg(&relay, &r));
    let bridge = relay.connect(&leg_a, &leg_r).expect("connect");
    let (tx, keys) = mpsc::channel();
    leg_a.watch_keys(
        101,
        &[1, 2, 3],
        Arc::new(move |k| {
            let _ = tx.send(k);
        }),
    );
    // A: audio 100..110, then key 1 (7 packets sharing ts 2000), then audio.
    let mut seq = 100u16;
    for i in 0..10u32 {
        a.send(leg_a.local_rtp(), &rtp(0xa, seq, 160 * i));
        seq += 1;
        std::thread::sleep(MS20);
    }
    for (n, (end, duration)) in [
        (false, 160),
        (false, 320),
        (false, 480),
        (false, 640),
        (true, 800),
        (true, 800),
        (true, 800),
    ]
    .into_iter()
    .enumerate()
    {
        a.send(leg_a.local_rtp(), &dtmf(0xa, seq, 1600, 1, end, duration));
        seq += 1;
        if n == 0 {
            assert_eq!(keys.recv_timeout(WAIT), Ok(1));
            leg_a.unwatch_keys();
            bridge.repoint(&leg_a, &leg_b).expect("repoint");
            // B starts its own stream.
            for j in 0..3u32 {
                b.send(
                    leg_b.local_rtp(),
                    &rtp(0xb, 5000 + j as u16, 90_000 + 160 * j),
                );
            }
        }
        std::thread::sleep(MS20);
    }
    for j in 3..20u32 {
        a.send(leg_a.local_rtp(), &rtp(0xa, seq, 160 * (10 + j)));
        seq += 1;
        b.send(
            leg_b.local_rtp(),
            &rtp(0xb, 5000 + j as u16, 90_000 + 160 * j),
        );
        std::thread::sleep(MS20);
    }
    let heard: Vec<RtpHeader> = collect(&r, Duration::from_millis(300))
        .iter()
        .map(|p| header(p))
        .collect();
    let seqs: Vec<u16> = heard.iter().map(|h| h.sequence).collect();
    assert!(
        heard.iter().all(|h| h.ssrc == Ssrc(0xa)),
        "one SSRC: {heard:?}"
    );
    for w in seqs.windows(2) {
        assert_eq!(w[1], w[0].wrapping_add(1), "R's stream: {seqs:?}");
    }
    assert_eq!(seqs.len(), 10 + 20, "A's 10 packets and B's 20: {seqs:?}");
}
