//! Refresh-token families in the users database.
//!
//! Each login by token starts a family. Using a token retires it and issues
//! its successor (derived from it, see `statecraft_auth::refresh`). Presenting
//! a retired token again within the grace window returns the same successor
//! (two tabs refreshing at once); after it, it is treated as theft and the
//! whole family is revoked. The retirement is one guarded `UPDATE … WHERE
//! retired_ms IS NULL`, so of two concurrent uses exactly one rotates, on
//! SQLite and PostgreSQL alike.

use std::time::Duration;

use sqlx::Row as _;
use statecraft_auth::{RefreshSecret, RefreshToken};

use super::UsersDb;
use crate::db::DbError;
use crate::db::now_ms;

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Rotated: here is its successor.
    Rotated {
        /// The user the family belongs to.
        user_id: String,
        /// The family (the access token's `sid`).
        family: String,
        /// The new refresh token.
        successor: RefreshToken,
    },
    /// A replay of the just-retired token within the grace window: the same
    /// successor as the first use got.
    Replayed {
        /// The user the family belongs to.
        user_id: String,
        /// The family.
        family: String,
        /// The successor issued at the first use.
        successor: RefreshToken,
    },
    /// A retired token presented after the grace window: the family is now
    /// revoked (and its access tokens must be refused too).
    ReuseDetected {
        /// The family revoked.
        family: String,
    },
    /// The family was revoked (logout, or an earlier reuse).
    Revoked,
    /// Past its expiry.
    Expired,
    /// Not a token this service issued.
    Unknown,
}

