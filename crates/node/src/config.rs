//! The node's configuration: TOML (see `default.toml` and the operations
//! contract in the README). Every value is checked while it is read, so a
//! bad file is refused with its file, line and key before anything starts.

use serde::Deserialize;
use sip_transport::ListenSpec;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// The embedded default configuration.
pub const DEFAULT_TOML: &str = include_str!("default.toml");

/// A node's whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// SIP signalling.
    #[serde(default)]
    pub sip: SipConfig,
    /// The media relay.
    #[serde(default)]
    pub media: MediaConfig,
    /// The metrics listener.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// The admin endpoints' access.
    #[serde(default)]
    pub admin: AdminConfig,
    /// Handover policy.
    #[serde(default)]
    pub handover: HandoverConfig,
    /// Cluster membership and storage.
    #[serde(default)]
    pub cluster: ClusterConfig,
    /// Admission limits (rates, bans, caps).
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Users of the domain.
    #[serde(default)]
    pub users: Vec<UserConfig>,
}

/// `[sip]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// The domain users register in.
    pub domain: Domain,
    /// Listeners, `udp:ADDR:PORT` or `tcp:ADDR:PORT`.
    pub listen: Vec<Listen>,
    /// Answer UDP requests at their source address and port, as if every
    /// request carried `rport` (RFC 3581): right for phones behind NAT.
    pub force_rport: bool,
    /// Digest algorithms offered, in order (RFC 8760: SHA-256 first). A
    /// client that reads only the first challenge (SIPp 3.6 does) needs
    /// MD5 first; drop MD5 to refuse it altogether.
    pub digest: Vec<DigestAlgorithm>,
    /// How long a TCP connection may sit mid-message before it is closed.
    #[serde(with = "humantime_serde_compat")]
    pub tcp_body_timeout: Duration,
    /// How long an idle TCP connection is kept.
    #[serde(with = "humantime_serde_compat")]
    pub tcp_idle_timeout: Duration,
    /// Session interval Baton asks for on the legs it creates (RFC 4028).
    #[serde(with = "humantime_serde_compat")]
    pub session_expires: Duration,
    /// The shortest session interval accepted (`Min-SE`); shorter gets `422`.
    #[serde(with = "humantime_serde_compat")]
    pub min_se: Duration,
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            domain: Domain("localhost".into()),
            listen: vec![
                Listen(ListenSpec::from_str("udp:127.0.0.1:5060").expect("valid literal")),
                Listen(ListenSpec::from_str("tcp:127.0.0.1:5060").expect("valid literal")),
            ],
            force_rport: true,
            digest: vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
            tcp_body_timeout: Duration::from_secs(5),
            tcp_idle_timeout: Duration::from_secs(300),
            session_expires: Duration::from_secs(1800),
            min_se: Duration::from_secs(90),
        }
    }
}

/// A SIP listener, `udp:ADDR:PORT` or `tcp:ADDR:PORT`.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct Listen(pub ListenSpec);

impl TryFrom<String> for Listen {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        ListenSpec::from_str(&s)
            .map(Listen)
            .map_err(|e| format!("`{s}` is not a listener like \"udp:127.0.0.1:5060\": {e}"))
    }
}

/// A digest algorithm name: `SHA-256` or `MD5`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub enum DigestAlgorithm {
    /// RFC 8760 / RFC 7616 SHA-256.
    Sha256,
    /// RFC 3261 MD5.
    Md5,
}

impl TryFrom<String> for DigestAlgorithm {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "SHA-256" => Ok(DigestAlgorithm::Sha256),
            "MD5" => Ok(DigestAlgorithm::Md5),
            _ => Err(format!(
                "`{s}` is not a digest algorithm (\"SHA-256\" or \"MD5\")"
            )),
        }
    }
}

/// A SIP domain name: non-empty, host characters only.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Domain(pub String);

impl TryFrom<String> for Domain {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
        if ok {
            Ok(Domain(s.to_ascii_lowercase()))
        } else {
            Err(format!("`{s}` is not a domain name"))
        }
    }
}

