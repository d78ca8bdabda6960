//! RTP for the test agent (RFC 3550, RFC 4733): one UDP socket on the port
//! a phone advertises, a paced sender on a background thread, and a receiver
//! that records every packet for the test to assert on.
//!
//! The same socket sends and receives (symmetric RTP), as real phones do
//! and as a relay that latches onto the source address expects.

use super::{g711, UaError};
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Samples per packet: 20 ms of 8 kHz audio.
pub const SAMPLES_PER_PACKET: u32 = 160;
/// How long one RFC 4733 digit lasts before its end packets.
const DTMF_UPDATES: u32 = 5;
/// RFC 4733 §2.5.1.4: the final packet is sent a total of three times.
const DTMF_END_COPIES: u32 = 3;

/// One received RTP packet, as recorded by [`RtpStream`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    /// When it arrived.
    pub at: Instant,
    /// Where it came from.
    pub from: SocketAddr,
    /// Payload type.
    pub payload_type: u8,
    /// The marker bit.
    pub marker: bool,
    /// Sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// The whole payload (padding removed).
    pub payload: Vec<u8>,
    /// The whole payload's length.
    pub payload_len: usize,
}

impl RtpPacket {
    /// Parses the fixed header, CSRCs and extension of an RTP packet
    /// (RFC 3550 §5.1, §5.3.1); `None` for anything else (RTCP, STUN, junk).
    pub fn parse(at: Instant, from: SocketAddr, data: &[u8]) -> Option<RtpPacket> {
        if data.len() < 12 || data[0] >> 6 != 2 {
            return None;
        }
        let payload_type = data[1] & 0x7f;
        // RTCP packet types 200-204 land on 72-76 with the marker bit set.
        if (72..=76).contains(&payload_type) && data[1] & 0x80 != 0 {
            return None;
        }
        let csrcs = usize::from(data[0] & 0x0f);
        let mut offset = 12 + 4 * csrcs;
        if data[0] & 0x10 != 0 {
            let ext = data.get(offset + 2..offset + 4)?;
            offset += 4 + 4 * usize::from(u16::from_be_bytes([ext[0], ext[1]]));
        }
        let mut end = data.len();
        if data[0] & 0x20 != 0 {
            end = end.checked_sub(usize::from(*data.last()?))?;
        }
        let payload = data.get(offset..end)?;
        Some(RtpPacket {
            at,
            from,
            payload_type,
            marker: data[1] & 0x80 != 0,
            seq: u16::from_be_bytes([data[2], data[3]]),
            timestamp: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
            ssrc: u32::from_be_bytes([data[8], data[9], data[10], data[11]]),
            payload: payload.to_vec(),
            payload_len: payload.len(),
        })
    }

    /// The RFC 4733 event this packet carries, if its payload is one:
    /// (event code, end bit, duration).
    pub fn telephone_event(&self) -> Option<(u8, bool, u16)> {
        let p = self.payload.get(..4)?;
        Some((p[0], p[1] & 0x80 != 0, u16::from_be_bytes([p[2], p[3]])))
    }

    /// The payload bytes.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The payload decoded to linear samples when its payload type is a
    /// static G.711 one: 0 (PCMU, µ-law) or 8 (PCMA, A-law); `None` for any
    /// other payload type.
    pub fn samples(&self) -> Option<Vec<i16>> {
        match self.payload_type {
            0 => Some(self.payload.iter().map(|b| g711::ulaw_decode(*b)).collect()),
            8 => Some(self.payload.iter().map(|b| g711::alaw_decode(*b)).collect()),
            _ => None,
        }
    }
}

/// What each audio packet carries.
pub enum Payload {
    /// 160 bytes: `[marker, counter_hi, counter_lo, marker, marker, …]`,
    /// the counter being the packet's index in this sending run. Check
    /// with [`RtpStream::payloads_match`]: whose audio got through.
    Pattern(u8),
    /// 160 bytes of µ-law silence (0xFF).
    Silence,
    /// 160 µ-law bytes, each the code of this linear sample (for PCMU,
    /// payload type 0): a level the receiver checks with
    /// [`RtpPacket::samples`] or [`RtpStream::rms_since`]. The decoded
    /// value is the sample as G.711 quantises it
    /// (`g711::ulaw_decode(g711::ulaw_encode(x))`).
    ConstantUlaw(i16),
    /// 160 A-law bytes, each the code of this linear sample (for PCMA,
    /// payload type 8).
    ConstantAlaw(i16),
    /// Any generator of the payload of packet number `n`.
    Custom(Box<dyn FnMut(u32) -> Vec<u8> + Send>),
}

