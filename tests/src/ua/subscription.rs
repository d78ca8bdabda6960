//! SIP-specific event subscriptions (RFC 6665) as a subscriber: a
//! SUBSCRIBE out (digest retry on `401`/`407`), the NOTIFYs that come back
//! answered `200` by the engine and recorded, refresh and unsubscribe in
//! the subscription's dialog.
//!
//! The dialog is made by whichever comes first (§4.1.2.4): the 2xx to the
//! SUBSCRIBE, or a NOTIFY, which may overtake that 2xx. A NOTIFY belongs to
//! the subscription when its Call-ID is the SUBSCRIBE's and its To tag is
//! our From tag; any other NOTIFY is refused with `481`.

use super::dialog_info::DialogInfo;
use super::engine::{Engine, State};
use super::UaError;
use sip_message::{HeaderName, Message, Method};
use sip_proto::dialog::{Dialog, DialogId};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One subscription under the engine's lock.
#[derive(Debug)]
pub(crate) struct SubscriptionState {
    /// The event package (`dialog`), sent in every SUBSCRIBE.
    pub(crate) event: String,
    /// The Accept value sent, if any.
    pub(crate) accept: Option<String>,
    pub(crate) call_id: String,
    pub(crate) local_tag: String,
    /// The initial SUBSCRIBE as first built (before any credentials).
    pub(crate) request: Message,
    pub(crate) dialog: Option<Dialog>,
    /// The final response to the initial SUBSCRIBE.
    pub(crate) final_response: Option<Message>,
    /// Every NOTIFY accepted for this subscription, retransmissions
    /// excluded.
    pub(crate) notifies: Vec<(Instant, Message)>,
}

impl SubscriptionState {
    /// True when `request` (a NOTIFY) belongs to this subscription.
    pub(crate) fn matches(&self, request: &Message) -> bool {
        request.call_id() == Some(self.call_id.as_str())
            && request.to_tag().as_deref() == Some(self.local_tag.as_str())
    }

    /// Takes the 2xx to a SUBSCRIBE (initial or refresh): makes the dialog
    /// if no NOTIFY made it yet, and keeps our CSeq above every one sent.
    pub(crate) fn on_2xx(&mut self, response: &Message, highest_seq: u32) {
        if self.dialog.is_none() {
            // A 2xx without Contact (RFC 6665 §4.1.1 wants one) still makes
            // a dialog: requests then go to the SUBSCRIBE's Request-URI.
            let mut response = response.clone();
            if response.headers.get(&HeaderName::Contact).is_none() {
                if let Some(uri) = self.request.request_uri() {
                    response
                        .headers
                        .push(HeaderName::Contact, format!("<{uri}>"));
                }
            }
            self.dialog = Dialog::uac(&self.request, &response).ok();
        }
        if let Some(d) = self.dialog.as_mut() {
            raise_local_seq(d, highest_seq);
        }
    }
}

/// Moves a dialog's local CSeq up to `seq`, so that its next request goes
/// above every request already sent with this Call-ID (the SUBSCRIBE, and
/// its retry with credentials, came before the dialog existed).
pub(crate) fn raise_local_seq(dialog: &mut Dialog, seq: u32) {
    while dialog.local_seq() < seq {
        if dialog.new_request(Method::OPTIONS).is_err() {
            break;
        }
    }
}

/// The highest CSeq number we sent with this Call-ID.
pub(crate) fn highest_sent_seq(st: &State, call_id: &str) -> u32 {
    st.sent_requests()
        .filter(|r| r.call_id() == Some(call_id))
        .filter_map(|r| r.cseq().map(|c| c.seq))
        .max()
        .unwrap_or(0)
}

/// A subscription this phone holds (RFC 6665 subscriber), made by
/// [`Phone::subscribe_dialog`](super::Phone::subscribe_dialog) or
/// [`Phone::subscribe_to`](super::Phone::subscribe_to). A cheap clone; it
/// keeps recording NOTIFYs for as long as the phone lives.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub(crate) engine: Arc<Engine>,
    pub(crate) idx: usize,
}

impl Subscription {
    /// The status of the final response to the initial SUBSCRIBE (a
    /// challenge answered with credentials is not final): `200`/`202`, or
    /// the refusal (`403`, `489` …).
    pub fn status(&self) -> u16 {
        self.final_response().and_then(|m| m.status()).unwrap_or(0)
    }

    /// The final response to the initial SUBSCRIBE (its `Expires` is the
    /// duration the notifier granted).
    pub fn final_response(&self) -> Option<Message> {
        self.engine.lock().subscriptions[self.idx]
            .final_response
            .clone()
    }

    /// The Call-ID of the subscription's dialog.
    pub fn call_id(&self) -> String {
        self.engine.lock().subscriptions[self.idx].call_id.clone()
    }

