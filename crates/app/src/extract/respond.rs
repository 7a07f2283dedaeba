//! JSON answers, serialized once into a buffer sized for typical bodies.

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;

use crate::error::ApiError;

/// Room for a typical answer (a cart of a few lines), so that serializing does
/// not grow the buffer step by step.
const TYPICAL_BODY: usize = 256;

/// A `200 OK` JSON answer.
#[derive(Debug)]
pub(crate) struct JsonOk<T>(pub(crate) T);

impl<T: Serialize> IntoResponse for JsonOk<T> {
    fn into_response(self) -> axum::response::Response {
        let mut buf = Vec::with_capacity(TYPICAL_BODY);
        if let Err(err) = serde_json::to_writer(&mut buf, &self.0) {
            return ApiError::Internal(format!("serializing an answer failed: {err}"))
                .into_response();
        }
        let mut response = Response::new(Body::from(buf));
        *response.status_mut() = StatusCode::OK;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}
