use super::{DialogError, DialogId};
use sip_message::{ContactValue, HeaderName, Message, Method, NameAddr, Uri};

/// Where a dialog is in its life (RFC 3261 §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    /// Created by a provisional response with a To tag.
    Early,
    /// Created or confirmed by a 2xx.
    Confirmed,
    /// Ended (BYE, a failure, or an early dialog that no 2xx confirmed).
    Terminated,
}

/// One dialog (RFC 3261 §12.1): everything needed to build its next
/// request and to check the peer's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    id: DialogId,
    state: DialogState,
    /// The last CSeq we sent; the next request uses one more.
    local_seq: u32,
    /// The highest CSeq seen from the peer, if any yet.
    remote_seq: Option<u32>,
    /// Our From (UAC) or To (UAS) value, without the tag parameter.
    local_uri: String,
    /// The peer's address, without the tag parameter.
    remote_uri: String,
    /// The peer's Contact: the Request-URI of our requests.
    remote_target: Uri,
    /// Record-Route as seen from our side (§12.1.1: in order for the UAS;
    /// §12.1.2: reversed for the UAC).
    route_set: Vec<String>,
}

impl Dialog {
    /// The UAS side (§12.1.1): a dialog-creating request we answer with a
    /// 1xx/2xx carrying `local_tag`.
    pub fn uas(request: &Message, local_tag: &str, confirmed: bool) -> Result<Dialog, DialogError> {
        let call_id = request.call_id().ok_or(DialogError::Missing("Call-ID"))?;
        let from = request.from().ok_or(DialogError::Missing("From"))?;
        let to = request.to().ok_or(DialogError::Missing("To"))?;
        let remote_tag = from
            .tag()
            .ok_or(DialogError::Missing("From tag"))?
            .to_string();
        let cseq = request.cseq().ok_or(DialogError::Missing("CSeq"))?;
        Ok(Dialog {
            id: DialogId {
                call_id: call_id.to_string(),
                local_tag: local_tag.to_string(),
                remote_tag,
            },
            state: if confirmed {
                DialogState::Confirmed
            } else {
                DialogState::Early
            },
            // §12.1.1: the local sequence number is empty; we start at a
            // random-free, small value that leaves room below 2^31.
            local_seq: 0,
            remote_seq: Some(cseq.seq),
            local_uri: without_tag(&to),
            remote_uri: without_tag(&from),
            remote_target: contact_uri(request)?,
            route_set: request
                .headers
                .get_all(&HeaderName::RecordRoute)
                .map(str::to_string)
                .collect(),
        })
    }

    /// The UAC side (§12.1.2): our dialog-creating `request` and the
    /// response (1xx with a To tag, or 2xx) that creates the dialog.
    pub fn uac(request: &Message, response: &Message) -> Result<Dialog, DialogError> {
        let call_id = request.call_id().ok_or(DialogError::Missing("Call-ID"))?;
        if response.call_id() != Some(call_id) {
            return Err(DialogError::WrongDialog);
        }
        let from = request.from().ok_or(DialogError::Missing("From"))?;
        let local_tag = from
            .tag()
            .ok_or(DialogError::Missing("From tag"))?
            .to_string();
        let to = response.to().ok_or(DialogError::Missing("To"))?;
        let remote_tag = to.tag().ok_or(DialogError::Missing("To tag"))?.to_string();
        let cseq = request.cseq().ok_or(DialogError::Missing("CSeq"))?;
        let confirmed = response.status().is_some_and(|s| (200..300).contains(&s));
        let mut route_set: Vec<String> = response
            .headers
            .get_all(&HeaderName::RecordRoute)
            .map(str::to_string)
            .collect();
        route_set.reverse();
        Ok(Dialog {
            id: DialogId {
                call_id: call_id.to_string(),
                local_tag,
                remote_tag,
            },
            state: if confirmed {
                DialogState::Confirmed
            } else {
                DialogState::Early
            },
            local_seq: cseq.seq,
            remote_seq: None,
            local_uri: without_tag(&from),
            remote_uri: without_tag(&to),
            remote_target: contact_uri(response)?,
            route_set,
        })
    }

    /// The dialog's identity.
    pub fn id(&self) -> &DialogId {
        &self.id
    }

    /// The state.
    pub fn state(&self) -> DialogState {
        self.state
    }

    /// The peer's Contact, where our requests go.
    pub fn remote_target(&self) -> &Uri {
        &self.remote_target
    }

    /// The route set, in the order our requests carry it.
    pub fn route_set(&self) -> &[String] {
        &self.route_set
    }

    /// The last CSeq we used.
    pub fn local_seq(&self) -> u32 {
        self.local_seq
    }

    /// The highest CSeq the peer used.
    pub fn remote_seq(&self) -> Option<u32> {
        self.remote_seq
    }

