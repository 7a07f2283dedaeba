//! The cases, each given a fresh database.

use std::time::Duration;

use statecraft_auth::{RefreshSecret, RefreshToken};
use statecraft_services::{DataSpec, NewUser, RefreshOutcome, UsersDb, UsersError};

const DAY: Duration = Duration::from_secs(86_400);
const GRACE: Duration = Duration::from_secs(10);

fn new_user(username: &str, password: &str) -> NewUser {
    NewUser {
        username: username.to_owned(),
        password: password.to_owned(),
        name: None,
    }
}

pub(crate) async fn seeded_users_log_in_with_their_ids_and_roles(
    db: UsersDb,
    _: DataSpec,
    _: Option<String>,
) {
    let alice = db
        .authenticate("alice", "correct-password")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (alice.id.as_str(), alice.name.as_str(), alice.role.as_str()),
        ("user-1", "Alice", "admin")
    );
    let bob = db
        .authenticate("Bob", "correct-password")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (bob.id.as_str(), bob.name.as_str(), bob.role.as_str()),
        ("user-2", "Bob", "user")
    );
    assert_eq!(db.get("user-2").await.unwrap(), Some(bob));
    assert_eq!(db.get("user-99").await.unwrap(), None);
    assert_eq!(db.get("nonsense").await.unwrap(), None);
    db.ping().await.unwrap();
}

pub(crate) async fn wrong_or_unknown_credentials_find_nobody(
    db: UsersDb,
    _: DataSpec,
    _: Option<String>,
) {
    assert_eq!(
        db.authenticate("alice", "wrong-password").await.unwrap(),
        None
    );
    assert_eq!(db.authenticate("alice", "").await.unwrap(), None);
    assert_eq!(
        db.authenticate("mallory", "correct-password")
            .await
            .unwrap(),
        None
    );
    assert_eq!(db.authenticate("", "").await.unwrap(), None);
    assert_eq!(
        db.authenticate("alice' OR '1'='1", "x").await.unwrap(),
        None
    );
}

pub(crate) async fn registration_checks_its_fields_and_refuses_duplicates(
    db: UsersDb,
    _: DataSpec,
    _: Option<String>,
) {
    let carol = db
        .register(NewUser {
            name: Some("Carol C.".to_owned()),
            ..new_user("Carol", "a long enough password")
        })
        .await
        .unwrap();
    // Numbered after the seeds, stored lowercase, role user.
    assert_eq!(carol.id, "user-3");
    assert_eq!(
        (carol.username.as_str(), carol.role.as_str()),
        ("carol", "user")
    );
    let again = db
        .authenticate("carol", "a long enough password")
        .await
        .unwrap();
    assert_eq!(again, Some(carol));
    assert!(matches!(
        db.register(new_user("CAROL", "another long password")).await,
        Err(UsersError::Taken(name)) if name == "carol"
    ));
    assert!(matches!(
        db.register(new_user("alice", "another long password"))
            .await,
        Err(UsersError::Taken(_))
    ));
    for (user, password, field) in [
        ("dave", "short", "password"),
        ("dave", &"x".repeat(257), "password"),
        ("d", "a long enough password", "user"),
        ("dave smith", "a long enough password", "user"),
    ] {
        match db.register(new_user(user, password)).await {
            Err(UsersError::Invalid { field: f, .. }) => assert_eq!(f, field, "{user}"),
            other => panic!("{user}: {other:?}"),
        }
    }
    let bad_name = NewUser {
        name: Some("new\nline".to_owned()),
        ..new_user("erin", "a long enough password")
    };
    assert!(matches!(
        db.register(bad_name).await,
        Err(UsersError::Invalid { field: "name", .. })
    ));
    // Nothing refused was stored.
    assert_eq!(db.authenticate("dave", "short").await.unwrap(), None);
    let dave = db.register(new_user("dave", "twelve chars")).await.unwrap();
    // From the same sequence (refused attempts may leave gaps, as sequences do).
    let n: u64 = dave.id.strip_prefix("user-").unwrap().parse().unwrap();
    assert!(n > 3, "{}", dave.id);
}

