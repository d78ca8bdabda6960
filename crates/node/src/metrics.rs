//! Prometheus exposition: the recorder, the metric names this node defines,
//! and the HTTP listener: `GET /metrics`, `/healthz` and `/readyz`
//! (anonymous) and the admin endpoints (`/calls`, …), which need the admin
//! token, or, with none configured, a loopback peer.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
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
    method.standard_name().unwrap_or("other")
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

/// `baton_http_connections_total{outcome}`: connections to the metrics
/// listener by how they ended: `closed` (by the client, or after a
/// response), `over_cap` (refused at once, `metrics.max_connections`
/// reached), `header_timeout` (no complete request head in
/// `metrics.header_timeout`, idle keep-alive included), `deadline`
/// (`metrics.connection_timeout` reached), `error`.
pub const HTTP_CONNECTIONS: &str = "baton_http_connections_total";
/// `baton_http_connections_active`: open connections to the metrics listener.
pub const HTTP_CONNECTIONS_ACTIVE: &str = "baton_http_connections_active";
/// `baton_http_admin_denied_total{reason}`: admin requests refused:
/// `not_loopback` (403, no token configured), `missing_token` or
/// `wrong_token` (401).
pub const HTTP_ADMIN_DENIED: &str = "baton_http_admin_denied_total";

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

/// A JSON view for an admin endpoint (the replicated call table for
/// `GET /calls`, …), rendered on each request.
pub type JsonView = Arc<dyn Fn() -> String + Send + Sync>;
/// Renders the replicated call table for `GET /calls`.
pub type CallsView = JsonView;
/// Readiness for `GET /readyz`: `Ok`, or the one-line reason it is not.
pub type ReadyCheck = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// What the listener serves.
pub struct Endpoints {
    /// `GET /metrics`.
    pub prometheus: PrometheusHandle,
    /// `GET /healthz` (liveness): false once the node is stopping.
    pub live: Arc<AtomicBool>,
    /// `GET /readyz`.
    pub ready: ReadyCheck,
    /// The admin endpoints, path and view (`/calls`, …): each needs admin
    /// access ([`admin_access`]). Adding one is adding a row.
    pub admin: Vec<(&'static str, JsonView)>,
}

impl std::fmt::Debug for Endpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let admin: Vec<&str> = self.admin.iter().map(|(p, _)| *p).collect();
        f.debug_struct("Endpoints")
            .field("admin", &admin)
            .finish_non_exhaustive()
    }
}

/// Limits of the listener (`[metrics]` keys) and the admin token.
#[derive(Debug, Clone)]
pub struct ListenerOptions {
    /// Connections served at once; one more is closed at once.
    pub max_connections: usize,
    /// How long a connection may take to send a request head, and may sit
    /// idle between requests.
    pub header_timeout: Duration,
    /// How long a connection may live at all.
    pub connection_timeout: Duration,
    /// The admin token (`[admin] token_file`), if configured.
    pub token: Option<AdminToken>,
}

/// The admin bearer token, read once at start. Never printed.
#[derive(Clone)]
pub struct AdminToken(Vec<u8>);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(…)")
    }
}

/// Why the admin token file cannot be used (a start error).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Missing or unreadable.
    #[error("admin.token_file {path}: cannot read: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Empty (or only white space), or not a token a client can send in a
    /// header (RFC 6750 `b64token` characters).
    #[error("admin.token_file {path}: {why}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: &'static str,
    },
}

impl AdminToken {
    /// Reads the token from `path`: its content without surrounding white
    /// space (a trailing newline is usual).
    pub fn read(path: &Path) -> Result<AdminToken, TokenError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
        AdminToken::parse(&text).map_err(|why| TokenError::Invalid {
            path: path.to_path_buf(),
            why,
        })
    }

    fn parse(text: &str) -> Result<AdminToken, &'static str> {
        let token = text.trim();
        if token.is_empty() {
            return Err("the file is empty");
        }
        // RFC 6750 §2.1 b64token.
        let ok = token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b));
        if !ok {
            return Err("the token must be one line of letters, digits and -._~+/=");
        }
        Ok(AdminToken(token.as_bytes().to_vec()))
    }
}

/// The answer to a request for an admin endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAccess {
    /// Served.
    Granted,
    /// `403`: no token is configured and the peer is not on loopback.
    NotLoopback,
    /// `401`: a token is configured and the request carries none.
    MissingToken,
    /// `401`: a token is configured and the request carries another.
    WrongToken,
}