    /// A 2xx confirmed the dialog; a target refresh (§12.2.1.2) may come
    /// with it.
    pub fn confirm(&mut self, response: &Message) {
        if self.state == DialogState::Early {
            self.state = DialogState::Confirmed;
        }
        self.refresh_target(response);
    }

    /// The dialog ended.
    pub fn terminate(&mut self) {
        self.state = DialogState::Terminated;
    }

    /// Checks a request from the peer (§12.2.2) and takes its CSeq. ACK and
    /// CANCEL reuse a CSeq and are not checked.
    ///
    /// A target refresh request (re-INVITE, UPDATE) does not move the
    /// remote target here: only an accepted one does (§12.2.2: the target
    /// is replaced "if the request is accepted"), so the UA calls
    /// [`Dialog::accept_target_refresh`] when it answers it with a 2xx. A
    /// refused re-INVITE (`488`, `491`, `403` …) leaves the dialog where it
    /// was.
    pub fn receive_request(&mut self, request: &Message) -> Result<(), DialogError> {
        if DialogId::of_incoming_request(request).as_ref() != Some(&self.id) {
            return Err(DialogError::WrongDialog);
        }
        let cseq = request.cseq().ok_or(DialogError::Missing("CSeq"))?;
        if matches!(cseq.method, Method::ACK | Method::CANCEL) {
            return Ok(());
        }
        if let Some(last) = self.remote_seq {
            if cseq.seq < last {
                return Err(DialogError::CSeqOutOfOrder {
                    got: cseq.seq,
                    last,
                });
            }
        }
        self.remote_seq = Some(cseq.seq);
        Ok(())
    }

    /// The peer's target refresh request (re-INVITE, UPDATE) was accepted
    /// (answered 2xx): its Contact becomes the remote target (§12.2.2).
    /// Other methods change nothing.
    pub fn accept_target_refresh(&mut self, request: &Message) {
        let refreshes = request
            .method()
            .is_some_and(|m| *m == Method::INVITE || *m == Method::UPDATE);
        if refreshes {
            self.refresh_target(request);
        }
    }

    /// Takes the Contact of a target-refresh request or its 2xx.
    pub fn refresh_target(&mut self, message: &Message) {
        if let Ok(uri) = contact_uri(message) {
            self.remote_target = uri;
        }
    }

    /// Builds the next request of the dialog (§12.2.1.1): Request-URI,
    /// Route, From, To, Call-ID and a new CSeq. The caller adds Via,
    /// Contact, Max-Forwards and the body.
    pub fn new_request(&mut self, method: Method) -> Result<Message, DialogError> {
        let seq = self
            .local_seq
            .checked_add(1)
            .filter(|s| *s < 1 << 31)
            .ok_or(DialogError::CSeqExhausted)?;
        self.local_seq = seq;
        Ok(self.request_with_seq(method, seq))
    }

    /// The ACK for a 2xx to the INVITE with CSeq `invite_seq` (§13.2.2.4):
    /// same CSeq number, method ACK, built from the dialog.
    pub fn ack(&self, invite_seq: u32) -> Message {
        self.request_with_seq(Method::ACK, invite_seq)
    }

    fn request_with_seq(&self, method: Method, seq: u32) -> Message {
        // §12.2.1.1: with a loose-routing first hop (`;lr`) the Request-URI
        // is the remote target and the route set goes in Route as is. A
        // strict router would need the target appended; every router in
        // service today is loose, and we never insert a strict one.
        let mut request = Message::request(method.clone(), self.remote_target.clone());
        for route in &self.route_set {
            request.headers.push(HeaderName::Route, route.clone());
        }
        request.headers.push(
            HeaderName::From,
            format!("{};tag={}", self.local_uri, self.id.local_tag),
        );
        request.headers.push(
            HeaderName::To,
            format!("{};tag={}", self.remote_uri, self.id.remote_tag),
        );
        request
            .headers
            .push(HeaderName::CallId, self.id.call_id.clone());
        request
            .headers
            .push(HeaderName::CSeq, format!("{seq} {method}"));
        request
    }
}

fn without_tag(addr: &NameAddr) -> String {
    let mut addr = addr.clone();
    addr.params.remove("tag");
    addr.to_string()
}

