//! The counter web page: static HTML and a small script, embedded in the binary.

use axum::http::header;
use axum::response::{IntoResponse, Response};

const INDEX_HTML: &str = include_str!("../web/index.html");
const COUNTER_JS: &str = include_str!("../web/counter.js");
/// Scripts only from this origin, no inline code, no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The counter page.
#[utoipa::path(
    get, path = "/", tag = "web",
    responses((status = 200, content_type = "text/html", body = String))
)]
pub(crate) async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        INDEX_HTML,
    )
        .into_response()
}

/// The counter page's script.
#[utoipa::path(
    get, path = "/assets/counter.js", tag = "web",
    responses((status = 200, content_type = "text/javascript", body = String))
)]
pub(crate) async fn counter_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        COUNTER_JS,
    )
        .into_response()
}
