//! A run's files over HTTP: its `results.json`, a CSV of its main figures,
//! its report; and the newest finished run's, at the paths the lab page
//! used before runs were kept.

use std::path::PathBuf;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::LiveLab;
use super::error::LiveError;
use super::history;

/// The report's own inline styles and SVG, nothing else.
const REPORT_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'";

async fn file(
    lab: &LiveLab,
    headers: &HeaderMap,
    dir: Result<PathBuf, LiveError>,
    name: &'static str,
) -> Result<Vec<u8>, LiveError> {
    lab.check_host(headers)?;
    let dir = dir?;
    tokio::task::spawn_blocking(move || std::fs::read(dir.join(name)))
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| LiveError::NotFound(format!("This run has no {name}: it has not finished")))
}

fn report_response(body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, REPORT_CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

fn json_download(body: Vec<u8>, id: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"lab-{id}.json\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// A finished run's `results.json` (schema in docs/lab.md).
#[utoipa::path(get, operation_id = "lab_run_results_json", path = "/lab/runs/{id}/results.json", tag = "lab",
    params(("id" = String, Path, description = "e.g. 20261205-105213-3f9a")),
    responses((status = 200, content_type = "application/json", body = Object),
        (status = 404, description = "NOT_FOUND")))]
pub(super) async fn results_json(
    State(lab): State<LiveLab>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, LiveError> {
    let body = file(&lab, &headers, lab.run_dir(&id), "results.json").await?;
    Ok(json_download(body, &id))
}

/// A finished run's main figures as CSV, a row per strategy.
#[utoipa::path(get, operation_id = "lab_run_results_csv", path = "/lab/runs/{id}/results.csv", tag = "lab",
    params(("id" = String, Path, description = "e.g. 20261205-105213-3f9a")),
    responses((status = 200, content_type = "text/csv", body = String),
        (status = 404, description = "NOT_FOUND")))]
pub(super) async fn results_csv(
    State(lab): State<LiveLab>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, LiveError> {
    let body = file(&lab, &headers, lab.run_dir(&id), "results.json").await?;
    let results: Value = serde_json::from_slice(&body)
        .map_err(|e| LiveError::Internal(format!("run {id}'s results.json is not JSON: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"lab-{id}.csv\""),
            ),
        ],
        history::csv(&results),
    )
        .into_response())
}

/// A finished run's report with its charts.
#[utoipa::path(get, operation_id = "lab_run_report", path = "/lab/runs/{id}/report.html", tag = "lab",
    params(("id" = String, Path, description = "e.g. 20261205-105213-3f9a")),
    responses((status = 200, content_type = "text/html", body = String),
        (status = 404, description = "NOT_FOUND")))]
pub(super) async fn report(
    State(lab): State<LiveLab>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, LiveError> {
    let body = file(&lab, &headers, lab.run_dir(&id), "report.html").await?;
    Ok(report_response(body))
}

fn latest(lab: &LiveLab) -> Result<PathBuf, LiveError> {
    history::latest_finished(&lab.0.history).ok_or_else(|| {
        LiveError::NotFound(
            "No lab results yet: start a run on /lab, or run statecraft lab --quick".to_owned(),
        )
    })
}

/// The newest finished run's `results.json`.
#[utoipa::path(get, operation_id = "lab_latest_results", path = "/lab/results.json", tag = "lab",
    responses((status = 200, content_type = "application/json", body = Object),
        (status = 404, description = "NOT_FOUND: no finished run yet")))]
pub(super) async fn latest_results(
    State(lab): State<LiveLab>,
    headers: HeaderMap,
) -> Result<Response, LiveError> {
    let body = file(&lab, &headers, latest(&lab), "results.json").await?;
    Ok(json_download(body, "latest"))
}

/// The newest finished run's report.
#[utoipa::path(get, operation_id = "lab_latest_report", path = "/lab/report.html", tag = "lab",
    responses((status = 200, content_type = "text/html", body = String),
        (status = 404, description = "NOT_FOUND: no finished run yet")))]
pub(super) async fn latest_report(
    State(lab): State<LiveLab>,
    headers: HeaderMap,
) -> Result<Response, LiveError> {
    let body = file(&lab, &headers, latest(&lab), "report.html").await?;
    Ok(report_response(body))
}
