//! The relay on real sockets on 127.0.0.1: "phones" are plain UDP sockets.
//! Every wait is bounded (at most 5 s); nothing sleeps unboundedly.

use baton_media_relay::{DropReason, LegHandle, Relay, RelayConfig, RelayError, RtpHeader, Ssrc};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

mod support;

use support::{eventually, relay, rtp, sender_report, settles, Phone, WAIT};

fn bridged_pair(relay: &Relay, a: &Phone, r: &Phone) -> (LegHandle, LegHandle) {
    let leg_a = relay.open_leg(Some(a.addr()), false).expect("leg a");
    let leg_r = relay.open_leg(Some(r.addr()), false).expect("leg r");
    (leg_a, leg_r)
}

#[test]
fn payloads_cross_intact_both_ways() {
    let relay = relay(21_000, 50);
    let (a, r) = (Phone::new(), Phone::new());
    let (leg_a, leg_r) = bridged_pair(&relay, &a, &r);
    let _bridge = relay.connect(&leg_a, &leg_r).expect("connect");
    for seq in 0..20u16 {
        let p = rtp(0xa, seq, u32::from(seq) * 160);
        a.send(leg_a.local_rtp(), &p);
        let (got, from) = r.recv();
        assert_eq!(got, p, "A → R unchanged");
        assert_eq!(from, leg_r.local_rtp(), "sent from R's leg (symmetric RTP)");
        let q = rtp(0xb, 1000 + seq, 0);
        r.send(leg_r.local_rtp(), &q);
        let (got, from) = a.recv();
        assert_eq!(got, q, "R → A unchanged");
        assert_eq!(from, leg_a.local_rtp());
    }
    // A telephone-event (RFC 4733, dynamic PT 101) passes byte for byte.
    let mut dtmf = rtp(0xa, 20, 3200)[..12].to_vec();
    dtmf[1] = 0x80 | 101;
    dtmf.extend_from_slice(&[1, 0x8a, 0x03, 0x20]);
    a.send(leg_a.local_rtp(), &dtmf);
    assert_eq!(r.recv().0, dtmf);

    // A's leg: 21 in, 20 out; R's leg: 21 out.
    settles([21, 20, 21], || {
        let (sa, sr) = (leg_a.stats(), leg_r.stats());
        [sa.inbound.packets, sa.outbound.packets, sr.outbound.packets]
    });
    let stats = leg_a.stats();
    assert_eq!(stats.latched_rtp, Some(a.addr()));
    assert_eq!(stats.loss.lost, 0);
    assert!(leg_a.idle_for(Instant::now()) < WAIT);
}

#[test]
fn rtcp_is_forwarded_between_the_rtcp_ports() {
    let relay = relay(21_200, 50);
    let (a, r) = (Phone::new(), Phone::new());
    let (a_rtcp, r_rtcp) = (Phone::new(), Phone::new());
    let (leg_a, leg_r) = bridged_pair(&relay, &a, &r);
    let _bridge = relay.connect(&leg_a, &leg_r).expect("connect");
    // R's RTCP latches its leg's RTCP port (its port is not RTP's + 1).
    let rr = {
        let mut v = vec![0x80, 201, 0, 1];
        v.extend_from_slice(&0xbu32.to_be_bytes());
        v
    };
    r_rtcp.send(leg_r.local_rtcp(), &rr);
    eventually("R's RTCP latched", || leg_r.stats().latched_rtcp.is_some());
    let sr = sender_report(0xa);
    a_rtcp.send(leg_a.local_rtcp(), &sr);
    let (got, from) = r_rtcp.recv();
    assert_eq!(got, sr);
    assert_eq!(from, leg_r.local_rtcp());
    // And RTCP that is not RTCP is dropped as malformed.
    a_rtcp.send(leg_a.local_rtcp(), &rtp(0xa, 1, 1));
    eventually("malformed RTCP counted", || {
        leg_a.stats().inbound.dropped.get(DropReason::Malformed) == 1
    });
}

