//! A handover you can watch, on loopback, in a few seconds:
//!
//! ```sh
//! cargo run -p baton-system-tests --example handover_demo
//! ```
//!
//! It starts a real `baton` node and three of the project's test phones:
//! A (alice's desk phone), B (alice's mobile) and R (bob). A calls bob and
//! audio flows both ways through Baton's relay. B learns the call from the
//! dialog event package (SUBSCRIBE/NOTIFY), asks for it with an INVITE
//! carrying `Replaces`, Baton asks A (an INFO and a prompt tone in A's
//! audio), A's user presses `1` (an RFC 4733 telephone-event in A's RTP),
//! and the call moves to B while R keeps hearing one RTP stream.
//!
//! The output is a ladder of every SIP message the three phones sent and
//! received (times in ms from the moment A dials), then what each party
//! heard: the prompt at A, the splice at R (gap, sequence and timestamp
//! step, SSRC), B's time to first audio after its `200`, and Baton's own
//! handover metrics and audit trail. See `docs/handover.md`.

use baton_system_tests::ua::{
    replaces_value, DialogInfo, Direction, LogEntry, Payload, Phone, RtpPacket, RtpSend, RtpStream,
    Transport, HANDOVER_CONTENT_TYPE,
};
use baton_system_tests::Baton;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

const DOMAIN: &str = "example.test";
const CONFIG: &str = "[media]\nports = \"40000-49999\"\n\n\
                      [[users]]\nname = \"alice\"\npassword = \"wonderland\"\n\n\
                      [[users]]\nname = \"bob\"\npassword = \"builder\"\n";
/// The longest any single step may take.
const T: Duration = Duration::from_secs(4);
/// The first payload byte of each party's audio: whose packet it is.
const A_MARK: u8 = 0xA1;
const B_MARK: u8 = 0xB1;
const R_MARK: u8 = 0x51;
const PCMU: u8 = 0;
/// The telephone-event payload type of the phones' offers.
const TELEPHONE_EVENT: u8 = 101;
/// How long A's user listens to the prompt before pressing the key.
const THINKING: Duration = Duration::from_millis(800);

/// The ladder's columns.
const LANES: [&str; 4] = [
    "A  alice's desk phone",
    "S  Baton",
    "B  alice's mobile",
    "R  bob",
];
const LANE_A: usize = 0;
const LANE_S: usize = 1;
const LANE_B: usize = 2;
const LANE_R: usize = 3;
/// Characters between two lifelines.
const GAP: usize = 26;

/// Something that happened other than a SIP message, for the ladder.
struct Event {
    at: Instant,
    lane: usize,
    text: String,
}

