//! The subscription table: who watches which user, until when, and the
//! current dialogs of every user (so a first NOTIFY can be full state).

use crate::body::{render_dialog, wrap, DialogState};
use crate::Limits;
use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

/// One subscription's SIP dialog (RFC 6665 §4.1.2): Call-ID, the
/// subscriber's tag (From of the SUBSCRIBE) and Baton's (its To tag).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubscriptionKey {
    /// The SUBSCRIBE's Call-ID.
    pub call_id: String,
    /// The subscriber's tag.
    pub subscriber_tag: String,
    /// Baton's tag, minted for the 200.
    pub notifier_tag: String,
}

/// A SUBSCRIBE reduced to what the table decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeRequest {
    /// The authenticated user.
    pub user: String,
    /// The user part of the AOR subscribed to (Request-URI); the node has
    /// already checked the host is its domain.
    pub aor_user: String,
    /// The Expires header, if any.
    pub expires: Option<u32>,
    /// The subscription's dialog.
    pub key: SubscriptionKey,
}

/// Why a subscription ended (RFC 6665 §4.1.3 reason codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TerminationReason {
    /// It lapsed, or the subscriber sent Expires: 0.
    Timeout,
    /// Baton ended it (the node is draining); the subscriber should
    /// re-subscribe at once, and will reach another node.
    Deactivated,
}

/// The `Subscription-State` header value of a NOTIFY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionState {
    /// `active;expires=N`.
    Active {
        /// Seconds left.
        expires: u32,
    },
    /// `terminated;reason=…`: the last NOTIFY of the subscription.
    Terminated(TerminationReason),
}

impl fmt::Display for SubscriptionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubscriptionState::Active { expires } => write!(f, "active;expires={expires}"),
            SubscriptionState::Terminated(TerminationReason::Timeout) => {
                f.write_str("terminated;reason=timeout")
            }
            SubscriptionState::Terminated(TerminationReason::Deactivated) => {
                f.write_str("terminated;reason=deactivated")
            }
        }
    }
}

/// A NOTIFY to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyOut {
    /// The subscription it belongs to.
    pub key: SubscriptionKey,
    /// `Subscription-State`.
    pub state: SubscriptionState,
    /// The document's `version` (also inside the body).
    pub version: u32,
    /// The `application/dialog-info+xml` body.
    pub body: Vec<u8>,
}

/// A SUBSCRIBE the table took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Seconds granted (the 200's Expires); 0 for a fetch or unsubscribe.
    pub expires: u32,
    /// The NOTIFY that must follow the 200 (RFC 6665 §4.2.1.2).
    pub notify: NotifyOut,
}

/// A SUBSCRIBE the table refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The user subscribed to another user's AOR, or refreshed another
    /// user's subscription.
    #[error("Not Your Address of Record")]
    Forbidden,
    /// Expires under the minimum.
    #[error("Interval Too Brief")]
    IntervalTooBrief {
        /// The Min-Expires header value.
        min_secs: u32,
    },
    /// The user holds [`Limits::per_user`] subscriptions already.
    #[error("Too Many Subscriptions For This User")]
    UserCap {
        /// Seconds until the user's earliest subscription lapses.
        retry_after: u32,
    },
    /// The table holds [`Limits::total`] subscriptions already.
    #[error("Too Many Subscriptions")]
    TotalCap {
        /// Seconds until the earliest subscription lapses.
        retry_after: u32,
    },
    /// A refresh for a subscription the table does not hold.
    #[error("Subscription Does Not Exist")]
    NoSubscription,
}

impl Refusal {
    /// The response status.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Forbidden => 403,
            Refusal::IntervalTooBrief { .. } => 423,
            Refusal::UserCap { .. } | Refusal::TotalCap { .. } => 503,
            Refusal::NoSubscription => 481,
        }
    }

    /// A metric label (`baton_subscriptions_total{result}`).
    pub fn label(&self) -> &'static str {
        match self {
            Refusal::Forbidden => "forbidden",
            Refusal::IntervalTooBrief { .. } => "too_brief",
            Refusal::UserCap { .. } => "user_cap",
            Refusal::TotalCap { .. } => "total_cap",
            Refusal::NoSubscription => "no_subscription",
        }
    }
}

#[derive(Debug)]
struct Sub {
    user: String,
    expires_at: Instant,
    /// The version of the next NOTIFY.
    version: u32,
}

#[derive(Debug, Default)]
struct UserEntry {
    subs: Vec<SubscriptionKey>,
    /// Live dialogs, in the order they appeared.
    dialogs: Vec<DialogState>,
}

/// Subscriptions to users' dialogs, and those dialogs.
#[derive(Debug)]
pub struct Subscriptions {
    domain: String,
    limits: Limits,
    subs: HashMap<SubscriptionKey, Sub>,
    users: HashMap<String, UserEntry>,
}

