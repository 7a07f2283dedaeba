//! Who may use a server's control routes: the gateway's
//! (`POST /_cluster/instances/…`) and the lab's (`POST /lab/runs`).
//!
//! Three checks, in order, each answering `403 FORBIDDEN`:
//! 1. **Not cross-site.** A page on another site, open in the operator's
//!    browser, is a loopback client too: a form post with
//!    `Origin: http://evil.example` used to stop instances. A request whose
//!    `Origin` is not this gateway's own, or whose `Sec-Fetch-Site` says it
//!    came from another origin, is refused whatever else it carries.
//! 2. **A host of ours.** DNS rebinding points an attacker's name at
//!    127.0.0.1, and the browser then sends `Host: attacker.example` with a
//!    same-origin `Origin`: the `Host` must be the listen address, a
//!    loopback name, or a `--public-host` the operator named.
//! 3. **The admin token, or loopback.** With `--admin-token` every control
//!    call carries it; without one, only loopback clients, and only while
//!    the gateway listens on loopback (listening elsewhere without a token
//!    closes the control routes; `serve` warns at start).

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use http::header::{AUTHORIZATION, HOST, ORIGIN};
use subtle::ConstantTimeEq as _;

/// Control calls refused for a foreign origin.
const CROSS_SITE: &str = "Control refuses cross-site requests: the Origin is not this \
     server's. Use the page served by this server, or a client that sends no Origin";
/// Control calls refused for a foreign host.
const FOREIGN_HOST: &str = "Control refuses this Host: use the server's listen address \
     or a loopback name, or start it with --public-host NAME";

/// A control call refused (`403 FORBIDDEN`), and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub &'static str);

/// What control calls are checked against.
#[derive(Debug, Default, Clone)]
pub struct ControlGuard {
    /// The admin token, when set.
    pub admin_token: Option<String>,
    /// Host names (with or without a port) the operator serves the gateway as.
    pub public_hosts: Vec<String>,
}

impl ControlGuard {
    /// Whether `peer` may make a control call with `headers` to a gateway
    /// listening on `listening` (when known).
    ///
    /// # Errors
    /// Why the call is refused.
    pub fn authorize(
        &self,
        listening: Option<SocketAddr>,
        peer: SocketAddr,
        headers: &HeaderMap,
    ) -> Result<(), Refused> {
        let host = headers
            .get(HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if cross_site(headers, host) {
            return Err(Refused(CROSS_SITE));
        }
        if !self.host_is_ours(host, listening) {
            return Err(Refused(FOREIGN_HOST));
        }
        match &self.admin_token {
            Some(token) => {
                if carries_token(headers, token) {
                    Ok(())
                } else {
                    Err(Refused(
                        "Control needs the admin token: Authorization: Bearer <token>",
                    ))
                }
            }
            None if listening.is_some_and(|a| !a.ip().is_loopback()) => Err(Refused(
                "Control is closed: this server listens beyond loopback without \
                     an admin token (set --admin-token-file or STATECRAFT_ADMIN_TOKEN)",
            )),
            // A reverse proxy on the same host makes every client a
            // loopback one: a request it forwarded is not trusted as local.
            None if peer.ip().is_loopback() && !forwarded(headers) => Ok(()),
            None => Err(Refused(
                "Control is for loopback clients unless an admin token is set (a request a \
                 proxy forwarded is not a loopback client)",
            )),
        }
    }

    /// For the gateway's read-only routes (`GET /_cluster…`): a `Host`, when
    /// given, must name this gateway, so that a DNS-rebound page cannot read
    /// them either.
    ///
    /// # Errors
    /// The `Host` names another server.
    pub fn check_host(
        &self,
        headers: &HeaderMap,
        listening: Option<SocketAddr>,
    ) -> Result<(), Refused> {
        match headers.get(HOST).map(|v| v.to_str()) {
            None => Ok(()),
            Some(Ok(host)) if self.host_is_ours(host, listening) => Ok(()),
            Some(_) => Err(Refused(FOREIGN_HOST)),
        }
    }

    /// Whether `host` (a `Host` header) names this gateway.
    fn host_is_ours(&self, host: &str, listening: Option<SocketAddr>) -> bool {
        let host = host.to_ascii_lowercase();
        if listening.is_some_and(|a| host == a.to_string()) {
            return true;
        }
        if (self.public_hosts.iter())
            .filter(|p| !p.is_empty())
            .any(|p| host == *p || host_name(&host) == p.as_str())
        {
            return true;
        }
        let name = host_name(&host);
        name == "localhost"
            || name.ends_with(".localhost")
            || name
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

/// Whether `headers` carry `Authorization: Bearer <token>`, compared in
/// constant time.
pub fn carries_token(headers: &HeaderMap, token: &str) -> bool {
    let given = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    bool::from(given.as_bytes().ct_eq(token.as_bytes()))
}

/// Whether a proxy says it forwarded the request for someone else: not a
/// loopback client for the controls, and no peer for the internal routes.
#[must_use]
pub fn forwarded(headers: &HeaderMap) -> bool {
    ["forwarded", "x-forwarded-for", "x-real-ip"]
        .iter()
        .any(|name| headers.contains_key(*name))
}

/// `host` without its port (`[::1]:80` → `[::1]`).
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(name, _)| &host[..=name.len()]);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

/// Whether the browser says the request comes from another origin.
fn cross_site(headers: &HeaderMap, host: &str) -> bool {
    let fetch_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    // `none`: typed by the user; `same-origin`: our own page. `same-site`
    // is another port or subdomain: another origin all the same.
    if fetch_site.is_some_and(|s| s != "same-origin" && s != "none") {
        return true;
    }
    match headers.get(ORIGIN).map(|v| v.to_str()) {
        None => false,
        Some(Ok(origin)) => {
            let origin = origin.to_ascii_lowercase();
            let host = host.to_ascii_lowercase();
            origin != format!("http://{host}") && origin != format!("https://{host}")
        }
        Some(Err(_)) => true,
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use http::HeaderMap;

    use super::ControlGuard;

    const LOOPBACK_PEER: ([u8; 4], u16) = ([127, 0, 0, 1], 50_000);

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap_or_else(|e| panic!("{e}")),
                value.parse().unwrap_or_else(|e| panic!("{e:?}")),
            );
        }
        map
    }