pub(crate) async fn data_survives_reopening_and_seeds_are_not_repeated(
    db: UsersDb,
    spec: DataSpec,
    schema: Option<String>,
) {
    db.register(new_user("frank", "a long enough password"))
        .await
        .unwrap();
    let reopened = UsersDb::open(&spec, schema.as_deref(), crate::users::passwords())
        .await
        .unwrap();
    assert!(
        reopened
            .authenticate("frank", "a long enough password")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        reopened.get("user-1").await.unwrap().unwrap().username,
        "alice"
    );
    let george = reopened
        .register(new_user("george", "a long enough password"))
        .await
        .unwrap();
    assert_eq!(george.id, "user-4");
    reopened.close().await;
}

pub(crate) async fn refresh_tokens_rotate_and_replay_within_grace(
    db: UsersDb,
    _: DataSpec,
    _: Option<String>,
) {
    let secret = RefreshSecret::generate();
    let first = RefreshToken::generate();
    let family = db.start_family("user-1", &first, DAY).await.unwrap();
    let RefreshOutcome::Rotated {
        user_id,
        family: f,
        successor,
    } = db.rotate(&first, &secret, DAY, GRACE).await.unwrap()
    else {
        panic!("first use must rotate")
    };
    assert_eq!((user_id.as_str(), f.as_str()), ("user-1", family.as_str()));
    assert_eq!(successor, first.successor(&secret));
    // The other tab, a moment later: the same successor, no logout.
    assert_eq!(
        db.rotate(&first, &secret, DAY, GRACE).await.unwrap(),
        RefreshOutcome::Replayed {
            user_id: "user-1".to_owned(),
            family: family.clone(),
            successor: successor.clone(),
        }
    );
    // The successor rotates in turn.
    assert!(matches!(
        db.rotate(&successor, &secret, DAY, GRACE).await.unwrap(),
        RefreshOutcome::Rotated { .. }
    ));
    assert_eq!(
        db.rotate(&RefreshToken::generate(), &secret, DAY, GRACE)
            .await
            .unwrap(),
        RefreshOutcome::Unknown
    );
}

pub(crate) async fn reuse_after_grace_revokes_the_family(
    db: UsersDb,
    _: DataSpec,
    _: Option<String>,
) {
    let secret = RefreshSecret::generate();
    let first = RefreshToken::generate();
    let family = db.start_family("user-2", &first, DAY).await.unwrap();
    let RefreshOutcome::Rotated { successor, .. } = db
        .rotate(&first, &secret, DAY, Duration::ZERO)
        .await
        .unwrap()
    else {
        panic!("first use must rotate")
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    // A thief replays the old token after the (zero) grace window.
    assert_eq!(
        db.rotate(&first, &secret, DAY, Duration::ZERO)
            .await
            .unwrap(),
        RefreshOutcome::ReuseDetected {
            family: family.clone()
        }
    );
    // The whole family is gone, the legitimate holder's token included.
    assert_eq!(
        db.rotate(&successor, &secret, DAY, Duration::ZERO)
            .await
            .unwrap(),
        RefreshOutcome::Revoked
    );
    assert_eq!(
        db.rotate(&first, &secret, DAY, GRACE).await.unwrap(),
        RefreshOutcome::Revoked
    );
    // Another family of the same user is untouched.
    let other = RefreshToken::generate();
    db.start_family("user-2", &other, DAY).await.unwrap();
    assert!(matches!(
        db.rotate(&other, &secret, DAY, GRACE).await.unwrap(),
        RefreshOutcome::Rotated { .. }
    ));
}

pub(crate) async fn concurrent_uses_rotate_once(db: UsersDb, _: DataSpec, _: Option<String>) {
    let secret = RefreshSecret::generate();
    let first = RefreshToken::generate();
    db.start_family("user-1", &first, DAY).await.unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (db, first, secret) = (db.clone(), first.clone(), secret.clone());
            tokio::spawn(async move { db.rotate(&first, &secret, DAY, GRACE).await })
        })
        .collect();
    let mut rotated = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(RefreshOutcome::Rotated { successor, .. }) => {
                rotated += 1;
                assert_eq!(successor, first.successor(&secret));
            }
            Ok(RefreshOutcome::Replayed { successor, .. }) => {
                assert_eq!(successor, first.successor(&secret));
            }
            // SQLite may report a writer busy past its timeout; never a second rotation.
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(rotated, 1);
}

