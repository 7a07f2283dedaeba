//! `statecraft handover`: an instance about to stop gives the sessions it
//! holds in memory to its peers — a Kubernetes `preStop` hook's job, where
//! no statecraft gateway drains it. The balancer in front (an Ingress's
//! cookie affinity) re-pins its clients to a peer it picks, not one we can
//! name, so every peer takes a copy; the copies nobody uses expire with
//! their idle timeout. A first copy of all, a pause while the orchestrator
//! takes the instance out of the endpoints (requests still arriving change
//! sessions), then what changed meanwhile: the fresher copy wins.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::{CmdError, parse_duration, runtime};

/// Flags of `statecraft handover`. The hand-over token comes from
/// STATECRAFT_HANDOVER_TOKEN, the instances' own.
#[derive(Debug, clap::Args)]
pub(crate) struct Cmd {
    /// The instance whose sessions go (default: the one on this host, at
    /// STATECRAFT_LISTEN's port).
    #[arg(long)]
    from: Option<String>,

    /// A DNS name and port that resolves to every peer (a headless
    /// Service: statecraft-peers:8080); each address takes a copy.
    #[arg(long, env = "STATECRAFT_HANDOVER_PEERS")]
    peers: Option<String>,

    /// A peer by its URL (repeat for each), beside or instead of --peers.
    #[arg(long = "to")]
    to: Vec<String>,

    /// This instance's own address, left out of --peers' (the pod's IP,
    /// from the downward API).
    #[arg(long, env = "STATECRAFT_POD_IP")]
    self_ip: Option<IpAddr>,

    /// The hand-over token of the instances (never a flag: `ps` shows
    /// flags).
    #[arg(skip = std::env::var("STATECRAFT_HANDOVER_TOKEN").ok())]
    token: Option<String>,

    /// Where this instance listens (for the default --from).
    #[arg(long, env = "STATECRAFT_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// How long to wait, after the first copy, for the balancer to stop
    /// sending requests here before the changes follow.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    settle: Duration,
}

/// Sessions per import: each body well under an instance's 64 KiB limit
/// (the gateway's hand-over sends as many).
const BATCH: usize = 100;
/// How long one export or import may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the whole hand-over may take: within a pod's grace period (45 s
/// in deploy/k8s), leaving the server its own drain.
const DEADLINE: Duration = Duration::from_secs(20);
/// How long the peers' name may take to resolve.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);
/// The largest answer read (an export of 100,000 sessions is ~30 MB).
const MAX_ANSWER: usize = 64 << 20;

/// Hands the sessions over; fails when no peer took them.
pub(crate) fn run(cmd: Cmd) -> Result<(), CmdError> {
    let token = cmd.token.clone().ok_or_else(|| {
        CmdError::Usage(
            "no STATECRAFT_HANDOVER_TOKEN in the environment: the instances' hand-over token \
             (serve takes the same variable)"
                .to_owned(),
        )
    })?;
    let from = match &cmd.from {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("http://127.0.0.1:{}", cmd.listen.port()),
    };
    let hand_over = async {
        let client = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            // The token never goes to an HTTP proxy of the environment.
            .no_proxy()
            .build()
            .map_err(|e| CmdError::Runtime(e.to_string()))?;
        let calls = Calls { client, token };
        // First whether there is anything to give: the same hook serves
        // every strategy's Deployment, the last pod's too.
        let Some((since, sessions)) = calls.export(&from, 0).await? else {
            eprintln!("{from} keeps its sessions in a shared store: nothing to hand over");
            return Ok(());
        };
        let peers = peers(&cmd).await?;
        if peers.is_empty() {
            return Err(CmdError::Runtime(format!(
                "no peer to take the {} sessions ({}): they stop with this instance",
                sessions.len(),
                match &cmd.peers {
                    Some(name) => format!("{name} resolved to no address but this one's"),
                    None => "give --peers HOST:PORT or --to URL".to_owned(),
                }
            )));
        }
        let mut took = calls.give(&peers, &sessions).await;
        tokio::time::sleep(cmd.settle).await;
        let (_, changed) = calls.export(&from, since).await?.unwrap_or_default();
        let changes_took = calls.give(&peers, &changed).await;
        took.retain(|peer| changes_took.contains(peer));
        if took.is_empty() {
            return Err(CmdError::Runtime(format!(
                "no peer took the {} sessions of {from} (each peer's cause above): the peers \
                 need the same STATECRAFT_HANDOVER_TOKEN as this instance",
                sessions.len()
            )));
        }
        eprintln!(
            "handed sessions: {} (then {} changed) from {from} to {}",
            sessions.len(),
            changed.len(),
            took.join(", ")
        );
        Ok(())
    };
    runtime()?.block_on(async {
        tokio::time::timeout(DEADLINE, hand_over)
            .await
            .unwrap_or_else(|_| {
                Err(CmdError::Runtime(format!(
                    "the hand-over did not finish within {DEADLINE:?}: the sessions not yet \
                     given stop with this instance"
                )))
            })
    })
}