/// `[media]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// The address written into SDP.
    pub address: IpAddr,
    /// The RTP/RTCP port range.
    pub ports: PortRange,
    /// Accept media only from the address each SDP names (symmetric RTP
    /// latching otherwise, which phones behind NAT need).
    pub strict_latching: bool,
    /// A bridged call whose media is silent this long is ended.
    #[serde(with = "humantime_serde_compat")]
    pub inactivity_timeout: Duration,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            address: IpAddr::from([127, 0, 0, 1]),
            ports: PortRange {
                first: 20000,
                last: 29999,
            },
            strict_latching: false,
            inactivity_timeout: Duration::from_secs(60),
        }
    }
}

/// An inclusive port range `FIRST-LAST` that starts even (RTP even, RTCP odd).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct PortRange {
    /// First port (even).
    pub first: u16,
    /// Last port.
    pub last: u16,
}

impl TryFrom<String> for PortRange {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let bad =
            || format!("`{s}` is not a port range like \"20000-29999\" starting on an even port");
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let first: u16 = a.trim().parse().map_err(|_| bad())?;
        let last: u16 = b.trim().parse().map_err(|_| bad())?;
        if first == 0 || !first.is_multiple_of(2) || last <= first {
            return Err(bad());
        }
        Ok(PortRange { first, last })
    }
}

/// `[metrics]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serves `GET /metrics`, `/healthz`, `/readyz` and the admin
    /// endpoints.
    pub listen: SocketAddr,
    /// Connections served at once; one more is closed at once.
    pub max_connections: usize,
    /// How long a client may take to send a request head (and may keep an
    /// idle connection open between requests).
    #[serde(with = "humantime_serde_compat")]
    pub header_timeout: Duration,
    /// How long one connection may live at all.
    #[serde(with = "humantime_serde_compat")]
    pub connection_timeout: Duration,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            max_connections: 64,
            header_timeout: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(60),
        }
    }
}

/// `[admin]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// A file holding the bearer token the admin endpoints (`/calls`, …)
    /// ask for, read at start. Without it they answer on loopback only.
    pub token_file: Option<PathBuf>,
}

/// `[handover]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HandoverConfig {
    /// The feature code a device dials to pull the call (`*11`).
    pub feature_code: String,
    /// How long the original device has to decide.
    #[serde(with = "humantime_serde_compat")]
    pub authorization_timeout: Duration,
    /// Whether grant-and-monitor is offered.
    pub monitor_allowed: bool,
    /// Pulls of one call allowed per minute (then `429`).
    pub max_pulls_per_call: u32,
    /// Pulls by one user allowed per minute, all calls together.
    pub max_pulls_per_user: u32,
    /// The wait before a call may be pulled again after an attempt its
    /// device denied or let time out; doubled with each one in a row
    /// (`"0s"`: none).
    #[serde(with = "humantime_serde_compat")]
    pub pull_backoff: Duration,
    /// The longest such wait.
    #[serde(with = "humantime_serde_compat")]
    pub pull_backoff_max: Duration,
}

impl Default for HandoverConfig {
    fn default() -> Self {
        HandoverConfig {
            feature_code: "*11".into(),
            authorization_timeout: Duration::from_secs(20),
            monitor_allowed: true,
            max_pulls_per_call: 6,
            max_pulls_per_user: 20,
            pull_backoff: Duration::from_secs(10),
            pull_backoff_max: Duration::from_secs(300),
        }
    }
}

