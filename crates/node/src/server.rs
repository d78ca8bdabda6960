//! The node's SIP service at this stage: the transport, the transaction
//! layer, and a UAS core that answers what it can serve (OPTIONS), refuses
//! the rest with the right status, and counts everything.
//!
//! One task pumps the sans-IO transaction layer (quinn's run-loop shape):
//! feed one input, drain transmits and events, sleep until the next
//! deadline.

use crate::auth::Authenticator;
use crate::config::Config;
use crate::limits::Authn;
use crate::metrics as m;
use crate::uas_checks::{self, Refusal};
use anyhow::Context as _;
use bytes::Bytes;
use sip_message::{HeaderName, Message, Method, ParseError, ResponseBuilder};
use sip_proto::{Event, RequestOutcome, ResponseOutcome, TransactionLayer};
use sip_transport::{
    Target, Transport, TransportConfig, TransportEvent, TransportHandle, TransportKind,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// How long ended calls stay in the replicated table.
const ENDED_CALLS_KEPT: std::time::Duration = std::time::Duration::from_secs(60);

/// `Server` header value.
const SERVER: &str = concat!("Baton/", env!("CARGO_PKG_VERSION"));

/// Runs the node until SIGTERM or SIGINT.
pub async fn run(config: Config) -> anyhow::Result<()> {
    // Read before anything starts: a token file that cannot be used is a
    // start error, never a silently open admin surface.
    let admin_token = match &config.admin.token_file {
        Some(path) => Some(m::AdminToken::read(path)?),
        None => None,
    };
    let prometheus = m::install().context("installing the metrics recorder")?;
    sip_transport::describe_metrics();
    media_relay::describe_metrics();
    call::metrics::describe();
    raft::metrics::describe_metrics();
    crate::limits::describe_metrics();
    // The replicated call log: a one-node cluster by default. A restarted
    // node finds its calls here again.
    let cluster = Arc::new(
        raft::ClusterNode::open(
            raft::NodeId(config.cluster.node_id),
            &config.cluster.data_dir,
            raft::OneNode,
        )
        .await
        .with_context(|| {
            format!(
                "opening the call log in {}",
                config.cluster.data_dir.display()
            )
        })?,
    );
    let recovered = cluster.read(|t| t.calls_owned_by(cluster.id()).count());
    if recovered > 0 {
        tracing::warn!(
            calls = recovered,
            "calls of a previous run are in the log (their media is not recovered yet)"
        );
    }
    metrics::gauge!("baton_calls_recovered").set(recovered as f64);
    let calls_view: m::CallsView = {
        let cluster = cluster.clone();
        Arc::new(move || crate::call_log::active_calls_json(&cluster))
    };
    let raft_log = Arc::new(crate::call_log::RaftCallLog::start(cluster.clone()));
    let healthy = Arc::new(AtomicBool::new(true));
    // Ready: the log takes writes, the cluster has a leader, and the node
    // is not stopping.
    let ready: m::ReadyCheck = {
        let gate = raft_log.gate();
        let healthy = healthy.clone();
        let cluster = cluster.clone();
        Arc::new(move || {
            if !healthy.load(Ordering::Relaxed) {
                return Err("draining".into());
            }
            gate.admit().map_err(|e| e.to_string())?;
            if !cluster.has_leader() {
                return Err("the cluster has no leader".into());
            }
            Ok(())
        })
    };
    let endpoints = m::Endpoints {
        prometheus,
        live: healthy.clone(),
        ready,
        admin: vec![("/calls", calls_view)],
    };
    let listener_options = m::ListenerOptions {
        max_connections: config.metrics.max_connections,
        header_timeout: config.metrics.header_timeout,
        connection_timeout: config.metrics.connection_timeout,
        token: admin_token,
    };
    let (metrics_addr, _metrics_task) =
        m::serve(config.metrics.listen, endpoints, listener_options)
            .await
            .with_context(|| format!("metrics listener {}", config.metrics.listen))?;

    let mut transport_config =
        TransportConfig::new(config.sip.listen.iter().map(|l| l.0).collect());
    transport_config.force_rport = config.sip.force_rport;
    transport_config.tcp_body_timeout = config.sip.tcp_body_timeout;
    transport_config.tcp_idle_timeout = config.sip.tcp_idle_timeout;
    transport_config.max_tcp_connections_per_ip = config.limits.tcp_connections_per_source;
    let (transport, mut events) = Transport::start(transport_config)
        .await
        .context("SIP listeners")?;

    // Handlers first: a SIGTERM right after `ready` must stop us cleanly.
    let mut terminate = signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut interrupt = signal(tokio::signal::unix::SignalKind::interrupt())?;
    // Scripts and tests read these lines to learn the bound ports.
    for spec in transport.local_addrs() {
        println!(
            "listening sip {}:{}",
            spec.kind.as_str().to_ascii_lowercase(),
            spec.addr
        );
    }
    println!("listening metrics {metrics_addr}");
    println!("ready");
    tracing::info!(
        domain = %config.sip.domain.0,
        users = config.users.len(),
        media = %format!("{} ports {}-{}", config.media.address, config.media.ports.first, config.media.ports.last),
        node_id = config.cluster.node_id,
        data_dir = %config.cluster.data_dir.display(),
        "baton is ready"
    );

    let relay_config = media_relay::RelayConfig::new(
        config.media.address,
        media_relay::PortRange::new(config.media.ports.first, config.media.ports.last)
            .context("media.ports")?,
    );
    let relay = Arc::new(media_relay::Relay::start(relay_config).context("media relay")?);
    let ctx = call::SignallingContext {
        transport: transport.clone(),
        udp: transport
            .local_addr(sip_transport::TransportKind::Udp)
            .context("a UDP SIP listener is required")?,
        tcp: transport.local_addr(sip_transport::TransportKind::Tcp),
        session_expires: config.sip.session_expires,
        min_se: config.sip.min_se,
    };
    let (notices_tx, mut notices) = tokio::sync::mpsc::unbounded_channel();
    let log: Arc<dyn call::log::CallLog> = raft_log.clone();
    let mut calls = crate::calls::Calls::new(ctx, relay, config.media.address, notices_tx, log);
    calls.set_media_policy(
        config.media.strict_latching,
        config.media.inactivity_timeout,
    );
    calls.set_handover_policy(call::HandoverPolicy {
        authorization_timeout: config.handover.authorization_timeout,
        monitor_allowed: config.handover.monitor_allowed,
        ..call::HandoverPolicy::default()
    });
    calls.set_pull_limits(crate::pull_limits::PullLimits {
        per_call: config.handover.max_pulls_per_call,
        per_user: config.handover.max_pulls_per_user,
        backoff: config.handover.pull_backoff,
        backoff_max: config.handover.pull_backoff_max,
    });
    let mut core = SipCore::new(&config, transport.clone(), calls);
    core.log_gate = Some(raft_log.gate());
    let mut housekeeping = tokio::time::interval(std::time::Duration::from_secs(1));
    let mut last_purge = std::time::Instant::now();
    // SIGTERM/SIGINT: stop taking calls, end the ones up (BYE both sides),
    // keep pumping signalling until they are gone or the grace runs out.
    let mut draining: Option<tokio::time::Instant> = None;
    loop {
        if let Some(until) = draining {
            if core.calls.is_empty() || tokio::time::Instant::now() >= until {
                break;
            }
        }
        let grace_over = async {
            match draining {
                Some(until) => tokio::time::sleep_until(until).await,
                None => std::future::pending().await,
            }
        };
        let deadline = core.layer.poll_timeout();
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => core.handle_transport_event(event).await,
                None => break,
            },
            () = sleep => core.handle_timeout().await,
            _ = housekeeping.tick() => {
                core.expire_registrations();
                core.expire_subscriptions().await;
                core.gate.sweep(Instant::now());
                // Ended calls stay in the replicated table as tombstones
                // (a retried command cannot revive them); past a minute
                // they are purged, or the table would grow without bound.
                if last_purge.elapsed() >= ENDED_CALLS_KEPT {
                    last_purge = std::time::Instant::now();
                    raft_log.purge_ended(ENDED_CALLS_KEPT);
                }
            }
            Some(notice) = notices.recv() => match notice {
                call::CallNotice::Gone(number) => {
                    core.gate.call_ended(number);
                    core.calls.forget(number);
                }
                call::CallNotice::LegGone { call, leg } => core.calls.leg_gone(call, leg),
                call::CallNotice::PullEnded { call, outcome } => {
                    core.calls.pull_ended(Instant::now(), call, outcome)
                }
                call::CallNotice::Dialog(dialog) => core.on_dialog(&dialog).await,
            },
            _ = terminate.recv(), if draining.is_none() => {
                draining = Some(core.start_draining(&healthy));
            }
            _ = interrupt.recv(), if draining.is_none() => {
                draining = Some(core.start_draining(&healthy));
            }
            () = grace_over => {}
        }
    }
    if !core.calls.is_empty() {
        tracing::warn!(
            calls = core.calls.len(),
            "calls still up at the end of the grace period"
        );
    }
    transport.shutdown().await;
    if !raft_log.flush(std::time::Duration::from_secs(2)).await {
        tracing::warn!("some call-state commands were not written before shutdown");
    }
    if let Err(e) = cluster.shutdown().await {
        tracing::warn!(error = %e, "the call log did not close cleanly");
    }
    Ok(())
}

