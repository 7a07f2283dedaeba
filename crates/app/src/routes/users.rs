//! Registration of users (the users service's public endpoint).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use statecraft_services::{NewUser, UsersDb, UsersError};
use utoipa::ToSchema;

use std::net::IpAddr;

use crate::auth::{REGISTRATIONS, attempts_exhausted, reserve_attempt};
use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::extract::AppJson;
use crate::extract::ClientAddr;
use crate::state::AppState;

/// `POST /users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Registration {
    /// 3-32 characters of a-z, 0-9, `_`, `.`, `-` (case-insensitive).
    #[schema(pattern = "^[A-Za-z0-9_.-]{3,32}$")]
    user: String,
    /// 12 to 256 characters.
    #[schema(min_length = 12, max_length = 256)]
    password: String,
    /// Display name, 1-64 characters, no control character (exactly what the
    /// users service takes); the user name when absent.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"
    )]
    name: Option<String>,
}

/// A registered user.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Registered {
    /// `user-<n>`.
    id: String,
    user: String,
    name: String,
    role: String,
}

/// Registers a user with role `user`.
#[utoipa::path(
    post, path = "/users", tag = "users", request_body = Registration,
    responses(
        (status = 201, body = Registered),
        (status = 400, description = "INVALID_REQUEST naming the field", body = ErrorBody),
        (status = 409, description = "USER_EXISTS", body = ErrorBody),
        (status = 429, description = "RATE_LIMITED: more than five taken names a minute from one address; Retry-After", body = ErrorBody),
    )
)]
pub(crate) async fn register(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    AppJson(registration): AppJson<Registration>,
) -> Result<Response, ApiError> {
    register_user(&state.identity.users, client, registration).await
}

/// `POST /users`, in the monolith and in the users service alike. A
/// registration refused for a taken name counts against the client's
/// address like a failed login (more than five a minute: `429`), so that
/// the `USER_EXISTS` answer cannot list the users at speed. Each refusal
/// is counted before it is answered, in one step, so parallel probes never
/// get more than five; a taken name costs no password hash (the users
/// service looks the name up first), and registrations of free names are
/// not held back by one another.
pub(crate) async fn register_user(
    users: &UsersDb,
    client: IpAddr,
    registration: Registration,
) -> Result<Response, ApiError> {
    // A blocked address registers nothing: a free name's 201 would tell
    // as much as a taken one's 409.
    attempts_exhausted(users, REGISTRATIONS, client).await?;
    let new = NewUser {
        username: registration.user,
        password: registration.password,
        name: registration.name,
    };
    match users.register(new).await {
        Ok(user) => Ok((
            StatusCode::CREATED,
            axum::Json(Registered {
                id: user.id,
                user: user.username,
                name: user.name,
                role: user.role,
            }),
        )
            .into_response()),
        Err(UsersError::Taken(name)) => {
            // Counted before it is answered, in one step with the check.
            reserve_attempt(users, REGISTRATIONS, client)
                .await?
                .failed()
                .await;
            Err(ApiError::UserExists(name))
        }
        Err(UsersError::Invalid { field, message }) => Err(ApiError::invalid(field, message)),
        Err(UsersError::Db(err)) => Err(ApiError::service_down("users", err)),
    }
}