/// `[limits]`: what one source or one user may ask of the node. The
/// defaults are a carrier's: they let an SBC's aggregate traffic from one
/// address through (the SIPp harness runs 1,500 calls/s from one source,
/// two INVITEs a call with the digest round trip) and stop a password
/// guesser within a second.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// New INVITEs and REGISTERs per second from one source address
    /// (IPv6: one /64). Over it: `503` with `Retry-After`; more than
    /// `source_burst` refused in a row: dropped unanswered.
    pub source_rate: f64,
    /// Requests a source may send back to back.
    pub source_burst: u32,
    /// Authenticated new INVITEs per second of one user (over: `503`).
    pub user_call_rate: f64,
    /// Authenticated new INVITEs a user may send back to back.
    pub user_call_burst: u32,
    /// Failed digests (wrong password, unknown user) from one source within `failure_window` that ban it: its
    /// requests are dropped unanswered. 0 turns source bans off.
    pub source_failures: u32,
    /// Failed digests for one user within `failure_window` that lock it:
    /// refused (`403`) except from sources it authenticated from before.
    /// 0 turns user locks off.
    pub user_failures: u32,
    /// The window failures are counted in.
    #[serde(with = "humantime_serde_compat")]
    pub failure_window: Duration,
    /// The first ban's length; each repeat doubles it up to `max_ban`.
    #[serde(with = "humantime_serde_compat")]
    pub ban: Duration,
    /// The longest ban.
    #[serde(with = "humantime_serde_compat")]
    pub max_ban: Duration,
    /// Live calls per user, as caller or callee (0: no limit). A caller
    /// over it gets `403`, a callee over it `486`.
    pub calls_per_user: u32,
    /// Live SIP server transactions of the node's core; a new request
    /// beyond it gets a stateless `503` with `Retry-After`.
    pub max_transactions: usize,
    /// Inbound TCP connections open at once from one source address.
    pub tcp_connections_per_source: usize,
    /// Entries each admission table keeps (sources, users); the idlest
    /// goes first.
    pub table_size: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            source_rate: 5_000.0,
            source_burst: 10_000,
            user_call_rate: 2_000.0,
            user_call_burst: 4_000,
            source_failures: 20,
            user_failures: 50,
            failure_window: Duration::from_secs(60),
            ban: Duration::from_secs(60),
            max_ban: Duration::from_secs(3600),
            calls_per_user: 100,
            max_transactions: 50_000,
            tcp_connections_per_source: 256,
            table_size: 65_536,
        }
    }
}

impl LimitsConfig {
    /// The admission crate's view of these limits.
    pub fn admission(&self) -> admission::Limits {
        let bans = |threshold| admission::BanPolicy {
            threshold,
            window: self.failure_window,
            ban: self.ban,
            max_ban: self.max_ban.max(self.ban),
        };
        admission::Limits {
            source_rate: admission::Rate {
                per_second: self.source_rate,
                burst: f64::from(self.source_burst),
            },
            user_rate: admission::Rate {
                per_second: self.user_call_rate,
                burst: f64::from(self.user_call_burst),
            },
            source_bans: bans(self.source_failures),
            user_bans: bans(self.user_failures),
            calls_per_user: self.calls_per_user,
            table_cap: self.table_size,
        }
    }
}

/// Durations as humantime strings (`"20s"`, `"1m 30s"`).
mod humantime_serde_compat {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(|e| {
            serde::de::Error::custom(format!("`{s}` is not a duration like \"20s\": {e}"))
        })
    }
}

/// `[cluster]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// This node's Raft id.
    pub node_id: u64,
    /// Where the replicated log and snapshots live.
    pub data_dir: PathBuf,
    /// QUIC listener between nodes.
    pub listen: SocketAddr,
    /// Other nodes, `ID=ADDR:PORT`.
    pub peers: Vec<Peer>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            node_id: 1,
            data_dir: PathBuf::from("./baton-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 7001)),
            peers: Vec::new(),
        }
    }
}

/// A cluster peer, `ID=ADDR:PORT`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Peer {
    /// Raft id.
    pub id: u64,
    /// QUIC address.
    pub addr: SocketAddr,
}

impl TryFrom<String> for Peer {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a peer like \"2=127.0.0.2:7001\"");
        let (id, addr) = s.split_once('=').ok_or_else(bad)?;
        Ok(Peer {
            id: id.trim().parse().map_err(|_| bad())?,
            addr: addr.trim().parse().map_err(|_| bad())?,
        })
    }
}

/// `[[users]]`: a name and either a password or a precomputed HA1.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawUser")]
pub struct UserConfig {
    /// The user part of the address of record.
    pub name: String,
    /// The secret.
    pub secret: UserSecret,
}

