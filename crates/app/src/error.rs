//! The API-wide error: every failure answers `{"error": …, "code": …}` with the
//! status and code of API.md. `into_response` has no side effects: a 5xx cause
//! travels in a response extension and the observing middleware logs it.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use statecraft_state::{RuleViolation, StoreError, StoreKind};

use crate::cookies::CookiePolicy;
use crate::source::{StateSource, X_STATE_SOURCE};

/// Every error an endpoint can answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// 400 `INVALID_REQUEST`: malformed or out-of-range input; names the field.
    InvalidRequest {
        /// A sentence for a person.
        message: String,
        /// The offending field, when known.
        field: Option<String>,
    },
    /// 400 `TAMPERED_STATE`: a state token failed verification or disagrees.
    TamperedState(&'static str),
    /// 401 `SESSION_MISSING` / `SESSION_LOST`: the cookie's session is not here.
    SessionMissing {
        /// The gateway re-routed this client away from a dead instance.
        lost: bool,
        /// The store that was asked.
        store: StoreKind,
        /// How to clear the stale cookie.
        cookies: CookiePolicy,
    },
    /// 401 `UNAUTHENTICATED`: the endpoint needs a user and none was presented.
    Unauthenticated,
    /// 401 `INVALID_CREDENTIALS`: wrong user or password (one message for both).
    InvalidCredentials,
    /// 401 `TOKEN_INVALID`, `TOKEN_EXPIRED` or `TOKEN_REVOKED`.
    Token(TokenProblem),
    /// 400 `CART_EMPTY`: checkout started or confirmed with an empty cart.
    CartEmpty,
    /// 400 `INSUFFICIENT_CONTEXT`: a stateless request lacks parts the server
    /// does not hold (`missing` names them).
    InsufficientContext(Vec<&'static str>),
    /// 402 `PAYMENT_DECLINED`.
    PaymentDeclined,
    /// 403 `FORBIDDEN`.
    Forbidden(&'static str),
    /// 409 `CHECKOUT_STEP_INVALID`: `expected` must come first.
    StepInvalid(&'static str),
    /// 409 `IDEMPOTENCY_CONFLICT`: the key was used with another body.
    IdempotencyConflict,
    /// 404 `NOT_FOUND`.
    NotFound(String),
    /// 405 `METHOD_NOT_ALLOWED` (added): the route exists, not with this method.
    MethodNotAllowed,
    /// 409 `LIMIT_REACHED` (added): a store capacity or value limit was reached.
    LimitReached(&'static str),
    /// 409 `USER_EXISTS` (added): `POST /users` with a taken user name.
    UserExists(String),
    /// 429 `RATE_LIMITED`: too many failed logins; retry after this many seconds.
    RateLimited(u64),
    /// 413 `PAYLOAD_TOO_LARGE`.
    PayloadTooLarge(usize),
    /// 503 `REVOCATION_UNCONFIRMED` (added): revoked on this instance, but
    /// the cluster did not confirm that every other instance has it.
    RevocationUnconfirmed,
    /// 503 `REVOCATIONS_PENDING` (added): this instance, just started, has
    /// not yet taken the cluster's revocations.
    RevocationsPending,
    /// 408 `REQUEST_TIMEOUT` (added): the body did not arrive within the
    /// body timeout.
    BodyTimeout,
    /// 415 `UNSUPPORTED_MEDIA_TYPE`.
    UnsupportedMediaType,
    /// 503 `STORE_UNAVAILABLE`: the store did not answer; why (logged with
    /// the request, never sent).
    StoreUnavailable(StoreKind, String),
    /// 503 `STORE_UNAVAILABLE`: a service's database (or the service) cannot
    /// answer; why (logged with the request, never sent).
    ServiceUnavailable(&'static str, String),
    /// 500 `INTERNAL_ERROR` (added): the cause is logged, never sent.
    Internal(String),
    /// A remote service's error answer, relayed as it came (its status, code
    /// and message are the service's own, in the same shape).
    Relayed {
        /// The service's status.
        status: StatusCode,
        /// The service's JSON body.
        body: axum::body::Bytes,
    },
}

/// Which of the token codes a 401 carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    /// `TOKEN_INVALID`: signature, claims or shape.
    Invalid,
    /// `TOKEN_EXPIRED`: past `exp`.
    Expired,
    /// `TOKEN_REVOKED`: logged out, or its refresh family was revoked.
    Revoked,
}

/// A 5xx cause for the log, attached to the response by `into_response`.
#[derive(Debug, Clone)]
pub(crate) struct ErrorCause(pub(crate) String);

/// The shape of every error: what answers serialize and what OpenAPI
/// documents, one type for both.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody<'a> {
    /// A sentence for a person.
    error: &'a str,
    /// A stable machine code, e.g. `SESSION_MISSING`.
    code: &'static str,
    /// The offending field, for some `INVALID_REQUEST` answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    /// The step a `STEP_INVALID` answer expected.
    #[serde(skip_serializing_if = "Option::is_none")]
    expected: Option<&'static str>,
    /// What an `INSUFFICIENT_CONTEXT` answer lacks (`cart`, `shipping`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    missing: Option<&'a [&'static str]>,
}

/// `err` and the errors under it, `outer: inner: innermost`, for the log: the
/// whole chain of a cause, each part once (an error that prints its source
/// itself is not repeated).
pub(crate) fn cause_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(err) = cause {
        let part = err.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = err.source();
    }
    text
}

impl ApiError {
    /// 400 `INVALID_REQUEST` naming `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::InvalidRequest {
            message: message.into(),
            field: Some(field.to_owned()),
        }
    }

    /// `503 STORE_UNAVAILABLE` naming `service`, keeping `cause` for the log.
    pub(crate) fn service_down(service: &'static str, cause: impl std::fmt::Display) -> Self {
        Self::ServiceUnavailable(service, cause.to_string())
    }

    /// [`ApiError::service_down`] for `map_err`: the failure is the cause.
    pub(crate) fn unavailable<E: std::fmt::Display>(
        service: &'static str,
    ) -> impl FnOnce(E) -> Self {
        move |err| Self::service_down(service, err)
    }

    /// The mapping of failures of the store of `kind`, for `map_err`.
    pub(crate) fn store(kind: StoreKind) -> impl FnOnce(StoreError) -> Self {
        move |err| Self::from_store(kind, err)
    }

    /// Maps a store failure; a missing store is a 503, never a hang or a 500 body.
    pub(crate) fn from_store(kind: StoreKind, err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(why) => Self::StoreUnavailable(kind, why),
            StoreError::LimitReached(what) => Self::LimitReached(what),
            StoreError::Conflict | StoreError::Corrupt(_) | StoreError::Misconfigured(_) => {
                Self::Internal(err.to_string())
            }
            StoreError::Unsupported(what) => {
                Self::NotFound(format!("This instance's store does no {what}"))
            }
        }
    }

    /// Maps a business rule that refused a change.
    pub(crate) fn from_rule(violation: RuleViolation) -> Self {
        match violation {
            RuleViolation::NotInCart(_) => Self::NotFound(violation.to_string()),
            RuleViolation::CounterLimit => Self::LimitReached("The counter cannot go above 2^53-1"),
            RuleViolation::CartFull => Self::invalid("productId", violation.to_string()),
            RuleViolation::QuantityLimit => Self::invalid("quantity", violation.to_string()),
            RuleViolation::CartEmpty => Self::CartEmpty,
            RuleViolation::StepInvalid { expected } => Self::StepInvalid(expected.as_str()),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest { .. }
            | Self::TamperedState(_)
            | Self::CartEmpty
            | Self::InsufficientContext(_) => StatusCode::BAD_REQUEST,
            Self::PaymentDeclined => StatusCode::PAYMENT_REQUIRED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::StepInvalid(_) | Self::IdempotencyConflict => StatusCode::CONFLICT,
            Self::SessionMissing { .. }
            | Self::Unauthenticated
            | Self::InvalidCredentials
            | Self::Token(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::LimitReached(_) | Self::UserExists(_) => StatusCode::CONFLICT,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::RevocationUnconfirmed | Self::RevocationsPending => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::StoreUnavailable(..) | Self::ServiceUnavailable(..) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Relayed { status, .. } => *status,
        }
    }

    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest { .. } => "INVALID_REQUEST",
            Self::TamperedState(_) => "TAMPERED_STATE",
            Self::SessionMissing { lost: false, .. } => "SESSION_MISSING",
            Self::SessionMissing { lost: true, .. } => "SESSION_LOST",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::Token(TokenProblem::Invalid) => "TOKEN_INVALID",
            Self::Token(TokenProblem::Expired) => "TOKEN_EXPIRED",
            Self::Token(TokenProblem::Revoked) => "TOKEN_REVOKED",
            Self::CartEmpty => "CART_EMPTY",
            Self::InsufficientContext(_) => "INSUFFICIENT_CONTEXT",
            Self::PaymentDeclined => "PAYMENT_DECLINED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::StepInvalid(_) => "CHECKOUT_STEP_INVALID",
            Self::IdempotencyConflict => "IDEMPOTENCY_CONFLICT",
            Self::NotFound(_) => "NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::LimitReached(_) => "LIMIT_REACHED",
            Self::UserExists(_) => "USER_EXISTS",
            Self::RateLimited(_) => "RATE_LIMITED",
            Self::PayloadTooLarge(_) => "PAYLOAD_TOO_LARGE",
            Self::BodyTimeout => "REQUEST_TIMEOUT",
            Self::RevocationUnconfirmed => "REVOCATION_UNCONFIRMED",
            Self::RevocationsPending => "REVOCATIONS_PENDING",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::StoreUnavailable(..) | Self::ServiceUnavailable(..) => "STORE_UNAVAILABLE",
            Self::Internal(_) => "INTERNAL_ERROR",
            Self::Relayed { .. } => "RELAYED",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::InvalidRequest { message, .. } => message.clone(),
            Self::TamperedState(why) => (*why).to_owned(),
            Self::SessionMissing { lost: false, .. } => "Session not found".to_owned(),
            Self::SessionMissing { lost: true, .. } => {
                "Session lost: the instance that held it is gone".to_owned()
            }
            Self::Unauthenticated => "Log in or send a bearer token".to_owned(),
            Self::InvalidCredentials => "Invalid user or password".to_owned(),
            Self::Token(TokenProblem::Invalid) => "The token is invalid".to_owned(),
            Self::Token(TokenProblem::Expired) => "The token has expired".to_owned(),
            Self::Token(TokenProblem::Revoked) => "The token has been revoked".to_owned(),
            Self::CartEmpty => "The cart is empty".to_owned(),
            Self::InsufficientContext(missing) => {
                let parts: Vec<_> = missing
                    .iter()
                    .map(|m| match *m {
                        "paymentToken" => "payment",
                        other => other,
                    })
                    .collect();
                format!("Missing {} information", parts.join(" and "))
            }
            Self::PaymentDeclined => "The payment was declined".to_owned(),
            Self::Forbidden(why) => (*why).to_owned(),
            Self::StepInvalid(expected) => {
                format!("Checkout step out of order: {expected} comes first")
            }
            Self::IdempotencyConflict => {
                "This Idempotency-Key was already used with another request".to_owned()
            }
            Self::NotFound(what) => what.clone(),
            Self::MethodNotAllowed => "Method not allowed on this route".to_owned(),
            Self::LimitReached(what) => (*what).to_owned(),
            Self::UserExists(name) => format!("User {name} already exists"),
            Self::RateLimited(secs) => {
                format!(
                    "Too many failed attempts (logins, or registrations of taken names); \
                     try again in {secs} s"
                )
            }
            Self::PayloadTooLarge(limit) => format!("Request body exceeds {limit} bytes"),
            Self::RevocationUnconfirmed => "Revoked on this instance, but its cluster's gateway \
                did not confirm it for the others: check the gateway's log"
                .to_owned(),
            Self::RevocationsPending => "This instance has just started and is taking the \
                cluster's logouts: try again in a moment"
                .to_owned(),
            Self::BodyTimeout => format!(
                "The request body did not arrive within {} s: send it whole, without pauses",
                statecraft_http::body_timeout().as_secs()
            ),
            Self::UnsupportedMediaType => "Expected Content-Type: application/json".to_owned(),
            Self::StoreUnavailable(kind, _) => {
                format!("The {} store is unavailable", kind.as_str())
            }
            Self::ServiceUnavailable(service, _) => {
                format!("The {service} service is unavailable")
            }
            Self::Internal(_) | Self::Relayed { .. } => "Internal server error".to_owned(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Relayed { status, body } = self {
            let json = HeaderValue::from_static("application/json");
            let mut response = (status, [(header::CONTENT_TYPE, json)], body).into_response();
            if status.is_server_error() {
                // The service logged its own cause under its request ID.
                let cause = format!("a remote service answered {status}");
                response.extensions_mut().insert(ErrorCause(cause));
            }
            return response;
        }
        let message = self.message();
        let field = match &self {
            Self::InvalidRequest { field, .. } => field.as_deref(),
            _ => None,
        };
        let body = ErrorBody {
            error: &message,
            code: self.code(),
            field,
            expected: match &self {
                Self::StepInvalid(expected) => Some(expected),
                _ => None,
            },
            missing: match &self {
                Self::InsufficientContext(missing) => Some(missing),
                _ => None,
            },
        };
        let mut response = (self.status(), Json(body)).into_response();
        match &self {
            Self::SessionMissing { store, cookies, .. } => {
                if let Ok(clear) = HeaderValue::from_str(&cookies.clear()) {
                    response.headers_mut().append(header::SET_COOKIE, clear);
                }
                response
                    .headers_mut()
                    .insert(X_STATE_SOURCE, StateSource::Store(*store).header());
            }
            Self::StoreUnavailable(store, cause) => {
                response
                    .headers_mut()
                    .insert(X_STATE_SOURCE, StateSource::Store(*store).header());
                response
                    .extensions_mut()
                    .insert(ErrorCause(format!("{} store: {cause}", store.as_str())));
            }
            Self::ServiceUnavailable(service, cause) => {
                response
                    .extensions_mut()
                    .insert(ErrorCause(format!("{service} service: {cause}")));
            }
            Self::Internal(cause) => {
                response.extensions_mut().insert(ErrorCause(cause.clone()));
            }
            Self::RevocationUnconfirmed => {
                let cause = "the cluster did not confirm that every instance holds the revocation";
                response
                    .extensions_mut()
                    .insert(ErrorCause(cause.to_owned()));
            }
            Self::RevocationsPending => {
                let cause = "this instance has not yet taken the cluster's revocations";
                response
                    .extensions_mut()
                    .insert(ErrorCause(cause.to_owned()));
            }
            Self::RateLimited(secs) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*secs));
            }
            Self::Token(problem) => {
                // RFC 6750: the client learns the token, not its session, failed.
                let value = match problem {
                    TokenProblem::Expired => {
                        r#"Bearer error="invalid_token", error_description="expired""#
                    }
                    _ => r#"Bearer error="invalid_token""#,
                };
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(value));
            }
            Self::Unauthenticated => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

