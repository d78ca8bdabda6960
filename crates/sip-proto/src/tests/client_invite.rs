//! INVITE client transaction: Timers A, B, D and the ACK it generates.

use super::pair::{ms, Dir, Pair, SERVER_TAG};
use crate::{ClientInviteState, Config, Timer, TransactionState, TransportKind};
use sip_message::{HeaderName, Method};

#[test]
fn timer_a_doubles_without_t2_cap() {
    let mut p = Pair::new(TransportKind::Udp);
    p.drop_all(Dir::ToServer, None);
    p.send_request(&Method::INVITE);
    p.drive();
    // T1, 2·T1, 4·T1 … : intervals 500, 1000, 2000, 4000, 8000, 16000 ms,
    // the last two above T2 = 4 s.
    assert_eq!(
        p.sent_ms(Dir::ToServer, "INVITE"),
        [0, 500, 1500, 3500, 7500, 15500, 31500]
    );
    assert_eq!(Pair::timeouts(&p.client_events), [(32_000, Timer::B)]);
}

#[test]
fn timer_b_fires_at_64_t1_when_server_never_answers() {
    let server = Config {
        send_100_trying: false,
        ..Config::default()
    };
    let mut p = Pair::with_configs(Config::default(), server, TransportKind::Udp);
    let key = p.send_request(&Method::INVITE);
    p.drive_until(ms(31_999));
    assert_eq!(p.client.len(), 1);
    p.drive();
    assert_eq!(Pair::timeouts(&p.client_events), [(32_000, Timer::B)]);
    assert_eq!(Pair::terminated_ms(&p.client_events, &key), Some(32_000));
    assert!(p.client.is_empty());
    // The server saw the INVITE once and absorbed the six retransmissions.
    assert_eq!(p.server_request_keys().len(), 1);
    assert_eq!(p.server_absorbed, 6);
}

#[test]
fn timer_d_absorbs_retransmitted_final_and_resends_ack() {
    let mut p = Pair::new(TransportKind::Udp);
    p.server_tu.invite = Some((486, ms(0)));
    p.drop_nth(Dir::ToServer, Some("ACK"), 1);
    let key = p.send_request(&Method::INVITE);
    p.drive_until(ms(1_000));
    assert_eq!(
        p.client.state(&key),
        Some(TransactionState::ClientInvite(ClientInviteState::Completed))
    );
    p.drive();
    // 486 at 50 ms (reaches the client at 100), retransmitted by Timer G at
    // 550 ms because the first ACK was lost; each 486 gets an ACK.
    assert_eq!(p.sent_ms(Dir::ToClient, "SIP/2.0 486"), [50, 550]);
    assert_eq!(p.sent_ms(Dir::ToServer, "ACK"), [100, 600]);
    // The TU saw the 486 once.
    assert_eq!(p.client_responses_ms(486), [100]);
    // Timer D: 32 s after entering Completed.
    assert_eq!(Pair::terminated_ms(&p.client_events, &key), Some(32_100));
    assert!(p.client.is_empty());
    assert!(Pair::timeouts(&p.server_events).is_empty());
}

#[test]
fn ack_for_non_2xx_is_built_from_invite_and_response() {
    let mut p = Pair::new(TransportKind::Udp);
    p.server_tu.invite = Some((603, ms(0)));
    p.send_request(&Method::INVITE);
    p.drive();
    let wire: Vec<_> = p.wire.iter().filter(|w| w.dir == Dir::ToServer).collect();
    let invite = wire[0].message();
    let ack = wire
        .iter()
        .find(|w| w.first_line.starts_with("ACK"))
        .expect("an ACK was sent")
        .message();
    // RFC 3261 §17.1.1.3.
    assert_eq!(ack.request_uri(), invite.request_uri());
    assert_eq!(ack.headers.count(&HeaderName::Via), 1);
    assert_eq!(ack.top_via(), invite.top_via());
    assert_eq!(ack.call_id(), invite.call_id());
    assert_eq!(
        ack.header(&HeaderName::From),
        invite.header(&HeaderName::From)
    );
    assert_eq!(ack.to_tag().as_deref(), Some(SERVER_TAG));
    let cseq = ack.cseq().expect("CSeq");
    assert_eq!(
        (cseq.seq, cseq.method),
        (invite.cseq().expect("CSeq").seq, Method::ACK)
    );
    assert_eq!(
        ack.headers.get_all(&HeaderName::Route).collect::<Vec<_>>(),
        invite
            .headers
            .get_all(&HeaderName::Route)
            .collect::<Vec<_>>()
    );
}

#[test]
fn provisional_stops_timer_a_and_timer_b() {
    let mut p = Pair::new(TransportKind::Udp);
    p.server_tu.ringing = true;
    let key = p.send_request(&Method::INVITE);
    p.drive_until(ms(120_000));
    assert_eq!(p.sent_ms(Dir::ToServer, "INVITE"), [0]);
    assert!(Pair::timeouts(&p.client_events).is_empty());
    assert_eq!(
        p.client.state(&key),
        Some(TransactionState::ClientInvite(
            ClientInviteState::Proceeding
        ))
    );
}

#[test]
fn auto_100_trying_after_200ms_stops_timer_a() {
    let mut p = Pair::new(TransportKind::Udp);
    p.server_tu.invite = Some((486, ms(1_000)));
    p.send_request(&Method::INVITE);
    p.drive();
    // The server's TU waited: the transaction sent 100 at 50 + 200 ms, and
    // the client stopped retransmitting when it arrived at 300 ms.
    assert_eq!(p.sent_ms(Dir::ToClient, "SIP/2.0 100"), [250]);
    assert_eq!(p.sent_ms(Dir::ToServer, "INVITE"), [0]);
    assert_eq!(p.client_responses_ms(100), [300]);
    assert_eq!(p.client_responses_ms(486), [1_100]);
}

#[test]
fn no_auto_100_when_the_tu_answers_in_time() {
    let mut p = Pair::new(TransportKind::Udp);
    p.server_tu.invite = Some((486, ms(150)));
    p.send_request(&Method::INVITE);
    p.drive();
    assert!(p.sent_ms(Dir::ToClient, "SIP/2.0 100").is_empty());
}

#[test]
fn timer_m_keeps_accepted_for_2xx_retransmissions_then_terminates() {
    let mut p = Pair::new(TransportKind::Udp);
    p.server_tu.invite = Some((200, ms(0)));
    let key = p.send_request(&Method::INVITE);
    p.drive_until(ms(1_000));
    assert_eq!(
        p.client.state(&key),
        Some(TransactionState::ClientInvite(ClientInviteState::Accepted))
    );
    p.drive();
    // Timer M = 64·T1 after the 2xx arrived at 100 ms.
    assert_eq!(Pair::terminated_ms(&p.client_events, &key), Some(32_100));
    assert!(Pair::timeouts(&p.client_events).is_empty());
}
