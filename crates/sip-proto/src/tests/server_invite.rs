//! INVITE server transaction: Timers G, H, I, L, absorption, lost ACK.

use super::pair::{ms, Dir, Pair};
use crate::{ServerInviteState, Timer, TransactionState, TransportKind};
use sip_message::Method;

#[test]
fn timer_g_doubles_to_t2_then_timer_h_fires_without_ack() {
    let mut p = Pair::new(TransportKind::Udp);
    p.server_tu.invite = Some((486, ms(0)));
    p.drop_all(Dir::ToServer, Some("ACK"));
    p.send_request(&Method::INVITE);
    p.drive();
    let key = p.server_request_keys()[0].clone();
    // The 486 left at 50 ms; Timer G: T1, 2·T1, 4·T1, then T2, until H.
    let g: Vec<u128> = [
        0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500,
    ]
    .iter()
    .map(|t| t + 50)
    .collect();
    assert_eq!(p.sent_ms(Dir::ToServer, "ACK").len(), g.len());
    assert_eq!(p.sent_ms(Dir::ToClient, "SIP/2.0 486"), g);
    // Timer H = 64·T1 after the final, with a timeout to the TU.
    assert_eq!(Pair::timeouts(&p.server_events), [(32_050, Timer::H)]);
    assert_eq!(Pair::terminated_ms(&p.server_events, &key), Some(32_050));
    assert!(p.server.is_empty());
    // The client TU still saw one 486.
    assert_eq!(p.client_responses_ms(486), [100]);
}

#[test]
fn lost_ack_for_non_2xx_is_recovered_by_timer_g() {
    let mut p = Pair::new(TransportKind::Udp);
    p.server_tu.invite = Some((486, ms(0)));
    p.drop_nth(Dir::ToServer, Some("ACK"), 1);
    p.send_request(&Method::INVITE);
    p.drive_until(ms(1_000));
    let key = p.server_request_keys()[0].clone();
    // The second ACK (sent for the retransmitted 486) arrived at 650 ms.
    assert_eq!(
        p.server.state(&key),
        Some(TransactionState::ServerInvite(ServerInviteState::Confirmed))
    );
    p.drive();
    assert_eq!(p.sent_ms(Dir::ToClient, "SIP/2.0 486"), [50, 550]);
    assert_eq!(p.sent_ms(Dir::ToServer, "ACK"), [100, 600]);
    assert!(Pair::timeouts(&p.server_events).is_empty());
    // Timer I = T4 after the ACK; the ACK never reached the TU.
    assert_eq!(Pair::terminated_ms(&p.server_events, &key), Some(5_650));
    assert!(p.server_stray_acks.is_empty());
    assert_eq!(p.client_responses_ms(486), [100]);
}

#[test]
fn retransmitted_invite_is_absorbed_and_last_provisional_resent() {
    let mut p = Pair::new(TransportKind::Udp);
    p.server_tu.ringing = true;
    p.drop_nth(Dir::ToClient, Some("SIP/2.0 180"), 1);
    p.send_request(&Method::INVITE);
    p.drive_until(ms(10_000));
    // The first 180 was lost; the INVITE retransmitted at 500 ms reached
    // the server at 550 and got the 180 again.
    assert_eq!(p.sent_ms(Dir::ToServer, "INVITE"), [0, 500]);
    assert_eq!(p.sent_ms(Dir::ToClient, "SIP/2.0 180"), [50, 550]);
    assert_eq!(p.server_request_keys().len(), 1);
    assert_eq!(p.server_absorbed, 1);
    assert_eq!(p.client_responses_ms(180), [600]);
    // The TU answered at once, so no automatic 100.
    assert!(p.sent_ms(Dir::ToClient, "SIP/2.0 100").is_empty());
}

#[test]
fn accepted_absorbs_invite_retransmissions_and_timer_l_ends_it() {
    let mut p = Pair::new(TransportKind::Udp);
    p.server_tu.invite = Some((200, ms(0)));
    p.drop_nth(Dir::ToClient, Some("SIP/2.0 200"), 1);
    p.send_request(&Method::INVITE);
    p.drive_until(ms(1_000));
    let key = p.server_request_keys()[0].clone();
    assert_eq!(
        p.server.state(&key),
        Some(TransactionState::ServerInvite(ServerInviteState::Accepted))
    );
    p.drive();
    // The INVITE retransmitted at 500 ms was absorbed in Accepted (RFC 6026
    // §8.5): the only 200 copies are the first and the TU's retransmission.
    assert_eq!(p.sent_ms(Dir::ToServer, "INVITE"), [0, 500]);
    assert_eq!(p.server_absorbed, 1);
    assert_eq!(p.sent_ms(Dir::ToClient, "SIP/2.0 200"), [50, 550]);
    assert_eq!(p.server_request_keys().len(), 1);
    // Timer L = 64·T1 after the 2xx.
    assert_eq!(Pair::terminated_ms(&p.server_events, &key), Some(32_050));
    assert!(Pair::timeouts(&p.server_events).is_empty());
}
