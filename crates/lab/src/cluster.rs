//! One strategy's cluster: `statecraft cluster` (a gateway and three
//! instances) as a child process, its log in a file, driven through the
//! gateway's `/_cluster` API.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, Command};

use crate::LabError;
use crate::strategy::Strategy;

/// How long a cluster may take to listen and have every instance healthy.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running cluster.
#[derive(Debug)]
pub(crate) struct Cluster {
    child: Child,
    /// Its gateway's API.
    pub(crate) api: ClusterApi,
}

/// The gateway of a running cluster: its address and its `/_cluster` API.
/// How a lab cluster's parts are joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// Each instance in its own network namespace behind a veth cable
    /// (`statecraft cluster --netns`): root on Linux.
    Netns,
    /// Links on loopback (`statecraft cluster --links`): anywhere.
    Loopback,
    /// A deployment's own network (`statecraft lab --target`): the lab
    /// started none of its parts.
    Deployed,
}

impl Network {
    /// The flag that asks `statecraft cluster` for it (none for a
    /// deployment's own network).
    fn flag(self) -> Option<&'static str> {
        match self {
            Self::Netns => Some("--netns"),
            Self::Loopback => Some("--links"),
            Self::Deployed => None,
        }
    }

    /// In a sentence, for the report.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::Netns => {
                "each instance in its own network namespace on its own address, joined to the \
                 host by a veth cable, reaching the gateway and the store through relay links on it"
            }
            Self::Loopback => {
                "links on loopback (relays in front of each instance and between each instance \
                 and the store; network namespaces need root on Linux)"
            }
            Self::Deployed => "the deployment's own (the lab started none of its parts)",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ClusterApi {
    /// The gateway's base URL.
    pub(crate) base: String,
    /// How many instances it runs.
    instances: usize,
    client: reqwest::Client,
}

/// What a cluster is made of.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape<'a> {
    /// The strategy it runs.
    pub(crate) strategy: Strategy,
    /// The shared store's spec, for the strategies that use one.
    pub(crate) shared_store: &'a str,
    /// Instances behind the gateway.
    pub(crate) instances: usize,
    /// The balancer in front of them (`statecraft cluster --balancer`).
    pub(crate) balancer: &'a str,
    /// How its parts are joined.
    pub(crate) network: Network,
    /// Flags for every instance.
    pub(crate) serve_args: &'a [&'a str],
}

impl Cluster {
    /// Starts the cluster `shape` describes, its services' data in `data`,
    /// its log (gateway and instances, prefixed) in `log`.
    pub(crate) async fn start(
        program: &Path,
        shape: Shape<'_>,
        data: &Path,
        log: PathBuf,
    ) -> Result<Self, LabError> {
        let Shape {
            strategy,
            shared_store,
            instances,
            balancer,
            network,
            serve_args,
        } = shape;
        let store = if strategy.uses_shared_store() {
            shared_store
        } else {
            "memory"
        };
        let mut child = Command::new(program)
            .args(["cluster", "--listen", "127.0.0.1:0"])
            .args(["--instances", &instances.to_string()])
            .args(["--balancer", balancer])
            .args(["--balance", strategy.balance()])
            // In the environment: a Redis URL may hold a password.
            .env("STATECRAFT_SESSION_STORE", store)
            .args([
                "--auth",
                if strategy.uses_tokens() {
                    "token"
                } else {
                    "session"
                },
            ])
            .arg("--data")
            .arg(format!("sqlite:{}", data.display()))
            // The load driver speaks plain HTTP to loopback.
            .arg("--insecure-cookies")
            .args(["--health-interval", "250ms"])
            // A link in front of each instance and between each instance
            // and the store (and, in namespaces, a cable to pull): the
            // network faults and the distance phase.
            .args(network.flag())
            .arg("--")
            .args(serve_args)
            .env("RUST_LOG", "warn,statecraft=info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Dropped unstopped (a cancelled run), it is asked to stop, not
            // killed: a killed cluster would leave its instances running.
            .kill_on_drop(false)
            .spawn()
            .map_err(|e| LabError::Setup(format!("cannot start {}: {e}", program.display())))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| LabError::Setup("no log from the cluster".to_owned()))?;
        let mut file = tokio::fs::File::create(&log)
            .await
            .map_err(|e| LabError::Setup(format!("cannot write {}: {e}", log.display())))?;
        let mut lines = BufReader::new(stderr).lines();
        let port = tokio::time::timeout(START_TIMEOUT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = file.write_all(format!("{line}\n").as_bytes()).await;
                // The gateway's line; the instances' lines start "[server-N]".
                if !line.starts_with('[')
                    && let Some(port) = statecraft_http::listening_port(&line)
                {
                    return Some(port);
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .ok_or_else(|| {
            LabError::Setup(format!(
                "the {} cluster did not start; its log is {}",
                strategy.id(),
                log.display()
            ))
        })?;
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = file.write_all(format!("{line}\n").as_bytes()).await;
            }
        });
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .no_proxy()
            .build()
            .map_err(|e| LabError::Setup(e.to_string()))?;
        let api = ClusterApi {
            base: format!("http://127.0.0.1:{port}"),
            instances,
            client,
        };
        api.wait_healthy(START_TIMEOUT).await?;
        Ok(Self { child, api })
    }

    /// Stops the cluster (SIGTERM: it stops its instances) and waits for it.
    pub(crate) async fn stop(mut self) {
        statecraft_http::stop_within(&mut self.child, Duration::from_secs(15)).await;
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Still running only when the run was dropped without `stop`.
        if matches!(self.child.try_wait(), Ok(None)) {
            statecraft_http::terminate(&self.child);
        }
    }
}

