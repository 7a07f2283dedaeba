//! The runs kept under the history directory, one directory each (named by
//! its id): listed newest first with their headline figures, read whole,
//! turned into CSV, deleted.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::process::{Ended, Status, recorded_end};

/// One run in the list.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RunSummary {
    pub(crate) id: String,
    pub(crate) status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    /// The preset it started from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) preset: Option<String>,
    /// Its strategies' ids.
    pub(crate) strategies: Vec<String>,
    /// Seconds of load per strategy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) duration_seconds: Option<f64>,
    /// Wall time of the whole run, once finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) total_seconds: Option<f64>,
    /// Per strategy: requests/s, p99 ms, sessions lost (finished runs).
    pub(crate) headline: Vec<Value>,
}

/// The directory of run `id` under `history`, when `id` is a run id and it
/// exists (nothing else of a request reaches a path).
pub(crate) fn dir_of(history: &Path, id: &str) -> Option<PathBuf> {
    crate::is_run_id(id)
        .then(|| history.join(id))
        .filter(|dir| dir.is_dir())
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Run `id`'s summary; `live` is its end when it is the run going on.
pub(crate) fn summary(dir: &Path, id: &str, live: Option<Option<Ended>>) -> RunSummary {
    let end = match live {
        Some(Some(end)) => end,
        Some(None) => Ended {
            status: Status::Running,
            error: None,
            ended_at_ms: 0,
        },
        None => recorded_end(dir),
    };
    let plan = read_json(&dir.join("plan.json")).unwrap_or(Value::Null);
    let results = (end.status == Status::Finished)
        .then(|| read_json(&dir.join("results.json")))
        .flatten();
    let headline = results
        .as_ref()
        .and_then(|r| r["strategies"].as_array())
        .map(|all| {
            all.iter()
                .map(|s| {
                    serde_json::json!({
                        "strategy": s["strategy"],
                        "requestsPerSecond": s["requestsPerSecond"],
                        "p99Ms": s["latencyMs"]["p99"],
                        "sessionsLost": s["sessionsLost"],
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    RunSummary {
        id: id.to_owned(),
        status: end.status,
        error: end.error,
        preset: plan["preset"].as_str().map(str::to_owned),
        strategies: plan["strategies"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        duration_seconds: plan["run"].as_f64(),
        total_seconds: results.as_ref().and_then(|r| r["totalSeconds"].as_f64()),
        headline,
    }
}

/// The ids of every run under `history`, newest first.
pub(crate) fn ids(history: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(history)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .filter(|name| crate::is_run_id(name))
                .collect()
        })
        .unwrap_or_default();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids
}

/// The newest finished run's directory.
pub(crate) fn latest_finished(history: &Path) -> Option<PathBuf> {
    ids(history)
        .into_iter()
        .map(|id| history.join(id))
        .find(|dir| dir.join("results.json").is_file())
}

/// The columns of the CSV: name, then where in a strategy's results.
const CSV_COLUMNS: [(&str, &[&str]); 14] = [
    ("requests", &["requests"]),
    ("requests_per_second", &["requestsPerSecond"]),
    ("visits_per_second", &["visitsPerSecond"]),
    ("p50_ms", &["latencyMs", "p50"]),
    ("p90_ms", &["latencyMs", "p90"]),
    ("p99_ms", &["latencyMs", "p99"]),
    ("max_ms", &["latencyMs", "max"]),
    ("sessions_lost", &["sessionsLost"]),
    ("sessions_lost_before_kill", &["sessionsLostBeforeKill"]),
    ("silent_state_losses", &["silentStateLosses"]),
    ("applied_despite_error", &["appliedDespiteError"]),
    ("counter_drift", &["counter", "drift"]),
    (
        "server_bytes_per_session",
        &["memory", "serverBytesPerSession"],
    ),
    ("overhead_ms", &["overhead", "overheadMs"]),
];

/// A run's results as CSV: a row per strategy, its main figures (the
/// whole record is in `results.json`).
pub(crate) fn csv(results: &Value) -> String {
    let mut out = String::from("run,strategy,errors");
    for (name, _) in CSV_COLUMNS {
        out.push(',');
        out.push_str(name);
    }
    out.push('\n');
    // Only what the lab itself names: a run id, a strategy's id, numbers.
    // A cell a spreadsheet could take for a formula never gets through.
    let run = results["id"]
        .as_str()
        .filter(|id| crate::is_run_id(id))
        .unwrap_or_default();
    for s in results["strategies"].as_array().into_iter().flatten() {
        let errors: u64 = s["errors"]
            .as_object()
            .map(|m| m.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0);
        let strategy = serde_json::from_value::<crate::Strategy>(s["strategy"].clone())
            .map_or("", crate::Strategy::id);
        out.push_str(&format!("{run},{strategy},{errors}"));
        for (_, path) in CSV_COLUMNS {
            let value = path.iter().fold(s, |v, key| &v[*key]);
            out.push(',');
            match value {
                Value::Number(n) => out.push_str(&n.to_string()),
                Value::Bool(b) => out.push_str(&b.to_string()),
                _ => {}
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn the_csv_has_a_row_per_strategy_and_blank_cells_for_missing_figures() {
        let results = json!({"id": "20261205-105213-3f9a", "strategies": [
            {"strategy": "shared-store", "requests": 10, "requestsPerSecond": 2.5,
             "latencyMs": {"p50": 1.0, "p99": 4.5}, "errors": {"STORE_UNAVAILABLE": 2,
             "SESSION_LOST": 1}, "sessionsLost": 1, "overhead": null},
            {"strategy": "=cmd|' /C calc'!A0", "requests": 1}
        ]});
        let csv = super::csv(&results);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3, "{csv}");
        assert!(lines[0].starts_with("run,strategy,errors,requests,requests_per_second"));
        assert!(
            lines[1].starts_with("20261205-105213-3f9a,shared-store,3,10,2.5,,1.0,,4.5,"),
            "{}",
            lines[1]
        );
        assert_eq!(lines[1].split(',').count(), lines[0].split(',').count());
        // A strategy the lab does not know is left out, never written raw.
        assert_eq!(lines[2].split(',').count(), lines[0].split(',').count());
        assert!(
            lines[2].starts_with("20261205-105213-3f9a,,0,1,"),
            "{}",
            lines[2]
        );
    }
}
