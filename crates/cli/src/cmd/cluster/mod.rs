//! `statecraft cluster`: a gateway and N app instances (`server-1` …
//! `server-N`) as child processes on loopback, in one command. The instances
//! share the data directory, the signing keys and the state key, so what
//! differs between strategies is only where sessions and counters live.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use statecraft_gateway::{Gateway, InstanceControl, InstanceSpec, Links, Supervisor, UpstreamSpec};

mod balancer;
mod external;
mod links;
mod netns;
mod services;

use links::{Reached, StoreRoute, Wanted};

use super::control::ControlAccess;
use super::gateway::Balancing;

use super::shutdown_signal;
use super::{CmdError, runtime};

/// How long an instance may take to shut down: under the 10 s the cluster
/// gives a stopping instance before it kills it.
const INSTANCE_SHUTDOWN: &str = "8s";
/// Flags of `statecraft cluster`; each also reads `STATECRAFT_<FLAG>`.
#[derive(Debug, clap::Args)]
pub(crate) struct Cmd {
    /// Address the gateway listens on.
    #[arg(long, env = "STATECRAFT_LISTEN", default_value = "127.0.0.1:8000")]
    listen: SocketAddr,

    #[command(flatten)]
    timeouts: super::ClientTimeouts,

    /// How many app instances.
    #[arg(long, env = "STATECRAFT_INSTANCES", default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=16))]
    instances: u8,

    #[command(flatten)]
    balancing: Balancing,

    /// How often each instance's /readyz is checked.
    #[arg(long, env = "STATECRAFT_HEALTH_INTERVAL", default_value = "500ms", value_parser = super::parse_duration, allow_hyphen_values = true)]
    health_interval: Duration,

    /// Where sessions live (each instance's own memory by default).
    #[arg(long, env = "STATECRAFT_SESSION_STORE", default_value = "memory")]
    session_store: String,

    /// Where named counters live (default: as --session-store).
    #[arg(long, env = "STATECRAFT_COUNTER_STORE")]
    counter_store: Option<String>,

    /// The services' data, shared by every instance (sqlite:DIR or postgres://…).
    #[arg(
        long,
        env = "STATECRAFT_DATA",
        default_value = "sqlite:./statecraft-data"
    )]
    data: String,

    /// What POST /login issues: session or token.
    #[arg(long, env = "STATECRAFT_AUTH", default_value = "session")]
    auth: String,

    /// Send cookies without `Secure` (plain HTTP off loopback browsers).
    #[arg(long, env = "STATECRAFT_INSECURE_COOKIES")]
    insecure_cookies: bool,

    #[command(flatten)]
    control: ControlAccess,

    /// The balancer in front of the instances: the built-in gateway, or
    /// HAProxy or nginx (Debian's packages) from a configuration statecraft
    /// writes, the built-in gateway then serving the control routes behind
    /// it (docs/deploy.md).
    #[arg(
        long,
        value_enum,
        env = "STATECRAFT_BALANCER",
        default_value = "builtin"
    )]
    balancer: balancer::Balancer,

    /// Print the configuration of HAProxy or nginx in front of this
    /// cluster's instances (--balance round-robin, sticky or
    /// least-request), for a team to adapt, and exit: the instances at the
    /// ports after --listen's, the built-in gateway (the control routes)
    /// after theirs.
    #[arg(long, value_name = "haproxy|nginx", hide_possible_values = true)]
    print_config: Option<balancer::Balancer>,

    /// The lab's history: runs started on /lab (served by the gateway
    /// itself), one directory each.
    #[arg(long, env = "STATECRAFT_LAB_RESULTS", default_value = "lab-results")]
    lab_results: std::path::PathBuf,

    /// Run orders, inventory and notifications as their own processes behind
    /// the gateway's routes (/orders, /products, /inventory, /notifications,
    /// tokens checked at the edge), the instances reaching them remotely.
    /// Needs --events nats://….
    #[arg(long, env = "STATECRAFT_SEPARATE_SERVICES")]
    separate_services: bool,

    /// The services' event bus: memory (inside each instance) or nats://HOST:PORT.
    #[arg(long, env = "STATECRAFT_EVENTS", default_value = "memory")]
    events: String,

    /// Name of this cluster on a shared NATS (default: cluster-<pid>).
    #[arg(long, env = "STATECRAFT_EVENTS_NAMESPACE")]
    events_namespace: Option<String>,

    /// Put a network link in front of each instance and between each
    /// instance and a Redis session store, whose faults (distance,
    /// partition, slow line) are set at run time: PUT /_cluster/links/{id}.
    #[arg(long, env = "STATECRAFT_LINKS")]
    links: bool,

    /// Run each instance in its own network namespace, on its own address,
    /// joined to the host by a veth pair that can be pulled (PUT
    /// /_cluster/links/server-N-net {"down": true}); everything it reaches
    /// goes through relay links on that pair. Root on Linux; implies --links.
    #[arg(long, env = "STATECRAFT_NETNS")]
    netns: bool,

    /// More flags for every `statecraft serve` instance, after `--`.
    #[arg(last = true)]
    serve_args: Vec<String>,
}

