//! The table and the bodies, with every body read back by quick-xml.

use crate::*;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One element of a parsed body: name, attributes (unescaped), text.
#[derive(Debug, Clone, Default)]
struct Elem {
    name: String,
    attrs: HashMap<String, String>,
    text: String,
}

impl Elem {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(String::as_str)
    }
}

/// Every element of the document, in document order; panics unless the
/// document is well formed.
fn parse(body: &[u8]) -> Vec<Elem> {
    let text = std::str::from_utf8(body).expect("utf-8");
    let mut reader = Reader::from_str(text);
    let mut out = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                out.push(elem(&e));
                open.push(out.len() - 1);
            }
            Event::Empty(e) => out.push(elem(&e)),
            Event::End(_) => {
                open.pop();
            }
            Event::Text(t) => {
                if let Some(&i) = open.last() {
                    out[i].text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().expect("char ref") {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&r)
                        .expect("predefined entity")
                        .to_string(),
                };
                if let Some(&i) = open.last() {
                    out[i].text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(open.is_empty(), "unclosed elements");
    out
}

fn elem(e: &BytesStart<'_>) -> Elem {
    let name = e.name().as_ref().to_string();
    let attrs = e
        .attributes()
        .map(|a| {
            let a = a.expect("attribute");
            let key = a.key.as_ref().to_string();
            let value = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .expect("value")
                .into_owned();
            (key, value)
        })
        .collect();
    Elem {
        name,
        attrs,
        text: String::new(),
    }
}

fn named<'a>(elems: &'a [Elem], name: &str) -> Vec<&'a Elem> {
    elems.iter().filter(|e| e.name == name).collect()
}

fn key(n: u32) -> SubscriptionKey {
    SubscriptionKey {
        call_id: format!("sub{n}@b.example"),
        subscriber_tag: format!("s{n}"),
        notifier_tag: format!("n{n}"),
    }
}

fn request(user: &str, n: u32, expires: Option<u32>) -> SubscribeRequest {
    SubscribeRequest {
        user: user.into(),
        aor_user: user.into(),
        expires,
        key: key(n),
    }
}

fn dialog(user: &str, call: &str, phase: Phase) -> DialogState {
    DialogState {
        user: user.into(),
        call_id: call.into(),
        local_tag: format!("dev-{call}"),
        remote_tag: format!("baton-{call}"),
        direction: Direction::Initiator,
        local_target: "sip:alice@192.0.2.10:5060".into(),
        remote_identity: "sip:bob@example.com".into(),
        remote_display: None,
        phase,
        on_hold: false,
    }
}

fn table() -> Subscriptions {
    Subscriptions::new("example.com", Limits::default())
}

fn accepted(result: Result<Accepted, Refusal>) -> Accepted {
    result.expect("accepted")
}

#[test]
fn first_notify_is_full_state_with_the_dialogs_known_before() {
    let now = Instant::now();
    let mut t = table();
    // No subscriber yet: remembered, nothing to send.
    assert!(t
        .dialog_changed(now, dialog("alice", "c1", Phase::Confirmed))
        .is_empty());
    let a = accepted(t.subscribe(now, request("alice", 1, None)));
    assert_eq!(a.expires, 3600);
    assert_eq!(a.notify.key, key(1));
    assert_eq!(a.notify.version, 0);
    assert_eq!(a.notify.state.to_string(), "active;expires=3600");

    let doc = parse(&a.notify.body);
    let root = &doc[0];
    assert_eq!(root.name, "dialog-info");
    assert_eq!(
        root.attr("xmlns"),
        Some("urn:ietf:params:xml:ns:dialog-info")
    );
    assert_eq!(root.attr("version"), Some("0"));
    assert_eq!(root.attr("state"), Some("full"));
    assert_eq!(root.attr("entity"), Some("sip:alice@example.com"));
    let dialogs = named(&doc, "dialog");
    assert_eq!(dialogs.len(), 1);
    let d = dialogs[0];
    assert_eq!(d.attr("call-id"), Some("c1"));
    assert_eq!(d.attr("local-tag"), Some("dev-c1"));
    assert_eq!(d.attr("remote-tag"), Some("baton-c1"));
    assert_eq!(d.attr("direction"), Some("initiator"));
    assert_eq!(
        d.attr("id"),
        Some(dialog_id("c1", "dev-c1", "baton-c1").as_str())
    );
    let state = named(&doc, "state");
    assert_eq!(state[0].text, "confirmed");
    assert_eq!(state[0].attr("event"), None);
    let identities = named(&doc, "identity");
    assert_eq!(identities[0].text, "sip:alice@example.com");
    assert_eq!(identities[1].text, "sip:bob@example.com");
    assert_eq!(
        named(&doc, "target")[0].attr("uri"),
        Some("sip:alice@192.0.2.10:5060")
    );
    assert!(named(&doc, "param").is_empty());
}

