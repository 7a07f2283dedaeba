//! The gateway's own answers, in API.md's error shape
//! (`{"error": …, "code": …}`), so a client cannot tell the gateway's errors
//! from an instance's by their form.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Every error the gateway itself answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayError {
    /// 502 `UPSTREAM_FAILED`: the instance could not be reached or broke the
    /// exchange.
    UpstreamFailed(String),
    /// 504 `UPSTREAM_TIMEOUT`: the instance did not answer in time.
    UpstreamTimeout(String),
    /// 503 `NO_HEALTHY_UPSTREAM`: no instance can take the request.
    NoHealthyUpstream,
    /// 503 `SESSION_LOST` (strict affinity): the client's instance is down.
    SessionLost(String),
    /// 404 `NOT_FOUND`: a cluster route or instance that does not exist.
    NotFound(String),
    /// 405 `METHOD_NOT_ALLOWED`: a cluster route with another method.
    MethodNotAllowed,
    /// 403 `FORBIDDEN`: a cluster control call without the admin token.
    Forbidden(&'static str),
    /// 400 `INVALID_REQUEST`: a request the gateway cannot forward.
    InvalidRequest(&'static str),
    /// 413 `PAYLOAD_TOO_LARGE`: a body over one of the gateway's own
    /// routes' limits.
    PayloadTooLarge(&'static str),
    /// 408 `REQUEST_TIMEOUT` (added): the client did not send its whole
    /// body before the request's deadline.
    RequestTimeout,
    /// 409 `CONTROL_FAILED` (added): an instance could not be stopped or started.
    ControlFailed(String),
    /// 401 `TOKEN_INVALID`: a bearer token on a service route that does not verify.
    TokenInvalid,
    /// 401 `TOKEN_EXPIRED`.
    TokenExpired,
    /// 503 `KEYS_UNAVAILABLE` (added): a token on a service route cannot be
    /// checked because the users service's keys cannot be fetched.
    KeysUnavailable,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance: Option<&'a str>,
}

impl GatewayError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::UpstreamFailed(_) => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::NoHealthyUpstream | Self::SessionLost(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::ControlFailed(_) => StatusCode::CONFLICT,
            Self::TokenInvalid | Self::TokenExpired => StatusCode::UNAUTHORIZED,
            Self::KeysUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UpstreamFailed(_) => "UPSTREAM_FAILED",
            Self::UpstreamTimeout(_) => "UPSTREAM_TIMEOUT",
            Self::NoHealthyUpstream => "NO_HEALTHY_UPSTREAM",
            Self::SessionLost(_) => "SESSION_LOST",
            Self::NotFound(_) => "NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::InvalidRequest(_) => "INVALID_REQUEST",
            Self::PayloadTooLarge(_) => "PAYLOAD_TOO_LARGE",
            Self::RequestTimeout => "REQUEST_TIMEOUT",
            Self::ControlFailed(_) => "CONTROL_FAILED",
            Self::TokenInvalid => "TOKEN_INVALID",
            Self::TokenExpired => "TOKEN_EXPIRED",
            Self::KeysUnavailable => "KEYS_UNAVAILABLE",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::UpstreamFailed(id) => format!("Instance {id} failed to answer"),
            Self::UpstreamTimeout(id) => format!("Instance {id} did not answer in time"),
            Self::NoHealthyUpstream => "No healthy instance can take the request".to_owned(),
            Self::SessionLost(id) => {
                format!("Session lost: instance {id}, which held it, is down")
            }
            Self::NotFound(what) | Self::ControlFailed(what) => what.clone(),
            Self::Forbidden(why) | Self::InvalidRequest(why) | Self::PayloadTooLarge(why) => {
                (*why).to_owned()
            }
            Self::MethodNotAllowed => "Method not allowed on this route".to_owned(),
            Self::RequestTimeout => {
                "The request body did not arrive in time: send it whole, without pauses".to_owned()
            }
            Self::TokenInvalid => "The token is invalid".to_owned(),
            Self::TokenExpired => "The token has expired".to_owned(),
            Self::KeysUnavailable => "The keys that verify tokens cannot be fetched".to_owned(),
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let message = self.message();
        let instance = match &self {
            Self::SessionLost(id) | Self::UpstreamFailed(id) | Self::UpstreamTimeout(id) => {
                Some(id.as_str())
            }
            _ => None,
        };
        let body = ErrorBody {
            error: &message,
            code: self.code(),
            instance,
        };
        let mut response = (self.status(), Json(body)).into_response();
        let challenge = match self {
            Self::TokenInvalid => Some(r#"Bearer error="invalid_token""#),
            Self::TokenExpired => {
                Some(r#"Bearer error="invalid_token", error_description="expired""#)
            }
            _ => None,
        };
        if let Some(challenge) = challenge {
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

/// A request body axum took whole, or the gateway's answer for one it could
/// not (axum's own is plain text): 413 with `too_large`, else 400.
///
/// # Errors
/// The body was over the route's limit, or could not be read.
pub(crate) fn whole_body(
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
    too_large: &'static str,
) -> Result<axum::body::Bytes, GatewayError> {
    match body {
        Ok(body) => Ok(body),
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(GatewayError::PayloadTooLarge(too_large))
        }
        Err(_) => Err(GatewayError::InvalidRequest(
            "The request body could not be read whole",
        )),
    }
}

impl From<statecraft_http::Refused> for GatewayError {
    fn from(refused: statecraft_http::Refused) -> Self {
        Self::Forbidden(refused.0)
    }
}
