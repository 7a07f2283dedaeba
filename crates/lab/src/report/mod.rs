//! The lab's output for people: a terminal table, the seed's own sentences,
//! and `report.html` with SVG charts.

mod charts;
mod html;

use std::fmt::Write as _;

use statecraft_state::capacity::{ByteSize, estimate_line};

use crate::results::{LabResults, StrategyResult};

pub use html::html;

/// Session errors as "total (before the kill)".
fn lost(s: &StrategyResult) -> String {
    format!("{} ({})", s.sessions_lost, s.sessions_lost_before_kill)
}

/// Errors other than lost sessions.
fn other_errors(s: &StrategyResult) -> u64 {
    s.errors.values().sum::<u64>() - s.sessions_lost
}

fn after_logout(s: &StrategyResult) -> String {
    s.revocation.map_or_else(
        || "-".to_owned(),
        |r| format!("{}/{}", r.accepted_after_logout, r.probes),
    )
}

fn overhead(s: &StrategyResult) -> String {
    s.overhead
        .as_ref()
        .map_or_else(|| "-".to_owned(), |o| format!("{:+.3}", o.overhead_ms))
}

/// The side-by-side table.
pub fn table(results: &LabResults) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24} {:>8} {:>9} {:>7} {:>8} {:>12} {:>7} {:>8} {:>6} {:>9} {:>10} {:>9}",
        "strategy",
        "req/s",
        "visits/s",
        "p50 ms",
        "p99 ms",
        "lost (pre)",
        "errors",
        "revoked",
        "drift",
        "B/session",
        "1M sess.",
        "overhead"
    );
    for s in &results.strategies {
        let _ = writeln!(
            out,
            "{:<24} {:>8.0} {:>9.1} {:>7.2} {:>8.2} {:>12} {:>7} {:>8} {:>6} {:>9} {:>10} {:>9}",
            s.title,
            s.requests_per_second,
            s.visits_per_second,
            s.latency_ms.p50,
            s.latency_ms.p99,
            lost(s),
            other_errors(s),
            after_logout(s),
            s.counter.drift,
            s.memory.server_bytes_per_session,
            ByteSize(s.memory.projected_1m).to_string(),
            overhead(s),
        );
    }
    let _ = writeln!(
        out,
        "lost (pre): SESSION_MISSING + SESSION_LOST answers (of which before the kill); \
         revoked: requests served after logout / tried; drift: named counter max − min \
         across instances; overhead: stateful − stateless ms on POST /increment"
    );
    out
}

/// The seed's sentences, per strategy, from measured runs.
pub fn seed_lines(results: &LabResults) -> String {
    let mut out = String::new();
    for s in &results.strategies {
        let _ = writeln!(out, "{}:", s.title);
        if let Some(o) = &s.overhead {
            let _ = writeln!(
                out,
                "  Stateful average request time: {:.3} ms ({})",
                o.stateful_ms, o.stateful_form
            );
            let _ = writeln!(
                out,
                "  Stateless average request time: {:.3} ms",
                o.stateless_ms
            );
            let _ = writeln!(out, "  Session overhead: {:+.3} ms", o.overhead_ms);
        }
        let _ = writeln!(
            out,
            "  {} (1,000,000 sessions × {} B on the server; the client holds {:.0} B)",
            estimate_line(ByteSize(s.memory.projected_1m)),
            s.memory.server_bytes_per_session,
            s.memory.client_bytes_per_session
        );
        for note in &s.notes {
            let _ = writeln!(out, "  note: {note}");
        }
    }
    out
}
