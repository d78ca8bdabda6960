//! The call table lives in the replicated log: a node that crashes with
//! calls up and restarts on the same data directory knows them again.

use super::{phone, start, T};
use baton_system_tests::ua::{RtpStream, Transport};

fn active_calls(baton: &baton_system_tests::Baton) -> Vec<serde_json::Value> {
    let (status, body) = baton.http_get("/calls");
    assert_eq!(status, 200);
    serde_json::from_str::<Vec<serde_json::Value>>(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[test]
fn a_restarted_node_knows_its_calls_again() {
    let baton = start();
    let alice = phone(&baton, "alice", "alice", "wonderland", Transport::Udp);
    let bob = phone(&baton, "bob", "bob", "builder", Transport::Udp);
    let mut caller_call_ids = Vec::new();
    for _ in 0..2 {
        let outgoing = alice.call("sip:bob@example.test", Some(RtpStream::loopback().sdp()));
        let incoming = bob.wait_incoming(T).expect("rings");
        incoming
            .answer(Some(RtpStream::loopback().sdp()))
            .expect("answered");
        caller_call_ids.push(outgoing.wait_answer(T).expect("answered").call_id());
    }
    // Both legs of both calls are confirmed in the log.
    let deadline = std::time::Instant::now() + T;
    let complete = |calls: &[serde_json::Value]| {
        calls.len() == 2
            && calls
                .iter()
                .all(|c| !c["caller"].is_null() && !c["callee"].is_null())
    };
    while !complete(&active_calls(&baton)) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let before = active_calls(&baton);
    assert!(complete(&before), "{before:#?}");

    let baton = baton.crash_and_restart();
    let after = active_calls(&baton);
    assert_eq!(after, before, "the call table is intact after the restart");
    assert_eq!(caller_call_ids.len(), 2);
    for call in &after {
        assert_eq!(call["callee_aor"], "<sip:bob@example.test>");
        assert_eq!(call["state"], "confirmed", "{call}");
        assert_eq!(call["caller"]["transport"], "udp", "{call}");
        // `/calls` lists no dialog identifiers (issue 8): the callers'
        // Call-IDs are not in it.
        for id in &caller_call_ids {
            assert!(!call.to_string().contains(id.as_str()), "{call}");
        }
    }
    assert_eq!(baton.metric_sum("baton_calls_recovered", &[]), 2.0);
}