impl Subscriptions {
    /// An empty table for users of `domain` (the host of every `entity`).
    pub fn new(domain: &str, limits: Limits) -> Self {
        Subscriptions {
            domain: domain.to_string(),
            limits,
            subs: HashMap::new(),
            users: HashMap::new(),
        }
    }

    /// Live subscriptions.
    pub fn len(&self) -> usize {
        self.subs.len()
    }

    /// True when no subscription is live.
    pub fn is_empty(&self) -> bool {
        self.subs.is_empty()
    }

    /// True when `key` is a live subscription.
    pub fn contains(&self, key: &SubscriptionKey) -> bool {
        self.subs.contains_key(key)
    }

    /// The live dialogs the table knows for `user`.
    pub fn dialogs_of(&self, user: &str) -> usize {
        self.users.get(user).map_or(0, |e| e.dialogs.len())
    }

    /// A new SUBSCRIBE (no To tag). A key already live is a refresh.
    pub fn subscribe(&mut self, now: Instant, req: SubscribeRequest) -> Result<Accepted, Refusal> {
        if req.aor_user != req.user {
            return Err(Refusal::Forbidden);
        }
        if self.subs.contains_key(&req.key) {
            return self.refresh(now, &req.key, &req.user, req.expires);
        }
        let granted = self.grant(req.expires)?;
        if granted == 0 {
            // A fetch (Expires: 0 on a new SUBSCRIBE): one NOTIFY with the
            // state, no subscription kept.
            let inner = self.render_dialogs(&req.user, None);
            let body = wrap(&self.entity(&req.user), 0, &inner);
            let notify = NotifyOut {
                key: req.key,
                state: SubscriptionState::Terminated(TerminationReason::Timeout),
                version: 0,
                body,
            };
            return Ok(Accepted { expires: 0, notify });
        }
        let entry = self.users.get(&req.user);
        if entry.is_some_and(|e| e.subs.len() >= self.limits.per_user) {
            let earliest = entry
                .into_iter()
                .flat_map(|e| &e.subs)
                .filter_map(|k| self.subs.get(k))
                .map(|s| s.expires_at)
                .min();
            return Err(Refusal::UserCap {
                retry_after: retry_after(now, earliest),
            });
        }
        if self.subs.len() >= self.limits.total {
            return Err(Refusal::TotalCap {
                retry_after: retry_after(now, self.next_deadline()),
            });
        }
        self.subs.insert(
            req.key.clone(),
            Sub {
                user: req.user.clone(),
                expires_at: now + secs(granted),
                version: 0,
            },
        );
        self.users
            .entry(req.user)
            .or_default()
            .subs
            .push(req.key.clone());
        let notify = self.notify_one(now, &req.key, None, None);
        Ok(Accepted {
            expires: granted,
            notify,
        })
    }

    /// An in-dialog SUBSCRIBE: resets the expiry (Expires: 0 ends the
    /// subscription) and always yields a NOTIFY (RFC 6665 §4.2.1.2).
    pub fn refresh(
        &mut self,
        now: Instant,
        key: &SubscriptionKey,
        user: &str,
        expires: Option<u32>,
    ) -> Result<Accepted, Refusal> {
        let sub = self.subs.get(key).ok_or(Refusal::NoSubscription)?;
        if sub.user != user {
            return Err(Refusal::Forbidden);
        }
        let granted = self.grant(expires)?;
        if granted == 0 {
            let notify = self.unsubscribe(now, key).ok_or(Refusal::NoSubscription)?;
            return Ok(Accepted { expires: 0, notify });
        }
        if let Some(sub) = self.subs.get_mut(key) {
            sub.expires_at = now + secs(granted);
        }
        let notify = self.notify_one(now, key, None, None);
        Ok(Accepted {
            expires: granted,
            notify,
        })
    }

    /// Ends a subscription with a final NOTIFY (`terminated;reason=timeout`).
    pub fn unsubscribe(&mut self, now: Instant, key: &SubscriptionKey) -> Option<NotifyOut> {
        self.end(now, key, TerminationReason::Timeout)
    }

    /// Drops a subscription without a NOTIFY: a NOTIFY of it failed (481,
    /// timeout), so the subscriber is gone (RFC 6665 §4.2.2).
    pub fn remove(&mut self, key: &SubscriptionKey) -> bool {
        self.detach(key).is_some()
    }

    /// A dialog of a user appeared or changed: one NOTIFY per subscription
    /// of that user. Nothing when the state is unchanged. A terminated
    /// dialog is reported once, then forgotten.
    pub fn dialog_changed(&mut self, now: Instant, dialog: DialogState) -> Vec<NotifyOut> {
        let entry = self.users.entry(dialog.user.clone()).or_default();
        let known = entry.dialogs.iter().position(|d| d.same_dialog(&dialog));
        let ended = dialog.phase.is_terminated();
        match known {
            Some(i) if entry.dialogs[i] == dialog => return Vec::new(),
            Some(i) if ended => {
                entry.dialogs.remove(i);
            }
            Some(i) => entry.dialogs[i] = dialog.clone(),
            None if ended => {}
            None => entry.dialogs.push(dialog.clone()),
        }
        if entry.subs.is_empty() {
            if entry.dialogs.is_empty() {
                self.users.remove(&dialog.user);
            }
            return Vec::new();
        }
        let extra = ended.then_some(&dialog);
        let inner = self.render_dialogs(&dialog.user, extra);
        let keys = self
            .users
            .get(&dialog.user)
            .map(|e| e.subs.clone())
            .unwrap_or_default();
        keys.iter()
            .map(|key| self.notify_one(now, key, Some(&inner), None))
            .collect()
    }