#[test]
fn an_unexpected_source_is_dropped_and_counted() {
    let relay = relay(21_400, 50);
    let (a, r, stranger) = (Phone::new(), Phone::new(), Phone::new());
    let (leg_a, leg_r) = bridged_pair(&relay, &a, &r);
    let _bridge = relay.connect(&leg_a, &leg_r).expect("connect");
    a.send(leg_a.local_rtp(), &rtp(0xa, 1, 160));
    r.recv();
    stranger.send(leg_a.local_rtp(), &rtp(0x666, 1, 160));
    a.send(leg_a.local_rtp(), &rtp(0xa, 2, 320));
    let (got, _) = r.recv();
    assert_eq!(RtpHeader::parse(&got).map(|h| h.ssrc), Some(Ssrc(0xa)));
    eventually("stranger counted", || {
        leg_a
            .stats()
            .inbound
            .dropped
            .get(DropReason::UnexpectedSource)
            == 1
    });
    assert!(
        r.drain().is_empty(),
        "the stranger's packet never reached R"
    );
}

#[test]
fn without_a_remote_for_the_partner_packets_are_dropped_as_no_destination() {
    let relay = relay(21_600, 50);
    let (a, r) = (Phone::new(), Phone::new());
    let leg_a = relay.open_leg(Some(a.addr()), false).expect("leg a");
    let leg_r = relay
        .open_leg(None, false)
        .expect("leg r: R has not answered");
    let _bridge = relay.connect(&leg_a, &leg_r).expect("connect");
    a.send(leg_a.local_rtp(), &rtp(0xa, 1, 160));
    eventually("no destination counted", || {
        leg_a.stats().inbound.dropped.get(DropReason::NoDestination) == 1
    });
    // R speaks first: its leg latches, and A's packets now have a way.
    r.send(leg_r.local_rtp(), &rtp(0xb, 1, 160));
    a.recv();
    a.send(leg_a.local_rtp(), &rtp(0xa, 2, 320));
    assert_eq!(r.recv().1, leg_r.local_rtp());
}

#[test]
fn strict_legs_accept_only_the_sdp_host() {
    let relay = relay(21_800, 50);
    let (a, r) = (Phone::new(), Phone::new());
    let leg_a = relay
        .open_leg(Some("127.0.0.2:4000".parse().expect("addr")), true)
        .expect("leg");
    let leg_r = relay.open_leg(Some(r.addr()), false).expect("leg r");
    let _bridge = relay.connect(&leg_a, &leg_r).expect("connect");
    a.send(leg_a.local_rtp(), &rtp(0xa, 1, 160)); // from 127.0.0.1: wrong host
    eventually("refused", || {
        leg_a
            .stats()
            .inbound
            .dropped
            .get(DropReason::UnexpectedSource)
            == 1
    });
    leg_a.set_remote(Some(SocketAddr::new(a.addr().ip(), 4000)));
    a.send(leg_a.local_rtp(), &rtp(0xa, 2, 320)); // right host, other port
    r.recv();
    assert_eq!(leg_a.stats().latched_rtp, Some(a.addr()));
}

