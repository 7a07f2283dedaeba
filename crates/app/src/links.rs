//! How an instance reaches the orders, inventory and notifications services:
//! their databases in this process (the monolith), or their HTTP APIs in other
//! processes (`serve --orders-url …`). The routes are the same either way.
//!
//! A remote service never trusts a header: the instance sends it a short-lived
//! access token it mints for the caller it has already authenticated (and
//! checked against the logout denylist), and the service verifies that token
//! with this instance's public keys like any other.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use statecraft_services::{InventoryDb, NotificationsDb, OrdersDb, Services};

use statecraft_auth::{TokenIssuer, TokenSubject};

use crate::error::ApiError;

/// One service: in this process or at a URL.
#[derive(Debug, Clone)]
pub enum Link<T> {
    /// Its database, opened by this process.
    Local(T),
    /// Its HTTP API in another process.
    Remote(RemoteService),
}

impl<T> Link<T> {
    /// The service's database when it is in this process.
    pub fn local(&self) -> Option<&T> {
        match self {
            Self::Local(db) => Some(db),
            Self::Remote(_) => None,
        }
    }
}

/// The services an instance reaches.
#[derive(Debug, Clone)]
pub struct ServiceLinks {
    /// Orders.
    pub orders: Link<OrdersDb>,
    /// Catalog and stock.
    pub inventory: Link<InventoryDb>,
    /// Notifications.
    pub notifications: Link<NotificationsDb>,
}

impl From<Services> for ServiceLinks {
    fn from(services: Services) -> Self {
        Self {
            orders: Link::Local(services.orders),
            inventory: Link::Local(services.inventory),
            notifications: Link::Local(services.notifications),
        }
    }
}

impl ServiceLinks {
    /// Whether every service answers: a local database's ping, a remote
    /// service's `/readyz`.
    pub(crate) async fn ping(&self) -> Result<(), ()> {
        let (orders, inventory, notifications) = tokio::join!(
            ping(&self.orders, |db| db.ping()),
            ping(&self.inventory, |db| db.ping()),
            ping(&self.notifications, |db| db.ping()),
        );
        orders.and(inventory).and(notifications)
    }
}

