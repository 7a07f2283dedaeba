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

/// Bytes one session with `cart_items` products in its cart takes in
/// `store` (memory, sqlite:PATH or redis://…), as `statecraft capacity
/// --measure` finds after creating `sessions` of them.
pub(crate) async fn bytes_per_session(
    program: &Path,
    store: &str,
    sessions: u64,
    cart_items: usize,
) -> Result<u64, String> {
    let items = cart_items.to_string();
    let stdout = capacity(program, store, sessions, &["--cart-items", &items]).await?;
    figures(&stdout, "Measured session size: ")
        .and_then(|n| n.first().copied())
        .ok_or_else(|| format!("capacity --measure on {store} printed no size: {stdout}"))
}

/// What a token login and a token logout leave on the server.
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenCost {
    /// Bytes one login's refresh family and first token take in the users
    /// database, kept for the refresh lifetime (14 days by default).
    pub login_bytes: u64,
    /// Rows one login writes there.
    pub login_rows: u64,
    /// Bytes one logout's denylist entries take in the shared store, kept
    /// until the access token would have expired (15 minutes by default).
    pub logout_bytes: u64,
    /// Denylist entries one logout writes.
    pub logout_entries: u64,
}

/// [`TokenCost`], as `statecraft capacity --measure --credential token`
/// finds after `logins` logins and logouts, the denylist in `store`.
pub(crate) async fn token_cost(
    program: &Path,
    store: &str,
    logins: u64,
) -> Result<TokenCost, String> {
    let stdout = capacity(program, store, logins, &["--credential", "token"]).await?;
    let pair = |prefix: &str| match figures(&stdout, prefix).as_deref() {
        Some(&[bytes, count, ..]) => Ok((bytes, count)),
        _ => Err(format!(
            "capacity --measure --credential token printed no {prefix:?} line: {stdout}"
        )),
    };
    let (login_bytes, login_rows) = pair("Measured token login: ")?;
    let (logout_bytes, logout_entries) = pair("Measured token logout: ")?;
    Ok(TokenCost {
        login_bytes,
        login_rows,
        logout_bytes,
        logout_entries,
    })
}

/// Runs `statecraft capacity --measure ARGS` on `store`; its standard
/// output.
async fn capacity(
    program: &Path,
    store: &str,
    count: u64,
    args: &[&str],
) -> Result<String, String> {
    let output = tokio::process::Command::new(program)
        .args(["capacity", "--measure", "--sessions", &count.to_string()])
        .args(args)
        // In the environment, not on a command line others can read: a
        // Redis URL may hold a password.
        .env("STATECRAFT_SESSION_STORE", store)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!(
            "capacity --measure {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The whole numbers on the line of `stdout` after `prefix` ("372 bytes, 2
/// rows" → [372, 2]).
fn figures(stdout: &str, prefix: &str) -> Option<Vec<u64>> {
    let rest = stdout.lines().find_map(|line| line.strip_prefix(prefix))?;
    let numbers = rest
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    Some(numbers)
}
