//! `statecraft lab`: every state strategy on a real local cluster, the same
//! load and faults, measured side by side.

use std::path::PathBuf;
use std::time::Duration;

use statecraft_lab::{Deployment, EventOutput, LabConfig, RunSpec, StoreChoice, Strategy};

use super::{CmdError, runtime};

/// Flags of `statecraft lab`.
#[derive(Debug, clap::Args)]
pub(crate) struct Cmd {
    /// The short run (about 2 minutes on 2 cores instead of about 7).
    #[arg(long)]
    quick: bool,

    /// The history: each run goes to a directory of its own under it
    /// (results.json, report.html, spec.json, plan.json, logs).
    #[arg(long, env = "STATECRAFT_LAB_OUT", default_value = "lab-results")]
    out: PathBuf,

    /// Start from this preset: article (default), another-zone,
    /// rolling-restart, big-sessions, glance.
    #[arg(long, env = "STATECRAFT_LAB_PRESET")]
    preset: Option<String>,

    /// A run's spec as JSON, `-` for stdin (docs/lab.md; a run's spec.json
    /// runs it again); the flags given beside it change it.
    #[arg(long, env = "STATECRAFT_LAB_SPEC")]
    spec: Option<PathBuf>,

    /// A Redis for the shared-store strategy (cut off briefly through a
    /// link as a fault); by default the lab starts its own redis-server.
    #[arg(long, env = "STATECRAFT_LAB_REDIS", hide_env_values = true)]
    redis: Option<String>,

    /// The balancer in front of each cluster's instances: builtin (default),
    /// haproxy or nginx (`statecraft cluster --balancer`).
    #[arg(long, env = "STATECRAFT_LAB_BALANCER")]
    balancer: Option<String>,

    /// Round-trip times between the instances and the store for the
    /// distance phase, e.g. 0,0.5ms,2ms,10ms (default: 0,2ms quick;
    /// 0,0.5ms,2ms,10ms full).
    #[arg(long, env = "STATECRAFT_LAB_STORE_RTT", value_delimiter = ',', value_parser = parse_rtt)]
    store_rtt: Vec<Duration>,

    /// Join the clusters' parts with links on loopback even where each
    /// instance could have its own network namespace (root on Linux).
    #[arg(long, env = "STATECRAFT_LAB_LOOPBACK")]
    loopback: bool,

    /// Also write each progress event to stdout as a JSON line (what the
    /// server's /lab page reads).
    #[arg(long, value_enum, default_value = "terminal")]
    events: Events,

    /// The strategies to run, in this order (ids: memory-round-robin,
    /// memory-sticky, shared-store, stateless-tokens); with --target, the
    /// journeys to drive (sessions or tokens) and what to expect.
    #[arg(long, env = "STATECRAFT_LAB_STRATEGIES", value_delimiter = ',', value_parser = parse_strategy)]
    strategies: Vec<Strategy>,

    /// Drive a deployment the lab did not start, at this base URL
    /// (http://host:port), instead of clusters of its own: the faults its
    /// control API allows, the rest skipped and said so (docs/deploy.md).
    #[arg(
        long,
        env = "STATECRAFT_LAB_TARGET",
        conflicts_with_all = ["balancer", "redis", "loopback"]
    )]
    target: Option<String>,

    /// A file whose first line is the target's admin token, for its control
    /// API from another host (`statecraft cluster --admin-token-file`).
    #[arg(
        long,
        env = "STATECRAFT_LAB_TARGET_ADMIN_TOKEN_FILE",
        requires = "target"
    )]
    target_admin_token_file: Option<PathBuf>,

    /// The run's id (the server names its runs; by default a new one).
    #[arg(long, hide = true)]
    run_id: Option<String>,
}

/// Where progress events go.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Events {
    /// Lines for a person on stderr.
    Terminal,
    /// JSON lines on stdout too.
    Json,
}

/// A strategy by its id.
fn parse_strategy(s: &str) -> Result<Strategy, String> {
    serde_json::from_value(serde_json::Value::String(s.trim().to_owned())).map_err(|_| {
        format!(
            "{s}: not a strategy (memory-round-robin, memory-sticky, shared-store, \
             stateless-tokens)"
        )
    })
}

/// The deployment `--target` names, with its admin token read from its file.
fn target_of(cmd: &Cmd) -> Result<Option<Deployment>, CmdError> {
    let Some(url) = &cmd.target else {
        return Ok(None);
    };
    let token = cmd
        .target_admin_token_file
        .as_deref()
        .map(|path| super::control::token_from_file(path, "--target-admin-token-file"))
        .transpose()?;
    Deployment::new(url, token)
        .map(Some)
        .map_err(CmdError::Usage)
}

/// A round-trip time: `0`, or a duration such as `500us`, `0.5ms` or
/// `2ms`, up to a second (a store farther away is down, not distant).
fn parse_rtt(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let rtt = match s.strip_suffix("ms").map(str::parse::<f64>) {
        Some(Ok(ms)) if ms.is_finite() && ms >= 0.0 => Duration::from_secs_f64(ms / 1e3),
        Some(_) => return Err(format!("{s} is not a round-trip time (e.g. 0, 0.5ms, 2ms)")),
        None if s == "0" => Duration::ZERO,
        None => super::parse_duration(s)?,
    };
    if rtt > Duration::from_secs(1) {
        return Err(format!(
            "{s}: at most 1s (a store farther away is down, not distant)"
        ));
    }
    Ok(rtt)
}

