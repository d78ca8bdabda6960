//! A headless baresip 1.0 phone driven over its `ctrl_tcp` module (JSON in
//! netstrings), for interop tests. The configuration follows the measured
//! recipe kept with the project's interop notes: loopback only, ausine as
//! the audio source at 48 kHz stereo, the null ALSA player.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running baresip process and its control connection.
#[derive(Debug)]
pub struct Baresip {
    child: Child,
    ctrl: std::sync::Mutex<(TcpStream, Vec<u8>, Vec<serde_json::Value>)>,
    dir: tempfile::TempDir,
    token: std::sync::atomic::AtomicU64,
}

/// Why driving baresip failed.
#[derive(Debug, thiserror::Error)]
pub enum BaresipError {
    /// Spawning, the control socket or a file failed.
    #[error("baresip i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Nothing came within the deadline.
    #[error("baresip: timed out waiting for {0}")]
    Timeout(String),
    /// A command was refused.
    #[error("baresip refused {command}: {data}")]
    Refused {
        /// The command.
        command: String,
        /// What it said.
        data: String,
    },
}

fn free_port_pair() -> u16 {
    // baresip takes the SIP port on UDP and TCP, and port+1 on TCP for TLS.
    for _ in 0..50 {
        let Ok(sock) = std::net::UdpSocket::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(port) = sock.local_addr().map(|a| a.port()) else {
            continue;
        };
        if port < 65000
            && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
            && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok()
        {
            return port;
        }
    }
    panic!("no free port pair for baresip");
}

impl Baresip {
    /// Starts baresip as `user@domain`, registering through `server`
    /// (Baton) as its outbound proxy.
    pub fn start(
        user: &str,
        password: &str,
        domain: &str,
        server: SocketAddr,
    ) -> Result<Baresip, BaresipError> {
        let dir = tempfile::tempdir()?;
        let sip = free_port_pair();
        let ctrl = free_port_pair();
        let rtp = 10_000 + (sip % 200) * 100;
        let config = format!(
            "poll_method\t\tepoll\nsip_listen\t\t127.0.0.1:{sip}\nnet_interface\t\t127.0.0.1\n\
             call_local_timeout\t120\ncall_max_calls\t\t4\naudio_path\t\t/usr/share/baresip\n\
             audio_source\t\tausine,440\nausrc_srate\t\t48000\nausrc_channels\t\t2\n\
             audio_player\t\talsa,null\naudio_alert\t\talsa,null\naudio_level\t\tno\n\
             rtp_ports\t\t{rtp}-{}\nrtcp_mux\t\tno\njitter_buffer_delay\t5-10\nrtp_stats\t\tyes\n\
             module_path\t\t/usr/lib/baresip/modules\nmodule\t\t\tg711.so\nmodule\t\t\tausine.so\n\
             module\t\t\talsa.so\nmodule_tmp\t\taccount.so\nmodule_app\t\tmenu.so\n\
             module_app\t\tctrl_tcp.so\nctrl_tcp_listen\t\t127.0.0.1:{ctrl}\n",
            rtp + 99
        );
        std::fs::write(dir.path().join("config"), config)?;
        let account = format!(
            "<sip:{user}@{domain}>;auth_pass={password};outbound=\"sip:{server};transport=udp\";regint=600;audio_codecs=PCMU;answermode=manual\n"
        );
        std::fs::write(dir.path().join("accounts"), account)?;
        let log = std::fs::File::create(dir.path().join("stdout.log"))?;
        // `-s`: the SIP trace goes to the log too (evidence for a failing test).
        let child = Command::new("baresip")
            .arg("-s")
            .arg("-f")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let stream = loop {
            match TcpStream::connect(("127.0.0.1", ctrl)) {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(e) => return Err(e.into()),
            }
        };
        Ok(Baresip {
            child,
            ctrl: std::sync::Mutex::new((stream, Vec::new(), Vec::new())),
            dir,
            token: std::sync::atomic::AtomicU64::new(1),
        })
    }

