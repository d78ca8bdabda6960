//! Reliable transports: no retransmissions, Timers D, K, J and I are zero.

use super::pair::{ms, Dir, Pair};
use crate::{Config, Timer, TransportKind};
use sip_message::Method;

#[test]
fn reliable_transport_has_no_retransmissions() {
    let server = Config {
        send_100_trying: false,
        ..Config::default()
    };
    let mut p = Pair::with_configs(Config::default(), server, TransportKind::Tcp);
    p.send_request(&Method::INVITE);
    p.send_request(&Method::OPTIONS);
    p.drive();
    assert_eq!(p.sent_ms(Dir::ToServer, "INVITE"), [0]);
    assert_eq!(p.sent_ms(Dir::ToServer, "OPTIONS"), [0]);
    // Timers B and F still guard the transactions.
    let mut timeouts = Pair::timeouts(&p.client_events);
    timeouts.sort_by_key(|(at, t)| (*at, format!("{t}")));
    assert_eq!(timeouts, [(32_000, Timer::B), (32_000, Timer::F)]);
    assert!(p.client.is_empty());
    assert_eq!(p.server_absorbed, 0);
}

#[test]
fn reliable_transport_zeroes_timers_d_k_j_i() {
    let mut p = Pair::new(TransportKind::Tcp);
    p.server_tu.invite = Some((486, ms(0)));
    p.server_tu.non_invite = Some((200, ms(0)));
    let invite = p.send_request(&Method::INVITE);
    let options = p.send_request(&Method::OPTIONS);
    p.drive();
    let server_keys = p.server_request_keys();
    let (server_invite, server_options) = if *server_keys[0].method() == Method::INVITE {
        (&server_keys[0], &server_keys[1])
    } else {
        (&server_keys[1], &server_keys[0])
    };
    // Final responses reach the client at 100 ms: Timer D = 0, Timer K = 0.
    assert_eq!(Pair::terminated_ms(&p.client_events, &invite), Some(100));
    assert_eq!(Pair::terminated_ms(&p.client_events, &options), Some(100));
    // Timer J = 0 on sending the final at 50 ms; Timer I = 0 on the ACK at
    // 150 ms (the INVITE transaction still waited for it, Timer H runs).
    assert_eq!(
        Pair::terminated_ms(&p.server_events, server_options),
        Some(50)
    );
    assert_eq!(
        Pair::terminated_ms(&p.server_events, server_invite),
        Some(150)
    );
    // One copy of everything.
    assert_eq!(p.sent_ms(Dir::ToClient, "SIP/2.0 486"), [50]);
    assert_eq!(p.sent_ms(Dir::ToServer, "ACK"), [100]);
    assert!(p.client.is_empty() && p.server.is_empty());
    assert!(p.wire.iter().all(|w| !w.dropped));
}

#[test]
fn reliable_server_invite_still_times_out_with_timer_h() {
    let mut p = Pair::new(TransportKind::Tcp);
    p.server_tu.invite = Some((486, ms(0)));
    p.drop_all(Dir::ToServer, Some("ACK"));
    p.send_request(&Method::INVITE);
    p.drive();
    // No Timer G over TCP, but Timer H still ends the wait for the ACK.
    assert_eq!(p.sent_ms(Dir::ToClient, "SIP/2.0 486"), [50]);
    assert_eq!(Pair::timeouts(&p.server_events), [(32_050, Timer::H)]);
}
