//! The network links of a cluster (`statecraft cluster --links`): one in
//! front of each instance (gateway → instance) and one between each instance
//! and the shared store (instance → store), listed at `GET /_cluster/links`
//! and given their faults at run time with `PUT /_cluster/links/{id}` — a
//! partition, a distance, a slow line, set by the lab or by hand.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use statecraft_link::netns::Namespace;
use statecraft_link::{Faults, Link, Toward};

use crate::Gateway;
use crate::error::GatewayError;

/// The longest delay a link may add each way: a minute is already a
/// partition; more is a typo.
const MAX_DELAY_MS: f64 = 60_000.0;

/// One named link of a cluster.
#[derive(Debug)]
pub struct NamedLink {
    /// Its name: the instance's (`server-2`), or the instance's with
    /// `-store` for its way to the shared store (`server-2-store`).
    pub id: String,
    /// The part that connects through it (`gateway`, `server-2`).
    pub from: String,
    /// The part it leads to (`server-2`, `store`).
    pub to: String,
    /// The link itself.
    pub link: Link,
}

/// The cable of an instance in its own network namespace
/// (`statecraft cluster --netns`): the veth pair that is its only way to
/// anything, which can only be pulled (`down`) or plugged back.
#[derive(Debug)]
pub struct NamedCable {
    /// Its name: the instance's with `-net` (`server-2-net`).
    pub id: String,
    /// The instance at its far end.
    pub to: String,
    /// The namespace and its pair.
    pub namespace: Arc<Namespace>,
}

/// A cluster's links and cables, by name.
#[derive(Debug, Default)]
pub struct Links {
    relays: Vec<NamedLink>,
    cables: Vec<NamedCable>,
}

impl Links {
    /// No links.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `link`.
    pub fn push(&mut self, link: NamedLink) {
        self.relays.push(link);
    }

    /// Adds `cable`.
    pub fn push_cable(&mut self, cable: NamedCable) {
        self.cables.push(cable);
    }

    fn find(&self, id: &str) -> Option<Found<'_>> {
        let relay = self.relays.iter().find(|l| l.id == id).map(Found::Relay);
        relay.or_else(|| self.cables.iter().find(|c| c.id == id).map(Found::Cable))
    }
}

/// A link or a cable, found by name.
#[derive(Clone, Copy)]
enum Found<'a> {
    Relay(&'a NamedLink),
    Cable(&'a NamedCable),
}

/// One direction's faults, as the API writes them.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
struct TowardBody {
    latency_ms: f64,
    jitter_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes_per_second: Option<u64>,
}

/// A link's faults, as the API writes them; a field left out is no fault.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
struct FaultsBody {
    upstream: TowardBody,
    downstream: TowardBody,
    blackhole: bool,
    slow_close_ms: f64,
    down: bool,
}

/// A body of faults: a JSON object of [`FaultsBody`]'s fields in range (a
/// JSON array, which serde would also read as the struct, is not one).
fn parse_faults(body: &[u8]) -> Option<Faults> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    if !value.is_object() {
        return None;
    }
    serde_json::from_value::<FaultsBody>(value)
        .ok()?
        .to_faults()
}

fn millis(ms: f64) -> Option<Duration> {
    (ms.is_finite() && (0.0..=MAX_DELAY_MS).contains(&ms))
        .then(|| Duration::from_secs_f64(ms / 1e3))
}

fn as_ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl TowardBody {
    fn to_faults(self) -> Option<Toward> {
        Some(Toward {
            latency: millis(self.latency_ms)?,
            jitter: millis(self.jitter_ms)?,
            bandwidth: match self.bytes_per_second {
                Some(0) => return None,
                other => other,
            },
        })
    }

    fn of(t: Toward) -> Self {
        Self {
            latency_ms: as_ms(t.latency),
            jitter_ms: as_ms(t.jitter),
            bytes_per_second: t.bandwidth,
        }
    }
}

impl FaultsBody {
    fn to_faults(self) -> Option<Faults> {
        Some(Faults {
            upstream: self.upstream.to_faults()?,
            downstream: self.downstream.to_faults()?,
            blackhole: self.blackhole,
            slow_close: millis(self.slow_close_ms)?,
            down: self.down,
        })
    }

