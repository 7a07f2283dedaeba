//! What a real store spends on a typical session: the session, filling a
//! store with them, and the process's resident memory. (The formula, M_total =
//! N_sessions × S_session, lives with the lab, which reports it.)

use crate::data::{Mutation, SessionData};
use crate::error::StoreError;
use crate::id::SessionSecret;
use crate::name::ProductId;
use crate::store::SessionStore;

/// A typical session: the counter at 1 and a 2-item cart (`book-1` ×2, `pen-7` ×1),
/// built by the same mutations the API applies.
pub fn typical_session() -> SessionData {
    let mut data = SessionData::default();
    let steps = [
        Mutation::IncrementCounter,
        Mutation::AddToCart {
            product: ProductId::parse("book-1").unwrap_or_else(|_| unreachable!()),
            quantity: 2,
        },
        Mutation::AddToCart {
            product: ProductId::parse("pen-7").unwrap_or_else(|_| unreachable!()),
            quantity: 1,
        },
    ];
    for step in &steps {
        // The typical session is well inside every limit.
        let _ = step.apply(&mut data);
    }
    data
}

/// Creates `n` typical sessions in `store`, each under a fresh ID.
///
/// # Errors
/// The first store error.
pub async fn fill(store: &dyn SessionStore, n: u64) -> Result<(), StoreError> {
    let data = typical_session();
    for _ in 0..n {
        let id = SessionSecret::generate().public_id();
        store.create(&id, &data).await?;
    }
    Ok(())
}

/// This process's resident set size in bytes (Linux `/proc/self/status`).
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typical_session_has_a_counter_and_two_items() {
        let data = typical_session();
        assert_eq!(data.counter, 1);
        assert_eq!(data.cart_items.len(), 2);
        assert_eq!(data.total_items(), 3);
    }
}