pub(crate) async fn expired_and_revoked_families_are_refused(
    db: UsersDb,
    _: DataSpec,
    _: Option<String>,
) {
    let secret = RefreshSecret::generate();
    let expired = RefreshToken::generate();
    db.start_family("user-1", &expired, Duration::ZERO)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(
        db.rotate(&expired, &secret, DAY, GRACE).await.unwrap(),
        RefreshOutcome::Expired
    );
    let logged_out = RefreshToken::generate();
    let family = db.start_family("user-1", &logged_out, DAY).await.unwrap();
    db.revoke_family(&family).await.unwrap();
    assert_eq!(
        db.rotate(&logged_out, &secret, DAY, GRACE).await.unwrap(),
        RefreshOutcome::Revoked
    );
    let (a, b) = (RefreshToken::generate(), RefreshToken::generate());
    db.start_family("user-2", &a, DAY).await.unwrap();
    db.start_family("user-2", &b, DAY).await.unwrap();
    assert_eq!(db.revoke_user_families("user-2").await.unwrap().len(), 2);
    for t in [&a, &b] {
        assert_eq!(
            db.rotate(t, &secret, DAY, GRACE).await.unwrap(),
            RefreshOutcome::Revoked
        );
    }
    // Swept once expired past the grace window.
    assert!(db.sweep_refresh_tokens(Duration::ZERO).await.unwrap() >= 1);
    assert_eq!(
        db.rotate(&expired, &secret, DAY, GRACE).await.unwrap(),
        RefreshOutcome::Unknown
    );
}

/// The sign-in limit is in the database, shared by every process using it:
/// 20 attempts at once get 5 places; a failure keeps its place for the
/// window, a success gives it back; a new window starts afresh.
pub(crate) async fn attempts_are_limited_atomically_across_callers(
    db: UsersDb,
    _: DataSpec,
    _: Option<String>,
) {
    let window = Duration::from_millis(1500);
    let reservations = (0..20).map(|_| db.reserve_attempt("alice|10.0.0.1", 5, window));
    let outcomes = futures_util::future::join_all(reservations).await;
    let granted = outcomes.iter().filter(|o| matches!(o, Ok(Ok(())))).count();
    assert_eq!(granted, 5, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Ok(Ok(())) | Ok(Err(1..=2)))),
        "{outcomes:?}"
    );
    // Two succeed (places back), three fail (kept): two more fit.
    for failed in [false, false, true, true, true] {
        db.settle_attempt("alice|10.0.0.1", failed).await.unwrap();
    }
    for _ in 0..2 {
        assert_eq!(
            db.reserve_attempt("alice|10.0.0.1", 5, window)
                .await
                .unwrap(),
            Ok(())
        );
    }
    assert!(
        db.reserve_attempt("alice|10.0.0.1", 5, window)
            .await
            .unwrap()
            .is_err()
    );
    // Another key is its own.
    assert_eq!(
        db.reserve_attempt("bob|10.0.0.1", 5, window).await.unwrap(),
        Ok(())
    );
    tokio::time::sleep(window + Duration::from_millis(100)).await;
    assert_eq!(
        db.reserve_attempt("alice|10.0.0.1", 5, window)
            .await
            .unwrap(),
        Ok(())
    );
    // Old windows are swept.
    tokio::time::sleep(window * 2).await;
    assert!(db.sweep_attempts(window).await.unwrap() >= 1);
}