fn main() {
    println!(
        "Baton handover demo: A (alice's desk phone) -> B (alice's mobile), R (bob) untouched\n"
    );
    println!("starting baton (the first run builds it) ...");
    let baton = Baton::start(DOMAIN, "", CONFIG);
    let a = phone(&baton, "A", "alice", "wonderland");
    let b = phone(&baton, "B", "alice", "wonderland");
    let r = phone(&baton, "R", "bob", "builder");
    println!(
        "baton is up: SIP udp {}, metrics http://{}; A, B and R registered\n",
        baton.udp, baton.metrics
    );
    let (a_rtp, b_rtp, r_rtp) = (
        RtpStream::loopback(),
        RtpStream::loopback(),
        RtpStream::loopback(),
    );
    let mut events: Vec<Event> = Vec::new();
    let mut note = |lane: usize, text: &str| {
        events.push(Event {
            at: Instant::now(),
            lane,
            text: text.to_string(),
        })
    };

    // 1. A calls bob; R answers; audio both ways through the relay.
    let t0 = Instant::now();
    note(LANE_A, "A dials bob");
    let out = a.call(&format!("sip:bob@{DOMAIN}"), Some(a_rtp.sdp()));
    let r_call = r
        .wait_incoming(T)
        .expect("bob's phone rings")
        .answer(Some(r_rtp.sdp()))
        .expect("bob answers");
    let a_call = out.wait_answer(T).expect("A's call is answered");
    a_rtp.start_sending(RtpSend::new(
        a_call.remote_sdp().expect("Baton's answer to A").rtp_addr(),
        0xA,
        Payload::Pattern(A_MARK),
    ));
    r_rtp.start_sending(RtpSend::new(
        r_call.remote_sdp().expect("Baton's offer to R").rtp_addr(),
        0x5,
        Payload::Pattern(R_MARK),
    ));
    assert!(r_rtp.wait_packets(5, T), "R hears A");
    assert!(a_rtp.wait_packets(5, T), "A hears R");
    note(LANE_S, "RTP flows A <-> relay <-> R (20 ms PCMU)");
    std::thread::sleep(Duration::from_millis(300));

    // 2. Discovery: B subscribes to alice's dialogs and reads A's call.
    note(LANE_B, "B looks for alice's calls (Event: dialog)");
    let sub = b.subscribe_dialog(600).expect("SUBSCRIBE answered");
    assert_eq!(sub.status(), 200, "SUBSCRIBE accepted");
    let a_dialog = a_call.dialog_id().expect("A's dialog");
    let info = sub
        .wait_notify(
            |i| {
                i.dialog_by_call_id(&a_dialog.call_id)
                    .is_some_and(|d| d.state == "confirmed")
            },
            T,
        )
        .expect("a NOTIFY naming A's call");
    let d = info
        .dialog_by_call_id(&a_dialog.call_id)
        .expect("A's dialog in the NOTIFY")
        .clone();
    let replaces = replaces_value(&d.call_id, &d.remote_tag, &d.local_tag, false);

    // 3. B asks for the call.
    let t_pull = Instant::now();
    note(LANE_B, "B asks for the call (INVITE with Replaces)");
    let pull = b.call_with_headers(
        &format!("sip:alice@{DOMAIN}"),
        Some(b_rtp.sdp()),
        &[(sip_message::HeaderName::Replaces, replaces.clone())],
    );
    let asked = a_call
        .wait_info(HANDOVER_CONTENT_TYPE, T)
        .expect("Baton asks A");
    let question: serde_json::Value =
        serde_json::from_slice(&asked.body).expect("a JSON authorization request");
    let t_asked = Instant::now();
    note(LANE_A, "A beeps: the prompt tone rides on R's audio");
    std::thread::sleep(THINKING);

    // 4. A's user presses 1: an RFC 4733 event in A's own RTP stream.
    let t_press = Instant::now();
    note(LANE_A, "A's user presses 1 (RFC 4733 key in A's RTP)");
    // The key takes 140 ms to send (five updates, three end packets): B,
    // like a real phone, starts its audio as soon as its 200 arrives.
    let b_call = std::thread::scope(|scope| {
        scope.spawn(|| a_rtp.send_dtmf('1').expect("A sends the key"));
        let b_call = pull.wait_answer(T).expect("B gets the call");
        b_rtp.start_sending(RtpSend::new(
            b_call.remote_sdp().expect("Baton's answer to B").rtp_addr(),
            0xB,
            Payload::Pattern(B_MARK),
        ));
        note(LANE_B, "B starts sending its audio");
        b_call
    });
    a_call.wait_bye(T).expect("A is hung up");
    let reason = a_call.bye_reason().unwrap_or_default();
    // R hears B for half a second; B hears R.
    let deadline = Instant::now() + T;
    while count_marker(&r_rtp.packets(), B_MARK) < 25 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    if let Some((last_a, first_b)) = splice(&r_rtp.packets()) {
        events.push(Event {
            at: last_a.at,
            lane: LANE_R,
            text: "R's last packet of A's audio".into(),
        });
        events.push(Event {
            at: first_b.at,
            lane: LANE_R,
            text: "R's first packet of B's audio (same SSRC, next seq)".into(),
        });
    }
    let replaced = sub.wait_notify(
        |i| {
            i.dialog_by_call_id(&a_dialog.call_id)
                .is_some_and(|d| d.event.as_deref() == Some("replaced"))
        },
        T,
    );

    // Baton's view while the call is up: metrics and the audit trail.
    baton.wait_metric("baton_handover_rtp_gap_seconds_count", &[], 1.0);
    let (_, calls) = baton.http_get("/calls");
    let r_requests = r.received_requests_since(t_pull).len();

    // 5. B hangs up; R gets the BYE.
    let t_hangup = Instant::now();
    events.push(Event {
        at: t_hangup,
        lane: LANE_B,
        text: "B hangs up".into(),
    });
    assert_eq!(b_call.bye().expect("B hangs up"), 200);
    r_call.wait_bye(T).expect("R is hung up by B");
    for rtp in [&a_rtp, &b_rtp, &r_rtp] {
        rtp.stop();
    }

    // The ladder.
    println!("{}", ladder(t0, &[a.log(), b.log(), r.log()], &events));

    // What was asked and discovered.
    println!("Discovery: the NOTIFY B received named A's call as");
    println!(
        "  call-id={}  local-tag={} (A's)  remote-tag={} (Baton's)",
        d.call_id, d.local_tag, d.remote_tag
    );
    println!(
        "  direction={}  state={}  target={}",
        d.direction,
        d.state,
        d.target.as_deref().unwrap_or("?")
    );
    println!("  -> B sent   Replaces: {replaces}");
    println!("Authorization request to A (INFO {HANDOVER_CONTENT_TYPE}):\n  {question}");
    match &replaced {
        Ok(info) => {
            let states: Vec<String> = info.dialogs.iter().map(describe_dialog).collect();
            println!(
                "After the swap, NOTIFY v{}: {}",
                info.version,
                states.join("; ")
            );
        }
        Err(e) => println!("After the swap: no NOTIFY with A's dialog replaced ({e})"),
    }
    println!("A's BYE carried   Reason: {reason}\n");

    // What each party heard.
    println!("Media");
    let a_packets = a_rtp.packets();
    let beeps = beeps(&a_packets, t_asked - Duration::from_millis(100));
    let beeps_text: Vec<String> = beeps
        .iter()
        .map(|(from, to)| format!("{}-{} ms", ms(t0, *from), ms(t0, *to)))
        .collect();
    println!(
        "  A  heard the prompt tone in R's audio: {} beep(s) at {}; it stopped with the key press at {} ms",
        beeps.len(),
        if beeps_text.is_empty() { "-".into() } else { beeps_text.join(", ") },
        ms(t0, t_press)
    );
    let r_packets = r_rtp.packets();
    match splice(&r_packets) {
        Some((last_a, first_b)) => {
            let gap = first_b.at.saturating_duration_since(last_a.at);
            println!(
                "  R  last packet of A's audio at {} ms, first of B's at {} ms: silence {:.1} ms",
                ms(t0, last_a.at),
                ms(t0, first_b.at),
                gap.as_secs_f64() * 1000.0
            );
            println!(
                "     (A's phone stops its audio while it sends the key; the key's {} packets never reach R)",
                a_key_packets(&r_packets)
            );
            println!(
                "     sequence step {} (1 = seamless), timestamp step {} ({} ms of media time), SSRC {:#x} -> {:#x}",
                first_b.seq.wrapping_sub(last_a.seq),
                first_b.timestamp.wrapping_sub(last_a.timestamp),
                first_b.timestamp.wrapping_sub(last_a.timestamp) / 8,
                last_a.ssrc,
                first_b.ssrc
            );
        }
        None => println!("  R  no splice from A's audio to B's was seen"),
    }
    let ssrcs = r_rtp.ssrcs();
    let (max_gap, max_gap_at) = largest_arrival_gap(&r_packets);
    let at_swap = splice(&r_packets).is_some_and(|(_, first_b)| Some(first_b.at) == max_gap_at);
    println!(
        "     whole call at R: {} packets, {} SSRC ({}), largest sequence step {}",
        r_packets.len(),
        ssrcs.len(),
        if ssrcs.len() == 1 {
            "kept one stream"
        } else {
            "R saw a new stream!"
        },
        r_rtp.max_seq_gap().unwrap_or(0),
    );
    println!(
        "     largest arrival gap {:.1} ms, ending at {} ms ({})",
        max_gap.as_secs_f64() * 1000.0,
        max_gap_at.map_or_else(|| "-".into(), |at| ms(t0, at)),
        if at_swap {
            "the swap"
        } else {
            "not the swap: timing jitter on this machine"
        }
    );
    println!(
        "     telephone-events at R: {}; SIP requests R received since B asked: {}",
        r_packets
            .iter()
            .filter(|p| p.payload_type == TELEPHONE_EVENT)
            .count(),
        r_requests
    );
    let b_ok = b
        .log()
        .into_iter()
        .find(|e| {
            e.direction == Direction::Received
                && e.first_line.starts_with("SIP/2.0 200")
                && cseq_method(&e.text) == "INVITE"
        })
        .map(|e| e.at);
    let b_first = b_rtp
        .packets()
        .iter()
        .find(|p| is_audio_from(p, R_MARK))
        .map(|p| p.at);
    match (b_ok, b_first) {
        (Some(ok), Some(first)) => println!(
            "  B  got its 200 at {} ms; first packet of R's audio at {} ms: {:+.1} ms after the 200",
            ms(t0, ok),
            ms(t0, first),
            signed_ms(ok, first)
        ),
        _ => println!("  B  heard nothing from R"),
    }

    // Baton's own account.
    println!("\nBaton's metrics");
    for (name, parts, what) in [
        (
            "baton_handovers_total",
            &["result=\"granted\""][..],
            "handovers granted",
        ),
        (
            "baton_handover_authorization_seconds_sum",
            &[][..],
            "s asked -> decided",
        ),
        (
            "baton_handover_swap_seconds_sum",
            &[][..],
            "s grant committed -> B's first packet at R",
        ),
        (
            "baton_handover_rtp_gap_seconds_sum",
            &[][..],
            "s R's silence at the splice",
        ),
        (
            "baton_handover_rtp_missed_packets_total",
            &[][..],
            "packet intervals R missed",
        ),
    ] {
        let v = baton.metric_sum(name, parts);
        println!("  {name:<42} {v:>9.4}  {what}");
    }
    println!("\nGET /calls (the replicated audit trail of the call, while it was up):");
    match serde_json::from_str::<serde_json::Value>(&calls) {
        Ok(serde_json::Value::Array(calls)) => {
            for c in calls {
                for h in c["handovers"].as_array().into_iter().flatten() {
                    println!(
                        "  handover {}: leg {}, requested by {}, decision {} by {}, swapped {}",
                        h["id"],
                        h["leg"],
                        h["requested_by"],
                        h["decision"],
                        h["decided_by"],
                        h["swapped"]
                    );
                }
            }
        }
        _ => println!("  {calls}"),
    }
    println!(
        "\ndone in {:.1} s: the call moved from A to B, authorized by A, and R received no SIP request",
        t0.elapsed().as_secs_f64()
    );
}