fn signal(kind: tokio::signal::unix::SignalKind) -> anyhow::Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(kind).context("installing a signal handler")
}

/// The UAS core and its transaction layer.
struct SipCore {
    layer: TransactionLayer,
    calls: crate::calls::Calls,
    /// The answer `plan_call` chose for the INVITE being fed to the layer.
    precomputed: Option<Message>,
    /// Shutting down: new calls get 503.
    draining: bool,
    /// RFC 4028 minimum session interval.
    min_se: std::time::Duration,
    registrar: registrar::Registrar,
    domain: String,
    transport: TransportHandle,
    auth: Authenticator,
    force_rport: bool,
    /// The user part a device dials to pull a call (`*11`).
    feature_code: String,
    /// The dialog event package (RFC 4235): subscriptions to users' calls.
    dialog_events: crate::dialog_events::DialogEvents,
    /// NOTIFYs waiting to go through the transaction layer.
    notifies: Vec<crate::dialog_events::Outgoing>,
    /// Where the request being handled came from: the packet's source
    /// (transport address, TCP connection), never its Via, which anyone
    /// can write. Bans key on its address; a REGISTER moves its device's
    /// dialogs to it; in-dialog requests count only from their device's.
    request_source: Option<sip_proto::Flow>,
    /// Whether the call log takes new work (fail closed: new calls and
    /// pulls get `503` while it cannot commit or falls behind).
    log_gate: Option<crate::call_log::LogGate>,
    /// Admission control (`[limits]`).
    gate: crate::limits::Gate,
}

