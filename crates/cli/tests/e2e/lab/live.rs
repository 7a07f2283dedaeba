//! Runs started on a server's `/lab`: cancelled, or orphaned by their
//! server, they leave no process behind.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::time::{Duration, Instant};

use crate::common::Statecraft;

/// The processes descended from `pid` (ended ones not yet reaped too).
fn descendants(pid: u32) -> Vec<u32> {
    let mut all = Vec::new();
    let mut next = vec![pid];
    while let Some(parent) = next.pop() {
        for child in statecraft_http::children_of(parent).unwrap_or_default() {
            all.push(child);
            next.push(child);
        }
    }
    all
}

/// A server with a minute-long run under way (the lab, its Redis, the
/// cluster and its three instances all started): the server, its address
/// and the run's id; `None` without a redis-server.
async fn a_long_run(out: &std::path::Path) -> Option<(Statecraft, String, String)> {
    statecraft_testkit::program("redis-server", "the lab test")?;
    let history = out.display().to_string();
    let server = Statecraft::start(
        out,
        &["serve", "--insecure-cookies", "--lab-results", &history],
    );
    let addr = server.base.trim_start_matches("http://").to_owned();
    let spec = r#"{"preset": "glance", "durationSeconds": 60}"#;
    let (status, _, body) = crate::common::request(&addr, "POST", "/lab/runs", &[], Some(spec));
    assert_eq!(status, 201, "{body}");
    let run = body["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    while descendants(server.pid()).len() < 6 {
        assert!(
            Instant::now() < deadline,
            "the run never started its cluster"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Some((server, addr, run))
}

#[tokio::test]
async fn cancelling_a_run_leaves_no_process_behind() {
    let out = tempfile::tempdir().unwrap();
    let Some((mut server, addr, run)) = a_long_run(out.path()).await else {
        return;
    };
    // The lab's routes are in the server's /openapi.json beside the app's.
    let (_, doc) = crate::common::request_text(&server.base, "/openapi.json");
    assert!(doc.contains("\"/lab/runs/{id}/events\"") && doc.contains("\"/increment\""));
    std::thread::sleep(Duration::from_secs(2));
    let before = descendants(server.pid()).len();
    let (status, _, body) =
        crate::common::request(&addr, "DELETE", &format!("/lab/runs/{run}"), &[], None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["end"]["status"], "cancelled", "{body}");
    // Answered once all of it has stopped.
    let left = descendants(server.pid());
    assert!(
        left.is_empty(),
        "{before} processes before, {left:?} left after"
    );
    let (_, _, listed) = crate::common::request(&addr, "GET", "/lab/runs", &[], None);
    assert_eq!(listed["runs"][0]["status"], "cancelled", "{listed}");
    assert_eq!(listed["running"], serde_json::Value::Null);
    server.stop();
}

#[tokio::test]
async fn a_run_does_not_outlive_the_server_that_started_it() {
    let out = tempfile::tempdir().unwrap();
    let Some((mut server, _, _)) = a_long_run(out.path()).await else {
        return;
    };
    // The run leads a process group of its own: the server's only child.
    let run = statecraft_http::children_of(server.pid()).unwrap()[0];
    assert!(statecraft_http::group_members(run).unwrap().len() >= 5);
    // The server dies without a word: its run notices its events have no
    // reader and stops all it started.
    server.kill();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = statecraft_http::group_members(run).unwrap();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "left running: {left:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
