//! `--store-durability`, `--store-replicas`, `--store-wait-timeout`: when a
//! Redis store acknowledges a session or counter write (docs/reliability.md,
//! "Durability").

use std::time::Duration;

use statecraft_state::redis::{Durability, Replicas};

/// When a write is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    /// Once the Redis primary has it (Redis's own default).
    Fast,
    /// Once its replicas have it too (`WAIT`).
    Replicated,
}

/// The durability flags of `serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct DurabilityArgs {
    /// When a session or counter write to Redis is acknowledged: fast (once
    /// the primary has it) or replicated (once its replicas have it too).
    #[arg(
        long,
        env = "STATECRAFT_STORE_DURABILITY",
        value_enum,
        default_value = "fast"
    )]
    store_durability: Mode,

    /// With replicated: how many replicas a write waits for (all: as many
    /// as the primary has when the store connects).
    #[arg(long, env = "STATECRAFT_STORE_REPLICAS", default_value = "all")]
    store_replicas: Replicas,

    /// With replicated: how long a write waits for them before it answers
    /// 503 STORE_UNAVAILABLE; under --store-timeout.
    #[arg(long, env = "STATECRAFT_STORE_WAIT_TIMEOUT", default_value = "100ms", value_parser = super::parse_duration, allow_hyphen_values = true)]
    store_wait_timeout: Duration,
}

impl DurabilityArgs {
    /// What the flags ask for.
    pub(crate) fn durability(&self) -> Durability {
        match self.store_durability {
            Mode::Fast => Durability::Fast,
            Mode::Replicated => Durability::Replicated {
                replicas: self.store_replicas,
                timeout: self.store_wait_timeout,
            },
        }
    }
}
