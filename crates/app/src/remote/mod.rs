//! Another process of the deployment, over plain HTTP (a loopback or private
//! network): a service's API ([`RemoteService`], which implements the
//! service's trait in [`services`]) and single endpoints ([`endpoint`]).
//!
//! A remote service never trusts a header: the instance sends it a short-lived
//! access token it mints for the caller it has already authenticated (and
//! checked against the logout denylist), and the service verifies that token
//! with this instance's public keys like any other.

mod services;

pub(crate) use services::KEY_QUERY;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use statecraft_auth::{TokenIssuer, TokenSubject};
use statecraft_services::{Caller, ServiceError};

/// How long a remote service may take to accept a connection: on loopback or
/// a LAN it is a millisecond; a dead one must fail fast, not hang the caller.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// How long it may take to answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// Lifetime of the token minted for one call: enough for the call, short
/// enough that one read off the wire is soon worthless.
const CALL_TOKEN_TTL: Duration = Duration::from_secs(60);

/// Checks that `base` is `http://HOST:PORT` (`what` names it in the error).
fn http_base(base: &str, what: &str) -> Result<reqwest::Url, String> {
    let bad = || format!("{what} {base:?} must be http://HOST:PORT");
    let url = reqwest::Url::parse(base).map_err(|_| bad())?;
    if url.scheme() != "http" || url.host_str().is_none() || url.cannot_be_a_base() {
        return Err(bad());
    }
    Ok(url)
}

/// An HTTP client that connects fast and waits at most `timeout` for an answer.
fn client(timeout: Duration, what: &str) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(timeout)
        .build()
        .map_err(|e| format!("HTTP client for {what}: {e}"))
}

/// A client for one endpoint of another process of the deployment: `path`
/// of `base`, checked to be `http://HOST:PORT` (`flag` names it in the
/// error), with a fast connect and answers within `timeout`.
pub(crate) fn endpoint(
    base: &str,
    flag: &str,
    path: &str,
    timeout: Duration,
) -> Result<(reqwest::Url, reqwest::Client), String> {
    let mut url = http_base(base, flag)?;
    url.set_path(path);
    Ok((url, client(timeout, flag)?))
}

/// A service's HTTP API in another process.
#[derive(Debug, Clone)]
pub struct RemoteService {
    name: &'static str,
    base: reqwest::Url,
    client: reqwest::Client,
    /// Mints each call's token for the caller.
    tokens: Arc<TokenIssuer>,
}

/// A remote service's URL that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadServiceUrl(String);

impl RemoteService {
    /// The service `name` at `url` (`http://HOST:PORT`), called with tokens
    /// that `tokens` mints for each caller.
    ///
    /// # Errors
    /// [`BadServiceUrl`] for anything but an `http://` URL with a host.
    pub fn new(
        name: &'static str,
        url: &str,
        tokens: Arc<TokenIssuer>,
    ) -> Result<Self, BadServiceUrl> {
        let what = format!("the {name} URL");
        let base = http_base(url, &what).map_err(BadServiceUrl)?;
        let client = client(ANSWER_TIMEOUT, &what).map_err(BadServiceUrl)?;
        Ok(Self {
            name,
            base,
            client,
            tokens,
        })
    }

    /// The URL of `segments` (each percent-encoded) with an optional query.
    fn url(&self, segments: &[&str], query: Option<(&str, &str)>) -> Option<reqwest::Url> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .ok()?
            .pop_if_empty()
            .extend(segments);
        if let Some((name, value)) = query {
            url.query_pairs_mut().append_pair(name, value);
        }
        Some(url)
    }

    fn down(&self, cause: impl Into<statecraft_services::interface::Cause>) -> ServiceError {
        ServiceError::unavailable(self.name, cause)
    }

    /// Sends one call on behalf of `caller` and reads its JSON answer. A
    /// service that cannot be reached, does not answer in time or answers
    /// something unreadable is [`ServiceError::Unavailable`]; its own error
    /// answer is [`ServiceError::Answered`], passed on as it came.
    async fn send<T: DeserializeOwned>(
        &self,
        caller: Option<&Caller>,
        call: Call<'_, impl Serialize + Sync>,
    ) -> Result<(StatusCode, T), ServiceError> {
        let url = self
            .url(call.segments, call.query)
            .ok_or_else(|| self.down("its URL cannot hold this path"))?;
        let mut request = self.client.request(call.method, url);
        if let Some(caller) = caller {
            let subject = TokenSubject {
                id: caller.id.clone(),
                name: caller.name.clone(),
                role: caller.role.clone(),
                session: None,
            };
            let (token, _) = self
                .tokens
                .issue_lasting(&subject, CALL_TOKEN_TTL)
                .map_err(|err| self.down(format!("no call token: {err}")))?;
            request = request.bearer_auth(token);
        }
        if let Some(key) = call.idempotency_key {
            request = request.header("idempotency-key", key);
        }
        if let Some(body) = call.body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|err| self.down(err))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|err| self.down(err))?;
        if !status.is_success() {
            return Err(ServiceError::Answered {
                status: status.as_u16(),
                body: body.to_vec(),
            });
        }
        let value = serde_json::from_slice(&body).map_err(|err| self.down(err))?;
        Ok((status, value))
    }

    /// Whether the service's `/readyz` answers 2xx.
    async fn ready(&self) -> Result<(), ServiceError> {
        let url = self
            .url(&["readyz"], None)
            .ok_or_else(|| self.down("its URL cannot hold /readyz"))?;
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|err| self.down(err))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(self.down(format!("/readyz answered {}", response.status())))
        }
    }
}

/// One request to a remote service.
struct Call<'a, B> {
    method: Method,
    /// The path, as segments (`["orders", id]`).
    segments: &'a [&'a str],
    /// One query parameter.
    query: Option<(&'a str, &'a str)>,
    /// An `Idempotency-Key` to pass on.
    idempotency_key: Option<&'a str>,
    /// A JSON body.
    body: Option<&'a B>,
}

impl<'a> Call<'a, ()> {
    /// A `GET` of `segments`.
    fn get(segments: &'a [&'a str]) -> Self {
        Self {
            method: Method::GET,
            segments,
            query: None,
            idempotency_key: None,
            body: None,
        }
    }
}
