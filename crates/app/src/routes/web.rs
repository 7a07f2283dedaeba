//! The web UI: static pages and scripts embedded in the binary (no build
//! step, no CDN). The lab page's data (`/lab/runs…`) is the lab's own
//! routes, added beside these by the command that serves them.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Scripts and styles only from this origin, no inline code, no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The embedded files under `/assets/`: name, content type, content.
const ASSETS: [(&str, &str, &str); 7] = [
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
        "lab-results.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/lab-results.js"),
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

/// The lab page: start a run, watch it, compare runs.
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