fn contact_uri(message: &Message) -> Result<Uri, DialogError> {
    message
        .contacts()
        .into_iter()
        .find_map(|c| match c {
            ContactValue::Addr(a) => Some(a.uri),
            ContactValue::Star => None,
        })
        .ok_or(DialogError::NoContact)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:bob@example.com SIP/2.0\r\n\
        Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa\r\n\
        Record-Route: <sip:p1.example.com;lr>\r\nRecord-Route: <sip:p2.example.com;lr>\r\n\
        From: \"Alice\" <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>\r\n\
        Call-ID: c1@example.com\r\nCSeq: 7 INVITE\r\nContact: <sip:alice@192.0.2.1:5062>\r\n\r\n";

    fn invite() -> Message {
        Message::parse(INVITE.as_bytes()).expect("parses")
    }

    fn ok() -> Message {
        let text = INVITE
            .replace("INVITE sip:bob@example.com SIP/2.0", "SIP/2.0 200 OK")
            .replace(
                "To: <sip:bob@example.com>",
                "To: <sip:bob@example.com>;tag=b1",
            )
            .replace(
                "Contact: <sip:alice@192.0.2.1:5062>",
                "Contact: <sip:bob@192.0.2.2:5064>",
            );
        Message::parse(text.as_bytes()).expect("parses")
    }

    #[test]
    fn uas_dialog_keeps_route_order_and_targets_the_caller() {
        let mut d = Dialog::uas(&invite(), "b1", true).expect("dialog");
        assert_eq!(d.id().remote_tag, "a1");
        assert_eq!(
            d.route_set(),
            ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
        );
        let bye = d.new_request(Method::BYE).expect("bye");
        assert_eq!(
            bye.request_uri().map(ToString::to_string).as_deref(),
            Some("sip:alice@192.0.2.1:5062")
        );
        assert_eq!(bye.from_tag().as_deref(), Some("b1"));
        assert_eq!(bye.to_tag().as_deref(), Some("a1"));
        assert_eq!(bye.cseq().map(|c| c.seq), Some(1));
        let routes: Vec<&str> = bye.headers.get_all(&HeaderName::Route).collect();
        assert_eq!(
            routes,
            ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
        );
    }

    #[test]
    fn uac_dialog_reverses_route_set_and_continues_cseq() {
        let mut d = Dialog::uac(&invite(), &ok()).expect("dialog");
        assert_eq!(d.state(), DialogState::Confirmed);
        assert_eq!(
            d.route_set(),
            ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]
        );
        let ack = d.ack(7);
        assert_eq!(
            ack.cseq().map(|c| (c.seq, c.method)),
            Some((7, Method::ACK))
        );
        let bye = d.new_request(Method::BYE).expect("bye");
        assert_eq!(bye.cseq().map(|c| c.seq), Some(8));
        assert_eq!(
            bye.request_uri().map(ToString::to_string).as_deref(),
            Some("sip:bob@192.0.2.2:5064")
        );
        assert!(bye.to().and_then(|t| t.display).is_none());
        assert_eq!(bye.from().and_then(|f| f.display).as_deref(), Some("Alice"));
    }

    #[test]
    fn remote_cseq_must_not_go_backwards_and_refresh_moves_the_target() {
        let mut d = Dialog::uac(&invite(), &ok()).expect("dialog");
        let reinvite = |seq: u32, contact: &str| {
            Message::parse(
                format!(
                    "INVITE sip:alice@192.0.2.1:5062 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKr{seq}\r\n\
                     From: <sip:bob@example.com>;tag=b1\r\nTo: <sip:alice@example.com>;tag=a1\r\n\
                     Call-ID: c1@example.com\r\nCSeq: {seq} INVITE\r\nContact: <{contact}>\r\n\r\n"
                )
                .as_bytes(),
            )
            .expect("parses")
        };
        let moved = reinvite(5, "sip:bob@192.0.2.9:5070");
        d.receive_request(&moved).expect("in order");
        // Not accepted yet: the target stays (a refused re-INVITE must not
        // move it).
        assert_eq!(d.remote_target().to_string(), "sip:bob@192.0.2.2:5064");
        d.accept_target_refresh(&moved);
        assert_eq!(d.remote_target().to_string(), "sip:bob@192.0.2.9:5070");
        assert_eq!(
            d.receive_request(&reinvite(4, "sip:bob@192.0.2.9:5070")),
            Err(DialogError::CSeqOutOfOrder { got: 4, last: 5 })
        );
    }

    #[test]
    fn a_request_of_another_dialog_is_refused() {
        let mut d = Dialog::uas(&invite(), "b1", true).expect("dialog");
        let other = Message::parse(
            b"BYE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKb\r\n\
              From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>;tag=zz\r\n\
              Call-ID: c1@example.com\r\nCSeq: 8 BYE\r\n\r\n",
        )
        .expect("parses");
        assert_eq!(d.receive_request(&other), Err(DialogError::WrongDialog));
    }

    #[test]
    fn establishing_messages_without_contact_or_tags_are_refused() {
        let no_contact = Message::parse(
            INVITE
                .replace("Contact: <sip:alice@192.0.2.1:5062>\r\n", "")
                .as_bytes(),
        )
        .expect("parses");
        assert_eq!(
            Dialog::uas(&no_contact, "b1", true),
            Err(DialogError::NoContact)
        );
        let no_tag = Message::parse(INVITE.replace(";tag=a1", "").as_bytes()).expect("parses");
        assert_eq!(
            Dialog::uas(&no_tag, "b1", true),
            Err(DialogError::Missing("From tag"))
        );
    }
}