    /// Ends the subscriptions that lapsed by `now`, each with a final
    /// NOTIFY (`terminated;reason=timeout`).
    pub fn expire(&mut self, now: Instant) -> Vec<NotifyOut> {
        let lapsed: Vec<SubscriptionKey> = self
            .subs
            .iter()
            .filter(|(_, s)| s.expires_at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        lapsed
            .iter()
            .filter_map(|key| self.end(now, key, TerminationReason::Timeout))
            .collect()
    }

    /// Ends every subscription (`terminated;reason=deactivated`): the node
    /// is draining and subscribers should re-subscribe elsewhere.
    pub fn terminate_all(&mut self, now: Instant) -> Vec<NotifyOut> {
        let keys: Vec<SubscriptionKey> = self.subs.keys().cloned().collect();
        keys.iter()
            .filter_map(|key| self.end(now, key, TerminationReason::Deactivated))
            .collect()
    }

    /// When the earliest subscription lapses.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.subs.values().map(|s| s.expires_at).min()
    }

    fn grant(&self, expires: Option<u32>) -> Result<u32, Refusal> {
        match expires {
            None => Ok(self.limits.default_expires),
            Some(0) => Ok(0),
            Some(n) if n < self.limits.min_expires => Err(Refusal::IntervalTooBrief {
                min_secs: self.limits.min_expires,
            }),
            Some(n) => Ok(n.min(self.limits.max_expires)),
        }
    }

    fn end(
        &mut self,
        now: Instant,
        key: &SubscriptionKey,
        reason: TerminationReason,
    ) -> Option<NotifyOut> {
        if !self.subs.contains_key(key) {
            return None;
        }
        let notify = self.notify_one(now, key, None, Some(reason));
        self.detach(key);
        Some(notify)
    }

    fn detach(&mut self, key: &SubscriptionKey) -> Option<Sub> {
        let sub = self.subs.remove(key)?;
        if let Some(entry) = self.users.get_mut(&sub.user) {
            entry.subs.retain(|k| k != key);
            if entry.subs.is_empty() && entry.dialogs.is_empty() {
                self.users.remove(&sub.user);
            }
        }
        Some(sub)
    }

    /// The next NOTIFY of `key`: `inner` is the user's rendered dialogs
    /// (rendered here when `None`); `ended` makes it the final one.
    fn notify_one(
        &mut self,
        now: Instant,
        key: &SubscriptionKey,
        inner: Option<&str>,
        ended: Option<TerminationReason>,
    ) -> NotifyOut {
        let (user, expires_at) = match self.subs.get(key) {
            Some(s) => (s.user.clone(), s.expires_at),
            None => (String::new(), now),
        };
        let rendered;
        let inner = match inner {
            Some(inner) => inner,
            None => {
                rendered = self.render_dialogs(&user, None);
                &rendered
            }
        };
        let entity = self.entity(&user);
        let version = match self.subs.get_mut(key) {
            Some(s) => {
                s.version += 1;
                s.version - 1
            }
            None => 0,
        };
        let state = match ended {
            Some(reason) => SubscriptionState::Terminated(reason),
            None => SubscriptionState::Active {
                expires: remaining(now, expires_at),
            },
        };
        NotifyOut {
            key: key.clone(),
            state,
            version,
            body: wrap(&entity, version, inner),
        }
    }

    /// The user's live dialogs, then `extra` (a dialog that just ended).
    fn render_dialogs(&self, user: &str, extra: Option<&DialogState>) -> String {
        let entity = self.entity(user);
        let mut out = String::new();
        let live = self.users.get(user).into_iter().flat_map(|e| &e.dialogs);
        for dialog in live.chain(extra) {
            render_dialog(&mut out, &entity, dialog);
        }
        out
    }

    fn entity(&self, user: &str) -> String {
        format!("sip:{user}@{}", self.domain)
    }
}

fn secs(n: u32) -> Duration {
    Duration::from_secs(u64::from(n))
}

/// Whole seconds left, rounded down.
fn remaining(now: Instant, at: Instant) -> u32 {
    u32::try_from(at.saturating_duration_since(now).as_secs()).unwrap_or(u32::MAX)
}

/// Seconds until `at`, rounded up, at least 1 (Retry-After).
fn retry_after(now: Instant, at: Option<Instant>) -> u32 {
    let Some(at) = at else { return 1 };
    let left = at.saturating_duration_since(now);
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    u32::try_from(secs).unwrap_or(u32::MAX).max(1)
}
