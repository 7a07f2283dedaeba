//! `statecraft lab --quick` end to end: four real clusters, the same load and
//! faults, and the figures the issue asks the lab to show, read back from
//! its `results.json`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::process::Command;
use std::time::Instant;

use crate::chromium::Browser;
use crate::common::Statecraft;
use serde_json::Value;

mod balancer;
mod live;
mod target;

const BIN: &str = env!("CARGO_BIN_EXE_statecraft");

fn strategy<'a>(results: &'a Value, id: &str) -> &'a Value {
    results["strategies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["strategy"] == id)
        .unwrap_or_else(|| panic!("no {id} in the results"))
}

/// Runs `lab --spec - --out OUT [ARGS]` with `spec` on its stdin (`out`
/// emptied first); the run's results.
fn lab_with_spec(args: &[&str], spec: &str, out: &std::path::Path) -> Value {
    use std::io::Write as _;
    use std::process::Stdio;
    let _ = std::fs::remove_dir_all(out);
    let mut lab = Command::new(BIN)
        .args(["lab", "--spec", "-", "--out"])
        .arg(out)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    lab.stdin
        .take()
        .unwrap()
        .write_all(spec.as_bytes())
        .unwrap();
    let run = lab.wait_with_output().unwrap();
    println!("{}", String::from_utf8_lossy(&run.stdout));
    assert!(
        run.status.success(),
        "lab failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let dir = std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap()
}

fn count(s: &Value, field: &str) -> u64 {
    s[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} of {}", s["strategy"]))
}

#[tokio::test]
async fn the_quick_lab_measures_what_each_strategy_costs() {
    // The shared store is a redis-server the lab starts (without one it falls
    // back to a SQLite file, and says so in the notes).
    if statecraft_testkit::program("redis-server", "the lab test").is_none() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let run = Command::new(BIN)
        .args(["lab", "--quick", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    println!("{stdout}");
    assert!(
        run.status.success(),
        "lab failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    println!("lab --quick took {:.0} s", started.elapsed().as_secs_f64());
    for line in [
        "Stateful average request time:",
        "Stateless average request time:",
        "Estimated memory required for session state:",
    ] {
        assert!(stdout.contains(line), "missing {line:?}");
    }
    // The run has a directory of its own in the history.
    let runs: Vec<_> = std::fs::read_dir(out.path()).unwrap().flatten().collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let dir = runs[0].path();
    let results: Value =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    let report = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(dir.join("spec.json").exists() && dir.join("plan.json").exists());
    // Latency, errors, memory; overhead and requests/s against the store's
    // distance; each strategy's instances' answers and p99 over time.
    assert_eq!(report.matches("<svg").count(), 3 + 2 + 2 * 4, "the charts");
    // The report explains itself: findings first, every column defined,
    // legible chart text, the faults as labelled bands.
    let findings = results["findings"].as_array().unwrap();
    assert!(findings.len() >= 5, "{findings:?}");
    assert!(report.find("What this run shows") < report.find("<table"));
    assert!(report.contains("What each column means"));
    assert!(report.contains("instance down") && report.contains("store stopped"));
    assert!(!report.contains("font-size=\"12\"") && !report.contains("font-size=\"9\""));
    let text = findings
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    for expected in [
        "lost sessions from the start",
        "lost no session through the kill",
        "per stateful request",
        "refused as revoked",
        "Tokens are not free on the server",
    ] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }
    assert!(stdout.contains("What this run shows:"), "{stdout}");
    // Piped, not a terminal: progress comes as lines, phase n of 5 (four
    // strategies, then the failover), the load's figures and each fault
    // as it strikes — what the live page draws.
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("phase 2 of 5"), "{stderr}");
    assert!(
        stderr.contains(" req/s, p50 ") && stderr.contains(" ms, p99 "),
        "{stderr}"
    );
    assert!(stderr.contains("fault kill: server-2 killed"), "{stderr}");

    for s in results["strategies"].as_array().unwrap() {
        assert!(count(s, "requests") > 100, "{} barely ran", s["strategy"]);
        assert_eq!(count(s, "silentStateLosses"), 0, "{}", s["strategy"]);
        assert!(s["overhead"]["statefulMs"].as_f64().unwrap() > 0.0);
        assert!(s["notes"].as_array().unwrap().is_empty(), "{}", s["notes"]);
    }

    // In-memory sessions behind round-robin: the session is on one instance
    // of three, so most requests find none, from the start.
    let rr = strategy(&results, "memory-round-robin");
    assert!(rr["errors"]["SESSION_MISSING"].as_u64().unwrap() > 10);
    assert!(count(rr, "sessionsLostBeforeKill") > 0);
    assert!(!rr["counter"]["consistent"].as_bool().unwrap());

    // Sticky: no session lost until the kill, then its clients' sessions.
    let sticky = strategy(&results, "memory-sticky");
    let kill = sticky["faults"][0]["atSeconds"].as_f64().unwrap();
    assert_eq!(sticky["faults"][0]["kind"], "kill");
    assert_eq!(count(sticky, "sessionsLostBeforeKill"), 0);
    assert!(sticky["errors"]["SESSION_LOST"].as_u64().unwrap_or(0) > 0);
    // Every one of them as SESSION_LOST: the gateway keeps marking a client
    // re-pinned from the dead instance while it presents the session it had
    // there, even when its first request after the kill needed no session.
    assert!(
        sticky["errors"].get("SESSION_MISSING").is_none(),
        "{}",
        sticky["errorsByOperation"]
    );
    assert!(sticky["firstSessionErrorSeconds"].as_f64().unwrap() >= kill);

    // A shared store and tokens lose no session through the kill; the
    // shared counter never drifts; a logout is honoured at once.
    for id in ["shared-store", "stateless-tokens"] {
        let s = strategy(&results, id);
        assert_eq!(count(s, "sessionsLost"), 0, "{id}");
        assert_eq!(s["counter"]["drift"], 0, "{id}");
        assert_eq!(s["counter"]["consistent"], true, "{id}");
        assert!(count(s, "visits") > 0, "{id}");
    }
    // The network's faults, through the cluster's links: an instance cut
    // off from the store answers within its store timeout per call and
    // leaves rotation (it is not ready); the gateway finds a partitioned
    // instance within about one health check, never leaving a request to
    // wait for the partition's end.
    assert_eq!(results["schema"], 3);
    // Root on Linux: each instance in its own namespace, the gateway's
    // partition a pulled cable; elsewhere links on loopback.
    let root = {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
    };
    let (network, partition_by) = if root {
        ("netns", "cable pulled")
    } else {
        ("loopback", "blackholed")
    };
    assert_eq!(results["network"], network);
    for id in ["shared-store", "stateless-tokens"] {
        let s = strategy(&results, id);
        let fault = |kind: &str| {
            s["faults"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["kind"] == kind)
                .unwrap_or_else(|| panic!("{id}: no {kind} fault"))
                .clone()
        };
        let cut = fault("store-partition");
        assert!(
            cut["detectedSeconds"].as_f64().unwrap() < 1.5,
            "{id}: {cut}"
        );
        // Cut off from the store, the instance answers within its store
        // timeout (500 ms) once per request: its p99 shows it. Its slowest
        // answer may be a checkout confirm that waited for the orders'
        // SQLite file, which three processes share (a lock waits up to 2 s;
        // confirm's maximum is ~1.1-1.2 s in every strategy, the in-memory
        // ones too); any other slow answer is a request that waited on the
        // store.
        assert!(
            cut["window"]["instanceP99Ms"].as_f64().unwrap() < 600.0,
            "{id}: {cut}"
        );
        let slowest = cut["window"]["instanceSlowest"]
            .as_str()
            .unwrap_or_default();
        assert!(
            cut["window"]["instanceMaxMs"].as_f64().unwrap() < 1600.0
                || slowest.starts_with("confirm"),
            "{id}: {cut}"
        );
        assert!(
            cut["window"]["errors"].get("CLIENT_TIMEOUT").is_none(),
            "{id}: {cut}"
        );
        let partition = fault("gateway-partition");
        let detail = partition["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(partition_by), "{id}: {partition}");
        assert!(
            partition["detectedSeconds"].as_f64().unwrap() < 1.8,
            "{id}: {partition}"
        );
        assert!(
            partition["window"]["errors"]
                .get("CLIENT_TIMEOUT")
                .is_none(),
            "{id}: {partition}"
        );
        assert!(s["retries"]["retries"].as_u64().is_some(), "{id}");
    }
    // The store at a distance: the seed's formula, overhead ≈ RTT + the
    // store's own time, holds for the shared store at 2 ms (bounds looser
    // than the report's 25%: a loaded test machine adds noise).
    let shared_at = |rtt: f64| {
        results["distance"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["strategy"] == "shared-store" && p["rttMs"] == rtt)
            .unwrap_or_else(|| panic!("no shared-store point at {rtt} ms"))
            .clone()
    };
    let (near, far) = (shared_at(0.0), shared_at(2.0));
    let expected = 2.0 + near["overheadMs"].as_f64().unwrap();
    let measured = far["overheadMs"].as_f64().unwrap();
    assert!(
        (measured - expected).abs() <= expected * 0.5,
        "overhead at 2 ms: {measured:.2} ms against RTT + loopback {expected:.2} ms"
    );
    assert!(
        far["requestsPerSecond"].as_f64().unwrap() < near["requestsPerSecond"].as_f64().unwrap()
    );
    // The failover phase: the shared store on a replicated Redis, its
    // primary killed at the same moment for both durabilities.
    let failover = results["failover"].as_array().unwrap();
    let phase = |durability: &str| {
        failover
            .iter()
            .find(|p| p["durability"] == durability)
            .unwrap_or_else(|| panic!("no {durability} failover in {failover:?}"))
            .clone()
    };
    let (fast, replicated) = (phase("fast"), phase("replicated"));
    for p in [&fast, &replicated] {
        assert_eq!(p["strategy"], "shared-store-replicated", "{p}");
        assert!(count(p, "writesAcknowledged") > 100, "{p}");
        // Declared down after 2 s, then the vote and a replica in step.
        let took = p["failoverSeconds"]
            .as_f64()
            .unwrap_or_else(|| panic!("{p}"));
        assert!((1.5..10.0).contains(&took), "{p}");
        assert!(
            count(p, "errors") > 0,
            "writes refused while no primary: {p}"
        );
    }
    assert_eq!(count(&replicated, "writesLost"), 0, "{replicated}");
    assert_eq!(count(&replicated, "sessionsLost"), 0, "{replicated}");
    // The price in requests/s is reported, not asserted: through the
    // gateway on two cores the CPU, not the replica's confirmation, often
    // sets the pace (benchmarks.md measures it on one instance).
    assert!(report.contains("A replicated store's failover"));
    assert!(
        results["findings"].to_string().contains("lost its primary"),
        "{}",
        results["findings"]
    );
    // Revocation shown, not inferred: the logout succeeded and every later
    // try was refused as revoked (not, say, by a store outage).
    for id in ["memory-sticky", "shared-store", "stateless-tokens"] {
        let revocation = &strategy(&results, id)["revocation"];
        assert_eq!(revocation["logoutSucceeded"], true, "{id}: {revocation}");
        assert_eq!(
            revocation["acceptedBeforeLogout"], revocation["probes"],
            "{id}: the credential worked before the logout"
        );
        assert_eq!(revocation["acceptedAfterLogout"], 0, "{id}: {revocation}");
        assert_eq!(
            revocation["refusedAfterLogout"], revocation["probes"],
            "{id}: {revocation}"
        );
        assert_eq!(
            revocation["inconclusiveAfterLogout"],
            serde_json::json!({}),
            "{id}: {revocation}"
        );
    }
    // Bytes per session: the memory store holds some. Tokens are not free
    // on the server either: a login keeps its refresh family and token (two
    // rows), a logout adds two denylist entries; the client holds several
    // hundred bytes.
    let tokens = strategy(&results, "stateless-tokens");
    let cost = &tokens["memory"]["tokenCost"];
    assert_eq!(cost["loginRows"], 2, "{cost}");
    assert_eq!(cost["logoutEntries"], 2, "{cost}");
    assert!(count(cost, "loginBytes") > 100, "{cost}");
    assert!(count(cost, "logoutBytes") > 50, "{cost}");
    assert_eq!(
        tokens["memory"]["serverBytesPerSession"], cost["loginBytes"],
        "{cost}"
    );
    assert!(tokens["memory"]["clientBytesPerSession"].as_f64().unwrap() > 200.0);
    assert!(count(&rr["memory"], "serverBytesPerSession") > 0);
    // The lab's bytes per session are `statecraft capacity --measure`'s:
    // the same count of sessions, so the same figure (it once reported
    // 189-216 B where the command said 102).
    let capacity = Command::new(BIN)
        .args(["capacity", "--measure"])
        .env_remove("STATECRAFT_SESSION_STORE")
        .output()
        .unwrap();
    let capacity = String::from_utf8_lossy(&capacity.stdout);
    let measured: f64 = capacity
        .lines()
        .find_map(|l| l.strip_prefix("Measured session size: "))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{capacity}"));
    let lab = count(&rr["memory"], "serverBytesPerSession") as f64;
    assert!(
        (lab - measured).abs() <= measured * 0.15,
        "lab {lab} B against capacity --measure {measured} B"
    );

    // The lab page shows this run, in a real browser; from it a run starts,
    // is watched live, lands in the history and is compared with this one.
    let out_dir = out.path().display().to_string();
    let server = Statecraft::start(
        out.path(),
        &["serve", "--insecure-cookies", "--lab-results", &out_dir],
    );
    let browser = Browser::start().await;
    browser.open(&format!("{}/lab", server.base)).await;
    browser
        .wait_for("#lab-table tr[data-strategy='stateless-tokens']")
        .await;
    assert_eq!(browser.count("#lab-table tbody tr").await, 4);
    assert_eq!(browser.count("#lab-lines li").await, 4);
    assert!(browser.count("#lab-findings li").await >= 5);
    browser
        .wait_for("#lab-runs tr[data-status='finished']")
        .await;
    let terminal_run = dir.file_name().unwrap().to_str().unwrap().to_owned();
    browser
        .click("#lab-presets button[data-preset='glance']")
        .await;
    browser.click("#lab-start").await;
    let live = browser
        .wait_text("#lab-start-status", |t| t.starts_with("Run "))
        .await;
    let run = live.split_whitespace().nth(1).unwrap().to_owned();
    // One run at a time: a second start names the first.
    let addr = server.base.trim_start_matches("http://").to_owned();
    let (status, _, body) = crate::common::request(
        &addr,
        "POST",
        "/lab/runs",
        &[],
        Some(r#"{"preset": "glance"}"#),
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "RUN_IN_PROGRESS");
    assert_eq!(body["runningId"], run.as_str());
    // The figures arrive every half second and are drawn as they come.
    let samples = || async {
        let value = browser
            .client
            .execute(
                "return document.getElementById('lab-chart').dataset.samples || '0'",
                vec![],
            )
            .await
            .unwrap();
        value.as_str().unwrap_or("0").parse::<u32>().unwrap()
    };
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    let mut seen = Vec::new();
    while samples().await < 10 {
        assert!(Instant::now() < deadline, "live figures: {seen:?}");
        seen.push(browser.text("#lab-rps").await);
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(
        browser.text("#lab-log").await.contains("kill"),
        "the fault is told as it strikes"
    );
    browser.screenshot("lab-live").await;
    // It finishes and joins the history.
    let deadline = Instant::now() + std::time::Duration::from_secs(120);
    while browser.count("#lab-live[data-status='finished']").await == 0 {
        assert!(
            Instant::now() < deadline,
            "the run never finished: {}",
            browser.text("#lab-log").await
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    browser
        .wait_for(&format!(
            "#lab-runs tr[data-run='{run}'][data-status='finished']"
        ))
        .await;
    // Compared with the terminal's run: each figure and its difference.
    browser
        .click(&format!("#lab-runs tr[data-run='{terminal_run}'] input"))
        .await;
    browser
        .click(&format!("#lab-runs tr[data-run='{run}'] input"))
        .await;
    browser.click("#lab-compare").await;
    browser.wait_for("#lab-comparison-table").await;
    let compared = browser.text("#lab-comparison-table").await;
    assert!(
        compared.contains("requests/s") && compared.contains("B − A"),
        "{compared}"
    );
    assert!(
        compared.contains("%)"),
        "differences in percent: {compared}"
    );
    browser
        .client
        .execute(
            "document.getElementById('history-title').scrollIntoView()",
            vec![],
        )
        .await
        .unwrap();
    browser.screenshot("lab").await;
    // Its JSON downloads from the link the history offers.
    let link = format!("#lab-runs tr[data-run='{run}'] a[href$='results.json']");
    browser.wait_for(&link).await;
    let downloaded = browser
        .client
        .execute(
            "return fetch(document.querySelector(arguments[0]).href).then(r => r.json()).then(j => j.id)",
            vec![serde_json::json!(link)],
        )
        .await
        .unwrap();
    assert_eq!(downloaded, serde_json::json!(run));
    browser.close().await;
}