impl SipCore {
    fn new(config: &Config, transport: TransportHandle, calls: crate::calls::Calls) -> Self {
        let dialog_events = crate::dialog_events::DialogEvents::new(
            &config.sip.domain.0,
            transport
                .local_addr(sip_transport::TransportKind::Udp)
                .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 5060))),
            transport.local_addr(sip_transport::TransportKind::Tcp),
            dialog_event::Limits::default(),
        );
        SipCore {
            layer: TransactionLayer::new(sip_proto::Config::default()),
            calls,
            precomputed: None,
            draining: false,
            min_se: config.sip.min_se,
            registrar: registrar::Registrar::new(registrar::RegistrarConfig::default()),
            domain: config.sip.domain.0.clone(),
            transport,
            auth: Authenticator::new(&config.sip.domain.0, &config.users, &config.sip.digest),
            force_rport: config.sip.force_rport,
            feature_code: config.handover.feature_code.clone(),
            dialog_events,
            notifies: Vec::new(),
            request_source: None,
            log_gate: None,
            gate: crate::limits::Gate::new(&config.limits),
        }
    }

    async fn handle_transport_event(&mut self, event: TransportEvent) {
        let now = Instant::now();
        match event {
            TransportEvent::Message { message, flow } => {
                m::count_message("in", &message);
                if message.is_request() {
                    if self.gate.banned(now, flow.remote.ip()) {
                        return;
                    }
                    let source_flow = to_proto_flow(&flow.reply_target());
                    self.request_source = Some(source_flow);
                    let Some(reply_to) = message.top_via().and_then(|via| {
                        sip_transport::response_target(&via, &flow, self.force_rport)
                    }) else {
                        metrics::counter!(m::SIP_STRAY, "kind" => "unroutable").increment(1);
                        return;
                    };
                    let reply_flow = to_proto_flow(&reply_to);
                    let is_ack = message.method() == Some(&Method::ACK);
                    if is_ack && self.gate.is_stateless_ack(&message) {
                        return;
                    }
                    if let Some(route) = self.calls.route_request(&message) {
                        self.calls.deliver(route, message, reply_flow, source_flow);
                        return;
                    }
                    let new_invite =
                        message.method() == Some(&Method::INVITE) && message.to_tag().is_none();
                    if new_invite || message.method() == Some(&Method::REGISTER) {
                        if let Err(retry) = self.gate.source_rate(now, flow.remote.ip()) {
                            if let Some(retry) = retry {
                                let busy = self.stateless_503(&message, retry, None);
                                self.send_stateless(busy, &reply_to).await;
                            }
                            return;
                        }
                    }
                    // Checked in this order: the table's size is cheap, the
                    // retransmission lookup only matters when it is full.
                    if !is_ack
                        && self.gate.transactions_full(self.layer.len())
                        && !self.layer.has_server_transaction(&message)
                    {
                        self.gate.count_transactions_refusal();
                        let busy = self.stateless_503(&message, TRANSACTIONS_RETRY_AFTER, None);
                        self.send_stateless(busy, &reply_to).await;
                        return;
                    }
                    if new_invite && self.is_switch_request(&message) {
                        // The call response goes out before any check or
                        // log write (handover contract §3).
                        let trying = ResponseBuilder::to_request(&message, 100)
                            .header(HeaderName::Server, SERVER)
                            .build();
                        self.send_stateless(trying, &reply_to).await;
                        match self.plan_pull(&message, &flow) {
                            Pull::Deliver { call, moving } => {
                                self.calls
                                    .pull(call, moving, message, reply_flow, source_flow);
                                return;
                            }
                            Pull::Answer(response) => self.precomputed = Some(response),
                            Pull::Stateless(response) => {
                                if let Some(response) = response {
                                    self.send_stateless(response, &reply_to).await;
                                }
                                return;
                            }
                        }
                    } else if new_invite {
                        match self.plan_call(&message, &flow) {
                            Plan::Start(plan) => {
                                let (caller, callee) =
                                    (plan.caller_user.clone(), plan.callee_user.clone());
                                if let Some(call) = self
                                    .calls
                                    .start(message, reply_flow, source_flow, plan)
                                    .await
                                {
                                    self.gate.call_started(call, &caller, &callee);
                                }
                                return;
                            }
                            Plan::Answer(response) => self.precomputed = Some(response),
                            Plan::Stateless(response) => {
                                if let Some(response) = response {
                                    self.send_stateless(response, &reply_to).await;
                                }
                                return;
                            }
                        }
                    }
                    match self
                        .layer
                        .handle_request(now, message, to_proto_flow(&reply_to))
                    {
                        Ok(RequestOutcome::New(_)) | Ok(RequestOutcome::Absorbed) => {}
                        Ok(RequestOutcome::StrayAck(_)) => {
                            metrics::counter!(m::SIP_STRAY, "kind" => "ack").increment(1);
                        }
                        Ok(RequestOutcome::Merged(_)) => {
                            // RFC 3261 §8.2.2.2: the layer answered 482.
                            metrics::counter!(m::SIP_STRAY, "kind" => "merged").increment(1);
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "request refused by the transaction layer")
                        }
                    }
                } else {
                    if let Some(route) = self.calls.route_response(&message) {
                        let source = to_proto_flow(&flow.reply_target());
                        self.calls.deliver(route, message, source, source);
                        return;
                    }
                    match self.layer.handle_response(now, message) {
                        Ok(ResponseOutcome::Matched(_)) => {}
                        Ok(ResponseOutcome::Stray(_)) | Err(_) => {
                            // RFC 3261 §18.1.2: a response matching no
                            // transaction is dropped silently.
                            metrics::counter!(m::SIP_STRAY, "kind" => "response").increment(1);
                        }
                    }
                }
            }
            TransportEvent::Malformed {
                error,
                flow,
                closed,
            } => {
                metrics::counter!(
                    m::SIP_PARSE_ERRORS,
                    "transport" => flow.kind.as_str().to_ascii_lowercase(),
                    "reason" => parse_error_label(&error),
                )
                .increment(1);
                if !closed {
                    self.answer_malformed(&error, &flow).await;
                }
            }
            TransportEvent::ConnectionClosed { .. } => {}
        }
        self.drain(now).await;
    }

    async fn handle_timeout(&mut self) {
        let now = Instant::now();
        self.layer.handle_timeout(now);
        self.drain(now).await;
    }

    /// A request that did not parse gets a stateless `400` (or `505`) when
    /// enough of it was read to address a response; anything else is dropped.
    async fn answer_malformed(&mut self, error: &ParseError, flow: &sip_transport::Flow) {
        if !error.is_request() {
            return;
        }
        let Some(headers) = error.headers() else {
            return;
        };
        if headers.get(&HeaderName::Via).is_none() {
            return;
        }
        // An ACK is never answered (RFC 3261 §17.2.1: it has no response),
        // not even a malformed one; its CSeq names it (the request line is
        // not kept by the parser). Without a CSeq no response could be
        // matched by the client anyway.
        let Some(cseq) = headers.get(&HeaderName::CSeq) else {
            return;
        };
        if cseq
            .split_whitespace()
            .nth(1)
            .is_none_or(|method| method.eq_ignore_ascii_case("ACK"))
        {
            return;
        }
        let mut builder = ResponseBuilder::from_headers(headers, error.status()).to_tag(&new_tag());
        if error.status() == 400 {
            // Say what was wrong: a phone's log is often all an operator has.
            builder = builder.reason(&format!("Bad Request ({})", short_reason(error)));
        }
        let response = builder.header(HeaderName::Server, SERVER).build();
        // Symmetric: back to where the bytes came from (RFC 3581 style).
        self.send_stateless(response, &flow.reply_target()).await;
    }

    /// Drains the layer: transmits to the transport, events to the core,
    /// until both are empty (str0m's rule).
    async fn drain(&mut self, now: Instant) {
        loop {
            while let Some(t) = self.layer.poll_transmit() {
                let target = to_target(&t.destination);
                if let Err(e) = self.transport.send(&target, t.payload).await {
                    tracing::debug!(error = %e, remote = %target.remote, "send failed");
                    if let Some(key) = t.key {
                        self.layer.handle_transport_error(now, &key);
                    }
                }
            }
            let Some(event) = self.layer.poll_event() else {
                break;
            };
            self.handle_layer_event(now, event);
        }
        metrics::gauge!(m::SIP_TRANSACTIONS_ACTIVE).set(self.layer.len() as f64);
    }

    fn handle_layer_event(&mut self, now: Instant, event: Event) {
        match event {
            Event::Request { key, message, flow } => {
                let method = message.method().map_or("other", m::method_label);
                let response = self.respond(&message, &flow);
                metrics::histogram!(m::SIP_REQUEST_SECONDS, "method" => method)
                    .record(now.elapsed().as_secs_f64());
                m::count_message("out", &response);
                if let Err(e) = self.layer.send_response(now, &key, &response) {
                    tracing::debug!(error = %e, "response refused by the transaction layer");
                }
            }
            Event::Response { key, message }
                if crate::dialog_events::DialogEvents::owns_transaction(&key) =>
            {
                self.dialog_events.on_notify_response(&key, &message);
            }
            Event::Timeout { key, .. } | Event::TransportError { key }
                if crate::dialog_events::DialogEvents::owns_transaction(&key) =>
            {
                self.dialog_events.on_notify_failed(&key);
            }
            Event::Response { .. } | Event::Timeout { .. } => {}
            Event::TransportError { .. } | Event::Terminated { .. } => {}
        }
        self.send_notifies(now);
    }

    /// Hands queued NOTIFYs to the transaction layer (sent by `drain`).
    fn send_notifies(&mut self, now: Instant) {
        for o in std::mem::take(&mut self.notifies) {
            m::count_message("out", &o.request);
            let reliable = o.flow.is_reliable();
            if let Err(e) = self.layer.send_request(now, o.request, o.flow, reliable) {
                tracing::debug!(error = %e, "a NOTIFY could not be sent");
            }
        }
    }

    /// A user's device dialog changed: the router learns it (switch
    /// requests), subscribers are told (NOTIFY).
    async fn on_dialog(&mut self, dialog: &call::UserDialog) {
        let now = Instant::now();
        self.calls.on_dialog(dialog);
        let out = self.dialog_events.on_dialog(now, dialog);
        self.notifies.extend(out);
        self.send_notifies(now);
        self.drain(now).await;
    }

    /// Housekeeping for subscriptions: expiries get their final NOTIFY.
    async fn expire_subscriptions(&mut self) {
        let now = Instant::now();
        let out = self.dialog_events.on_tick(now);
        if !out.is_empty() {
            self.notifies.extend(out);
            self.send_notifies(now);
            self.drain(now).await;
        }
    }

    /// The UAS core's answer to a new request (RFC 3261 §8.2).
    fn respond(&mut self, request: &Message, flow: &sip_proto::Flow) -> Message {
        if let Err(refusal) = uas_checks::check_request(request) {
            return refuse(request, &refusal);
        }
        let Some(method) = request.method() else {
            return refuse(
                request,
                &Refusal {
                    code: 400,
                    reason: None,
                    headers: Vec::new(),
                },
            );
        };
        let now_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let in_dialog = request.to_tag().is_some();
        match *method {
            Method::OPTIONS => ResponseBuilder::to_request(request, 200)
                .to_tag(&new_tag())
                .header(HeaderName::Allow, uas_checks::allow_value())
                .header(HeaderName::Accept, "application/sdp")
                .header(HeaderName::AcceptEncoding, "identity")
                .header(HeaderName::AcceptLanguage, "en")
                .header(HeaderName::Supported, uas_checks::SUPPORTED.join(", "))
                .header(HeaderName::Server, SERVER)
                .build(),
            Method::REGISTER => {
                if let Err(refusal) = uas_checks::check_register_aor(request) {
                    return refuse(request, &refusal);
                }
                match self.authenticate_401(request, flow, now_unix) {
                    Ok(user) => self.register(request, &user, flow),
                    Err(response) => *response,
                }
            }
            Method::INVITE if in_dialog => simple(request, 481, None),
            // New INVITEs were decided before the layer saw them (plan_call).
            Method::INVITE => match self.precomputed.take() {
                Some(response) if same_request(&response, request) => response,
                _ => simple(request, 500, Some("No Decision For This INVITE")),
            },
            Method::CANCEL => match self.layer.find_invite_for_cancel(request) {
                // Our INVITEs are answered at once, so there is never
                // anything left to cancel: the CANCEL itself succeeds.
                Some(_) => simple(request, 200, None),
                None => simple(request, 481, None),
            },
            Method::SUBSCRIBE => match self.authenticate_401(request, flow, now_unix) {
                Ok(user) => {
                    let (response, out) =
                        self.dialog_events
                            .on_subscribe(Instant::now(), request, &user, flow);
                    self.notifies.extend(out);
                    response
                }
                Err(response) => *response,
            },
            // BYE, INFO, UPDATE, PRACK, NOTIFY outside any dialog of ours.
            _ => simple(request, 481, None),
        }
    }

    /// Digest for the requests Baton serves as the user's registrar and
    /// notifier (REGISTER, SUBSCRIBE: `401`): the user, or the answer.
    fn authenticate_401(
        &mut self,
        request: &Message,
        flow: &sip_proto::Flow,
        now_unix: u64,
    ) -> Result<String, Box<Message>> {
        let source = self.request_source.unwrap_or(*flow).remote.ip();
        match self.authenticate(request, &HeaderName::Authorization, source) {
            Authn::User(user) => Ok(user),
            Authn::Challenge { stale } => Err(Box::new(self.challenge(
                request,
                401,
                stale,
                now_unix,
                usize::MAX,
            ))),
            Authn::BadRequest(reason) => Err(Box::new(simple(request, 400, Some(reason)))),
            Authn::Locked => Err(Box::new(simple(request, 403, None))),
        }
    }

    /// Stops taking calls and ends those up; returns the end of the grace.
    fn start_draining(&mut self, healthy: &AtomicBool) -> tokio::time::Instant {
        tracing::info!(
            calls = self.calls.len(),
            subscriptions = self.dialog_events.len(),
            "stopping: no new calls; ending the calls up"
        );
        healthy.store(false, Ordering::Relaxed);
        self.draining = true;
        self.calls.shutdown_all();
        let out = self.dialog_events.on_drain(Instant::now());
        self.notifies.extend(out);
        self.send_notifies(Instant::now());
        tokio::time::Instant::now() + std::time::Duration::from_secs(3)
    }

    /// Decides what a new INVITE gets (RFC 3261 §8.2 checks, digest, the
    /// callee's contacts): an answer through the transaction layer, or a call.
    fn plan_call(&mut self, invite: &Message, flow: &sip_transport::Flow) -> Plan {
        if let Err(r) = uas_checks::check_request(invite)
            .and_then(|()| uas_checks::check_session_content(invite))
            .and_then(|()| uas_checks::check_relayable(invite))
        {
            // Before digest, every refusal is stateless (sent once, no
            // transaction): a spoofed source must not get it ten times.
            let tag = self.gate.stateless_tag(invite);
            return Plan::Stateless(Some(refuse_tagged(invite, &r, &tag)));
        }
        if let Some(response) = self.log_refusal(invite) {
            return Plan::Stateless(Some(response));
        }
        if self.draining {
            // Stopping: the caller's proxy tries another node.
            metrics::counter!(call::metrics::CALLS_TOTAL, "result" => "draining").increment(1);
            return Plan::Stateless(Some(self.stateless_503(
                invite,
                std::time::Duration::from_secs(5),
                Some("Shutting Down"),
            )));
        }
        let caller = match self.authenticate_invite(invite, flow) {
            Ok(user) => user,
            Err(Early::Stateless(response)) => return Plan::Stateless(response.map(|r| *r)),
        };
        if let Err(retry) = self.gate.user_rate(Instant::now(), &caller) {
            return Plan::Answer(retry_later(invite, retry));
        }
        // RFC 4028 §8.1: a session interval below our minimum gets 422.
        let asked = invite
            .header(&HeaderName::SessionExpires)
            .and_then(|v| v.split(';').next()?.trim().parse::<u64>().ok());
        if asked.is_some_and(|secs| secs < self.min_se.as_secs()) {
            return Plan::Answer(
                ResponseBuilder::to_request(invite, 422)
                    .to_tag(&new_tag())
                    .header(HeaderName::MinSe, self.min_se.as_secs().to_string())
                    .header(HeaderName::Server, SERVER)
                    .build(),
            );
        }
        let callee = invite
            .request_uri()
            .and_then(|u| u.user())
            .map(str::to_string);
        if !callee.is_some_and(|c| self.auth.has_user(&c)) {
            metrics::counter!(call::metrics::CALLS_TOTAL, "result" => "not_found").increment(1);
            return Plan::Answer(simple(invite, 404, None));
        }
        // The offer is checked before anything is forked: hostile or broken
        // SDP never reaches the callee (RFC 3261 §8.2.3, RFC 3264 §6). An
        // INVITE without SDP is a late offer: the callee offers in its 2xx.
        if invite.body.is_empty() {
            return self.plan_targets(invite, caller);
        }
        let offer = sdp::SessionDescription::parse(&invite.body)
            .and_then(|d| d.validate().map(|states| (d, states)));
        let refusal = match &offer {
            Err(e) => Some(e.to_string()),
            Ok((d, states)) => match (d.media(0), states.first()) {
                (Some(m), Some(sdp::StreamState::Active | sdp::StreamState::LegacyHold))
                    if m.kind() == sdp::MediaKind::Audio
                        && m.protocol().is_rtp()
                        && !m.protocol().is_secure() =>
                {
                    None
                }
                _ => Some("the first stream must be an active RTP audio stream".to_string()),
            },
        };
        if let Some(reason) = refusal {
            metrics::counter!(m::SDP_REJECTED).increment(1);
            tracing::info!(%reason, "INVITE refused for its SDP");
            return Plan::Answer(
                ResponseBuilder::to_request(invite, 488)
                    .to_tag(&new_tag())
                    .header(
                        HeaderName::Warning,
                        format!("399 baton \"{}\"", reason.replace('"', "'")),
                    )
                    .header(HeaderName::Server, SERVER)
                    .build(),
            );
        }
        self.plan_targets(invite, caller)
    }

    /// Fail closed on the log: while it cannot commit (or falls behind),
    /// new work gets `503` with `Retry-After` (RFC 3261 §21.5.4) before any
    /// other check, so that no call starts that the log cannot record.
    /// Calls already up are not touched.
    fn log_refusal(&self, invite: &Message) -> Option<Message> {
        let refusal = self.log_gate.as_ref()?.admit().err()?;
        metrics::counter!(raft::metrics::REFUSED, "reason" => refusal.label()).increment(1);
        tracing::debug!(%refusal, "new work refused: the call log cannot take it");
        let retry_after = match refusal {
            crate::call_log::LogUnavailable::Backlog => 1,
            crate::call_log::LogUnavailable::Fault(_) => 30,
        };
        Some(self.stateless_503(
            invite,
            std::time::Duration::from_secs(retry_after),
            Some("Call Log Unavailable"),
        ))
    }

    /// Digest for a new INVITE (`407`): the authenticated user, or what to
    /// answer. The challenge is stateless (RFC 3261 §26.3.2.4): sent once,
    /// outside any transaction, and over UDP no larger than the request
    /// (only the preferred challenge, then no `Server` header, if all of
    /// them would be), so a spoofed source gets one packet about the size
    /// of what was sent and no transaction is held for 32 s.
    fn authenticate_invite(
        &mut self,
        invite: &Message,
        flow: &sip_transport::Flow,
    ) -> Result<String, Early> {
        let now_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        match self.authenticate(invite, &HeaderName::ProxyAuthorization, flow.remote.ip()) {
            Authn::User(user) => Ok(user),
            // Refusals before digest are stateless too, like the challenge.
            Authn::BadRequest(reason) => Err(Early::Stateless(Some(Box::new(simple_tagged(
                invite,
                400,
                Some(reason),
                &self.gate.stateless_tag(invite),
            ))))),
            Authn::Locked => Err(Early::Stateless(Some(Box::new(simple_tagged(
                invite,
                403,
                None,
                &self.gate.stateless_tag(invite),
            ))))),
            Authn::Challenge { stale } => {
                let size = invite.to_bytes().len();
                let reliable = flow.kind != TransportKind::Udp;
                let mut response = self.challenge(invite, 407, stale, now_unix, usize::MAX);
                if !reliable && response.to_bytes().len() > size {
                    response = self.challenge(invite, 407, stale, now_unix, 1);
                }
                if !reliable && response.to_bytes().len() > size {
                    // Still larger (a minimal late-offer INVITE): drop what
                    // is optional. If even that is larger, it goes anyway
                    // (one packet, a few bytes over, counted): refusing the
                    // challenge would lock such clients out.
                    response.headers.remove(&HeaderName::Server);
                    if response.to_bytes().len() > size {
                        metrics::counter!(crate::limits::OVERSIZE_CHALLENGES).increment(1);
                    }
                }
                Err(Early::Stateless(Some(Box::new(response))))
            }
        }
    }

    /// Digest for any request, through admission control: bans, locks and
    /// their metrics (`crate::limits`).
    fn authenticate(
        &mut self,
        request: &Message,
        header: &HeaderName,
        source: std::net::IpAddr,
    ) -> Authn {
        let now_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let outcome = self.auth.check(request, header, now_unix);
        self.gate.on_auth(Instant::now(), source, outcome)
    }

    /// A stateless response goes straight to the transport: no
    /// transaction, no retransmission.
    async fn send_stateless(&self, response: Message, to: &Target) {
        m::count_message("out", &response);
        let _ = self
            .transport
            .send(to, Bytes::from(response.to_bytes()))
            .await;
    }

    /// A stateless `503` with `Retry-After` (RFC 3261 §21.5.4) and, if
    /// given, a reason phrase; its To tag the stateless one so that its
    /// ACK is absorbed.
    fn stateless_503(
        &self,
        request: &Message,
        retry: std::time::Duration,
        reason: Option<&str>,
    ) -> Message {
        let mut builder =
            ResponseBuilder::to_request(request, 503).to_tag(&self.gate.stateless_tag(request));
        if let Some(reason) = reason {
            builder = builder.reason(reason);
        }
        builder
            .header(HeaderName::RetryAfter, retry.as_secs().max(1).to_string())
            .header(HeaderName::Server, SERVER)
            .build()
    }

    /// Whether a new INVITE asks to pull a call: it names a dialog in
    /// `Replaces` (RFC 3891), or it dials the feature code.
    fn is_switch_request(&self, invite: &Message) -> bool {
        invite.header(&HeaderName::Replaces).is_some()
            || invite
                .request_uri()
                .and_then(|u| u.user())
                .is_some_and(|u| u == self.feature_code)
    }

    /// The checks of a switch request the node can make (handover contract
    /// §3, in its order): digest, the Replaces header, the dialog, the
    /// user, the device. The call makes the rest (a pending attempt, the
    /// codec).
    fn plan_pull(&mut self, invite: &Message, flow: &sip_transport::Flow) -> Pull {
        if let Err(r) = uas_checks::check_request(invite)
            .and_then(|()| uas_checks::check_session_content(invite))
        {
            let tag = self.gate.stateless_tag(invite);
            return Pull::Stateless(Some(refuse_tagged(invite, &r, &tag)));
        }
        if let Some(response) = self.log_refusal(invite) {
            metrics::counter!(call::metrics::HANDOVERS_TOTAL, "result" => "rejected").increment(1);
            return Pull::Stateless(Some(response));
        }
        let user = match self.authenticate_invite(invite, flow) {
            Ok(user) => user,
            Err(Early::Stateless(response)) => return Pull::Stateless(response.map(|r| *r)),
        };
        let rejected = |code: u16, reason: &str| {
            metrics::counter!(call::metrics::HANDOVERS_TOTAL, "result" => "rejected").increment(1);
            tracing::info!(code, reason, "switch request refused");
            Pull::Answer(simple(invite, code, Some(reason)))
        };
        if self.draining {
            return rejected(503, "Shutting Down");
        }
        let replaces: Vec<&str> = invite.headers.get_all(&HeaderName::Replaces).collect();
        let dialog = match replaces.as_slice() {
            [] => match self.calls.latest_dialog_of(&user) {
                Some(d) => d.clone(),
                None => return rejected(481, "No Call To Pull"),
            },
            [one] => {
                let Some(named) = crate::replaces::Replaces::parse(one) else {
                    return rejected(400, "Malformed Replaces");
                };
                match self
                    .calls
                    .dialog_named(&named.call_id, &named.to_tag, &named.from_tag)
                {
                    Some(d) if named.early_only => {
                        let _ = d;
                        return rejected(486, "Call Already Confirmed");
                    }
                    Some(d) => d.clone(),
                    None => return rejected(481, "Call/Transaction Does Not Exist"),
                }
            }
            _ => return rejected(400, "More Than One Replaces"),
        };
        if dialog.user != user {
            return rejected(403, "Not Your Call");
        }
        let contact = crate::replaces::contact_uri(invite);
        if crate::replaces::same_device(&dialog.device_contact, &contact) {
            return rejected(403, "Already On This Device");
        }
        match self.calls.admit_pull(Instant::now(), &user, dialog.call) {
            Ok(()) => {}
            Err(crate::calls::PullRefusal::Limited(wait)) => {
                metrics::counter!(call::metrics::HANDOVERS_TOTAL, "result" => "rate_limited")
                    .increment(1);
                tracing::info!(user, "switch request over the pull limits");
                return Pull::Answer(
                    ResponseBuilder::to_request(invite, 429)
                        .to_tag(&new_tag())
                        .header(HeaderName::RetryAfter, wait.retry_after_secs().to_string())
                        .header(HeaderName::Server, SERVER)
                        .build(),
                );
            }
            Err(crate::calls::PullRefusal::NoLegNumber) => {
                return rejected(503, "No More Pulls On This Call")
            }
        }
        Pull::Deliver {
            call: dialog.call,
            moving: dialog.leg,
        }
    }

    /// The callee's contacts for an authorised INVITE: a call, or 404/480.
    fn plan_targets(&mut self, invite: &Message, caller: String) -> Plan {
        let callee = invite
            .request_uri()
            .and_then(|u| u.user())
            .map(str::to_string)
            .unwrap_or_default();
        // Concurrent calls per user (`[limits] calls_per_user`).
        match self.gate.admit_call(&caller, &callee) {
            Ok(()) => {}
            Err(486) => return Plan::Answer(simple(invite, 486, None)),
            Err(code) => return Plan::Answer(simple(invite, code, Some("Too Many Calls"))),
        }
        let aor = registrar::Registrar::aor_key(&callee, &self.domain);
        let targets: Vec<call::CallTarget> = self
            .registrar
            .lookup(Instant::now(), &aor)
            .into_iter()
            .map(|b| call::CallTarget {
                uri: b.contact.clone(),
                flow: sip_proto::Flow::new(
                    b.source.addr,
                    if b.source.transport == "tcp" {
                        sip_proto::TransportKind::Tcp
                    } else {
                        sip_proto::TransportKind::Udp
                    },
                ),
            })
            .collect();
        if targets.is_empty() {
            metrics::counter!(call::metrics::CALLS_TOTAL, "result" => "unavailable").increment(1);
            return Plan::Answer(simple(invite, 480, None));
        }
        let display = invite
            .from()
            .and_then(|f| f.display)
            .map(|d| format!("\"{}\" ", d.replace('"', "")));
        Plan::Start(CallPlan {
            caller_user: caller.clone(),
            callee_user: callee.clone(),
            targets,
            from: format!(
                "{}<sip:{caller}@{}>",
                display.unwrap_or_default(),
                self.domain
            ),
            to: format!("<sip:{callee}@{}>", self.domain),
        })
    }

    /// An authenticated REGISTER (RFC 3261 §10.3): the identity must own
    /// the AOR in To, then the binding table decides.
    fn register(&mut self, request: &Message, user: &str, flow: &sip_proto::Flow) -> Message {
        let to = request.to().and_then(|t| t.uri.as_sip().cloned());
        let Some(to) = to else {
            return simple(request, 400, Some("Address of Record Must Be a SIP URI"));
        };
        let owns = to.user.as_deref() == Some(user)
            && to.host.to_string().eq_ignore_ascii_case(&self.domain);
        if !owns {
            // A registration hijack: an identity binding someone else's AOR.
            metrics::counter!(m::REGISTRATIONS, "result" => "hijack").increment(1);
            tracing::warn!(user, to = %to, "REGISTER for an address of record the user does not own");
            return simple(request, 403, Some("Not Your Address of Record"));
        }
        let aor = registrar::Registrar::aor_key(user, &self.domain);
        let source = registrar::Source {
            transport: if flow.is_reliable() { "tcp" } else { "udp" },
            addr: flow.remote,
        };
        // The bindings this REGISTER may refresh, taken before it changes
        // them: a dialog follows only its own device's refresh.
        let call_id = request.call_id().unwrap_or_default();
        let refreshable: Vec<(String, Option<String>)> = self
            .registrar
            .lookup(Instant::now(), &aor)
            .into_iter()
            .filter(|b| b.call_id == call_id)
            .map(|b| (b.contact.to_string(), b.instance.clone()))
            .collect();
        let outcome = self
            .registrar
            .register(Instant::now(), &aor, request, source);
        metrics::gauge!(m::REGISTRATIONS_ACTIVE).set(self.registrar.len() as f64);
        match outcome {
            Ok(outcome) => {
                metrics::counter!(m::REGISTRATIONS, "result" => "ok").increment(1);
                // A device re-registering from a new address (NAT
                // rebinding): its dialogs follow it to the new flow, but
                // only when this REGISTER refreshes that device's own
                // binding (same Call-ID: a UA keeps one for all its
                // registrations, RFC 3261 §10.2.4). Another device of the
                // same user registering the same Contact URI or instance
                // replaces the binding, yet never takes the dialog: its
                // REGISTER's Call-ID is its own.
                let contacts: Vec<_> = call::flow_guard::registered_contacts(request)
                    .into_iter()
                    .filter(|c| {
                        refreshable.iter().any(|(uri, instance)| {
                            uri.eq_ignore_ascii_case(&c.uri)
                                || (instance.is_some() && *instance == c.instance)
                        })
                    })
                    .collect();
                let source = self.request_source.unwrap_or(*flow);
                self.calls.rebind(user, contacts, source);
                let mut builder = ResponseBuilder::to_request(request, 200).to_tag(&new_tag());
                for (contact, secs) in &outcome.bindings {
                    builder =
                        builder.header(HeaderName::Contact, format!("{contact};expires={secs}"));
                }
                builder
                    .header(HeaderName::Date, httpdate::fmt_http_date(SystemTime::now()))
                    .header(HeaderName::Server, SERVER)
                    .build()
            }
            Err(refusal) => {
                let label = match refusal {
                    registrar::Refusal::TooManyBindings { .. } => "contact_storm",
                    registrar::Refusal::IntervalTooBrief { .. } => "too_brief",
                    _ => "refused",
                };
                metrics::counter!(m::REGISTRATIONS, "result" => label).increment(1);
                let mut builder = ResponseBuilder::to_request(request, refusal.status())
                    .to_tag(&new_tag())
                    .reason(&refusal.to_string());
                if let registrar::Refusal::IntervalTooBrief { min_secs } = refusal {
                    builder = builder.header(HeaderName::MinExpires, min_secs.to_string());
                }
                builder.header(HeaderName::Server, SERVER).build()
            }
        }
    }

    /// Drops lapsed bindings; called from the loop's housekeeping tick.
    fn expire_registrations(&mut self) {
        if self.registrar.expire(Instant::now()) > 0 {
            metrics::gauge!(m::REGISTRATIONS_ACTIVE).set(self.registrar.len() as f64);
        }
    }

    /// A `401`/`407` with at most `max` challenges (one per algorithm, the
    /// preferred first). The `407` to an INVITE is stateless: its To tag is
    /// the stateless one, so that its ACK is recognised.
    fn challenge(
        &self,
        request: &Message,
        code: u16,
        stale: bool,
        now_unix: u64,
        max: usize,
    ) -> Message {
        let header = if code == 401 {
            HeaderName::WwwAuthenticate
        } else {
            HeaderName::ProxyAuthenticate
        };
        let tag = if code == 407 {
            self.gate.stateless_tag(request)
        } else {
            new_tag()
        };
        let mut builder = ResponseBuilder::to_request(request, code).to_tag(&tag);
        for value in self.auth.challenges(stale, now_unix).into_iter().take(max) {
            builder = builder.header(header.clone(), value);
        }
        builder.header(HeaderName::Server, SERVER).build()
    }
}

