//! Handover pull latency with an auto-granting holder, end to end through a
//! real `baton` process (release build) on loopback, driven by the
//! project's test agent (`baton-system-tests`).
//!
//! ```text
//! cargo bench -p baton-benches --bench pull_latency
//! ```
//!
//! (`BATON_BIN=/path/to/baton` uses that binary instead of building
//! `cargo build --release -p baton`.) Under `cargo test` (no `--bench`
//! argument) it runs a smoke pass instead: 2 users, 6 pulls at 10/s, and
//! asserts that every pull got its 200.
//!
//! Setup: one node, `PULL_USERS` users `u0..` (default 20), each with two
//! registered devices A and B, and one remote party R that every user's A
//! calls (A↔R established, no RTP; the relay's inactivity timeout is raised
//! so the silent calls live through the run). Then, at a fixed rate (open
//! loop, pulls handed round-robin to one worker thread per user), the
//! device not holding the call sends an INVITE with `Replaces` naming the
//! holder's dialog (A→B, then B→A naming B's dialog, and so on); the holder,
//! in the same worker, waits for the authorization INFO, grants at once by
//! INFO, and the worker waits for the puller's 200 and for Baton's BYE to
//! the old holder.
//!
//! Every instant comes from the agent's message log (stamped by the phone's
//! reader thread when the datagram is read, and under the engine lock
//! when one is written), read after each rate's run so that log copying
//! does not load the run itself:
//!
//! - `raw` = first INVITE sent → 200 received, minus the holder's decision
//!   time (authorization INFO received → decision INFO sent, on the
//!   holder's side). Includes the digest round trip: Baton answers the first
//!   INVITE `407`, the agent retries with credentials (it cannot
//!   pre-authenticate).
//! - `auth` = the authenticated retry INVITE sent → 200 received, minus the
//!   same decision time: what a pre-authenticated device would see. This
//!   is the headline figure (target: p99 < 5 ms).
//!
//! Rates: 1/s for 20 pulls, 10/s for 100, 100/s for 500, after a warm-up of
//! one pull per user (not reported). Each rate prints one line for notes,
//! with the two halves of `auth`: authenticated INVITE → holder asked, and
//! decision sent → 200 received.
//!
//! # Figures (2-core VM shared with other agents' builds, 4 runs, 20 users)
//!
//! ```text
//!          from authenticated INVITE (headline)   raw, incl. the 407 round trip
//! 1/s      p50 2.9-3.4 ms  p99 7.4-66 ms          p50 3.2-4.1 ms
//! 10/s     p50 2.6-3.6 ms  p99 4.4-13 ms          p50 3.1-4.0 ms
//! 100/s    p50 2.0-3.5 ms  p99 13-28 ms           p50 2.2-3.9 ms
//! ```
//!
//! 0 failed pulls in every run. The 407 round trip adds 0.3-0.5 ms at p50;
//! the holder's decision (subtracted) is 0.13-0.24 ms at p50. Of the p50,
//! ~2 ms is INVITE → holder asked and ~1 ms decision → 200. The p99 target
//! (< 5 ms) was met only at 10/s in the quietest run; the tails track the
//! machine's load (a concurrent `rustc` held both cores during some runs,
//! 1/s has only 20 samples so its p99 is its max).

use baton_system_tests::ua::{
    replaces_value, Call, Direction, LogEntry, Phone, RtpStream, Transport,
};
use baton_system_tests::Baton;
use sip_message::{HeaderName, Message, Method};
use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

// The node runs on mimalloc; so does the benchmark.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DOMAIN: &str = "example.test";
const JSON: &str = "application/vnd.baton.handover+json";
/// Any single wait of a worker (asked, 200, BYE).
const T: Duration = Duration::from_secs(4);
/// After the last pull of a run is handed out, how long its results may take.
const DRAIN: Duration = Duration::from_secs(20);
const TARGET_P99: Duration = Duration::from_millis(5);

/// One user's two devices and who holds the call now.
struct User {
    aor: String,
    a: Phone,
    b: Phone,
}

/// What a worker reports of one pull; instants are read from the logs later.
#[derive(Debug)]
struct PullRecord {
    user: usize,
    /// The device that pulled (sent the INVITE) is A.
    puller_is_a: bool,
    /// The pulling INVITE's Call-ID.
    call_id: String,
    /// The handover id from the authorization INFO (empty when never asked).
    handover: String,
    /// `None` when the pull landed (200, old holder hung up).
    failure: Option<String>,
}

/// The figures of one landed pull.
#[derive(Debug, Clone, Copy)]
struct Sample {
    raw: Duration,
    auth: Duration,
    decision: Duration,
    /// Authenticated INVITE sent → authorization INFO received by the holder.
    ask: Duration,
    /// Decision INFO sent by the holder → 200 received by the puller.
    swap: Duration,
}

