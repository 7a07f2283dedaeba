//! Identity's part of an instance: the users database, the refresh secret
//! and the signing keys, and their upkeep (key reloads, the refresh sweep).

use std::sync::Arc;
use std::time::Duration;

use statecraft_auth::{AUDIENCE, ISSUER, KeyRing, TokenIssuer};
use statecraft_events::Tasks;
use statecraft_services::UsersDb;

use super::{Blueprint, BuildError};
use crate::Identity;

/// How often a server reads its key directory again, so that a key rotated by
/// `statecraft keys rotate` (or another instance) starts signing everywhere.
const KEY_RELOAD_EVERY: Duration = Duration::from_secs(60);
/// How often expired refresh tokens and old login-limit windows are deleted.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// Opens the users database and the key directory of `blueprint`.
pub(super) async fn open(blueprint: &Blueprint) -> Result<Identity, BuildError> {
    let ring =
        KeyRing::open(&blueprint.keys_dir, blueprint.access_ttl).map_err(BuildError::Keys)?;
    let users = UsersDb::open(
        &blueprint.data,
        blueprint.schema.as_deref(),
        blueprint.passwords.clone(),
    )
    .await
    .map_err(BuildError::Users)?;
    let refresh_secret = users.refresh_secret().await.map_err(BuildError::Users)?;
    Ok(Identity {
        users,
        tokens: Arc::new(TokenIssuer::new(
            ring,
            ISSUER,
            AUDIENCE,
            blueprint.access_ttl,
        )),
        denylist: Arc::clone(&blueprint.denylist),
        refresh_secret,
        settings: blueprint.auth.clone(),
        cluster: None,
    })
}

/// Identity's background upkeep, owned by `tasks`: key reloads and the
/// sweeps of expired refresh tokens and old login-limit windows.
pub(super) fn spawn_upkeep(identity: &Identity, tasks: &Tasks) {
    let keys = Arc::clone(&identity.tokens);
    tasks.spawn(|stop| async move {
        let mut tick = tokio::time::interval(KEY_RELOAD_EVERY);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stop.cancelled() => return,
            }
            if let Err(e) = keys.reload() {
                tracing::warn!("cannot reload the signing keys: {e}");
            }
        }
    });
    let (users, grace) = (identity.users.clone(), identity.settings.refresh_grace);
    tasks.spawn(|stop| async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stop.cancelled() => return,
            }
            match users.sweep_refresh_tokens(grace).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(swept = n, "expired refresh tokens deleted"),
                Err(e) => tracing::warn!("refresh-token sweep failed: {e}"),
            }
            if let Err(e) = users.sweep_attempts(Duration::from_secs(60)).await {
                tracing::warn!("sweep of old login-limit windows failed: {e}");
            }
        }
    });
}
