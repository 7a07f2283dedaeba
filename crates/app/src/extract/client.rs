//! The client's address, as far as it can be known: the connection's peer,
//! or behind a trusted proxy the address that proxy appended.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::state::AppState;

/// The client's address: the connection's peer, or, when the peer is a
/// trusted proxy, the nearest address in `X-Forwarded-For` that is not one
/// (unspecified when the app runs without a socket, as in router-level tests).
pub(crate) struct ClientAddr(pub(crate) IpAddr);

/// States that know which proxies' `X-Forwarded-For` to believe.
pub(crate) trait TrustedProxies {
    /// The proxies (addresses or ranges, such as an ingress controller's
    /// pod network).
    fn trusted_proxies(&self) -> &[ipnet::IpNet];
}

impl<S: TrustedProxies + Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        Ok(Self(client_of(
            peer,
            &parts.headers,
            state.trusted_proxies(),
        )))
    }
}

/// The client behind `peer`: when `peer` is a trusted proxy, the last
/// `X-Forwarded-For` entry, the one that proxy appended. Entries left of it
/// were written by whoever called the proxy and prove nothing (walking past
/// them while they look like proxies would let a client on a proxy's own
/// address, such as loopback, name any address it likes).
fn client_of(peer: IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    if !trusted.iter().any(|range| range.contains(&peer)) {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|hop| hop.trim().parse().ok())
        .unwrap_or(peer)
}

impl TrustedProxies for AppState {
    fn trusted_proxies(&self) -> &[ipnet::IpNet] {
        &self.config.trusted_proxies
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", value.parse().unwrap());
        headers
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let gateway: IpAddr = "127.0.0.1".parse().unwrap();
        let client: IpAddr = "10.0.0.7".parse().unwrap();
        // Not trusted: the header is the client's word, ignored.
        assert_eq!(client_of(gateway, &xff("10.0.0.7"), &[]), gateway);
        // Trusted: the address the gateway appended.
        assert_eq!(
            client_of(gateway, &xff("10.0.0.7"), &[gateway.into()]),
            client
        );
        // A client's own forged entries left of it prove nothing, even when
        // the client shares the proxy's address.
        assert_eq!(
            client_of(gateway, &xff("1.2.3.4, 10.0.0.7"), &[gateway.into()]),
            client
        );
        assert_eq!(
            client_of(gateway, &xff("1.2.3.4, 127.0.0.1"), &[gateway.into()]),
            gateway
        );
        // No header, or garbage: the peer.
        assert_eq!(
            client_of(gateway, &HeaderMap::new(), &[gateway.into()]),
            gateway
        );
        assert_eq!(
            client_of(gateway, &xff("nonsense"), &[gateway.into()]),
            gateway
        );
    }

    #[test]
    fn a_trusted_range_covers_every_proxy_in_it() {
        // An ingress controller's pods: any address of their network.
        let pods: ipnet::IpNet = "10.42.0.0/16".parse().unwrap();
        let client: IpAddr = "198.51.100.4".parse().unwrap();
        let proxy: IpAddr = "10.42.7.19".parse().unwrap();
        assert_eq!(client_of(proxy, &xff("198.51.100.4"), &[pods]), client);
        let outside: IpAddr = "10.43.0.1".parse().unwrap();
        assert_eq!(client_of(outside, &xff("198.51.100.4"), &[pods]), outside);
    }
}