/// R streams to A; mid-call the bridge is re-pointed to B. R must hear one
/// stream (one SSRC, sequence steps of exactly one) and B must hear R
/// within 40 ms.
#[test]
fn repoint_keeps_one_stream_toward_r_and_b_hears_r_at_once() {
    const TICK: Duration = Duration::from_millis(10);
    let relay = relay(22_000, 50);
    let (a, r, b) = (Phone::new(), Phone::new(), Phone::new());
    let (leg_a, leg_r) = bridged_pair(&relay, &a, &r);
    let leg_b = relay.open_leg(Some(b.addr()), false).expect("leg b");
    let bridge = relay.connect(&leg_a, &leg_r).expect("connect");

    let mut heard_by_r = Vec::new();
    let mut repointed_at = None;
    let mut b_heard_r_at = None;
    let start = Instant::now();
    for tick in 0..60u16 {
        let deadline = start + TICK * u32::from(tick);
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(200));
            if repointed_at.is_some() && b_heard_r_at.is_none() && !b.drain().is_empty() {
                b_heard_r_at = Some(Instant::now());
            }
        }
        if tick == 30 {
            bridge.repoint(&leg_a, &leg_b).expect("repoint");
            repointed_at = Some(Instant::now());
        }
        // A keeps sending after the switch, as a device that has not heard
        // yet: its packets must not reach R any more.
        a.send(
            leg_a.local_rtp(),
            &rtp(0xaaaa, 5000 + tick, 90_000 + u32::from(tick) * 80),
        );
        if tick >= 30 {
            let t = tick - 30;
            let ts = 7 + u32::from(t) * 80;
            b.send(
                leg_b.local_rtp(),
                &rtp(0xbbbb, 65_520u16.wrapping_add(t), ts),
            );
        }
        r.send(leg_r.local_rtp(), &rtp(0xcccc, tick, u32::from(tick) * 80));
        heard_by_r.extend(r.drain());
    }
    let until = Instant::now() + Duration::from_millis(200);
    while let Some((p, _)) = r.try_recv_until(until) {
        heard_by_r.push(p);
    }

    let headers: Vec<RtpHeader> = heard_by_r
        .iter()
        .map(|p| RtpHeader::parse(p).expect("rtp"))
        .collect();
    assert!(headers.len() >= 55, "R heard {} packets", headers.len());
    assert!(headers.iter().all(|h| h.ssrc == Ssrc(0xaaaa)), "one SSRC");
    for w in headers.windows(2) {
        assert_eq!(w[1].sequence, w[0].sequence.wrapping_add(1), "steps of one");
    }
    let b_lag = b_heard_r_at.expect("B heard R") - repointed_at.expect("repointed");
    assert!(
        b_lag < Duration::from_millis(40),
        "B heard R after {b_lag:?}"
    );
    // The payload after the switch is B's (the payload is keyed by B's
    // own sequence number), so R hears B, not a replay of A.
    let last = heard_by_r.last().expect("a packet");
    let expected_b = rtp(0xbbbb, 65_520u16.wrapping_add(29), 0);
    assert_eq!(&last[12..], &expected_b[12..]);
    assert_eq!(bridge.ends(), (leg_b.id(), leg_r.id()));
    assert!(leg_a.stats().inbound.dropped.get(DropReason::NoDestination) > 0);
}

#[test]
fn closing_legs_releases_their_ports_on_every_path() {
    let relay = relay(22_200, 50);
    let (a, r) = (Phone::new(), Phone::new());
    let (leg_a, leg_r) = bridged_pair(&relay, &a, &r);
    let bridge = relay.connect(&leg_a, &leg_r).expect("connect");
    a.send(leg_a.local_rtp(), &rtp(1, 1, 1));
    r.recv();
    let lone = relay.open_leg(None, false).expect("leg");
    let ports = [
        leg_a.local_rtp(),
        leg_a.local_rtcp(),
        leg_r.local_rtp(),
        lone.local_rtcp(),
    ];
    assert_eq!(relay.ports_in_use(), 3);
    leg_a.close(); // explicit close of a bridged leg
    drop(leg_r); // dropped handle
    lone.close(); // never bridged
    drop(bridge); // the bridge handle does not keep legs alive
    eventually("ports back in the pool", || relay.ports_in_use() == 0);
    // Their sockets are kept open for the pairs' next legs, until the
    // relay stops.
    assert_eq!(relay.idle_port_pairs(), 3);
    drop(relay);
    for port in ports {
        UdpSocket::bind(port).expect("the OS released the port too");
    }
}

