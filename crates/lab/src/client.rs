//! The lab's HTTP client: accounts, the credentials a user holds (cookies or
//! a bearer token), one call and its recorded answer, registering and
//! logging in the way each strategy does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderMap, SET_COOKIE};
use serde_json::{Value, json};

use crate::record::{Answer, Recorder};
use crate::strategy::Strategy;

/// How long a client waits for an answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// A user account of the lab.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub(crate) user: String,
    pub(crate) password: String,
}

impl Account {
    /// `lab-<n>` with a random password.
    pub(crate) fn numbered(run: &str, n: usize) -> Self {
        let secret: [u8; 12] = rand::random();
        Self {
            user: format!("lab-{run}-{n}"),
            password: secret.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    fn login_body(&self) -> Value {
        json!({"user": self.user, "password": self.password})
    }
}

/// The cookies one client holds.
#[derive(Debug, Clone, Default)]
pub(crate) struct Jar(Vec<(String, String)>);

impl Jar {
    /// The `Cookie` header value, if any cookie is held.
    fn header(&self) -> Option<String> {
        let pairs: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    /// Applies an answer's `Set-Cookie` headers (an empty value or a zero
    /// `Max-Age` clears the cookie).
    fn store(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            let Some(cookie) = value
                .to_str()
                .ok()
                .and_then(|s| cookie::Cookie::parse(s).ok())
            else {
                continue;
            };
            self.0.retain(|(name, _)| name != cookie.name());
            let cleared =
                cookie.value().is_empty() || cookie.max_age().is_some_and(|age| age.is_zero());
            if !cleared {
                self.0
                    .push((cookie.name().to_owned(), cookie.value().to_owned()));
            }
        }
    }

    pub(crate) fn holds(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }
}

/// What a client presents: its cookies and, in token mode, a bearer token.
#[derive(Debug, Clone, Default)]
pub(crate) struct Credential {
    pub(crate) jar: Jar,
    pub(crate) bearer: Option<String>,
}

impl Credential {
    /// Bytes of the credential headers' values.
    pub(crate) fn bytes(&self) -> usize {
        self.jar.header().map_or(0, |h| h.len()) + self.bearer.as_ref().map_or(0, |t| t.len() + 7)
    }
}

/// One request.
#[derive(Debug)]
pub(crate) struct Call {
    op: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
    idempotent_retry_key: bool,
}

impl Call {
    pub(crate) fn post(op: &'static str, path: impl Into<String>, body: Option<Value>) -> Self {
        Self {
            op,
            method: Method::POST,
            path: path.into(),
            body,
            idempotent_retry_key: false,
        }
    }

    pub(crate) fn get(op: &'static str, path: impl Into<String>) -> Self {
        Self {
            op,
            method: Method::GET,
            path: path.into(),
            body: None,
            idempotent_retry_key: false,
        }
    }

    pub(crate) fn with_idempotency_key(mut self) -> Self {
        self.idempotent_retry_key = true;
        self
    }
}

/// Where the users send their requests, and who records the answers.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    client: reqwest::Client,
    /// Base URL: the gateway, or one instance.
    pub(crate) base: String,
    /// `None`: answers are not recorded (probes and set-up).
    pub(crate) recorder: Option<Arc<Recorder>>,
}

impl Target {
    /// Requests to `base`, recorded by `recorder` when given.
    pub(crate) fn new(base: String, recorder: Option<Arc<Recorder>>) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(CLIENT_TIMEOUT)
            .connect_timeout(Duration::from_secs(1))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            base,
            recorder,
        })
    }

    /// Sends `call` with `credential`, keeps the cookies it sets, records the
    /// answer; the body on success, the error code otherwise. A call that is
    /// safe to repeat (a GET, or one carrying an `Idempotency-Key`, the same
    /// key each time) is tried again after a transient error, up to
    /// [`RETRIES`] times with capped exponential backoff and full jitter, as
    /// a careful client would.
    pub(crate) async fn send(
        &self,
        credential: &mut Credential,
        call: Call,
    ) -> Result<Value, String> {
        let body = call
            .body
            .as_ref()
            .map(|b| serde_json::to_vec(b).unwrap_or_default());
        let key = call.idempotent_retry_key.then(|| {
            let key: [u8; 16] = rand::random();
            key.iter().map(|b| format!("{b:02x}")).collect::<String>()
        });
        let safe = call.method == Method::GET || key.is_some();
        let mut failed_before = false;
        let mut attempt = 0;
        loop {
            let (outcome, status) = self
                .attempt(credential, &call, body.as_deref(), key.as_deref())
                .await;
            let recorder = self.recorder.as_ref();
            match outcome {
                Ok(answer) => {
                    // A keyed request answered 200 where the first answer is
                    // 201: a replay of an attempt that had failed to answer.
                    if failed_before
                        && key.is_some()
                        && status == 200
                        && let Some(r) = recorder
                    {
                        r.duplicate_prevented();
                    }
                    return Ok(answer);
                }
                Err(code) if safe && attempt < RETRIES && transient(&code) => {
                    failed_before = true;
                    if let Some(r) = recorder {
                        r.retry();
                    }
                    let cap = RETRY_BASE.saturating_mul(1 << attempt).min(RETRY_CAP);
                    tokio::time::sleep(cap.mul_f64(rand::random::<f64>())).await;
                    attempt += 1;
                }
                Err(code) => {
                    if let Some(r) = recorder {
                        r.left_to_user(&code);
                    }
                    return Err(code);
                }
            }
        }
    }

    /// One attempt of `call`: its outcome and the HTTP status (0: none).
    async fn attempt(
        &self,
        credential: &mut Credential,
        call: &Call,
        body: Option<&[u8]>,
        key: Option<&str>,
    ) -> (Result<Value, String>, u16) {
        let mut request = self
            .client
            .request(call.method.clone(), format!("{}{}", self.base, call.path));
        if let Some(cookies) = credential.jar.header() {
            request = request.header(COOKIE, cookies);
        }
        if let Some(token) = &credential.bearer {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let body_bytes = body.map_or(0, <[u8]>::len);
        if let Some(bytes) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(bytes.to_vec());
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let credential_bytes = credential.bytes();
        let sent = Instant::now();
        let mut served_by = None;
        let mut status = 0;
        let outcome = match request.send().await {
            Err(err) if err.is_timeout() => Err("CLIENT_TIMEOUT".to_owned()),
            Err(_) => Err("CONNECTION_FAILED".to_owned()),
            Ok(response) => {
                credential.jar.store(response.headers());
                served_by = response
                    .headers()
                    .get("x-served-by")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                status = response.status().as_u16();
                let body: Value = match response.bytes().await {
                    Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                    Err(_) => Value::Null,
                };
                if (200..300).contains(&status) {
                    Ok(body)
                } else {
                    Err(body["code"]
                        .as_str()
                        .map_or_else(|| format!("HTTP_{status}"), str::to_owned))
                }
            }
        };
        if let Some(recorder) = &self.recorder {
            recorder.answer(&Answer {
                op: call.op,
                sent,
                latency: sent.elapsed(),
                error: outcome.as_ref().err().map(String::as_str),
                credential_bytes,
                body_bytes,
                served_by: served_by.as_deref(),
            });
        }
        (outcome, status)
    }
}