fn phone(baton: &Baton, name: &str, user: &str, password: &str) -> Phone {
    let p = Phone::new(name, user, password, DOMAIN, baton.udp, Transport::Udp);
    let status = p.register(600).expect("REGISTER answered").status();
    assert_eq!(status, Some(200), "{name} registers");
    p
}

/// Milliseconds from `t0`, one decimal.
fn ms(t0: Instant, at: Instant) -> String {
    format!(
        "{:.1}",
        at.saturating_duration_since(t0).as_secs_f64() * 1000.0
    )
}

/// `to - from` in milliseconds, negative when `to` came first.
fn signed_ms(from: Instant, to: Instant) -> f64 {
    if to >= from {
        to.duration_since(from).as_secs_f64() * 1000.0
    } else {
        -(from.duration_since(to).as_secs_f64() * 1000.0)
    }
}

fn is_audio_from(p: &RtpPacket, marker: u8) -> bool {
    p.payload_type == PCMU && p.payload().first() == Some(&marker)
}

fn count_marker(packets: &[RtpPacket], marker: u8) -> usize {
    packets.iter().filter(|p| is_audio_from(p, marker)).count()
}

/// R's last packet of A's audio and first of B's.
fn splice(packets: &[RtpPacket]) -> Option<(&RtpPacket, &RtpPacket)> {
    let first_b = packets.iter().position(|p| is_audio_from(p, B_MARK))?;
    let last_a = packets[..first_b]
        .iter()
        .rposition(|p| is_audio_from(p, A_MARK))?;
    Some((&packets[last_a], &packets[first_b]))
}

