//! The web UI in a real headless Chromium: the counter counts, the shop
//! checks out to a confirmed order, and on a sticky cluster a person sees
//! their session lost when they kill the instance that held it. Each test
//! leaves a screenshot of its page in the test output.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use crate::chromium::Browser;
use crate::common::Statecraft;

/// Five clicks read five; after a reload the page shows the count the
/// session holds (it once showed 0, and the next click jumped to 6) and says
/// where it came from; the client-held count survives the reload in the tab.
#[tokio::test]
async fn five_clicks_on_the_counter_read_five_and_a_reload_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = Statecraft::start(dir.path(), &["serve", "--insecure-cookies"]);
    let browser = Browser::start().await;
    browser.open(&format!("{}/", server.base)).await;
    browser
        .wait_text("#count-origin", |t| t.contains("no session yet"))
        .await;
    for _ in 0..5 {
        browser.click("#increment").await;
    }
    browser.wait_text("#count", |t| t == "5").await;
    assert_eq!(browser.text("#stored-on").await, "server");
    browser.click("input[value='stateless']").await;
    browser.click("#increment").await;
    browser.wait_text("#count", |t| t == "1").await;
    browser.click("input[value='stateful']").await;

    browser.client.refresh().await.unwrap();
    browser
        .wait_text("#count-origin", |t| {
            t.contains("loaded from the session on server-1")
        })
        .await;
    assert_eq!(browser.text("#count").await, "5");
    browser.click("#increment").await;
    browser.wait_text("#count", |t| t == "6").await;
    browser.click("input[value='stateless']").await;
    browser.wait_text("#count", |t| t == "1").await;
    assert!(
        browser
            .text("#count-origin")
            .await
            .contains("kept by this tab")
    );
    browser.click("input[value='stateful']").await;
    browser.screenshot("counter").await;
    browser.close().await;
}

#[tokio::test]
async fn the_shop_checks_out_to_a_confirmed_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = Statecraft::start(dir.path(), &["serve", "--insecure-cookies"]);
    let browser = Browser::start().await;
    browser.open(&format!("{}/shop", server.base)).await;
    browser.wait_for("button[data-product='sticker-5']").await;
    browser.click("#login").await;
    browser.wait_text("#who", |t| t.contains("Alice")).await;
    browser.click("button[data-product='sticker-5']").await;
    browser.wait_text("#cart-total", |t| t == "1").await;
    browser.click("button[data-product='pen-7']").await;
    browser.wait_text("#cart-total", |t| t == "2").await;
    // The cart shows prices and a total; each step's answer appears beside
    // it, and only the next step's button is enabled.
    browser
        .wait_text("#cart-sum", |t| t.starts_with('€') && t != "€0.00")
        .await;
    assert!(browser.text("#cart-status").await.starts_with("added"));
    assert!(
        !browser.enabled("#confirm").await,
        "confirm before the steps"
    );
    assert!(!browser.enabled("#send-payment").await);
    browser.click("#start-checkout").await;
    browser.wait_text("#step", |t| t == "checkout").await;
    assert!(
        browser
            .text("#checkout-status")
            .await
            .contains("checkout started")
    );
    assert!(!browser.enabled("#start-checkout").await);
    assert!(!browser.enabled("#confirm").await);
    browser.click("#send-shipping").await;
    browser.wait_text("#step", |t| t == "shipping").await;
    assert!(
        browser
            .text("#shipping-status")
            .await
            .contains("address saved")
    );
    browser.click("#send-payment").await;
    browser.wait_text("#step", |t| t == "payment").await;
    assert!(
        browser
            .text("#payment-status")
            .await
            .contains("payment saved")
    );
    assert!(browser.enabled("#confirm").await);
    browser.click("#confirm").await;
    browser.wait_text("#step", |t| t == "confirmed").await;
    assert!(browser.text("#confirm-status").await.contains("placed"));
    // The saga confirms it through events; the page follows its status.
    browser
        .wait_text("#orders .badge", |t| t == "confirmed")
        .await;
    browser.wait_text("#notifications", |t| !t.is_empty()).await;
    assert_eq!(browser.text("#cart-total").await, "0");
    // The stock shown follows the confirmed order.
    browser
        .wait_text("#catalog tr:last-child td:nth-child(3)", |t| t == "999")
        .await;
    browser.screenshot_page("shop").await;
    browser.close().await;
}

#[tokio::test]
async fn killing_the_sticky_instance_from_the_cluster_page_loses_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let data = format!("sqlite:{}", dir.path().join("data").display());
    let cluster = Statecraft::start(
        dir.path(),
        &[
            "cluster",
            "--balance",
            "sticky",
            "--insecure-cookies",
            "--health-interval",
            "200ms",
            "--data",
            &data,
        ],
    );
    let browser = Browser::start().await;
    browser.open(&format!("{}/cluster", cluster.base)).await;
    browser
        .wait_text("#cluster-status", |t| t.starts_with("3 of 3"))
        .await;
    browser.click("#demo-login").await;
    browser
        .wait_text("#demo-who", |t| t.starts_with("alice"))
        .await;
    browser.click("#demo-request").await;
    let home = browser
        .wait_text("#demo-served", |t| t.starts_with("server-"))
        .await;
    browser.click("#demo-request").await;
    browser.wait_text("#demo-counter", |t| t == "2").await;
    assert_eq!(browser.text("#demo-served").await, home, "sticky");

    browser
        .click(&format!(
            "button[data-instance='{home}'][data-action='stop']"
        ))
        .await;
    browser
        .wait_text("#cluster-status", |t| t.starts_with("2 of 3"))
        .await;
    browser.click("#demo-request").await;
    let status = browser
        .wait_text("#demo-status", |t| t.contains("SESSION_LOST"))
        .await;
    assert!(
        !status.contains(&home),
        "answered by another instance: {status}"
    );
    assert_eq!(browser.count("#request-log tr").await, 5);
    assert!(
        browser
            .text("#demo-explain")
            .await
            .contains("the session is gone with it"),
        "{}",
        browser.text("#demo-explain").await
    );
    browser.screenshot("cluster").await;

    // With a bearer token the same kill costs nothing, and the page says so.
    browser.click("input[name='auth'][value='token']").await;
    browser.click("#demo-login").await;
    browser
        .wait_text("#demo-who", |t| t.contains("bearer token"))
        .await;
    browser.click("#demo-request").await;
    let served = browser
        .wait_text("#demo-explain", |t| t.starts_with("Served by server-"))
        .await;
    let first = served
        .trim_start_matches("Served by ")
        .trim_end_matches('.')
        .to_owned();
    browser
        .click(&format!(
            "button[data-instance='{first}'][data-action='stop']"
        ))
        .await;
    browser
        .wait_text("#cluster-status", |t| t.starts_with("1 of 3"))
        .await;
    browser.click("#demo-request").await;
    let explained = browser
        .wait_text("#demo-explain", |t| t.contains("survived"))
        .await;
    assert!(
        explained.contains(&format!("{first}, which served the last request, is down")),
        "{explained}"
    );
    assert!(explained.contains("signed token"), "{explained}");
    browser.close().await;
}
