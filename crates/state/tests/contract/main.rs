//! The store contract: one suite, written once, run against every backend.
//!
//! Each backend module supplies a [`Backend`] and instantiates the suite with
//! `contract_suite!`. Backends that need a real service (Redis) read its URL from
//! the environment and say so when it is absent.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod cases;
mod memory;
mod redis;
mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use statecraft_state::{CounterStore, Denylist, SessionStore, SessionTimeouts};

/// Timeouts the suite runs under: short, so that real-time backends finish fast.
pub(crate) const TIMEOUTS: SessionTimeouts = SessionTimeouts {
    idle: Duration::from_secs(2),
    absolute: Duration::from_secs(5),
};

/// A backend under test: fresh stores, and a way to let time pass.
#[async_trait]
pub(crate) trait Backend: Send + Sync {
    /// A fresh, empty session store with [`TIMEOUTS`].
    async fn sessions(&self) -> Arc<dyn SessionStore>;
    /// A fresh counter store, isolated from other tests.
    async fn counters(&self) -> Arc<dyn CounterStore>;
    /// A fresh denylist (on the wall clock, as token expiry is).
    async fn denylist(&self) -> Arc<dyn Denylist>;
    /// Lets `by` pass as the store sees time (a manual clock, or a real sleep).
    async fn advance(&self, by: Duration);
    /// Removes what the case left behind in a shared service.
    async fn cleanup(&self) {}
}

/// Instantiates every contract case as a test for one backend.
#[macro_export]
macro_rules! contract_suite {
    ($backend:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                if let Some(backend) = $backend.await {
                    $crate::cases::$case(&backend).await;
                    $crate::Backend::cleanup(&backend).await;
                }
            }
        )*
    };
}

/// Every case name, so each backend runs the same list.
#[macro_export]
macro_rules! all_contract_cases {
    ($backend:expr) => {
        $crate::contract_suite!($backend;
            create_then_load_returns_the_data,
            unknown_id_is_missing_everywhere,
            fifty_concurrent_writers_lose_no_update,
            fifty_concurrent_cart_adds_lose_no_update,
            rejected_mutation_changes_nothing,
            cart_adds_follow_the_rules_step_by_step,
            delete_removes_at_once,
            idle_expiry_slides_with_use,
            absolute_expiry_ends_even_a_busy_session,
            creating_an_existing_id_conflicts,
            counters_start_at_zero_and_count_concurrently,
            logins_are_listed_and_ended_together,
            logins_expire_with_their_sessions,
            denied_tokens_stay_denied_until_their_expiry,
            checkout_steps_follow_their_order,
            checkout_transitions_agree_with_the_rules,
        );
    };
}
