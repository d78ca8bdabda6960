//! The dialog event package on the wire: SUBSCRIBE in, 200/4xx and NOTIFYs
//! out (RFC 6665, RFC 4235), around the pure `dialog_event` table.
//!
//! The node authenticates a SUBSCRIBE, then hands it here with the user;
//! every NOTIFY comes back as an [`Outgoing`], Via already stamped, for the
//! node to start as a client transaction. Responses to those NOTIFYs are
//! recognised by their branch ([`DialogEvents::owns_transaction`]).

use bytes::Bytes;
use dialog_event::{
    Accepted, DialogState, Direction, Limits, NotifyOut, Phase, Refusal, SubscribeRequest,
    SubscriptionKey, SubscriptionState, Subscriptions, CONTENT_TYPE, EVENT_PACKAGE,
};
use sip_message::{HeaderName, Message, Method, NameAddr, ResponseBuilder, Uri};
use sip_proto::{Flow, TransactionKey};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

/// `baton_subscriptions_total{result}`: SUBSCRIBEs after authentication, by
/// outcome (`ok`, `refresh`, `unsubscribe`, `fetch`, `bad_event`,
/// `bad_request`, `not_found`, `not_acceptable`, `forbidden`, `too_brief`,
/// `user_cap`, `total_cap`, `no_subscription`).
pub const SUBSCRIPTIONS: &str = "baton_subscriptions_total";
/// `baton_subscriptions_active`: live dialog-event subscriptions.
pub const SUBSCRIPTIONS_ACTIVE: &str = "baton_subscriptions_active";

/// Every NOTIFY branch starts so (not hex, so no generated branch can).
const BRANCH_PREFIX: &str = "z9hG4bKdlg";

/// A NOTIFY to send as a new client transaction.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The NOTIFY, complete (Via included).
    pub request: Message,
    /// Where it goes: the flow the subscription's last SUBSCRIBE came on.
    pub flow: Flow,
}

/// What a NOTIFY needs of the subscription's SIP dialog.
#[derive(Debug)]
struct SipDialog {
    /// Names the subscription in NOTIFY branches.
    number: u64,
    /// The subscriber's Contact (the NOTIFY's Request-URI).
    target: Uri,
    /// From the SUBSCRIBE's Record-Route, in order (RFC 3261 §12.1.1).
    route: Vec<String>,
    /// From of our NOTIFYs: the SUBSCRIBE's To with Baton's tag.
    local: String,
    /// To of our NOTIFYs: the SUBSCRIBE's From.
    remote: String,
    /// The last CSeq used; the first NOTIFY is 1.
    cseq: u32,
    flow: Flow,
    /// The Event header to echo, `id` parameter included (RFC 6665 §8.2.1).
    event: String,
}

/// Dialog-event subscriptions and their SIP dialogs.
#[derive(Debug)]
pub struct DialogEvents {
    table: Subscriptions,
    domain: String,
    udp: SocketAddr,
    tcp: Option<SocketAddr>,
    dialogs: HashMap<SubscriptionKey, SipDialog>,
    by_number: HashMap<u64, SubscriptionKey>,
    next_number: u64,
}

impl DialogEvents {
    /// Subscriptions to users of `domain`; Via and Contact name the `udp`
    /// listener, or `tcp` for subscribers on a stream.
    pub fn new(domain: &str, udp: SocketAddr, tcp: Option<SocketAddr>, limits: Limits) -> Self {
        DialogEvents {
            table: Subscriptions::new(domain, limits),
            domain: domain.to_string(),
            udp,
            tcp,
            dialogs: HashMap::new(),
            by_number: HashMap::new(),
            next_number: 0,
        }
    }

    /// Live subscriptions.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// An authenticated SUBSCRIBE, new or in-dialog (To tag: a refresh).
    /// `flow` is where responses go; NOTIFYs follow it. Send the response
    /// first, then the NOTIFYs.
    pub fn on_subscribe(
        &mut self,
        now: Instant,
        request: &Message,
        user: &str,
        flow: &Flow,
    ) -> (Message, Vec<Outgoing>) {
        let (response, notify) = self.subscribe(now, request, user, flow);
        metrics::gauge!(SUBSCRIPTIONS_ACTIVE).set(self.table.len() as f64);
        let out = notify
            .into_iter()
            .filter_map(|n| self.outgoing(n))
            .collect();
        (response, out)
    }

