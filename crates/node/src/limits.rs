//! The node's side of admission control (`[limits]`): the `admission`
//! crate's tables, what each verdict costs on the wire, and its metrics.
//!
//! * A source banned for failed digests is not answered at all.
//! * New INVITEs and REGISTERs over a source's rate get a stateless `503`
//!   with `Retry-After`; a source that keeps going far over its rate (more
//!   than a burst refused in a row) is no longer answered, so a flood
//!   costs us no more than reading it and reflects nothing.
//! * The `407` challenge to an unauthenticated INVITE is sent statelessly,
//!   once, trimmed to the request's size (RFC 3261 §26.3.2.4): a spoofed
//!   source gets one packet and no transaction is held for it. Stateless
//!   final responses (that `407`, the `503`s) carry as To tag a keyed hash
//!   of the request's Call-ID, From tag and branch, so that their ACK is
//!   recognised and absorbed without any state.

use crate::auth::AuthOutcome;
use crate::config::LimitsConfig;
use admission::{Admission, CallLimitExceeded, Refusal};
use call::ids::CallNumber;
use sip_message::Message;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// `baton_auth_failures_total{reason}`: credentials refused. `wrong_password`
/// and `unknown_user` count toward bans; `bad_nonce`, `replay`,
/// `qop_missing`, `uri_mismatch`, `user_locked`, `malformed`, `realm`,
/// `algorithm` do not.
pub const AUTH_FAILURES: &str = "baton_auth_failures_total";
/// `baton_auth_banned_total{scope}`: bans started (`source`, `user`).
pub const AUTH_BANNED: &str = "baton_auth_banned_total";
/// `baton_admission_dropped_total{reason}`: requests dropped unanswered
/// (`banned`, `source_flood`).
pub const DROPPED: &str = "baton_admission_dropped_total";
/// `baton_admission_refused_total{reason}`: requests refused by a limit
/// (`source_rate`, `user_rate`, `caller_calls`, `callee_calls`,
/// `transactions`, `user_locked`).
pub const REFUSED: &str = "baton_admission_refused_total";
/// `baton_auth_oversize_challenges_total`: stateless `407`s still larger
/// than their (minimal) INVITE after trimming, sent anyway.
pub const OVERSIZE_CHALLENGES: &str = "baton_auth_oversize_challenges_total";
/// `baton_sip_stateless_acks_total`: ACKs to the node's stateless final
/// responses, absorbed.
pub const STATELESS_ACKS: &str = "baton_sip_stateless_acks_total";

/// Describes this module's metrics and exports the main ones at zero.
pub fn describe_metrics() {
    metrics::describe_counter!(AUTH_FAILURES, "Digest credentials refused, by reason");
    metrics::describe_counter!(AUTH_BANNED, "Bans for failed digests started, by scope");
    metrics::describe_counter!(DROPPED, "Requests dropped unanswered, by reason");
    metrics::describe_counter!(REFUSED, "Requests refused by a limit, by reason");
    metrics::describe_counter!(STATELESS_ACKS, "ACKs to stateless final responses");
    metrics::describe_counter!(
        OVERSIZE_CHALLENGES,
        "Stateless 407s larger than their INVITE even trimmed"
    );
    metrics::counter!(AUTH_BANNED, "scope" => "source").absolute(0);
    metrics::counter!(DROPPED, "reason" => "banned").absolute(0);
}

/// What digest plus admission concluded about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authn {
    /// Authenticated and admitted as this user.
    User(String),
    /// Challenge (again); `stale=true` when only the nonce was old.
    Challenge {
        /// Set `stale=true`.
        stale: bool,
    },
    /// `400` with this reason phrase (the digest uri is not the Request-URI).
    BadRequest(&'static str),
    /// The user is locked for failed digests and this source is not one it
    /// authenticated from: `403`.
    Locked,
}

/// The admission tables and the key of stateless To tags.
#[derive(Debug)]
pub struct Gate {
    admission: Admission<CallNumber>,
    tags: std::collections::hash_map::RandomState,
    max_transactions: usize,
}

impl Gate {
    /// Empty tables for `limits`.
    pub fn new(limits: &LimitsConfig) -> Self {
        Gate {
            admission: Admission::new(&limits.admission()),
            tags: std::collections::hash_map::RandomState::new(),
            max_transactions: limits.max_transactions,
        }
    }

    /// True when `source` is banned: drop its request unanswered (counted).
    pub fn banned(&self, now: Instant, source: IpAddr) -> bool {
        let banned = self.admission.check_source(now, source).is_err();
        if banned {
            metrics::counter!(DROPPED, "reason" => "banned").increment(1);
        }
        banned
    }

    /// A new INVITE or a REGISTER from `source`: `Ok`, `Err(Some(retry))`
    /// for a `503` with `Retry-After`, `Err(None)` to drop it (counted).
    pub fn source_rate(&mut self, now: Instant, source: IpAddr) -> Result<(), Option<Duration>> {
        match self.admission.check_source_rate(now, source) {
            Ok(()) => Ok(()),
            Err(Refusal::SourceRate { retry_after }) => {
                metrics::counter!(REFUSED, "reason" => "source_rate").increment(1);
                Err(Some(retry_after))
            }
            Err(_) => {
                metrics::counter!(DROPPED, "reason" => "source_flood").increment(1);
                Err(None)
            }
        }
    }