#[test]
fn a_closed_legs_sockets_carry_the_next_call_and_nothing_of_the_last() {
    // Two pairs: the second call gets the first call's pairs again.
    let relay = relay(24_600, 2);
    let (a, r) = (Phone::new(), Phone::new());
    let (leg_a, leg_r) = bridged_pair(&relay, &a, &r);
    let bridge = relay.connect(&leg_a, &leg_r).expect("connect");
    for seq in 0..5u16 {
        a.send(leg_a.local_rtp(), &rtp(0xa, seq, u32::from(seq) * 160));
        r.recv();
    }
    let old = (leg_a.local_rtp(), leg_a.local_rtcp(), leg_r.local_rtp());
    assert_eq!(relay.ports_in_use(), 2);
    drop(bridge);
    leg_a.close();
    // The old caller keeps sending: some of it reaches the closed leg
    // before its worker lets go of it, the rest its kept sockets.
    a.send(old.0, &rtp(0xa, 5, 800));
    a.send(old.1, &sender_report(0xa));
    leg_r.close();
    eventually("ports back in the pool", || relay.ports_in_use() == 0);
    assert_eq!(relay.idle_port_pairs(), 2, "both pairs' sockets kept");
    for seq in 6..10u16 {
        a.send(old.0, &rtp(0xa, seq, u32::from(seq) * 160));
        a.send(old.1, &sender_report(0xa));
    }
    r.send(old.2, &rtp(0xb, 1, 1));

    // The next call, on the same pairs, with no SDP address yet for its
    // caller: a stale datagram delivered now would latch it onto `a`.
    let (a2, r2) = (Phone::new(), Phone::new());
    let leg_a2 = relay.open_leg(None, false).expect("leg a2");
    let leg_r2 = relay.open_leg(Some(r2.addr()), false).expect("leg r2");
    assert_eq!(relay.idle_port_pairs(), 0, "kept sockets taken over");
    assert_eq!(relay.ports_in_use(), 2);
    assert_eq!(
        (leg_a2.local_rtp(), leg_a2.local_rtcp(), leg_r2.local_rtp()),
        old,
        "same ports"
    );
    for leg in [&leg_a2, &leg_r2] {
        let stats = leg.stats();
        assert_eq!(stats.inbound.packets, 0, "counters start at zero");
        assert_eq!(stats.inbound.dropped.total(), 0);
        assert_eq!(stats.outbound.packets, 0);
        assert_eq!((stats.latched_rtp, stats.latched_rtcp), (None, None));
    }
    let _bridge = relay.connect(&leg_a2, &leg_r2).expect("connect");
    for seq in 0..5u16 {
        let p = rtp(0xc, 100 + seq, 0);
        a2.send(leg_a2.local_rtp(), &p);
        let (got, from) = r2.recv();
        assert_eq!(got, p, "the new caller's packet, not a stale one");
        assert_eq!(from, leg_r2.local_rtp());
        let q = rtp(0xd, 200 + seq, 0);
        r2.send(leg_r2.local_rtp(), &q);
        assert_eq!(a2.recv().0, q, "sent to the new caller it latched");
    }
    a2.send(leg_a2.local_rtcp(), &sender_report(0xc));
    eventually("the RTCP port latched", || {
        leg_a2.stats().latched_rtcp == Some(a2.addr())
    });
    // a2 in, a2 out, r2 in, r2 out (5 RTP, 1 RTCP). A packet is counted
    // just after it leaves (seen on a busy machine: 4 of 5 read early).
    settles([6, 5, 5, 6], || {
        let (a2s, r2s) = (leg_a2.stats(), leg_r2.stats());
        [
            a2s.inbound.packets,
            a2s.outbound.packets,
            r2s.inbound.packets,
            r2s.outbound.packets,
        ]
    });
    assert_eq!(leg_a2.stats().latched_rtp, Some(a2.addr()));
    assert!(r2.drain().is_empty(), "nothing stale came through");
    assert!(a.drain().is_empty(), "nothing went to the old caller");
    drop(_bridge);
    drop((leg_a2, leg_r2));
    eventually("ports back again", || relay.ports_in_use() == 0);
    assert_eq!(relay.idle_port_pairs(), 2);
}