enum Cmd {
    Pull,
}

fn replaces_of(call: &Call) -> String {
    let d = call.dialog_id().expect("a dialog");
    replaces_value(&d.call_id, &d.remote_tag, &d.local_tag, false)
}

fn offer() -> baton_system_tests::Sdp {
    // A real (then released) even port; no RTP flows in this benchmark.
    RtpStream::loopback().sdp()
}

/// One user's worker: pulls the call to the other device each time it is
/// told, granting as the holder.
fn worker(
    user_idx: usize,
    user: Arc<User>,
    mut holder: Call,
    cmds: mpsc::Receiver<Cmd>,
    results: mpsc::Sender<PullRecord>,
) {
    let mut holder_is_a = true;
    let (offer_a, offer_b) = (offer(), offer());
    for Cmd::Pull in cmds.iter() {
        let (puller, sdp) = if holder_is_a {
            (&user.b, offer_b.clone())
        } else {
            (&user.a, offer_a.clone())
        };
        let out = puller.call_with_headers(
            &user.aor,
            Some(sdp),
            &[(HeaderName::Replaces, replaces_of(&holder))],
        );
        let call_id = out.invite().call_id().unwrap_or_default().to_string();
        let mut record = PullRecord {
            user: user_idx,
            puller_is_a: !holder_is_a,
            call_id,
            handover: String::new(),
            failure: None,
        };
        let asked = holder.wait_info(JSON, T).ok().and_then(|info| {
            serde_json::from_slice::<serde_json::Value>(&info.body)
                .ok()?
                .get("handover")?
                .as_str()
                .map(str::to_string)
        });
        let Some(id) = asked else {
            let fin = out.wait_final(T);
            record.failure = Some(format!("holder never asked (B got {fin:?})"));
            let _ = results.send(record);
            continue;
        };
        record.handover = id.clone();
        match holder.info_json(&format!(r#"{{"handover":"{id}","decision":"grant"}}"#)) {
            Ok(200) => {}
            other => record.failure = Some(format!("decision INFO answered {other:?}")),
        }
        match out.wait_final(T) {
            Ok(200) => {
                if holder.wait_bye(T).is_err() {
                    record.failure = Some("old holder not hung up".into());
                }
                holder = out.call();
                holder_is_a = !holder_is_a;
            }
            other => {
                record.failure = Some(format!("puller got {other:?}"));
            }
        }
        let _ = results.send(record);
    }
}

/// The first entry matching `f`.
fn first_at(log: &[LogEntry], f: impl Fn(&LogEntry) -> bool) -> Option<Instant> {
    log.iter().find(|e| f(e)).map(|e| e.at)
}

/// Reads one landed pull's instants from the puller's and holder's logs.
fn sample_of(
    r: &PullRecord,
    puller_log: &[LogEntry],
    holder_log: &[LogEntry],
) -> Result<Sample, String> {
    let ours = |e: &LogEntry| e.text.contains(&r.call_id);
    let invite_sent = |e: &LogEntry| {
        e.direction == Direction::Sent && e.first_line.starts_with("INVITE ") && ours(e)
    };
    let t_first = first_at(puller_log, invite_sent).ok_or("no INVITE in the log")?;
    let t_auth = first_at(puller_log, |e| {
        invite_sent(e)
            && (e.text.contains("\r\nProxy-Authorization:")
                || e.text.contains("\r\nAuthorization:"))
    })
    .unwrap_or(t_first);
    let t_ok = first_at(puller_log, |e| {
        e.direction == Direction::Received
            && e.first_line.starts_with("SIP/2.0 200")
            && ours(e)
            && Message::parse(e.text.as_bytes())
                .ok()
                .and_then(|m| m.cseq())
                .is_some_and(|c| c.method == Method::INVITE)
    })
    .ok_or("no 200 in the log")?;
    let id = format!(r#""handover":"{}""#, r.handover);
    let is_info = |e: &LogEntry| e.first_line.starts_with("INFO ") && e.text.contains(&id);
    let t_asked = first_at(holder_log, |e| {
        e.direction == Direction::Received && is_info(e) && !e.text.contains("\"decision\"")
    })
    .ok_or("no authorization INFO in the holder's log")?;
    let t_decided = first_at(holder_log, |e| {
        e.direction == Direction::Sent && is_info(e) && e.text.contains("\"decision\"")
    })
    .ok_or("no decision INFO in the holder's log")?;
    let decision = t_decided.saturating_duration_since(t_asked);
    Ok(Sample {
        raw: t_ok
            .saturating_duration_since(t_first)
            .saturating_sub(decision),
        auth: t_ok
            .saturating_duration_since(t_auth)
            .saturating_sub(decision),
        decision,
        ask: t_asked.saturating_duration_since(t_auth),
        swap: t_ok.saturating_duration_since(t_decided),
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2}ms", d.as_secs_f64() * 1000.0)
}

#[derive(Debug)]
struct RunReport {
    line: String,
    ok: usize,
    failed: usize,
    p99_auth: Duration,
}

struct Bench {
    baton: Baton,
    users: Vec<Arc<User>>,
    /// Held so that R's engine keeps answering for every call.
    _r: Phone,
    to_workers: Vec<mpsc::Sender<Cmd>>,
    results: mpsc::Receiver<PullRecord>,
    workers: Vec<thread::JoinHandle<()>>,
}

impl Bench {
    fn start(n_users: usize) -> Bench {
        let mut config = String::from(
            "[media]\nports = \"40000-49999\"\ninactivity_timeout = \"1h\"\n\n\
             [handover]\nauthorization_timeout = \"3s\"\n\
             max_pulls_per_call = 1000000\nmax_pulls_per_user = 1000000\n\n\
             [[users]]\nname = \"remote\"\npassword = \"remote-pw\"\n\n",
        );
        for i in 0..n_users {
            config.push_str(&format!(
                "[[users]]\nname = \"u{i}\"\npassword = \"p{i}\"\n\n"
            ));
        }
        let baton = Baton::start(DOMAIN, "", &config);
        let reg = |name: &str, user: &str, pw: &str| {
            let p = Phone::new(name, user, pw, DOMAIN, baton.udp, Transport::Udp);
            let status = p.register(3600).expect("register").status();
            assert_eq!(status, Some(200), "{name} registers");
            p
        };
        let r = reg("R", "remote", "remote-pw");
        let (res_tx, results) = mpsc::channel();
        let mut users = Vec::new();
        let mut to_workers = Vec::new();
        let mut workers = Vec::new();
        for i in 0..n_users {
            let (user, pw) = (format!("u{i}"), format!("p{i}"));
            let a = reg(&format!("u{i}-A"), &user, &pw);
            let b = reg(&format!("u{i}-B"), &user, &pw);
            let out = a.call(&format!("sip:remote@{DOMAIN}"), Some(offer()));
            r.wait_incoming(T)
                .expect("R rings")
                .answer(Some(offer()))
                .expect("R answers");
            let a_call = out.wait_answer(T).expect("A↔R established");
            let u = Arc::new(User {
                aor: format!("sip:{user}@{DOMAIN}"),
                a,
                b,
            });
            let (tx, rx) = mpsc::channel();
            let (u2, res) = (Arc::clone(&u), res_tx.clone());
            workers.push(
                thread::Builder::new()
                    .name(format!("pull-u{i}"))
                    .spawn(move || worker(i, u2, a_call, rx, res))
                    .expect("spawn worker"),
            );
            users.push(u);
            to_workers.push(tx);
        }
        Bench {
            baton,
            users,
            _r: r,
            to_workers,
            results,
            workers,
        }
    }

    /// `count` pulls at `rate` per second, round-robin over the users.
    /// The node's own histogram of pulls (`baton_handover_pull_seconds`:
    /// B's INVITE taken by the call → its 200 handed to B's leg, minus A's
    /// decision): (count, within 2.5 ms, within 5 ms, within 10 ms).
    fn node_histogram(&self) -> [f64; 4] {
        let b = |le: &str| {
            self.baton.metric_sum(
                "baton_handover_pull_seconds_bucket",
                &[&format!("le=\"{le}\"")],
            )
        };
        [
            self.baton
                .metric_sum("baton_handover_pull_seconds_count", &[]),
            b("0.0025"),
            b("0.005"),
            b("0.01"),
        ]
    }

    fn run(&self, label: &str, rate: f64, count: usize) -> RunReport {
        let loadavg_before = loadavg();
        let node_before = self.node_histogram();
        let start = Instant::now();
        let interval = Duration::from_secs_f64(1.0 / rate);
        let mut late = 0usize;
        for k in 0..count {
            let due = start + interval * k as u32;
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            } else if now - due > Duration::from_millis(1) {
                late += 1;
            }
            let _ = self.to_workers[k % self.to_workers.len()].send(Cmd::Pull);
        }
        let deadline = Instant::now() + DRAIN;
        let mut records = Vec::with_capacity(count);
        while records.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.results.recv_timeout(left) {
                Ok(r) => records.push(r),
                Err(_) => break,
            }
        }
        let missing = count - records.len();
        // Read the logs once per phone, after the run.
        let mut logs: HashMap<(usize, bool), Vec<LogEntry>> = HashMap::new();
        let mut log_of = |user: usize, is_a: bool| -> Vec<LogEntry> {
            logs.entry((user, is_a))
                .or_insert_with(|| {
                    let u = &self.users[user];
                    if is_a {
                        u.a.log()
                    } else {
                        u.b.log()
                    }
                })
                .clone()
        };
        let mut samples = Vec::new();
        let mut failures: Vec<String> = Vec::new();
        for r in &records {
            if let Some(f) = &r.failure {
                failures.push(format!("u{}: {f}", r.user));
                continue;
            }
            let puller = log_of(r.user, r.puller_is_a);
            let holder = log_of(r.user, !r.puller_is_a);
            match sample_of(r, &puller, &holder) {
                Ok(s) => samples.push(s),
                Err(e) => failures.push(format!("u{}: {e}", r.user)),
            }
        }
        let failed = failures.len() + missing;
        let sorted = |f: fn(&Sample) -> Duration| {
            let mut v: Vec<Duration> = samples.iter().map(f).collect();
            v.sort();
            v
        };
        let (auth, raw, dec) = (
            sorted(|s| s.auth),
            sorted(|s| s.raw),
            sorted(|s| s.decision),
        );
        let (ask, swap) = (sorted(|s| s.ask), sorted(|s| s.swap));
        let stats = |v: &[Duration]| {
            format!(
                "p50={} p99={} max={}",
                ms(percentile(v, 50.0)),
                ms(percentile(v, 99.0)),
                ms(v.last().copied().unwrap_or_default())
            )
        };
        let node_after = self.node_histogram();
        let node: Vec<f64> = node_after
            .iter()
            .zip(node_before)
            .map(|(a, b)| a - b)
            .collect();
        let share = |i: usize| {
            if node[0] > 0.0 {
                format!("{:.1}%", 100.0 * node[i] / node[0])
            } else {
                "-".into()
            }
        };
        let node_line = format!(
            "node side (baton_handover_pull_seconds, {} pulls): ≤2.5ms {} ≤5ms {} ≤10ms {}",
            node[0],
            share(1),
            share(2),
            share(3)
        );
        let line = format!(
            "pull_latency {label} rate={rate}/s pulls={count} ok={} failed={failed} | {node_line} | \
             from authenticated INVITE: {} | raw incl. 407 round trip: {} | \
             A's decision (subtracted): p50={} max={} | parts: INVITE→A asked p50={} p99={}, \
             decision→200 p50={} p99={} | late sends={late} loadavg={loadavg_before}",
            samples.len(),
            stats(&auth),
            stats(&raw),
            ms(percentile(&dec, 50.0)),
            ms(dec.last().copied().unwrap_or_default()),
            ms(percentile(&ask, 50.0)),
            ms(percentile(&ask, 99.0)),
            ms(percentile(&swap, 50.0)),
            ms(percentile(&swap, 99.0)),
        );
        for f in failures.iter().take(10) {
            eprintln!("  failed pull: {f}");
        }
        if missing > 0 {
            eprintln!("  {missing} pulls gave no result within {DRAIN:?}");
        }
        RunReport {
            line,
            ok: samples.len(),
            failed,
            p99_auth: percentile(&auth, 99.0),
        }
    }

    fn stop(self) {
        drop(self.to_workers);
        for w in self.workers {
            let _ = w.join();
        }
    }
}

/// The 1-minute load average, for judging a shared machine's figures.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn main() {
    // `cargo bench` passes `--bench`; under `cargo test` (no `--bench`)
    // only a smoke run, which asserts that every pull landed.
    if !std::env::args().any(|a| a == "--bench") {
        let bench = Bench::start(2);
        let report = bench.run("smoke", 10.0, 6);
        println!("{}", report.line);
        assert_eq!(report.failed, 0, "every pull gets its 200: {}", report.line);
        assert_eq!(report.ok, 6, "{}", report.line);
        bench.stop();
        return;
    }
    let n_users = std::env::var("PULL_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20usize)
        .clamp(1, 200);
    let bench = Bench::start(n_users);
    println!(
        "pull_latency: {n_users} users (A, B each) + R, baton {}",
        baton_system_tests::baton_bin().display()
    );
    let warm = bench.run("warm-up", 10.0, n_users);
    println!("({})", warm.line);
    let mut reports = Vec::new();
    for (rate, count) in [(1.0, 20), (10.0, 100), (100.0, 500)] {
        let r = bench.run("", rate, count);
        println!("{}", r.line);
        reports.push((rate, r));
    }
    for (rate, r) in &reports {
        let verdict = if r.failed == 0 && r.p99_auth < TARGET_P99 {
            "meets"
        } else {
            "misses"
        };
        println!(
            "rate {rate}/s: {verdict} the target (p99 < {} from the authenticated INVITE, 0 failed)",
            ms(TARGET_P99)
        );
    }
    bench.stop();
}
