//! The lab's output for people: a terminal table, the seed's own sentences,
//! and `report.html` with SVG charts.

mod charts;
mod failover;
mod findings;
mod html;
mod network;

use std::fmt::Write as _;

use crate::capacity::{ByteSize, estimate_line};

use crate::results::{LabResults, StrategyResult};

pub(crate) use findings::findings;
pub use html::html;

/// One column of the side-by-side table: its heading, what it means, and
/// each strategy's cell.
type Column = (&'static str, &'static str, fn(&StrategyResult) -> String);

/// The side-by-side columns, for the terminal and the report alike.
const COLUMNS: [Column; 13] = [
    (
        "strategy",
        "where sessions live and how the gateway balances",
        |s| s.title.clone(),
    ),
    (
        "req/s",
        "answers per second during the load, errors included",
        |s| format!("{:.0}", s.requests_per_second),
    ),
    (
        "visits/s",
        "whole journeys (log in if needed, count, cart, profile, checkout) completed without an \
         error, per second: 0 means no journey ever completed",
        |s| format!("{:.1}", s.visits_per_second),
    ),
    (
        "p50 ms",
        "median answer time, client side, through the gateway",
        |s| format!("{:.2}", s.latency_ms.p50),
    ),
    ("p99 ms", "the answer time 99% of requests beat", |s| {
        format!("{:.2}", s.latency_ms.p99)
    }),
    (
        "lost (pre-kill)",
        "SESSION_MISSING + SESSION_LOST answers, each a user sent back to log in (in brackets: \
         those before the first fault)",
        |s| format!("{} ({})", s.sessions_lost, s.sessions_lost_before_kill),
    ),
    (
        "other errors",
        "every other error answer (STORE_UNAVAILABLE while the store was stopped, \
         UPSTREAM_FAILED for requests in flight at the kill, …)",
        |s| (s.errors.values().sum::<u64>() - s.sessions_lost).to_string(),
    ),
    (
        "after logout",
        "requests served with a copy of a logged-out credential / tried; n? = n answers that \
         showed neither (e.g. a store outage)",
        |s| {
            s.revocation.as_ref().map_or_else(
                || "-".to_owned(),
                |r| {
                    let inconclusive: usize = r.inconclusive_after_logout.values().sum();
                    if inconclusive == 0 {
                        format!("{}/{}", r.accepted_after_logout, r.probes)
                    } else {
                        format!("{}/{} ({inconclusive}?)", r.accepted_after_logout, r.probes)
                    }
                },
            )
        },
    ),
    (
        "drift",
        "the shared named counter's largest minus smallest value across instances: 0 when one \
         store holds it",
        |s| {
            if s.counter.per_server.is_empty() {
                "-".to_owned() // not asked: no control API to ask every instance
            } else {
                s.counter.drift.to_string()
            }
        },
    ),
    (
        "B/session",
        "server bytes one session keeps (a counter and a cart of the plan's cartItems, 2 unless \
         asked; for tokens, one login's \
         refresh rows), as statecraft capacity --measure finds",
        |s| {
            if s.memory.method.is_empty() {
                "-".to_owned() // not measured (a deployment the lab did not start)
            } else {
                s.memory.server_bytes_per_session.to_string()
            }
        },
    ),
    ("1M sessions", "M_total = 1,000,000 × B/session", |s| {
        if s.memory.method.is_empty() {
            "-".to_owned()
        } else {
            ByteSize(s.memory.projected_1m).to_string()
        }
    }),
    (
        "B/logout",
        "denylist bytes one token logout adds, until the access token expires",
        |s| {
            s.memory
                .token_cost
                .map_or_else(|| "-".to_owned(), |c| c.logout_bytes.to_string())
        },
    ),
    (
        "stateful-stateless ms",
        "mean POST /increment time with the state minus without, on one instance: near 0 or \
         negative means no measurable cost (noise)",
        |s| {
            s.overhead
                .as_ref()
                .map_or_else(|| "-".to_owned(), |o| format!("{:+.3}", o.overhead_ms))
        },
    ),
];

/// The side-by-side table.
pub fn table(results: &LabResults) -> String {
    let rows: Vec<Vec<String>> = results
        .strategies
        .iter()
        .map(|s| COLUMNS.iter().map(|(_, _, cell)| cell(s)).collect())
        .collect();
    let widths: Vec<usize> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, (heading, _, _))| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([heading.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let padded: Vec<String> = cells
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                if i == 0 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        padded.join("  ")
    };
    let mut out = String::new();
    let _ = writeln!(out, "{}", line(&mut COLUMNS.iter().map(|(h, _, _)| *h)));
    for row in &rows {
        let _ = writeln!(out, "{}", line(&mut row.iter().map(String::as_str)));
    }
    for (heading, meaning, _) in COLUMNS {
        let _ = writeln!(out, "  {heading}: {meaning}");
    }
    out
}

/// The findings, one per line, for the terminal.
pub fn findings_text(results: &LabResults) -> String {
    let mut out = String::from("What this run shows:\n");
    for finding in &results.findings {
        let _ = writeln!(out, "- {finding}");
    }
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
        if !s.memory.method.is_empty() {
            let _ = writeln!(
                out,
                "  {} (1,000,000 sessions × {} B on the server; the client holds {:.0} B)",
                estimate_line(ByteSize(s.memory.projected_1m)),
                s.memory.server_bytes_per_session,
                s.memory.client_bytes_per_session
            );
        }
        if let Some(cost) = s.memory.token_cost {
            let _ = writeln!(
                out,
                "  A token login keeps {} B in {} rows (refresh family and token) for the refresh \
                 lifetime; a logout adds {} B in {} denylist entries until the access token expires",
                cost.login_bytes, cost.login_rows, cost.logout_bytes, cost.logout_entries
            );
        }
        for p in results.distance.iter().filter(|p| p.strategy == s.strategy) {
            let _ = writeln!(
                out,
                "  Store {:.1} ms away: {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms{}",
                p.rtt_ms,
                p.requests_per_second,
                p.p50_ms,
                p.p99_ms,
                p.overhead_ms
                    .map(|o| format!(", session overhead {o:+.3} ms"))
                    .unwrap_or_default()
            );
        }
        for note in &s.notes {
            let _ = writeln!(out, "  note: {note}");
        }
    }
    out
}