/// The peers' base URLs: `--to`'s, and each address `--peers` resolves
/// to but this instance's own.
async fn peers(cmd: &Cmd) -> Result<Vec<String>, CmdError> {
    let mut out: Vec<String> = cmd
        .to
        .iter()
        .map(|url| url.trim_end_matches('/').to_owned())
        .collect();
    if let Some(name) = &cmd.peers {
        let resolved = tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host(name.as_str()))
            .await
            .unwrap_or_else(|_| Err(std::io::Error::other("no answer in time")));
        let addresses = resolved.map_err(|e| {
            CmdError::Runtime(format!(
                "--peers {name}: cannot resolve it ({e}); give HOST:PORT of a headless Service"
            ))
        })?;
        for addr in addresses {
            let url = format!("http://{addr}");
            if Some(addr.ip()) != cmd.self_ip && !out.contains(&url) {
                out.push(url);
            }
        }
    }
    Ok(out)
}

/// The instances' internal session routes, with the hand-over token.
struct Calls {
    client: reqwest::Client,
    token: String,
}

impl Calls {
    /// The sessions `from` holds, used since `since` (ms), and its clock;
    /// `None` when its sessions are in a shared store.
    async fn export(&self, from: &str, since: u64) -> Result<Option<(u64, Vec<Value>)>, CmdError> {
        let failed = |e: String| {
            CmdError::Runtime(format!(
                "{from}: cannot export its sessions: {e} (is the instance running there? --from \
                 names it, by default 127.0.0.1 at STATECRAFT_LISTEN's port)"
            ))
        };
        let answer = self
            .call(
                self.client
                    .get(format!("{from}/_internal/sessions?since={since}")),
            )
            .await;
        let mut body = match answer {
            Ok(body) => body,
            // The instance's answer for a store with no hand-over to do.
            Err(err) if err.contains("does no session hand-over") => return Ok(None),
            Err(err) => return Err(failed(err)),
        };
        let now = body["nowMs"].as_u64().unwrap_or_else(now_ms);
        match body["sessions"].take() {
            Value::Array(sessions) => Ok(Some((now, sessions))),
            _ => Err(failed("an answer without sessions".to_owned())),
        }
    }

    /// Gives `sessions` to every peer; those that took them all (the
    /// others are reported).
    async fn give(&self, peers: &[String], sessions: &[Value]) -> Vec<String> {
        let mut took = Vec::new();
        for peer in peers {
            match self.import(peer, sessions).await {
                Ok(()) => took.push(peer.clone()),
                Err(err) => eprintln!("{peer}: did not take the sessions: {err}"),
            }
        }
        took
    }

    async fn import(&self, peer: &str, sessions: &[Value]) -> Result<(), String> {
        for batch in sessions.chunks(BATCH) {
            let request = self
                .client
                .post(format!("{peer}/_internal/sessions"))
                .json(&json!({ "sessions": batch }));
            // A statecraft instance says how many it took (a held session
            // is kept when fresher): an answer without the count is not one.
            if self.call(request).await?["imported"].as_u64().is_none() {
                return Err("not a statecraft instance's answer (no imported count)".to_owned());
            }
        }
        Ok(())
    }

    /// One authorized call; its JSON answer when it succeeded.
    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Value, String> {
        let mut response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if bytes.len() + chunk.len() > MAX_ANSWER {
                return Err(format!("an answer over {} MB", MAX_ANSWER >> 20));
            }
            bytes.extend_from_slice(&chunk);
        }
        let body: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let message = body["error"].as_str().unwrap_or("no message");
        match status.as_u16() {
            200..=299 => Ok(body),
            403 => Err(format!(
                "{status}: {message} (give the hook and every instance the same \
                 STATECRAFT_HANDOVER_TOKEN)"
            )),
            404 if message == "Route not found" => Err(format!(
                "{status}: the instance has no hand-over routes (start serve with \
                 STATECRAFT_HANDOVER_TOKEN set)"
            )),
            _ => Err(format!("{status}: {message}")),
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
