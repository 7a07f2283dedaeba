//! Bearer tokens checked at the edge for service routes: verified with the
//! users service's public keys (JWKS), so that a forged, foreign or expired
//! token is answered here and never reaches a service. The services still
//! verify every token themselves; this spares them the bad ones.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use http::header::AUTHORIZATION;
use http::{HeaderMap, Uri};
use http_body_util::BodyExt as _;
use statecraft_auth::{AUDIENCE, ISSUER, KeyRing, TokenError, TokenIssuer};

use crate::config::UpstreamSpec;
use crate::error::GatewayError;
use crate::upstream::Upstream;

/// How often the keys are fetched again on their own (a rotation reaches the
/// edge within this time, or at once through an unknown `kid`).
pub(crate) const REFRESH_EVERY: Duration = Duration::from_secs(30);
/// An unknown `kid` fetches the keys at most this often: a flood of forged
/// `kid`s costs the users service one request a second.
const FETCH_AT_MOST_EVERY: Duration = Duration::from_secs(1);
/// How long a JWKS fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(2);

/// The edge's verifier.
#[derive(Debug)]
pub(crate) struct EdgeAuth {
    /// The JWKS's host, reached through a pool like an instance.
    source: Upstream,
    path: String,
    tokens: RwLock<Option<Arc<TokenIssuer>>>,
    last_fetch: RwLock<Option<Instant>>,
}

impl EdgeAuth {
    /// A verifier of tokens signed by the keys at `url`.
    pub(crate) fn new(url: &Uri, connect_timeout: Duration) -> Option<Self> {
        let base = format!("http://{}", url.authority()?);
        let spec = UpstreamSpec::parse(&format!("jwks={base}"), 0).ok()?;
        Some(Self {
            source: Upstream::new(&spec, connect_timeout),
            path: url.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
            tokens: RwLock::new(None),
            last_fetch: RwLock::new(None),
        })
    }

    /// Checks the bearer token of a service-bound request, if it has one (a
    /// request without one goes on: the service decides whether it needs
    /// one).
    pub(crate) async fn check(&self, headers: &HeaderMap) -> Result<(), GatewayError> {
        let Some(value) = headers.get(AUTHORIZATION) else {
            return Ok(());
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(GatewayError::TokenInvalid)?;
        match self.verify(token) {
            Some(Ok(())) => return Ok(()),
            Some(Err(TokenError::Expired)) => return Err(GatewayError::TokenExpired),
            // Unknown keys, or none yet: fetch them (at most once a second).
            Some(Err(TokenError::Invalid)) | None => {}
        }
        if self.may_fetch() {
            self.refresh().await;
        }
        match self.verify(token) {
            Some(Ok(())) => Ok(()),
            Some(Err(TokenError::Expired)) => Err(GatewayError::TokenExpired),
            Some(Err(TokenError::Invalid)) => Err(GatewayError::TokenInvalid),
            None => Err(GatewayError::KeysUnavailable),
        }
    }

    fn verify(&self, token: &str) -> Option<Result<(), TokenError>> {
        let tokens = self
            .tokens
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()?;
        Some(tokens.verify(token).map(|_| ()))
    }

    fn may_fetch(&self) -> bool {
        let mut last = self
            .last_fetch
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|t| t.elapsed() < FETCH_AT_MOST_EVERY) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    /// Fetches the JWKS and replaces the keys; a failure keeps the old ones.
    pub(crate) async fn refresh(&self) {
        match self.fetch().await {
            Ok(ring) => {
                let issuer = TokenIssuer::new(ring, ISSUER, AUDIENCE, REFRESH_EVERY);
                *self.tokens.write().unwrap_or_else(PoisonError::into_inner) =
                    Some(Arc::new(issuer));
            }
            Err(why) => tracing::warn!(%why, "cannot fetch the JWKS; keeping the keys held"),
        }
    }

    async fn fetch(&self) -> Result<KeyRing, String> {
        let request = self.source.get(&self.path).ok_or("bad JWKS URL")?;
        let answer = tokio::time::timeout(FETCH_TIMEOUT, self.source.pool.send(request))
            .await
            .map_err(|_| "timed out".to_owned())?
            .map_err(|e| format!("{e:?}"))?;
        if !answer.status().is_success() {
            return Err(format!("status {}", answer.status()));
        }
        let body = tokio::time::timeout(FETCH_TIMEOUT, answer.into_body().collect())
            .await
            .map_err(|_| "timed out".to_owned())?
            .map_err(|e| e.to_string())?
            .to_bytes();
        let jwks: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        KeyRing::from_jwks(&jwks, REFRESH_EVERY).map_err(|e| e.to_string())
    }
}
