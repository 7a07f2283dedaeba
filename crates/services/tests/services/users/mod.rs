//! The users service's data on SQLite (always) and PostgreSQL (when
//! `STATECRAFT_TEST_POSTGRES_URL` is set; scripts/test sets it): one list of
//! cases run on both, each on a fresh database (a temporary directory, or a
//! schema of its own that is dropped afterwards).

mod cases;

use std::future::Future;

use statecraft_auth::Passwords;
use statecraft_services::{DataSpec, UsersDb};

/// Cheap Argon2 parameters: the cases test behaviour, not cost.
fn passwords() -> Passwords {
    Passwords::with_params(1024, 1)
}

/// Runs `case` on a fresh SQLite database.
async fn on_sqlite<F, Fut>(case: F)
where
    F: FnOnce(UsersDb, DataSpec, Option<String>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let spec = DataSpec::Sqlite(dir.path().to_owned());
    let db = UsersDb::open(&spec, None, passwords()).await.unwrap();
    case(db, spec, None).await;
}

/// Runs `case` in a fresh PostgreSQL schema, or says it did not.
async fn on_postgres<F, Fut>(case: F)
where
    F: FnOnce(UsersDb, DataSpec, Option<String>) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(url) = statecraft_testkit::service_url(
        "STATECRAFT_TEST_POSTGRES_URL",
        "the PostgreSQL users suite",
    ) else {
        return;
    };
    let schema = format!("users_test_{:016x}", rand::random::<u64>());
    let spec = DataSpec::Postgres(url.clone());
    let db = UsersDb::open(&spec, Some(&schema), passwords())
        .await
        .expect("STATECRAFT_TEST_POSTGRES_URL is set, so PostgreSQL must answer");
    // The schema is dropped even when the case fails.
    let outcome = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(case(
        db.clone(),
        spec,
        Some(schema.clone()),
    )))
    .await;
    db.close().await;
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

macro_rules! on_both {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::users::on_sqlite(crate::users::cases::$case).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::users::on_postgres(crate::users::cases::$case).await;
                }
            )*
        }
    };
}

on_both!(
    seeded_users_log_in_with_their_ids_and_roles,
    wrong_or_unknown_credentials_find_nobody,
    registration_checks_its_fields_and_refuses_duplicates,
    data_survives_reopening_and_seeds_are_not_repeated,
    refresh_tokens_rotate_and_replay_within_grace,
    reuse_after_grace_revokes_the_family,
    concurrent_uses_rotate_once,
    expired_and_revoked_families_are_refused,
    attempts_are_limited_atomically_across_callers,
);
