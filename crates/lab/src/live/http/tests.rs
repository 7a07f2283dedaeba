//! The lab's routes refuse what they must before any run starts: foreign
//! pages and hosts, strangers beyond loopback, bodies that are not a spec.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use statecraft_http::ControlGuard;
use tower::ServiceExt as _;

use crate::live::LiveLab;

/// A lab whose program does not exist: a run that got past the checks
/// would answer 500, never 201.
fn lab(history: &std::path::Path) -> axum::Router {
    let lab = LiveLab::new(
        "/nonexistent/statecraft".into(),
        history.to_path_buf(),
        ControlGuard::default(),
    );
    lab.listening_on(([127, 0, 0, 1], 8000).into());
    super::router(lab).0
}

async fn send(
    router: &axum::Router,
    method: &str,
    path: &str,
    peer: [u8; 4],
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let mut request = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request.body(Body::from(body.to_owned())).unwrap();
    let peer: SocketAddr = (peer, 50_000).into();
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

const LOCAL: [u8; 4] = [127, 0, 0, 1];
const JSON: (&str, &str) = ("content-type", "application/json");
const HOST: (&str, &str) = ("host", "127.0.0.1:8000");

#[tokio::test]
async fn starting_a_run_is_a_control_action() {
    let dir = tempfile::tempdir().unwrap();
    let router = lab(dir.path());
    for (peer, headers) in [
        // Another site's page in the operator's browser.
        (LOCAL, vec![HOST, JSON, ("origin", "http://evil.example")]),
        (LOCAL, vec![HOST, JSON, ("sec-fetch-site", "cross-site")]),
        // DNS rebinding.
        (LOCAL, vec![("host", "evil.example:8000"), JSON]),
        // A stranger: no admin token, so loopback only.
        ([192, 0, 2, 7], vec![HOST, JSON]),
    ] {
        let (status, body) = send(&router, "POST", "/lab/runs", peer, &headers, "{}").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{headers:?}: {body}");
        assert_eq!(body["code"], "FORBIDDEN");
        let (status, _) = send(
            &router,
            "DELETE",
            "/lab/runs/20261205-105213-3f9a",
            peer,
            &headers,
            "",
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{headers:?}");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no run began"
    );
}

#[tokio::test]
async fn a_body_that_is_not_a_spec_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let router = lab(dir.path());
    let big = format!("{{\"preset\": \"{}\"}}", "x".repeat(20_000));
    for (headers, body, status, code, says) in [
        (
            vec![HOST],
            "{}",
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "application/json",
        ),
        (
            vec![HOST, JSON],
            "not json",
            400,
            "INVALID_REQUEST",
            "Not a run spec",
        ),
        (
            vec![HOST, JSON],
            "[]",
            400,
            "INVALID_REQUEST",
            "Not a run spec",
        ),
        (
            vec![HOST, JSON],
            r#"{"usrs": 3}"#,
            400,
            "INVALID_REQUEST",
            "usrs",
        ),
        (
            vec![HOST, JSON],
            r#"{"users": 0}"#,
            400,
            "INVALID_REQUEST",
            "users",
        ),
        (
            vec![HOST, JSON],
            r#"{"faults": {"kill": 2}}"#,
            400,
            "INVALID_REQUEST",
            "faults.kill",
        ),
        (
            vec![HOST, JSON],
            r#"{"strategies": ["x"]}"#,
            400,
            "INVALID_REQUEST",
            "unknown variant",
        ),
        (
            vec![HOST, JSON],
            big.as_str(),
            413,
            "PAYLOAD_TOO_LARGE",
            "16 KiB",
        ),
    ] {
        let (got, answer) = send(&router, "POST", "/lab/runs", LOCAL, &headers, body).await;
        assert_eq!(got.as_u16(), status, "{body:.60}: {answer}");
        assert_eq!(answer["code"], code, "{answer}");
        assert!(
            answer["error"].as_str().unwrap_or_default().contains(says),
            "{answer}"
        );
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no run began"
    );
}

#[tokio::test]
async fn unknown_runs_and_paths_outside_the_history_are_not_found() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret.json"), "{}").unwrap();
    let router = lab(dir.path());
    for path in [
        "/lab/runs/20261205-105213-3f9a",
        "/lab/runs/..%2Fsecret.json",
        "/lab/runs/../secret.json",
        "/lab/runs/20261205-105213-3F9A/results.json",
        "/lab/runs/20261205-105213-3f9a/events",
        "/lab/results.json",
        "/lab/report.html",
        "/lab/nothing",
    ] {
        let (status, body) = send(&router, "GET", path, LOCAL, &[HOST], "").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(body["code"], "NOT_FOUND", "{path}");
    }
    let (status, body) = send(&router, "GET", "/lab/runs", LOCAL, &[HOST], "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["runs"], serde_json::json!([]));
    let (status, body) = send(&router, "GET", "/lab/presets", LOCAL, &[HOST], "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["presets"][0]["id"], "article", "{body}");
    // A rebound host reads nothing either.
    let (status, _) = send(
        &router,
        "GET",
        "/lab/runs",
        LOCAL,
        &[("host", "evil.example")],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_run_with_no_end_on_record_is_not_deleted_and_wrong_methods_answer_json() {
    let dir = tempfile::tempdir().unwrap();
    let router = lab(dir.path());
    // A terminal's run still going: neither results nor an end yet.
    let going = dir.path().join("20261205-105213-3f9a");
    std::fs::create_dir_all(&going).unwrap();
    let path = "/lab/runs/20261205-105213-3f9a";
    let (status, body) = send(&router, "DELETE", path, LOCAL, &[HOST], "").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "RUN_NOT_ENDED");
    assert!(going.is_dir());
    // Once it has results, it is an ended run: deleted.
    std::fs::write(going.join("results.json"), "{}").unwrap();
    let (status, body) = send(&router, "DELETE", path, LOCAL, &[HOST], "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "deleted");
    assert!(!going.exists());
    let (status, body) = send(&router, "PUT", "/lab/runs", LOCAL, &[HOST], "").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_eq!(body["code"], "METHOD_NOT_ALLOWED");
}