    /// Where baresip's own output goes (for a failing test's message).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("stdout.log")
    }

    fn read_one(
        ctrl: &mut (TcpStream, Vec<u8>, Vec<serde_json::Value>),
        deadline: Instant,
    ) -> Option<serde_json::Value> {
        loop {
            if let Some(colon) = ctrl.1.iter().position(|b| *b == b':') {
                if let Ok(len) = std::str::from_utf8(&ctrl.1[..colon])
                    .unwrap_or("x")
                    .parse::<usize>()
                {
                    if ctrl.1.len() > colon + len + 1 {
                        let msg: Vec<u8> = ctrl.1.drain(..colon + len + 2).collect();
                        return serde_json::from_slice(&msg[colon + 1..colon + 1 + len]).ok();
                    }
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            ctrl.0.set_read_timeout(Some(left)).ok()?;
            let mut chunk = [0u8; 8192];
            match ctrl.0.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => ctrl.1.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Runs a command and returns its `data`.
    pub fn command(&self, command: &str, params: Option<&str>) -> Result<String, BaresipError> {
        let token = self
            .token
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_string();
        let mut body = serde_json::json!({ "command": command, "token": token });
        if let Some(p) = params {
            body["params"] = serde_json::Value::String(p.to_string());
        }
        let text = body.to_string();
        let mut ctrl = self
            .ctrl
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        ctrl.0
            .write_all(format!("{}:{},", text.len(), text).as_bytes())?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let Some(msg) = Self::read_one(&mut ctrl, deadline) else {
                return Err(BaresipError::Timeout(format!("the answer to {command}")));
            };
            if msg.get("event").and_then(serde_json::Value::as_bool) == Some(true) {
                ctrl.2.push(msg);
            } else if msg.get("token").and_then(serde_json::Value::as_str) == Some(token.as_str()) {
                let data = msg
                    .get("data")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                if msg.get("ok").and_then(serde_json::Value::as_bool) != Some(true) {
                    return Err(BaresipError::Refused {
                        command: command.into(),
                        data,
                    });
                }
                return Ok(data);
            }
        }
    }

    /// Waits for an event of this type (e.g. `CALL_ESTABLISHED`).
    pub fn wait_event(
        &self,
        kind: &str,
        timeout: Duration,
    ) -> Result<serde_json::Value, BaresipError> {
        let deadline = Instant::now() + timeout;
        let mut ctrl = self
            .ctrl
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            if let Some(i) = ctrl
                .2
                .iter()
                .position(|e| e.get("type").and_then(serde_json::Value::as_str) == Some(kind))
            {
                return Ok(ctrl.2.remove(i));
            }
            match Self::read_one(&mut ctrl, deadline) {
                Some(msg)
                    if msg.get("event").and_then(serde_json::Value::as_bool) == Some(true) =>
                {
                    ctrl.2.push(msg)
                }
                Some(_) => {}
                None => return Err(BaresipError::Timeout(kind.to_string())),
            }
        }
    }

    /// Polls `reginfo` until the account shows `OK`.
    pub fn wait_registered(&self, timeout: Duration) -> Result<(), BaresipError> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self
                .command("reginfo", None)
                .is_ok_and(|info| info.contains("OK"))
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(BaresipError::Timeout("registration".into()))
    }

    /// Dials a SIP URI.
    pub fn dial(&self, uri: &str) -> Result<(), BaresipError> {
        self.command("dial", Some(uri)).map(|_| ())
    }

    /// Sends DTMF digits in the current call. baresip 1.0 sends them only
    /// as RFC 4733 telephone events (never as INFO), one event per digit,
    /// each ending with its end packets; refused when no call exists.
    pub fn send_dtmf(&self, digits: &str) -> Result<(), BaresipError> {
        self.command("sndcode", Some(digits)).map(|_| ())
    }

    /// Hangs up the current call (a no-op without one).
    pub fn hangup(&self) -> Result<(), BaresipError> {
        self.command("hangup", None).map(|_| ())
    }

    /// The calls as `listcalls` prints them (`ESTABLISHED`, `RINGING`, …).
    pub fn list_calls(&self) -> Result<String, BaresipError> {
        self.command("listcalls", None)
    }

    /// The events received so far and not yet taken by
    /// [`Baresip::wait_event`], after reading whatever is pending now.
    pub fn pending_events(&self) -> Vec<serde_json::Value> {
        let mut ctrl = self
            .ctrl
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let deadline = Instant::now() + Duration::from_millis(20);
        while let Some(msg) = Self::read_one(&mut ctrl, deadline) {
            if msg.get("event").and_then(serde_json::Value::as_bool) == Some(true) {
                ctrl.2.push(msg);
            }
        }
        ctrl.2.clone()
    }

    /// baresip's output so far (log, SIP trace, the `rtp_stats` summary).
    pub fn log(&self) -> String {
        std::fs::read(self.log_path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Waits until baresip's output contains `needle` (with `-s`, the SIP
    /// trace is there: e.g. a request it received).
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> Result<(), BaresipError> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log().contains(needle) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(BaresipError::Timeout(format!("{needle:?} in its log")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The last `lines` lines of [`Baresip::log`], without the status
    /// line the menu rewrites in place during calls.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let kept: Vec<&str> = log
            .lines()
            .map(|l| l.rsplit('\r').next().unwrap_or(l))
            .filter(|l| !l.trim().is_empty())
            .collect();
        kept[kept.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        // `quit`, a moment, then two SIGTERMs (the second exits at once), then SIGKILL.
        let _ = self.command("quit", None);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        for _ in 0..2 {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
