//! What the agent needs to play the handover protocol, tested without
//! Baton: INVITE with Replaces (kept through a challenge), handover INFOs
//! both ways, a BYE's Reason, dialog-event subscriptions against a raw
//! notifier, dialog-info parsing, G.711 levels and RFC 4733 events on a
//! negotiated payload type.

use super::{establish, pair, T};
use baton_system_tests::ua::{
    g711, replaces_value, Codec, DialogInfo, Sdp, DIALOG_INFO_CONTENT_TYPE, HANDOVER_CONTENT_TYPE,
};
use baton_system_tests::{Payload, Phone, RtpSend, RtpStream, Transport, UdpAgent};
use sip_message::{HeaderName, Message, Method, ResponseBuilder};
use std::time::{Duration, Instant};

/// The next request of `method` the raw agent receives (anything else,
/// retransmissions of requests already returned included, is skipped).
fn next_request(agent: &UdpAgent, method: &Method, seen: &mut Vec<String>) -> Message {
    let deadline = Instant::now() + T;
    loop {
        let m = agent
            .recv(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|| panic!("no {method} came"));
        let branch = m
            .top_via()
            .and_then(|v| v.branch().map(str::to_string))
            .unwrap_or_default();
        let key = format!("{method} {branch}");
        if m.method() == Some(method) && !seen.contains(&key) {
            seen.push(key);
            return m;
        }
    }
}

/// The next response the raw agent receives.
fn next_response(agent: &UdpAgent) -> Message {
    let deadline = Instant::now() + T;
    loop {
        let m = agent
            .recv(deadline.saturating_duration_since(Instant::now()))
            .expect("a response");
        if m.status().is_some() {
            return m;
        }
    }
}

fn header(m: &Message, name: HeaderName) -> String {
    m.header(&name).unwrap_or_default().to_string()
}

const CHALLENGE: &str =
    "Digest realm=\"example.test\", nonce=\"n0nce\", algorithm=SHA-256, qop=\"auth\"";

#[test]
fn replaces_value_names_the_dialog_as_its_recipient_sees_it() {
    assert_eq!(
        replaces_value("c1@host", "s-tag", "a-tag", false),
        "c1@host;to-tag=s-tag;from-tag=a-tag"
    );
    assert_eq!(
        replaces_value("c1", "t", "f", true),
        "c1;to-tag=t;from-tag=f;early-only"
    );
}

#[test]
fn extra_invite_headers_survive_the_proxy_challenge() {
    let a = Phone::new(
        "B",
        "alice",
        "pw",
        "example.test",
        "127.0.0.1:9".parse().expect("addr"),
        Transport::Udp,
    );
    let server = UdpAgent::new(a.local_addr());
    a.set_server(server.local_addr());
    let replaces = replaces_value("abc@127.0.0.1", "s1", "a1", false);
    let out = a.call_with_headers(
        "sip:*11@example.test",
        Some(RtpStream::loopback().sdp()),
        &[
            (HeaderName::Replaces, replaces.clone()),
            (HeaderName::Other("X-Test".into()), "1".into()),
        ],
    );
    let mut seen = Vec::new();
    let first = next_request(&server, &Method::INVITE, &mut seen);
    assert_eq!(header(&first, HeaderName::Replaces), replaces);
    assert_eq!(
        first.request_uri().map(ToString::to_string).as_deref(),
        Some("sip:*11@example.test")
    );
    let challenge = ResponseBuilder::to_request(&first, 407)
        .to_tag("s0")
        .header(HeaderName::ProxyAuthenticate, CHALLENGE)
        .build();
    server.send(&challenge.to_bytes());
    next_request(&server, &Method::ACK, &mut seen);
    let retry = next_request(&server, &Method::INVITE, &mut seen);
    assert_eq!(header(&retry, HeaderName::Replaces), replaces);
    assert_eq!(header(&retry, HeaderName::Other("X-Test".into())), "1");
    assert!(header(&retry, HeaderName::ProxyAuthorization).contains("username=\"alice\""));
    assert_eq!(retry.cseq().map(|c| c.seq), Some(2));
    assert_eq!(out.invite().header(&HeaderName::Replaces), Some(&*replaces));
    let refused = ResponseBuilder::to_request(&retry, 603)
        .to_tag("s2")
        .build();
    server.send(&refused.to_bytes());
    assert_eq!(out.wait_final(T).expect("final"), 603);
}

