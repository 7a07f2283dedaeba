//! `statecraft lab`: every state strategy on a real local cluster, the same
//! load and faults, measured side by side.

use std::path::PathBuf;
use std::time::Duration;

use statecraft_lab::LabConfig;

use super::{CmdError, runtime};

/// Flags of `statecraft lab`.
#[derive(Debug, clap::Args)]
pub(crate) struct Cmd {
    /// The short run (about 2 minutes on 2 cores instead of about 7).
    #[arg(long)]
    quick: bool,

    /// Where results.json, report.html and the clusters' logs go.
    #[arg(long, env = "STATECRAFT_LAB_OUT", default_value = "lab-results")]
    out: PathBuf,

    /// A Redis for the shared-store strategy (cut off briefly through a
    /// link as a fault); by default the lab starts its own redis-server.
    #[arg(long, env = "STATECRAFT_LAB_REDIS", hide_env_values = true)]
    redis: Option<String>,

    /// Round-trip times between the instances and the store for the
    /// distance phase, e.g. 0,0.5ms,2ms,10ms (default: 0,2ms quick;
    /// 0,0.5ms,2ms,10ms full).
    #[arg(long, env = "STATECRAFT_LAB_STORE_RTT", value_delimiter = ',', value_parser = parse_rtt)]
    store_rtt: Vec<Duration>,

    /// Join the clusters' parts with links on loopback even where each
    /// instance could have its own network namespace (root on Linux).
    #[arg(long, env = "STATECRAFT_LAB_LOOPBACK")]
    loopback: bool,
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

/// Runs the lab and prints its table and the seed's figures.
pub(crate) fn run(cmd: Cmd) -> Result<(), CmdError> {
    let program = std::env::current_exe()
        .map_err(|e| CmdError::Runtime(format!("cannot find the statecraft binary: {e}")))?;
    let config = LabConfig {
        program,
        out: cmd.out.clone(),
        quick: cmd.quick,
        redis: cmd.redis,
        store_rtts: (!cmd.store_rtt.is_empty()).then_some(cmd.store_rtt),
        loopback: cmd.loopback,
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