/// The longest silence between two arrivals, and when it ended.
fn largest_arrival_gap(packets: &[RtpPacket]) -> (Duration, Option<Instant>) {
    packets
        .windows(2)
        .map(|w| (w[1].at.saturating_duration_since(w[0].at), Some(w[1].at)))
        .max_by_key(|(gap, _)| *gap)
        .unwrap_or((Duration::ZERO, None))
}

/// How many packets one RFC 4733 key is in the test phone's stream (five
/// updates, the end packet three times), for the text: none reach R.
fn a_key_packets(r_packets: &[RtpPacket]) -> String {
    let at_r = r_packets
        .iter()
        .filter(|p| p.payload_type == TELEPHONE_EVENT)
        .count();
    if at_r == 0 {
        "7".into()
    } else {
        format!("7 ({at_r} of them DID reach R)")
    }
}

/// Runs of R's packets at A with the prompt tone mixed in (R's audio is a
/// constant pattern, so any other byte after the packet counter is tone).
fn beeps(packets: &[RtpPacket], since: Instant) -> Vec<(Instant, Instant)> {
    let mut runs: Vec<(Instant, Instant)> = Vec::new();
    let mut current: Option<(Instant, Instant)> = None;
    for p in packets
        .iter()
        .filter(|p| p.at >= since && p.payload_type == PCMU)
    {
        let toned = p.payload().iter().skip(3).any(|b| *b != R_MARK);
        match (toned, current.as_mut()) {
            (true, Some(run)) => run.1 = p.at,
            (true, None) => current = Some((p.at, p.at)),
            (false, _) => runs.extend(current.take()),
        }
    }
    runs.extend(current);
    runs
}