#[test]
fn a_user_without_dialogs_gets_an_empty_full_document() {
    let mut t = table();
    let a = accepted(t.subscribe(Instant::now(), request("alice", 1, None)));
    let doc = parse(&a.notify.body);
    assert_eq!(doc.len(), 1);
    assert_eq!(doc[0].attr("state"), Some("full"));
}

#[test]
fn versions_grow_by_one_per_notify_and_per_subscription() {
    let now = Instant::now();
    let mut t = table();
    accepted(t.subscribe(now, request("alice", 1, None)));
    let out = t.dialog_changed(now, dialog("alice", "c1", Phase::Early));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].version, 1);
    accepted(t.subscribe(now, request("alice", 2, None)));
    let out = t.dialog_changed(now, dialog("alice", "c1", Phase::Confirmed));
    let versions: HashMap<_, _> = out.iter().map(|n| (n.key.clone(), n.version)).collect();
    assert_eq!(versions[&key(1)], 2);
    assert_eq!(versions[&key(2)], 1);
    for n in &out {
        let doc = parse(&n.body);
        assert_eq!(doc[0].attr("version"), Some(n.version.to_string().as_str()));
        assert_eq!(named(&doc, "state")[0].text, "confirmed");
    }
    // Bob's dialogs are nobody's business here.
    assert!(t
        .dialog_changed(now, dialog("bob", "c9", Phase::Confirmed))
        .is_empty());
}

#[test]
fn an_unchanged_dialog_sends_nothing_and_hold_is_reported() {
    let now = Instant::now();
    let mut t = table();
    accepted(t.subscribe(now, request("alice", 1, None)));
    assert_eq!(
        t.dialog_changed(now, dialog("alice", "c1", Phase::Confirmed))
            .len(),
        1
    );
    assert!(t
        .dialog_changed(now, dialog("alice", "c1", Phase::Confirmed))
        .is_empty());
    let mut held = dialog("alice", "c1", Phase::Confirmed);
    held.on_hold = true;
    let out = t.dialog_changed(now, held);
    assert_eq!(out.len(), 1);
    let doc = parse(&out[0].body);
    let param = named(&doc, "param");
    assert_eq!(param.len(), 1);
    assert_eq!(param[0].attr("pname"), Some("+sip.rendering"));
    assert_eq!(param[0].attr("pvalue"), Some("no"));
    assert_eq!(named(&doc, "dialog").len(), 1);
}

#[test]
fn a_replaced_dialog_is_reported_once_then_forgotten() {
    let now = Instant::now();
    let mut t = table();
    accepted(t.subscribe(now, request("alice", 1, None)));
    t.dialog_changed(now, dialog("alice", "c1", Phase::Confirmed));
    t.dialog_changed(now, dialog("alice", "c2", Phase::Confirmed));
    let out = t.dialog_changed(
        now,
        dialog("alice", "c1", Phase::Terminated { replaced: true }),
    );
    assert_eq!(out.len(), 1);
    let doc = parse(&out[0].body);
    let dialogs = named(&doc, "dialog");
    assert_eq!(dialogs.len(), 2);
    // Live ones first, the ended one last.
    assert_eq!(dialogs[0].attr("call-id"), Some("c2"));
    assert_eq!(dialogs[1].attr("call-id"), Some("c1"));
    let states = named(&doc, "state");
    assert_eq!(states[1].text, "terminated");
    assert_eq!(states[1].attr("event"), Some("replaced"));
    assert_eq!(t.dialogs_of("alice"), 1);

    // The next NOTIFY no longer lists it.
    let out = t.dialog_changed(now, dialog("alice", "c2", Phase::Early));
    let doc = parse(&out[0].body);
    assert_eq!(named(&doc, "dialog").len(), 1);
    assert_eq!(named(&doc, "dialog")[0].attr("call-id"), Some("c2"));
    // The end of a dialog the table never saw live (it ended before any
    // update reached it) is still reported, once.
    let out = t.dialog_changed(
        now,
        dialog("alice", "c3", Phase::Terminated { replaced: false }),
    );
    let doc = parse(&out[0].body);
    let states = named(&doc, "state");
    assert_eq!(states.last().map(|s| s.text.as_str()), Some("terminated"));
    assert_eq!(states.last().and_then(|s| s.attr("event")), None);
    assert_eq!(t.dialogs_of("alice"), 1);
}

#[test]
fn dialogs_of_a_user_nobody_watches_are_dropped_when_they_end() {
    let now = Instant::now();
    let mut t = table();
    t.dialog_changed(now, dialog("carol", "c1", Phase::Confirmed));
    assert_eq!(t.dialogs_of("carol"), 1);
    t.dialog_changed(
        now,
        dialog("carol", "c1", Phase::Terminated { replaced: false }),
    );
    assert_eq!(t.dialogs_of("carol"), 0);
}

