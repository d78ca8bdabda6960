//! Non-INVITE server transaction: absorption, re-sent response, Timer J.

use super::pair::{ms, Dir, Pair};
use crate::TransportKind;
use sip_message::Method;

#[test]
fn retransmitted_request_is_absorbed_and_last_response_resent() {
    let mut p = Pair::new(TransportKind::Udp);
    p.server_tu.non_invite = Some((200, ms(1_000)));
    p.drop_nth(Dir::ToClient, Some("SIP/2.0 200"), 1);
    p.send_request(&Method::OPTIONS);
    p.drive();
    // Retransmission 1 (arrives 550 ms) finds the transaction in Trying and
    // is discarded; the TU answers at 1050 (lost); retransmission 2
    // (arrives 1550) finds it Completed and gets the 200 again.
    assert_eq!(p.sent_ms(Dir::ToServer, "OPTIONS"), [0, 500, 1500]);
    assert_eq!(p.sent_ms(Dir::ToClient, "SIP/2.0 200"), [1_050, 1_550]);
    assert_eq!(p.server_request_keys().len(), 1);
    assert_eq!(p.server_absorbed, 2);
    assert_eq!(p.client_responses_ms(200), [1_600]);
}

#[test]
fn lost_response_is_recovered_by_client_retransmission() {
    let mut p = Pair::new(TransportKind::Udp);
    p.server_tu.non_invite = Some((202, ms(0)));
    p.drop_nth(Dir::ToClient, None, 1);
    let client_key = p.send_request(&Method::MESSAGE);
    p.drive();
    let server_key = p.server_request_keys()[0].clone();
    assert_eq!(p.sent_ms(Dir::ToServer, "MESSAGE"), [0, 500]);
    assert_eq!(p.sent_ms(Dir::ToClient, "SIP/2.0 202"), [50, 550]);
    assert_eq!(p.client_responses_ms(202), [600]);
    // Timer K on the client (T4 after 600 ms), Timer J on the server
    // (64·T1 after the final at 50 ms).
    assert_eq!(
        Pair::terminated_ms(&p.client_events, &client_key),
        Some(5_600)
    );
    assert_eq!(
        Pair::terminated_ms(&p.server_events, &server_key),
        Some(32_050)
    );
    assert!(p.server.is_empty() && p.client.is_empty());
}

#[test]
fn provisional_is_resent_in_proceeding() {
    let mut p = Pair::new(TransportKind::Udp);
    p.send_request(&Method::SUBSCRIBE);
    p.drive_until(ms(100));
    let key = p.server_request_keys()[0].clone();
    p.respond(&key, 100);
    p.drive_until(ms(600));
    // The 100 reached the client at 150 ms, but Timer E keeps running in
    // Proceeding: the copy sent at 500 reached the server at 550 and got
    // the 100 again. Provisionals all go up to the TU (RFC 3261 §17.1.2.2).
    assert_eq!(p.sent_ms(Dir::ToServer, "SUBSCRIBE"), [0, 500]);
    assert_eq!(p.sent_ms(Dir::ToClient, "SIP/2.0 100"), [100, 550]);
    assert_eq!(p.client_responses_ms(100), [150, 600]);
}
