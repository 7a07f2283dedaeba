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

/// The ID of a new login of `user`: it carries the user's tag.
fn login_id(user: &str) -> SessionId {
    SessionSecret::generate_for_user(user).public_id()
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

/// Cart adds agree with [`Mutation::apply`] (the rules' one definition) step by
/// step, on the cases a store's own edit of the cart could get wrong: product
/// IDs that are prefixes of each other, a line's quantity at its limit, a new
/// line too big, a full cart, and an address whose text looks like cart lines.
pub(crate) async fn cart_adds_follow_the_rules_step_by_step(b: &impl Backend) {
    use statecraft_state::{MAX_CART_LINES, MAX_QUANTITY};
    let store = b.sessions().await;
    let id = new_id();
    let mut model = SessionData {
        shipping: Some(statecraft_state::Address {
            line1: r#"["book-1",5]] ["pen-7",1]"#.to_owned(),
            ..address()
        }),
        ..SessionData::default()
    };
    store.create(&id, &model).await.unwrap();
    let mut steps = vec![
        add("book-1", 2),
        add("book-10", 3),
        add("xbook-1", 1),
        add("book-1", 5),
        add("book-10", MAX_QUANTITY - 3),
        add("book-10", 1),
        add("pen-7", MAX_QUANTITY + 1),
        add("pen-7", MAX_QUANTITY),
    ];
    steps.extend((0..MAX_CART_LINES).map(|i| add(&format!("line-{i}"), 1)));
    steps.push(add("book-1", 1));
    for (n, mutation) in steps.iter().enumerate() {
        let expected = match mutation.apply(&mut model) {
            Ok(()) => Update::Applied(model.clone()),
            Err(rule) => Update::Rejected(rule),
        };
        let got = store.update(&id, mutation).await.unwrap();
        assert_eq!(got, expected, "step {n}: {mutation:?}");
    }
    assert_eq!(model.cart_items.len(), MAX_CART_LINES);
    assert_eq!(store.load(&id).await.unwrap(), Some(model));
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

fn login(user: &str, n: u64) -> SessionData {
    SessionData {
        counter: n,
        user_id: Some(user.to_owned()),
        ..SessionData::default()
    }
}

fn unix_ms() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    u64::try_from(since.as_millis()).unwrap()
}

pub(crate) async fn logins_are_listed_and_ended_together(b: &impl Backend) {
    let store = b.sessions().await;
    let (first, second, other, anonymous) = (
        login_id("user-7"),
        login_id("user-7"),
        login_id("user-8"),
        new_id(),
    );
    store
        .create_login(&first, &login("user-7", 1), "Firefox")
        .await
        .unwrap();
    store
        .create_login(&second, &login("user-7", 2), &"é".repeat(200))
        .await
        .unwrap();
    store
        .create_login(&other, &login("user-8", 3), "curl")
        .await
        .unwrap();
    store.create(&anonymous, &counter(4)).await.unwrap();
    // A login needs a user.
    assert!(
        store
            .create_login(&new_id(), &counter(5), "x")
            .await
            .is_err()
    );

    let listed = store.user_sessions("user-7").await.unwrap();
    let ids: Vec<_> = listed.iter().map(|l| l.id).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&first) && ids.contains(&second));
    for l in &listed {
        assert!(l.created_ms <= l.last_seen_ms, "{l:?}");
        assert!(l.user_agent.len() <= statecraft_state::MAX_USER_AGENT);
    }
    assert!(listed.iter().any(|l| l.user_agent == "Firefox"));
    // Cut at a character boundary, never mid-character.
    assert!(
        listed
            .iter()
            .any(|l| l.user_agent.starts_with('é') && l.user_agent.len() == 256)
    );
    assert_eq!(store.load(&first).await.unwrap(), Some(login("user-7", 1)));

    // An ordinary logout leaves the other sessions listed.
    assert!(store.delete(&first).await.unwrap());
    let ids: Vec<_> = store
        .user_sessions("user-7")
        .await
        .unwrap()
        .iter()
        .map(|l| l.id)
        .collect();
    assert_eq!(ids, [second]);

    // Log out everywhere: this user's sessions, nobody else's.
    assert_eq!(store.delete_user_sessions("user-7").await.unwrap(), 1);
    assert_eq!(store.load(&second).await.unwrap(), None);
    assert!(store.user_sessions("user-7").await.unwrap().is_empty());
    assert_eq!(store.delete_user_sessions("user-7").await.unwrap(), 0);
    assert_eq!(store.user_sessions("user-8").await.unwrap().len(), 1);
    assert!(store.load(&other).await.unwrap().is_some());
    assert!(store.load(&anonymous).await.unwrap().is_some());
    assert!(store.user_sessions("nobody").await.unwrap().is_empty());
}