/// The spec the flags ask for: the file's (`-`: stdin's), the preset's,
/// then the flags.
fn spec_of(cmd: &Cmd) -> Result<RunSpec, CmdError> {
    let mut spec = match &cmd.spec {
        Some(path) => {
            let text = if path.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())
            } else {
                std::fs::read_to_string(path)
            }
            .map_err(|e| {
                CmdError::Usage(format!("--spec {}: cannot read it ({e})", path.display()))
            })?;
            serde_json::from_str(&text).map_err(|e| {
                CmdError::Usage(format!(
                    "--spec {}: not a run spec ({e}); docs/lab.md shows one",
                    path.display()
                ))
            })?
        }
        None => RunSpec::default(),
    };
    if cmd.preset.is_some() {
        spec.preset.clone_from(&cmd.preset);
    }
    if spec.full.is_none() || cmd.quick {
        spec.full = Some(!cmd.quick);
    }
    if !cmd.strategies.is_empty() {
        spec.strategies = Some(cmd.strategies.clone());
    } else if cmd.target.is_some() && spec.strategies.is_none() {
        // A deployment runs one strategy, which the lab cannot see (a
        // preset's strategies are its own clusters'): its journeys are
        // sessions or tokens, both unless told which.
        eprintln!(
            "lab: --target without --strategies: driving session journeys (shared-store) and \
             token journeys (stateless-tokens); name the strategy the deployment runs with \
             --strategies (memory-round-robin, memory-sticky, shared-store, stateless-tokens)"
        );
        spec.strategies = Some(vec![Strategy::SharedStore, Strategy::StatelessTokens]);
    }
    if cmd.balancer.is_some() {
        spec.balancer.clone_from(&cmd.balancer);
    }
    if let Some(url) = &cmd.redis {
        spec.store = Some(StoreChoice::Url(url.clone()));
    }
    if !cmd.store_rtt.is_empty() {
        spec.store_rtt_ms = Some(
            cmd.store_rtt
                .iter()
                .map(|d| d.as_secs_f64() * 1e3)
                .collect(),
        );
    }
    spec.plan()
        .map_err(|e| CmdError::Usage(format!("the run's spec: {e}")))?;
    Ok(spec)
}

/// Completes when the run is to stop: a signal, or the reader of its JSON
/// events gone (the server that started it stopped or died); why.
async fn cancelled(signal: impl std::future::Future<Output = ()>) -> &'static str {
    let gone = async {
        while !statecraft_lab::reader_gone() {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    tokio::select! {
        () = signal => "a signal",
        () = gone => "the server reading its events is gone",
    }
}

/// Waits until this process has no child left (ended ones reaped), at
/// most `limit`.
async fn wait_for_children(limit: Duration) {
    let started = std::time::Instant::now();
    while statecraft_http::children_of(std::process::id()).is_some_and(|c| !c.is_empty())
        && started.elapsed() < limit
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs the lab and prints its table and the seed's figures. SIGTERM or
/// Ctrl-C cancels it: what it started is stopped as the run is dropped.
pub(crate) fn run(cmd: Cmd) -> Result<(), CmdError> {
    let program = super::own_binary()?;
    let spec = spec_of(&cmd)?;
    let target = target_of(&cmd)?;
    let id = match cmd.run_id.clone() {
        Some(id) if statecraft_lab::is_run_id(&id) => id,
        Some(id) => return Err(CmdError::Usage(format!("--run-id {id}: not a run id"))),
        None => statecraft_lab::new_run_id(),
    };
    let dir = cmd.out.join(&id);
    let config = LabConfig {
        program,
        dir: dir.clone(),
        id,
        spec,
        loopback: cmd.loopback,
        target,
        events: match cmd.events {
            Events::Terminal => EventOutput::Terminal,
            Events::Json => EventOutput::Json,
        },
    };
    let results = runtime()?.block_on(async {
        let stop = super::shutdown_signal()?;
        tokio::select! {
            results = statecraft_lab::run(config) => {
                results.map_err(|e| CmdError::Runtime(e.to_string()))
            }
            why = cancelled(stop) => {
                // The run is dropped: its clusters are asked to stop, its
                // stores killed. Waiting for them here (the runtime reaps
                // them) leaves neither a process nor a zombie behind.
                wait_for_children(Duration::from_secs(15)).await;
                Err(CmdError::Runtime(format!(
                    "the lab run was cancelled ({why}): what it started is stopped, its \
                     directory left without results"
                )))
            }
        }
    })?;
    let summary = format!(
        "\n{}\n{}\n{}\nWrote {} and {} ({:.0} s in all).\n",
        statecraft_lab::table(&results),
        statecraft_lab::findings_text(&results),
        statecraft_lab::seed_lines(&results),
        dir.join("results.json").display(),
        dir.join("report.html").display(),
        results.total_seconds
    );
    // With JSON events, stdout carries events alone.
    match cmd.events {
        Events::Terminal => print!("{summary}"),
        Events::Json => eprint!("{summary}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn round_trip_times_read_as_people_write_them() {
        for (given, micros) in [
            ("0", 0),
            ("0.5ms", 500),
            ("2ms", 2_000),
            ("500us", 500),
            ("1s", 1_000_000),
        ] {
            assert_eq!(
                super::parse_rtt(given),
                Ok(Duration::from_micros(micros)),
                "{given}"
            );
        }
        for bad in ["-1ms", "fast", "2", "1.5s", "NaNms", "infms", "2s"] {
            assert!(super::parse_rtt(bad).is_err(), "{bad}");
        }
    }
}
