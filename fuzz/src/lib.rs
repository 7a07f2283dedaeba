//! What the fuzz targets share: one statecraft app (memory stores, the
//! services on a temporary SQLite directory) and one gateway in front of it,
//! built once per fuzzing process. Requests go through them in process; a
//! panic, a 500, or an error that is not the API's JSON shape is a crash.

use std::net::SocketAddr;
use std::sync::LazyLock;

use axum::body::Body;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use statecraft_app::{AppConfig, Application, Blueprint};
use statecraft_auth::Passwords;
use statecraft_gateway::{Gateway, GatewayConfig, Policy, UpstreamSpec};
use statecraft_services::DataSpec;
use tower::util::BoxCloneSyncService;
use tower::{Service as _, ServiceExt as _};

type AppService = BoxCloneSyncService<Request<Body>, Response<Body>, std::convert::Infallible>;

/// The app and gateways of one fuzzing process.
pub struct Harness {
    runtime: tokio::runtime::Runtime,
    app: AppService,
    /// One gateway per policy, all in front of the app listening on loopback.
    gateways: Vec<Gateway>,
    /// A valid bearer token (alice), for targets that start from one.
    pub token: String,
    /// The instance the app serves (its tasks run while the harness lives).
    _instance: Application,
    _data: tempfile::TempDir,
}

/// The harness, built on first use.
pub static HARNESS: LazyLock<Harness> = LazyLock::new(build);

#[allow(clippy::expect_used)] // set-up of a fuzzing process: failing loudly is right
fn build() -> Harness {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let data = tempfile::tempdir().expect("temporary directory");
    let spec = DataSpec::Sqlite(data.path().to_owned());
    let instance = runtime.block_on(async {
        let mut config = AppConfig::new("server-fuzz");
        config.secure_cookies = false;
        // The same builder as `serve`: memory stores, the services on a
        // temporary SQLite directory, the in-process bus.
        let mut blueprint = Blueprint::new(config, spec, data.path().join("keys"));
        // Cheap Argon2: the parsers are the subject, not the password cost.
        blueprint.passwords = Passwords::with_params(1024, 1);
        let app = statecraft_app::build(blueprint).await.expect("app");
        app
    });
    let state = instance.state().clone();
    let app: AppService = BoxCloneSyncService::new(statecraft_app::app(state.clone()));
    let gateways = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(statecraft_app::serve(
            listener,
            state,
            std::future::pending(),
        ));
        [Policy::Sticky, Policy::Hash, Policy::RoundRobin]
            .into_iter()
            .map(|policy| {
                let upstream =
                    UpstreamSpec::parse(&format!("server-1=http://{addr}"), 1).expect("upstream");
                Gateway::new(GatewayConfig::new(vec![upstream], policy), None)
            })
            .collect()
    });
    let mut harness = Harness {
        runtime,
        app,
        gateways,
        token: String::new(),
        _instance: instance,
        _data: data,
    };
    let login = Request::post("/token")
        .header("content-type", "application/json")
        .body(Body::from(
            r#"{"user":"alice","password":"correct-password"}"#,
        ))
        .expect("request");
    let (_, body) = harness.app(login);
    let answer: serde_json::Value = serde_json::from_slice(&body).expect("token answer");
    harness.token = answer["token"].as_str().expect("token").to_owned();
    harness
}

impl Harness {
    /// Sends `request` to the app; its status and body, after checking both.
    pub fn app(&self, request: Request<Body>) -> (StatusCode, Vec<u8>) {
        let mut app = self.app.clone();
        let response = self.runtime.block_on(async move {
            let ready = app.ready().await.unwrap_or_else(|never| match never {});
            ready
                .call(request)
                .await
                .unwrap_or_else(|never| match never {})
        });
        self.read(response)
    }

    /// Sends `request` through gateway number `policy % 3` (sticky, hash,
    /// round-robin) to the app; its status and body, after checking both.
    pub fn gateway(&self, policy: u8, request: Request<Body>) -> (StatusCode, Vec<u8>) {
        let gateway = &self.gateways[usize::from(policy) % self.gateways.len()];
        let peer = SocketAddr::from(([127, 0, 0, 1], 50_000));
        let response = self.runtime.block_on(gateway.handle(peer, request));
        self.read(response)
    }

    fn read(&self, response: Response<Body>) -> (StatusCode, Vec<u8>) {
        let status = response.status();
        let body = self
            .runtime
            .block_on(response.into_body().collect())
            .map(|c| c.to_bytes().to_vec())
            .unwrap_or_default();
        check(status, &body);
        (status, body)
    }
}

/// No 500, and every error in the API's shape.
pub fn check(status: StatusCode, body: &[u8]) {
    assert_ne!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "a 500: {}",
        String::from_utf8_lossy(body)
    );
    if status.is_client_error() || status.is_server_error() {
        let error: serde_json::Value = serde_json::from_slice(body)
            .unwrap_or_else(|_| panic!("{status} without a JSON body: {body:?}"));
        assert!(
            error["error"].is_string() && error["code"].is_string(),
            "{status} not in the error shape: {error}"
        );
    }
}
