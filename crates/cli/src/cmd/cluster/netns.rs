//! `statecraft cluster --netns`: each instance in its own network namespace,
//! on its own address, joined to the host by a veth pair (its cable, listed
//! as `server-N-net` and pulled with `PUT /_cluster/links/server-N-net
//! {"down": true}`). Everything an instance reaches — its stores, its data,
//! the event bus, the gateway, the separate services — it reaches through a
//! relay link listening on the host's side of its cable, so the rest stays
//! bound to loopback and every one of those ways can be faulted on its own
//! (`server-N-store`, `server-N-data`, …).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use statecraft_gateway::{Links, NamedCable, NamedLink};
use statecraft_link::Link;
use statecraft_link::netns::Namespace;

use super::links;
use crate::cmd::CmdError;

/// One namespace per instance, numbered like the instances.
///
/// # Errors
/// Not root, no `ip`, or `ip` failed: [`CmdError::Usage`] with the way out.
pub(crate) fn namespaces(count: u8) -> Result<Vec<Arc<Namespace>>, CmdError> {
    statecraft_link::netns::create(count)
        .map(|made| made.into_iter().map(Arc::new).collect())
        .map_err(|e| {
            CmdError::Usage(format!(
                "--netns: {e}; run as root on Linux with iproute2, or use --links alone \
                 (the same links on loopback)"
            ))
        })
}

/// The cable of instance `id` in `namespace`, for the links API.
pub(crate) fn cable(id: &str, namespace: &Arc<Namespace>) -> NamedCable {
    NamedCable {
        id: format!("{id}-net"),
        to: id.to_owned(),
        namespace: Arc::clone(namespace),
    }
}

/// What instance `id` in `namespace` is to use for `url` (a store, data,
/// bus, gateway or service URL): the same URL with every network address in
/// it replaced by a relay on the host's side of the cable, named
/// `{id}-{what}` (with `-2`, `-3`… for a list's further servers). A URL
/// with no network address (`memory`, `sqlite:…`) is kept.
///
/// # Errors
/// A Redis Cluster or TLS URL (neither can be relayed: a Cluster announces
/// its nodes' own addresses, a certificate names its host), a host that
/// does not resolve, or no port for a relay.
pub(crate) async fn reach(
    id: &str,
    what: &str,
    url: &str,
    namespace: &Namespace,
    links: &mut Links,
) -> Result<String, CmdError> {
    if !url.contains("://") {
        return Ok(url.to_owned());
    }
    let mut relayed = Vec::new();
    for (index, piece) in url.split(',').map(str::trim).enumerate() {
        let (mut parsed, bare) = parse(piece)?;
        if parsed.host_str().is_none_or(str::is_empty) {
            // A path (`sqlite:///var/x`), not an address.
            relayed.push(piece.to_owned());
            continue;
        }
        let target = links::resolve(&parsed, what, "--netns").await?;
        let listen = SocketAddr::new(IpAddr::V4(namespace.host_addr()), 0);
        // Only the instance may use it: the host's side of the pair is an
        // address other machines on the network could reach.
        let instance = IpAddr::V4(namespace.inner_addr());
        let link = Link::start_for(listen, target, instance)
            .await
            .map_err(|e| {
                CmdError::Runtime(format!(
                    "--netns: no relay for {what} on {}: {e}",
                    listen.ip()
                ))
            })?;
        let addr = link.addr();
        // Every URL here has a host, so both are accepted.
        let _ = parsed.set_ip_host(addr.ip());
        let _ = parsed.set_port(Some(addr.port()));
        relayed.push(if bare {
            addr.to_string()
        } else {
            parsed.into()
        });
        links.push(NamedLink {
            id: match index {
                0 => format!("{id}-{what}"),
                n => format!("{id}-{what}-{}", n + 1),
            },
            from: id.to_owned(),
            to: what.to_owned(),
            link,
        });
    }
    Ok(relayed.join(","))
}

/// `piece` as a URL, and whether it was a bare `host:port` (a NATS list's
/// second server may be).
fn parse(piece: &str) -> Result<(url::Url, bool), CmdError> {
    let bare = !piece.contains("://");
    let full = if bare {
        format!("tcp://{piece}")
    } else {
        piece.to_owned()
    };
    let parsed = url::Url::parse(&full)
        // Never the URL itself: it may hold a password.
        .map_err(|e| {
            CmdError::Usage(format!(
                "--netns: a store, data or bus URL does not read: {e}"
            ))
        })?;
    let scheme = parsed.scheme();
    if scheme.contains("cluster")
        || scheme.contains("sentinel")
        || scheme.starts_with("rediss")
        || scheme == "https"
    {
        return Err(CmdError::Usage(format!(
            "--netns: a {scheme}:// store cannot be reached from a namespace (a Redis Cluster \
             and Sentinel announce their nodes' own addresses, a TLS certificate names its \
             host); use --links without --netns"
        )));
    }
    Ok((parsed, bare))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn relayable_addresses_are_read_and_the_rest_refused() {
        for (piece, bare) in [
            ("redis://:pw@127.0.0.1:6390/2", false),
            ("postgres://u:p@localhost/db", false),
            ("127.0.0.1:4223", true),
        ] {
            assert!(matches!(parse(piece), Ok((_, b)) if b == bare), "{piece}");
        }
        for refused in [
            "redis+cluster://127.0.0.1:7000",
            "redis+sentinel://127.0.0.1:26379",
            "rediss://host:6380",
            "https://x",
        ] {
            assert!(parse(refused).is_err(), "{refused}");
        }
    }
}
