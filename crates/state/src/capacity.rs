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
    session_with_cart(2)
}

/// A session with the counter at 1 and `items` products in its cart (at
/// most [`crate::MAX_CART_LINES`]): `book-1` ×2, `pen-7` ×1, then one
/// each of `lab-item-N`, as the lab's users fill theirs.
pub fn session_with_cart(items: usize) -> SessionData {
    let product = |name: &str| ProductId::parse(name).unwrap_or_else(|_| unreachable!());
    let mut data = SessionData::default();
    let mut steps = vec![Mutation::IncrementCounter];
    for n in 0..items {
        steps.push(match n {
            0 => Mutation::AddToCart {
                product: product("book-1"),
                quantity: 2,
            },
            1 => Mutation::AddToCart {
                product: product("pen-7"),
                quantity: 1,
            },
            _ => Mutation::AddToCart {
                product: product(&format!("lab-item-{n}")),
                quantity: 1,
            },
        });
    }
    for step in &steps {
        // Beyond the cart's limit a step is refused: the cart stays full.
        let _ = step.apply(&mut data);
    }
    data
}

/// Creates `n` sessions holding `data` in `store`, each under a fresh ID.
///
/// # Errors
/// The first store error.
pub async fn fill(store: &dyn SessionStore, n: u64, data: &SessionData) -> Result<(), StoreError> {
    for _ in 0..n {
        let id = SessionSecret::generate().public_id();
        store.create(&id, data).await?;
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
        let big = super::session_with_cart(60);
        assert_eq!(big.cart_items.len(), 60);
        assert_eq!(
            super::session_with_cart(500).cart_items.len(),
            crate::MAX_CART_LINES
        );
        assert_eq!(data.total_items(), 3);
    }
}