    /// A dialog of a user changed: a NOTIFY to each of the user's subscribers.
    pub fn on_dialog(&mut self, now: Instant, dialog: &call::UserDialog) -> Vec<Outgoing> {
        let notifies = self.table.dialog_changed(now, to_state(dialog));
        notifies
            .into_iter()
            .filter_map(|n| self.outgoing(n))
            .collect()
    }

    /// Ends lapsed subscriptions (final NOTIFYs); call once a second.
    pub fn on_tick(&mut self, now: Instant) -> Vec<Outgoing> {
        let ended = self.table.expire(now);
        if ended.is_empty() {
            return Vec::new();
        }
        metrics::gauge!(SUBSCRIPTIONS_ACTIVE).set(self.table.len() as f64);
        ended.into_iter().filter_map(|n| self.outgoing(n)).collect()
    }

    /// Ends every subscription (`terminated;reason=deactivated`) when the
    /// node drains, so subscribers move to another node at once.
    pub fn on_drain(&mut self, now: Instant) -> Vec<Outgoing> {
        let ended = self.table.terminate_all(now);
        metrics::gauge!(SUBSCRIPTIONS_ACTIVE).set(0.0);
        ended.into_iter().filter_map(|n| self.outgoing(n)).collect()
    }

    /// True when a client transaction is one of our NOTIFYs.
    pub fn owns_transaction(key: &TransactionKey) -> bool {
        key.branch()
            .is_some_and(|b| b.as_str().starts_with(BRANCH_PREFIX))
    }

    /// A final response to one of our NOTIFYs. A failure ends the
    /// subscription without another NOTIFY (RFC 6665 §4.2.2): 481 always,
    /// any other non-2xx unless it carries Retry-After.
    pub fn on_notify_response(&mut self, key: &TransactionKey, response: &Message) {
        let Some(code) = response.status() else {
            return;
        };
        let retry = response.header(&HeaderName::RetryAfter).is_some();
        if code == 481 || (code >= 300 && !retry) {
            self.drop_subscription(key);
        }
    }

    /// A NOTIFY timed out or could not be sent: the subscriber is gone.
    pub fn on_notify_failed(&mut self, key: &TransactionKey) {
        self.drop_subscription(key);
    }

    fn drop_subscription(&mut self, key: &TransactionKey) {
        let number = key
            .branch()
            .and_then(|b| b.as_str().strip_prefix(BRANCH_PREFIX))
            .and_then(|rest| rest.split('.').next())
            .and_then(|n| n.parse::<u64>().ok());
        let Some(sub) = number.and_then(|n| self.by_number.remove(&n)) else {
            return;
        };
        self.dialogs.remove(&sub);
        if self.table.remove(&sub) {
            metrics::gauge!(SUBSCRIPTIONS_ACTIVE).set(self.table.len() as f64);
        }
    }

