//! The lab routes' answers other than success, in the API's one error
//! shape: `{"error", "code"}` (and `runningId` for a run in progress).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{MAX_READERS, MAX_SPEC_BYTES};

/// An answer other than success.
#[derive(Debug)]
pub(super) enum LiveError {
    Invalid(String),
    Forbidden(&'static str),
    NotFound(String),
    Busy(String),
    NotEnded(String),
    TooManyReaders,
    MethodNotAllowed,
    TooLarge,
    NotJson,
    Internal(String),
}

impl IntoResponse for LiveError {
    fn into_response(self) -> Response {
        let (status, code, error, running) = match self {
            Self::Invalid(why) => (StatusCode::BAD_REQUEST, "INVALID_REQUEST", why, None),
            Self::Forbidden(why) => (StatusCode::FORBIDDEN, "FORBIDDEN", why.to_owned(), None),
            Self::NotFound(why) => (StatusCode::NOT_FOUND, "NOT_FOUND", why, None),
            Self::Busy(id) => (
                StatusCode::CONFLICT,
                "RUN_IN_PROGRESS",
                format!(
                    "Run {id} is going on: one run at a time (cancel it with DELETE /lab/runs/{id}, or wait)"
                ),
                Some(id),
            ),
            Self::NotEnded(id) => (
                StatusCode::CONFLICT,
                "RUN_NOT_ENDED",
                format!(
                    "Run {id} has neither results nor an end on record: it may still be running from a terminal. Delete its directory by hand once it has stopped"
                ),
                None,
            ),
            Self::TooManyReaders => (
                StatusCode::SERVICE_UNAVAILABLE,
                "TOO_MANY_READERS",
                format!(
                    "At most {MAX_READERS} pages follow a run at once: close one, or read the run's results when it ends"
                ),
                None,
            ),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "Method not allowed on this route (API.md lists the lab's)".to_owned(),
                None,
            ),
            Self::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!("A run's spec is at most {} KiB", MAX_SPEC_BYTES / 1024),
                None,
            ),
            Self::NotJson => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "Send the spec as Content-Type: application/json".to_owned(),
                None,
            ),
            Self::Internal(why) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR",
                why,
                None,
            ),
        };
        let mut body = json!({"error": error, "code": code});
        if let Some(id) = running {
            body["runningId"] = json!(id);
        }
        (status, Json(body)).into_response()
    }
}
