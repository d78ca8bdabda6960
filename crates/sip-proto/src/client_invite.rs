use crate::timers::{due, earliest};
use crate::transaction::Ctx;
use crate::{Flow, Timer};
use bytes::Bytes;
use sip_message::{HeaderName, Headers, Message, Method, RequestLine, StartLine, Uri};
use std::time::{Duration, Instant};

/// States of the INVITE client transaction (RFC 3261 Figure 5, with the
/// Accepted state of RFC 6026 Figure 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientInviteState {
    /// The INVITE was sent; no response yet. Timers A and B run.
    Calling,
    /// A provisional response arrived.
    Proceeding,
    /// A 300–699 arrived and was ACKed; waiting Timer D for retransmissions.
    Completed,
    /// A 2xx arrived (RFC 6026); further 2xx go to the TU until Timer M.
    Accepted,
    /// Finished; the layer removes the transaction.
    Terminated,
}

/// The INVITE client transaction (RFC 3261 §17.1.1, RFC 6026 §8.4).
///
/// It retransmits the INVITE on Timer A (T1, doubling without the T2 cap)
/// over unreliable transports, gives up on Timer B (64·T1) in Calling,
/// generates and retransmits the ACK for a non-2xx final itself
/// (§17.1.1.3), and passes every 2xx to the TU without ACKing it.
#[derive(Debug)]
pub struct ClientInviteTransaction {
    state: ClientInviteState,
    reliable: bool,
    destination: Flow,
    request: Bytes,
    /// The INVITE fields an ACK or CANCEL reuses.
    template: Option<Box<RequestTemplate>>,
    /// The ACK for the non-2xx final, built once and re-sent as is.
    ack: Option<Bytes>,
    timer_a: Option<Instant>,
    interval_a: Duration,
    timer_b: Option<Instant>,
    timer_d: Option<Instant>,
    timer_m: Option<Instant>,
}

/// What §17.1.1.3 (ACK) and §9.1 (CANCEL) copy from the INVITE: the
/// Request-URI, the top Via only, From, To, Call-ID, the CSeq number and
/// the Route set. Moved out of the INVITE once it is serialised, so keeping
/// it costs no copy.
#[derive(Debug)]
struct RequestTemplate {
    uri: Uri,
    via: Option<String>,
    from: Option<String>,
    to: Option<String>,
    call_id: Option<String>,
    cseq: u32,
    routes: Vec<String>,
}

impl RequestTemplate {
    /// `None` for a response, which the layer never passes here.
    fn take_from(request: Message) -> Option<RequestTemplate> {
        let cseq = request.cseq().map_or(0, |c| c.seq);
        let Message {
            start: StartLine::Request(RequestLine { uri, .. }),
            mut headers,
            ..
        } = request
        else {
            return None;
        };
        let mut routes = Vec::new();
        while let Some(r) = headers.remove_first(&HeaderName::Route) {
            routes.push(r);
        }
        Some(RequestTemplate {
            uri,
            via: headers.remove_first(&HeaderName::Via),
            from: headers.remove_first(&HeaderName::From),
            to: headers.remove_first(&HeaderName::To),
            call_id: headers.remove_first(&HeaderName::CallId),
            cseq,
            routes,
        })
    }

    /// A request of `method` on the INVITE's Request-URI, with its single
    /// top Via, From, Call-ID, CSeq number and Route set, and this To.
    fn build(&self, method: Method, to: Option<&str>) -> Message {
        let mut headers = Headers::with_capacity(7 + self.routes.len());
        if let Some(v) = &self.via {
            headers.push(HeaderName::Via, v.clone());
        }
        headers.push(HeaderName::MaxForwards, "70");
        if let Some(f) = &self.from {
            headers.push(HeaderName::From, f.clone());
        }
        if let Some(t) = to {
            headers.push(HeaderName::To, t);
        }
        if let Some(c) = &self.call_id {
            headers.push(HeaderName::CallId, c.clone());
        }
        headers.push(HeaderName::CSeq, format!("{} {}", self.cseq, method));
        for r in &self.routes {
            headers.push(HeaderName::Route, r.clone());
        }
        Message {
            start: StartLine::Request(RequestLine {
                method,
                uri: self.uri.clone(),
            }),
            headers,
            body: Bytes::new(),
        }
    }
}

