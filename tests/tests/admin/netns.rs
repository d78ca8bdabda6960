//! A peer that is not on loopback: every address of this machine is a
//! loopback one for the other tests, so this test makes its own host, a
//! network namespace joined to this one by a veth pair in a private range
//! (10.213.X.0/30), binds the node's metrics listener on this side, and
//! asks from the other. The namespace is removed on every exit path (a
//! Drop guard). Needs root and `ip`; skipped with a reason otherwise.

use super::{config, get, wait_until, T};
use baton_system_tests::Baton;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Output};

/// The namespace and its veth pair; removed when dropped.
struct Netns {
    name: String,
    host_if: String,
    /// This side's address (the node binds here).
    host: Ipv4Addr,
    /// The namespace's address (the client's source).
    peer: Ipv4Addr,
}

fn ip(args: &[&str]) -> Output {
    Command::new("ip").args(args).output().expect("run ip")
}

fn ok(args: &[&str]) {
    let out = ip(args);
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Netns {
    /// Why the test cannot run here, if it cannot.
    fn unavailable() -> Option<String> {
        let uid = Command::new("id").arg("-u").output().ok()?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Some("not root: cannot create a network namespace".into());
        }
        if Command::new("ip").arg("-V").output().is_err() {
            return Some("`ip` (iproute2) is not installed".into());
        }
        None
    }

    fn create() -> Netns {
        // Distinct per process, so that concurrent runs do not collide.
        let n = std::process::id() % 250 + 1;
        let guard = Netns {
            name: format!("baton-adm-{}", std::process::id()),
            host_if: format!("vbh{}", std::process::id()),
            host: Ipv4Addr::new(10, 213, n as u8, 1),
            peer: Ipv4Addr::new(10, 213, n as u8, 2),
        };
        let peer_if = format!("vbn{}", std::process::id());
        // Leftovers of a killed run with the same pid.
        let _ = ip(&["netns", "delete", &guard.name]);
        let _ = ip(&["link", "delete", &guard.host_if]);
        ok(&["netns", "add", &guard.name]);
        ok(&[
            "link",
            "add",
            &guard.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &peer_if,
        ]);
        ok(&["link", "set", &peer_if, "netns", &guard.name]);
        ok(&[
            "addr",
            "add",
            &format!("{}/30", guard.host),
            "dev",
            &guard.host_if,
        ]);
        ok(&["link", "set", &guard.host_if, "up"]);
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &guard.name, "ip"];
            all.extend_from_slice(args);
            ok(&all);
        };
        inside(&[
            "addr",
            "add",
            &format!("{}/30", guard.peer),
            "dev",
            &peer_if,
        ]);
        inside(&["link", "set", &peer_if, "up"]);
        inside(&["link", "set", "lo", "up"]);
        guard
    }

    /// `GET path` from inside the namespace (bash's /dev/tcp: no client
    /// to install); the raw response.
    fn get_from_inside(&self, to: SocketAddr, path: &str) -> String {
        let script = format!(
            "exec 3<>/dev/tcp/{}/{} && printf 'GET {path} HTTP/1.0\\r\\nHost: baton\\r\\n\\r\\n' >&3 && cat <&3",
            to.ip(),
            to.port()
        );
        let out = Command::new("timeout")
            .args([
                "10", "ip", "netns", "exec", &self.name, "bash", "-c", &script,
            ])
            .output()
            .expect("run a client in the namespace");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace deletes its end of the pair, and with it
        // ours; the link delete is for a half-made setup.
        let _ = ip(&["netns", "delete", &self.name]);
        let _ = ip(&["link", "delete", &self.host_if]);
    }
}

fn status(raw: &str) -> u16 {
    raw.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn without_a_token_a_client_off_loopback_is_refused_403() {
    if let Some(why) = Netns::unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    let ns = Netns::create();
    let data = tempfile::tempdir().expect("tempdir");
    let baton = Baton::start_toml(&config(&format!("{}:0", ns.host), "", data.path(), ""));
    assert_eq!(baton.metrics.ip(), std::net::IpAddr::V4(ns.host));

    // From the other host: the anonymous endpoints answer, /calls does not.
    let metrics = ns.get_from_inside(baton.metrics, "/metrics");
    assert_eq!(status(&metrics), 200, "{metrics}");
    let calls = ns.get_from_inside(baton.metrics, "/calls");
    assert_eq!(status(&calls), 403, "{calls}");
    assert!(!calls.contains("\r\n\r\n["), "no table: {calls}");
    // From this host to that address: the source is 10.213.X.1, not
    // loopback either.
    let r = get(baton.metrics, "/calls", None);
    assert_eq!(r.status, 403, "{r:?}");
    let counted = wait_until(T, || {
        get(baton.metrics, "/metrics", None)
            .body
            .lines()
            .any(|l| l.starts_with("baton_http_admin_denied_total{reason=\"not_loopback\"} 2"))
    });
    assert!(counted, "both refusals counted");
}
