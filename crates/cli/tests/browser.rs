//! The web UI in a real headless Chromium: the counter counts, the shop
//! checks out to a confirmed order, and on a sticky cluster a person sees
//! their session lost when they kill the instance that held it. Each test
//! leaves a screenshot of its page in the test output.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod chromium;
mod common;

use chromium::Browser;
use common::Statecraft;

#[tokio::test]
async fn five_clicks_on_the_counter_read_five() {
    let dir = tempfile::tempdir().unwrap();
    let server = Statecraft::start(dir.path(), &["serve", "--insecure-cookies"]);
    let browser = Browser::start().await;
    browser.open(&format!("{}/", server.base)).await;
    for _ in 0..5 {
        browser.click("#increment").await;
    }
    browser.wait_text("#count", |t| t == "5").await;
    assert_eq!(browser.text("#stored-on").await, "server");
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
    browser.click("#start-checkout").await;
    browser.wait_text("#step", |t| t == "checkout").await;
    browser.click("#send-shipping").await;
    browser.wait_text("#step", |t| t == "shipping").await;
    browser.click("#send-payment").await;
    browser.wait_text("#step", |t| t == "payment").await;
    browser.click("#confirm").await;
    browser.wait_text("#step", |t| t == "confirmed").await;
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
    browser
        .client
        .execute(
            "document.getElementById('orders-title').scrollIntoView()",
            vec![],
        )
        .await
        .unwrap();
    browser.screenshot("shop").await;
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
    browser.screenshot("cluster").await;
    browser.close().await;
}