#[test]
fn handover_infos_are_answered_and_found_and_the_bye_reason_is_readable() {
    // B plays the server S: it asks A, A decides, S hangs A up.
    let (a, s) = pair(Transport::Udp);
    let (rtp_a, rtp_s) = (RtpStream::loopback(), RtpStream::loopback());
    let (a_call, s_call) = establish(&a, &s, &rtp_a, &rtp_s);
    let before = Instant::now();
    assert!(
        a_call
            .wait_info(HANDOVER_CONTENT_TYPE, Duration::from_millis(50))
            .is_err(),
        "nothing yet"
    );
    assert_eq!(s_call.info("application/dtmf", "1").expect("answered"), 200);
    let question =
        r#"{"handover":"h1","from":"sip:alice@127.0.0.1:5999","user_agent":"B","expires":20}"#;
    assert_eq!(
        s_call
            .info(
                "Application/Vnd.Baton.Handover+JSON; charset=utf-8",
                question
            )
            .expect("A answers"),
        200
    );
    let info = a_call
        .wait_info(HANDOVER_CONTENT_TYPE, T)
        .expect("A has the question");
    assert_eq!(&info.body[..], question.as_bytes());
    assert!(a_call.received_requests_since(before).len() >= 2);
    assert_eq!(a_call.infos("application/dtmf").len(), 1);
    let asked: serde_json::Value = serde_json::from_slice(&info.body).expect("json");
    let decision = format!(
        r#"{{"handover":"{}","decision":"grant"}}"#,
        asked["handover"].as_str().expect("id")
    );
    assert_eq!(a_call.info_json(&decision).expect("S answers"), 200);
    let got = s_call
        .wait_info("application/vnd.baton.handover+json", T)
        .expect("S has the decision");
    assert_eq!(&got.body[..], decision.as_bytes());
    assert_eq!(header(&got, HeaderName::ContentType), HANDOVER_CONTENT_TYPE);

    assert_eq!(a_call.bye_request(), None);
    let reason = "SIP;cause=200;text=\"Call completed elsewhere\"";
    let ok = s_call
        .request(Method::BYE, &[(HeaderName::Reason, reason)], None)
        .expect("answered");
    assert_eq!(ok.status(), Some(200));
    let bye = a_call.wait_bye(T).expect("A is hung up");
    assert_eq!(header(&bye, HeaderName::Reason), reason);
    assert_eq!(a_call.bye_reason().as_deref(), Some(reason));
    assert_eq!(a_call.bye_request(), Some(bye));
}

/// A dialog-info document about A's call with the server.
fn dialog_info(version: u32, state: &str, event: Option<&str>) -> String {
    let event = event.map_or(String::new(), |e| format!(" event=\"{e}\""));
    format!(
        "<?xml version=\"1.0\"?>\r\n\
         <dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" version=\"{version}\" \
         state=\"full\" entity=\"sip:alice@example.test\">\r\n\
         <dialog id=\"d1\" call-id=\"abc@127.0.0.1\" local-tag=\"a-tag\" remote-tag=\"s-tag\" direction=\"initiator\">\
         <state{event}>{state}</state><duration>12</duration>\
         <local><identity display=\"Alice\">sip:alice@example.test</identity>\
         <target uri=\"sip:alice@127.0.0.1:5070\"><param pname=\"+sip.rendering\" pval=\"yes\"/></target></local>\
         <remote><identity>sip:bob@example.test</identity><target uri=\"sip:bob@127.0.0.1:5080\"/></remote>\
         </dialog></dialog-info>\r\n"
    )
}

fn notify(
    subscribe: &Message,
    agent: &UdpAgent,
    cseq: u32,
    sub_state: &str,
    body: &str,
) -> Vec<u8> {
    let port = agent.local_addr().port();
    format!(
        "NOTIFY {contact} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKn{cseq}-{n}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@example.test>;tag=n1\r\nTo: {to}\r\n\
         Call-ID: {call_id}\r\nCSeq: {cseq} NOTIFY\r\nContact: <sip:notifier@127.0.0.1:{port}>\r\n\
         Event: dialog\r\nSubscription-State: {sub_state}\r\nContent-Type: {DIALOG_INFO_CONTENT_TYPE}\r\n\
         Content-Length: {len}\r\n\r\n{body}",
        contact = "sip:alice@127.0.0.1",
        n = sub_state.len(),
        to = header(subscribe, HeaderName::From),
        call_id = subscribe.call_id().unwrap_or_default(),
        len = body.len(),
    )
    .into_bytes()
}

