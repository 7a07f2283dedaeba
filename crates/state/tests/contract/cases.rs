//! The contract cases; each takes any [`Backend`].

use std::sync::Arc;
use std::time::Duration;

use statecraft_state::{
    CounterName, Mutation, ProductId, RuleViolation, SessionData, SessionId, SessionSecret,
    StoreError, Update,
};

use crate::{Backend, TIMEOUTS};

fn new_id() -> SessionId {
    SessionSecret::generate().public_id()
}

fn add(product: &str, quantity: u16) -> Mutation {
    Mutation::AddToCart {
        product: ProductId::parse(product).unwrap(),
        quantity,
    }
}

fn counter(n: u64) -> SessionData {
    SessionData {
        counter: n,
        ..SessionData::default()
    }
}

pub(crate) async fn create_then_load_returns_the_data(b: &impl Backend) {
    let store = b.sessions().await;
    let id = new_id();
    let mut data = counter(3);
    add("book-1", 2).apply(&mut data).unwrap();
    store.create(&id, &data).await.unwrap();
    assert_eq!(store.load(&id).await.unwrap(), Some(data));
    assert!(store.count().await.unwrap() >= 1);
    store.ping().await.unwrap();
}

pub(crate) async fn unknown_id_is_missing_everywhere(b: &impl Backend) {
    let store = b.sessions().await;
    let id = new_id();
    assert_eq!(store.load(&id).await.unwrap(), None);
    assert_eq!(
        store
            .update(&id, &Mutation::IncrementCounter)
            .await
            .unwrap(),
        Update::Missing
    );
    assert!(!store.delete(&id).await.unwrap());
    // an update of a missing session must not create it
    assert_eq!(store.load(&id).await.unwrap(), None);
}

pub(crate) async fn fifty_concurrent_writers_lose_no_update(b: &impl Backend) {
    let store = b.sessions().await;
    let id = new_id();
    store.create(&id, &counter(0)).await.unwrap();
    let writers: Vec<_> = (0..50)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.update(&id, &Mutation::IncrementCounter).await })
        })
        .collect();
    for w in writers {
        assert!(matches!(w.await.unwrap().unwrap(), Update::Applied(_)));
    }
    assert_eq!(store.load(&id).await.unwrap().unwrap().counter, 50);
}

pub(crate) async fn fifty_concurrent_cart_adds_lose_no_update(b: &impl Backend) {
    let store = b.sessions().await;
    let id = new_id();
    store.create(&id, &SessionData::default()).await.unwrap();
    let writers: Vec<_> = (0..50)
        .map(|i| {
            let store = Arc::clone(&store);
            // two products interleaved, so lines are created concurrently too
            let product = if i % 2 == 0 { "book-1" } else { "pen-7" };
            tokio::spawn(async move { store.update(&id, &add(product, 1)).await })
        })
        .collect();
    for w in writers {
        assert!(matches!(w.await.unwrap().unwrap(), Update::Applied(_)));
    }
    let data = store.load(&id).await.unwrap().unwrap();
    assert_eq!(data.cart_items.len(), 2);
    assert_eq!(data.total_items(), 50);
}

pub(crate) async fn rejected_mutation_changes_nothing(b: &impl Backend) {
    let store = b.sessions().await;
    let id = new_id();
    let mut data = SessionData::default();
    add("book-1", 999).apply(&mut data).unwrap();
    store.create(&id, &data).await.unwrap();
    assert_eq!(
        store.update(&id, &add("book-1", 1)).await.unwrap(),
        Update::Rejected(RuleViolation::QuantityLimit)
    );
    assert_eq!(store.load(&id).await.unwrap(), Some(data));
}

pub(crate) async fn delete_removes_at_once(b: &impl Backend) {
    let store = b.sessions().await;
    let id = new_id();
    store.create(&id, &counter(1)).await.unwrap();
    assert!(store.delete(&id).await.unwrap());
    assert_eq!(store.load(&id).await.unwrap(), None);
    assert!(!store.delete(&id).await.unwrap());
}

pub(crate) async fn idle_expiry_slides_with_use(b: &impl Backend) {
    let store = b.sessions().await;
    let used = new_id();
    let idle = new_id();
    store.create(&used, &counter(0)).await.unwrap();
    store.create(&idle, &counter(0)).await.unwrap();
    let step = TIMEOUTS.idle * 3 / 5;
    // Two steps of 60% each: the used session is touched in between and lives.
    b.advance(step).await;
    store
        .update(&used, &Mutation::IncrementCounter)
        .await
        .unwrap();
    b.advance(step).await;
    assert_eq!(
        store.load(&idle).await.unwrap(),
        None,
        "idle session outlived its timeout"
    );
    assert_eq!(store.load(&used).await.unwrap().map(|d| d.counter), Some(1));
}

pub(crate) async fn absolute_expiry_ends_even_a_busy_session(b: &impl Backend) {
    let store = b.sessions().await;
    let id = new_id();
    store.create(&id, &counter(0)).await.unwrap();
    let step = TIMEOUTS.idle / 2;
    let mut elapsed = Duration::ZERO;
    while elapsed + step < TIMEOUTS.absolute {
        b.advance(step).await;
        elapsed += step;
        assert!(
            store.load(&id).await.unwrap().is_some(),
            "busy session ended early at {elapsed:?}"
        );
    }
    b.advance(step).await;
    assert_eq!(store.load(&id).await.unwrap(), None);
}

pub(crate) async fn creating_an_existing_id_conflicts(b: &impl Backend) {
    let store = b.sessions().await;
    let id = new_id();
    store.create(&id, &counter(1)).await.unwrap();
    assert!(matches!(
        store.create(&id, &counter(2)).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(store.load(&id).await.unwrap().map(|d| d.counter), Some(1));
}

pub(crate) async fn counters_start_at_zero_and_count_concurrently(b: &impl Backend) {
    let store = b.counters().await;
    let name = CounterName::parse(&format!("contract-{}", new_id().spread())).unwrap();
    assert_eq!(store.get(&name).await.unwrap(), 0);
    let writers: Vec<_> = (0..50)
        .map(|_| {
            let store = Arc::clone(&store);
            let name = name.clone();
            tokio::spawn(async move { store.increment(&name).await })
        })
        .collect();
    let mut seen: Vec<u64> = Vec::new();
    for w in writers {
        seen.push(w.await.unwrap().unwrap());
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=50).collect::<Vec<_>>(),
        "each increment sees its own value"
    );
    assert_eq!(store.get(&name).await.unwrap(), 50);
    store.ping().await.unwrap();
}