    fn of(f: Faults) -> Self {
        Self {
            upstream: TowardBody::of(f.upstream),
            downstream: TowardBody::of(f.downstream),
            blackhole: f.blackhole,
            slow_close_ms: as_ms(f.slow_close),
            down: f.down,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LinkView<'a> {
    id: &'a str,
    /// `relay` (a userspace link with every fault) or `veth` (a cable:
    /// only `down`).
    kind: &'static str,
    from: &'a str,
    to: &'a str,
    /// Where `from` connects.
    listen: String,
    faults: FaultsBody,
}

#[derive(Serialize)]
struct LinksView<'a> {
    links: Vec<LinkView<'a>>,
}

fn view(found: Found<'_>) -> LinkView<'_> {
    match found {
        Found::Relay(named) => LinkView {
            id: &named.id,
            kind: "relay",
            from: &named.from,
            to: &named.to,
            listen: named.link.addr().to_string(),
            faults: FaultsBody::of(named.link.faults()),
        },
        Found::Cable(cable) => LinkView {
            id: &cable.id,
            kind: "veth",
            from: "host",
            to: &cable.to,
            listen: cable.namespace.inner_addr().to_string(),
            faults: FaultsBody {
                down: cable.namespace.is_down(),
                ..FaultsBody::default()
            },
        },
    }
}

fn links_of(gateway: &Gateway) -> Result<&Links, GatewayError> {
    gateway.links.as_ref().ok_or_else(|| {
        GatewayError::NotFound(
            "This cluster runs without links: start it with `statecraft cluster --links`"
                .to_owned(),
        )
    })
}

/// `GET /_cluster/links`.
pub(crate) async fn list(State(gateway): State<Gateway>) -> Response {
    match links_of(&gateway) {
        Ok(links) => Json(LinksView {
            links: (links.relays.iter().map(Found::Relay))
                .chain(links.cables.iter().map(Found::Cable))
                .map(view)
                .collect(),
        })
        .into_response(),
        Err(err) => err.into_response(),
    }
}

/// `PUT /_cluster/links/{id}`: the link's faults become the body's (a
/// field left out is no fault, so `{}` heals it).
pub(crate) async fn set(
    State(gateway): State<Gateway>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let found = match authorized(&gateway, peer, &headers, &id) {
        Ok(found) => found,
        Err(err) => return err.into_response(),
    };
    let body = match crate::error::whole_body(body, "A link's faults are at most 4 KiB of JSON") {
        Ok(body) => body,
        Err(err) => return err.into_response(),
    };
    let Some(faults) = parse_faults(&body) else {
        return GatewayError::InvalidRequest(
            "The body is a link's faults: {\"upstream\": {\"latencyMs\", \"jitterMs\", \
             \"bytesPerSecond\"}, \"downstream\": {…}, \"blackhole\", \"slowCloseMs\", \"down\"}, \
             delays 0-60000 ms, bytesPerSecond at least 1 (API.md, Links)",
        )
        .into_response();
    };
    match found {
        Found::Relay(named) => named.link.set(faults),
        Found::Cable(cable) => {
            if faults
                != (Faults {
                    down: faults.down,
                    ..Faults::default()
                })
            {
                return GatewayError::InvalidRequest(
                    "A veth cable can only be pulled or plugged back: {\"down\": true} or {}; \
                     delays and blackholes are set on the relay links (API.md, Links)",
                )
                .into_response();
            }
            if let Err(err) = cable.namespace.set_down(faults.down).await {
                return GatewayError::ControlFailed(format!("Cable {id} unchanged: {err}"))
                    .into_response();
            }
        }
    }
    tracing::info!(link = %id, ?faults, "link faults set");
    Json(view(found)).into_response()
}

/// `POST /_cluster/links/{id}/reset`: every connection through it is cut
/// with a reset (new ones are carried).
pub(crate) async fn reset(
    State(gateway): State<Gateway>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match authorized(&gateway, peer, &headers, &id) {
        Ok(Found::Relay(named)) => {
            named.link.reset();
            tracing::info!(link = %id, "link connections cut");
            Json(view(Found::Relay(named))).into_response()
        }
        Ok(Found::Cable(_)) => GatewayError::InvalidRequest(
            "A veth cable cuts nothing with a reset; its relay links do (POST /_cluster/links/ID/reset)",
        )
        .into_response(),
        Err(err) => err.into_response(),
    }
}

/// The link or cable `id`, when the caller may control it.
fn authorized<'g>(
    gateway: &'g Gateway,
    peer: SocketAddr,
    headers: &HeaderMap,
    id: &str,
) -> Result<Found<'g>, GatewayError> {
    let listening = gateway.listening.get().copied();
    gateway.guard.authorize(listening, peer, headers)?;
    links_of(gateway)?.find(id).ok_or_else(|| {
        GatewayError::NotFound(format!("No link {id} (GET /_cluster/links lists them)"))
    })
}

#[cfg(test)]
mod tests {
    fn parse(body: &str) -> Option<statecraft_link::Faults> {
        super::parse_faults(body.as_bytes())
    }

    #[test]
    fn faults_are_read_whole_and_hostile_ones_refused() {
        let faults = parse(r#"{"upstream":{"latencyMs":1.5},"blackhole":true}"#);
        let faults = faults.unwrap_or_else(|| panic!("a valid body"));
        assert_eq!(faults.upstream.latency.as_micros(), 1500);
        assert!(faults.blackhole && !faults.down);
        assert_eq!(faults.downstream, statecraft_link::Toward::default());
        assert_eq!(parse("{}"), Some(statecraft_link::Faults::default()));
        for bad in [
            r#"{"upstream":{"latencyMs":-1}}"#,
            r#"{"upstream":{"latencyMs":1e300}}"#,
            r#"{"upstream":{"bytesPerSecond":0}}"#,
            r#"{"slowCloseMs":60001}"#,
            r#"{"blackhole":"yes"}"#,
            r#"{"partition":true}"#,
            "[]",
            "",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
