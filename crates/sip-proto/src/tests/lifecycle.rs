//! Transactions leave the map when they terminate: no unbounded growth.

use super::pair::{ms, Dir, Pair};
use crate::{Event, TransportKind};
use sip_message::Method;

#[test]
fn transactions_are_removed_after_terminated() {
    let mut p = Pair::new(TransportKind::Udp);
    p.server_tu.invite = Some((486, ms(300)));
    p.server_tu.non_invite = Some((200, ms(0)));
    // Some loss, to mix retransmissions in.
    p.drop_nth(Dir::ToServer, None, 3);
    p.drop_nth(Dir::ToClient, None, 5);
    let methods = [
        Method::INVITE,
        Method::OPTIONS,
        Method::MESSAGE,
        Method::INFO,
    ];
    for i in 0..40 {
        p.send_request(&methods[i % methods.len()]);
    }
    assert_eq!(p.client.len(), 40);
    p.drive_until(ms(1_000));
    assert_eq!(p.server.len(), 40);
    p.drive();
    assert_eq!(p.client.len(), 0);
    assert_eq!(p.server.len(), 0);
    assert!(p.client.is_empty() && p.server.is_empty());
    assert_eq!(p.client.poll_timeout(), None);
    assert_eq!(p.server.poll_timeout(), None);
    let terminated = |events: &[(std::time::Duration, Event)]| {
        events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Terminated { .. }))
            .count()
    };
    assert_eq!(terminated(&p.client_events), 40);
    assert_eq!(terminated(&p.server_events), 40);
    assert_eq!(p.server_request_keys().len(), 40);
    assert_eq!(p.client_responses_ms(486).len(), 10);
    assert_eq!(p.client_responses_ms(200).len(), 30);
}

#[test]
fn terminated_key_is_refused_afterwards() {
    let mut p = Pair::new(TransportKind::Udp);
    p.server_tu.non_invite = Some((200, ms(0)));
    p.send_request(&Method::OPTIONS);
    p.drive();
    let key = p.server_request_keys()[0].clone();
    let request = p.wire[0].message();
    let late = sip_message::ResponseBuilder::to_request(&request, 500).build();
    let now = p.now;
    assert_eq!(
        p.server.send_response(now, &key, &late),
        Err(crate::TransactionError::UnknownTransaction)
    );
}
