//! The container image as deploy/docker/Dockerfile builds it: its final
//! stage runs as an unprivileged user, and its HEALTHCHECK command, run
//! here against a real node, tells a live node from a stopped one. (No
//! image is built: base images cannot be fetched in this sandbox.)

use super::*;
use std::process::Command;

/// The Dockerfile, read from the repository.
fn dockerfile() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/docker/Dockerfile");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The instructions of the final stage (after the last `FROM`), with
/// continuation lines joined.
fn final_stage(text: &str) -> Vec<String> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        joined.push(std::mem::take(&mut current));
    }
    let last_from = joined
        .iter()
        .rposition(|i| i.starts_with("FROM "))
        .expect("a FROM");
    joined.split_off(last_from)
}

#[test]
fn the_image_runs_as_an_unprivileged_user() {
    let stage = final_stage(&dockerfile());
    let user = stage
        .iter()
        .rev()
        .find_map(|i| i.strip_prefix("USER "))
        .expect("the final stage sets USER");
    let name = user.split(':').next().unwrap_or_default().trim();
    assert!(
        !name.is_empty() && name != "root" && name != "0",
        "USER {user}"
    );
    // The user is created in that stage, with a non-zero uid.
    assert!(
        stage
            .iter()
            .any(|i| i.contains("useradd") && i.contains(name) && !i.contains("--uid 0 ")),
        "{name} is created in the final stage: {stage:#?}"
    );
}

#[test]
fn the_healthcheck_tells_a_live_node_from_a_stopped_one() {
    let stage = final_stage(&dockerfile());
    let check = stage
        .iter()
        .find_map(|i| i.strip_prefix("HEALTHCHECK "))
        .expect("a HEALTHCHECK");
    // CMD ["bash", "-c", "<script>"]: the script, JSON-unescaped.
    let json = &check[check.find('[').expect("exec form")..];
    let argv: Vec<String> = serde_json::from_str(json).expect("the CMD is a JSON array");
    assert_eq!(argv[..2], ["bash", "-c"], "{argv:?}");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut baton = Baton::start_toml(&config("127.0.0.1:0", "", &dir.path().join("data"), ""));
    let port = baton.metrics.port().to_string();
    let script = argv[2].replace("9090", &port);
    let run = |script: &str| {
        Command::new("timeout")
            .args(["10", "bash", "-c", script])
            .status()
            .expect("run the healthcheck")
            .success()
    };
    assert!(run(&script), "healthy node reported unhealthy: {script}");
    assert_eq!(baton.terminate().map(|s| s.success()), Some(true));
    assert!(!run(&script), "a stopped node reported healthy");
}
