//! Non-INVITE client transaction: Timers E, F and K.

use super::pair::{ms, Dir, Pair};
use crate::{Config, Timer, TransportKind};
use sip_message::Method;

#[test]
fn timer_e_doubles_up_to_t2_cap() {
    let mut p = Pair::new(TransportKind::Udp);
    p.drop_all(Dir::ToServer, None);
    p.send_request(&Method::OPTIONS);
    p.drive();
    // Intervals 500, 1000, 2000, then T2 = 4000 ms until Timer F.
    assert_eq!(
        p.sent_ms(Dir::ToServer, "OPTIONS"),
        [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert_eq!(Pair::timeouts(&p.client_events), [(32_000, Timer::F)]);
}

#[test]
fn timer_e_is_t2_in_proceeding() {
    let mut p = Pair::new(TransportKind::Udp);
    p.drop_all(Dir::ToServer, None);
    let key = p.send_request(&Method::REGISTER);
    p.drive_until(ms(600));
    // Hand the client a 100 at 600 ms, as if it came from the server.
    let request = p.wire[0].message();
    let trying = sip_message::ResponseBuilder::to_request(&request, 100).build();
    let now = p.now;
    p.client.handle_response(now, trying).expect("a response");
    p.drive();
    // Timer E fires at 1500 (set before the 100), then every T2.
    assert_eq!(
        p.sent_ms(Dir::ToServer, "REGISTER"),
        [0, 500, 1500, 5500, 9500, 13500, 17500, 21500, 25500, 29500]
    );
    assert_eq!(Pair::timeouts(&p.client_events), [(32_000, Timer::F)]);
    assert!(p.client.get(&key).is_none());
}

#[test]
fn timer_f_fires_at_64_t1_when_server_never_answers() {
    let mut p = Pair::new(TransportKind::Udp);
    let key = p.send_request(&Method::OPTIONS);
    p.drive();
    assert_eq!(Pair::timeouts(&p.client_events), [(32_000, Timer::F)]);
    assert_eq!(Pair::terminated_ms(&p.client_events, &key), Some(32_000));
    assert!(p.client.is_empty());
    // The server TU saw the request once; ten retransmissions were absorbed.
    assert_eq!(p.server_request_keys().len(), 1);
    assert_eq!(p.server_absorbed, 10);
}

#[test]
fn timer_k_absorbs_retransmitted_final() {
    let mut p = Pair::new(TransportKind::Udp);
    p.link.latency = ms(200);
    p.server_tu.non_invite = Some((200, ms(400)));
    let key = p.send_request(&Method::OPTIONS);
    p.drive_until(ms(5_799));
    // The request reached the server at 200 ms, the answer left at 600; the
    // retransmission sent at 500 crossed it and reached a Completed server
    // transaction at 700, which re-sent the 200.
    assert_eq!(p.sent_ms(Dir::ToServer, "OPTIONS"), [0, 500]);
    assert_eq!(p.sent_ms(Dir::ToClient, "SIP/2.0 200"), [600, 700]);
    // The client TU saw one 200; the copy at 900 ms was absorbed.
    assert_eq!(p.client_responses_ms(200), [800]);
    assert_eq!(p.client.len(), 1);
    p.drive();
    // Timer K = T4 after the final at 800 ms.
    assert_eq!(Pair::terminated_ms(&p.client_events, &key), Some(5_800));
    assert!(p.client.is_empty());
}

#[test]
fn timer_f_is_reported_once_even_when_handle_timeout_is_late() {
    let mut p = Pair::with_configs(Config::default(), Config::default(), TransportKind::Udp);
    p.drop_all(Dir::ToServer, None);
    let key = p.send_request(&Method::OPTIONS);
    // The driver oversleeps past everything: one catch-up call.
    let late = p.now + ms(100_000);
    p.client.handle_timeout(late);
    let mut timeouts = 0;
    while let Some(e) = p.client.poll_event() {
        if let crate::Event::Timeout { key: k, timer } = e {
            assert_eq!((k, timer), (key.clone(), Timer::F));
            timeouts += 1;
        }
    }
    assert_eq!(timeouts, 1);
    assert!(p.client.is_empty());
    assert_eq!(p.client.poll_timeout(), None);
}
