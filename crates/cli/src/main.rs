//! `statecraft`: one binary for the API server and its tools. This file parses
//! the command line and hands over to the subcommand; the work lives in the
//! library crates.

mod cmd;
mod logging;
mod usage;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Runs one web application with its state kept every way at once, and measures
/// what each way costs.
#[derive(Debug, Parser)]
#[command(name = "statecraft", version, arg_required_else_help = true)]
struct Cli {
    /// Log format: human-readable lines or one JSON object per line.
    #[arg(
        long,
        global = true,
        env = "STATECRAFT_LOG_FORMAT",
        default_value = "human"
    )]
    log_format: logging::LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the API server and web UI.
    Serve(Box<cmd::serve::Cmd>),
    /// Estimates or measures memory for session state (M_total = N × S).
    Capacity(cmd::capacity::Cmd),
    /// Manages the access-token signing keys.
    Keys(cmd::keys::Cmd),
    /// Runs one service alone: users, orders, inventory or notifications.
    Service(cmd::service::Cmd),
    /// Runs the gateway: balances app instances, checks their health, fails over.
    Gateway(cmd::gateway::Cmd),
    /// Runs a gateway and N app instances as child processes on loopback.
    Cluster(Box<cmd::cluster::Cmd>),
    /// Runs every state strategy with the same load and faults and reports
    /// the costs side by side.
    Lab(cmd::lab::Cmd),
    /// Runs a TCP link in front of one part, adding a distance (round-trip
    /// time, jitter) or a bandwidth limit.
    Link(cmd::link::Cmd),
    /// Asks a server on this host whether it is up (exit code 0) or not
    /// (1): a container's health check.
    Healthcheck(cmd::healthcheck::Cmd),
    /// Gives the sessions an instance holds in memory to its peers before
    /// it stops (a Kubernetes preStop hook; the token from
    /// STATECRAFT_HANDOVER_TOKEN).
    Handover(cmd::handover::Cmd),
}

/// Exit code for a command line or setting that was refused.
const EXIT_USAGE: u8 = 2;

/// jemalloc rather than glibc's malloc: see the `jemalloc` feature in Cargo.toml.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => {
            // --help and --version
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprint!("{}", usage::explain::<Cli>(&err));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    logging::init(cli.log_format);
    let result = match cli.command {
        Command::Serve(cmd) => cmd::serve::run(*cmd),
        Command::Capacity(cmd) => cmd::capacity::run(cmd),
        Command::Keys(cmd) => cmd::keys::run(cmd),
        Command::Service(cmd) => cmd::service::run(cmd),
        Command::Gateway(cmd) => cmd::gateway::run(cmd),
        Command::Cluster(cmd) => cmd::cluster::run(*cmd),
        Command::Lab(cmd) => cmd::lab::run(cmd),
        Command::Link(cmd) => cmd::link::run(cmd),
        Command::Healthcheck(cmd) => cmd::healthcheck::run(cmd),
        Command::Handover(cmd) => cmd::handover::run(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