/// What a new INVITE gets.
enum Plan {
    /// A response through the transaction layer.
    Answer(Message),
    /// A stateless response straight to the transport, or nothing.
    Stateless(Option<Message>),
    /// A call to these contacts.
    Start(CallPlan),
}

/// What a switch request gets.
enum Pull {
    /// A response through the transaction layer.
    Answer(Message),
    /// A stateless response straight to the transport, or nothing.
    Stateless(Option<Message>),
    /// The call holding this leg takes it.
    Deliver {
        /// The call.
        call: call::ids::CallNumber,
        /// The leg of the device that would give the call up.
        moving: call::ids::LegIndex,
    },
}

/// An INVITE refused before a call or pull is planned (before digest,
/// so possibly from a spoofed source): a stateless response (the
/// challenge, `400`, `403`), or nothing.
enum Early {
    /// Sent once, outside any transaction.
    Stateless(Option<Box<Message>>),
}

/// `Retry-After` of the `503` given while the transaction table is full:
/// long enough for Timer J's 32 s to drain a good part of it.
const TRANSACTIONS_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// A `503` with `Retry-After` through the transaction layer.
fn retry_later(request: &Message, retry: std::time::Duration) -> Message {
    ResponseBuilder::to_request(request, 503)
        .to_tag(&new_tag())
        .header(HeaderName::RetryAfter, retry.as_secs().max(1).to_string())
        .header(HeaderName::Server, SERVER)
        .build()
}

