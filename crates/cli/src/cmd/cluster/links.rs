//! `statecraft cluster --links`: a network link in front of each instance
//! (gateway → instance) and between each instance and a Redis session store
//! (instance → store), so that a partition, a distance or a slow line can be
//! put between any two parts at run time (`PUT /_cluster/links/{id}`).

use std::net::{IpAddr, SocketAddr};

use statecraft_gateway::{Links, NamedLink};
use statecraft_link::Link;
use statecraft_link::netns::Namespace;

use super::netns;
use super::services::SERVICE_NAMES;
use crate::cmd::CmdError;

/// Where every instance's store link leads, and the URL it rewrites.
#[derive(Debug)]
pub(crate) struct StoreRoute {
    target: SocketAddr,
    url: url::Url,
}

impl StoreRoute {
    /// The route to the store of `spec`, when it is one Redis server
    /// (`redis://`): a Redis Cluster names its nodes itself, a TLS store's
    /// certificate names its host, and the other stores are in-process.
    ///
    /// # Errors
    /// A Redis host that does not resolve.
    pub(crate) async fn of(spec: &str) -> Result<Option<Self>, CmdError> {
        let Ok(url) = url::Url::parse(spec) else {
            return Ok(None);
        };
        if url.scheme() != "redis" {
            tracing::info!(
                store = url.scheme(),
                "links: this session store is not one plain Redis server; no instance → store links"
            );
            return Ok(None);
        }
        let target = resolve(&url, "session store", "--links").await?;
        Ok(Some(Self { target, url }))
    }

    /// A link to the store for instance `id`, and the store URL that goes
    /// through it (user, password and database kept).
    ///
    /// # Errors
    /// No loopback port for the link.
    pub(crate) async fn link_for(&self, id: &str) -> Result<(NamedLink, String), CmdError> {
        let link = start(self.target).await?;
        let mut url = self.url.clone();
        let addr = link.addr();
        // A `redis://` URL has a host, so both are accepted.
        let _ = url.set_ip_host(addr.ip());
        let _ = url.set_port(Some(addr.port()));
        let named = NamedLink {
            id: format!("{id}-store"),
            from: id.to_owned(),
            to: "store".to_owned(),
            link,
        };
        Ok((named, url.into()))
    }
}

/// A link from the gateway to instance `id` listening on `instance`, and the
/// URL the gateway is to use for it.
///
/// # Errors
/// No loopback port for the link.
pub(crate) async fn gateway_link(
    id: &str,
    instance: SocketAddr,
) -> Result<(NamedLink, String), CmdError> {
    let link = start(instance).await?;
    let url = format!("http://{}", link.addr());
    let named = NamedLink {
        id: id.to_owned(),
        from: "gateway".to_owned(),
        to: id.to_owned(),
        link,
    };
    Ok((named, url))
}

async fn start(target: SocketAddr) -> Result<Link, CmdError> {
    Link::start(target)
        .await
        .map_err(|e| CmdError::Runtime(format!("--links: a link cannot listen on loopback: {e}")))
}

/// What every instance is to reach, as the cluster was told.
pub(crate) struct Wanted<'a> {
    /// `--session-store`.
    pub(crate) session_store: &'a str,
    /// `--counter-store`.
    pub(crate) counter_store: Option<&'a str>,
    /// `--data`.
    pub(crate) data: &'a str,
    /// `--events`.
    pub(crate) events: &'a str,
    /// The gateway, where instances send their logouts.
    pub(crate) gateway: &'a str,
    /// The separate services' loopback ports, when they run apart.
    pub(crate) services: Option<[u16; 3]>,
}

/// Where one instance finds what it reaches, and whom it trusts to forward
/// its clients' addresses.
pub(crate) struct Reached {
    /// Its session store's URL.
    pub(crate) session_store: String,
    /// Its counter store's, when apart.
    pub(crate) counter_store: Option<String>,
    /// Its data's.
    pub(crate) data: String,
    /// Its event bus's.
    pub(crate) events: String,
    /// The gateway's.
    pub(crate) gateway: String,
    /// Orders, inventory and notifications, when they run apart.
    pub(crate) services: Option<[String; 3]>,
    /// The address the gateway's requests come from.
    pub(crate) trusted_proxy: IpAddr,
}