#[test]
fn expiry_ends_with_timeout_and_removes() {
    let t0 = Instant::now();
    let mut t = table();
    accepted(t.subscribe(t0, request("alice", 1, Some(60))));
    assert_eq!(t.next_deadline(), Some(t0 + Duration::from_secs(60)));
    assert!(t.expire(t0 + Duration::from_secs(59)).is_empty());
    let out = t.dialog_changed(
        t0 + Duration::from_secs(30),
        dialog("alice", "c1", Phase::Early),
    );
    assert_eq!(out[0].state.to_string(), "active;expires=30");
    let out = t.expire(t0 + Duration::from_secs(60));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].state.to_string(), "terminated;reason=timeout");
    assert_eq!(out[0].version, 2);
    // The final NOTIFY still carries the state.
    assert_eq!(named(&parse(&out[0].body), "dialog").len(), 1);
    assert!(t.is_empty());
    assert_eq!(t.next_deadline(), None);
    assert!(t
        .dialog_changed(t0, dialog("alice", "c1", Phase::Confirmed))
        .is_empty());
}

#[test]
fn refresh_resets_the_expiry_and_notifies() {
    let t0 = Instant::now();
    let mut t = table();
    accepted(t.subscribe(t0, request("alice", 1, Some(120))));
    let t1 = t0 + Duration::from_secs(100);
    let a = accepted(t.refresh(t1, &key(1), "alice", Some(7200)));
    assert_eq!(a.expires, 3600);
    assert_eq!(a.notify.version, 1);
    assert_eq!(a.notify.state.to_string(), "active;expires=3600");
    assert!(t.expire(t0 + Duration::from_secs(130)).is_empty());
    assert_eq!(t.next_deadline(), Some(t1 + Duration::from_secs(3600)));
    // A new SUBSCRIBE with a live key is a refresh too.
    let a = accepted(t.subscribe(t1, request("alice", 1, Some(600))));
    assert_eq!((a.expires, a.notify.version), (600, 2));
    assert_eq!(t.len(), 1);
}

#[test]
fn refresh_refusals_leave_the_subscription_alone() {
    let t0 = Instant::now();
    let mut t = table();
    accepted(t.subscribe(t0, request("alice", 1, Some(120))));
    assert_eq!(
        t.refresh(t0, &key(1), "alice", Some(30)),
        Err(Refusal::IntervalTooBrief { min_secs: 60 })
    );
    assert_eq!(
        t.refresh(t0, &key(1), "bob", Some(600)),
        Err(Refusal::Forbidden)
    );
    assert_eq!(
        t.refresh(t0, &key(2), "alice", Some(600)),
        Err(Refusal::NoSubscription)
    );
    assert_eq!(Refusal::NoSubscription.status(), 481);
    assert_eq!(t.next_deadline(), Some(t0 + Duration::from_secs(120)));
}

#[test]
fn expires_zero_unsubscribes_with_a_final_notify() {
    let t0 = Instant::now();
    let mut t = table();
    accepted(t.subscribe(t0, request("alice", 1, None)));
    let a = accepted(t.refresh(t0, &key(1), "alice", Some(0)));
    assert_eq!(a.expires, 0);
    assert_eq!(a.notify.state.to_string(), "terminated;reason=timeout");
    assert_eq!(a.notify.version, 1);
    assert!(t.is_empty());
    assert_eq!(t.unsubscribe(t0, &key(1)), None);
}

#[test]
fn expires_zero_on_a_new_subscribe_is_a_fetch() {
    let now = Instant::now();
    let mut t = table();
    t.dialog_changed(now, dialog("alice", "c1", Phase::Confirmed));
    let a = accepted(t.subscribe(now, request("alice", 1, Some(0))));
    assert_eq!(a.expires, 0);
    assert_eq!(a.notify.state.to_string(), "terminated;reason=timeout");
    assert_eq!(named(&parse(&a.notify.body), "dialog").len(), 1);
    assert!(t.is_empty());
}

#[test]
fn expires_bounds() {
    let now = Instant::now();
    let mut t = table();
    assert_eq!(
        t.subscribe(now, request("alice", 1, Some(59))),
        Err(Refusal::IntervalTooBrief { min_secs: 60 })
    );
    assert_eq!(Refusal::IntervalTooBrief { min_secs: 60 }.status(), 423);
    assert_eq!(
        accepted(t.subscribe(now, request("alice", 1, Some(60)))).expires,
        60
    );
    assert_eq!(
        accepted(t.subscribe(now, request("alice", 2, Some(86_400)))).expires,
        3600
    );
}