    /// The subscription dialog's identity, once a 2xx or a NOTIFY made it.
    pub fn dialog_id(&self) -> Option<DialogId> {
        self.engine.lock().subscriptions[self.idx]
            .dialog
            .as_ref()
            .map(|d| d.id().clone())
    }

    /// Every NOTIFY received for this subscription (each answered `200`),
    /// in arrival order, retransmissions excluded; the ones that came
    /// before the SUBSCRIBE's 2xx included.
    pub fn notifies(&self) -> Vec<Message> {
        self.engine.lock().subscriptions[self.idx]
            .notifies
            .iter()
            .map(|(_, m)| m.clone())
            .collect()
    }

    /// The bodies of [`Self::notifies`] that parse as dialog-info, in
    /// arrival order (NOTIFYs without a body are skipped).
    pub fn dialog_infos(&self) -> Vec<DialogInfo> {
        self.notifies().iter().filter_map(dialog_info_of).collect()
    }

    /// The `Subscription-State` of the latest NOTIFY (`active;expires=600`,
    /// `terminated;reason=timeout`), if any arrived.
    pub fn subscription_state(&self) -> Option<String> {
        self.engine.lock().subscriptions[self.idx]
            .notifies
            .last()
            .and_then(|(_, m)| m.header(&HeaderName::SubscriptionState))
            .map(str::to_string)
    }

    /// Waits for a NOTIFY whose dialog-info body satisfies `pred` and
    /// returns that body. NOTIFYs already received count: the first match
    /// in arrival order is returned, so a test that wants a later state
    /// says so in `pred` (by `version`, or by the state it expects).
    pub fn wait_notify(
        &self,
        pred: impl Fn(&DialogInfo) -> bool,
        timeout: Duration,
    ) -> Result<DialogInfo, UaError> {
        self.engine
            .wait(timeout, |st| {
                st.subscriptions[self.idx]
                    .notifies
                    .iter()
                    .filter_map(|(_, m)| dialog_info_of(m))
                    .find(|info| pred(info))
            })
            .ok_or_else(|| {
                self.engine
                    .timeout("a NOTIFY with the expected dialog-info")
            })
    }

    /// Waits until at least `n` NOTIFYs have been received; returns them.
    pub fn wait_notifies(&self, n: usize, timeout: Duration) -> Result<Vec<Message>, UaError> {
        self.engine
            .wait(timeout, |st| {
                let s = &st.subscriptions[self.idx];
                (s.notifies.len() >= n).then(|| s.notifies.iter().map(|(_, m)| m.clone()).collect())
            })
            .ok_or_else(|| self.engine.timeout("NOTIFYs"))
    }

    /// Refreshes the subscription: a SUBSCRIBE in its dialog with the same
    /// Event and Accept and `Expires: expires` (a `401`/`407` answered with
    /// credentials). Returns the final status. [`UaError::NoDialog`] when
    /// neither a 2xx nor a NOTIFY made the dialog.
    pub fn refresh(&self, expires: u32) -> Result<u16, UaError> {
        let request = {
            let mut st = self.engine.lock();
            let sub = &mut st.subscriptions[self.idx];
            let dialog = sub.dialog.as_mut().ok_or(UaError::NoDialog)?;
            let mut r = dialog.new_request(Method::SUBSCRIBE)?;
            r.headers.push(HeaderName::Event, sub.event.clone());
            if let Some(accept) = &sub.accept {
                r.headers.push(HeaderName::Accept, accept.clone());
            }
            r.headers.push(HeaderName::Expires, expires.to_string());
            r.headers.push(HeaderName::Contact, self.engine.contact());
            self.engine.stamp(&mut r);
            r
        };
        let response =
            self.engine
                .request(request, None, None, "the final response to SUBSCRIBE")?;
        let mut st = self.engine.lock();
        let seq = highest_sent_seq(&st, &st.subscriptions[self.idx].call_id);
        if let Some(d) = st.subscriptions[self.idx].dialog.as_mut() {
            raise_local_seq(d, seq);
        }
        Ok(response.status().unwrap_or(0))
    }

    /// Ends the subscription: [`Self::refresh`] with `Expires: 0`. The
    /// notifier then sends a last NOTIFY (`Subscription-State:
    /// terminated`), answered and recorded like the others.
    pub fn unsubscribe(&self) -> Result<u16, UaError> {
        self.refresh(0)
    }
}

/// The dialog-info of a NOTIFY, if its body is one.
fn dialog_info_of(notify: &Message) -> Option<DialogInfo> {
    if notify.body.is_empty() {
        return None;
    }
    DialogInfo::parse(&String::from_utf8_lossy(&notify.body)).ok()
}