    fn allowed(
        guard: &ControlGuard,
        listening: &str,
        peer: SocketAddr,
        h: &[(&str, &str)],
    ) -> bool {
        let listening: SocketAddr = listening.parse().unwrap_or_else(|e| panic!("{e}"));
        guard.authorize(Some(listening), peer, &headers(h)).is_ok()
    }

    #[test]
    fn cross_site_pages_and_rebound_hosts_are_refused_even_from_loopback() {
        let guard = ControlGuard::default();
        let at = "127.0.0.1:8000";
        let peer = LOOPBACK_PEER.into();
        // A client with no Origin (curl, the lab) and a page of our own.
        assert!(allowed(&guard, at, peer, &[("host", "127.0.0.1:8000")]));
        assert!(allowed(
            &guard,
            at,
            peer,
            &[
                ("host", "localhost:8000"),
                ("origin", "http://localhost:8000"),
                ("sec-fetch-site", "same-origin")
            ]
        ));
        assert!(allowed(&guard, at, peer, &[("host", "[::1]:8000")]));
        // A reverse proxy on this host forwarding a remote client.
        assert!(!allowed(
            &guard,
            at,
            peer,
            &[
                ("host", "127.0.0.1:8000"),
                ("x-forwarded-for", "198.51.100.4")
            ]
        ));
        assert!(!allowed(
            &guard,
            at,
            peer,
            &[
                ("host", "127.0.0.1:8000"),
                ("forwarded", "for=198.51.100.4")
            ]
        ));
        // Another site's page, by Origin or by Sec-Fetch-Site alone.
        for refused in [
            &[
                ("host", "127.0.0.1:8000"),
                ("origin", "http://evil.example"),
            ][..],
            &[("host", "127.0.0.1:8000"), ("origin", "null")],
            &[
                ("host", "127.0.0.1:8000"),
                ("origin", "http://127.0.0.1:9999"),
            ],
            &[("host", "127.0.0.1:8000"), ("sec-fetch-site", "cross-site")],
            &[("host", "127.0.0.1:8000"), ("sec-fetch-site", "same-site")],
            // DNS rebinding: the page is same-origin with the attacker's name.
            &[
                ("host", "attacker.example:8000"),
                ("origin", "http://attacker.example:8000"),
            ],
            &[("host", "attacker.example")],
            &[],
        ] {
            assert!(!allowed(&guard, at, peer, refused), "{refused:?}");
        }
    }

    #[test]
    fn a_public_host_and_the_admin_token_open_control_beyond_loopback() {
        let remote: SocketAddr = ([192, 0, 2, 7], 50_000).into();
        let at = "0.0.0.0:8000";
        // Beyond loopback without a token: closed, even to loopback clients.
        let open = ControlGuard::default();
        assert!(!allowed(
            &open,
            at,
            LOOPBACK_PEER.into(),
            &[("host", "127.0.0.1:8000")]
        ));
        let guard = ControlGuard {
            admin_token: Some("s3cret-admin-token".to_owned()),
            public_hosts: vec!["gateway.internal".to_owned()],
        };
        let with = |host: &'static str, token: &'static str| {
            vec![("host", host), ("authorization", token)]
        };
        assert!(allowed(
            &guard,
            at,
            remote,
            &with("gateway.internal:8000", "Bearer s3cret-admin-token")
        ));
        assert!(!allowed(
            &guard,
            at,
            remote,
            &with("gateway.internal:8000", "Bearer wrong")
        ));
        assert!(!allowed(
            &guard,
            at,
            remote,
            &with("other.example", "Bearer s3cret-admin-token")
        ));
        // A token does not excuse a cross-site page.
        let mut cross = with("gateway.internal", "Bearer s3cret-admin-token");
        cross.push(("origin", "http://evil.example"));
        assert!(!allowed(&guard, at, remote, &cross));
    }
}