    /// The response and, when accepted, the NOTIFY that follows it.
    fn subscribe(
        &mut self,
        now: Instant,
        request: &Message,
        user: &str,
        flow: &Flow,
    ) -> (Message, Option<NotifyOut>) {
        let event = request.header(&HeaderName::Event).unwrap_or("");
        let package = event.split(';').next().unwrap_or("").trim();
        if !package.eq_ignore_ascii_case(EVENT_PACKAGE) {
            count("bad_event");
            let response = respond(request, 489, None)
                .header(HeaderName::AllowEvents, EVENT_PACKAGE)
                .build();
            return (response, None);
        }
        let expires = match parse_expires(request) {
            Ok(expires) => expires,
            Err(()) => return (bad_request(request, "Bad Expires"), None),
        };
        let (Some(call_id), Some(from_tag)) = (request.call_id(), request.from_tag()) else {
            return (bad_request(request, "Missing From Tag"), None);
        };
        let target = request.contacts().into_iter().find_map(|c| match c {
            sip_message::ContactValue::Addr(a) => Some(a.uri),
            sip_message::ContactValue::Star => None,
        });
        if let Some(notifier_tag) = request.to_tag() {
            let key = SubscriptionKey {
                call_id: call_id.to_string(),
                subscriber_tag: from_tag,
                notifier_tag,
            };
            let result = self.table.refresh(now, &key, user, expires);
            if let (Ok(_), Some(dialog)) = (&result, self.dialogs.get_mut(&key)) {
                // A refresh is a target refresh, and the device may have
                // moved to a new connection or address.
                dialog.flow = *flow;
                if let Some(target) = target {
                    dialog.target = target;
                }
            }
            let label = match &result {
                Ok(a) if a.expires == 0 => "unsubscribe",
                _ => "refresh",
            };
            return self.answer(request, flow, result, label, None);
        }
        if !Self::accepts_dialog_info(request) {
            count("not_acceptable");
            let response = respond(request, 406, None)
                .header(HeaderName::Accept, CONTENT_TYPE)
                .build();
            return (response, None);
        }
        let Some(aor_user) = self.resource_user(request) else {
            count("not_found");
            return (respond(request, 404, None).build(), None);
        };
        let Some(target) = target else {
            return (bad_request(request, "Missing Contact"), None);
        };
        let notifier_tag = new_tag();
        let key = SubscriptionKey {
            call_id: call_id.to_string(),
            subscriber_tag: from_tag,
            notifier_tag: notifier_tag.clone(),
        };
        let to = request.header(&HeaderName::To).unwrap_or("");
        let dialog = SipDialog {
            number: 0,
            target,
            route: request
                .headers
                .get_all(&HeaderName::RecordRoute)
                .map(str::to_string)
                .collect(),
            local: format!("{to};tag={notifier_tag}"),
            remote: request.header(&HeaderName::From).unwrap_or("").to_string(),
            cseq: 0,
            flow: *flow,
            event: event.trim().to_string(),
        };
        let result = self.table.subscribe(
            now,
            SubscribeRequest {
                user: user.to_string(),
                aor_user,
                expires,
                key: key.clone(),
            },
        );
        let label = match &result {
            Ok(a) if a.expires == 0 => "fetch",
            _ => "ok",
        };
        let response = self.answer(request, flow, result, label, Some(&notifier_tag));
        if response.1.is_some() {
            // Kept even for a fetch: the NOTIFY is built from it, and
            // `outgoing` forgets it with the final NOTIFY.
            self.insert_dialog(key, dialog);
        }
        response
    }

    /// The response for the table's decision.
    fn answer(
        &self,
        request: &Message,
        flow: &Flow,
        result: Result<Accepted, Refusal>,
        label: &'static str,
        tag: Option<&str>,
    ) -> (Message, Option<NotifyOut>) {
        match result {
            Ok(accepted) => {
                count(label);
                let mut builder = ResponseBuilder::to_request(request, 200)
                    .to_tag(tag.unwrap_or(&new_tag()))
                    .header(HeaderName::Expires, accepted.expires.to_string());
                // RFC 3261 §12.1.1: the dialog-creating response copies
                // Record-Route.
                for rr in request.headers.get_all(&HeaderName::RecordRoute) {
                    builder = builder.header(HeaderName::RecordRoute, rr);
                }
                let response = builder
                    .header(HeaderName::Contact, self.contact(flow.is_reliable()))
                    .header(HeaderName::AllowEvents, EVENT_PACKAGE)
                    .build();
                (response, Some(accepted.notify))
            }
            Err(refusal) => {
                count(refusal.label());
                let mut builder = respond(request, refusal.status(), Some(&refusal.to_string()));
                match refusal {
                    Refusal::IntervalTooBrief { min_secs } => {
                        builder = builder.header(HeaderName::MinExpires, min_secs.to_string());
                    }
                    Refusal::UserCap { retry_after } | Refusal::TotalCap { retry_after } => {
                        builder = builder.header(HeaderName::RetryAfter, retry_after.to_string());
                    }
                    _ => {}
                }
                (builder.build(), None)
            }
        }
    }