impl From<statecraft_auth::TokenError> for ApiError {
    /// A token that does not verify: the one mapping of the verifier's
    /// answer, for every route that checks a bearer token.
    fn from(err: statecraft_auth::TokenError) -> Self {
        match err {
            statecraft_auth::TokenError::Expired => Self::Token(TokenProblem::Expired),
            statecraft_auth::TokenError::Invalid => Self::Token(TokenProblem::Invalid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_5xx_carries_its_cause_for_the_log() {
        let all = [
            ApiError::StoreUnavailable(StoreKind::Redis, "connection refused".into()),
            ApiError::ServiceUnavailable("orders", "connection refused".into()),
            ApiError::Internal("a bug".into()),
            ApiError::RevocationUnconfirmed,
            ApiError::RevocationsPending,
            ApiError::Relayed {
                status: StatusCode::SERVICE_UNAVAILABLE,
                body: axum::body::Bytes::from_static(b"{}"),
            },
        ];
        for err in all {
            let response = err.clone().into_response();
            assert!(response.status().is_server_error(), "{err:?}");
            assert!(
                response.extensions().get::<ErrorCause>().is_some(),
                "{err:?} has no cause for the log"
            );
        }
    }

    #[test]
    fn internal_errors_never_send_their_cause() {
        let response = ApiError::Internal("SELECT * FROM secrets failed".into()).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.extensions().get::<ErrorCause>().is_some());
    }

    #[test]
    fn rule_violations_map_to_the_documented_codes() {
        assert_eq!(
            ApiError::from_rule(RuleViolation::CartFull).code(),
            "INVALID_REQUEST"
        );
        assert_eq!(
            ApiError::from_rule(RuleViolation::QuantityLimit).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            ApiError::from_store(StoreKind::Redis, StoreError::Unavailable("x".into())).code(),
            "STORE_UNAVAILABLE"
        );
    }
}