impl ClusterApi {
    /// The API of a gateway the lab did not start, at `base`, called with
    /// `client` (which carries any admin token).
    pub(crate) fn remote(base: String, client: reqwest::Client) -> Self {
        Self {
            base,
            instances: 0,
            client,
        }
    }

    /// The same API, expecting `instances` instances healthy.
    pub(crate) fn with_instances(self, instances: usize) -> Self {
        Self { instances, ..self }
    }

    /// `GET /_cluster`.
    pub(crate) async fn view(&self) -> Result<Value, String> {
        self.get("/_cluster").await
    }

    async fn get(&self, path: &str) -> Result<Value, String> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        if !status.is_success() {
            let body: Value = response.json().await.unwrap_or_default();
            let message = body["error"].as_str().unwrap_or("no message");
            return Err(format!("{status}: {message}"));
        }
        response.json().await.map_err(|e| e.to_string())
    }

    /// The instances the gateway reports healthy, and all of their URLs.
    pub(crate) async fn instances(&self) -> Result<Vec<(String, String, bool)>, String> {
        let view = self.view().await?;
        Ok(view["instances"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|i| {
                        (
                            i["id"].as_str().unwrap_or_default().to_owned(),
                            i["url"].as_str().unwrap_or_default().to_owned(),
                            i["healthy"] == true,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Waits until every instance is healthy; how long that took.
    pub(crate) async fn wait_healthy(&self, limit: Duration) -> Result<Duration, LabError> {
        let started = Instant::now();
        loop {
            if let Ok(list) = self.instances().await
                && list.len() == self.instances
                && list.iter().all(|(_, _, healthy)| *healthy)
            {
                return Ok(started.elapsed());
            }
            if started.elapsed() > limit {
                return Err(LabError::Setup(format!(
                    "the cluster's instances were not all healthy within {limit:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `POST /_cluster/instances/{id}/{action}` (stop: SIGKILL, start).
    pub(crate) async fn control(&self, id: &str, action: &str) -> Result<(), String> {
        let url = format!("{}/_cluster/instances/{id}/{action}", self.base);
        succeeded(self.client.post(url), &format!("{action} {id}")).await
    }

    /// The first instance's own URL (past the gateway), if it is listed.
    pub(crate) async fn first_instance(&self) -> Result<Option<String>, String> {
        let list = self.instances().await?;
        Ok(list
            .into_iter()
            .next()
            .map(|(_, url, _)| url.trim_end_matches('/').to_owned()))
    }

    /// Whether the gateway has instance `id` in rotation: healthy, and
    /// ready while any instance is (`None`: the gateway did not answer).
    pub(crate) async fn in_rotation(&self, id: &str) -> Option<bool> {
        let view = self.view().await.ok()?;
        let instance = view["instances"]
            .as_array()?
            .iter()
            .find(|i| i["id"] == id)?
            .clone();
        Some(instance["healthy"] == true && instance["ready"] == true)
    }

    /// The ids of the cluster's links to the store (`server-N-store`).
    pub(crate) async fn store_links(&self) -> Result<Vec<String>, String> {
        let view = self.get("/_cluster/links").await?;
        Ok(view["links"]
            .as_array()
            .map(|links| {
                links
                    .iter()
                    .filter(|l| l["to"] == "store")
                    .filter_map(|l| l["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `PUT /_cluster/links/{id}`: the link's faults become `faults`.
    pub(crate) async fn set_link(&self, id: &str, faults: &Value) -> Result<(), String> {
        let url = format!("{}/_cluster/links/{id}", self.base);
        succeeded(self.client.put(url).json(faults), &format!("link {id}")).await
    }

    /// [`ClusterApi::set_link`] on every link of `ids`, stopping at the
    /// first that fails.
    pub(crate) async fn set_links(&self, ids: &[String], faults: &Value) -> Result<(), String> {
        for id in ids {
            self.set_link(id, faults).await?;
        }
        Ok(())
    }

    /// `GET /_cluster/counters/{name}`.
    pub(crate) async fn counters(&self, name: &str) -> Result<Value, String> {
        self.get(&format!("/_cluster/counters/{name}")).await
    }
}

/// Sends a control call; `Ok` on a success status, else what failed.
async fn succeeded(request: reqwest::RequestBuilder, what: &str) -> Result<(), String> {
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body: Value = response.json().await.unwrap_or_default();
    match body["error"].as_str() {
        Some(message) => Err(format!("{what}: {status}: {message}")),
        None => Err(format!("{what}: {status}")),
    }
}
