//! `X-State-Source`: where the state an answer used came from.

use std::convert::Infallible;

use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponseParts, ResponseParts};
use statecraft_state::StoreKind;

/// `X-State-Source`: where the state an answer used came from.
pub(crate) const X_STATE_SOURCE: HeaderName = HeaderName::from_static("x-state-source");

/// Where the state an answer used came from; sent as `X-State-Source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateSource {
    /// No state was used.
    None,
    /// State the client sent (a signed token or a plain value).
    Client,
    /// A store of the server.
    Store(StoreKind),
}

impl StateSource {
    pub(crate) fn header(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::None => "none",
            Self::Client => "client",
            Self::Store(kind) => kind.as_str(),
        })
    }
}

impl IntoResponseParts for StateSource {
    type Error = Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        res.headers_mut().insert(X_STATE_SOURCE, self.header());
        Ok(res)
    }
}
