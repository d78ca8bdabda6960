//! CANCEL matching (RFC 3261 §9.2 and §17.2.3).

use super::pair::{ms, Pair};
use crate::{ClientInviteState, ServerInviteState, TransactionState, TransportKind};
use sip_message::{HeaderName, Method};

#[test]
fn cancel_matches_its_invite_and_not_another_branch() {
    let mut p = Pair::new(TransportKind::Udp);
    p.server_tu.ringing = true;
    p.server_tu.answer_cancel = true;
    let first = p.send_request(&Method::INVITE);
    let second = p.send_request(&Method::INVITE);
    p.drive_until(ms(1_000));
    let server_keys = p.server_request_keys();
    assert_eq!(server_keys.len(), 2);

    let cancel = p
        .client
        .cancel_request(&first)
        .expect("INVITE is proceeding");
    let cancel_key = p.send(cancel);
    // Same branch, its own transaction (the method differs).
    assert_eq!(cancel_key.branch(), first.branch());
    assert_ne!(&cancel_key, &first);
    p.drive();

    // The server TU found the first INVITE's transaction, and only that one.
    assert_eq!(p.cancelled, [server_keys[0].clone()]);
    assert_ne!(p.cancelled[0], server_keys[1]);
    assert_eq!(p.client_responses_ms(487).len(), 1);
    let got_487_on = p.client_events.iter().find_map(|(_, e)| match e {
        crate::Event::Response { key, message } if message.status() == Some(487) => {
            Some(key.clone())
        }
        _ => None,
    });
    assert_eq!(got_487_on, Some(first.clone()));
    // The second INVITE still rings.
    assert_eq!(
        p.client.state(&second),
        Some(TransactionState::ClientInvite(
            ClientInviteState::Proceeding
        ))
    );
    assert_eq!(
        p.server.state(&server_keys[1]),
        Some(TransactionState::ServerInvite(
            ServerInviteState::Proceeding
        ))
    );
}

#[test]
fn cancel_with_an_unknown_branch_matches_nothing() {
    let mut p = Pair::new(TransportKind::Udp);
    p.server_tu.ringing = true;
    let invite = p.send_request(&Method::INVITE);
    p.drive_until(ms(200));
    let mut cancel = p.client.cancel_request(&invite).expect("proceeding");
    assert!(p.server.find_invite_for_cancel(&cancel).is_some());
    // Another branch: a CANCEL for some other INVITE.
    let via = cancel
        .header(&HeaderName::Via)
        .expect("Via")
        .replace("branch=", "branch=z9hG4bKother");
    cancel.headers.set(HeaderName::Via, via);
    assert_eq!(p.server.find_invite_for_cancel(&cancel), None);
    // Not a CANCEL at all.
    let options = p.build_request(&Method::OPTIONS);
    assert_eq!(p.server.find_invite_for_cancel(&options), None);
}

#[test]
fn cancel_request_copies_the_invite_fields() {
    let mut p = Pair::new(TransportKind::Udp);
    p.server_tu.ringing = true;
    let key = p.send_request(&Method::INVITE);
    p.drive_until(ms(10));
    let invite = p.wire[0].message();
    let cancel = p.client.cancel_request(&key).expect("calling");
    // RFC 3261 §9.1.
    assert_eq!(cancel.method(), Some(&Method::CANCEL));
    assert_eq!(cancel.request_uri(), invite.request_uri());
    assert_eq!(cancel.top_via(), invite.top_via());
    assert_eq!(
        cancel.header(&HeaderName::To),
        invite.header(&HeaderName::To)
    );
    assert_eq!(
        cancel.header(&HeaderName::From),
        invite.header(&HeaderName::From)
    );
    assert_eq!(cancel.call_id(), invite.call_id());
    assert_eq!(cancel.cseq().map(|c| c.seq), invite.cseq().map(|c| c.seq));
    assert_eq!(cancel.headers.count(&HeaderName::Route), 1);
}
