//! Measurements beside the load: what a stateful request costs over a
//! stateless one on the same endpoint, and the bytes one session takes in
//! each store.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use crate::strategy::Strategy;

/// `T_stateful − T_stateless`, measured on `POST /increment` of one instance.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overhead {
    /// What the stateful form is: a session in a store, or a signed
    /// client-held token.
    pub stateful_form: String,
    /// Requests of each form.
    pub requests: usize,
    /// Mean time of the stateful form, milliseconds.
    pub stateful_ms: f64,
    /// Mean time of the stateless form (`{"currentCount": n}`), milliseconds.
    pub stateless_ms: f64,
    /// The difference, milliseconds (negative when within noise).
    pub overhead_ms: f64,
}

/// Alternates stateful and stateless counter requests to `instance`, one
/// at a time on one connection, so both see the same machine.
pub(crate) async fn overhead(
    instance: &str,
    strategy: Strategy,
    store: &str,
    requests: usize,
) -> Result<Overhead, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(1)
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("{instance}/increment");
    let post = |body: Option<Value>, cookie: Option<&str>| {
        let mut request = client.post(&url);
        if let Some(cookie) = cookie {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    // The stateful form's state: a session (its cookie), or a signed token.
    let first = if strategy.uses_tokens() {
        post(Some(json!({"currentCount": 0})), None)
    } else {
        post(None, None)
    }
    .await
    .map_err(|e| e.to_string())?;
    let cookie = first
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    let first: Value = first.json().await.map_err(|e| e.to_string())?;
    let token = first["stateToken"].as_str().map(str::to_owned);
    let stateful_body = || token.as_ref().map(|t| json!({"stateToken": t}));
    let (mut stateful, mut stateless) = (Duration::ZERO, Duration::ZERO);
    let warm_up = requests / 10;
    for n in 0..requests + warm_up {
        let started = Instant::now();
        let answer = post(stateful_body(), cookie.as_deref()).await;
        let took = started.elapsed();
        check(answer)?;
        if n >= warm_up {
            stateful += took;
        }
        let started = Instant::now();
        let answer = post(Some(json!({"currentCount": n})), None).await;
        let took = started.elapsed();
        check(answer)?;
        if n >= warm_up {
            stateless += took;
        }
    }
    let mean = |total: Duration| total.as_secs_f64() * 1e3 / requests.max(1) as f64;
    let (stateful_ms, stateless_ms) = (mean(stateful), mean(stateless));
    Ok(Overhead {
        stateful_form: if strategy.uses_tokens() {
            "signed client-held token".to_owned()
        } else {
            format!("session in {store}")
        },
        requests,
        stateful_ms,
        stateless_ms,
        overhead_ms: stateful_ms - stateless_ms,
    })
}

fn check(answer: Result<reqwest::Response, reqwest::Error>) -> Result<(), String> {
    match answer {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!("counter answered {}", response.status())),
        Err(err) => Err(err.to_string()),
    }
}

/// Bytes one typical session takes in `store` (memory, sqlite:PATH or
/// redis://…), as `statecraft capacity --measure` finds after creating
/// `sessions` of them.
pub(crate) async fn bytes_per_session(
    program: &Path,
    store: &str,
    sessions: u64,
) -> Result<u64, String> {
    let output = tokio::process::Command::new(program)
        .args(["capacity", "--measure", "--sessions", &sessions.to_string()])
        // In the environment, not on a command line others can read: a
        // Redis URL may hold a password.
        .env("STATECRAFT_SESSION_STORE", store)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("Measured session size: "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            format!(
                "capacity --measure on {store} failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )
        })
}
