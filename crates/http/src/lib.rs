//! What every statecraft server shares, and nothing of the application: the
//! HTTP/1 accept loop with its header and body timeouts, the latency buckets
//! of its metrics, and the helpers for the processes a cluster runs. The
//! gateway and the lab depend on this, not on the app (and so not on its
//! database drivers).

mod body_deadline;
mod control;
mod listen;
mod process;

pub use body_deadline::{
    BodyTimedOut, DEFAULT_BODY_TIMEOUT, body_timeout, is_body_timeout, set_body_timeout,
};
pub use control::{ControlGuard, Refused, carries_token, forwarded};
pub use listen::{DEFAULT_HEADER_TIMEOUT, header_timeout, serve_http1, set_header_timeout};
pub use process::{
    children_of, group_members, listening_port, signal, signal_group, stop_within, terminate,
};

/// Latency buckets from 50 µs to 5 s, for every server's latency series: the
/// memory store answers in microseconds, a remote store in milliseconds.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0,
];