    fn insert_dialog(&mut self, key: SubscriptionKey, mut dialog: SipDialog) {
        self.next_number += 1;
        dialog.number = self.next_number;
        self.by_number.insert(dialog.number, key.clone());
        self.dialogs.insert(key, dialog);
    }

    /// The NOTIFY for a table decision (RFC 6665 §4.2.2, §8.2); a final one
    /// forgets the SIP dialog.
    fn outgoing(&mut self, notify: NotifyOut) -> Option<Outgoing> {
        let last = matches!(notify.state, SubscriptionState::Terminated(_));
        let (number, reliable) = self
            .dialogs
            .get(&notify.key)
            .map(|d| (d.number, d.flow.is_reliable()))?;
        let branch = format!("{BRANCH_PREFIX}{number}.{:08x}", rand::random::<u32>());
        let via = self.via(reliable, &branch);
        let contact = self.contact(reliable);
        let dialog = self.dialogs.get_mut(&notify.key)?;
        dialog.cseq += 1;
        let mut request = Message::request(Method::NOTIFY, dialog.target.clone());
        let h = &mut request.headers;
        h.push(HeaderName::Via, via);
        h.push(HeaderName::MaxForwards, "70");
        for route in &dialog.route {
            h.push(HeaderName::Route, route.clone());
        }
        h.push(HeaderName::From, dialog.local.clone());
        h.push(HeaderName::To, dialog.remote.clone());
        h.push(HeaderName::CallId, notify.key.call_id.clone());
        h.push(HeaderName::CSeq, format!("{} NOTIFY", dialog.cseq));
        h.push(HeaderName::Contact, contact);
        h.push(HeaderName::Event, dialog.event.clone());
        h.push(HeaderName::SubscriptionState, notify.state.to_string());
        h.push(HeaderName::ContentType, CONTENT_TYPE);
        request.body = Bytes::from(notify.body);
        let flow = dialog.flow;
        if last {
            if let Some(dialog) = self.dialogs.remove(&notify.key) {
                self.by_number.remove(&dialog.number);
            }
        }
        Some(Outgoing { request, flow })
    }

    /// The user part of the AOR subscribed to: the Request-URI's, or To's
    /// when the device addressed the request to Baton's IP; `None` when
    /// neither names a user of this domain.
    fn resource_user(&self, request: &Message) -> Option<String> {
        let ours = |uri: &Uri| {
            let sip = uri.as_sip()?;
            let host_ok = sip.host.to_string().eq_ignore_ascii_case(&self.domain);
            host_ok.then(|| sip.user.clone()).flatten()
        };
        request
            .request_uri()
            .and_then(ours)
            .or_else(|| request.to().and_then(|to| ours(&to.uri)))
    }

    /// RFC 6665 §3.1.2: Accept, when present, must allow our body type.
    fn accepts_dialog_info(request: &Message) -> bool {
        if request.headers.count(&HeaderName::Accept) == 0 {
            return true;
        }
        request.headers.tokens(&HeaderName::Accept).any(|t| {
            let media = t.split(';').next().unwrap_or("").trim();
            ["*/*", "application/*", CONTENT_TYPE]
                .iter()
                .any(|ok| media.eq_ignore_ascii_case(ok))
        })
    }

    fn local(&self, reliable: bool) -> (SocketAddr, &'static str) {
        match (reliable, self.tcp) {
            (true, Some(tcp)) => (tcp, "TCP"),
            _ => (self.udp, "UDP"),
        }
    }

    /// Same form as the call legs' Via (call::SignallingContext::via).
    fn via(&self, reliable: bool, branch: &str) -> String {
        let (addr, proto) = self.local(reliable);
        format!("SIP/2.0/{proto} {addr};branch={branch};rport")
    }

    /// Same form as the call legs' Contact.
    fn contact(&self, reliable: bool) -> String {
        match self.local(reliable) {
            (addr, "TCP") => format!("<sip:baton@{addr};transport=tcp>"),
            (addr, _) => format!("<sip:baton@{addr}>"),
        }
    }
}