impl Wanted<'_> {
    /// Where instance `id` finds each part: on loopback (through its store
    /// link under `--links`), or from its own `namespace` through relays.
    ///
    /// # Errors
    /// A relay that cannot be made (see [`netns::reach`]).
    pub(crate) async fn reached(
        &self,
        id: &str,
        store_route: Option<&StoreRoute>,
        namespace: Option<&Namespace>,
        links: &mut Links,
    ) -> Result<Reached, CmdError> {
        let service = |port: u16| format!("http://127.0.0.1:{port}");
        let Some(ns) = namespace else {
            let session_store = match store_route {
                Some(route) => {
                    let (link, url) = route.link_for(id).await?;
                    links.push(link);
                    url
                }
                None => self.session_store.to_owned(),
            };
            return Ok(Reached {
                session_store,
                counter_store: self.counter_store.map(str::to_owned),
                data: self.data.to_owned(),
                events: self.events.to_owned(),
                gateway: self.gateway.to_owned(),
                services: self.services.map(|ports| ports.map(service)),
                trusted_proxy: IpAddr::from([127, 0, 0, 1]),
            });
        };
        let mut services = None;
        if let Some(ports) = self.services {
            let mut urls = [String::new(), String::new(), String::new()];
            for ((url, port), name) in urls.iter_mut().zip(ports).zip(SERVICE_NAMES) {
                *url = netns::reach(id, name, &service(port), ns, links).await?;
            }
            services = Some(urls);
        }
        let counter_store = match self.counter_store {
            Some(url) => Some(netns::reach(id, "counters", url, ns, links).await?),
            None => None,
        };
        Ok(Reached {
            session_store: netns::reach(id, "store", self.session_store, ns, links).await?,
            counter_store,
            data: netns::reach(id, "data", self.data, ns, links).await?,
            // With the services apart, only they use the bus.
            events: match self.services {
                Some(_) => self.events.to_owned(),
                None => netns::reach(id, "events", self.events, ns, links).await?,
            },
            gateway: netns::reach(id, "gateway", self.gateway, ns, links).await?,
            services,
            // The gateway's links connect from the host's side of the cable.
            trusted_proxy: IpAddr::V4(ns.host_addr()),
        })
    }
}

/// The address `url` names, its scheme's port by default; `flag` and
/// `what` name it in the error.
pub(super) async fn resolve(
    url: &url::Url,
    what: &str,
    flag: &str,
) -> Result<SocketAddr, CmdError> {
    let host = url.host_str().unwrap_or("127.0.0.1");
    let port = url.port().unwrap_or(match url.scheme() {
        "redis" => 6379,
        "postgres" | "postgresql" => 5432,
        "nats" | "tcp" => 4222,
        _ => 80,
    });
    tokio::net::lookup_host((host, port))
        .await
        .ok()
        .and_then(|mut found| found.next())
        .ok_or_else(|| {
            CmdError::Usage(format!(
                "{flag}: the {what} host {host} does not resolve; give its address"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::StoreRoute;

    #[tokio::test]
    async fn a_redis_store_is_routed_with_its_credentials_and_the_rest_are_not() {
        let route = StoreRoute::of("redis://:secret@127.0.0.1:6390/2").await;
        let route = route.ok().flatten().unwrap_or_else(|| panic!("a route"));
        let (named, url) = route
            .link_for("server-1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let port = named.link.addr().port();
        assert_eq!(url, format!("redis://:secret@127.0.0.1:{port}/2"));
        assert_eq!(
            (named.id.as_str(), named.to.as_str()),
            ("server-1-store", "store")
        );
        for other in [
            "memory",
            "sqlite:/tmp/x.sqlite",
            "redis+cluster://127.0.0.1:7000",
            "rediss://host:6380",
        ] {
            assert!(matches!(StoreRoute::of(other).await, Ok(None)), "{other}");
        }
    }
}
