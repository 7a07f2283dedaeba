//! Health, readiness, metrics, OpenAPI, request IDs, the web page.

use std::collections::BTreeSet;

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_and_readyz_answer_ok() {
    let app = spawn_app().await;
    let health = app.get("/healthz", None).await;
    assert_eq!(health.body, json!({"status": "ok"}));
    assert_eq!(health.header("x-state-source"), "none");
    assert_eq!(health.header("x-served-by"), "server-test");
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 200);
    assert_eq!(
        ready.body,
        json!({"status": "ok", "stores": {"sessions": "ok", "counters": "ok", "users": "ok", "services": "ok"}})
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_and_live_sessions() {
    let app = spawn_app().await;
    app.post("/increment", None, None).await;
    app.get("/no-such", None).await;
    let metrics = app.get("/metrics", None).await;
    assert_eq!(metrics.status, 200);
    assert!(metrics.header("content-type").starts_with("text/plain"));
    let text = &metrics.text;
    assert!(
        text.lines().any(|l| l.starts_with("http_requests_total")
            && l.contains(r#"route="/increment""#)
            && l.contains(r#"status="200""#)),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("http_requests_total") && l.contains(r#"status="404""#))
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "latency is a histogram"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("statecraft_live_sessions"))
    );
}

#[tokio::test]
async fn openapi_covers_every_route() {
    let app = spawn_app().await;
    let doc = app.get("/openapi.json", None).await;
    assert_eq!(doc.status, 200);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = BTreeSet::new();
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let expected: BTreeSet<String> = [
        "POST /increment",
        "POST /counters/{name}/increment",
        "GET /counters/{name}",
        "GET /cart",
        "DELETE /cart",
        "POST /cart/items",
        "PUT /cart/items/{productId}",
        "DELETE /cart/items/{productId}",
        "GET /session",
        "GET /whoami",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
        "GET /openapi.json",
        "GET /",
        "GET /shop",
        "GET /cluster",
        "GET /lab",
        "GET /assets/{name}",
        "POST /login",
        "POST /logout",
        "POST /token",
        "POST /token/refresh",
        "GET /token/status",
        "GET /profile",
        "GET /sessions",
        "DELETE /sessions",
        "GET /.well-known/jwks.json",
        "POST /users",
        "POST /checkout",
        "POST /checkout/shipping",
        "POST /checkout/payment",
        "POST /checkout/confirm",
        "POST /orders",
        "GET /orders",
        "GET /orders/{id}",
        "GET /products",
        "GET /inventory/{productId}",
        "GET /notifications",
        "GET /_admin/outbox",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(documented, expected);
    // and every documented route is really served (no 404 / 405)
    for route in &expected {
        let (method, path) = route.split_once(' ').unwrap();
        let path = path
            .replace("{name}", "n")
            .replace("{productId}", "p")
            .replace("{id}", "order-1");
        let answer = app.call(method, &path, None, None).await;
        // A 404 for a resource is fine; the route itself must exist.
        assert!(
            answer.status != 404 || answer.body["error"] != "Route not found",
            "{route}: {}",
            answer.status
        );
        assert_ne!(answer.status, 405, "{route}");
    }
}

#[tokio::test]
async fn request_ids_are_passed_on() {
    let app = spawn_app().await;
    // at info level no ID is made for a request that logs nothing
    assert_eq!(app.get("/healthz", None).await.header("x-request-id"), "");
    let given = app
        .client
        .get(format!("{}/healthz", app.base))
        .header("x-request-id", "trace-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "trace-abc-123");
    let odd = app
        .client
        .get(format!("{}/healthz", app.base))
        .header("x-request-id", "x".repeat(65))
        .send()
        .await
        .unwrap();
    assert!(
        odd.headers().get("x-request-id").is_none(),
        "an overlong ID is not echoed"
    );
}

#[tokio::test]
async fn every_page_and_its_scripts_are_served_with_no_inline_code() {
    let app = spawn_app().await;
    for (path, script) in [
        ("/", "/assets/counter.js"),
        ("/shop", "/assets/shop.js"),
        ("/cluster", "/assets/cluster.js"),
        ("/lab", "/assets/lab.js"),
    ] {
        let page = app.get(path, None).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(page.header("content-type").starts_with("text/html"));
        let csp = page.header("content-security-policy");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        // The shared frame: stylesheet and navigation to every page.
        assert!(page.text.contains("/assets/style.css"), "{path}");
        assert!(page.text.contains("href=\"/lab\""), "{path}");
        assert!(!page.text.contains("{main}") && !page.text.contains("{title}"));
        assert!(page.text.contains(script), "{path} loads {script}");
        let answer = app.get(script, None).await;
        assert_eq!(answer.status, 200, "{script}");
        assert!(answer.header("content-type").starts_with("text/javascript"));
    }
    let style = app.get("/assets/style.css", None).await;
    assert!(style.header("content-type").starts_with("text/css"));
    assert!(
        app.get("/assets/counter.js", None)
            .await
            .text
            .contains("/increment")
    );
    let unknown = app.get("/assets/..%2Fsecret", None).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body["code"], "NOT_FOUND");
    // No lab results configured: a JSON 404 the lab page explains.
    let results = app.get("/lab/results.json", None).await;
    assert_eq!(results.status, 404);
    assert_eq!(results.body["code"], "NOT_FOUND");
}
