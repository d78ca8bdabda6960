//! The metrics calls define (Prometheus names, prefix `baton_`).

/// `baton_calls_active`
pub const CALLS_ACTIVE: &str = "baton_calls_active";
/// `baton_calls_total{result}`
pub const CALLS_TOTAL: &str = "baton_calls_total";
/// `baton_call_setup_seconds`: the caller's INVITE to its 200.
pub const CALL_SETUP_SECONDS: &str = "baton_call_setup_seconds";
/// `baton_calls_media_timeout_total`: calls ended because media stopped.
pub const CALLS_MEDIA_TIMEOUT: &str = "baton_calls_media_timeout_total";

/// `baton_calls_session_expired_total`: calls ended because a session
/// timer (RFC 4028) ran out.
pub const CALLS_SESSION_EXPIRED: &str = "baton_calls_session_expired_total";

/// Describes the metrics above (call once, after the recorder is installed).
pub fn describe() {
    metrics::describe_gauge!(CALLS_ACTIVE, "Calls in progress");
    metrics::describe_counter!(CALLS_TOTAL, "Calls by how they ended");
    metrics::describe_histogram!(
        CALL_SETUP_SECONDS,
        metrics::Unit::Seconds,
        "From the caller's INVITE to its 200 OK"
    );
    metrics::describe_counter!(
        CALLS_MEDIA_TIMEOUT,
        "Calls ended because their media went silent"
    );
    metrics::gauge!(CALLS_ACTIVE).set(0.0);
}