/// A call the node decided to place.
pub struct CallPlan {
    /// The caller's user name.
    pub caller_user: String,
    /// The callee's user name.
    pub callee_user: String,
    /// The callee's contacts.
    pub targets: Vec<call::CallTarget>,
    /// From for the callee legs.
    pub from: String,
    /// To for the callee legs.
    pub to: String,
}

/// True when `response` answers `request` (same Call-ID and CSeq).
fn same_request(response: &Message, request: &Message) -> bool {
    response.call_id() == request.call_id() && response.cseq() == request.cseq()
}

fn simple(request: &Message, code: u16, reason: Option<&str>) -> Message {
    simple_tagged(request, code, reason, &new_tag())
}

/// [`simple`] with a given To tag (a stateless response's, whose ACK is
/// recognised by it).
fn simple_tagged(request: &Message, code: u16, reason: Option<&str>, tag: &str) -> Message {
    let mut builder = ResponseBuilder::to_request(request, code).to_tag(tag);
    if let Some(reason) = reason {
        builder = builder.reason(reason);
    }
    builder.header(HeaderName::Server, SERVER).build()
}

fn refuse(request: &Message, refusal: &Refusal) -> Message {
    refuse_tagged(request, refusal, &new_tag())
}

/// [`refuse`] with a given To tag (a stateless response's).
fn refuse_tagged(request: &Message, refusal: &Refusal, tag: &str) -> Message {
    let mut builder = ResponseBuilder::to_request(request, refusal.code).to_tag(tag);
    if let Some(reason) = refusal.reason {
        builder = builder.reason(reason);
    }
    for (name, value) in &refusal.headers {
        builder = builder.header(name.clone(), value.clone());
    }
    builder.header(HeaderName::Server, SERVER).build()
}

/// A fresh To tag (RFC 3261 §19.3: at least 32 bits of randomness).
fn new_tag() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn parse_error_label(error: &ParseError) -> &'static str {
    match error {
        ParseError::Framing { .. } => "framing",
        ParseError::Syntax { .. } => "syntax",
        _ => "other",
    }
}

fn short_reason(error: &ParseError) -> String {
    match error {
        ParseError::Framing { error, .. } => error.to_string(),
        ParseError::Syntax { error, .. } => error.to_string(),
        _ => "malformed".into(),
    }
}

fn to_proto_flow(target: &Target) -> sip_proto::Flow {
    sip_proto::Flow {
        remote: target.remote,
        transport: match target.kind {
            TransportKind::Udp => sip_proto::TransportKind::Udp,
            _ => sip_proto::TransportKind::Tcp,
        },
        connection: target.connection.map(|c| sip_proto::ConnectionId(c.0)),
    }
}

fn to_target(flow: &sip_proto::Flow) -> Target {
    Target {
        kind: match flow.transport {
            sip_proto::TransportKind::Udp => TransportKind::Udp,
            _ => TransportKind::Tcp,
        },
        remote: flow.remote,
        connection: flow.connection.map(|c| sip_transport::ConnectionId(c.0)),
    }
}