#[test]
fn a_dialog_subscription_answers_challenges_takes_early_notifies_refreshes_and_ends() {
    let b = Phone::new(
        "B",
        "alice",
        "pw",
        "example.test",
        "127.0.0.1:9".parse().expect("addr"),
        Transport::Udp,
    );
    let server = UdpAgent::new(b.local_addr());
    b.set_server(server.local_addr());
    let mut seen = Vec::new();
    let (sub, first) = std::thread::scope(|scope| {
        let subscribing = scope.spawn(|| b.subscribe_dialog(600));
        let first = next_request(&server, &Method::SUBSCRIBE, &mut seen);
        assert_eq!(
            first.request_uri().map(ToString::to_string).as_deref(),
            Some("sip:alice@example.test")
        );
        assert_eq!(header(&first, HeaderName::Event), "dialog");
        assert_eq!(header(&first, HeaderName::Accept), DIALOG_INFO_CONTENT_TYPE);
        assert_eq!(header(&first, HeaderName::Expires), "600");
        assert!(first.headers.get(&HeaderName::Contact).is_some());
        let challenge = ResponseBuilder::to_request(&first, 401)
            .to_tag("x0")
            .header(HeaderName::WwwAuthenticate, CHALLENGE)
            .build();
        server.send(&challenge.to_bytes());
        let retry = next_request(&server, &Method::SUBSCRIBE, &mut seen);
        assert!(header(&retry, HeaderName::Authorization).contains("username=\"alice\""));
        assert_eq!(retry.call_id(), first.call_id());
        assert_eq!(retry.from_tag(), first.from_tag());
        assert_eq!(retry.cseq().map(|c| c.seq), Some(2));
        // The first NOTIFY overtakes the 200 (RFC 6665 §4.1.2.4).
        server.send(&notify(
            &retry,
            &server,
            1,
            "active;expires=600",
            &dialog_info(0, "confirmed", None),
        ));
        let answer = next_response(&server);
        assert_eq!(answer.status(), Some(200), "the early NOTIFY is accepted");
        assert_eq!(answer.cseq().map(|c| c.method), Some(Method::NOTIFY));
        let ok = ResponseBuilder::to_request(&retry, 200)
            .to_tag("n1")
            .header(
                HeaderName::Contact,
                format!("<sip:notifier@{}>", server.local_addr()),
            )
            .header(HeaderName::Expires, "600")
            .build();
        server.send(&ok.to_bytes());
        (
            subscribing
                .join()
                .expect("no panic")
                .expect("final response"),
            first,
        )
    });
    assert_eq!(sub.status(), 200);
    assert_eq!(sub.notifies().len(), 1);
    assert_eq!(
        sub.subscription_state().as_deref(),
        Some("active;expires=600")
    );
    let dialog = sub.dialog_id().expect("the NOTIFY made the dialog");
    assert_eq!(
        (dialog.local_tag.clone(), dialog.remote_tag.as_str()),
        (first.from_tag().expect("tag"), "n1")
    );
    let info = sub
        .wait_notify(|i| i.dialogs.iter().any(|d| d.state == "confirmed"), T)
        .expect("confirmed");
    assert_eq!(info.entity, "sip:alice@example.test");
    assert_eq!(info.dialogs[0].call_id, "abc@127.0.0.1");

    // A later NOTIFY: A's dialog replaced.
    server.send(&notify(
        &first,
        &server,
        2,
        "active;expires=590",
        &dialog_info(1, "terminated", Some("replaced")),
    ));
    assert_eq!(next_response(&server).status(), Some(200));
    let replaced = sub
        .wait_notify(
            |i| {
                i.dialogs
                    .iter()
                    .any(|d| d.event.as_deref() == Some("replaced"))
            },
            T,
        )
        .expect("replaced");
    assert_eq!(replaced.version, 1);
    assert_eq!(replaced.dialogs[0].state, "terminated");
    assert_eq!(sub.dialog_infos().len(), 2);

    // A NOTIFY of no subscription, and one going backwards in CSeq.
    let stray = String::from_utf8(notify(&first, &server, 9, "active", ""))
        .expect("utf8")
        .replace(first.call_id().expect("call-id"), "unknown-call");
    server.send(stray.as_bytes());
    assert_eq!(next_response(&server).status(), Some(481));
    server.send(&notify(&first, &server, 1, "active;expires=1", ""));
    assert_eq!(next_response(&server).status(), Some(500));
    assert_eq!(sub.notifies().len(), 2);

    // Refresh in the dialog, through a proxy challenge; then unsubscribe.
    std::thread::scope(|scope| {
        let refreshing = scope.spawn(|| sub.refresh(300));
        let refresh = next_request(&server, &Method::SUBSCRIBE, &mut seen);
        assert_eq!(refresh.to_tag().as_deref(), Some("n1"));
        assert_eq!(refresh.from_tag(), first.from_tag());
        assert_eq!(
            refresh.cseq().map(|c| c.seq),
            Some(3),
            "above the initial SUBSCRIBE's 2"
        );
        assert_eq!(
            refresh.request_uri().map(ToString::to_string),
            Some(format!("sip:notifier@{}", server.local_addr())),
            "sent to the NOTIFY's Contact"
        );
        assert_eq!(header(&refresh, HeaderName::Expires), "300");
        assert_eq!(header(&refresh, HeaderName::Event), "dialog");
        let challenge = ResponseBuilder::to_request(&refresh, 407)
            .header(HeaderName::ProxyAuthenticate, CHALLENGE)
            .build();
        server.send(&challenge.to_bytes());
        let retry = next_request(&server, &Method::SUBSCRIBE, &mut seen);
        assert!(retry.headers.get(&HeaderName::ProxyAuthorization).is_some());
        assert_eq!(retry.cseq().map(|c| c.seq), Some(4));
        server.send(&ResponseBuilder::to_request(&retry, 200).build().to_bytes());
        assert_eq!(refreshing.join().expect("no panic").expect("answered"), 200);
    });
    std::thread::scope(|scope| {
        let ending = scope.spawn(|| sub.unsubscribe());
        let end = next_request(&server, &Method::SUBSCRIBE, &mut seen);
        assert_eq!(end.cseq().map(|c| c.seq), Some(5));
        assert_eq!(header(&end, HeaderName::Expires), "0");
        server.send(&ResponseBuilder::to_request(&end, 200).build().to_bytes());
        assert_eq!(ending.join().expect("no panic").expect("answered"), 200);
    });
    server.send(&notify(&first, &server, 3, "terminated;reason=timeout", ""));
    assert_eq!(next_response(&server).status(), Some(200));
    assert_eq!(sub.wait_notifies(3, T).expect("three").len(), 3);
    assert_eq!(
        sub.subscription_state().as_deref(),
        Some("terminated;reason=timeout")
    );
    assert_eq!(b.received_notifies().len(), 5, "481 and 500 ones included");
}

