//! `spawn_app`: a fresh server on port 0 with fresh stores and a manual clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::{Method, Response};
use serde_json::Value;
use statecraft_app::{AppConfig, AuthSettings, Blueprint};
use statecraft_auth::{Passwords, TokenIssuer};
use statecraft_events::Bus;
use statecraft_services::{DataSpec, InventoryDb, UsersDb};
use statecraft_state::memory::{MemoryCounterStore, MemorySessionStore};
use statecraft_state::{Clock, CounterStore, Denylist, ManualClock, SessionStore, SessionTimeouts};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// What stops a test's server, and its task (which ends once it has shut down).
type Running = (oneshot::Sender<()>, JoinHandle<std::io::Result<()>>);

/// A running server and what a test needs to drive it.
pub(crate) struct TestApp {
    pub(crate) base: String,
    pub(crate) client: reqwest::Client,
    pub(crate) clock: ManualClock,
    pub(crate) sessions: MemorySessionStore,
    pub(crate) users: UsersDb,
    pub(crate) tokens: Arc<TokenIssuer>,
    /// The inventory's database (tests set stock).
    pub(crate) inventory: Option<InventoryDb>,
    /// Stops the server and waits until it has shut down.
    stop: Mutex<Option<Running>>,
    _data: tempfile::TempDir,
}

impl TestApp {
    /// Shuts the server down as SIGTERM does `serve` (drain, stop the
    /// relays and consumers, close the pools) and waits until it has: then
    /// no connection of this app holds a lock, and its schemas can go.
    pub(crate) async fn shut_down(&self) {
        let stop = self.stop.lock().ok().and_then(|mut stop| stop.take());
        if let Some((stop, served)) = stop {
            let _ = stop.send(());
            served.await.unwrap().unwrap();
        }
    }
}

/// Settings a test may change before the server starts.
pub(crate) struct Setup {
    pub(crate) config: AppConfig,
    /// `None`: a manual clock the test moves; `Some`: the real clock.
    pub(crate) real_clock: bool,
    pub(crate) sweep_every: Duration,
    /// Other stores than this test's memory ones (SQLite, Redis).
    pub(crate) stores: Option<(Arc<dyn SessionStore>, Arc<dyn CounterStore>)>,
    /// The token denylist (default: in memory).
    pub(crate) denylist: Option<Arc<dyn Denylist>>,
    /// Login mode and refresh lifetimes.
    pub(crate) auth: AuthSettings,
    /// Access-token lifetime.
    pub(crate) access_ttl: Duration,
    /// The users database (default: SQLite in a temporary directory).
    pub(crate) data: Option<(DataSpec, Option<String>)>,
    /// The services' bus (default: in-process).
    pub(crate) bus: Option<Arc<dyn Bus>>,
}

pub(crate) async fn spawn_app() -> Arc<TestApp> {
    spawn_with(|_| {}).await
}

pub(crate) async fn spawn_with(change: impl FnOnce(&mut Setup)) -> Arc<TestApp> {
    let mut setup = Setup {
        config: AppConfig::new("server-test"),
        real_clock: false,
        sweep_every: Duration::from_secs(3600),
        stores: None,
        denylist: None,
        auth: AuthSettings::default(),
        access_ttl: Duration::from_secs(900),
        data: None,
        bus: None,
    };
    change(&mut setup);
    let clock = ManualClock::new();
    let store_clock: Arc<dyn Clock> = if setup.real_clock {
        Arc::new(statecraft_state::SystemClock::new())
    } else {
        Arc::new(clock.clone())
    };
    let sessions =
        MemorySessionStore::with_clock(setup.config.timeouts, store_clock, setup.sweep_every);
    let (session_store, counter_store): (Arc<dyn SessionStore>, Arc<dyn CounterStore>) =
        match setup.stores {
            Some(stores) => stores,
            None => (
                Arc::new(sessions.clone()),
                Arc::new(MemoryCounterStore::new()),
            ),
        };
    let data_dir = tempfile::tempdir().unwrap();
    let (spec, schema) = setup
        .data
        .unwrap_or_else(|| (DataSpec::Sqlite(data_dir.path().to_owned()), None));
    // Instances on one data directory share its keys, as `serve` does.
    let keys = match &spec {
        DataSpec::Sqlite(dir) => dir.join("keys"),
        DataSpec::Postgres(_) => data_dir.path().join("keys"),
    };
    // The same builder as `serve`, with this test's stores and settings;
    // each service owns its schema (`<schema>_orders` … beside the users').
    let mut blueprint = Blueprint::new(setup.config, spec, keys);
    blueprint.sessions = session_store;
    blueprint.counters = counter_store;
    if let Some(denylist) = setup.denylist {
        blueprint.denylist = denylist;
    }
    blueprint.schema = schema;
    blueprint.access_ttl = setup.access_ttl;
    blueprint.auth = setup.auth;
    // Cheap Argon2 parameters: these tests are about behaviour, not cost.
    blueprint.passwords = Passwords::with_params(1024, 1);
    if let Some(bus) = setup.bus {
        blueprint.bus = bus;
    }
    let app = statecraft_app::build(blueprint).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let (users, tokens, inventory) = (
        app.users().clone(),
        Arc::clone(app.tokens()),
        app.inventory().cloned(),
    );
    let served = tokio::spawn(app.serve(
        listener,
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(10),
    ));
    Arc::new(TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        clock,
        sessions,
        users,
        tokens,
        inventory,
        stop: Mutex::new(Some((stop, served))),
        _data: data_dir,
    })
}

