//! Fail closed on the log: the node's `data_dir` is a small tmpfs (this
//! test's own, unmounted on every exit path), filled while a call is up.
//! Once the log cannot commit, `/readyz` is `503`, a new call and a new
//! pull get `503` with `Retry-After`, the call already up keeps its media,
//! and after the space is freed and the node restarted on the same
//! directory, the call committed before is still in `/calls`. Needs root
//! (mount); skipped with a reason otherwise.

use super::{call_with_media, calls, config, get, registered, wait_confirmed_calls, wait_until, T};
use baton_system_tests::ua::RtpStream;
use baton_system_tests::Baton;
use sip_message::HeaderName;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A tmpfs mounted at `path`; unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn unavailable() -> Option<String> {
        let uid = Command::new("id").arg("-u").output().ok()?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Some("not root: cannot mount a tmpfs".into());
        }
        None
    }

    fn mount(path: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(path).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mount: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs {
            path: path.to_path_buf(),
        }
    }

    /// Writes a file until the tmpfs is full (bounded by its size).
    fn fill(&self) -> PathBuf {
        let filler = self.path.join("filler");
        let mut f = std::fs::File::create(&filler).expect("filler");
        let chunk = vec![0xA5u8; 64 * 1024];
        for _ in 0..4096 {
            if f.write_all(&chunk).and_then(|()| f.sync_data()).is_err() {
                return filler;
            }
        }
        panic!("the tmpfs never filled");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Still busy (a process not yet reaped): detach it now.
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

fn readyz(baton: &Baton) -> (u16, String) {
    let r = get(baton.metrics, "/readyz", None);
    (r.status, r.body)
}

#[test]
fn a_full_disk_turns_new_work_away_keeps_calls_up_and_loses_nothing_committed() {
    if let Some(why) = Tmpfs::unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // Declared before the node: dropped (unmounted) after it stops.
    let tmpfs = Tmpfs::mount(&dir.path().join("data"), "16m");
    let baton = Baton::start_toml(&config("127.0.0.1:0", "", &tmpfs.path, ""));
    let alice = registered(&baton, "alice", "wonderland");
    let bob = registered(&baton, "bob", "builder");
    let (a_call, _b_call, a_rtp, b_rtp) = call_with_media(&alice, &bob);
    assert!(b_rtp.wait_packets(10, T) && a_rtp.wait_packets(10, T));
    let committed = wait_confirmed_calls(&baton, 1);
    assert_eq!(readyz(&baton), (200, "ready\n".to_string()));

    let filler = tmpfs.fill();
    // The next writes of the log fail: calls placed now are the node's
    // work that the log cannot record. Bounded: a few calls, each answered
    // or refused.
    let mut extra_calls = Vec::new();
    let mut down = false;
    for _ in 0..30 {
        let outgoing = alice.call("sip:bob@example.test", Some(RtpStream::loopback().sdp()));
        match bob.wait_incoming(T) {
            Ok(incoming) => {
                let b = incoming
                    .answer(Some(RtpStream::loopback().sdp()))
                    .expect("answer");
                extra_calls.push((outgoing.wait_answer(T).ok(), b));
            }
            Err(_) => {
                let code = outgoing.wait_final(T).expect("a final response");
                assert_eq!(code, 503, "a refused call gets 503");
            }
        }
        if wait_until(Duration::from_secs(2), || readyz(&baton).0 == 503) {
            down = true;
            break;
        }
    }
    assert!(down, "/readyz goes down once the log cannot write");
    let (status, reason) = readyz(&baton);
    assert_eq!(status, 503);
    assert!(
        reason.starts_with("not ready: the call log cannot commit") && reason.lines().count() == 1,
        "{reason:?}"
    );
    assert_eq!(
        get(baton.metrics, "/healthz", None).status,
        200,
        "still alive"
    );

    // A new call: 503 with Retry-After, and bob's phone does not ring.
    let outgoing = alice.call("sip:bob@example.test", Some(RtpStream::loopback().sdp()));
    assert_eq!(outgoing.wait_final(T).expect("final"), 503);
    let refusal = outgoing.final_response().expect("the 503");
    assert!(
        refusal.header(&HeaderName::RetryAfter).is_some(),
        "{refusal:?}"
    );
    assert!(bob.wait_incoming(Duration::from_millis(300)).is_err());
    // A pull (alice's second device dials the feature code): 503 too.
    let alice_desk = registered(&baton, "alice", "wonderland");
    let pull = alice_desk.call("sip:*11@example.test", Some(RtpStream::loopback().sdp()));
    assert_eq!(pull.wait_final(T).expect("final"), 503);
    assert!(pull
        .final_response()
        .is_some_and(|r| r.header(&HeaderName::RetryAfter).is_some()));
    assert!(baton.wait_metric("baton_raft_refused_total", &["log_stopped"], 2.0) >= 2.0);
    assert_eq!(baton.metric_sum("baton_raft_log_healthy", &[]), 0.0);

    // The call up keeps its media, both ways.
    assert!(a_rtp.wait_more_packets(25, T), "alice still hears bob");
    assert!(b_rtp.wait_more_packets(25, T), "bob still hears alice");

    // Signalling of the call up still works; its end cannot be written,
    // and that is counted, never silent.
    assert_eq!(a_call.bye().expect("alice hangs up"), 200);
    assert!(
        baton.wait_metric("baton_raft_commands_dropped_total", &[], 1.0) >= 1.0,
        "the command the log could not take is counted"
    );

    // Space again, and a restart on the same directory: the committed call
    // is there, and the node is ready.
    std::fs::remove_file(&filler).expect("free the space");
    let baton = baton.crash_and_restart();
    let after = calls(&baton);
    for call in &committed {
        assert!(
            after.iter().any(|c| c["call"] == call["call"]),
            "committed call {} lost: {after:#?}",
            call["call"]
        );
    }
    assert_eq!(readyz(&baton), (200, "ready\n".to_string()));
    a_rtp.stop();
    b_rtp.stop();
    drop(extra_calls);
    drop(baton);
    drop(tmpfs);
}
