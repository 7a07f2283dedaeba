//! Rate limits on sign-in and registration attempts, in the users database,
//! so that every instance sharing it counts them together: three instances
//! each counting their own let 15 of 20 parallel guesses through.
//!
//! One row per key, in fixed windows: a reservation is one statement (an
//! upsert whose update applies only while failures and attempts under way
//! are below the limit, or the window has ended), atomic in SQLite and in
//! PostgreSQL alike, so parallel attempts never pass the limit. An attempt
//! under way that never settles (its process died) is forgotten with its
//! window.

use std::time::Duration;

use sqlx::Row as _;

use super::UsersDb;
use crate::db::{DbError, now_ms};

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Whole seconds from `now` until `end` (ms), at least one: a `Retry-After`.
fn seconds_until(end: i64, now: i64) -> u64 {
    let wait_ms = u64::try_from(end.saturating_sub(now)).unwrap_or(0).max(1);
    wait_ms.div_ceil(1000)
}

impl UsersDb {
    /// Reserves a place for an attempt under `key`: `Ok(Ok(()))`, or
    /// `Ok(Err(seconds to wait))` when `limit` failures and attempts under
    /// way already fill its `window`.
    ///
    /// # Errors
    /// [`DbError`] when the database fails.
    pub async fn reserve_attempt(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
    ) -> Result<Result<(), u64>, DbError> {
        let now = now_ms();
        let ended = now.saturating_sub(ms(window));
        let reserved = sqlx::query(
            "INSERT INTO attempt_limits (key, window_ms, failures, pending) VALUES ($1, $2, 0, 1) \
             ON CONFLICT (key) DO UPDATE SET \
               failures = CASE WHEN attempt_limits.window_ms <= $3 THEN 0 ELSE attempt_limits.failures END, \
               pending = CASE WHEN attempt_limits.window_ms <= $3 THEN 1 ELSE attempt_limits.pending + 1 END, \
               window_ms = CASE WHEN attempt_limits.window_ms <= $3 THEN $2 ELSE attempt_limits.window_ms END \
             WHERE attempt_limits.window_ms <= $3 \
                OR attempt_limits.failures + attempt_limits.pending < $4 \
             RETURNING window_ms",
        )
        .bind(key)
        .bind(now)
        .bind(ended)
        .bind(i64::from(limit))
        .fetch_optional(self.db.pool())
        .await
        .map_err(|e| self.db.error(&e))?;
        if reserved.is_some() {
            return Ok(Ok(()));
        }
        let started: i64 = sqlx::query("SELECT window_ms FROM attempt_limits WHERE key = $1")
            .bind(key)
            .fetch_optional(self.db.pool())
            .await
            .map_err(|e| self.db.error(&e))?
            .map(|row| row.try_get("window_ms"))
            .transpose()
            .map_err(|e| self.db.error(&e))?
            .unwrap_or(now);
        Ok(Err(seconds_until(started.saturating_add(ms(window)), now)))
    }

    /// Whether `key` has used up `limit` failures in its current `window`
    /// (`Err(seconds to wait)`), without reserving anything: for a check that
    /// must not hold back attempts made alongside it.
    ///
    /// # Errors
    /// [`DbError`] when the database fails.
    pub async fn attempts_exhausted(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
    ) -> Result<Result<(), u64>, DbError> {
        let now = now_ms();
        let row = sqlx::query("SELECT window_ms, failures FROM attempt_limits WHERE key = $1")
            .bind(key)
            .fetch_optional(self.db.pool())
            .await
            .map_err(|e| self.db.error(&e))?;
        let Some(row) = row else {
            return Ok(Ok(()));
        };
        let started: i64 = row.try_get("window_ms").map_err(|e| self.db.error(&e))?;
        let failures: i64 = row.try_get("failures").map_err(|e| self.db.error(&e))?;
        let ends = started.saturating_add(ms(window));
        if ends <= now || failures < i64::from(limit) {
            return Ok(Ok(()));
        }
        Ok(Err(seconds_until(ends, now)))
    }

    /// Settles an attempt reserved under `key`: a failure keeps its place
    /// for the window, a success gives it back.
    ///
    /// # Errors
    /// [`DbError`] when the database fails.
    pub async fn settle_attempt(&self, key: &str, failed: bool) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE attempt_limits SET \
               pending = CASE WHEN pending > 0 THEN pending - 1 ELSE 0 END, \
               failures = failures + $2 \
             WHERE key = $1",
        )
        .bind(key)
        .bind(i64::from(failed))
        .execute(self.db.pool())
        .await
        .map(|_| ())
        .map_err(|e| self.db.error(&e))
    }

    /// Deletes the keys whose window ended more than `window` ago.
    ///
    /// # Errors
    /// [`DbError`] when the database fails.
    pub async fn sweep_attempts(&self, window: Duration) -> Result<u64, DbError> {
        sqlx::query("DELETE FROM attempt_limits WHERE window_ms <= $1")
            .bind(now_ms().saturating_sub(ms(window).saturating_mul(2)))
            .execute(self.db.pool())
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| self.db.error(&e))
    }
}
