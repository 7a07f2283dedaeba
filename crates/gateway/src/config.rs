//! What a gateway is told at start.

use std::time::Duration;

use http::Uri;

use crate::OutlierRule;

/// How a request chooses its instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Each request to the next healthy instance in turn.
    RoundRobin,
    /// A signed gateway cookie pins a client to the instance of its first answer.
    Sticky,
    /// Rendezvous (highest-random-weight) hashing of the `session_id` cookie,
    /// else a bearer token's `sub`, else the client address: losing one of N
    /// instances moves only its 1/N of the keys.
    Hash,
    /// The less busy of two instances picked at random ("power of two choices").
    LeastRequest,
}

impl Policy {
    /// The policy's name in flags and in `/_cluster`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RoundRobin => "round-robin",
            Self::Sticky => "sticky",
            Self::Hash => "hash",
            Self::LeastRequest => "least-request",
        }
    }
}

impl std::str::FromStr for Policy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "round-robin" => Ok(Self::RoundRobin),
            "sticky" => Ok(Self::Sticky),
            "hash" => Ok(Self::Hash),
            "least-request" => Ok(Self::LeastRequest),
            _ => Err("must be round-robin, sticky, hash or least-request".to_owned()),
        }
    }
}

/// What happens to a sticky or hashed client whose instance is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AffinityLoss {
    /// Send it to a healthy instance with `X-Affinity-Lost: <instance>` and
    /// pin it there (the default).
    Redispatch,
    /// Answer `503 SESSION_LOST` naming the dead instance (Envoy's strict
    /// stateful sessions).
    Strict,
}

impl std::str::FromStr for AffinityLoss {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "redispatch" => Ok(Self::Redispatch),
            "strict" => Ok(Self::Strict),
            _ => Err("must be redispatch or strict".to_owned()),
        }
    }
}

/// One app instance behind the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSpec {
    /// Its name (`server-1`), used in cookies, headers and `/_cluster`.
    pub id: String,
    /// `http://HOST:PORT`.
    pub url: Uri,
}

impl UpstreamSpec {
    /// Parses `ID=http://HOST:PORT`, or a bare URL named `server-<n>`.
    ///
    /// # Errors
    /// A sentence naming what is wrong.
    pub fn parse(s: &str, n: usize) -> Result<Self, String> {
        let (id, url) = match s.split_once('=') {
            Some((id, url)) if !id.contains("://") => (id.to_owned(), url),
            _ => (format!("server-{n}"), s),
        };
        let valid_id = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !valid_id {
            return Err(format!(
                "instance name {id:?} must be 1-64 of A-Z a-z 0-9 . _ -"
            ));
        }
        let url: Uri = url
            .parse()
            .map_err(|_| format!("{url:?} is not a URL (http://HOST:PORT)"))?;
        if url.scheme_str() != Some("http")
            || url.authority().is_none()
            || url.path().len() > 1
            || url.query().is_some()
        {
            return Err(format!("{url} must be http://HOST:PORT"));
        }
        Ok(Self { id, url })
    }
}

/// Requests under a path prefix, sent to a service instead of the app
/// instances (`/orders=http://127.0.0.1:8083`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRoute {
    /// `/orders`: matches `/orders` and `/orders/…`, not `/ordersx`.
    pub prefix: String,
    /// The service.
    pub upstream: UpstreamSpec,
}