/// Retries of one safe request after its first attempt.
const RETRIES: u32 = 3;
/// The first retry waits up to this long; each next one up to twice as long.
const RETRY_BASE: Duration = Duration::from_millis(50);
/// The longest wait before a retry.
const RETRY_CAP: Duration = Duration::from_millis(800);

/// An error that another attempt may not meet: the transport's, a
/// gateway's or instance's passing trouble, a store that did not answer.
fn transient(code: &str) -> bool {
    matches!(
        code,
        "CONNECTION_FAILED"
            | "CLIENT_TIMEOUT"
            | "UPSTREAM_FAILED"
            | "UPSTREAM_TIMEOUT"
            | "NO_HEALTHY_UPSTREAM"
            | "STORE_UNAVAILABLE"
            | "SERVICE_UNAVAILABLE"
            | "HTTP_502"
            | "HTTP_503"
            | "HTTP_504"
    )
}

/// Registers `account` (an existing one is fine).
pub(crate) async fn register(target: &Target, account: &Account) -> Result<(), String> {
    let body = json!({"user": account.user, "password": account.password, "name": "Lab user"});
    match target
        .send(
            &mut Credential::default(),
            Call::post("register", "/users", Some(body)),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(code) if code == "USER_EXISTS" => Ok(()),
        Err(code) => Err(format!("cannot register {}: {code}", account.user)),
    }
}

/// Logs `account` in the way `strategy` does: a session cookie, or a bearer
/// token from `POST /token`.
pub(crate) async fn log_in(
    target: &Target,
    strategy: Strategy,
    account: &Account,
    credential: &mut Credential,
) -> Result<(), String> {
    if strategy.uses_tokens() {
        let answer = target
            .send(
                credential,
                Call::post("login", "/token", Some(account.login_body())),
            )
            .await?;
        credential.bearer = answer["token"].as_str().map(str::to_owned);
        credential
            .bearer
            .as_ref()
            .map(|_| ())
            .ok_or_else(|| "NO_TOKEN".to_owned())
    } else {
        target
            .send(
                credential,
                Call::post("login", "/login", Some(account.login_body())),
            )
            .await
            .map(|_| ())
    }
}