pub(crate) async fn logins_expire_with_their_sessions(b: &impl Backend) {
    let store = b.sessions().await;
    let (kept, idle) = (login_id("user-9"), login_id("user-9"));
    store
        .create_login(&kept, &login("user-9", 0), "a")
        .await
        .unwrap();
    store
        .create_login(&idle, &login("user-9", 0), "b")
        .await
        .unwrap();
    b.advance(TIMEOUTS.idle / 2).await;
    store.load(&kept).await.unwrap().unwrap();
    b.advance(TIMEOUTS.idle / 2 + Duration::from_millis(300))
        .await;
    let listed = store.user_sessions("user-9").await.unwrap();
    assert_eq!(listed.iter().map(|l| l.id).collect::<Vec<_>>(), [kept]);
    assert!(listed[0].last_seen_ms > listed[0].created_ms);
    b.advance(TIMEOUTS.idle).await;
    assert!(store.user_sessions("user-9").await.unwrap().is_empty());
    assert_eq!(store.delete_user_sessions("user-9").await.unwrap(), 0);
}

pub(crate) async fn denied_tokens_stay_denied_until_their_expiry(b: &impl Backend) {
    let denylist = b.denylist().await;
    let now = unix_ms();
    denylist.deny("jti-live", now + 60_000).await.unwrap();
    denylist.deny("jti-past", now - 1_000).await.unwrap();
    denylist.deny("jti-soon", now + 300).await.unwrap();
    assert!(denylist.is_denied("jti-live").await.unwrap());
    assert!(denylist.is_denied("jti-soon").await.unwrap());
    assert!(!denylist.is_denied("jti-past").await.unwrap());
    assert!(!denylist.is_denied("jti-other").await.unwrap());
    // Denying again never shortens a revocation.
    denylist.deny("jti-live", now + 1).await.unwrap();
    assert!(denylist.is_denied("jti-live").await.unwrap());
    assert!(
        denylist
            .any_denied(&["jti-other", "jti-live"])
            .await
            .unwrap()
    );
    assert!(
        !denylist
            .any_denied(&["jti-other", "jti-past"])
            .await
            .unwrap()
    );
    assert!(!denylist.any_denied(&[]).await.unwrap());
    // The app's form: a token's entry and its login's share a hash tag.
    denylist.deny("sid:{fam-1}", now + 60_000).await.unwrap();
    assert!(
        denylist
            .any_denied(&["{fam-1}jti-z", "sid:{fam-1}"])
            .await
            .unwrap()
    );
    assert!(
        !denylist
            .any_denied(&["{fam-2}jti-z", "sid:{fam-2}"])
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!denylist.is_denied("jti-soon").await.unwrap());
}

fn address() -> statecraft_state::Address {
    statecraft_state::Address {
        name: "Alice \"A\" Example".to_owned(),
        line1: "1 Main St / Flat 2".to_owned(),
        city: "Zürich".to_owned(),
        postal_code: "8001".to_owned(),
        country: "CH".to_owned(),
    }
}

