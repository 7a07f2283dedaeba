//! The web UI: static pages and scripts embedded in the binary (no build
//! step, no CDN), and the latest lab results read from disk for the lab page.

use std::sync::LazyLock;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// Scripts and styles only from this origin, no inline code, no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
/// The lab's report: its own inline styles and SVG, nothing else.
const REPORT_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'";

/// The embedded files under `/assets/`: name, content type, content.
const ASSETS: [(&str, &str, &str); 6] = [
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../web/style.css"),
    ),
    (
        "common.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/common.js"),
    ),
    (
        "counter.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/counter.js"),
    ),
    (
        "shop.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/shop.js"),
    ),
    (
        "cluster.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/cluster.js"),
    ),
    (
        "lab.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/lab.js"),
    ),
];

/// The frame every page shares (head, stylesheet, navigation), with
/// `{title}` and `{main}` to fill.
const LAYOUT: &str = include_str!("../web/layout.html");

/// A page: the layout around its `<main>` and scripts.
fn compose(title: &str, main: &str) -> String {
    LAYOUT.replace("{title}", title).replace("{main}", main)
}

// The pages, each composed once.
static COUNTER: LazyLock<String> =
    LazyLock::new(|| compose("counter", include_str!("../web/counter.html")));
static SHOP: LazyLock<String> = LazyLock::new(|| compose("shop", include_str!("../web/shop.html")));
static CLUSTER: LazyLock<String> =
    LazyLock::new(|| compose("cluster", include_str!("../web/cluster.html")));
static LAB: LazyLock<String> = LazyLock::new(|| compose("lab", include_str!("../web/lab.html")));

fn page(html: &'static LazyLock<String>) -> Response {
    let html = html.as_str();
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        html,
    )
        .into_response()
}

/// The counter page.
#[utoipa::path(
    get, path = "/", tag = "web",
    responses((status = 200, content_type = "text/html", body = String))
)]
pub(crate) async fn index() -> Response {
    page(&COUNTER)
}

/// The shop page: catalog, cart, login, checkout, orders.
#[utoipa::path(
    get, path = "/shop", tag = "web",
    responses((status = 200, content_type = "text/html", body = String))
)]
pub(crate) async fn shop() -> Response {
    page(&SHOP)
}

/// The cluster page: instances, kill and restart, a demo user.
#[utoipa::path(
    get, path = "/cluster", tag = "web",
    responses((status = 200, content_type = "text/html", body = String))
)]
pub(crate) async fn cluster() -> Response {
    page(&CLUSTER)
}

/// The lab page: the latest lab results.
#[utoipa::path(
    get, path = "/lab", tag = "web",
    responses((status = 200, content_type = "text/html", body = String))
)]
pub(crate) async fn lab() -> Response {
    page(&LAB)
}

/// A page's script or the stylesheet.
#[utoipa::path(
    get, path = "/assets/{name}", tag = "web",
    params(("name" = String, Path, description = "e.g. shop.js")),
    responses(
        (status = 200, content_type = "text/javascript", body = String),
        (status = 404, description = "NOT_FOUND", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn asset(Path(name): Path<String>) -> Result<Response, ApiError> {
    let (_, kind, body) = ASSETS
        .iter()
        .find(|(file, _, _)| *file == name)
        .ok_or_else(|| ApiError::NotFound("No such asset".to_owned()))?;
    Ok((
        [
            (header::CONTENT_TYPE, *kind),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        *body,
    )
        .into_response())
}

/// One file of the lab's output, read when asked (a new run shows at once).
async fn lab_file(state: &AppState, file: &'static str) -> Result<Vec<u8>, ApiError> {
    let missing = || ApiError::NotFound("No lab results yet: run statecraft lab".to_owned());
    let dir = state.config.lab_results.clone().ok_or_else(missing)?;
    // The names are fixed here: nothing of the request reaches the path.
    tokio::task::spawn_blocking(move || std::fs::read(dir.join(file)))
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(missing)
}

/// The latest lab run's `results.json` (schema in docs/lab.md).
#[utoipa::path(
    get, path = "/lab/results.json", tag = "web",
    responses(
        (status = 200, content_type = "application/json", body = Object),
        (status = 404, description = "NOT_FOUND: no lab run yet", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn lab_results(State(state): State<AppState>) -> Result<Response, ApiError> {
    let body = lab_file(&state, "results.json").await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The latest lab run's report with its charts.
#[utoipa::path(
    get, path = "/lab/report.html", tag = "web",
    responses(
        (status = 200, content_type = "text/html", body = String),
        (status = 404, description = "NOT_FOUND: no lab run yet", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn lab_report(State(state): State<AppState>) -> Result<Response, ApiError> {
    let body = lab_file(&state, "report.html").await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, REPORT_CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response())
}