/// Short timeouts for expiry tests.
pub(crate) fn short_timeouts() -> SessionTimeouts {
    SessionTimeouts {
        idle: Duration::from_secs(2),
        absolute: Duration::from_secs(10),
    }
}

/// A response read whole.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
    pub(crate) text: String,
}

impl Answer {
    pub(crate) async fn from(response: Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            body,
            text,
        }
    }

    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `session_id` value a `Set-Cookie` issued, if any.
    pub(crate) fn session_cookie(&self) -> Option<String> {
        self.headers.get_all(SET_COOKIE).iter().find_map(|v| {
            let text = v.to_str().ok()?;
            let value = text.strip_prefix("session_id=")?.split(';').next()?;
            (!value.is_empty()).then(|| value.to_owned())
        })
    }

    pub(crate) fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    /// Asserts the API's error shape, status and code.
    pub(crate) fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(self.body["code"], code, "{}", self.text);
        assert!(
            self.body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{}",
            self.text
        );
        assert!(self.header("content-type").starts_with("application/json"));
    }
}

impl TestApp {
    /// Sends a request; `cookie` is the `session_id` value, `body` is JSON.
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(c) = cookie {
            request = request.header("cookie", format!("session_id={c}"));
        }
        if let Some(b) = body {
            request = request.json(&b);
        }
        Answer::from(request.send().await.unwrap()).await
    }

    /// POSTs `body` as is, with `content_type` when given.
    pub(crate) async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
        cookie: Option<&str>,
    ) -> Answer {
        let mut request = self.client.post(format!("{}{path}", self.base)).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        if let Some(c) = cookie {
            request = request.header("cookie", format!("session_id={c}"));
        }
        Answer::from(request.send().await.unwrap()).await
    }

    /// Sends a request with a bearer token.
    pub(crate) async fn bearer(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Answer {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {token}"));
        if let Some(b) = body {
            request = request.json(&b);
        }
        Answer::from(request.send().await.unwrap()).await
    }

    /// Logs in by session (with `cookie`, an anonymous session, if given) and
    /// `user_agent`; returns the answer.
    pub(crate) async fn login_as(
        &self,
        user: &str,
        password: &str,
        cookie: Option<&str>,
        user_agent: &str,
    ) -> Answer {
        let mut request = self
            .client
            .post(format!("{}/login", self.base))
            .header("user-agent", user_agent)
            .json(&serde_json::json!({"user": user, "password": password}));
        if let Some(c) = cookie {
            request = request.header("cookie", format!("session_id={c}"));
        }
        Answer::from(request.send().await.unwrap()).await
    }

    /// Logs alice in by session; returns the new cookie.
    pub(crate) async fn login_alice(&self) -> String {
        let answer = self
            .login_as("alice", "correct-password", None, "test")
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.session_cookie().unwrap()
    }

    /// A token pair for `user`: (access token, refresh token).
    pub(crate) async fn token_for(&self, user: &str) -> (String, String) {
        let answer = self
            .post(
                "/token",
                None,
                Some(serde_json::json!({"user": user, "password": "correct-password"})),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        (
            answer.body["token"].as_str().unwrap().to_owned(),
            answer.body["refreshToken"].as_str().unwrap().to_owned(),
        )
    }

    pub(crate) async fn get(&self, path: &str, cookie: Option<&str>) -> Answer {
        self.call("GET", path, cookie, None).await
    }

    pub(crate) async fn post(
        &self,
        path: &str,
        cookie: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        self.call("POST", path, cookie, body).await
    }

    /// Starts a session with one cart add; returns its cookie value.
    pub(crate) async fn new_session(&self) -> String {
        let answer = self
            .post(
                "/cart/items",
                None,
                Some(serde_json::json!({"productId": "book-1", "quantity": 1})),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.session_cookie().unwrap()
    }
}