#[test]
fn another_users_aor_is_forbidden() {
    let mut t = table();
    let mut req = request("alice", 1, None);
    req.aor_user = "bob".into();
    let refusal = t.subscribe(Instant::now(), req).expect_err("refused");
    assert_eq!(refusal, Refusal::Forbidden);
    assert_eq!(refusal.status(), 403);
    assert_eq!(refusal.label(), "forbidden");
    assert!(t.is_empty());
}

#[test]
fn caps_per_user_and_in_total() {
    let t0 = Instant::now();
    let limits = Limits {
        per_user: 2,
        total: 3,
        ..Limits::default()
    };
    let mut t = Subscriptions::new("example.com", limits);
    accepted(t.subscribe(t0, request("alice", 1, Some(100))));
    accepted(t.subscribe(t0, request("alice", 2, Some(200))));
    let later = t0 + Duration::from_millis(10_500);
    let refusal = t
        .subscribe(later, request("alice", 3, None))
        .expect_err("user cap");
    // Alice's earliest lapses 89.5 s later: rounded up.
    assert_eq!(refusal, Refusal::UserCap { retry_after: 90 });
    assert_eq!((refusal.status(), refusal.label()), (503, "user_cap"));
    accepted(t.subscribe(t0, request("bob", 4, Some(300))));
    let refusal = t
        .subscribe(t0, request("carol", 5, None))
        .expect_err("total cap");
    assert_eq!(refusal, Refusal::TotalCap { retry_after: 100 });
    assert_eq!((refusal.status(), refusal.label()), (503, "total_cap"));
    // A refresh of a live subscription is never capped.
    accepted(t.refresh(t0, &key(1), "alice", Some(600)));
    // Room again once one goes.
    assert!(t.remove(&key(4)));
    assert!(!t.remove(&key(4)));
    accepted(t.subscribe(t0, request("carol", 5, None)));
}

#[test]
fn values_are_escaped_and_the_document_parses() {
    let now = Instant::now();
    let mut t = Subscriptions::new("ex&ample.com", Limits::default());
    let mut d = dialog("a&b", "c\"1'<x>&", Phase::Confirmed);
    d.local_tag = "t<1>".into();
    d.remote_tag = "t&2".into();
    d.local_target = "sip:a@h;x=\"q\"".into();
    d.remote_identity = "sip:<bob>&@example.com".into();
    d.remote_display = Some("Bob \"the\" <Builder> & \u{7}bell".into());
    t.dialog_changed(now, d);
    let a = accepted(t.subscribe(now, request("a&b", 1, None)));
    let body = String::from_utf8(a.notify.body.clone()).expect("utf-8");
    assert!(!body.contains("c\"1"), "{body}");
    assert!(!body.contains('\u{7}'), "{body}");
    let doc = parse(&a.notify.body);
    assert_eq!(doc[0].attr("entity"), Some("sip:a&b@ex&ample.com"));
    let dialog = named(&doc, "dialog")[0];
    assert_eq!(dialog.attr("call-id"), Some("c\"1'<x>&"));
    assert_eq!(dialog.attr("local-tag"), Some("t<1>"));
    assert_eq!(dialog.attr("remote-tag"), Some("t&2"));
    assert_eq!(
        named(&doc, "target")[0].attr("uri"),
        Some("sip:a@h;x=\"q\"")
    );
    let identities = named(&doc, "identity");
    assert_eq!(identities[0].text, "sip:a&b@ex&ample.com");
    assert_eq!(identities[1].text, "sip:<bob>&@example.com");
    assert_eq!(
        identities[1].attr("display"),
        Some("Bob \"the\" <Builder> & \u{FFFD}bell")
    );
}

#[test]
fn recipient_and_early_render() {
    let mut d = dialog("alice", "c1", Phase::Early);
    d.direction = Direction::Recipient;
    let doc = parse(&render("sip:alice@example.com", 7, &[&d]));
    assert_eq!(doc[0].attr("version"), Some("7"));
    assert_eq!(
        named(&doc, "dialog")[0].attr("direction"),
        Some("recipient")
    );
    assert_eq!(named(&doc, "state")[0].text, "early");
}

#[test]
fn dialog_ids_are_stable_and_distinct() {
    let id = dialog_id("c1", "a", "b");
    assert_eq!(id, dialog_id("c1", "a", "b"));
    assert_eq!(id.len(), 16);
    assert_ne!(id, dialog_id("c1", "b", "a"));
    assert_ne!(dialog_id("ab", "c", "d"), dialog_id("a", "bc", "d"));
}

#[test]
fn terminate_all_deactivates_every_subscription() {
    let now = Instant::now();
    let mut t = table();
    accepted(t.subscribe(now, request("alice", 1, None)));
    accepted(t.subscribe(now, request("bob", 2, None)));
    let out = t.terminate_all(now);
    assert_eq!(out.len(), 2);
    assert!(out
        .iter()
        .all(|n| n.state.to_string() == "terminated;reason=deactivated"));
    assert!(t.is_empty());
}
