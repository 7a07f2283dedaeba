//! `statecraft lab`: every state strategy on a real local cluster, the same
//! load and faults, measured side by side.

use std::path::PathBuf;

use statecraft_lab::LabConfig;

use super::{CmdError, runtime};

/// Flags of `statecraft lab`.
#[derive(Debug, clap::Args)]
pub(crate) struct Cmd {
    /// The short run (about 80 seconds on 2 cores instead of about 6 minutes).
    #[arg(long)]
    quick: bool,

    /// Where results.json, report.html and the clusters' logs go.
    #[arg(long, env = "STATECRAFT_LAB_OUT", default_value = "lab-results")]
    out: PathBuf,

    /// A Redis for the shared-store strategy (it is paused briefly as a
    /// fault); by default the lab starts its own redis-server.
    #[arg(long, env = "STATECRAFT_LAB_REDIS", hide_env_values = true)]
    redis: Option<String>,
}

/// Runs the lab and prints its table and the seed's figures.
pub(crate) fn run(cmd: Cmd) -> Result<(), CmdError> {
    let program = std::env::current_exe()
        .map_err(|e| CmdError::Runtime(format!("cannot find the statecraft binary: {e}")))?;
    let config = LabConfig {
        program,
        out: cmd.out.clone(),
        quick: cmd.quick,
        redis: cmd.redis,
    };
    let results = runtime()?
        .block_on(statecraft_lab::run(config))
        .map_err(|e| CmdError::Runtime(e.to_string()))?;
    println!();
    print!("{}", statecraft_lab::table(&results));
    println!();
    print!("{}", statecraft_lab::findings_text(&results));
    println!();
    print!("{}", statecraft_lab::seed_lines(&results));
    println!();
    println!(
        "Wrote {} and {} ({:.0} s in all).",
        cmd.out.join("results.json").display(),
        cmd.out.join("report.html").display(),
        results.total_seconds
    );
    Ok(())
}
