//! Discovery (contract §1): the dialog event package (RFC 4235 over
//! RFC 6665) for the user's own AOR, and a pull built from what it says.

use super::*;

#[test]
fn b_learns_the_call_from_a_notify_pulls_it_and_sees_a_replaced() {
    let s = Scene::new(start(""), true);
    let sub = s.b.subscribe_dialog(600).expect("SUBSCRIBE answered");
    assert_eq!(sub.status(), 200);
    let a_id = s.a_call.dialog_id().expect("A's dialog");
    let info = sub
        .wait_notify(|i| i.dialog_by_call_id(&a_id.call_id).is_some(), T)
        .expect("a NOTIFY with A's call");
    assert_eq!(info.state, "full");
    assert_eq!(info.entity, "sip:alice@example.test");
    let d = info.dialog_by_call_id(&a_id.call_id).expect("A's dialog");
    assert_eq!(d.local_tag, a_id.local_tag, "local-tag is the device's");
    assert_eq!(d.remote_tag, a_id.remote_tag, "remote-tag is Baton's");
    assert_eq!(d.direction, "initiator");
    assert_eq!(d.state, "confirmed");
    assert!(
        d.target
            .as_deref()
            .is_some_and(|t| t.contains(&s.a.local_addr().port().to_string())),
        "the device holding the call: {:?}",
        d.target
    );
    let first_version = info.version;

    // Pull with exactly what the NOTIFY said.
    let started = Instant::now();
    let pull = s.b.call_with_headers(
        "sip:alice@example.test",
        Some(s.b_rtp.sdp()),
        &[(
            HeaderName::Replaces,
            replaces_value(&d.call_id, &d.remote_tag, &d.local_tag, false),
        )],
    );
    let b_call = granted_pull(&s, pull, started);
    let b_id = b_call.dialog_id().expect("B's dialog");
    let after = sub
        .wait_notify(
            |i| {
                i.dialog_by_call_id(&a_id.call_id).is_some_and(|d| {
                    d.state == "terminated" && d.event.as_deref() == Some("replaced")
                })
            },
            T,
        )
        .expect("A's dialog ends as replaced");
    assert!(after.version > first_version, "versions increase");
    sub.wait_notify(
        |i| {
            i.dialog_by_call_id(&b_id.call_id)
                .is_some_and(|d| d.state == "confirmed" && d.local_tag == b_id.local_tag)
        },
        T,
    )
    .expect("B's dialog appears");

    // Refresh, then unsubscribe: each answered with a NOTIFY.
    let before = sub.notifies().len();
    assert_eq!(sub.refresh(600).expect("refresh"), 200);
    sub.wait_notifies(before + 1, T)
        .expect("a NOTIFY after the refresh");
    assert_eq!(sub.unsubscribe().expect("unsubscribe"), 200);
    let deadline = Instant::now() + T;
    while !sub
        .subscription_state()
        .is_some_and(|st| st.starts_with("terminated"))
    {
        assert!(Instant::now() < deadline, "a final NOTIFY");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn unknown_packages_get_489_and_other_users_403() {
    let s = Scene::new(start(""), true);
    let presence = s.b.subscribe("presence", 600).expect("answered");
    assert_eq!(presence.status(), Some(489));
    assert!(presence
        .header(&HeaderName::AllowEvents)
        .is_some_and(|v| v.contains("dialog")));
    let bobs =
        s.b.subscribe_to("sip:bob@example.test", "dialog", None, 600)
            .expect("answered");
    assert_eq!(bobs.status(), 403, "alice may not watch bob's calls");
}