/// A random 32-byte key as 64 hex digits.
fn random_hex_key() -> String {
    let key: [u8; 32] = rand::random();
    key.iter().map(|b| format!("{b:02x}")).collect()
}

impl Cmd {
    /// `serve`'s arguments for instance `id`, which finds the rest as
    /// `reached` says. Its stores are in [`Cmd::store_env`], not here.
    fn serve_args(&self, id: &str, reached: &Reached) -> Vec<String> {
        let mut args = vec![
            "serve".to_owned(),
            "--instance-id".to_owned(),
            id.to_owned(),
            "--auth".to_owned(),
            self.auth.clone(),
            // Every request comes through the gateway: the client is the
            // address it forwards.
            "--trusted-proxy".to_owned(),
            reached.trusted_proxy.to_string(),
        ];
        if let Some(urls) = &reached.services {
            for (flag, url) in ["--orders-url", "--inventory-url", "--notifications-url"]
                .into_iter()
                .zip(urls)
            {
                args.extend([flag.to_owned(), url.clone()]);
            }
        } else {
            args.extend([
                "--events".to_owned(),
                reached.events.clone(),
                "--events-namespace".to_owned(),
                self.namespace(),
            ]);
        }
        if self.insecure_cookies {
            args.push("--insecure-cookies".to_owned());
        }
        if !self
            .serve_args
            .iter()
            .any(|a| a.starts_with("--shutdown-timeout"))
        {
            args.extend([
                "--shutdown-timeout".to_owned(),
                INSTANCE_SHUTDOWN.to_owned(),
            ]);
        }
        args.extend(self.serve_args.iter().cloned());
        args
    }
}

/// The cluster's `--header-timeout` and `--body-timeout` for each child,
/// which is a process of its own: in the environment, so that one among the
/// pass-through serve flags still overrides it (a flag beats its variable;
/// a second flag would be refused).
fn timeouts_env() -> [(String, String); 2] {
    [
        (
            "STATECRAFT_HEADER_TIMEOUT".to_owned(),
            format!("{}ms", statecraft_http::header_timeout().as_millis()),
        ),
        (
            "STATECRAFT_BODY_TIMEOUT".to_owned(),
            format!("{}ms", statecraft_http::body_timeout().as_millis()),
        ),
    ]
}

impl Cmd {
    /// An instance's stores, in its environment: their URLs may hold
    /// passwords, and any user can read a command line with `ps` (a flag
    /// among the pass-through serve flags still beats its variable).
    fn store_env(reached: &Reached) -> Vec<(String, String)> {
        let mut env = vec![
            (
                "STATECRAFT_SESSION_STORE".to_owned(),
                reached.session_store.clone(),
            ),
            ("STATECRAFT_DATA".to_owned(), reached.data.clone()),
        ];
        if let Some(counters) = &reached.counter_store {
            env.push(("STATECRAFT_COUNTER_STORE".to_owned(), counters.clone()));
        }
        env
    }

    fn namespace(&self) -> String {
        self.events_namespace
            .clone()
            .unwrap_or_else(|| format!("cluster-{}", std::process::id()))
    }
}

/// Each instance's id and address as the gateway reaches it (through its
/// link, when it has one), for an external balancer.
fn instance_addresses(upstreams: &[UpstreamSpec]) -> Result<Vec<(String, SocketAddr)>, CmdError> {
    upstreams
        .iter()
        .map(|u| {
            let addr = u
                .url
                .authority()
                .and_then(|a| a.as_str().parse::<SocketAddr>().ok())
                .ok_or_else(|| CmdError::Runtime(format!("{} has no address: {}", u.id, u.url)))?;
            Ok((u.id.clone(), addr))
        })
        .collect()
}

