use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A `baton serve` process on loopback with ephemeral ports, stopped (by
/// SIGTERM) when dropped.
#[derive(Debug)]
pub struct Baton {
    child: Child,
    /// The UDP SIP listener.
    pub udp: SocketAddr,
    /// The TCP SIP listener.
    pub tcp: SocketAddr,
    /// The metrics listener.
    pub metrics: SocketAddr,
    /// Everything the process wrote on stderr, collected in the background.
    stderr: mpsc::Receiver<String>,
    _dir: tempfile::TempDir,
}

/// Path of the `baton` binary: `$BATON_BIN`, or the one built next to this
/// test executable. Cargo does not build another package's binary for a
/// test, so the first call runs `cargo build -p baton` (a no-op when it is
/// up to date): a stale binary would test old code.
pub fn baton_bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            if let Ok(p) = std::env::var("BATON_BIN") {
                return PathBuf::from(p);
            }
            let exe = std::env::current_exe().expect("current exe");
            // target/<profile>/deps/<test> -> target/<profile>/baton
            let profile_dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
            let release = profile_dir.file_name().is_some_and(|n| n == "release");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut build = Command::new(cargo);
            build.args(["build", "-p", "baton", "--bin", "baton"]);
            if release {
                build.arg("--release");
            }
            let status = build.status().expect("run cargo build -p baton");
            assert!(status.success(), "cargo build -p baton failed");
            let bin = profile_dir.join("baton");
            assert!(bin.exists(), "{} is missing after the build", bin.display());
            bin
        })
        .clone()
}

impl Baton {
    /// Starts a node whose config is `[sip] domain = "<domain>"` with
    /// ephemeral listeners plus `extra` TOML appended (more tables).
    pub fn start(domain: &str, sip_extra: &str, extra: &str) -> Baton {
        let bin = baton_bin();
        let dir = tempfile::tempdir().expect("tempdir");
        let config = format!(
            "[sip]\ndomain = \"{domain}\"\nlisten = [\"udp:127.0.0.1:0\", \"tcp:127.0.0.1:0\"]\n{sip_extra}\n\
             [metrics]\nlisten = \"127.0.0.1:0\"\n\n[cluster]\ndata_dir = \"{}\"\n\n{extra}\n",
            dir.path().join("data").display()
        );
        let path = dir.path().join("baton.toml");
        std::fs::write(&path, config).expect("write config");
        Self::start_with_file(&bin, &path, dir)
    }

    /// Starts a node on a whole configuration, written as is: the caller
    /// names every listener (ephemeral ports, so that the node prints them)
    /// and `[cluster] data_dir`.
    pub fn start_toml(config: &str) -> Baton {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("baton.toml");
        std::fs::write(&path, config).expect("write config");
        Self::start_with_file(&baton_bin(), &path, dir)
    }

    fn start_with_file(
        bin: &std::path::Path,
        path: &std::path::Path,
        dir: tempfile::TempDir,
    ) -> Baton {
        let mut child = Command::new(bin)
            .args(["serve", "--config"])
            .arg(path)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn baton");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (err_tx, err_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = err_tx.send(line);
            }
        });
        // The node prints one line per bound listener, then `ready`.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut udp, mut tcp, mut metrics) = (None, None, None);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(line) => line,
                Err(_) => {
                    let _ = child.kill();
                    let errors: Vec<String> = err_rx.try_iter().collect();
                    panic!("baton did not become ready: {errors:?}");
                }
            };
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some("listening"), Some("sip"), Some(spec)) => {
                    let (kind, addr) = spec.split_once(':').expect("kind:addr");
                    let addr: SocketAddr = addr.parse().expect("addr");
                    match kind {
                        "udp" => udp = Some(addr),
                        "tcp" => tcp = Some(addr),
                        _ => {}
                    }
                }
                (Some("listening"), Some("metrics"), Some(addr)) => {
                    metrics = Some(addr.parse().expect("metrics addr"))
                }
                (Some("ready"), _, _) => break,
                _ => {}
            }
        }
        Baton {
            child,
            udp: udp.expect("udp listener"),
            tcp: tcp.expect("tcp listener"),
            metrics: metrics.expect("metrics listener"),
            stderr: err_rx,
            _dir: dir,
        }
    }

    /// `GET path` on the metrics listener: (status, body).
    pub fn http_get(&self, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect_timeout(&self.metrics, crate::REPLY_TIMEOUT)
            .expect("connect metrics");
        s.set_read_timeout(Some(crate::REPLY_TIMEOUT))
            .expect("timeout");
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .expect("write");
        let mut text = String::new();
        s.read_to_string(&mut text).expect("read response");
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    /// The value of one metric series from `/metrics` (exact name with
    /// labels as printed, e.g. `baton_sip_parse_errors_total{transport="udp",reason="syntax"}`),
    /// summing every series whose name and labels contain all of `parts`.
    pub fn metric_sum(&self, name: &str, parts: &[&str]) -> f64 {
        let (_, body) = self.http_get("/metrics");
        body.lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| l.split(['{', ' ']).next() == Some(name))
            .filter(|l| parts.iter().all(|p| l.contains(p)))
            .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
            .sum()
    }

    /// Polls `metric_sum` until it reaches `min` (metrics are updated by
    /// the node's loop, a moment after the wire event); returns the last value.
    pub fn wait_metric(&self, name: &str, parts: &[&str], min: f64) -> f64 {
        let deadline = Instant::now() + crate::REPLY_TIMEOUT;
        loop {
            let v = self.metric_sum(name, parts);
            if v >= min || Instant::now() >= deadline {
                return v;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id (its `/proc/PID/status` holds its memory use).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM and returns at once (the node starts draining).
    pub fn send_sigterm(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        None
    }

    /// Kills the process at once (SIGKILL: a crash, nothing flushed by
    /// choice) and starts a new one on the same configuration and data
    /// directory. Listeners get new ephemeral ports.
    pub fn crash_and_restart(mut self) -> Baton {
        self.crash_and_restart_in_place();
        self
    }

    /// [`Self::crash_and_restart`] for a node held inside something else
    /// (a test scene).
    pub fn crash_and_restart_in_place(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().expect("tempdir"));
        let path = dir.path().join("baton.toml");
        // The old value (its process already reaped) is dropped here.
        *self = Self::start_with_file(&baton_bin(), &path, dir);
    }

    /// Lines the process wrote on stderr so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.try_iter().collect()
    }
}

impl Drop for Baton {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.terminate();
        }
    }
}
