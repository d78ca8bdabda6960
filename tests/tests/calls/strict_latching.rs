//! Strict latching (`media.strict_latching`): media is accepted only from
//! the address the sender's SDP names; symmetric latching (the default)
//! would take the first source.

use super::{phone, T, USERS};
use baton_system_tests::ua::{Payload, RtpSend, RtpStream, Transport};
use baton_system_tests::Baton;

#[test]
fn with_strict_latching_media_from_another_address_is_dropped() {
    let baton = Baton::start(
        "example.test",
        "",
        &format!("[media]\nports = \"40000-49999\"\nstrict_latching = true\n\n{USERS}"),
    );
    let alice = phone(&baton, "alice", "alice", "wonderland", Transport::Udp);
    let bob = phone(&baton, "bob", "bob", "builder", Transport::Udp);
    let (a_rtp, b_rtp) = (RtpStream::loopback(), RtpStream::loopback());
    let outgoing = alice.call("sip:bob@example.test", Some(a_rtp.sdp()));
    let incoming = bob.wait_incoming(T).expect("rings");
    let offer = incoming.remote_sdp().expect("offer");
    let b_call = incoming.answer(Some(b_rtp.sdp())).expect("answered");
    let a_call = outgoing.wait_answer(T).expect("answered");
    let relay_for_alice = a_call.remote_sdp().expect("sdp").rtp_addr();

    // Alice's SDP says 127.0.0.1; audio from 127.0.0.2 is not hers.
    let spoofed = RtpStream::bind("127.0.0.2".parse().expect("ip"));
    spoofed.start_sending(RtpSend::new(relay_for_alice, 0x5, Payload::Pattern(b'S')));
    assert!(
        baton.wait_metric(
            "baton_rtp_dropped_total",
            &["reason=\"unexpected_source\""],
            10.0
        ) >= 10.0
    );
    spoofed.stop();
    assert_eq!(
        b_rtp.count_marker(b'S'),
        0,
        "nothing from the wrong address reached bob"
    );
    // From the address in the SDP, both ways, it flows.
    a_rtp.start_sending(RtpSend::new(relay_for_alice, 0xA, Payload::Pattern(b'A')));
    b_rtp.start_sending(RtpSend::new(offer.rtp_addr(), 0xB, Payload::Pattern(b'B')));
    assert!(b_rtp.wait_packets(10, T) && a_rtp.wait_packets(10, T));
    assert!(b_rtp.payloads_match(b'A'));
    a_rtp.stop();
    b_rtp.stop();
    assert_eq!(a_call.bye().expect("bye"), 200);
    b_call.wait_bye(T).expect("hung up");
}
