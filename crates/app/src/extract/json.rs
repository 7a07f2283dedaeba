//! JSON bodies: content type checked, size limited, errors naming the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// Longest parser message quoted in an error, in bytes.
const MAX_DETAIL: usize = 200;

/// A required JSON body of type `T`.
#[derive(Debug)]
pub(crate) struct AppJson<T>(pub(crate) T);

/// An optional JSON body: an empty body (with any or no content type) is `None`,
/// as the seed's bare `POST /increment` sends.
#[derive(Debug)]
pub(crate) struct OptionalJson<T>(pub(crate) Option<T>);

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype.len() > 5 && subtype[subtype.len() - 5..].eq_ignore_ascii_case("+json"))
}

/// A state that knows the largest request body it accepts.
pub(crate) trait BodyLimit: Send + Sync {
    /// Bytes.
    fn body_limit(&self) -> usize;
}

impl BodyLimit for AppState {
    fn body_limit(&self) -> usize {
        self.config.body_limit
    }
}

async fn body_bytes<S: BodyLimit>(req: Request, state: &S) -> Result<(HeaderMap, Bytes), ApiError> {
    let limit = state.body_limit();
    let (parts, body) = req.into_parts();
    // A declared length over the limit is refused before reading anything.
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    // The seed's bare `POST /increment` has no body: nothing to collect.
    if http_body::Body::is_end_stream(&body) {
        return Ok((parts.headers, Bytes::new()));
    }
    let collected = Limited::new(body, limit).collect().await.map_err(|err| {
        if err.downcast_ref::<LengthLimitError>().is_some() {
            ApiError::PayloadTooLarge(limit)
        } else if statecraft_http::is_body_timeout(err.as_ref()) {
            ApiError::BodyTimeout
        } else {
            ApiError::InvalidRequest {
                message: "Request body could not be read".to_owned(),
                field: None,
            }
        }
    })?;
    Ok((parts.headers, collected.to_bytes()))
}

/// Parses `bytes` as `T`; the error names the field that broke. Every body of
/// the API is a JSON object: serde would also take a struct written as an
/// array (`[null, null]`), which the contract does not allow.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::InvalidRequest {
            message: "The JSON body must be an object".to_owned(),
            field: None,
        });
    }
    // The fast path parses once; only a failure pays for tracking the path.
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        invalid(Some(path), &err.into_inner())
    })?;
    // Trailing bytes after the value are an error too.
    de.end().map_err(|err| invalid(None, &err))?;
    Ok(value)
}

fn invalid(path: Option<String>, err: &serde_json::Error) -> ApiError {
    // serde_json's messages quote the input; keep them short and name the field.
    let mut detail = err.to_string();
    if let Some(cut) = (0..=MAX_DETAIL.min(detail.len()))
        .rev()
        .find(|&i| detail.is_char_boundary(i))
    {
        detail.truncate(cut);
    }
    match path.filter(|p| p != "." && !p.is_empty()) {
        Some(path) => ApiError::InvalidRequest {
            message: format!("Invalid field `{path}`: {detail}"),
            field: Some(path),
        },
        None => ApiError::InvalidRequest {
            message: format!("Invalid JSON body: {detail}"),
            field: None,
        },
    }
}

impl<T: DeserializeOwned, S: BodyLimit> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (headers, bytes) = body_bytes(req, state).await?;
        if bytes.is_empty() {
            return Err(ApiError::InvalidRequest {
                message: "A JSON body is required".to_owned(),
                field: None,
            });
        }
        if !is_json(&headers) {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse(&bytes).map(Self)
    }
}

impl<T: DeserializeOwned, S: BodyLimit> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (headers, bytes) = body_bytes(req, state).await?;
        // An optional body may be absent, or sent as JSON `null`.
        if bytes.is_empty() || bytes.trim_ascii() == b"null" {
            return Ok(Self(None));
        }
        if !is_json(&headers) {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse(&bytes).map(|v| Self(Some(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Item {
        product_id: String,
        quantity: u16,
    }

    #[test]
    fn json_content_types_are_recognised() {
        for (ct, ok) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("Application/JSON", true),
            ("application/problem+json", true),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
            ("json", false),
        ] {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            assert_eq!(is_json(&h), ok, "{ct}");
        }
        assert!(!is_json(&HeaderMap::new()));
    }

    #[test]
    fn errors_name_the_field() {
        let err = parse::<Item>(br#"{"productId":"a","quantity":"x"}"#).unwrap_err();
        assert!(
            matches!(err, ApiError::InvalidRequest { field: Some(ref f), .. } if f == "quantity"),
            "{err:?}"
        );
        let err = parse::<Item>(br#"{"productId":"a","quantity":1,"extra":1}"#).unwrap_err();
        assert!(matches!(err, ApiError::InvalidRequest { .. }));
        assert!(parse::<Item>(b"\xff\xfe").is_err());
        // A struct written as an array, or null, is no object.
        assert!(parse::<Item>(br#"["a", 1]"#).is_err());
        assert!(parse::<Item>(b" null").is_err());
        assert!(parse::<Item>(br#"{"productId":"a","quantity":1} trailing"#).is_err());
        assert!(parse::<Item>(br#"{"productId":"a","quantity":1e400}"#).is_err());
    }
}