impl ClientInviteTransaction {
    /// Sends the INVITE and enters Calling.
    pub(crate) fn start(
        ctx: &mut Ctx<'_>,
        request: Message,
        destination: Flow,
        reliable: bool,
    ) -> Self {
        let payload = Bytes::from(request.to_bytes());
        ctx.transmit(destination, payload.clone());
        let t1 = ctx.timers.t1;
        ClientInviteTransaction {
            state: ClientInviteState::Calling,
            reliable,
            destination,
            request: payload,
            template: RequestTemplate::take_from(request).map(Box::new),
            ack: None,
            timer_a: (!reliable).then(|| ctx.now + t1),
            interval_a: t1,
            timer_b: Some(ctx.now + ctx.timers.t1x64()),
            timer_d: None,
            timer_m: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> ClientInviteState {
        self.state
    }

    /// True over a reliable transport.
    pub fn is_reliable(&self) -> bool {
        self.reliable
    }

    /// Where the INVITE goes.
    pub fn destination(&self) -> Flow {
        self.destination
    }

    /// The CANCEL for this INVITE (RFC 3261 §9.1): same Request-URI,
    /// Call-ID, From, To, CSeq number, top Via and Route set. `None` once a
    /// final response arrived, when a CANCEL has no effect. RFC 3261 §9.1
    /// says to send it only after a provisional response; that timing is
    /// the TU's choice.
    pub fn cancel_request(&self) -> Option<Message> {
        match self.state {
            ClientInviteState::Calling | ClientInviteState::Proceeding => {
                let t = self.template.as_ref()?;
                Some(t.build(Method::CANCEL, t.to.as_deref()))
            }
            _ => None,
        }
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        earliest([self.timer_a, self.timer_b, self.timer_d, self.timer_m])
    }

    pub(crate) fn on_response(&mut self, ctx: &mut Ctx<'_>, response: Message) {
        let Some(code) = response.status() else {
            return;
        };
        use ClientInviteState::*;
        match (self.state, code) {
            (Calling | Proceeding, 100..=199) => {
                self.state = Proceeding;
                self.timer_a = None;
                // Timer B guards Calling only (RFC 3261 §17.1.1.2); once the
                // callee rings, ending the attempt is the TU's call (CANCEL).
                self.timer_b = None;
                ctx.response_event(response);
            }
            (Calling | Proceeding, 200..=299) => {
                // RFC 6026 §8.4: Accepted, so that 2xx retransmissions and
                // forked 2xx still reach the TU until Timer M.
                self.state = Accepted;
                self.timer_a = None;
                self.timer_b = None;
                self.timer_m = Some(ctx.now + ctx.timers.t1x64());
                ctx.response_event(response);
            }
            (Calling | Proceeding, 300..=699) => {
                self.timer_a = None;
                self.timer_b = None;
                if let Some(t) = &self.template {
                    let to = response.header(&HeaderName::To);
                    let ack = Bytes::from(t.build(Method::ACK, to).to_bytes());
                    ctx.transmit(self.destination, ack.clone());
                    self.ack = Some(ack);
                }
                ctx.response_event(response);
                let d = ctx.timers.d(self.reliable);
                if d.is_zero() {
                    self.state = Terminated;
                } else {
                    self.state = Completed;
                    self.timer_d = Some(ctx.now + d);
                }
            }
            (Completed, 300..=699) => {
                // A retransmitted final: our ACK was lost. Re-send it, and
                // keep the duplicate from the TU.
                if let Some(ack) = &self.ack {
                    ctx.transmit(self.destination, ack.clone());
                }
            }
            (Accepted, 200..=299) => ctx.response_event(response),
            _ => {}
        }
    }

    pub(crate) fn on_timeout(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        if due(self.timer_b, now) {
            self.timer_b = None;
            self.timer_a = None;
            self.state = ClientInviteState::Terminated;
            ctx.timeout_event(Timer::B);
            return;
        }
        if due(self.timer_a, now) {
            ctx.transmit(self.destination, self.request.clone());
            // No T2 cap for INVITE (RFC 3261 §17.1.1.2).
            self.interval_a = self.interval_a.saturating_mul(2);
            self.timer_a = Some(now + self.interval_a);
        }
        if due(self.timer_d, now) || due(self.timer_m, now) {
            self.timer_d = None;
            self.timer_m = None;
            self.state = ClientInviteState::Terminated;
        }
    }

    pub(crate) fn on_transport_error(&mut self, ctx: &mut Ctx<'_>) {
        self.timer_a = None;
        self.timer_b = None;
        self.timer_d = None;
        self.timer_m = None;
        self.state = ClientInviteState::Terminated;
        ctx.transport_error_event();
    }
}
