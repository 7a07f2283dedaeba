//! The load driver: simulated users, each a sequential client with its own
//! cookies or tokens, walking the same journey (log in, count, fill a cart,
//! check out) for as long as the run lasts. Session strategies keep their
//! state on the server; the token strategy carries it itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderMap, SET_COOKIE};
use serde_json::{Value, json};

use crate::record::{Answer, Recorder, SESSION_ERRORS};
use crate::strategy::Strategy;

/// Products the users buy (the seeded catalog's plentiful ones).
const PRODUCTS: [&str; 3] = ["sticker-5", "pen-7", "mug-3"];
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
    pub(crate) fn numbered(n: usize) -> Self {
        let secret: [u8; 12] = rand::random();
        Self {
            user: format!("lab-{n}"),
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

    fn holds(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }
}

/// What a client presents: its cookies and, in token mode, a bearer token.
#[derive(Debug, Clone, Default)]
pub(crate) struct Credential {
    jar: Jar,
    bearer: Option<String>,
}

impl Credential {
    /// Bytes of the credential headers' values.
    fn bytes(&self) -> usize {
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

    fn with_idempotency_key(mut self) -> Self {
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
    recorder: Option<Arc<Recorder>>,
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
    /// answer; the body on success, the error code otherwise.
    pub(crate) async fn send(
        &self,
        credential: &mut Credential,
        call: Call,
    ) -> Result<Value, String> {
        let mut request = self
            .client
            .request(call.method, format!("{}{}", self.base, call.path));
        if let Some(cookies) = credential.jar.header() {
            request = request.header(COOKIE, cookies);
        }
        if let Some(token) = &credential.bearer {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let mut body_bytes = 0;
        if let Some(body) = &call.body {
            let bytes = serde_json::to_vec(body).unwrap_or_default();
            body_bytes = bytes.len();
            request = request.header(CONTENT_TYPE, "application/json").body(bytes);
        }
        if call.idempotent_retry_key {
            let key: [u8; 16] = rand::random();
            let key: String = key.iter().map(|b| format!("{b:02x}")).collect();
            request = request.header("Idempotency-Key", key);
        }
        let credential_bytes = credential.bytes();
        let sent = Instant::now();
        let outcome = match request.send().await {
            Err(err) if err.is_timeout() => Err("CLIENT_TIMEOUT".to_owned()),
            Err(_) => Err("CONNECTION_FAILED".to_owned()),
            Ok(response) => {
                credential.jar.store(response.headers());
                let status = response.status();
                let body: Value = match response.bytes().await {
                    Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                    Err(_) => Value::Null,
                };
                if status.is_success() {
                    Ok(body)
                } else {
                    Err(body["code"]
                        .as_str()
                        .map_or_else(|| format!("HTTP_{}", status.as_u16()), str::to_owned))
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
            });
        }
        outcome
    }
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

/// One simulated user.
#[derive(Debug)]
pub(crate) struct User {
    account: Account,
    strategy: Strategy,
    credential: Credential,
    /// The named counter every user increments (for drift across instances).
    shared_counter: String,
    logged_in: bool,
    /// The count the server (or the signed token) should hold now.
    counter: Option<u64>,
    /// Client-held signed count (token strategy).
    state_token: Option<String>,
    /// Client-held cart (token strategy).
    cart: Vec<(String, u16)>,
}

impl User {
    /// A user of `account` running `strategy`'s journey.
    pub(crate) fn new(account: Account, strategy: Strategy, shared_counter: String) -> Self {
        Self {
            account,
            strategy,
            credential: Credential::default(),
            shared_counter,
            logged_in: false,
            counter: None,
            state_token: None,
            cart: Vec::new(),
        }
    }

    /// Walks the journey again and again until `deadline`.
    pub(crate) async fn run(mut self, target: Target, deadline: Instant) {
        while Instant::now() < deadline {
            let outcome = if self.strategy.uses_tokens() {
                self.token_visit(&target).await
            } else {
                self.session_visit(&target).await
            };
            match outcome {
                Ok(()) => {
                    if let Some(recorder) = &target.recorder {
                        recorder.visit();
                    }
                }
                Err(code) => {
                    self.after_error(&code);
                    // A person would not retry at once either; this also
                    // keeps a dead cluster from being hammered in a loop.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    /// Bytes the client holds for its state and identity.
    fn state_bytes(&self) -> usize {
        self.credential.bytes() + self.state_token.as_ref().map_or(0, String::len)
    }

    fn after_error(&mut self, code: &str) {
        if SESSION_ERRORS.contains(&code) || code.starts_with("TOKEN_") || code == "UNAUTHENTICATED"
        {
            // The server no longer knows who this is: log in again.
            self.logged_in = false;
            self.credential.bearer = None;
        }
    }

    fn check_count(&mut self, answer: &Value, target: &Target) {
        let Some(now) = answer["counter"].as_u64() else {
            return;
        };
        if let Some(token) = answer["stateToken"].as_str() {
            self.state_token = Some(token.to_owned());
        }
        if let Some(recorder) = &target.recorder {
            if let Some(before) = self.counter
                && now != before + 1
            {
                recorder.count_mismatch(now > before + 1);
            }
            recorder.client_state(self.state_bytes());
        }
        self.counter = Some(now);
    }

    fn product() -> &'static str {
        PRODUCTS[rand::random_range(0..PRODUCTS.len())]
    }

    /// Session strategies: the server holds the count, the cart and the
    /// checkout's progress.
    async fn session_visit(&mut self, target: &Target) -> Result<(), String> {
        let strategy = self.strategy;
        // First, needing no session: every instance's view of one counter.
        self.shared_count(target).await?;
        if !self.logged_in || !self.credential.jar.holds("session_id") {
            log_in(target, strategy, &self.account, &mut self.credential).await?;
            self.logged_in = true;
            self.counter = Some(0);
        }
        for _ in 0..3 {
            let answer = target
                .send(
                    &mut self.credential,
                    Call::post("count", "/increment", None),
                )
                .await?;
            self.check_count(&answer, target);
        }
        for _ in 0..2 {
            let item = json!({"productId": Self::product(), "quantity": 1});
            target
                .send(
                    &mut self.credential,
                    Call::post("cart", "/cart/items", Some(item)),
                )
                .await?;
        }
        target
            .send(&mut self.credential, Call::get("cart", "/cart"))
            .await?;
        target
            .send(&mut self.credential, Call::get("profile", "/profile"))
            .await?;
        let credential = &mut self.credential;
        target
            .send(credential, Call::post("checkout", "/checkout", None))
            .await?;
        target
            .send(
                credential,
                Call::post("checkout", "/checkout/shipping", Some(shipping())),
            )
            .await?;
        let payment = json!({"paymentToken": "tok_123"});
        target
            .send(
                credential,
                Call::post("checkout", "/checkout/payment", Some(payment)),
            )
            .await?;
        target
            .send(
                credential,
                Call::post("confirm", "/checkout/confirm", None).with_idempotency_key(),
            )
            .await?;
        Ok(())
    }

    /// Token strategy: the client holds the signed count and the cart, and
    /// sends the whole context when it checks out.
    async fn token_visit(&mut self, target: &Target) -> Result<(), String> {
        self.shared_count(target).await?;
        if self.credential.bearer.is_none() {
            log_in(target, self.strategy, &self.account, &mut self.credential).await?;
        }
        for _ in 0..3 {
            let body = match &self.state_token {
                Some(token) => json!({"stateToken": token}),
                None => json!({"currentCount": 0}),
            };
            let answer = target
                .send(
                    &mut self.credential,
                    Call::post("count", "/increment", Some(body)),
                )
                .await?;
            self.check_count(&answer, target);
        }
        for _ in 0..2 {
            let product = Self::product();
            match self.cart.iter_mut().find(|(p, _)| p == product) {
                Some((_, quantity)) => *quantity += 1,
                None => self.cart.push((product.to_owned(), 1)),
            }
        }
        target
            .send(&mut self.credential, Call::get("profile", "/profile"))
            .await?;
        let items: Vec<Value> = self
            .cart
            .iter()
            .map(|(p, q)| json!({"productId": p, "quantity": q}))
            .collect();
        let order =
            json!({"cart": {"items": items}, "shipping": shipping(), "paymentToken": "tok_123"});
        target
            .send(
                &mut self.credential,
                Call::post("confirm", "/checkout/confirm", Some(order)).with_idempotency_key(),
            )
            .await?;
        self.cart.clear();
        Ok(())
    }

    async fn shared_count(&mut self, target: &Target) -> Result<(), String> {
        let path = format!("/counters/{}/increment", self.shared_counter);
        target
            .send(
                &mut self.credential,
                Call::post("named-counter", path, None),
            )
            .await
            .map(|_| ())
    }
}

fn shipping() -> Value {
    json!({"name": "Lab User", "line1": "1 Test Street", "city": "Testville",
           "postalCode": "12345", "country": "DE"})
}