/// What the refresh families and tokens take in the users database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshFootprint {
    /// Families and tokens, together.
    pub rows: u64,
    /// Bytes: on PostgreSQL both tables with their indexes; on SQLite the
    /// whole database (it has no per-table size), which only these rows grow
    /// while logins are measured.
    pub bytes: u64,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl UsersDb {
    /// Starts a family for `user_id` with `token` as its first member, valid
    /// for `ttl`; returns the family's ID.
    ///
    /// # Errors
    /// [`DbError`] when the database fails.
    pub async fn start_family(
        &self,
        user_id: &str,
        token: &RefreshToken,
        ttl: Duration,
    ) -> Result<String, DbError> {
        let family = RefreshToken::generate().hash().0[..32].to_owned();
        let now = now_ms();
        let mut tx = self
            .db
            .pool()
            .begin()
            .await
            .map_err(|e| self.db.error(&e))?;
        sqlx::query(
            "INSERT INTO refresh_families (family, user_id, created_ms) VALUES ($1, $2, $3)",
        )
        .bind(&family)
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.db.error(&e))?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family, issued_ms, expires_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(token.hash().0)
        .bind(&family)
        .bind(now)
        .bind(now.saturating_add(ms(ttl)))
        .execute(&mut *tx)
        .await
        .map_err(|e| self.db.error(&e))?;
        tx.commit().await.map_err(|e| self.db.error(&e))?;
        Ok(family)
    }

    /// Uses `token`: rotates it, replays its rotation within `grace`, or
    /// detects its reuse (see [`RefreshOutcome`]). A successor lives `ttl`.
    ///
    /// # Errors
    /// [`DbError`] when the database fails.
    pub async fn rotate(
        &self,
        token: &RefreshToken,
        secret: &RefreshSecret,
        ttl: Duration,
        grace: Duration,
    ) -> Result<RefreshOutcome, DbError> {
        let now = now_ms();
        let hash = token.hash().0;
        let successor = token.successor(secret);
        let err = |e: sqlx::Error| self.db.error(&e);
        let mut tx = self.db.pool().begin().await.map_err(err)?;
        let retired = sqlx::query(
            "UPDATE refresh_tokens SET retired_ms = $1 \
             WHERE token_hash = $2 AND retired_ms IS NULL AND expires_ms > $1 \
             AND family IN (SELECT family FROM refresh_families WHERE revoked_ms IS NULL)",
        )
        .bind(now)
        .bind(&hash)
        .execute(&mut *tx)
        .await
        .map_err(err)?
        .rows_affected();
        let row = sqlx::query(
            "SELECT t.family, t.expires_ms, t.retired_ms, f.revoked_ms, f.user_id \
             FROM refresh_tokens t JOIN refresh_families f ON f.family = t.family \
             WHERE t.token_hash = $1",
        )
        .bind(&hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(err)?;
        let Some(row) = row else {
            return Ok(RefreshOutcome::Unknown);
        };
        let family: String = row.try_get("family").map_err(err)?;
        let user_id: String = row.try_get("user_id").map_err(err)?;
        if retired == 1 {
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, family, issued_ms, expires_ms) VALUES ($1, $2, $3, $4)",
            )
            .bind(successor.hash().0)
            .bind(&family)
            .bind(now)
            .bind(now.saturating_add(ms(ttl)))
            .execute(&mut *tx)
            .await
            .map_err(err)?;
            tx.commit().await.map_err(err)?;
            return Ok(RefreshOutcome::Rotated {
                user_id,
                family,
                successor,
            });
        }
        let revoked: Option<i64> = row.try_get("revoked_ms").map_err(err)?;
        let retired_at: Option<i64> = row.try_get("retired_ms").map_err(err)?;
        let expires: i64 = row.try_get("expires_ms").map_err(err)?;
        let outcome = match (revoked, retired_at) {
            (Some(_), _) => RefreshOutcome::Revoked,
            (None, None) if expires <= now => RefreshOutcome::Expired,
            (None, Some(at)) if now.saturating_sub(at) <= ms(grace) => RefreshOutcome::Replayed {
                user_id,
                family,
                successor,
            },
            (None, Some(_)) => {
                sqlx::query("UPDATE refresh_families SET revoked_ms = $1 WHERE family = $2 AND revoked_ms IS NULL")
                    .bind(now)
                    .bind(&family)
                    .execute(&mut *tx)
                    .await
                    .map_err(err)?;
                tracing::warn!(user = %user_id, "refresh token reused after its grace window: family revoked");
                RefreshOutcome::ReuseDetected { family }
            }
            // Active, unexpired, unrevoked, yet not retired above: only a
            // concurrent change in between can do that; refuse this once.
            (None, None) => RefreshOutcome::Unknown,
        };
        tx.commit().await.map_err(err)?;
        Ok(outcome)
    }

    /// Revokes a family (logout with a bearer token whose `sid` names it).
    ///
    /// # Errors
    /// [`DbError`] when the database fails.
    pub async fn revoke_family(&self, family: &str) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE refresh_families SET revoked_ms = $1 WHERE family = $2 AND revoked_ms IS NULL",
        )
        .bind(now_ms())
        .bind(family)
        .execute(self.db.pool())
        .await
        .map(|_| ())
        .map_err(|e| self.db.error(&e))
    }

    /// Revokes every family of a user (log out everywhere); returns their IDs,
    /// so that the access tokens issued with them can be refused too.
    ///
    /// # Errors
    /// [`DbError`] when the database fails.
    pub async fn revoke_user_families(&self, user_id: &str) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query(
            "UPDATE refresh_families SET revoked_ms = $1 \
             WHERE user_id = $2 AND revoked_ms IS NULL RETURNING family",
        )
        .bind(now_ms())
        .bind(user_id)
        .fetch_all(self.db.pool())
        .await
        .map_err(|e| self.db.error(&e))?;
        rows.iter()
            .map(|r| r.try_get("family").map_err(|e| self.db.error(&e)))
            .collect()
    }

    /// Rows and bytes of the refresh families and tokens (for `statecraft
    /// capacity --measure --credential token`).
    ///
    /// # Errors
    /// [`DbError`] when the database fails.
    pub async fn refresh_footprint(&self) -> Result<RefreshFootprint, DbError> {
        let err = |e: sqlx::Error| self.db.error(&e);
        let rows: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM refresh_families) + (SELECT count(*) FROM refresh_tokens)",
        )
        .fetch_one(self.db.pool())
        .await
        .map_err(err)?;
        let size = if self.db.postgres {
            "SELECT pg_total_relation_size('refresh_families') + pg_total_relation_size('refresh_tokens')"
        } else {
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
        };
        let bytes: i64 = sqlx::query_scalar(size)
            .fetch_one(self.db.pool())
            .await
            .map_err(err)?;
        Ok(RefreshFootprint {
            rows: u64::try_from(rows).unwrap_or(0),
            bytes: u64::try_from(bytes).unwrap_or(0),
        })
    }

    /// Deletes tokens expired for longer than `grace` (and families left
    /// empty); returns how many tokens went.
    ///
    /// # Errors
    /// [`DbError`] when the database fails.
    pub async fn sweep_refresh_tokens(&self, grace: Duration) -> Result<u64, DbError> {
        let cutoff = now_ms().saturating_sub(ms(grace));
        let gone = sqlx::query("DELETE FROM refresh_tokens WHERE expires_ms < $1")
            .bind(cutoff)
            .execute(self.db.pool())
            .await
            .map_err(|e| self.db.error(&e))?
            .rows_affected();
        sqlx::query(
            "DELETE FROM refresh_families WHERE NOT EXISTS \
             (SELECT 1 FROM refresh_tokens t WHERE t.family = refresh_families.family)",
        )
        .execute(self.db.pool())
        .await
        .map_err(|e| self.db.error(&e))?;
        Ok(gone)
    }
}
