//! A request waits for an unreachable store once. Every store call is bounded
//! by the store timeout, but a request that makes several (its session, then
//! a counter) would wait for each in turn: 1.1 s for two calls behind a
//! partition, where the timeout promises 0.5 s. Inside [`one_wait`], the
//! first call that times out marks the request, and its later calls fail at
//! once with the same cause. Outside any request (background tasks) every
//! call waits its own timeout.

use std::cell::Cell;
use std::future::Future;

tokio::task_local! {
    /// Whether a store call of this request has already timed out.
    static TIMED_OUT: Cell<bool>;
}

/// Runs `request` so that its store calls wait for an unreachable store
/// once in all.
pub async fn one_wait<F: Future>(request: F) -> F::Output {
    TIMED_OUT.scope(Cell::new(false), request).await
}

/// Whether this request's store has already failed to answer in time.
pub(crate) fn already_timed_out() -> bool {
    TIMED_OUT.try_with(Cell::get).unwrap_or(false)
}

/// Records that a store call of this request timed out.
pub(crate) fn timed_out() {
    let _ = TIMED_OUT.try_with(|flag| flag.set(true));
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_timeout_marks_its_own_request_only() {
        assert!(!super::already_timed_out());
        super::timed_out(); // outside a request: nothing to mark
        assert!(!super::already_timed_out());
        super::one_wait(async {
            assert!(!super::already_timed_out());
            super::timed_out();
            assert!(super::already_timed_out());
        })
        .await;
        super::one_wait(async { assert!(!super::already_timed_out()) }).await;
    }
}