/// The call crate's view of a device dialog, as the package reports it.
fn to_state(d: &call::UserDialog) -> DialogState {
    // Contact and identity may come as name-addrs; the document wants the
    // URI, and the display name goes to its own attribute.
    let target = NameAddr::parse(&d.device_contact)
        .map_or_else(|_| d.device_contact.clone(), |n| n.uri.to_string());
    let (remote_identity, remote_display) = match NameAddr::parse(&d.remote_identity) {
        Ok(n) => (n.uri.to_string(), n.display),
        Err(_) => (d.remote_identity.clone(), None),
    };
    DialogState {
        user: d.user.clone(),
        call_id: d.call_id.clone(),
        local_tag: d.device_tag.clone(),
        remote_tag: d.baton_tag.clone(),
        direction: if d.initiator {
            Direction::Initiator
        } else {
            Direction::Recipient
        },
        local_target: target,
        remote_identity,
        remote_display,
        phase: match d.phase {
            call::DialogPhase::Early => Phase::Early,
            call::DialogPhase::Confirmed => Phase::Confirmed,
            call::DialogPhase::Terminated { replaced } => Phase::Terminated { replaced },
        },
        on_hold: d.on_hold,
    }
}

/// Expires as a number; absent is `None`; a delta-seconds past 2^32-1 is
/// the maximum (RFC 3261 §20.19 allows any length).
fn parse_expires(request: &Message) -> Result<Option<u32>, ()> {
    let Some(value) = request.header(&HeaderName::Expires) else {
        return Ok(None);
    };
    let digits = value.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    Ok(Some(digits.parse::<u32>().unwrap_or(u32::MAX)))
}

fn respond(request: &Message, code: u16, reason: Option<&str>) -> ResponseBuilder {
    let builder = ResponseBuilder::to_request(request, code).to_tag(&new_tag());
    match reason {
        Some(reason) => builder.reason(reason),
        None => builder,
    }
}

fn bad_request(request: &Message, why: &str) -> Message {
    count("bad_request");
    respond(request, 400, Some(&format!("Bad Request ({why})"))).build()
}

fn count(result: &'static str) {
    metrics::counter!(SUBSCRIPTIONS, "result" => result).increment(1);
}

