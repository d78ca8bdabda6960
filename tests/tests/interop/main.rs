//! Interop with real peers from Debian's packages: SIPp (`sip-tester`) as
//! caller and as callee through Baton, and baresip registering and placing
//! a call through Baton with RTP flowing (checked on Baton's counters).
//!
//! `scripts/test.sh` installs both; without them these tests fail under CI
//! and are skipped (loudly) elsewhere.

use baton_system_tests::ua::{Payload, Phone, RtpSend, RtpStream, Transport};
use baton_system_tests::{Baresip, Baton};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod handover;

const USERS: &str = "[[users]]\nname = \"alice\"\npassword = \"wonderland\"\n\n\
                     [[users]]\nname = \"bob\"\npassword = \"builder\"\n";

/// A node offering these digest algorithms, in order.
fn start(digest: &str) -> Baton {
    Baton::start(
        "example.test",
        &format!("digest = {digest}\n"),
        &format!("[media]\nports = \"50000-51999\"\n\n{USERS}"),
    )
}

fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is missing: CI must install it (scripts/test.sh does)"
        );
        eprintln!("SKIPPED: {tool} is not installed (apt-get install sip-tester baresip)");
    }
    found
}

fn sipp_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sipp")
}

/// A free UDP port on loopback for SIPp, with the three above it free
/// too (SIPp's media takes the port and the next ones), found below the
/// kernel's ephemeral range (32768 on Linux): a port picked there and
/// released could be taken by any other test's socket, or by a relay
/// whose range overlaps it, before SIPp binds it.
fn free_udp_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    for _ in 0..500 {
        let step = NEXT.fetch_add(4, std::sync::atomic::Ordering::Relaxed) % 2400;
        let port = 30_000 + step;
        let free = (port..port + 4).all(|p| std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok());
        if free {
            return port;
        }
    }
    panic!("no free UDP port in 30000-32399");
}

fn sipp(baton: &Baton, args: &[&str]) -> Command {
    let mut c = Command::new("timeout");
    c.args(["-k", "5", "60"])
        .arg("sipp")
        .arg(baton.udp.to_string())
        .args(args)
        .args(["-nostdin", "-trace_err"]);
    c.current_dir(std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

#[test]
fn sipp_calls_sipp_through_baton() {
    if !have("sipp") {
        return;
    }
    // SIPp 3.6 answers only the first challenge, and only MD5.
    let baton = start("[\"MD5\", \"SHA-256\"]");
    let dir = sipp_dir();
    let sf = |name: &str| dir.join(name).display().to_string();
    let (callee_port, caller_port) = (free_udp_port(), free_udp_port());
    let (callee_media, caller_media) = (free_udp_port(), free_udp_port());
    let register = sipp(
        &baton,
        &[
            "-sf",
            &sf("register.xml"),
            "-inf",
            &sf("callee.csv"),
            "-au",
            "bob",
            "-ap",
            "builder",
            // SIPp's digest uri is `sip:` + the remote address unless
            // told; Baton requires the Request-URI (RFC 7616 §3.4.6).
            "-auth_uri",
            "example.test",
            "-p",
            &callee_port.to_string(),
            "-m",
            "1",
        ],
    )
    .status()
    .expect("run sipp");
    assert!(register.success(), "sipp registers bob: {register:?}");
    const CALLS: &str = "20";
    let mut callee = sipp(
        &baton,
        &[
            "-sf",
            &sf("uas.xml"),
            "-p",
            &callee_port.to_string(),
            "-mp",
            &callee_media.to_string(),
            "-m",
            CALLS,
        ],
    )
    .spawn()
    .expect("run the sipp callee");
    std::thread::sleep(Duration::from_millis(300));
    let caller = sipp(
        &baton,
        &[
            "-sf",
            &sf("uac.xml"),
            "-inf",
            &sf("users.csv"),
            "-au",
            "alice",
            "-ap",
            "wonderland",
            "-auth_uri",
            "bob@example.test",
            "-s",
            "bob",
            "-p",
            &caller_port.to_string(),
            "-mp",
            &caller_media.to_string(),
            "-m",
            CALLS,
            "-r",
            "10",
            "-d",
            "200",
        ],
    )
    .status()
    .expect("run the sipp caller");
    let callee = callee.wait().expect("callee exits");
    assert!(
        caller.success(),
        "every sipp call succeeded (caller {caller:?})"
    );
    assert!(
        callee.success(),
        "every sipp call was answered (callee {callee:?})"
    );
    let answered = baton.wait_metric("baton_calls_total", &["result=\"answered\""], 20.0);
    assert_eq!(answered, 20.0);
}

#[test]
fn baresip_registers_and_calls_through_baton_with_rtp_flowing() {
    if !have("baresip") {
        return;
    }
    // baresip 1.0 (libre 1.1) fails a REGISTER with ENOSYS as soon as any
    // challenge names an algorithm it lacks (SHA-256): MD5 alone for it.
    let baton = start("[\"MD5\"]");
    let bob = Phone::new(
        "bob",
        "bob",
        "builder",
        "example.test",
        baton.udp,
        Transport::Udp,
    );
    assert_eq!(bob.register(600).expect("register").status(), Some(200));
    let alice =
        Baresip::start("alice", "wonderland", "example.test", baton.udp).expect("baresip starts");
    alice
        .wait_registered(Duration::from_secs(10))
        .expect("baresip registers with Baton");
    assert!(baton.wait_metric("baton_registrations_active", &[], 2.0) >= 2.0);

    alice.dial("sip:bob@example.test").expect("dial");
    let incoming = bob
        .wait_incoming(Duration::from_secs(15))
        .expect("bob's phone rings");
    let offer = incoming.remote_sdp().expect("baresip's offer, anchored");
    let bob_rtp = RtpStream::loopback();
    let call = incoming.answer(Some(bob_rtp.sdp())).expect("answered");
    bob_rtp.start_sending(RtpSend::new(
        offer.rtp_addr(),
        0xB0B,
        Payload::Pattern(b'B'),
    ));
    alice
        .wait_event("CALL_ESTABLISHED", Duration::from_secs(15))
        .expect("baresip sees the answer");
    assert!(
        bob_rtp.wait_packets(50, Duration::from_secs(15)),
        "baresip's audio reaches bob through the relay"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while baton.metric_sum("baton_rtp_packets_total", &["direction=\"in\""]) < 100.0
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let relayed = baton.metric_sum("baton_rtp_packets_total", &["direction=\"in\""]);
    assert!(relayed >= 100.0, "the relay counted {relayed} packets in");
    bob_rtp.stop();
    assert_eq!(call.bye().expect("bye"), 200);
    alice
        .wait_event("CALL_CLOSED", Duration::from_secs(15))
        .expect("baresip is hung up");
}