/// How a user's secret is stored.
#[derive(Clone)]
pub enum UserSecret {
    /// A clear password (works with every digest algorithm).
    Password(String),
    /// `H(user:realm:password)` in hex: MD5 (32 digits) or SHA-256 (64 digits).
    Ha1(String),
}

impl fmt::Debug for UserSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserSecret::Password(_) => f.write_str("Password(…)"),
            UserSecret::Ha1(_) => f.write_str("Ha1(…)"),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: String,
    password: Option<String>,
    ha1: Option<String>,
}

impl TryFrom<RawUser> for UserConfig {
    type Error = String;
    fn try_from(raw: RawUser) -> Result<Self, String> {
        let name_ok = !raw.name.is_empty()
            && raw
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.!~*'()+".contains(&b));
        if !name_ok {
            return Err(format!(
                "user name `{}` is empty or has characters a SIP user part cannot",
                raw.name
            ));
        }
        let secret = match (raw.password, raw.ha1) {
            (Some(p), None) if !p.is_empty() => UserSecret::Password(p),
            (None, Some(h))
                if matches!(h.len(), 32 | 64) && h.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                UserSecret::Ha1(h.to_ascii_lowercase())
            }
            (None, Some(_)) => {
                return Err(format!(
                    "user `{}`: ha1 must be 32 (MD5) or 64 (SHA-256) hex digits",
                    raw.name
                ))
            }
            _ => {
                return Err(format!(
                    "user `{}` needs exactly one of `password` or `ha1`",
                    raw.name
                ))
            }
        };
        Ok(UserConfig {
            name: raw.name,
            secret,
        })
    }
}

