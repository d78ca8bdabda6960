//! The registrar over real sockets: digest with SHA-256 and MD5, wrong
//! passwords, replayed nonce counts, hijack attempts, Contact storms,
//! intervals, unregistration — each answered right and counted.

use baton_system_tests::{authorization, Baton, UdpAgent};
use sip_message::{HeaderName, Message};

const USERS: &str = "[[users]]\nname = \"alice\"\npassword = \"wonderland\"\n\n[[users]]\nname = \"bob\"\npassword = \"builder\"\n";

fn start() -> Baton {
    Baton::start("example.test", "", USERS)
}

struct Phone {
    agent: UdpAgent,
    user: &'static str,
    password: &'static str,
    cseq: u32,
    call_id: String,
}

impl Phone {
    fn new(baton: &Baton, user: &'static str, password: &'static str) -> Phone {
        let agent = UdpAgent::new(baton.udp);
        let call_id = format!("reg-{user}-{}", agent.local_addr().port());
        Phone {
            agent,
            user,
            password,
            cseq: 0,
            call_id,
        }
    }

    fn register_raw(
        &mut self,
        aor_user: &str,
        contacts: &[String],
        expires: Option<u32>,
        auth: Option<&str>,
    ) -> Message {
        self.cseq += 1;
        let port = self.agent.local_addr().port();
        let mut text = format!(
            "REGISTER sip:example.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{}{}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:{aor_user}@example.test>;tag=t{port}\r\nTo: <sip:{aor_user}@example.test>\r\n\
             Call-ID: {}\r\nCSeq: {} REGISTER\r\n",
            self.call_id, self.cseq, self.call_id, self.cseq
        );
        for c in contacts {
            text.push_str(&format!("Contact: {c}\r\n"));
        }
        if let Some(e) = expires {
            text.push_str(&format!("Expires: {e}\r\n"));
        }
        if let Some(a) = auth {
            text.push_str(&format!("Authorization: {a}\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        self.agent.request(text.as_bytes()).expect("an answer")
    }

    /// REGISTER, answer the challenge offered with `algorithm`, return the final answer.
    fn register(
        &mut self,
        aor_user: &str,
        contacts: &[String],
        expires: Option<u32>,
        algorithm: &str,
    ) -> Message {
        let challenge = self.register_raw(aor_user, contacts, expires, None);
        assert_eq!(challenge.status(), Some(401));
        let offer = challenge
            .headers
            .get_all(&HeaderName::WwwAuthenticate)
            .find(|c| c.contains(&format!("algorithm={algorithm}")))
            .unwrap_or_else(|| panic!("no {algorithm} challenge"))
            .to_string();
        let auth = authorization(
            &offer,
            "REGISTER",
            "sip:example.test",
            self.user,
            self.password,
            1,
        );
        self.register_raw(aor_user, contacts, expires, Some(&auth))
    }

    fn contact(&self) -> String {
        format!(
            "<sip:{}@127.0.0.1:{}>",
            self.user,
            self.agent.local_addr().port()
        )
    }
}

#[test]
fn register_with_sha256_and_with_md5() {
    let baton = start();
    for algorithm in ["SHA-256", "MD5"] {
        let mut phone = Phone::new(&baton, "alice", "wonderland");
        let contact = phone.contact();
        let ok = phone.register(
            "alice",
            std::slice::from_ref(&contact),
            Some(600),
            algorithm,
        );
        assert_eq!(ok.status(), Some(200), "{algorithm}");
        let bound: Vec<&str> = ok.headers.get_all(&HeaderName::Contact).collect();
        assert!(
            bound
                .iter()
                .any(|c| c.starts_with(&contact) && c.contains("expires=")),
            "{bound:?}"
        );
    }
    assert_eq!(
        baton.wait_metric("baton_registrations_active", &[], 2.0),
        2.0
    );
}

#[test]
fn a_wrong_password_is_challenged_again_and_counted() {
    let baton = start();
    let mut phone = Phone::new(&baton, "alice", "not-the-password");
    let contact = phone.contact();
    let answer = phone.register("alice", &[contact], None, "SHA-256");
    assert_eq!(answer.status(), Some(401));
    assert!(
        baton.wait_metric(
            "baton_auth_challenges_total",
            &["reason=\"wrong_password\""],
            1.0
        ) >= 1.0
    );
    assert_eq!(baton.metric_sum("baton_registrations_active", &[]), 0.0);
}

#[test]
fn a_replayed_nonce_count_is_refused() {
    let baton = start();
    let mut phone = Phone::new(&baton, "alice", "wonderland");
    let contact = phone.contact();
    let challenge = phone.register_raw("alice", std::slice::from_ref(&contact), None, None);
    let offer = challenge
        .headers
        .get(&HeaderName::WwwAuthenticate)
        .expect("challenge")
        .to_string();
    let auth = authorization(
        &offer,
        "REGISTER",
        "sip:example.test",
        "alice",
        "wonderland",
        1,
    );
    assert_eq!(
        phone
            .register_raw("alice", std::slice::from_ref(&contact), None, Some(&auth))
            .status(),
        Some(200)
    );
    // The same credentials again (same nc): a replay.
    assert_eq!(
        phone
            .register_raw("alice", &[contact], None, Some(&auth))
            .status(),
        Some(401)
    );
    assert!(baton.wait_metric("baton_auth_challenges_total", &["reason=\"replay\""], 1.0) >= 1.0);
}

#[test]
fn a_registration_hijack_is_refused_and_counted() {
    let baton = start();
    // alice authenticates correctly but tries to bind bob's address of record.
    let mut phone = Phone::new(&baton, "alice", "wonderland");
    let contact = phone.contact();
    let answer = phone.register("bob", &[contact], None, "SHA-256");
    assert_eq!(answer.status(), Some(403));
    assert!(baton.wait_metric("baton_registrations_total", &["result=\"hijack\""], 1.0) >= 1.0);
    assert_eq!(baton.metric_sum("baton_registrations_active", &[]), 0.0);
}

#[test]
fn a_contact_storm_and_a_brief_interval_are_refused() {
    let baton = start();
    let mut phone = Phone::new(&baton, "alice", "wonderland");
    let storm: Vec<String> = (0..50)
        .map(|i| format!("<sip:alice@127.0.0.1:{}>", 6000 + i))
        .collect();
    assert_eq!(
        phone.register("alice", &storm, None, "SHA-256").status(),
        Some(403)
    );
    assert!(
        baton.wait_metric(
            "baton_registrations_total",
            &["result=\"contact_storm\""],
            1.0
        ) >= 1.0
    );
    let contact = phone.contact();
    let brief = phone.register("alice", &[contact], Some(5), "SHA-256");
    assert_eq!(brief.status(), Some(423));
    assert_eq!(brief.header(&HeaderName::MinExpires), Some("60"));
}

#[test]
fn unregister_by_expires_zero_and_by_wildcard() {
    let baton = start();
    let mut phone = Phone::new(&baton, "alice", "wonderland");
    let contacts = vec![phone.contact(), "<sip:alice@127.0.0.1:7777>".to_string()];
    assert_eq!(
        phone.register("alice", &contacts, None, "SHA-256").status(),
        Some(200)
    );
    assert_eq!(
        baton.wait_metric("baton_registrations_active", &[], 2.0),
        2.0
    );
    let one = phone.register(
        "alice",
        &[format!("{};expires=0", contacts[0])],
        None,
        "SHA-256",
    );
    assert_eq!(one.headers.count(&HeaderName::Contact), 1);
    let all = phone.register("alice", &["*".to_string()], Some(0), "SHA-256");
    assert_eq!(all.status(), Some(200));
    assert_eq!(all.headers.count(&HeaderName::Contact), 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while baton.metric_sum("baton_registrations_active", &[]) != 0.0
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(baton.metric_sum("baton_registrations_active", &[]), 0.0);
}