/// A fresh tag (RFC 3261 §19.3: at least 32 bits of randomness).
fn new_tag() -> String {
    format!("{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sip_proto::TransportKind;
    use std::time::Duration;

    const UDP: &str = "192.0.2.1:5060";

    fn events() -> DialogEvents {
        let udp = UDP.parse().expect("addr");
        let tcp = Some("192.0.2.1:5061".parse().expect("addr"));
        DialogEvents::new("example.com", udp, tcp, Limits::default())
    }

    fn flow(transport: TransportKind) -> Flow {
        Flow::new("198.51.100.7:5062".parse().expect("addr"), transport)
    }

    /// A SUBSCRIBE from alice's device B; `to_tag` makes it a refresh.
    fn subscribe(aor: &str, extra: &str, to_tag: Option<&str>, cseq: u32) -> Message {
        let to_tag = to_tag.map_or(String::new(), |t| format!(";tag={t}"));
        let text = format!(
            "SUBSCRIBE sip:{aor}@example.com SIP/2.0\r\n\
             Via: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bKsub{cseq}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:alice@example.com>;tag=devB\r\n\
             To: <sip:{aor}@example.com>{to_tag}\r\n\
             Call-ID: sub-1@198.51.100.7\r\n\
             CSeq: {cseq} SUBSCRIBE\r\n\
             Contact: <sip:alice@198.51.100.7:5062>\r\n\
             {extra}\
             Content-Length: 0\r\n\r\n"
        );
        Message::parse(text.as_bytes()).expect("SUBSCRIBE parses")
    }

    fn user_dialog(phase: call::DialogPhase) -> call::UserDialog {
        call::UserDialog {
            call: call::ids::CallNumber(1),
            leg: call::ids::LegIndex(0),
            user: "alice".into(),
            call_id: "call-A@192.0.2.20".into(),
            device_tag: "devA".into(),
            baton_tag: "bat1".into(),
            initiator: true,
            device_contact: "<sip:alice@192.0.2.20:5060;ob>".into(),
            remote_identity: "\"Bob\" <sip:bob@example.com>".into(),
            phase,
            on_hold: false,
        }
    }

    /// Serialised and parsed back: what the subscriber would receive.
    fn wire(message: &Message) -> Message {
        Message::parse(&message.to_bytes()).expect("valid on the wire")
    }

    fn header(m: &Message, name: HeaderName) -> &str {
        m.header(&name).unwrap_or("")
    }

    #[test]
    fn a_subscribe_gets_200_then_a_full_notify_in_its_dialog() {
        let mut ev = events();
        let now = Instant::now();
        let request = subscribe(
            "alice",
            "Event: dialog;id=7\r\nExpires: 7200\r\nRecord-Route: <sip:p1.example.com;lr>\r\nRecord-Route: <sip:p2.example.com;lr>\r\nAccept: application/dialog-info+xml\r\n",
            None,
            1,
        );
        let (response, out) = ev.on_subscribe(now, &request, "alice", &flow(TransportKind::Udp));
        let response = wire(&response);
        assert_eq!(response.status(), Some(200));
        assert_eq!(header(&response, HeaderName::Expires), "3600");
        assert_eq!(
            header(&response, HeaderName::Contact),
            "<sip:baton@192.0.2.1:5060>"
        );
        assert_eq!(header(&response, HeaderName::AllowEvents), "dialog");
        assert_eq!(response.headers.count(&HeaderName::RecordRoute), 2);
        let tag = response.to_tag().expect("To tag");
        assert_eq!(ev.len(), 1);

        assert_eq!(out.len(), 1);
        assert_eq!(out[0].flow, flow(TransportKind::Udp));
        let notify = wire(&out[0].request);
        assert_eq!(notify.method(), Some(&Method::NOTIFY));
        assert_eq!(
            notify.request_uri().map(ToString::to_string).as_deref(),
            Some("sip:alice@198.51.100.7:5062")
        );
        assert_eq!(notify.call_id(), Some("sub-1@198.51.100.7"));
        assert_eq!(notify.from_tag().as_deref(), Some(tag.as_str()));
        assert_eq!(notify.to_tag().as_deref(), Some("devB"));
        assert_eq!(
            notify.from().map(|f| f.uri.to_string()).as_deref(),
            Some("sip:alice@example.com")
        );
        assert_eq!(notify.cseq().map(|c| c.seq), Some(1));
        assert_eq!(header(&notify, HeaderName::Event), "dialog;id=7");
        assert_eq!(
            header(&notify, HeaderName::SubscriptionState),
            "active;expires=3600"
        );
        assert_eq!(header(&notify, HeaderName::ContentType), CONTENT_TYPE);
        assert_eq!(
            header(&notify, HeaderName::Contact),
            "<sip:baton@192.0.2.1:5060>"
        );
        assert_eq!(notify.max_forwards(), Some(70));
        let routes: Vec<&str> = notify.headers.get_all(&HeaderName::Route).collect();
        assert_eq!(
            routes,
            ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
        );
        let via = notify.top_via().expect("Via");
        assert_eq!(via.transport, "UDP");
        assert!(via.branch().is_some_and(|b| b.starts_with(BRANCH_PREFIX)));
        let body = std::str::from_utf8(&notify.body).expect("utf-8");
        assert!(body.contains("version=\"0\" state=\"full\" entity=\"sip:alice@example.com\""));
    }

    #[test]
    fn dialog_changes_notify_with_growing_cseq_and_converted_values() {
        let mut ev = events();
        let now = Instant::now();
        let request = subscribe("alice", "Event: dialog\r\n", None, 1);
        let (_, out) = ev.on_subscribe(now, &request, "alice", &flow(TransportKind::Udp));
        assert_eq!(out.len(), 1);
        let out = ev.on_dialog(now, &user_dialog(call::DialogPhase::Confirmed));
        assert_eq!(out.len(), 1);
        let notify = wire(&out[0].request);
        assert_eq!(notify.cseq().map(|c| c.seq), Some(2));
        assert_eq!(header(&notify, HeaderName::Event), "dialog");
        let body = std::str::from_utf8(&notify.body).expect("utf-8");
        for expected in [
            "version=\"1\"",
            "call-id=\"call-A@192.0.2.20\" local-tag=\"devA\" remote-tag=\"bat1\" direction=\"initiator\"",
            "<state>confirmed</state>",
            "<target uri=\"sip:alice@192.0.2.20:5060;ob\"/>",
            "<identity display=\"Bob\">sip:bob@example.com</identity>",
        ] {
            assert!(body.contains(expected), "{expected} in {body}");
        }
        let out = ev.on_dialog(
            now,
            &user_dialog(call::DialogPhase::Terminated { replaced: true }),
        );
        let body = String::from_utf8(out[0].request.body.to_vec()).expect("utf-8");
        assert!(body.contains("<state event=\"replaced\">terminated</state>"));
        // Other users' dialogs reach nobody.
        let mut bob = user_dialog(call::DialogPhase::Confirmed);
        bob.user = "bob".into();
        assert!(ev.on_dialog(now, &bob).is_empty());
    }

    #[test]
    fn refresh_and_unsubscribe_in_the_dialog() {
        let mut ev = events();
        let t0 = Instant::now();
        let first = subscribe("alice", "Event: dialog\r\nExpires: 600\r\n", None, 1);
        let (response, _) = ev.on_subscribe(t0, &first, "alice", &flow(TransportKind::Udp));
        let tag = response.to_tag().expect("tag");

        // The device refreshes over TCP now: NOTIFYs follow it.
        let t1 = t0 + Duration::from_secs(500);
        let refresh = subscribe("alice", "Event: dialog\r\nExpires: 600\r\n", Some(&tag), 2);
        let (response, out) = ev.on_subscribe(t1, &refresh, "alice", &flow(TransportKind::Tcp));
        assert_eq!(response.status(), Some(200));
        assert_eq!(response.to_tag().as_deref(), Some(tag.as_str()));
        assert_eq!(header(&response, HeaderName::Expires), "600");
        let notify = wire(&out[0].request);
        assert_eq!(out[0].flow, flow(TransportKind::Tcp));
        assert_eq!(notify.cseq().map(|c| c.seq), Some(2));
        assert_eq!(
            header(&notify, HeaderName::SubscriptionState),
            "active;expires=600"
        );
        assert_eq!(
            notify.top_via().map(|v| v.transport),
            Some("TCP".to_string())
        );
        assert_eq!(
            header(&notify, HeaderName::Contact),
            "<sip:baton@192.0.2.1:5061;transport=tcp>"
        );
        // Not lapsed at the first deadline any more.
        assert!(ev.on_tick(t0 + Duration::from_secs(601)).is_empty());

        let bye = subscribe("alice", "Event: dialog\r\nExpires: 0\r\n", Some(&tag), 3);
        let (response, out) = ev.on_subscribe(t1, &bye, "alice", &flow(TransportKind::Tcp));
        assert_eq!(header(&response, HeaderName::Expires), "0");
        let notify = wire(&out[0].request);
        assert_eq!(notify.cseq().map(|c| c.seq), Some(3));
        assert_eq!(
            header(&notify, HeaderName::SubscriptionState),
            "terminated;reason=timeout"
        );
        assert_eq!(ev.len(), 0);
        assert!(ev.dialogs.is_empty() && ev.by_number.is_empty());
        assert!(ev
            .on_dialog(t1, &user_dialog(call::DialogPhase::Confirmed))
            .is_empty());
        // The dialog is gone: a late refresh gets 481.
        let late = subscribe("alice", "Event: dialog\r\n", Some(&tag), 4);
        let (response, out) = ev.on_subscribe(t1, &late, "alice", &flow(TransportKind::Tcp));
        assert_eq!(response.status(), Some(481));
        assert!(out.is_empty());
    }

    #[test]
    fn refusals() {
        let mut ev = events();
        let now = Instant::now();
        let udp = flow(TransportKind::Udp);
        let cases = [
            (
                subscribe("alice", "Event: presence\r\n", None, 1),
                "alice",
                489,
            ),
            (subscribe("alice", "", None, 1), "alice", 489),
            (subscribe("bob", "Event: dialog\r\n", None, 1), "alice", 403),
            (
                subscribe("alice", "Event: dialog\r\nExpires: 30\r\n", None, 1),
                "alice",
                423,
            ),
            (
                subscribe("alice", "Event: dialog\r\nExpires: soon\r\n", None, 1),
                "alice",
                400,
            ),
            (
                subscribe(
                    "alice",
                    "Event: dialog\r\nAccept: application/pidf+xml\r\n",
                    None,
                    1,
                ),
                "alice",
                406,
            ),
            (
                subscribe("alice", "Event: dialog\r\n", Some("nope"), 2),
                "alice",
                481,
            ),
        ];
        for (request, user, code) in cases {
            let (response, out) = ev.on_subscribe(now, &request, user, &udp);
            let response = wire(&response);
            assert_eq!(response.status(), Some(code), "{response}");
            assert!(response.to_tag().is_some());
            assert!(out.is_empty());
            match code {
                489 => assert_eq!(header(&response, HeaderName::AllowEvents), "dialog"),
                423 => assert_eq!(header(&response, HeaderName::MinExpires), "60"),
                _ => {}
            }
        }
        assert_eq!(ev.len(), 0);
    }

    #[test]
    fn the_user_cap_answers_503_with_retry_after() {
        let udp = "192.0.2.1:5060".parse().expect("addr");
        let limits = Limits {
            per_user: 1,
            ..Limits::default()
        };
        let mut ev = DialogEvents::new("example.com", udp, None, limits);
        let now = Instant::now();
        let request = subscribe("alice", "Event: dialog\r\nExpires: 120\r\n", None, 1);
        let (first, _) = ev.on_subscribe(now, &request, "alice", &flow(TransportKind::Udp));
        assert_eq!(first.status(), Some(200));
        let (second, out) = ev.on_subscribe(now, &request, "alice", &flow(TransportKind::Udp));
        assert_eq!(second.status(), Some(503));
        assert_eq!(header(&second, HeaderName::RetryAfter), "120");
        assert!(out.is_empty());
    }

    #[test]
    fn expiry_sends_the_final_notify() {
        let mut ev = events();
        let t0 = Instant::now();
        let request = subscribe("alice", "Event: dialog\r\nExpires: 60\r\n", None, 1);
        ev.on_subscribe(t0, &request, "alice", &flow(TransportKind::Udp));
        assert!(ev.on_tick(t0 + Duration::from_secs(59)).is_empty());
        let out = ev.on_tick(t0 + Duration::from_secs(60));
        assert_eq!(out.len(), 1);
        assert_eq!(
            header(&out[0].request, HeaderName::SubscriptionState),
            "terminated;reason=timeout"
        );
        assert_eq!(ev.len(), 0);
        assert!(ev.dialogs.is_empty());
    }

    #[test]
    fn a_failed_notify_ends_the_subscription_silently() {
        let mut ev = events();
        let now = Instant::now();
        let request = subscribe("alice", "Event: dialog\r\n", None, 1);
        let (_, out) = ev.on_subscribe(now, &request, "alice", &flow(TransportKind::Udp));
        let mut layer = sip_proto::TransactionLayer::new(sip_proto::Config::default());
        let notify = out[0].request.clone();
        let key = layer
            .send_request(now, notify.clone(), out[0].flow, false)
            .expect("client transaction");
        assert!(DialogEvents::owns_transaction(&key));
        // A 2xx keeps it.
        let ok = ResponseBuilder::to_request(&notify, 200).build();
        ev.on_notify_response(&key, &ok);
        assert_eq!(ev.len(), 1);
        let gone = ResponseBuilder::to_request(&notify, 481).build();
        ev.on_notify_response(&key, &gone);
        assert_eq!(ev.len(), 0);
        assert!(ev.dialogs.is_empty() && ev.by_number.is_empty());
        assert!(ev
            .on_dialog(now, &user_dialog(call::DialogPhase::Early))
            .is_empty());
    }
}
