//! The session cookie: reading it, issuing it, clearing it, and the
//! load-or-create steps every stateful endpoint shares.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponseParts, ResponseParts};
use statecraft_state::{Mutation, SessionData, SessionId, SessionSecret, Update};

use crate::cookies::COOKIE_NAME;
use crate::error::ApiError;
use crate::source::StateSource;
use crate::state::AppState;

/// Set by the gateway when it re-routed a pinned client away from a dead instance.
const AFFINITY_LOST: HeaderName = HeaderName::from_static("x-affinity-lost");

/// What the request's `session_id` cookie says.
#[derive(Debug)]
pub(crate) enum SessionCookie {
    /// No session cookie: reads answer empty state, writes create a session.
    Absent,
    /// A cookie that is not a well-formed secret: treated as an unknown session.
    Malformed,
    /// A well-formed secret (its session may still be unknown here).
    Present(SessionSecret),
}

/// The request's session credentials, as the handlers need them.
#[derive(Debug)]
pub(crate) struct SessionRequest {
    pub(crate) cookie: SessionCookie,
    /// The gateway marked this request as re-routed after its instance died.
    pub(crate) affinity_lost: bool,
}

/// Finds `session_id` among the request's cookies. A plain scan of the header
/// bytes rather than a cookie parser: only one name matters, its value has a
/// fixed alphabet (anything else is refused), and this runs on every request.
fn read_cookie(headers: &HeaderMap) -> SessionCookie {
    let mut found = SessionCookie::Absent;
    for value in headers.get_all(header::COOKIE) {
        for pair in value.as_bytes().split(|&b| b == b';') {
            let pair = pair.trim_ascii();
            let Some(value) = pair
                .strip_prefix(COOKIE_NAME.as_bytes())
                .and_then(|rest| rest.trim_ascii_start().strip_prefix(b"="))
            else {
                continue;
            };
            // Two session cookies is an attack or a bug: refuse both.
            if !matches!(found, SessionCookie::Absent) {
                return SessionCookie::Malformed;
            }
            found = std::str::from_utf8(value.trim_ascii())
                .ok()
                .and_then(SessionSecret::parse)
                .map_or(SessionCookie::Malformed, SessionCookie::Present);
        }
    }
    found
}

impl SessionRequest {
    /// The session credentials of a request.
    pub(crate) fn from_parts(parts: &Parts) -> Self {
        Self {
            cookie: read_cookie(&parts.headers),
            affinity_lost: parts.headers.contains_key(AFFINITY_LOST),
        }
    }

    /// Whether the request carries a `session_id` cookie at all.
    pub(crate) fn has_cookie(&self) -> bool {
        !matches!(self.cookie, SessionCookie::Absent)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SessionRequest {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_parts(parts))
    }
}

/// A session cookie to send with a successful answer (a new session's ID).
#[derive(Debug, Default)]
pub(crate) struct IssuedCookie(pub(crate) Option<String>);

impl IntoResponseParts for IssuedCookie {
    type Error = Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        if let Some(value) = self.0.and_then(|v| HeaderValue::from_str(&v).ok()) {
            res.headers_mut().append(header::SET_COOKIE, value);
        }
        Ok(res)
    }
}

/// A session's state after a request, and the cookie to send when it is new.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The session's public ID; `None` when there is (still) no session.
    pub(crate) id: Option<SessionId>,
    /// The session's data (empty when there is no session).
    pub(crate) data: SessionData,
    /// `Set-Cookie` for a session created by this request.
    pub(crate) cookie: IssuedCookie,
}

impl Outcome {
    /// Where this answer's state came from: the session store when there is a
    /// session, nothing otherwise.
    pub(crate) fn source(&self, state: &AppState) -> StateSource {
        match self.id {
            Some(_) => StateSource::Store(state.sessions.kind()),
            None => StateSource::None,
        }
    }
}