#[test]
fn the_socket_budget_bounds_the_kept_sockets() {
    let ip = "127.0.0.1".parse().expect("ip");
    // Budget 0: every leg binds and closes its own sockets.
    let config = RelayConfig::new(ip, "24800-24803".parse().expect("range"))
        .with_workers(2)
        .with_socket_budget(0);
    let relay = Relay::start(config).expect("relay");
    let leg = relay.open_leg(None, false).expect("leg");
    let port = leg.local_rtp();
    leg.close();
    eventually("ports back in the pool", || relay.ports_in_use() == 0);
    assert_eq!(relay.idle_port_pairs(), 0);
    UdpSocket::bind(port).expect("closed with its leg");
    // Six sockets: live legs and kept pairs together stay within it.
    let config = RelayConfig::new(ip, "24810-24819".parse().expect("range"))
        .with_workers(2)
        .with_socket_budget(6);
    let relay = Relay::start(config).expect("relay");
    let legs: Vec<_> = (0..4)
        .map(|_| relay.open_leg(None, false).expect("leg"))
        .collect();
    drop(legs);
    eventually("ports back in the pool", || relay.ports_in_use() == 0);
    assert_eq!(relay.idle_port_pairs(), 3);
    // A fresh pair (the round-robin moves on to the fifth) closes a kept
    // one to stay within the budget; the next pairs are kept ones.
    let legs: Vec<_> = (0..3)
        .map(|_| relay.open_leg(None, false).expect("leg"))
        .collect();
    assert_eq!(relay.ports_in_use(), 3);
    assert_eq!(relay.idle_port_pairs(), 0);
    drop(legs);
    eventually("ports back in the pool", || relay.ports_in_use() == 0);
    assert!(relay.idle_port_pairs() <= 3);
}

#[test]
fn a_port_taken_by_another_process_is_skipped() {
    let relay = relay(22_400, 3);
    let squatter = UdpSocket::bind("127.0.0.1:22401").expect("squat the first RTCP port");
    let leg = relay.open_leg(None, false).expect("leg");
    assert_eq!(leg.ports().rtp(), 22_402, "pair 22400/22401 skipped");
    assert_eq!(relay.ports_in_use(), 1);
    drop(squatter);
}

#[test]
fn an_exhausted_pool_refuses_until_a_leg_closes() {
    let relay = relay(22_600, 2);
    let first = relay.open_leg(None, false).expect("leg");
    let _second = relay.open_leg(None, false).expect("leg");
    assert!(matches!(
        relay.open_leg(None, false),
        Err(RelayError::PortsExhausted { .. })
    ));
    first.close();
    eventually("a pair came back", || relay.ports_in_use() == 1);
    relay.open_leg(None, false).expect("room again");
}

#[test]
fn bridging_mistakes_are_refused() {
    let relay = relay(22_800, 10);
    let (x, y, z) = (
        relay.open_leg(None, false).expect("leg"),
        relay.open_leg(None, false).expect("leg"),
        relay.open_leg(None, false).expect("leg"),
    );
    assert!(matches!(
        relay.connect(&x, &x),
        Err(RelayError::SameLeg { .. })
    ));
    let bridge = relay.connect(&x, &y).expect("connect");
    assert!(matches!(
        relay.connect(&y, &z),
        Err(RelayError::AlreadyBridged { .. })
    ));
    assert!(matches!(
        bridge.repoint(&z, &x),
        Err(RelayError::NotInBridge { .. })
    ));
    assert!(matches!(
        bridge.repoint(&x, &y),
        Err(RelayError::SameLeg { .. })
    ));
    bridge.disconnect();
    relay.connect(&y, &z).expect("y is free again");
}