impl AdminAccess {
    fn label(self) -> &'static str {
        match self {
            AdminAccess::Granted => "granted",
            AdminAccess::NotLoopback => "not_loopback",
            AdminAccess::MissingToken => "missing_token",
            AdminAccess::WrongToken => "wrong_token",
        }
    }
}

/// Who may use an admin endpoint. With a token configured, every request
/// must carry it (`Authorization: Bearer <token>`, compared in constant
/// time), from loopback too; without one, only loopback peers are served
/// (127.0.0.0/8, ::1, and IPv4 loopback mapped into IPv6, as a dual-stack
/// listener reports it).
pub fn admin_access(
    peer: IpAddr,
    token: Option<&AdminToken>,
    authorization: Option<&[u8]>,
) -> AdminAccess {
    let Some(expected) = token else {
        return if peer.to_canonical().is_loopback() {
            AdminAccess::Granted
        } else {
            AdminAccess::NotLoopback
        };
    };
    let Some(given) = authorization.and_then(bearer) else {
        return AdminAccess::MissingToken;
    };
    if bool::from(given.ct_eq(&expected.0)) {
        AdminAccess::Granted
    } else {
        AdminAccess::WrongToken
    }
}

/// The token of an `Authorization: Bearer <token>` value (RFC 6750 §2.1;
/// the scheme is case-insensitive, RFC 9110 §11.1).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let value = value.trim_ascii();
    let space = value.iter().position(|b| *b == b' ')?;
    let (scheme, rest) = value.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

fn describe_listener_metrics() {
    metrics::describe_counter!(
        HTTP_CONNECTIONS,
        "Metrics listener connections by how they ended"
    );
    metrics::describe_gauge!(
        HTTP_CONNECTIONS_ACTIVE,
        "Open connections to the metrics listener"
    );
    metrics::describe_counter!(HTTP_ADMIN_DENIED, "Admin requests refused, by reason");
    for outcome in ["over_cap", "header_timeout", "deadline"] {
        metrics::counter!(HTTP_CONNECTIONS, "outcome" => outcome).absolute(0);
    }
    metrics::gauge!(HTTP_CONNECTIONS_ACTIVE).set(0.0);
}

/// Serves `/metrics`, `/healthz`, `/readyz` and the admin endpoints.
/// Returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    endpoints: Endpoints,
    options: ListenerOptions,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    describe_listener_metrics();
    let upkeep = endpoints.prometheus.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    let endpoints = Arc::new(endpoints);
    let token = Arc::new(options.token);
    let permits = Arc::new(tokio::sync::Semaphore::new(options.max_connections.max(1)));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(options.header_timeout)
        .max_buf_size(16 * 1024);
    let connection_timeout = options.connection_timeout;
    let task = tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, say: wait rather than spin.
                    tracing::debug!(error = %e, "metrics listener accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            // Over the cap the connection is closed at once: a scraper
            // retries, and a client that holds connections open cannot
            // starve the node of descriptors or memory.
            let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                metrics::counter!(HTTP_CONNECTIONS, "outcome" => "over_cap").increment(1);
                drop(stream);
                continue;
            };
            let endpoints = Arc::clone(&endpoints);
            let token = Arc::clone(&token);
            let builder = builder.clone();
            tokio::spawn(async move {
                let _permit = permit;
                metrics::gauge!(HTTP_CONNECTIONS_ACTIVE).increment(1.0);
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let response = route(&req, peer.ip(), &endpoints, token.as_ref().as_ref());
                        async move { Ok::<_, std::convert::Infallible>(response) }
                    });
                let io = hyper_util::rt::TokioIo::new(stream);
                let outcome = match tokio::time::timeout(
                    connection_timeout,
                    builder.serve_connection(io, service),
                )
                .await
                {
                    Err(_) => "deadline",
                    Ok(Ok(())) => "closed",
                    Ok(Err(e)) if e.is_timeout() => "header_timeout",
                    Ok(Err(e)) if e.is_incomplete_message() || e.is_closed() => "closed",
                    Ok(Err(_)) => "error",
                };
                metrics::counter!(HTTP_CONNECTIONS, "outcome" => outcome).increment(1);
                metrics::gauge!(HTTP_CONNECTIONS_ACTIVE).decrement(1.0);
            });
        }
    });
    Ok((local, task))
}