impl Payload {
    fn generate(&mut self, n: u32) -> Vec<u8> {
        match self {
            Payload::Pattern(marker) => {
                let mut p = vec![*marker; SAMPLES_PER_PACKET as usize];
                p[1..3].copy_from_slice(&(n as u16).to_be_bytes());
                p
            }
            Payload::Silence => vec![0xff; SAMPLES_PER_PACKET as usize],
            Payload::ConstantUlaw(x) => vec![g711::ulaw_encode(*x); SAMPLES_PER_PACKET as usize],
            Payload::ConstantAlaw(x) => vec![g711::alaw_encode(*x); SAMPLES_PER_PACKET as usize],
            Payload::Custom(f) => f(n),
        }
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Payload::Pattern(m) => write!(f, "Pattern({m:#04x})"),
            Payload::Silence => f.write_str("Silence"),
            Payload::ConstantUlaw(x) => write!(f, "ConstantUlaw({x})"),
            Payload::ConstantAlaw(x) => write!(f, "ConstantAlaw({x})"),
            Payload::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// How to send: destination, SSRC, payload type, pacing and content.
#[derive(Debug)]
pub struct RtpSend {
    /// Where the packets go (the peer's SDP address and port).
    pub dest: SocketAddr,
    /// Our SSRC.
    pub ssrc: u32,
    /// The audio payload type [0, PCMU].
    pub payload_type: u8,
    /// The packet interval [20 ms]; timestamps advance 160 per packet.
    pub interval: Duration,
    /// The audio payload.
    pub payload: Payload,
    /// The payload type of RFC 4733 events [101].
    pub telephone_event: u8,
}

impl RtpSend {
    /// PCMU every 20 ms to `dest` with `ssrc`.
    pub fn new(dest: SocketAddr, ssrc: u32, payload: Payload) -> RtpSend {
        RtpSend {
            dest,
            ssrc,
            payload_type: 0,
            interval: Duration::from_millis(20),
            payload,
            telephone_event: 101,
        }
    }

    /// What the answer `remote` negotiated: its address, the payload type
    /// of its first audio codec (else 0) for the audio, and its
    /// `telephone-event` payload type (else 101) for RFC 4733 digits.
    pub fn negotiated(remote: &super::Sdp, ssrc: u32, payload: Payload) -> RtpSend {
        let mut spec = RtpSend::new(remote.rtp_addr(), ssrc, payload);
        if let Some(codec) = remote.audio_codec() {
            spec.payload_type = codec.payload_type;
        }
        if let Some(te) = remote.payload_type_of("telephone-event") {
            spec.telephone_event = te;
        }
        spec
    }

    /// Another audio payload type.
    pub fn payload_type(mut self, pt: u8) -> RtpSend {
        self.payload_type = pt;
        self
    }

    /// Another packet interval.
    pub fn interval(mut self, interval: Duration) -> RtpSend {
        self.interval = interval;
        self
    }

    /// Another payload type for telephone events.
    pub fn telephone_event(mut self, pt: u8) -> RtpSend {
        self.telephone_event = pt;
        self
    }
}

/// A request to the sender thread: one digit, and who to tell when its
/// last end packet is out.
type DigitRequest = (u8, mpsc::Sender<()>);

#[derive(Debug)]
struct Sender {
    stop: Arc<AtomicBool>,
    digits: mpsc::Sender<DigitRequest>,
    thread: JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    packets: Mutex<Vec<RtpPacket>>,
    arrived: Condvar,
    stop: AtomicBool,
    /// The payload type the receiver reads as telephone events.
    telephone_event: AtomicU8,
    /// Where each SSRC's sequence number and timestamp stopped, so a
    /// stream that pauses (hold) and resumes continues them.
    continuation: Mutex<HashMap<u32, (u16, u32)>>,
    /// Record only packets from this address (see [`RtpStream::only_from`]).
    only_from: Mutex<Option<SocketAddr>>,
    /// Packets from elsewhere, not recorded.
    foreign: std::sync::atomic::AtomicUsize,
}

/// An RTP endpoint on one UDP port: a recorder of everything received and,
/// once [`RtpStream::start_sending`] is called, a paced sender.
#[derive(Debug)]
pub struct RtpStream {
    socket: UdpSocket,
    shared: Arc<Shared>,
    receiver: Option<JoinHandle<()>>,
    sender: Mutex<Option<Sender>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not hide the state from the next assertion.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl RtpStream {
    /// A stream on an even port of `ip` (RFC 3550 §11), receiving at once.
    ///
    /// # Panics
    /// If no even port can be bound.
    pub fn bind(ip: IpAddr) -> RtpStream {
        let socket = bind_even(ip).expect("bind an even RTP port");
        let shared = Arc::new(Shared {
            packets: Mutex::new(Vec::new()),
            only_from: Mutex::new(None),
            foreign: std::sync::atomic::AtomicUsize::new(0),
            arrived: Condvar::new(),
            stop: AtomicBool::new(false),
            telephone_event: AtomicU8::new(101),
            continuation: Mutex::new(HashMap::new()),
        });
        let rx = socket.try_clone().expect("clone rtp socket");
        rx.set_read_timeout(Some(Duration::from_millis(20)))
            .expect("read timeout");
        let recv_shared = Arc::clone(&shared);
        let receiver = std::thread::Builder::new()
            .name("rtp-recv".into())
            .spawn(move || receive_loop(&rx, &recv_shared))
            .expect("spawn rtp receiver");
        RtpStream {
            socket,
            shared,
            receiver: Some(receiver),
            sender: Mutex::new(None),
        }
    }

    /// [`RtpStream::bind`] on 127.0.0.1.
    pub fn loopback() -> RtpStream {
        RtpStream::bind(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// Our address: what goes into the phone's SDP.
    pub fn local_addr(&self) -> SocketAddr {
        self.socket.local_addr().expect("rtp local addr")
    }

    /// Our port.
    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// An offer for this stream (PCMU, PCMA, telephone-event; sendrecv).
    pub fn sdp(&self) -> super::Sdp {
        super::Sdp::offer(self.local_addr())
    }

    /// Starts sending on a background thread, replacing any sender already
    /// running. The first packet carries the marker bit; each one advances
    /// the sequence number by 1 and the timestamp by 160. Restarting with
    /// the same SSRC continues its sequence numbers and timestamps.
    pub fn start_sending(&self, spec: RtpSend) {
        self.stop();
        let socket = self.socket.try_clone().expect("clone rtp socket");
        let stop = Arc::new(AtomicBool::new(false));
        let (digits, digit_rx) = mpsc::channel();
        let shared = Arc::clone(&self.shared);
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("rtp-send".into())
            .spawn(move || send_loop(&socket, spec, &thread_stop, &digit_rx, &shared))
            .expect("spawn rtp sender");
        *lock(&self.sender) = Some(Sender {
            stop,
            digits,
            thread,
        });
    }

    /// True while a sender runs.
    pub fn is_sending(&self) -> bool {
        lock(&self.sender).is_some()
    }

    /// Stops the sender (the receiver keeps recording). Returns once the
    /// last packet is out.
    pub fn stop(&self) {
        let sender = lock(&self.sender).take();
        if let Some(s) = sender {
            s.stop.store(true, Ordering::SeqCst);
            let _ = s.thread.join();
        }
    }

    /// Sends one RFC 4733 digit (`0-9 * # A-D`) in the running stream:
    /// same SSRC and sequence space as the audio, the event's timestamp
    /// fixed at its start, the marker bit on its first packet, the duration
    /// growing by 160 per packet for 100 ms, then the final packet with the
    /// E bit three times (§2.5.1.4), each with its own sequence number
    /// (§2.5.1.6). Audio stops meanwhile. Blocks until the digit is out.
    pub fn send_dtmf(&self, digit: char) -> Result<(), UaError> {
        let code = dtmf_code(digit).ok_or(UaError::BadDigit(digit))?;
        let (done_tx, done_rx) = mpsc::channel();
        {
            let sender = lock(&self.sender);
            let s = sender.as_ref().ok_or(UaError::NotSending)?;
            s.digits
                .send((code, done_tx))
                .map_err(|_| UaError::NotSending)?;
        }
        done_rx
            .recv_timeout(crate::REPLY_TIMEOUT)
            .map_err(|_| UaError::Timeout {
                phone: format!("rtp {}", self.local_addr()),
                waiting_for: "the DTMF digit to be sent",
            })
    }

    /// Which payload type the receiver reads as telephone events [101].
    pub fn set_telephone_event(&self, pt: u8) {
        self.shared.telephone_event.store(pt, Ordering::SeqCst);
    }

    /// From now on, record only packets from `source` (the relay port this
    /// stream's peer is anchored at: symmetric RTP sends from there), and
    /// forget those already recorded from anywhere else. Tests running in
    /// parallel reuse each other's freed ports, so a stream can receive
    /// media a stranger's relay still sends to the port's previous owner.
    pub fn only_from(&self, source: SocketAddr) {
        *lock(&self.shared.only_from) = Some(source);
        let mut packets = lock(&self.shared.packets);
        let before = packets.len();
        packets.retain(|p| p.from == source);
        self.shared
            .foreign
            .fetch_add(before - packets.len(), Ordering::Relaxed);
    }

    /// Packets not recorded because they came from elsewhere than the
    /// [`RtpStream::only_from`] source.
    pub fn foreign_count(&self) -> usize {
        self.shared.foreign.load(Ordering::Relaxed)
    }

    /// Every packet received so far, in arrival order.
    pub fn packets(&self) -> Vec<RtpPacket> {
        lock(&self.shared.packets).clone()
    }

    /// Forgets every packet received so far.
    pub fn clear(&self) {
        lock(&self.shared.packets).clear();
    }

    /// How many packets arrived.
    pub fn received_count(&self) -> usize {
        lock(&self.shared.packets).len()
    }

    /// How many packets of this payload type arrived.
    pub fn count_payload_type(&self, pt: u8) -> usize {
        lock(&self.shared.packets)
            .iter()
            .filter(|p| p.payload_type == pt)
            .count()
    }

    /// Waits until at least `n` packets have arrived in total.
    pub fn wait_packets(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |p| p.len() >= n).is_some()
    }

    /// Waits until `n` more packets than now have arrived.
    pub fn wait_more_packets(&self, n: usize, timeout: Duration) -> bool {
        let have = self.received_count();
        self.wait_packets(have + n, timeout)
    }

    /// The SSRCs seen, in order of first appearance.
    pub fn ssrcs(&self) -> Vec<u32> {
        let mut out = Vec::new();
        for p in lock(&self.shared.packets).iter() {
            if !out.contains(&p.ssrc) {
                out.push(p.ssrc);
            }
        }
        out
    }

    /// The source addresses seen, in order of first appearance.
    pub fn sources(&self) -> Vec<SocketAddr> {
        let mut out = Vec::new();
        for p in lock(&self.shared.packets).iter() {
            if !out.contains(&p.from) {
                out.push(p.from);
            }
        }
        out
    }

    /// The largest sequence-number step between consecutive packets in
    /// arrival order, across SSRCs (a relay that keeps the stream seamless
    /// gives 1; loss shows as more, reordering or a restart as a big step).
    /// `None` with fewer than two packets.
    pub fn max_seq_gap(&self) -> Option<u16> {
        let packets = lock(&self.shared.packets);
        packets
            .windows(2)
            .map(|w| (w[1].seq.wrapping_sub(w[0].seq) as i16).unsigned_abs())
            .max()
    }

    /// The longest silence between two consecutive arrivals.
    pub fn max_arrival_gap(&self) -> Option<Duration> {
        let packets = lock(&self.shared.packets);
        packets
            .windows(2)
            .map(|w| w[1].at.saturating_duration_since(w[0].at))
            .max()
    }

    /// When the first packet after `instant` arrived.
    pub fn first_arrival_after(&self, instant: Instant) -> Option<Instant> {
        lock(&self.shared.packets)
            .iter()
            .map(|p| p.at)
            .find(|at| *at > instant)
    }

    /// True when at least one audio packet arrived and every audio packet
    /// (all but telephone events) starts with `marker`, as sent with
    /// [`Payload::Pattern`].
    pub fn payloads_match(&self, marker: u8) -> bool {
        let te = self.shared.telephone_event.load(Ordering::SeqCst);
        let packets = lock(&self.shared.packets);
        let mut audio = packets.iter().filter(|p| p.payload_type != te).peekable();
        audio.peek().is_some() && audio.all(|p| p.payload.first() == Some(&marker))
    }

    /// How many audio packets start with `marker`.
    pub fn count_marker(&self, marker: u8) -> usize {
        let te = self.shared.telephone_event.load(Ordering::SeqCst);
        lock(&self.shared.packets)
            .iter()
            .filter(|p| p.payload_type != te && p.payload.first() == Some(&marker))
            .count()
    }

    /// The decoded samples of every G.711 packet (payload type 0 or 8) that
    /// arrived after `instant`, in arrival order.
    pub fn samples_since(&self, instant: Instant) -> Vec<i16> {
        lock(&self.shared.packets)
            .iter()
            .filter(|p| p.at > instant)
            .filter_map(RtpPacket::samples)
            .flatten()
            .collect()
    }

    /// The root-mean-square level of [`Self::samples_since`]`(instant)`:
    /// 0 for silence, the magnitude of the sample for a constant payload;
    /// `None` when no G.711 packet arrived since.
    pub fn rms_since(&self, instant: Instant) -> Option<f64> {
        let samples = self.samples_since(instant);
        if samples.is_empty() {
            return None;
        }
        let sum: f64 = samples.iter().map(|s| f64::from(*s).powi(2)).sum();
        Some((sum / samples.len() as f64).sqrt())
    }

    /// The RFC 4733 digits received, one per event: an event is identified
    /// by its SSRC and timestamp, and counts once its end bit is seen (the
    /// three end copies make one digit).
    pub fn dtmf_digits(&self) -> Vec<char> {
        let te = self.shared.telephone_event.load(Ordering::SeqCst);
        digits_of(&lock(&self.shared.packets), te)
    }

    /// Waits until `n` digits have been received; returns them all.
    pub fn wait_dtmf(&self, n: usize, timeout: Duration) -> Vec<char> {
        let te = self.shared.telephone_event.load(Ordering::SeqCst);
        self.wait_until(timeout, |p| digits_of(p, te).len() >= n);
        self.dtmf_digits()
    }

    fn wait_until(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&[RtpPacket]) -> bool,
    ) -> Option<()> {
        let deadline = Instant::now() + timeout;
        let mut packets = lock(&self.shared.packets);
        loop {
            if done(&packets) {
                return Some(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            packets = self
                .shared
                .arrived
                .wait_timeout(packets, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Drop for RtpStream {
    fn drop(&mut self) {
        self.stop();
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(r) = self.receiver.take() {
            let _ = r.join();
        }
    }
}

fn bind_even(ip: IpAddr) -> std::io::Result<UdpSocket> {
    let mut last = None;
    for _ in 0..100 {
        let s = UdpSocket::bind(SocketAddr::new(ip, 0))?;
        let port = s.local_addr()?.port();
        if port % 2 == 0 {
            return Ok(s);
        }
        match UdpSocket::bind(SocketAddr::new(ip, port - 1)) {
            Ok(even) => return Ok(even),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no even port")))
}

fn receive_loop(socket: &UdpSocket, shared: &Shared) {
    let mut buf = vec![0u8; 2048];
    while !shared.stop.load(Ordering::SeqCst) {
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                if let Some(p) = RtpPacket::parse(Instant::now(), from, &buf[..n]) {
                    if lock(&shared.only_from).is_some_and(|only| only != from) {
                        shared.foreign.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    lock(&shared.packets).push(p);
                    shared.arrived.notify_all();
                }
            }
            // Timeouts let the loop see `stop`; ICMP errors are not ours to judge.
            Err(_) => continue,
        }
    }
}

/// Where a digit is in its life: `tick` counts its packets so far.
struct Event {
    code: u8,
    timestamp: u32,
    tick: u32,
    done: mpsc::Sender<()>,
}

fn send_loop(
    socket: &UdpSocket,
    mut spec: RtpSend,
    stop: &AtomicBool,
    digits: &mpsc::Receiver<DigitRequest>,
    shared: &Shared,
) {
    let resumed = lock(&shared.continuation).get(&spec.ssrc).copied();
    let (mut seq, mut ts) = resumed.unwrap_or((
        (spec.ssrc as u16) ^ 0x1234,
        spec.ssrc.rotate_left(7) ^ 0x5a5a,
    ));
    let start = Instant::now();
    let mut n: u32 = 0;
    let mut event: Option<Event> = None;
    while !stop.load(Ordering::SeqCst) {
        if event.is_none() {
            if let Ok((code, done)) = digits.try_recv() {
                event = Some(Event {
                    code,
                    timestamp: ts,
                    tick: 0,
                    done,
                });
            }
        }
        let packet = match event.as_mut() {
            Some(ev) => {
                // Updates at 160, 320, …; the last update is the end packet,
                // sent DTMF_END_COPIES times with the same duration.
                let step = (ev.tick + 1).min(DTMF_UPDATES);
                let end = ev.tick + 1 >= DTMF_UPDATES;
                let duration = (step * SAMPLES_PER_PACKET) as u16;
                let payload = [
                    ev.code,
                    if end { 0x80 } else { 0 } | 10,
                    (duration >> 8) as u8,
                    duration as u8,
                ];
                let p = rtp_packet(
                    spec.telephone_event,
                    ev.tick == 0,
                    seq,
                    ev.timestamp,
                    spec.ssrc,
                    &payload,
                );
                ev.tick += 1;
                p
            }
            None => rtp_packet(
                spec.payload_type,
                n == 0,
                seq,
                ts,
                spec.ssrc,
                &spec.payload.generate(n),
            ),
        };
        let _ = socket.send_to(&packet, spec.dest);
        if event
            .as_ref()
            .is_some_and(|ev| ev.tick >= DTMF_UPDATES - 1 + DTMF_END_COPIES)
        {
            if let Some(ev) = event.take() {
                let _ = ev.done.send(());
            }
        }
        seq = seq.wrapping_add(1);
        ts = ts.wrapping_add(SAMPLES_PER_PACKET);
        n += 1;
        // Pace on the absolute schedule so the rate does not drift.
        let next = start + spec.interval * n;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
    }
    lock(&shared.continuation).insert(spec.ssrc, (seq, ts));
}

fn rtp_packet(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(12 + payload.len());
    p.push(0x80);
    p.push(if marker { 0x80 } else { 0 } | (pt & 0x7f));
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// RFC 4733 §3.2 event codes of the DTMF digits.
pub fn dtmf_code(digit: char) -> Option<u8> {
    Some(match digit {
        '0'..='9' => digit as u8 - b'0',
        '*' => 10,
        '#' => 11,
        'A'..='D' => digit as u8 - b'A' + 12,
        'a'..='d' => digit as u8 - b'a' + 12,
        _ => return None,
    })
}

fn dtmf_digit(code: u8) -> Option<char> {
    Some(match code {
        0..=9 => (b'0' + code) as char,
        10 => '*',
        11 => '#',
        12..=15 => (b'A' + code - 12) as char,
        _ => return None,
    })
}

fn digits_of(packets: &[RtpPacket], te: u8) -> Vec<char> {
    let mut seen: Vec<(u32, u32)> = Vec::new();
    let mut out = Vec::new();
    for p in packets.iter().filter(|p| p.payload_type == te) {
        let Some((code, true, _)) = p.telephone_event() else {
            continue;
        };
        if seen.contains(&(p.ssrc, p.timestamp)) {
            continue;
        }
        seen.push((p.ssrc, p.timestamp));
        if let Some(d) = dtmf_digit(code) {
            out.push(d);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_round_trips_through_the_parser() {
        let bytes = rtp_packet(0, true, 7, 1600, 0xabcd, &[1, 2, 3]);
        let from: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        let p = RtpPacket::parse(Instant::now(), from, &bytes).expect("rtp");
        assert_eq!(
            (p.payload_type, p.marker, p.seq, p.timestamp, p.ssrc),
            (0, true, 7, 1600, 0xabcd)
        );
        assert_eq!(p.payload, [1, 2, 3]);
    }

    #[test]
    fn every_dtmf_digit_has_a_code_and_back() {
        for d in "0123456789*#ABCD".chars() {
            assert_eq!(dtmf_code(d).and_then(dtmf_digit), Some(d));
        }
        assert_eq!(dtmf_code('x'), None);
    }

    #[test]
    fn three_end_copies_make_one_digit() {
        let from: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        let now = Instant::now();
        let packets: Vec<RtpPacket> = (0..3u16)
            .map(|i| {
                RtpPacket::parse(
                    now,
                    from,
                    &rtp_packet(101, false, 10 + i, 800, 1, &[5, 0x8a, 3, 0x20]),
                )
                .expect("rtp")
            })
            .collect();
        assert_eq!(digits_of(&packets, 101), vec!['5']);
    }
}
