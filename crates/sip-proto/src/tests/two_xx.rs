//! 2xx retransmission by the TU (RFC 3261 §13.3.1.4) with TwoXxRetransmitter.

use super::pair::{ms, Dir, Pair};
use crate::{TransportKind, TwoXxEvent};
use sip_message::Method;

#[test]
fn two_xx_is_retransmitted_until_ack_then_stops() {
    let mut p = Pair::new(TransportKind::Udp);
    p.server_tu.invite = Some((200, ms(0)));
    p.drop_nth(Dir::ToServer, Some("ACK"), 1);
    p.drop_nth(Dir::ToServer, Some("ACK"), 2);
    let key = p.send_request(&Method::INVITE);
    p.drive();
    // 200 at 50 ms, then at T1 and 2·T1 later; the third ACK (sent at
    // 1600) arrives at 1650 and stops the retransmitter.
    assert_eq!(p.sent_ms(Dir::ToClient, "SIP/2.0 200"), [50, 550, 1_550]);
    assert_eq!(p.sent_ms(Dir::ToServer, "ACK"), [100, 600, 1_600]);
    assert_eq!(p.server_stray_acks.len(), 1);
    assert_eq!(p.server_stray_acks[0].as_millis(), 1_650);
    assert!(!p.two_xx[0].is_active());
    assert!(p.two_xx_events.is_empty());
    // RFC 6026 §8.4: each 2xx reaches the client TU, which ACKs each.
    assert_eq!(p.client_responses_ms(200), [100, 600, 1_600]);
    // ACKs for 2xx carry fresh branches, unlike the INVITE's.
    let invite_branch = key.branch().expect("branch").clone();
    for w in p.wire.iter().filter(|w| w.first_line.starts_with("ACK")) {
        let via = w.message().top_via().expect("Via");
        assert_ne!(via.branch(), Some(invite_branch.as_str()));
    }
    assert!(p.client.is_empty() && p.server.is_empty());
}

#[test]
fn two_xx_without_ack_gives_up_after_64_t1() {
    let mut p = Pair::new(TransportKind::Udp);
    p.server_tu.invite = Some((200, ms(0)));
    p.client_tu.ack_2xx = false;
    p.send_request(&Method::INVITE);
    p.drive();
    let expected: Vec<u128> = [
        0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500,
    ]
    .iter()
    .map(|t| t + 50)
    .collect();
    assert_eq!(p.sent_ms(Dir::ToClient, "SIP/2.0 200"), expected);
    assert_eq!(p.two_xx_events.len(), 1);
    let (at, event) = p.two_xx_events[0];
    assert_eq!((at.as_millis(), event), (32_050, TwoXxEvent::NoAck));
    assert!(!p.two_xx[0].is_active());
    assert_eq!(p.two_xx[0].poll_timeout(), None);
}
