//! The counter: per session (stateful), carried by the client (stateless, with a
//! signed token), and shared named counters.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use statecraft_state::{CounterName, MAX_COUNTER, Mutation, SessionIdText};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::extract::{AppPath, JsonOk, OptionalJson};
use crate::session::SessionRequest;
use crate::source::StateSource;
use crate::state::AppState;

/// Body of `POST /increment`; either field selects the stateless form.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct IncrementBody {
    /// The client's current count, 0 to 2^53-1.
    current_count: Option<u64>,
    /// The token a previous stateless answer returned.
    state_token: Option<String>,
}

/// The stateful answer: the count lives in the session.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServerCount {
    counter: u64,
    /// Always `"server"`.
    stored_on: &'static str,
    /// The session's public ID (not the cookie's secret).
    #[schema(value_type = String)]
    session_id: SessionIdText,
}

/// The stateless answer: the count lives with the client.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClientCount {
    counter: u64,
    /// Always `"client"`.
    stored_on: &'static str,
    /// A signed copy of the new count, to send back next time.
    state_token: String,
}

/// The answer of `POST /increment`: one form or the other (schema only).
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(crate) enum IncrementAnswer {
    /// No body, or `{}`: counted in the session.
    Server(ServerCount),
    /// `currentCount` and/or `stateToken`: counted for the client.
    Client(ClientCount),
}

/// A shared named counter.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NamedCount {
    name: String,
    counter: u64,
    /// The instance that answered.
    server: String,
}

/// Adds one to the counter: in the session (no body, or `{}`), or to the count the
/// client carries (`currentCount` and/or `stateToken`).
#[utoipa::path(
    post, path = "/increment", tag = "counter",
    request_body(content = Option<IncrementBody>, content_type = "application/json"),
    responses(
        (status = 200, description = "counted in the session (stateful) or for the client (stateless)", body = IncrementAnswer),
        (status = 400, description = "INVALID_REQUEST or TAMPERED_STATE", body = ErrorBody),
        (status = 401, description = "SESSION_MISSING or SESSION_LOST", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn increment(
    State(state): State<AppState>,
    session: SessionRequest,
    OptionalJson(body): OptionalJson<IncrementBody>,
) -> Result<Response, ApiError> {
    let body = body.unwrap_or_default();
    if body.current_count.is_some() || body.state_token.is_some() {
        return stateless(&state, &body);
    }
    let outcome = session.mutate(&state, &Mutation::IncrementCounter).await?;
    let Some(id) = outcome.id else {
        // An increment always leaves something to keep, so a session exists.
        return Err(ApiError::Internal(
            "increment created no session".to_owned(),
        ));
    };
    Ok((
        StateSource::Store(state.sessions.kind()),
        outcome.cookie,
        JsonOk(ServerCount {
            counter: outcome.data.counter,
            stored_on: "server",
            session_id: id.encode(),
        }),
    )
        .into_response())
}

fn stateless(state: &AppState, body: &IncrementBody) -> Result<Response, ApiError> {
    if body.current_count.is_some_and(|c| c > MAX_COUNTER) {
        return Err(ApiError::invalid(
            "currentCount",
            "currentCount must be an integer from 0 to 2^53-1",
        ));
    }
    let count = match &body.state_token {
        Some(token) => {
            let signed = state.signer.verify(token).ok_or(ApiError::TamperedState(
                "The state token failed verification",
            ))?;
            if body.current_count.is_some_and(|c| c != signed) {
                return Err(ApiError::TamperedState(
                    "currentCount disagrees with the signed state token",
                ));
            }
            signed
        }
        None => body.current_count.unwrap_or_default(),
    };
    if count >= MAX_COUNTER {
        return Err(ApiError::LimitReached("The counter cannot go above 2^53-1"));
    }
    let counter = count + 1;
    Ok((
        StateSource::Client,
        JsonOk(ClientCount {
            counter,
            stored_on: "client",
            state_token: state.signer.sign(counter),
        }),
    )
        .into_response())
}

fn counter_name(raw: &str) -> Result<CounterName, ApiError> {
    CounterName::parse(raw).map_err(|e| ApiError::invalid("name", format!("Counter name {e}")))
}

fn named(state: &AppState, name: CounterName, counter: u64) -> Response {
    (
        StateSource::Store(state.counters.kind()),
        JsonOk(NamedCount {
            name: name.to_string(),
            counter,
            server: state.config.instance_id.clone(),
        }),
    )
        .into_response()
}

/// Adds one to a shared named counter in the counter store.
#[utoipa::path(
    post, path = "/counters/{name}/increment", tag = "counter",
    params(("name" = String, Path, description = "1-64 characters of [A-Za-z0-9_-]", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 200, body = NamedCount),
        (status = 400, description = "INVALID_REQUEST", body = ErrorBody),
        (status = 409, description = "LIMIT_REACHED", body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn increment_named(
    State(state): State<AppState>,
    AppPath(name): AppPath<String>,
) -> Result<Response, ApiError> {
    let name = counter_name(&name)?;
    let store = &state.counters;
    let counter = store
        .increment(&name)
        .await
        .map_err(ApiError::store(store.kind()))?;
    Ok(named(&state, name, counter))
}

/// Reads a shared named counter (0 if never incremented).
#[utoipa::path(
    get, path = "/counters/{name}", tag = "counter",
    params(("name" = String, Path, description = "1-64 characters of [A-Za-z0-9_-]", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 200, body = NamedCount),
        (status = 400, description = "INVALID_REQUEST", body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn get_named(
    State(state): State<AppState>,
    AppPath(name): AppPath<String>,
) -> Result<Response, ApiError> {
    let name = counter_name(&name)?;
    let store = &state.counters;
    let counter = store
        .get(&name)
        .await
        .map_err(ApiError::store(store.kind()))?;
    Ok(named(&state, name, counter))
}
