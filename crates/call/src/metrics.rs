//! The metrics calls define (Prometheus names, prefix `baton_`).

/// `baton_calls_active`
pub const CALLS_ACTIVE: &str = "baton_calls_active";
/// `baton_call_legs_active`: leg actors alive (SIP dialogs of calls,
/// including legs that finished and still absorb retransmissions).
pub const CALL_LEGS_ACTIVE: &str = "baton_call_legs_active";
/// `baton_calls_total{result}`
pub const CALLS_TOTAL: &str = "baton_calls_total";
/// `baton_call_setup_seconds`: the caller's INVITE to its 200.
pub const CALL_SETUP_SECONDS: &str = "baton_call_setup_seconds";
/// `baton_calls_media_timeout_total`: calls ended because media stopped.
pub const CALLS_MEDIA_TIMEOUT: &str = "baton_calls_media_timeout_total";

/// `baton_calls_session_expired_total`: calls ended because a session
/// timer (RFC 4028) ran out.
pub const CALLS_SESSION_EXPIRED: &str = "baton_calls_session_expired_total";

/// `baton_handovers_total{result}`: handover attempts by how they ended
/// (granted, granted_monitor, denied, timeout, cancelled, rejected,
/// rate_limited, call_ended, rolled_back, failed).
pub const HANDOVERS_TOTAL: &str = "baton_handovers_total";
/// `baton_handover_authorization_seconds`: A asked → A decided (or the
/// window closed, or the question was withdrawn).
pub const HANDOVER_AUTHORIZATION_SECONDS: &str = "baton_handover_authorization_seconds";
/// `baton_handover_swap_seconds`: grant committed → B's first packet sent
/// to R.
pub const HANDOVER_SWAP_SECONDS: &str = "baton_handover_swap_seconds";
/// `baton_handover_pull_seconds`: the call taking B's INVITE → B's `200`
/// handed to its leg, minus A's decision time (the node's share of a
/// pull's latency).
pub const HANDOVER_PULL_SECONDS: &str = "baton_handover_pull_seconds";
/// `baton_handover_rtp_gap_seconds`: R's last packet from A → its first
/// from B, at each swap.
pub const HANDOVER_RTP_GAP_SECONDS: &str = "baton_handover_rtp_gap_seconds";
/// `baton_handover_rtp_missed_packets_total`: packetization intervals R
/// got nothing in around swaps.
pub const HANDOVER_RTP_MISSED: &str = "baton_handover_rtp_missed_packets_total";
/// `baton_handover_log_failures_total`: handover steps the log did not
/// commit (nothing moved on them).
pub const HANDOVER_LOG_FAILURES: &str = "baton_handover_log_failures_total";
/// `baton_handover_sdp_rejected_total`: switch requests refused `488`.
pub const SDP_REJECTED_HANDOVER: &str = "baton_handover_sdp_rejected_total";

/// `baton_sip_flow_mismatch_total{method}`: in-dialog requests refused
/// because they came from another flow than the device's (issue 8).
pub const SIP_FLOW_MISMATCH: &str = "baton_sip_flow_mismatch_total";
/// `baton_handover_forged_decisions_total`: decision-shaped requests
/// (a DTMF or JSON INFO) from a flow other than the asked device's, and
/// JSON decisions naming an attempt id that was never sent.
pub const HANDOVER_FORGED_DECISIONS: &str = "baton_handover_forged_decisions_total";

/// Describes the metrics above (call once, after the recorder is installed).
pub fn describe() {
    metrics::describe_gauge!(CALLS_ACTIVE, "Calls in progress");
    metrics::describe_gauge!(
        CALL_LEGS_ACTIVE,
        "Leg actors alive, lingering ones included"
    );
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
    metrics::describe_counter!(HANDOVERS_TOTAL, "Handover attempts by result");
    metrics::describe_histogram!(
        HANDOVER_AUTHORIZATION_SECONDS,
        metrics::Unit::Seconds,
        "From asking the original device to its decision"
    );
    metrics::describe_histogram!(
        HANDOVER_SWAP_SECONDS,
        metrics::Unit::Seconds,
        "From the committed grant to the new device's first packet at the remote party"
    );
    metrics::describe_histogram!(
        HANDOVER_PULL_SECONDS,
        metrics::Unit::Seconds,
        "From the new device's INVITE to its 200 OK, minus the original device's decision time"
    );
    metrics::describe_histogram!(
        HANDOVER_RTP_GAP_SECONDS,
        metrics::Unit::Seconds,
        "Silence the remote party heard at a swap"
    );
    metrics::describe_counter!(
        HANDOVER_RTP_MISSED,
        "Packet intervals the remote party missed around swaps"
    );
    metrics::describe_counter!(
        SIP_FLOW_MISMATCH,
        "In-dialog requests refused for coming from another flow than the device's"
    );
    metrics::describe_counter!(
        HANDOVER_FORGED_DECISIONS,
        "Handover decisions refused as forged (wrong flow or unknown attempt id)"
    );
    metrics::counter!(HANDOVER_FORGED_DECISIONS).increment(0);
    for result in [
        "granted",
        "granted_monitor",
        "denied",
        "timeout",
        "cancelled",
        "rejected",
        "rate_limited",
    ] {
        metrics::counter!(HANDOVERS_TOTAL, "result" => result).increment(0);
    }
    metrics::gauge!(CALLS_ACTIVE).set(0.0);
    metrics::gauge!(CALL_LEGS_ACTIVE).set(0.0);
}
