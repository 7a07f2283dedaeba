//! A real headless Chromium for the web UI's tests (Debian's `chromium` and
//! `chromium-driver`, which `scripts/test` installs), driven over WebDriver.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)] // test code

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

/// Headless Chromium through its own chromedriver on a free loopback port.
pub(crate) struct Browser {
    driver: Child,
    /// The WebDriver session.
    pub(crate) client: Client,
}

impl Browser {
    /// Starts chromedriver and a Chromium session.
    pub(crate) async fn start() -> Self {
        let port = crate::common::free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "chromedriver is not installed: scripts/test installs Debian's chromium-driver",
            );
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let capabilities = serde_json::json!({
            "goog:chromeOptions": {
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--disable-background-networking",
                         "--window-size=1200,1400"]
            }
        });
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities.as_object().unwrap().clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        Self { driver, client }
    }

    /// Opens `url`.
    pub(crate) async fn open(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// Clicks the element `css` selects. A page that redraws (the cluster
    /// page redraws its instances on every poll) can replace the element
    /// between finding and clicking it: found again then, as a person's
    /// second click would.
    pub(crate) async fn click(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            self.wait_for(css).await;
            let Ok(element) = self.client.find(Locator::Css(css)).await else {
                continue;
            };
            match element.click().await {
                Ok(()) => return,
                Err(e) if e.to_string().contains("stale element") && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("click {css}: {e}"),
            }
        }
    }

    /// Waits (up to 15 s) for an element `css` selects.
    pub(crate) async fn wait_for(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.client.find(Locator::Css(css)).await.is_err() {
            assert!(Instant::now() < deadline, "no {css} on the page");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The text of the element `css` selects ("" when there is none).
    pub(crate) async fn text(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Waits (up to 20 s) until the text of `css` satisfies `test`; the text.
    pub(crate) async fn wait_text(&self, css: &str, test: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = self.text(css).await;
            if test(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never matched; it reads {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether the element `css` selects is enabled.
    pub(crate) async fn enabled(&self, css: &str) -> bool {
        self.wait_for(css).await;
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .is_enabled()
            .await
            .unwrap()
    }

    /// How many elements `css` selects.
    pub(crate) async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map_or(0, |all| all.len())
    }

    /// Saves a screenshot as `NAME.png` in the test output
    /// (`$STATECRAFT_SCREENSHOTS`, or the target's test directory); the path.
    pub(crate) async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        let dir = std::env::var_os("STATECRAFT_SCREENSHOTS").map_or_else(
            || PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots"),
            PathBuf::from,
        );
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        println!("screenshot: {}", path.display());
        path
    }

    /// A screenshot of the whole page, not only the window: the window is
    /// made as tall as the page first (so nothing is cropped mid-form).
    pub(crate) async fn screenshot_page(&self, name: &str) -> PathBuf {
        // The window's outer size includes more than the page: grow it until
        // the page's whole height fits the viewport.
        for _ in 0..3 {
            let sizes = self
                .client
                .execute(
                    "return [document.documentElement.scrollHeight, window.innerHeight, window.outerHeight]",
                    vec![],
                )
                .await
                .unwrap();
            let size = |n: usize| sizes[n].as_u64().unwrap_or(1400);
            let (page, inner, outer) = (size(0), size(1), size(2));
            if inner >= page {
                break;
            }
            let height = (page + outer.saturating_sub(inner)).clamp(600, 8000);
            self.client
                .set_window_size(1200, u32::try_from(height).unwrap())
                .await
                .unwrap();
        }
        self.client
            .execute("window.scrollTo(0, 0)", vec![])
            .await
            .unwrap();
        self.screenshot(name).await
    }

    /// Ends the session and chromedriver.
    pub(crate) async fn close(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