fn route<B>(
    req: &Request<B>,
    peer: IpAddr,
    endpoints: &Endpoints,
    token: Option<&AdminToken>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    let admin = endpoints.admin.iter().find(|(p, _)| *p == path);
    let known = admin.is_some() || matches!(path, "/metrics" | "/healthz" | "/readyz");
    if !known {
        return text(StatusCode::NOT_FOUND, "not found\n");
    }
    if req.method() != hyper::Method::GET {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
        response.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static("GET"),
        );
        return response;
    }
    if let Some((_, view)) = admin {
        let authorization = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        let access = admin_access(peer, token, authorization);
        return match access {
            AdminAccess::Granted => respond(StatusCode::OK, "application/json", view()),
            AdminAccess::NotLoopback => {
                metrics::counter!(HTTP_ADMIN_DENIED, "reason" => access.label()).increment(1);
                text(
                    StatusCode::FORBIDDEN,
                    "admin endpoints answer only on loopback unless [admin] token_file is set\n",
                )
            }
            AdminAccess::MissingToken | AdminAccess::WrongToken => {
                metrics::counter!(HTTP_ADMIN_DENIED, "reason" => access.label()).increment(1);
                let mut response = text(StatusCode::UNAUTHORIZED, "admin token required\n");
                response.headers_mut().insert(
                    hyper::header::WWW_AUTHENTICATE,
                    hyper::header::HeaderValue::from_static("Bearer realm=\"baton\""),
                );
                response
            }
        };
    }
    match path {
        "/metrics" => respond(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            endpoints.prometheus.render(),
        ),
        "/healthz" if endpoints.live.load(Ordering::Relaxed) => text(StatusCode::OK, "ok\n"),
        "/healthz" => text(StatusCode::SERVICE_UNAVAILABLE, "stopping\n"),
        _ => match (endpoints.ready)() {
            Ok(()) => text(StatusCode::OK, "ready\n"),
            // One line: the reason, never multi-line.
            Err(reason) => respond(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                format!("not ready: {}\n", reason.replace(['\r', '\n'], " ")),
            ),
        },
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    respond(status, "text/plain", body.to_string())
}

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(t: &str) -> AdminToken {
        AdminToken::parse(t).expect("token")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn without_a_token_only_loopback_peers_are_served() {
        for peer in ["127.0.0.1", "127.3.2.1", "::1", "::ffff:127.0.0.1"] {
            assert_eq!(
                admin_access(ip(peer), None, None),
                AdminAccess::Granted,
                "{peer}"
            );
        }
        for peer in [
            "10.0.0.1",
            "192.0.2.7",
            "::ffff:10.0.0.1",
            "2001:db8::1",
            "0.0.0.0",
        ] {
            assert_eq!(
                admin_access(ip(peer), None, Some(b"Bearer anything")),
                AdminAccess::NotLoopback,
                "{peer}"
            );
        }
    }

    #[test]
    fn with_a_token_every_peer_needs_it() {
        let t = token("s3cret-Token_1\n");
        for peer in ["127.0.0.1", "10.0.0.1", "::1", "::ffff:127.0.0.1"] {
            let peer = ip(peer);
            assert_eq!(
                admin_access(peer, Some(&t), Some(b"Bearer s3cret-Token_1")),
                AdminAccess::Granted
            );
            assert_eq!(
                admin_access(peer, Some(&t), Some(b"bearer   s3cret-Token_1 ")),
                AdminAccess::Granted,
                "the scheme is case-insensitive"
            );
            assert_eq!(
                admin_access(peer, Some(&t), None),
                AdminAccess::MissingToken
            );
            assert_eq!(
                admin_access(peer, Some(&t), Some(b"Basic czNjcmV0")),
                AdminAccess::MissingToken
            );
            assert_eq!(
                admin_access(peer, Some(&t), Some(b"Bearer")),
                AdminAccess::MissingToken
            );
            assert_eq!(
                admin_access(peer, Some(&t), Some(b"Bearer s3cret-Token_2")),
                AdminAccess::WrongToken
            );
            assert_eq!(
                admin_access(peer, Some(&t), Some(b"Bearer s3cret")),
                AdminAccess::WrongToken,
                "a prefix is not the token"
            );
        }
    }

    #[test]
    fn token_files_must_hold_one_token() {
        assert!(AdminToken::parse("").is_err());
        assert!(AdminToken::parse(" \n\t").is_err());
        assert!(AdminToken::parse("two words").is_err());
        assert!(AdminToken::parse("abc\r\ndef").is_err());
        assert_eq!(token("  abc=\n").0, b"abc=");
        let missing = AdminToken::read(Path::new("/nonexistent/baton/admin.token"))
            .expect_err("missing file");
        assert!(
            missing
                .to_string()
                .contains("/nonexistent/baton/admin.token"),
            "{missing}"
        );
        assert!(
            !format!("{:?}", token("abc")).contains("abc"),
            "never printed"
        );
    }
}