pub(crate) async fn checkout_steps_follow_their_order(b: &impl Backend) {
    use statecraft_state::CheckoutStep::{Checkout, Confirmed, Payment, Shipping};
    let store = b.sessions().await;
    let id = new_id();
    store.create(&id, &counter(1)).await.unwrap();
    let refused = |u: Update| match u {
        Update::Rejected(v) => v,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let applied = |u: Update| match u {
        Update::Applied(d) => d,
        other => panic!("expected a change, got {other:?}"),
    };
    let step = |expected| RuleViolation::StepInvalid { expected };
    assert_eq!(
        refused(store.update(&id, &Mutation::StartCheckout).await.unwrap()),
        RuleViolation::CartEmpty
    );
    applied(store.update(&id, &add("book-1", 2)).await.unwrap());
    assert_eq!(
        refused(
            store
                .update(&id, &Mutation::SetShipping(address()))
                .await
                .unwrap()
        ),
        step(Checkout)
    );
    assert_eq!(
        applied(store.update(&id, &Mutation::StartCheckout).await.unwrap()).current_step,
        Checkout
    );
    assert_eq!(
        refused(
            store
                .update(&id, &Mutation::SetPayment("tok_1".into()))
                .await
                .unwrap()
        ),
        step(Shipping)
    );
    assert_eq!(
        refused(
            store
                .update(&id, &Mutation::CompleteCheckout)
                .await
                .unwrap()
        ),
        step(Payment)
    );
    let data = applied(
        store
            .update(&id, &Mutation::SetShipping(address()))
            .await
            .unwrap(),
    );
    assert_eq!(
        (data.current_step, data.shipping.as_ref()),
        (Shipping, Some(&address()))
    );
    let data = applied(
        store
            .update(&id, &Mutation::SetPayment("tok_123".into()))
            .await
            .unwrap(),
    );
    assert_eq!(data.current_step, Payment);
    // Everything survives a load, and other changes keep it.
    applied(
        store
            .update(&id, &Mutation::IncrementCounter)
            .await
            .unwrap(),
    );
    applied(store.update(&id, &add("pen-7", 1)).await.unwrap());
    let loaded = store.load(&id).await.unwrap().unwrap();
    assert_eq!(loaded.shipping, Some(address()));
    assert_eq!(loaded.payment_token.as_deref(), Some("tok_123"));
    assert_eq!(
        (loaded.current_step, loaded.counter, loaded.cart_items.len()),
        (Payment, 2, 2)
    );
    // A new address clears the payment: it must be given again.
    let data = applied(
        store
            .update(&id, &Mutation::SetShipping(address()))
            .await
            .unwrap(),
    );
    assert_eq!((data.current_step, data.payment_token), (Shipping, None));
    applied(
        store
            .update(&id, &Mutation::SetPayment("tok_9".into()))
            .await
            .unwrap(),
    );
    let done = applied(
        store
            .update(&id, &Mutation::CompleteCheckout)
            .await
            .unwrap(),
    );
    assert_eq!(done.current_step, Confirmed);
    assert!(done.cart_items.is_empty() && done.shipping.is_none() && done.payment_token.is_none());
    assert_eq!(store.load(&id).await.unwrap().unwrap(), done);
    // Confirmed once: a second confirmation is out of order.
    assert_eq!(
        refused(
            store
                .update(&id, &Mutation::CompleteCheckout)
                .await
                .unwrap()
        ),
        step(Payment)
    );
}

/// Each checkout step taken from each step, with and without a cart, agrees
/// with [`Mutation::apply`], the rule's one definition in Rust: the Redis
/// script keeps its own copy for the atomic path, and this case proves that
/// the copies agree (the answer, and the session stored afterwards).
pub(crate) async fn checkout_transitions_agree_with_the_rules(b: &impl Backend) {
    use statecraft_state::CheckoutStep::{Browsing, Checkout, Confirmed, Payment, Shipping};
    let store = b.sessions().await;
    let mutations = [
        Mutation::StartCheckout,
        Mutation::SetShipping(address()),
        Mutation::SetPayment("tok_42".into()),
        Mutation::CompleteCheckout,
    ];
    for from in [Browsing, Checkout, Shipping, Payment, Confirmed] {
        for with_cart in [false, true] {
            let start = SessionData {
                cart_items: if with_cart {
                    vec![statecraft_state::CartLine {
                        product_id: ProductId::parse("book-1").unwrap(),
                        quantity: 2,
                    }]
                } else {
                    Vec::new()
                },
                current_step: from,
                shipping: matches!(from, Shipping | Payment).then(address),
                payment_token: (from == Payment).then(|| "tok_1".to_owned()),
                ..SessionData::default()
            };
            for mutation in &mutations {
                let id = new_id();
                store.create(&id, &start).await.unwrap();
                let mut expected = start.clone();
                let want = match mutation.apply(&mut expected) {
                    Ok(()) => Update::Applied(expected.clone()),
                    Err(violation) => Update::Rejected(violation),
                };
                let case = format!("{mutation:?} from {from:?}, cart: {with_cart}");
                assert_eq!(store.update(&id, mutation).await.unwrap(), want, "{case}");
                let stored = store.load(&id).await.unwrap().unwrap();
                let kept = if matches!(want, Update::Applied(_)) {
                    &expected
                } else {
                    &start
                };
                assert_eq!(&stored, kept, "{case}: stored afterwards");
            }
        }
    }
}