#[test]
fn an_unknown_event_package_gets_its_refusal_back() {
    let b = Phone::new(
        "B",
        "alice",
        "pw",
        "example.test",
        "127.0.0.1:9".parse().expect("addr"),
        Transport::Udp,
    );
    let server = UdpAgent::new(b.local_addr());
    b.set_server(server.local_addr());
    let mut seen = Vec::new();
    let response = std::thread::scope(|scope| {
        let subscribing = scope.spawn(|| b.subscribe("presence", 60));
        let request = next_request(&server, &Method::SUBSCRIBE, &mut seen);
        assert_eq!(header(&request, HeaderName::Event), "presence");
        assert!(request.headers.get(&HeaderName::Accept).is_none());
        let refused = ResponseBuilder::to_request(&request, 489)
            .to_tag("z")
            .header(HeaderName::AllowEvents, "dialog")
            .build();
        server.send(&refused.to_bytes());
        subscribing.join().expect("no panic").expect("final")
    });
    assert_eq!(response.status(), Some(489));
    assert_eq!(header(&response, HeaderName::AllowEvents), "dialog");
}

#[test]
fn dialog_info_reads_rfc4235_documents() {
    let info = DialogInfo::parse(&dialog_info(7, "terminated", Some("replaced"))).expect("parses");
    assert_eq!((info.version, info.state.as_str()), (7, "full"));
    assert_eq!(info.entity, "sip:alice@example.test");
    let d = &info.dialogs[0];
    assert_eq!(
        (
            d.id.as_str(),
            d.call_id.as_str(),
            d.local_tag.as_str(),
            d.remote_tag.as_str()
        ),
        ("d1", "abc@127.0.0.1", "a-tag", "s-tag")
    );
    assert_eq!(d.direction, "initiator");
    assert_eq!(
        (d.state.as_str(), d.event.as_deref()),
        ("terminated", Some("replaced"))
    );
    assert_eq!(d.target.as_deref(), Some("sip:alice@127.0.0.1:5070"));
    assert_eq!(d.remote_target.as_deref(), Some("sip:bob@127.0.0.1:5080"));
    assert_eq!(d.local_identity.as_deref(), Some("sip:alice@example.test"));
    assert_eq!(d.remote_identity.as_deref(), Some("sip:bob@example.test"));
    assert_eq!(d.duration, Some(12));
    assert_eq!(info.dialog_by_call_id("abc@127.0.0.1"), Some(d));

    // Prefixed names, entities, several dialogs, an empty document.
    let prefixed = "<d:dialog-info xmlns:d=\"urn:ietf:params:xml:ns:dialog-info\" version=\"3\" \
        state=\"partial\" entity=\"sip:u@x?a=1&amp;b=2\">\
        <d:dialog id=\"1\" call-id=\"c&lt;1\"><d:state code=\"603\" event=\"rejected\">terminated</d:state></d:dialog>\
        <d:dialog id=\"2\" call-id=\"c2\"><d:state>early &amp; ringing</d:state></d:dialog>\
        </d:dialog-info>";
    let info = DialogInfo::parse(prefixed).expect("parses");
    assert_eq!(info.entity, "sip:u@x?a=1&b=2");
    assert_eq!(info.dialogs.len(), 2);
    assert_eq!(info.dialogs[0].call_id, "c<1");
    assert_eq!(info.dialogs[0].code, Some(603));
    assert_eq!(info.dialogs[1].state, "early & ringing");
    assert_eq!(info.dialogs[1].event, None);
    let empty = DialogInfo::parse(
        "<dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" version=\"0\" state=\"full\" entity=\"sip:u@x\"/>",
    )
    .expect("parses");
    assert!(empty.dialogs.is_empty());
    assert!(DialogInfo::parse("<other/>").is_err());
    assert!(DialogInfo::parse("<dialog-info><dialog></dialog-info>").is_err());
}