/// Prints `kind`'s configuration for this cluster's shape: the instances on
/// the ports after --listen's, the built-in gateway after them.
fn print_config(cmd: &Cmd, kind: balancer::Balancer) -> Result<(), CmdError> {
    let spread = balancer::Spread::of(cmd.balancing.balance).map_err(CmdError::Usage)?;
    let at = |offset: u16| {
        cmd.listen
            .port()
            .checked_add(offset)
            .map(|port| SocketAddr::new(cmd.listen.ip(), port))
            .ok_or_else(|| CmdError::Usage(format!("--listen {}: no ports after it", cmd.listen)))
    };
    let instances = (1..=u16::from(cmd.instances))
        .map(|n| Ok((format!("server-{n}"), at(n)?)))
        .collect::<Result<Vec<_>, CmdError>>()?;
    let front = balancer::Front {
        listen: cmd.listen,
        instances: &instances,
        control: at(u16::from(cmd.instances) + 1)?,
        spread,
        health_interval: cmd.health_interval,
    };
    match kind {
        balancer::Balancer::Haproxy => print!("{}", balancer::haproxy(&front)),
        balancer::Balancer::Nginx => {
            print!(
                "{}",
                balancer::nginx(&front, std::path::Path::new("/var/lib/statecraft/nginx"))
            );
        }
        balancer::Balancer::Builtin => {
            return Err(CmdError::Usage(
                "--print-config writes haproxy's or nginx's configuration; the built-in gateway \
                 takes its flags"
                    .to_owned(),
            ));
        }
    }
    Ok(())
}

