//! `statecraft handover`, the Kubernetes preStop hook: an instance's
//! sessions in memory reach its peers — found by DNS as a headless Service
//! is — so a client re-pinned to any of them keeps its session.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::process::Command;

use super::BIN;
use crate::common::{Client, Statecraft, request};

const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const STATE_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn instance(dir: &std::path::Path) -> Statecraft {
    Statecraft::start(
        dir,
        &[
            "serve",
            "--insecure-cookies",
            "--handover-token",
            TOKEN,
            "--state-key",
            STATE_KEY,
        ],
    )
}

fn handover(args: &[&str], token: Option<&str>) -> std::process::Output {
    let mut command = Command::new(BIN);
    command
        .arg("handover")
        .args(args)
        .args(["--settle", "200ms"]);
    command.env_remove("STATECRAFT_HANDOVER_TOKEN");
    if let Some(token) = token {
        command.env("STATECRAFT_HANDOVER_TOKEN", token);
    }
    command.output().unwrap()
}

#[test]
fn a_stopping_instance_hands_its_sessions_to_every_peer() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (leaving, first, second) = (
        instance(dirs[0].path()),
        instance(dirs[1].path()),
        instance(dirs[2].path()),
    );
    let mut client = Client::new();
    for _ in 0..3 {
        let (status, body) = client.post(&leaving.base, "/increment", None);
        assert_eq!(status, 200, "{body}");
    }
    // The internal routes answer a peer, never a request a proxy forwarded
    // (an Ingress passes every path, and marks what it forwards).
    let addr = leaving.base.trim_start_matches("http://");
    let bearer = format!("Bearer {TOKEN}");
    let auth = [("Authorization", bearer.as_str())];
    let (status, _, body) = request(addr, "GET", "/_internal/sessions", &auth, None);
    assert_eq!(status, 200, "{body}");
    for header in ["X-Forwarded-For", "Forwarded", "X-Real-IP"] {
        let forwarded = [auth[0], (header, "203.0.113.9")];
        let (status, _, body) = request(addr, "GET", "/_internal/sessions", &forwarded, None);
        assert_eq!(status, 404, "{header}: {body}");
    }

    // Before: a peer does not know the session.
    let (status, body) = client.clone().post(&first.base, "/increment", None);
    assert_eq!(body["code"], "SESSION_MISSING", "{status} {body}");

    // No token, no hand-over: said so.
    let refused = handover(&["--from", &leaving.base, "--to", &first.base], None);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("STATECRAFT_HANDOVER_TOKEN"));

    // One peer by URL, one by a name that resolves to it (localhost, as a
    // headless Service's name resolves to its pods).
    let port = second.base.rsplit(':').next().unwrap();
    let peers = format!("localhost:{port}");
    let done = handover(
        &[
            "--from",
            &leaving.base,
            "--to",
            &first.base,
            "--peers",
            &peers,
        ],
        Some(TOKEN),
    );
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "{stderr}");
    assert!(stderr.contains("handed sessions: 1 "), "{stderr}");

    for peer in [&first, &second] {
        let mut moved = client.clone();
        let (status, body) = moved.post(&peer.base, "/increment", None);
        assert_eq!(status, 200, "{}: {body}", peer.base);
        assert_eq!(
            body["counter"], 4,
            "{}: the session came with its count",
            peer.base
        );
    }

    // A wrong token: no peer takes anything, and the hook fails.
    let wrong = handover(&["--from", &leaving.base, "--to", &first.base], Some("x"));
    assert!(!wrong.status.success());

    // The same hook on an instance whose sessions are in a shared store:
    // nothing to do, and not a failure (one Deployment serves every
    // strategy).
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("sessions.db").display());
    let shared = Statecraft::start(
        dir.path(),
        &[
            "serve",
            "--handover-token",
            TOKEN,
            "--session-store",
            &store,
        ],
    );
    let done = handover(&["--from", &shared.base], Some(TOKEN));
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "{stderr}");
    assert!(stderr.contains("nothing to hand over"), "{stderr}");
}