/// One dialog of a NOTIFY in a few words.
fn describe_dialog(d: &baton_system_tests::ua::DialogEntry) -> String {
    let event = d
        .event
        .as_deref()
        .map(|e| format!(" (event={e})"))
        .unwrap_or_default();
    format!("{} {}{event}", d.target.as_deref().unwrap_or("?"), d.state)
}

/// A header's value in a message's text (first occurrence).
fn header(text: &str, name: &str) -> Option<String> {
    text.lines().take_while(|l| !l.is_empty()).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// The method of a message's CSeq.
fn cseq_method(text: &str) -> String {
    header(text, "CSeq")
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_default()
}

/// The body of a message's text.
fn body(text: &str) -> &str {
    text.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// The arrow's label and a note for one logged message.
fn describe(e: &LogEntry) -> (String, String) {
    let text = &e.text;
    if let Some(status) = e.first_line.strip_prefix("SIP/2.0 ") {
        let method = cseq_method(text);
        let code = status.split_whitespace().next().unwrap_or("");
        let label = if method == "INVITE" && status.len() <= GAP - 7 {
            status.to_string()
        } else {
            format!("{code} ({method})")
        };
        let note = match code {
            "401" | "407" => "digest challenge".to_string(),
            "200" if method == "INVITE" && !body(text).is_empty() => sdp_note(text),
            _ => String::new(),
        };
        return (label, note);
    }
    let method = e.first_line.split_whitespace().next().unwrap_or("?");
    let content_type = header(text, "Content-Type").unwrap_or_default();
    match method {
        "INVITE" => {
            let mut label = "INVITE".to_string();
            let mut notes = Vec::new();
            if let Some(r) = header(text, "Replaces") {
                label.push_str(" Replaces");
                notes.push(format!("Replaces: {r}"));
            } else if let Some(uri) = e.first_line.split_whitespace().nth(1) {
                notes.push(uri.to_string());
            }
            if header(text, "Proxy-Authorization").is_some() {
                notes.push("with credentials".into());
            }
            (label, notes.join(", "))
        }
        "INFO" if content_type.contains("handover") => {
            ("INFO handover".into(), body(text).trim().to_string())
        }
        "INFO" => (
            format!("INFO {content_type}"),
            body(text).trim().to_string(),
        ),
        "BYE" => (
            "BYE".into(),
            header(text, "Reason")
                .map(|r| format!("Reason: {r}"))
                .unwrap_or_default(),
        ),
        "NOTIFY" => {
            let note = DialogInfo::parse(body(text))
                .map(|i| {
                    let ds: Vec<String> = i.dialogs.iter().map(describe_dialog).collect();
                    format!(
                        "v{}: {}",
                        i.version,
                        if ds.is_empty() {
                            "no call".into()
                        } else {
                            ds.join("; ")
                        }
                    )
                })
                .unwrap_or_default();
            ("NOTIFY dialog".into(), note)
        }
        "SUBSCRIBE" => (
            "SUBSCRIBE dialog".into(),
            if header(text, "Authorization").is_some() {
                "with credentials".into()
            } else {
                String::new()
            },
        ),
        "ACK" if !body(text).is_empty() => ("ACK".into(), sdp_note(text)),
        other => (other.to_string(), String::new()),
    }
}

/// Where an SDP body asks audio to be sent.
fn sdp_note(text: &str) -> String {
    let b = body(text);
    let ip = b
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))
        .unwrap_or("?");
    let port = b
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or("?");
    format!("SDP: audio to {}:{port}", ip.trim())
}

