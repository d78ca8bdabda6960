//! Prometheus exposition: the recorder, the metric names this node defines,
//! and the HTTP listener for `GET /metrics` and `GET /healthz`.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// `baton_sip_messages_total{direction,method,status}`
pub const SIP_MESSAGES: &str = "baton_sip_messages_total";
/// `baton_sip_parse_errors_total{transport,reason}`
pub const SIP_PARSE_ERRORS: &str = "baton_sip_parse_errors_total";
/// `baton_sip_transactions_active`
pub const SIP_TRANSACTIONS_ACTIVE: &str = "baton_sip_transactions_active";
/// `baton_sip_stray_total{kind}`: responses and ACKs matching no transaction.
pub const SIP_STRAY: &str = "baton_sip_stray_total";
/// `baton_sdp_rejected_total`: offers refused (malformed, hostile addresses,
/// no usable audio stream).
pub const SDP_REJECTED: &str = "baton_sdp_rejected_total";
/// `baton_registrations_active`: live bindings.
pub const REGISTRATIONS_ACTIVE: &str = "baton_registrations_active";
/// `baton_registrations_total{result}`: REGISTERs after authentication, by
/// outcome (`ok`, `hijack`, `contact_storm`, `too_brief`, `refused`).
pub const REGISTRATIONS: &str = "baton_registrations_total";
/// `baton_sip_request_seconds{method}`: from a new request's arrival in the
/// core to its response being handed to the transaction layer.
pub const SIP_REQUEST_SECONDS: &str = "baton_sip_request_seconds";

/// Latency buckets, in seconds, shared by every `_seconds` histogram: set
/// explicitly so that exposition is a histogram, never a summary.
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Installs the global recorder and describes this node's metrics.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)?
        .install_recorder()?;
    metrics::describe_counter!(
        SIP_MESSAGES,
        "SIP messages by direction (in/out), method and status"
    );
    metrics::describe_counter!(
        SIP_PARSE_ERRORS,
        "Messages that could not be framed or parsed"
    );
    metrics::describe_gauge!(SIP_TRANSACTIONS_ACTIVE, "SIP transactions in progress");
    metrics::describe_counter!(SIP_STRAY, "Responses and ACKs that matched no transaction");
    metrics::describe_histogram!(
        SIP_REQUEST_SECONDS,
        metrics::Unit::Seconds,
        "Time the UAS core takes to answer a new request"
    );
    metrics::describe_gauge!(REGISTRATIONS_ACTIVE, "Live registrar bindings");
    metrics::describe_counter!(
        crate::dialog_events::SUBSCRIPTIONS,
        "SUBSCRIBE requests by result"
    );
    metrics::describe_gauge!(
        crate::dialog_events::SUBSCRIPTIONS_ACTIVE,
        "Live dialog-event subscriptions"
    );
    metrics::describe_counter!(SDP_REJECTED, "SDP offers refused with 488");
    metrics::counter!(SDP_REJECTED).absolute(0);
    metrics::describe_counter!(REGISTRATIONS, "Authenticated REGISTERs by outcome");
    metrics::gauge!(REGISTRATIONS_ACTIVE).set(0.0);
    // Touch the counters so they are exported from the start (at zero).
    metrics::counter!(SIP_PARSE_ERRORS, "transport" => "udp", "reason" => "syntax").absolute(0);
    Ok(handle)
}

/// A label value for a method: extension methods collapse to `other`, so a
/// hostile peer cannot mint label values.
pub fn method_label(method: &sip_message::Method) -> &'static str {
    use sip_message::Method;
    match method {
        Method::Standard(m) => match m {
            rsip::Method::Ack => "ACK",
            rsip::Method::Bye => "BYE",
            rsip::Method::Cancel => "CANCEL",
            rsip::Method::Info => "INFO",
            rsip::Method::Invite => "INVITE",
            rsip::Method::Message => "MESSAGE",
            rsip::Method::Notify => "NOTIFY",
            rsip::Method::Options => "OPTIONS",
            rsip::Method::PRack => "PRACK",
            rsip::Method::Publish => "PUBLISH",
            rsip::Method::Refer => "REFER",
            rsip::Method::Register => "REGISTER",
            rsip::Method::Subscribe => "SUBSCRIBE",
            rsip::Method::Update => "UPDATE",
        },
        Method::Extension(_) => "other",
    }
}

/// Counts one SIP message.
pub fn count_message(direction: &'static str, message: &sip_message::Message) {
    let method = match (message.method(), message.cseq()) {
        (Some(m), _) => method_label(m),
        (None, Some(c)) => method_label(&c.method),
        (None, None) => "other",
    };
    let status = message.status().map_or(String::new(), status_label);
    metrics::counter!(SIP_MESSAGES, "direction" => direction, "method" => method, "status" => status)
        .increment(1);
}

/// A label value for a status code: a code in the IANA registry of SIP
/// response codes as itself, any other as `other`, so that a peer's stray
/// responses cannot mint series.
pub fn status_label(code: u16) -> String {
    /// The IANA "Response Codes" registry of SIP parameters.
    const REGISTERED: &[u16] = &[
        100, 180, 181, 182, 183, 199, 200, 202, 204, 300, 301, 302, 305, 380, 400, 401, 402, 403,
        404, 405, 406, 407, 408, 410, 412, 413, 414, 415, 416, 417, 420, 421, 422, 423, 424, 425,
        428, 429, 430, 433, 436, 437, 438, 439, 440, 469, 470, 480, 481, 482, 483, 484, 485, 486,
        487, 488, 489, 491, 493, 494, 500, 501, 502, 503, 504, 505, 513, 555, 580, 600, 603, 604,
        606, 607, 608,
    ];
    if REGISTERED.binary_search(&code).is_ok() {
        code.to_string()
    } else {
        "other".to_string()
    }
}

/// Renders the replicated call table for `GET /calls`.
pub type CallsView = Arc<dyn Fn() -> String + Send + Sync>;

/// Serves `/metrics`, `/healthz` and `/calls`. Returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    handle: PrometheusHandle,
    healthy: Arc<AtomicBool>,
    calls: CallsView,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let handle = handle.clone();
            let healthy = healthy.clone();
            let calls = calls.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let response = route(&req, &handle, &healthy, &calls);
                        async move { Ok::<_, std::convert::Infallible>(response) }
                    });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    Ok((local, task))
}

fn route<B>(
    req: &Request<B>,
    handle: &PrometheusHandle,
    healthy: &AtomicBool,
    calls: &CallsView,
) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (req.method(), req.uri().path()) {
        (&hyper::Method::GET, "/calls") => (StatusCode::OK, "application/json", calls()),
        (&hyper::Method::GET, "/metrics") => {
            (StatusCode::OK, "text/plain; version=0.0.4", handle.render())
        }
        (&hyper::Method::GET, "/healthz") if healthy.load(Ordering::Relaxed) => {
            (StatusCode::OK, "text/plain", "ok\n".to_string())
        }
        (&hyper::Method::GET, "/healthz") => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "stopping\n".to_string(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_string(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, v);
    }
    response
}