#[test]
fn g711_matches_the_reference_values() {
    assert_eq!(g711::ulaw_decode(0xFF), 0);
    assert_eq!(g711::ulaw_decode(0x80), 32124);
    assert_eq!(g711::ulaw_decode(0x00), -32124);
    assert_eq!(g711::ulaw_decode(0x7F), 0, "negative zero");
    assert_eq!(g711::ulaw_encode(0), 0xFF);
    assert_eq!(g711::ulaw_encode(32124), 0x80);
    assert_eq!(g711::ulaw_encode(-32124), 0x00);
    assert_eq!(g711::ulaw_encode(i16::MAX), 0x80);
    assert_eq!(g711::ulaw_encode(i16::MIN), 0x00);
    assert_eq!(g711::ulaw_decode(0xFE), 8);
    assert_eq!(g711::ulaw_encode(8), 0xFE);
    assert_eq!(g711::alaw_encode(0), 0xD5);
    assert_eq!(g711::alaw_encode(-1), 0x55);
    assert_eq!(g711::alaw_decode(0xD5), 8);
    assert_eq!(g711::alaw_decode(0x55), -8);
    assert_eq!(g711::alaw_decode(0xAA), 32256);
    assert_eq!(g711::alaw_decode(0x2A), -32256);
    assert_eq!(g711::alaw_encode(i16::MAX), 0xAA);
    assert_eq!(g711::alaw_encode(i16::MIN), 0x2A);
    for code in 0..=255u8 {
        let back = g711::ulaw_encode(g711::ulaw_decode(code));
        assert!(
            back == code || (code == 0x7F && back == 0xFF),
            "µ-law {code:#04x}"
        );
        assert_eq!(
            g711::alaw_encode(g711::alaw_decode(code)),
            code,
            "A-law {code:#04x}"
        );
    }
    // Both laws are monotonic over the linear range.
    let mut last = (i16::MIN, i16::MIN);
    for x in (i16::MIN..=i16::MAX).step_by(7) {
        let now = (
            g711::ulaw_decode(g711::ulaw_encode(x)),
            g711::alaw_decode(g711::alaw_encode(x)),
        );
        assert!(now.0 >= last.0 && now.1 >= last.1, "at {x}");
        assert!(
            (i32::from(now.0) - i32::from(x)).abs() <= 1100,
            "µ-law error at {x}"
        );
        last = now;
    }
}