/// Runs the cluster until Ctrl-C or SIGTERM, then stops every instance.
pub(crate) fn run(cmd: Cmd) -> Result<(), CmdError> {
    if let Some(kind) = cmd.print_config {
        return print_config(&cmd, kind);
    }
    cmd.timeouts.apply();
    if cmd.separate_services && !cmd.events.starts_with("nats://") {
        return Err(CmdError::Usage(
            "--separate-services needs a shared bus: --events nats://HOST:PORT".to_owned(),
        ));
    }
    let service_ports = if cmd.separate_services {
        Some(services::free_ports().ok_or_else(|| {
            CmdError::Runtime("no free loopback port for the services".to_owned())
        })?)
    } else {
        None
    };
    let control_access = cmd.control.resolve()?;
    let program = super::own_binary()?;
    // Signed state tokens must verify on every instance: one key for all,
    // passed in the environment (never on a command line that `ps` shows).
    let state_key = random_hex_key();
    // And one token for moving sessions between them on a drain.
    let handover_token = random_hex_key();
    runtime()?.block_on(async move {
        let shutdown = shutdown_signal()?;
        // With HAProxy or nginx in front, the built-in gateway serves the
        // control routes behind it, on a loopback port of its own.
        let front = match cmd.balancer {
            balancer::Balancer::Builtin => None,
            kind => Some((
                kind,
                balancer::Spread::of(cmd.balancing.balance).map_err(CmdError::Usage)?,
                external::concrete(cmd.listen)?,
            )),
        };
        // Bound first: the instances are told where their gateway is (they
        // send it their logouts); it serves once they are all up.
        let gateway_listen = match front {
            Some(_) => SocketAddr::from(([127, 0, 0, 1], 0)),
            None => cmd.listen,
        };
        let (listener, local) = super::bind(gateway_listen).await?;
        let gateway_url = if local.ip().is_unspecified() {
            format!("http://127.0.0.1:{}", local.port())
        } else {
            format!("http://{local}")
        };
        let supervisor = Arc::new(Supervisor::new());
        let namespaces = if cmd.netns {
            netns::namespaces(cmd.instances)?
        } else {
            Vec::new()
        };
        let linked = cmd.links || cmd.netns;
        let store_route = if cmd.links && !cmd.netns {
            StoreRoute::of(&cmd.session_store).await?
        } else {
            None
        };
        let wanted = Wanted {
            session_store: &cmd.session_store,
            counter_store: cmd.counter_store.as_deref(),
            data: &cmd.data,
            events: &cmd.events,
            gateway: &gateway_url,
            services: service_ports,
        };
        let mut links = Links::new();
        let mut upstreams = Vec::new();
        // The instances' own addresses, past any link.
        let mut direct = Vec::new();
        let mut gateway_hosts = Vec::new();
        for n in 1..=cmd.instances {
            let id = format!("server-{n}");
            let namespace = namespaces.get(usize::from(n) - 1);
            let reached = wanted
                .reached(
                    &id,
                    store_route.as_ref(),
                    namespace.map(|ns| &**ns),
                    &mut links,
                )
                .await?;
            if let Some(ns) = namespace {
                links.push_cable(netns::cable(&id, ns));
                // The instance names the gateway by its relay's address.
                let host = reached.gateway.trim_start_matches("http://");
                gateway_hosts.push(host.trim_end_matches('/').to_owned());
            }
            let spec = InstanceSpec {
                id: id.clone(),
                program: program.clone(),
                args: cmd.serve_args(&id, &reached),
                env: [
                    ("STATECRAFT_STATE_KEY".to_owned(), state_key.clone()),
                    (
                        "STATECRAFT_HANDOVER_TOKEN".to_owned(),
                        handover_token.clone(),
                    ),
                    ("STATECRAFT_CLUSTER_URL".to_owned(), reached.gateway.clone()),
                ]
                .into_iter()
                .chain(Cmd::store_env(&reached))
                .chain(timeouts_env())
                .collect(),
                port: 0,
                netns: namespace.map(|ns| (ns.name().to_owned(), ns.inner_addr().into())),
            };
            let url = match supervisor.launch(spec).await {
                Ok(url) => url,
                Err(err) => {
                    supervisor.shutdown().await;
                    return Err(CmdError::Usage(err.to_string()));
                }
            };
            direct.push(url.clone());
            let url = if linked {
                let instance = url
                    .trim_start_matches("http://")
                    .parse()
                    .map_err(|_| CmdError::Runtime(format!("{id} listens on no address: {url}")))?;
                let (link, through) = links::gateway_link(&id, instance).await?;
                links.push(link);
                through
            } else {
                url
            };
            let spec = UpstreamSpec::parse(&format!("{id}={url}"), usize::from(n))
                .map_err(CmdError::Runtime)?;
            upstreams.push(spec);
        }
        let (routes, jwks) = match (direct.first(), service_ports) {
            (Some(first), Some(ports)) => {
                match services::start(&cmd, &supervisor, &program, ports, first).await {
                    Ok(started) => started,
                    Err(err) => {
                        supervisor.shutdown().await;
                        return Err(err);
                    }
                }
            }
            _ => (Vec::new(), None),
        };
        let mut config = cmd.balancing.config(upstreams);
        config.routes = routes;
        config.jwks_url = jwks;
        config.health_interval = cmd.health_interval;
        config.insecure_cookies = cmd.insecure_cookies;
        let lab_guard = control_access.guard();
        control_access.apply(&mut config);
        config.public_hosts.extend(gateway_hosts);
        config.handover_token = Some(handover_token);
        // Never the raw URL: it may hold a password.
        let shown_store = cmd
            .session_store
            .parse::<statecraft_state::StoreSpec>()
            .map_or_else(|e| e.to_string(), |spec| spec.to_string());
        let balancer = match front {
            Some((kind, spread, public)) => {
                let instances = instance_addresses(&config.upstreams)?;
                let shape = balancer::Front {
                    listen: public,
                    instances: &instances,
                    control: local,
                    spread,
                    health_interval: cmd.health_interval,
                };
                let started = external::External::start(kind, &shape).await;
                let started = match started {
                    Ok(started) => started,
                    Err(err) => {
                        supervisor.shutdown().await;
                        return Err(err);
                    }
                };
                // Its Host is this cluster's too.
                config.public_hosts.push(public.to_string());
                Some((started, public))
            }
            None => None,
        };
        let public = balancer.as_ref().map_or(local, |(_, public)| *public);
        tracing::info!(
            instances = cmd.instances,
            balance = cmd.balancing.balance.as_str(),
            balancer = ?cmd.balancer,
            session_store = %shown_store,
            "listening on http://{public}"
        );
        let control: Arc<dyn InstanceControl> = supervisor.clone();
        // The lab's routes are the gateway's own: a run outlives any instance.
        let mut lab_guard = lab_guard;
        lab_guard.public_hosts.clone_from(&config.public_hosts);
        let (lab, lab_routes) = super::control::server_lab(&cmd.lab_results, lab_guard)?;
        lab.listening_on(local);
        let gateway = Gateway::new(config, Some(control))
            .with_links(links)
            .with_own_routes("/lab/", lab_routes.router);
        let told = lab.clone();
        let shutdown = async move {
            shutdown.await;
            told.begin_shut_down();
        };
        let served = statecraft_gateway::serve(listener, gateway, shutdown).await;
        if let Some((balancer, _)) = balancer {
            balancer.stop().await;
        }
        lab.shut_down().await;
        supervisor.shutdown().await;
        // Each namespace goes once its instance has stopped (the gateway
        // held the other reference).
        drop(namespaces);
        tracing::info!("stopped");
        served.map_err(|e| CmdError::Runtime(format!("gateway failed: {e}")))
    })
}