/// Lifelines with an arrow from lane `from` to lane `to` labelled `label`.
fn arrow(from: usize, to: usize, label: &str) -> String {
    let mut row = lifelines();
    let (lo, hi) = (from.min(to) * GAP, from.max(to) * GAP);
    for c in row.iter_mut().take(hi).skip(lo + 1) {
        *c = '-';
    }
    if to > from {
        row[hi - 1] = '>';
    } else {
        row[lo + 1] = '<';
    }
    let room = hi - lo - 5;
    let label: String = format!(" {label} ").chars().take(room).collect();
    let start = lo + 2 + (room - label.chars().count()) / 2;
    for (i, ch) in label.chars().enumerate() {
        row[start + i] = ch;
    }
    row.into_iter().collect()
}

fn lifelines() -> Vec<char> {
    let mut row = vec![' '; (LANES.len() - 1) * GAP + 1];
    for lane in 0..LANES.len() {
        row[lane * GAP] = '|';
    }
    row
}

/// The ladder of the phones' logs from `t0` on, with `events` between.
fn ladder(t0: Instant, logs: &[Vec<LogEntry>], events: &[Event]) -> String {
    enum Row<'a> {
        Sip(&'a LogEntry),
        Note(&'a Event),
    }
    let mut rows: Vec<(Instant, Row<'_>)> = logs
        .iter()
        .flatten()
        .filter(|e| e.at >= t0)
        .map(|e| (e.at, Row::Sip(e)))
        .chain(events.iter().map(|e| (e.at, Row::Note(e))))
        .collect();
    rows.sort_by_key(|(at, _)| *at);
    let mut out = String::new();
    let mut head = String::from("    time ms  ");
    for (i, lane) in LANES.iter().enumerate() {
        let width = if i + 1 < LANES.len() { GAP } else { lane.len() };
        let _ = write!(head, "{lane:<width$}");
    }
    let _ = writeln!(out, "{head}");
    for (at, row) in rows {
        let (line, note) = match row {
            Row::Sip(e) => {
                let lane = match e.phone.as_str() {
                    "A" => LANE_A,
                    "B" => LANE_B,
                    _ => LANE_R,
                };
                let (label, note) = describe(e);
                let line = match e.direction {
                    Direction::Sent => arrow(lane, LANE_S, &label),
                    Direction::Received => arrow(LANE_S, lane, &label),
                };
                (line, note)
            }
            Row::Note(ev) => {
                let mut row = lifelines();
                row[ev.lane * GAP] = '*';
                (row.into_iter().collect(), format!("* {}", ev.text))
            }
        };
        let _ = writeln!(out, "{:>10}   {line}   {note}", ms(t0, at));
    }
    out
}