    /// Records what digest said about a request from `source`, counts it,
    /// and applies bans and locks.
    pub fn on_auth(&mut self, now: Instant, source: IpAddr, outcome: AuthOutcome) -> Authn {
        let guess = outcome.is_guess();
        match outcome {
            AuthOutcome::Authenticated(user) => {
                match self.admission.auth_succeeded(now, source, &user) {
                    Ok(()) => Authn::User(user),
                    Err(_) => {
                        metrics::counter!(AUTH_FAILURES, "reason" => "user_locked").increment(1);
                        metrics::counter!(REFUSED, "reason" => "user_locked").increment(1);
                        Authn::Locked
                    }
                }
            }
            AuthOutcome::BadRequest { reason } => {
                metrics::counter!(AUTH_FAILURES, "reason" => "uri_mismatch").increment(1);
                Authn::BadRequest(reason)
            }
            AuthOutcome::Challenge {
                stale,
                reason,
                user,
            } => {
                metrics::counter!("baton_auth_challenges_total", "reason" => reason).increment(1);
                if reason != "none" && reason != "stale" {
                    metrics::counter!(AUTH_FAILURES, "reason" => reason).increment(1);
                }
                if guess {
                    let started = self.admission.auth_failed(now, source, user.as_deref());
                    if let Some(ban) = started.source {
                        metrics::counter!(AUTH_BANNED, "scope" => "source").increment(1);
                        tracing::warn!(%source, secs = ban.as_secs(), "source banned for failed digests");
                    }
                    if let Some(ban) = started.user {
                        metrics::counter!(AUTH_BANNED, "scope" => "user").increment(1);
                        tracing::warn!(
                            user = user.as_deref().unwrap_or_default(),
                            secs = ban.as_secs(),
                            "user locked for failed digests"
                        );
                    }
                }
                Authn::Challenge { stale }
            }
        }
    }

    /// An authenticated new INVITE of `user`: `Err(retry_after)` over its
    /// rate (counted).
    pub fn user_rate(&mut self, now: Instant, user: &str) -> Result<(), Duration> {
        match self.admission.check_user_rate(now, user) {
            Ok(()) => Ok(()),
            Err(Refusal::UserRate { retry_after }) => {
                metrics::counter!(REFUSED, "reason" => "user_rate").increment(1);
                Err(retry_after)
            }
            Err(_) => Err(Duration::from_secs(1)),
        }
    }

    /// Whether a call from `caller` to `callee` may start: `Err(403)` when
    /// the caller has too many calls, `Err(486)` when the callee has.
    pub fn admit_call(&self, caller: &str, callee: &str) -> Result<(), u16> {
        match self.admission.admit_call(caller, callee) {
            Ok(()) => Ok(()),
            Err(Refusal::Calls(CallLimitExceeded::Callee { .. })) => {
                metrics::counter!(REFUSED, "reason" => "callee_calls").increment(1);
                Err(486)
            }
            Err(_) => {
                metrics::counter!(REFUSED, "reason" => "caller_calls").increment(1);
                Err(403)
            }
        }
    }

    /// A call started: it counts for both users until [`Gate::call_ended`].
    pub fn call_started(&mut self, call: CallNumber, caller: &str, callee: &str) {
        self.admission.call_started(call, caller, callee);
    }

    /// A call's actors stopped.
    pub fn call_ended(&mut self, call: CallNumber) {
        self.admission.call_ended(&call);
    }

    /// True when the core's transaction table is full (`live` of them): a
    /// new request (not a retransmission) gets a stateless `503`.
    pub fn transactions_full(&self, live: usize) -> bool {
        live >= self.max_transactions
    }

    /// Counts a request refused because the transaction table is full.
    pub fn count_transactions_refusal(&self) {
        metrics::counter!(REFUSED, "reason" => "transactions").increment(1);
    }

    /// The To tag of a stateless final response to `request`: the same for
    /// every retransmission of the request (RFC 3261 §8.2.6.2) and for its
    /// ACK, unguessable to others.
    pub fn stateless_tag(&self, request: &Message) -> String {
        let branch = request
            .top_via()
            .and_then(|v| v.branch().map(str::to_string))
            .unwrap_or_default();
        let key = (request.call_id(), request.from_tag(), branch);
        format!("{:016x}", self.tags.hash_one(key))
    }

    /// True when `ack` acknowledges one of our stateless final responses:
    /// absorb it (counted).
    pub fn is_stateless_ack(&self, ack: &Message) -> bool {
        let ours = ack
            .to_tag()
            .is_some_and(|tag| tag == self.stateless_tag(ack));
        if ours {
            metrics::counter!(STATELESS_ACKS).increment(1);
        }
        ours
    }

    /// Housekeeping: forgets idle entries.
    pub fn sweep(&mut self, now: Instant) {
        self.admission.sweep(now, Duration::from_secs(600));
    }
}