async fn ping<'a, T, E, F>(link: &'a Link<T>, local: impl FnOnce(&'a T) -> F) -> Result<(), ()>
where
    F: Future<Output = Result<(), E>>,
{
    match link {
        Link::Local(db) => local(db).await.map_err(|_| ()),
        Link::Remote(remote) => remote.ready().await,
    }
}

/// How long a remote service may take to accept a connection: on loopback or
/// a LAN it is a millisecond; a dead one must fail fast, not hang the caller.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// How long it may take to answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// Lifetime of the token minted for one call: enough for the call, short
/// enough that one read off the wire is soon worthless.
const CALL_TOKEN_TTL: Duration = Duration::from_secs(60);

/// A client for one endpoint of another process of the deployment (plain
/// HTTP: a loopback or private network): `path` of `base`, checked to be
/// `http://HOST:PORT` (`flag` names it in the error), with a fast connect
/// and answers within `timeout`.
pub(crate) fn endpoint(
    base: &str,
    flag: &str,
    path: &str,
    timeout: Duration,
) -> Result<(reqwest::Url, reqwest::Client), String> {
    let bad = || format!("{flag} {base:?} must be http://HOST:PORT");
    let mut url = reqwest::Url::parse(base).map_err(|_| bad())?;
    if url.scheme() != "http" || url.host_str().is_none() || url.cannot_be_a_base() {
        return Err(bad());
    }
    url.set_path(path);
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(timeout)
        .build()
        .map_err(|e| format!("HTTP client for {flag}: {e}"))?;
    Ok((url, client))
}

/// A service's HTTP API (plain HTTP: a loopback or private network).
#[derive(Debug, Clone)]
pub struct RemoteService {
    name: &'static str,
    base: reqwest::Url,
    client: reqwest::Client,
}

/// A remote service's URL that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadServiceUrl(String);

impl RemoteService {
    /// The service `name` at `url` (`http://HOST:PORT`).
    ///
    /// # Errors
    /// [`BadServiceUrl`] for anything but an `http://` URL with a host.
    pub fn new(name: &'static str, url: &str) -> Result<Self, BadServiceUrl> {
        let bad = || BadServiceUrl(format!("the {name} URL must be http://HOST:PORT"));
        let base = reqwest::Url::parse(url).map_err(|_| bad())?;
        if base.scheme() != "http" || base.host_str().is_none() || base.cannot_be_a_base() {
            return Err(bad());
        }
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(ANSWER_TIMEOUT)
            .build()
            .map_err(|err| BadServiceUrl(format!("HTTP client for {name}: {err}")))?;
        Ok(Self { name, base, client })
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

    /// Sends one request on behalf of `user`, with an `Idempotency-Key` and a
    /// JSON body when given. A service that cannot be reached, or does not
    /// answer in time, is `503 STORE_UNAVAILABLE` naming it.
    pub(crate) async fn send(
        &self,
        tokens: &TokenIssuer,
        caller: Option<&TokenSubject>,
        call: Call<'_, impl Serialize>,
    ) -> Result<Answer, ApiError> {
        let down = |why: &dyn std::fmt::Display| ApiError::service_down(self.name, why);
        let url = self
            .url(call.segments, call.query)
            .ok_or_else(|| down(&"its URL cannot hold this path"))?;
        let mut request = self.client.request(call.method, url);
        if let Some(who) = caller {
            let (token, _) = tokens
                .issue_lasting(who, CALL_TOKEN_TTL)
                .map_err(|err| down(&format_args!("no call token: {err}")))?;
            request = request.bearer_auth(token);
        }
        if let Some(key) = call.idempotency_key {
            request = request.header("idempotency-key", key);
        }
        if let Some(body) = call.body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|err| down(&format_args!("unreachable: {err}")))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|err| down(&format_args!("its answer broke off: {err}")))?;
        Ok(Answer { status, body })
    }

    /// Whether the service's `/readyz` answers 2xx.
    async fn ready(&self) -> Result<(), ()> {
        let url = self.url(&["readyz"], None).ok_or(())?;
        match self.client.get(url).send().await {
            Ok(response) if response.status().is_success() => Ok(()),
            _ => Err(()),
        }
    }
}

/// One request to a remote service.
pub(crate) struct Call<'a, B> {
    /// The method.
    pub(crate) method: Method,
    /// The path, as segments (`["orders", id]`).
    pub(crate) segments: &'a [&'a str],
    /// One query parameter.
    pub(crate) query: Option<(&'a str, &'a str)>,
    /// An `Idempotency-Key` to pass on.
    pub(crate) idempotency_key: Option<&'a str>,
    /// A JSON body.
    pub(crate) body: Option<&'a B>,
}

impl<'a> Call<'a, ()> {
    /// A `GET` of `segments`.
    pub(crate) fn get(segments: &'a [&'a str]) -> Self {
        Self {
            method: Method::GET,
            segments,
            query: None,
            idempotency_key: None,
            body: None,
        }
    }
}

/// A remote service's answer.
#[derive(Debug)]
pub(crate) struct Answer {
    status: StatusCode,
    body: Bytes,
}

impl Answer {
    /// The answer as `T` when the service succeeded; its error, relayed as it
    /// came, when it did not.
    pub(crate) fn into_json<T: DeserializeOwned>(self) -> Result<(StatusCode, T), ApiError> {
        if !self.status.is_success() {
            return Err(self.relayed());
        }
        serde_json::from_slice(&self.body)
            .map(|value| (self.status, value))
            .map_err(|err| ApiError::Internal(format!("a service's answer did not parse: {err}")))
    }

    fn relayed(self) -> ApiError {
        ApiError::Relayed {
            status: self.status,
            body: self.body,
        }
    }
}

impl IntoResponse for Answer {
    /// The answer as it came, success or error (services answer JSON).
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            self.body,
        )
            .into_response()
    }
}