impl ServiceRoute {
    /// Parses `/PREFIX=http://HOST:PORT`; the service is named after its
    /// prefix (`orders`).
    ///
    /// # Errors
    /// A sentence naming what is wrong.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (prefix, url) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?} must be /PREFIX=http://HOST:PORT"))?;
        let name = prefix.trim_start_matches('/').replace('/', "-");
        let valid = prefix.starts_with('/')
            && prefix.len() > 1
            && !prefix.ends_with('/')
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.'))
            && !prefix.starts_with("/_cluster");
        if !valid {
            return Err(format!(
                "route prefix {prefix:?} must be /NAME (letters, digits, - _ . /), not /_cluster"
            ));
        }
        let upstream = UpstreamSpec::parse(&format!("{name}={url}"), 0)?;
        Ok(Self {
            prefix: prefix.to_owned(),
            upstream,
        })
    }

    /// Whether `path` is under this route.
    pub fn matches(&self, path: &str) -> bool {
        path.strip_prefix(self.prefix.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

/// The gateway's settings.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The app instances.
    pub upstreams: Vec<UpstreamSpec>,
    /// How requests choose their instance.
    pub policy: Policy,
    /// What a pinned client whose instance is down gets.
    pub on_affinity_loss: AffinityLoss,
    /// How often each instance's `/readyz` is asked.
    pub health_interval: Duration,
    /// How long an instance may take to answer a request (its head; the body
    /// then streams).
    pub request_timeout: Duration,
    /// How long a connection to an instance may take.
    pub connect_timeout: Duration,
    /// When failed exchanges take an instance out of rotation.
    pub outlier: OutlierRule,
    /// The key that signs sticky cookies: gateways with the same key agree.
    pub sticky_key: [u8; 32],
    /// Send the sticky cookie without `Secure` (plain-HTTP use only).
    pub insecure_cookies: bool,
    /// A bearer token that cluster control calls (drain, stop, start) must
    /// carry; without one they are taken from loopback clients only.
    pub admin_token: Option<String>,
    /// Host names the gateway is reached by besides its listen address and
    /// loopback names: control calls with another `Host` are refused
    /// (DNS rebinding).
    pub public_hosts: Vec<String>,
    /// Path prefixes served by services rather than app instances.
    pub routes: Vec<ServiceRoute>,
    /// The users service's JWKS: with it, a bearer token on a service route
    /// is verified here and a bad one never reaches the service.
    pub jwks_url: Option<Uri>,
    /// The token the instances take for session hand-over on drain
    /// (`/_internal/sessions`); without it an instance cannot hand over.
    pub handover_token: Option<String>,
}

impl GatewayConfig {
    /// Settings with the usual timings for `upstreams` under `policy`, and a
    /// random sticky key.
    pub fn new(upstreams: Vec<UpstreamSpec>, policy: Policy) -> Self {
        let mut sticky_key = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut sticky_key);
        Self {
            upstreams,
            policy,
            on_affinity_loss: AffinityLoss::Redispatch,
            health_interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_millis(500),
            outlier: OutlierRule::default(),
            sticky_key,
            insecure_cookies: false,
            admin_token: None,
            public_hosts: Vec::new(),
            routes: Vec::new(),
            jwks_url: None,
            handover_token: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_are_named_or_numbered() {
        let named = UpstreamSpec::parse("app-a=http://127.0.0.1:9001", 1).unwrap();
        assert_eq!(named.id, "app-a");
        let numbered = UpstreamSpec::parse("http://127.0.0.1:9002", 2).unwrap();
        assert_eq!(numbered.id, "server-2");
        for bad in [
            "https://127.0.0.1:1",
            "ftp://x",
            "http://h:1/path",
            "a b=http://h:1",
            "=http://h:1",
            "nonsense",
        ] {
            assert!(UpstreamSpec::parse(bad, 1).is_err(), "{bad}");
        }
    }

    #[test]
    fn routes_match_whole_path_segments() {
        let route = ServiceRoute::parse("/orders=http://127.0.0.1:9003").unwrap();
        assert_eq!(route.upstream.id, "orders");
        assert!(route.matches("/orders"));
        assert!(route.matches("/orders/order-1"));
        assert!(!route.matches("/ordersx"));
        assert!(!route.matches("/order"));
        for bad in [
            "orders=http://h:1",
            "/=http://h:1",
            "/orders/=http://h:1",
            "/_cluster=http://h:1",
            "/orders",
        ] {
            assert!(ServiceRoute::parse(bad).is_err(), "{bad}");
        }
    }
}