impl SessionRequest {
    fn missing(&self, state: &AppState) -> ApiError {
        ApiError::SessionMissing {
            lost: self.affinity_lost,
            store: state.sessions.kind(),
            cookies: state.cookies,
        }
    }

    /// Reads the session without creating one. No cookie gives empty state; a
    /// cookie this instance does not know is `SESSION_MISSING`.
    pub(crate) async fn load(&self, state: &AppState) -> Result<Outcome, ApiError> {
        let secret = match &self.cookie {
            SessionCookie::Absent => {
                return Ok(Outcome {
                    id: None,
                    data: SessionData::default(),
                    cookie: IssuedCookie::default(),
                });
            }
            SessionCookie::Malformed => return Err(self.missing(state)),
            SessionCookie::Present(secret) => secret,
        };
        let id = secret.public_id();
        let store = &state.sessions;
        match store.load(&id).await {
            Ok(Some(data)) => Ok(Outcome {
                id: Some(id),
                data,
                cookie: IssuedCookie::default(),
            }),
            Ok(None) => Err(self.missing(state)),
            Err(e) => Err(ApiError::from_store(store.kind(), e)),
        }
    }

    /// Applies `mutation` atomically in the store. Without a cookie the mutation
    /// is applied to empty state and a session is created only when there is
    /// something to keep; a cookie this instance does not know is
    /// `SESSION_MISSING` and nothing is created.
    pub(crate) async fn mutate(
        &self,
        state: &AppState,
        mutation: &Mutation,
    ) -> Result<Outcome, ApiError> {
        let store = &state.sessions;
        let secret = match &self.cookie {
            SessionCookie::Absent => return create_with(state, mutation).await,
            SessionCookie::Malformed => return Err(self.missing(state)),
            SessionCookie::Present(secret) => secret,
        };
        let id = secret.public_id();
        match store.update(&id, mutation).await {
            Ok(Update::Applied(data)) => Ok(Outcome {
                id: Some(id),
                data,
                cookie: IssuedCookie::default(),
            }),
            Ok(Update::Rejected(violation)) => Err(ApiError::from_rule(violation)),
            Ok(Update::Missing) => Err(self.missing(state)),
            Err(e) => Err(ApiError::from_store(store.kind(), e)),
        }
    }
}

async fn create_with(state: &AppState, mutation: &Mutation) -> Result<Outcome, ApiError> {
    let mut data = SessionData::default();
    mutation.apply(&mut data).map_err(ApiError::from_rule)?;
    if data == SessionData::default() {
        return Ok(Outcome {
            id: None,
            data,
            cookie: IssuedCookie::default(),
        });
    }
    let secret = SessionSecret::generate();
    let id = secret.public_id();
    let store = &state.sessions;
    store
        .create(&id, &data)
        .await
        .map_err(ApiError::store(store.kind()))?;
    Ok(Outcome {
        id: Some(id),
        data,
        cookie: IssuedCookie(Some(state.cookies.issue(&secret))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for c in cookies {
            map.append(header::COOKIE, HeaderValue::from_str(c).unwrap());
        }
        map
    }

    #[test]
    fn finds_the_session_cookie_among_others() {
        let secret = SessionSecret::generate();
        let line = format!("theme=dark; session_id={}; x=1", secret.expose());
        assert!(
            matches!(read_cookie(&headers(&[&line])), SessionCookie::Present(s) if s == secret)
        );
        assert!(matches!(
            read_cookie(&headers(&["theme=dark"])),
            SessionCookie::Absent
        ));
    }

    #[test]
    fn odd_or_duplicated_cookies_are_malformed() {
        let s = SessionSecret::generate().expose();
        for bad in [
            "session_id=abc".to_owned(),
            "session_id=".to_owned(),
            format!("session_id={s}; session_id={s}"),
            format!("session_id=\"{s}\"x"),
        ] {
            assert!(
                matches!(read_cookie(&headers(&[&bad])), SessionCookie::Malformed),
                "{bad}"
            );
        }
    }
}