/// Why a configuration was refused: the file, the line and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// TOML syntax or a value that does not fit its key.
    #[error("{file}:{line}: key `{key}`: {message}")]
    Invalid {
        /// The file.
        file: PathBuf,
        /// 1-based line of the offending value (0 when unknown).
        line: usize,
        /// Dotted path of the key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Parses a TOML text; `file` names it in errors.
    pub fn from_toml(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let invalid = |line: usize, key: String, message: String| ConfigError::Invalid {
            file: file.to_path_buf(),
            line,
            key,
            message,
        };
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let de = toml::Deserializer::parse(text).map_err(|e| {
            let line = e.span().map_or(0, |s| line_of(s.start));
            invalid(line, "-".into(), e.message().to_string())
        })?;
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let line = inner.span().map_or(0, |s| line_of(s.start));
            invalid(line, key, inner.message().to_string())
        })?;
        config.check(text, file)?;
        Ok(config)
    }

    /// Reads and parses a TOML file.
    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
            file: file.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text, file)
    }

    /// The embedded default. Its demo users are kept only while every
    /// listener is on loopback.
    pub fn embedded_default() -> Config {
        let mut config = Self::from_toml(DEFAULT_TOML, Path::new("<embedded default>"))
            .expect("the embedded default configuration is valid (tested)");
        let all_loopback = config
            .sip
            .listen
            .iter()
            .all(|l| l.0.addr.ip().is_loopback())
            && config.metrics.listen.ip().is_loopback();
        if !all_loopback {
            config.users.clear();
        }
        config
    }

    /// Checks across keys that serde cannot express.
    fn check(&self, text: &str, file: &Path) -> Result<(), ConfigError> {
        let key_line = |key: &str| {
            text.lines()
                .position(|l| l.trim_start().starts_with(key))
                .map_or(0, |i| i + 1)
        };
        let fail = |key: &str, message: String| ConfigError::Invalid {
            file: file.to_path_buf(),
            line: key_line(key.rsplit('.').next().unwrap_or(key)),
            key: key.to_string(),
            message,
        };
        let l = &self.limits;
        for (key, rate) in [
            ("limits.source_rate", l.source_rate),
            ("limits.user_call_rate", l.user_call_rate),
        ] {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(fail(key, "must be a rate above zero (per second)".into()));
            }
        }
        for (key, value) in [
            ("limits.source_burst", l.source_burst as usize),
            ("limits.user_call_burst", l.user_call_burst as usize),
            ("limits.max_transactions", l.max_transactions),
            (
                "limits.tcp_connections_per_source",
                l.tcp_connections_per_source,
            ),
            ("limits.table_size", l.table_size),
        ] {
            if value == 0 {
                return Err(fail(key, "must be at least 1".into()));
            }
        }
        if l.ban.is_zero() || l.failure_window.is_zero() {
            return Err(fail(
                "limits.ban",
                "bans and their window must be longer than zero".into(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        if self.sip.digest.is_empty() || !self.sip.digest.iter().all(|a| seen.insert(*a)) {
            return Err(fail(
                "sip.digest",
                "list each algorithm once, at least one".into(),
            ));
        }
        if self.sip.min_se.is_zero() || self.sip.session_expires < self.sip.min_se {
            return Err(fail(
                "sip.session_expires",
                "must be at least sip.min_se, and min_se above zero".into(),
            ));
        }
        if self.sip.listen.is_empty() {
            return Err(fail("sip.listen", "at least one listener is needed".into()));
        }
        let mut names = std::collections::HashSet::new();
        for u in &self.users {
            if !names.insert(u.name.as_str()) {
                return Err(fail(
                    "users.name",
                    format!("user `{}` is defined twice", u.name),
                ));
            }
        }
        if self.metrics.max_connections == 0 {
            return Err(fail("metrics.max_connections", "must be at least 1".into()));
        }
        if self.metrics.header_timeout.is_zero() || self.metrics.connection_timeout.is_zero() {
            return Err(fail(
                "metrics.header_timeout",
                "metrics.header_timeout and metrics.connection_timeout must be more than zero"
                    .into(),
            ));
        }
        if self.handover.authorization_timeout.is_zero() {
            return Err(fail(
                "handover.authorization_timeout",
                "must be more than zero".into(),
            ));
        }
        if self.handover.max_pulls_per_call == 0 || self.handover.max_pulls_per_user == 0 {
            return Err(fail(
                "handover.max_pulls_per_call",
                "max_pulls_per_call and max_pulls_per_user must be at least 1".into(),
            ));
        }
        if self.handover.pull_backoff_max < self.handover.pull_backoff {
            return Err(fail(
                "handover.pull_backoff_max",
                "must be at least handover.pull_backoff".into(),
            ));
        }
        let code_ok = !self.handover.feature_code.is_empty()
            && self
                .handover
                .feature_code
                .bytes()
                .all(|b| b.is_ascii_digit() || b"*#".contains(&b));
        if !code_ok {
            return Err(fail(
                "handover.feature_code",
                "must be digits, `*` and `#`".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Config::from_toml(text, Path::new("baton.toml"))
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn embedded_default_matches_the_contract() {
        let c = Config::embedded_default();
        assert_eq!(c.sip.domain.0, "localhost");
        assert_eq!(c.sip.listen.len(), 2);
        assert_eq!(
            c.media.ports,
            PortRange {
                first: 20000,
                last: 29999
            }
        );
        assert_eq!(
            c.metrics.listen,
            "127.0.0.1:9090".parse::<SocketAddr>().expect("addr")
        );
        assert_eq!(c.handover.authorization_timeout, Duration::from_secs(20));
        assert_eq!(c.handover.max_pulls_per_call, 6);
        assert_eq!(c.handover.max_pulls_per_user, 20);
        assert_eq!(c.handover.pull_backoff, Duration::from_secs(10));
        assert_eq!(c.handover.pull_backoff_max, Duration::from_secs(300));
        assert_eq!(c.cluster.data_dir, PathBuf::from("./baton-data"));
        let names: Vec<_> = c.users.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["alice", "bob", "carol"]);
    }

    #[test]
    fn limits_parse_with_carrier_defaults_and_refuse_zero_rates() {
        let c = Config::from_toml("", Path::new("x.toml")).expect("valid");
        assert_eq!(c.limits.source_rate, 5_000.0);
        assert_eq!(c.limits.calls_per_user, 100);
        let c = Config::from_toml(
            "[limits]\nsource_rate = 0.5\nuser_call_rate = 3\ncalls_per_user = 0\nban = \"2m\"\n",
            Path::new("x.toml"),
        )
        .expect("valid");
        let a = c.limits.admission();
        assert_eq!(a.source_rate.per_second, 0.5);
        assert_eq!(a.user_rate.per_second, 3.0);
        assert_eq!(a.calls_per_user, 0);
        assert_eq!(a.source_bans.ban, Duration::from_secs(120));
        let e = err("[limits]\nsource_rate = 0\n");
        assert!(e.contains("limits.source_rate"), "{e}");
        let e = err("[limits]\nmax_transactions = 0\n");
        assert!(e.contains("limits.max_transactions"), "{e}");
        let e = err("[limits]\nsource_rate = \"fast\"\n");
        assert!(e.contains("limits.source_rate"), "{e}");
    }

    #[test]
    fn empty_file_means_defaults_without_users() {
        let c = Config::from_toml("", Path::new("x.toml")).expect("valid");
        assert!(c.users.is_empty());
        assert_eq!(c.sip.domain.0, "localhost");
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = err(
            "[sip]\ndomain = \"a.test\"\nlisten = [\"udp:127.0.0.1:5060\", \"sctp:1.2.3.4:5\"]\n",
        );
        assert!(e.starts_with("baton.toml:3: key `sip.listen"), "{e}");
        let e = err("[media]\nports = \"20001-20000\"\n");
        assert!(e.starts_with("baton.toml:2: key `media.ports`"), "{e}");
        let e = err("[sip]\ndomian = \"x\"\n");
        assert!(e.contains(":2:") && e.contains("domian"), "{e}");
        let e = err("[handover]\nauthorization_timeout = \"soon\"\n");
        assert!(
            e.starts_with("baton.toml:2: key `handover.authorization_timeout`"),
            "{e}"
        );
        let e = err("[[users]]\nname = \"al ice\"\npassword = \"x\"\n");
        assert!(e.contains("key `users[0]`") && e.contains("al ice"), "{e}");
        let e = err("[[users]]\nname = \"a\"\n");
        assert!(e.contains("exactly one of"), "{e}");
        let e = err("[sip\n");
        assert!(e.starts_with("baton.toml:1:"), "{e}");
    }

    #[test]
    fn the_deploy_example_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/config/baton.toml");
        let c = Config::load(&path).expect("deploy/config/baton.toml is valid");
        assert_eq!(c.sip.domain.0, "example.test");
        assert_eq!(c.users.len(), 1);
        // Metrics on every address is fine only because the admin
        // endpoints then need the token.
        if !c.metrics.listen.ip().is_loopback() {
            assert!(c.admin.token_file.is_some(), "deploy sets admin.token_file");
        }
    }

    #[test]
    fn metrics_limits_and_admin_token_file() {
        let c = Config::from_toml("", Path::new("x.toml")).expect("valid");
        assert_eq!(c.metrics.max_connections, 64);
        assert_eq!(c.metrics.header_timeout, Duration::from_secs(5));
        assert!(c.admin.token_file.is_none());
        let c = Config::from_toml(
            "[metrics]\nmax_connections = 2\nheader_timeout = \"1s\"\nconnection_timeout = \"3s\"\n\
             [admin]\ntoken_file = \"/etc/baton/admin.token\"\n",
            Path::new("x.toml"),
        )
        .expect("valid");
        assert_eq!(c.metrics.max_connections, 2);
        assert_eq!(c.metrics.connection_timeout, Duration::from_secs(3));
        assert_eq!(
            c.admin.token_file.as_deref(),
            Some(Path::new("/etc/baton/admin.token"))
        );
        let e = err("[metrics]\nmax_connections = 0\n");
        assert!(e.contains("metrics.max_connections"), "{e}");
        let e = err("[admin]\ntoken = \"x\"\n");
        assert!(e.contains("token"), "{e}");
    }

    #[test]
    fn users_with_ha1() {
        let c = Config::from_toml(
            "[[users]]\nname = \"a\"\nha1 = \"0123456789abcdef0123456789ABCDEF\"\n",
            Path::new("x"),
        )
        .expect("valid");
        assert!(
            matches!(&c.users[0].secret, UserSecret::Ha1(h) if h == "0123456789abcdef0123456789abcdef")
        );
    }
}
