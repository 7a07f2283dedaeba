//! `statecraft keys rotate`: makes a new signing key current. Running servers
//! on the same key directory start signing with it within a minute; tokens
//! signed by the previous key keep verifying until they expire.

use std::path::PathBuf;
use std::time::Duration;

use statecraft_auth::KeyRing;

use super::CmdError;

/// `statecraft keys`.
#[derive(Debug, clap::Args)]
#[command(arg_required_else_help = true)]
pub(crate) struct Cmd {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Writes a new signing key and prints its `kid`.
    Rotate {
        /// The key directory of the servers (their --keys-dir, or DIR/keys for
        /// --data sqlite:DIR).
        #[arg(
            long,
            env = "STATECRAFT_KEYS_DIR",
            default_value = "./statecraft-data/keys"
        )]
        keys_dir: PathBuf,
        /// Lifetime of access tokens, which the previous key outlives.
        #[arg(long, env = "STATECRAFT_ACCESS_TTL", default_value = "15m", value_parser = super::parse_duration, allow_hyphen_values = true)]
        access_ttl: Duration,
    },
}

/// Runs `keys rotate`.
pub(crate) fn run(cmd: Cmd) -> Result<(), CmdError> {
    match cmd.action {
        Action::Rotate {
            keys_dir,
            access_ttl,
        } => {
            let mut ring = KeyRing::open(&keys_dir, access_ttl)
                .map_err(|e| CmdError::Usage(format!("signing keys: {e}")))?;
            let before = ring.current_kid().map(str::to_owned);
            ring.rotate()
                .map_err(|e| CmdError::Runtime(format!("signing keys: {e}")))?;
            let after = ring.current_kid().unwrap_or_default();
            println!("new signing key {after} in {}", keys_dir.display());
            if let Some(before) = before {
                println!("previous key {before} verifies its tokens until they expire");
            }
            Ok(())
        }
    }
}
