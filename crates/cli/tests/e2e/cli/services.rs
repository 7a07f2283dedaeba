//! The services as separate processes: the same results as the monolith,
//! remote checkout, the gateway's routes, revocation across processes.

use super::*;

#[test]
fn services_as_separate_processes_reach_the_same_results() {
    let Some(nats) = statecraft_testkit::service_url(
        "STATECRAFT_TEST_NATS_URL",
        "the separate-process services test",
    ) else {
        return;
    };
    let root = std::env::temp_dir().join(format!("statecraft-split-{}", std::process::id()));
    let data = |name: &str| format!("sqlite:{}", root.join(name).display());
    let namespace = format!("split-{}", std::process::id());
    // The users service alone, with its own data (its keys sign).
    let (mut users, users_addr) =
        spawn_process(&["service", "users"], &[("STATECRAFT_DATA", data("users"))]);
    let users_url = format!("http://{users_addr}");
    let common = |name: &str| {
        vec![
            ("STATECRAFT_DATA", data(name)),
            ("STATECRAFT_EVENTS", nats.clone()),
            ("STATECRAFT_EVENTS_NAMESPACE", namespace.clone()),
            ("STATECRAFT_USERS_URL", users_url.clone()),
        ]
    };
    let (mut inventory, inventory_addr) =
        spawn_process(&["service", "inventory"], &common("inventory"));
    let (mut orders, orders_addr) = spawn_process(&["service", "orders"], &common("orders"));
    let (mut notifications, notifications_addr) =
        spawn_process(&["service", "notifications"], &common("notifications"));

    let (status, pair) = call(
        &users_addr,
        "POST",
        "/token",
        None,
        Some(r#"{"user":"alice","password":"correct-password"}"#),
    );
    assert_eq!(status, 200, "{pair}");
    let token = pair["token"].as_str().unwrap().to_owned();
    let (_, before) = call(&inventory_addr, "GET", "/inventory/book-1", None, None);
    // The orders service verifies the token itself: no token, a forged one → 401.
    let order = r#"{"userId":"user-1","items":[{"productId":"book-1","quantity":2}]}"#;
    assert_eq!(
        call(&orders_addr, "POST", "/orders", None, Some(order)).0,
        401
    );
    assert_eq!(
        call(&orders_addr, "POST", "/orders", Some("a.b.c"), Some(order)).0,
        401
    );
    let (status, placed) = call(&orders_addr, "POST", "/orders", Some(&token), Some(order));
    assert_eq!(status, 201, "{placed}");
    let id = placed["orderId"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, got) = call(
            &orders_addr,
            "GET",
            &format!("/orders/{id}"),
            Some(&token),
            None,
        );
        if got["status"] == "confirmed" {
            break;
        }
        assert!(Instant::now() < deadline, "still {got}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, after) = call(&inventory_addr, "GET", "/inventory/book-1", None, None);
    assert_eq!(
        after["available"].as_i64().unwrap(),
        before["available"].as_i64().unwrap() - 2
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, notes) = call(
            &notifications_addr,
            "GET",
            "/notifications",
            Some(&token),
            None,
        );
        if notes["notifications"]
            .as_array()
            .is_some_and(|n| n.len() == 1)
        {
            assert_eq!(notes["notifications"][0]["orderId"], id.as_str());
            break;
        }
        assert!(Instant::now() < deadline, "no notification: {notes}");
        std::thread::sleep(Duration::from_millis(50));
    }
    for child in [&mut users, &mut inventory, &mut orders, &mut notifications] {
        sigterm(child);
        wait_exit(child, Duration::from_secs(10));
    }
    // The test's stream goes with it.
    delete_stream(&nats, &namespace);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn serve_with_remote_services_runs_a_session_checkout_through_them() {
    let Some(nats) =
        statecraft_testkit::service_url("STATECRAFT_TEST_NATS_URL", "the remote-services test")
    else {
        return;
    };
    let root = std::env::temp_dir().join(format!("statecraft-remote-{}", std::process::id()));
    let data = |name: &str| format!("sqlite:{}", root.join(name).display());
    let namespace = format!("remote-{}", std::process::id());
    let ports = [free_port(), free_port(), free_port()];
    let url = |port: u16| format!("http://127.0.0.1:{port}");
    // The monolith holds sessions, users and keys; the order flow runs in
    // three other processes, which verify the tokens it mints with its JWKS.
    let (mut serve, addr) = spawn_process(
        &["serve"],
        &[
            ("STATECRAFT_DATA", data("serve")),
            ("STATECRAFT_INSECURE_COOKIES", "true".to_owned()),
            ("STATECRAFT_ORDERS_URL", url(ports[0])),
            ("STATECRAFT_INVENTORY_URL", url(ports[1])),
            ("STATECRAFT_NOTIFICATIONS_URL", url(ports[2])),
        ],
    );
    let mut services = Vec::new();
    for (kind, port) in ["orders", "inventory", "notifications"].iter().zip(ports) {
        let (child, _) = spawn_process(
            &["service", kind],
            &[
                ("STATECRAFT_DATA", data(kind)),
                ("STATECRAFT_EVENTS", nats.clone()),
                ("STATECRAFT_EVENTS_NAMESPACE", namespace.clone()),
                ("STATECRAFT_USERS_URL", format!("http://{addr}")),
                ("STATECRAFT_LISTEN", format!("127.0.0.1:{port}")),
            ],
        );
        services.push(child);
    }
    let (status, _, ready) = request(&addr, "GET", "/readyz", &[], None);
    assert_eq!(status, 200, "{ready}");

    // A cookie login at the monolith, a stateful checkout, the order placed
    // at the remote orders service.
    let login = r#"{"user":"alice","password":"correct-password"}"#;
    let (status, head, _) = request(&addr, "POST", "/login", &[], Some(login));
    assert_eq!(status, 200);
    let cookie = session_cookie(&head);
    let with_cookie = [("Cookie", cookie.as_str())];
    let (_, _, before) = request(&addr, "GET", "/inventory/book-1", &[], None);
    let steps = [
        ("/cart/items", r#"{"productId":"book-1","quantity":2}"#),
        ("/checkout", "{}"),
        (
            "/checkout/shipping",
            r#"{"name":"Alice","line1":"1 Main St","city":"Springfield","postalCode":"12345","country":"US"}"#,
        ),
        ("/checkout/payment", r#"{"paymentToken":"tok_visa"}"#),
    ];
    for (path, body) in steps {
        let (status, _, answer) = request(&addr, "POST", path, &with_cookie, Some(body));
        assert!(status == 200 || status == 201, "{path}: {status} {answer}");
    }
    let confirm = [("Cookie", cookie.as_str()), ("Idempotency-Key", "remote-1")];
    let (status, _, placed) = request(&addr, "POST", "/checkout/confirm", &confirm, None);
    assert_eq!(status, 201, "{placed}");
    assert_eq!(placed["currentStep"], "confirmed");
    let id = placed["orderId"].as_str().unwrap().to_owned();
    // A retry of the confirm finds its order at the remote service.
    let (status, _, again) = request(&addr, "POST", "/checkout/confirm", &confirm, None);
    assert_eq!((status, &again["orderId"]), (200, &placed["orderId"]));
    // The saga runs between the services; the monolith shows its outcome.
    let path = format!("/orders/{id}");
    eventually(Duration::from_secs(15), "order confirmed", || {
        let (_, _, got) = request(&addr, "GET", &path, &with_cookie, None);
        (got["status"] == "confirmed").then_some(())
    });
    let (_, _, after) = request(&addr, "GET", "/inventory/book-1", &[], None);
    assert_eq!(
        after["available"].as_i64().unwrap(),
        before["available"].as_i64().unwrap() - 2
    );
    eventually(Duration::from_secs(10), "one notification", || {
        let (_, _, notes) = request(&addr, "GET", "/notifications", &with_cookie, None);
        (notes["notifications"].as_array()?.len() == 1).then_some(())
    });
    let (status, _, list) = request(&addr, "GET", "/orders", &with_cookie, None);
    assert_eq!(
        (status, list["orders"][0]["orderId"].as_str()),
        (200, Some(id.as_str()))
    );
    // Another user's order stays invisible through the monolith too.
    let bob = r#"{"user":"bob","password":"correct-password"}"#;
    let (_, bob_head, _) = request(&addr, "POST", "/login", &[], Some(bob));
    let bob_cookie = session_cookie(&bob_head);
    let (status, _, _) = request(
        &addr,
        "GET",
        &path,
        &[("Cookie", bob_cookie.as_str())],
        None,
    );
    assert_eq!(status, 404);
    // The orders service's rules hold through the monolith: bob may not
    // order for alice, a declined payment is refused, the outbox report is
    // an admin's (alice's: both services' outboxes, each asked remotely).
    let bob_auth = [("Cookie", bob_cookie.as_str())];
    let for_alice = r#"{"userId":"user-1","items":[{"productId":"book-1","quantity":1}]}"#;
    let (status, _, refused) = request(&addr, "POST", "/orders", &bob_auth, Some(for_alice));
    assert_eq!((status, refused["code"].as_str()), (403, Some("FORBIDDEN")));
    let declined = r#"{"userId":"user-2","items":[{"productId":"book-1","quantity":1}],"paymentToken":"tok_declined"}"#;
    let (status, _, refused) = request(&addr, "POST", "/orders", &bob_auth, Some(declined));
    assert_eq!(
        (status, refused["code"].as_str()),
        (402, Some("PAYMENT_DECLINED"))
    );
    let (status, _, _) = request(&addr, "GET", "/_admin/outbox", &bob_auth, None);
    assert_eq!(status, 403);
    let (status, _, outboxes) = request(&addr, "GET", "/_admin/outbox", &with_cookie, None);
    let services_reported: Vec<_> = outboxes
        .as_array()
        .map(|all| all.iter().filter_map(|r| r["service"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        (status, services_reported),
        (200, vec!["orders", "inventory"])
    );

    // A dead orders service: a fast 503 naming it, and /readyz says so.
    signal(&services[0], "KILL");
    wait_exit(&mut services[0], Duration::from_secs(10));
    let started = Instant::now();
    let (status, _, down) = request(&addr, "GET", "/orders", &with_cookie, None);
    assert_eq!(
        (status, down["code"].as_str()),
        (503, Some("STORE_UNAVAILABLE"))
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(request(&addr, "GET", "/readyz", &[], None).0, 503);

    for child in services.iter_mut().skip(1).chain([&mut serve]) {
        sigterm(child);
        wait_exit(child, Duration::from_secs(10));
    }
    delete_stream(&nats, &namespace);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn the_gateway_routes_services_by_prefix_and_refuses_bad_tokens_at_the_edge() {
    let root = std::env::temp_dir().join(format!("statecraft-edge-{}", std::process::id()));
    let data = |name: &str| format!("sqlite:{}", root.join(name).display());
    let (mut users, users_addr) =
        spawn_process(&["service", "users"], &[("STATECRAFT_DATA", data("users"))]);
    // Another deployment's users service: its tokens are well formed, signed
    // by keys this gateway does not trust.
    let (mut stranger, stranger_addr) = spawn_process(
        &["service", "users"],
        &[("STATECRAFT_DATA", data("stranger"))],
    );
    let users_url = format!("http://{users_addr}");
    let (mut orders, orders_addr) = spawn_process(
        &["service", "orders"],
        &[
            ("STATECRAFT_DATA", data("orders")),
            ("STATECRAFT_USERS_URL", users_url.clone()),
        ],
    );
    let route = format!("/orders=http://{orders_addr}");
    let jwks = format!("{users_url}/.well-known/jwks.json");
    let (mut gateway, addr) = spawn_process(
        &[
            "gateway",
            "--upstream",
            &users_url,
            "--route",
            &route,
            "--jwks-url",
            &jwks,
        ],
        &[] as &[(&str, &str)],
    );
    let login = r#"{"user":"alice","password":"correct-password"}"#;
    let (status, pair) = call(&addr, "POST", "/token", None, Some(login));
    assert_eq!(status, 200, "{pair}");
    let token = pair["token"].as_str().unwrap().to_owned();
    let (_, foreign) = call(&stranger_addr, "POST", "/token", None, Some(login));
    let foreign = foreign["token"].as_str().unwrap().to_owned();
    let order = r#"{"userId":"user-1","items":[{"productId":"book-1","quantity":1}]}"#;
    let bearer = |t: &str| format!("Bearer {t}");
    // A good token reaches the orders service.
    let (status, head, placed) = request(
        &addr,
        "POST",
        "/orders",
        &[("Authorization", &bearer(&token))],
        Some(order),
    );
    assert_eq!(status, 201, "{placed}");
    assert!(head.to_ascii_lowercase().contains("x-served-by"), "{head}");
    // Forged and foreign tokens are answered by the gateway: no service
    // (which would add X-Served-By) ever sees them.
    for bad in ["a.b.c", foreign.as_str()] {
        let (status, head, body) = request(
            &addr,
            "POST",
            "/orders",
            &[("Authorization", &bearer(bad))],
            Some(order),
        );
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("TOKEN_INVALID")),
            "{body}"
        );
        assert!(!head.to_ascii_lowercase().contains("x-served-by"), "{head}");
    }
    // No token: the service decides (it needs one).
    let (status, head, _) = request(&addr, "GET", "/orders", &[], None);
    assert_eq!(status, 401);
    assert!(head.to_ascii_lowercase().contains("x-served-by"), "{head}");
    let (_, _, view) = request(&addr, "GET", "/_cluster", &[], None);
    assert_eq!(view["services"][0]["prefix"], "/orders", "{view}");
    for child in [&mut gateway, &mut orders, &mut stranger, &mut users] {
        sigterm(child);
        wait_exit(child, Duration::from_secs(10));
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// A service checked a token's signature only: `GET /orders` answered 200
/// with a token `serve` had already logged out. It now asks the users side.
#[test]
fn a_service_refuses_a_token_logged_out_at_serve() {
    let root = std::env::temp_dir().join(format!("statecraft-revoked-{}", std::process::id()));
    let data = |name: &str| format!("sqlite:{}", root.join(name).display());
    let (server, addr) = serve(&[("STATECRAFT_DATA", data("serve").as_str())]);
    let _server = server;
    let users_url = format!("http://{addr}");
    let keys = root.join("serve").join("keys");
    let (orders, orders_addr) = spawn_process(
        &["service", "orders"],
        &[
            ("STATECRAFT_DATA", data("orders")),
            ("STATECRAFT_USERS_URL", users_url),
            ("STATECRAFT_KEYS_DIR", keys.display().to_string()),
        ],
    );
    let _orders = orders;
    let login = r#"{"user":"alice","password":"correct-password"}"#;
    let (status, pair) = call(&addr, "POST", "/token", None, Some(login));
    assert_eq!(status, 200, "{pair}");
    let token = pair["token"].as_str().unwrap().to_owned();
    let (status, body) = call(&orders_addr, "GET", "/orders", Some(&token), None);
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(&addr, "POST", "/logout", Some(&token), None);
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(&orders_addr, "GET", "/orders", Some(&token), None);
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("TOKEN_REVOKED")),
        "{body}"
    );
    let order = r#"{"items":[{"productId":"book-1","quantity":1}]}"#;
    let (status, body) = call(&orders_addr, "POST", "/orders", Some(&token), Some(order));
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("TOKEN_REVOKED")),
        "{body}"
    );
    let _ = std::fs::remove_dir_all(&root);
}