#[test]
fn a_constant_g711_payload_is_heard_at_its_level() {
    let (tx, rx) = (RtpStream::loopback(), RtpStream::loopback());
    let start = Instant::now();
    tx.start_sending(RtpSend::new(
        rx.local_addr(),
        0x711,
        Payload::ConstantUlaw(1000),
    ));
    assert!(rx.wait_packets(5, T));
    tx.stop();
    let level = g711::ulaw_decode(g711::ulaw_encode(1000));
    let packets = rx.packets();
    assert_eq!(packets[0].payload().len(), 160, "the whole payload is kept");
    assert!(packets[0]
        .samples()
        .expect("PCMU")
        .iter()
        .all(|s| *s == level));
    let rms = rx.rms_since(start).expect("audio");
    assert!((rms - f64::from(level)).abs() < 1e-6, "{rms} vs {level}");

    std::thread::sleep(Duration::from_millis(5));
    let switched = Instant::now();
    tx.start_sending(
        RtpSend::new(rx.local_addr(), 0x712, Payload::ConstantAlaw(-2000)).payload_type(8),
    );
    assert!(rx.wait_more_packets(5, T));
    tx.stop();
    let level = g711::alaw_decode(g711::alaw_encode(-2000));
    let samples = rx.samples_since(switched);
    assert!(!samples.is_empty() && samples.iter().all(|s| *s == level));
    assert!(
        (rx.rms_since(switched).expect("audio") - f64::from(level.unsigned_abs())).abs() < 1e-6
    );

    rx.clear();
    let silent = Instant::now();
    tx.start_sending(RtpSend::new(rx.local_addr(), 0x713, Payload::Silence));
    assert!(rx.wait_packets(3, T));
    tx.stop();
    assert_eq!(rx.rms_since(silent), Some(0.0));
    assert_eq!(rx.rms_since(Instant::now()), None);
}

#[test]
fn rfc4733_events_use_the_negotiated_payload_type() {
    let (tx, rx) = (RtpStream::loopback(), RtpStream::loopback());
    // The answer picked PCMA and put telephone-event on 96.
    let mut answer = Sdp::offer(rx.local_addr());
    answer.codecs = vec![Codec::pcma(), Codec::new(96, "telephone-event", 8000)];
    let spec = RtpSend::negotiated(&answer, 0x4733, Payload::ConstantAlaw(0));
    assert_eq!((spec.payload_type, spec.telephone_event), (8, 96));
    rx.set_telephone_event(96);
    tx.start_sending(spec);
    assert!(rx.wait_packets(3, T));
    tx.send_dtmf('1').expect("sent");
    assert!(rx.wait_more_packets(3, T), "audio resumes");
    tx.stop();
    assert_eq!(rx.dtmf_digits(), ['1']);

    let packets = rx.packets();
    let events: Vec<_> = packets.iter().filter(|p| p.payload_type == 96).collect();
    assert!(packets
        .iter()
        .all(|p| p.payload_type == 96 || p.payload_type == 8));
    assert!(!events.is_empty() && events.iter().all(|p| p.payload().len() == 4));
    let first = packets
        .iter()
        .position(|p| p.payload_type == 96)
        .expect("event");
    let last = packets
        .iter()
        .rposition(|p| p.payload_type == 96)
        .expect("event");
    assert_eq!(last - first + 1, events.len(), "one run, no audio inside");
    assert!(events[0].marker && events[1..].iter().all(|p| !p.marker));
    assert!(events.iter().all(|p| p.timestamp == events[0].timestamp));
    assert!(events
        .windows(2)
        .all(|w| w[1].seq == w[0].seq.wrapping_add(1)));
    let parsed: Vec<(u8, bool, u16)> = events
        .iter()
        .map(|p| p.telephone_event().expect("event"))
        .collect();
    assert!(parsed.iter().all(|e| e.0 == 1), "event code 1");
    type Event = (u8, bool, u16);
    let (begin, end): (Vec<Event>, Vec<Event>) = parsed.iter().partition(|e| !e.1);
    assert!(!begin.is_empty());
    assert!(begin.windows(2).all(|w| w[1].2 > w[0].2), "durations grow");
    assert_eq!(end.len(), 3, "the end packet three times");
    assert!(end
        .iter()
        .all(|e| e.2 == end[0].2 && e.2 > begin[begin.len() - 1].2));
    assert!(parsed[..begin.len()].iter().all(|e| !e.1), "ends come last");
    assert!(
        events.iter().all(|p| p.payload()[1] & 0x3f == 10),
        "volume -10 dBm0"
    );
    // The audio before and after keeps the sequence unbroken.
    assert_eq!(rx.max_seq_gap(), Some(1));
    assert!(packets[last + 1].timestamp > events[0].timestamp);
}
