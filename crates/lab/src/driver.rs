//! The load driver: simulated users, each a sequential client with its own
//! cookies or tokens, walking the same journey (log in, count, fill a cart,
//! check out) for as long as the run lasts. Session strategies keep their
//! state on the server; the token strategy carries it itself.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client::{Account, Call, Credential, Target, log_in};
use crate::record::SESSION_ERRORS;
use crate::strategy::Strategy;

/// Products the users buy (the seeded catalog's plentiful ones).
const PRODUCTS: [&str; 3] = ["sticker-5", "pen-7", "mug-3"];
/// One simulated user.
#[derive(Debug)]
pub(crate) struct User {
    account: Account,
    strategy: Strategy,
    credential: Credential,
    /// The named counter every user increments (for drift across instances).
    shared_counter: String,
    logged_in: bool,
    /// The count the server (or the signed token) should hold now.
    counter: Option<u64>,
    /// Client-held signed count (token strategy).
    state_token: Option<String>,
    /// Client-held cart (token strategy).
    cart: Vec<(String, u16)>,
    /// Products put in the cart each visit.
    cart_items: usize,
}

impl User {
    /// A user of `account` running `strategy`'s journey.
    /// Each visit fills the cart with `cart_items` products.
    pub(crate) fn new(
        account: Account,
        strategy: Strategy,
        shared_counter: String,
        cart_items: usize,
    ) -> Self {
        Self {
            account,
            strategy,
            credential: Credential::default(),
            shared_counter,
            logged_in: false,
            counter: None,
            state_token: None,
            cart: Vec::new(),
            cart_items,
        }
    }

    /// Walks the journey again and again until `deadline`.
    pub(crate) async fn run(mut self, target: Target, deadline: Instant) {
        while Instant::now() < deadline {
            let outcome = if self.strategy.uses_tokens() {
                self.token_visit(&target).await
            } else {
                self.session_visit(&target).await
            };
            match outcome {
                Ok(()) => {
                    if let Some(recorder) = &target.recorder {
                        recorder.visit();
                    }
                }
                Err(code) => {
                    self.after_error(&code);
                    // A person would not retry at once either; this also
                    // keeps a dead cluster from being hammered in a loop.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    /// Bytes the client holds for its state and identity.
    fn state_bytes(&self) -> usize {
        self.credential.bytes() + self.state_token.as_ref().map_or(0, String::len)
    }

    fn after_error(&mut self, code: &str) {
        if SESSION_ERRORS.contains(&code) || code.starts_with("TOKEN_") || code == "UNAUTHENTICATED"
        {
            // The server no longer knows who this is: log in again.
            self.logged_in = false;
            self.credential.bearer = None;
        }
    }

    fn check_count(&mut self, answer: &Value, target: &Target) {
        let Some(now) = answer["counter"].as_u64() else {
            return;
        };
        if let Some(token) = answer["stateToken"].as_str() {
            self.state_token = Some(token.to_owned());
        }
        if let Some(recorder) = &target.recorder {
            if let Some(before) = self.counter
                && now != before + 1
            {
                recorder.count_mismatch(now > before + 1);
            }
            recorder.client_state(self.state_bytes());
        }
        self.counter = Some(now);
    }

    /// The `n`th product of a visit's cart: two of the catalog's (a
    /// product chosen twice grows its line), then, for a bigger session,
    /// products of their own names, each a line of its own. (The catalog
    /// does not know them, so such an order is later rejected for stock:
    /// the checkout still answers, which is what the load measures.)
    fn product(n: usize) -> String {
        if n < 2 {
            PRODUCTS[rand::random_range(0..PRODUCTS.len())].to_owned()
        } else {
            format!("lab-item-{n}")
        }
    }

    /// Session strategies: the server holds the count, the cart and the
    /// checkout's progress.
    async fn session_visit(&mut self, target: &Target) -> Result<(), String> {
        let strategy = self.strategy;
        // First, needing no session: every instance's view of one counter.
        self.shared_count(target).await?;
        if !self.logged_in || !self.credential.jar.holds("session_id") {
            log_in(target, strategy, &self.account, &mut self.credential).await?;
            self.logged_in = true;
            self.counter = Some(0);
        }
        for _ in 0..3 {
            let answer = target
                .send(
                    &mut self.credential,
                    Call::post("count", "/increment", None),
                )
                .await?;
            self.check_count(&answer, target);
        }
        for n in 0..self.cart_items {
            let item = json!({"productId": Self::product(n), "quantity": 1});
            target
                .send(
                    &mut self.credential,
                    Call::post("cart", "/cart/items", Some(item)),
                )
                .await?;
        }
        target
            .send(&mut self.credential, Call::get("cart", "/cart"))
            .await?;
        target
            .send(&mut self.credential, Call::get("profile", "/profile"))
            .await?;
        let credential = &mut self.credential;
        target
            .send(credential, Call::post("checkout", "/checkout", None))
            .await?;
        target
            .send(
                credential,
                Call::post("checkout", "/checkout/shipping", Some(shipping())),
            )
            .await?;
        let payment = json!({"paymentToken": "tok_123"});
        target
            .send(
                credential,
                Call::post("checkout", "/checkout/payment", Some(payment)),
            )
            .await?;
        target
            .send(
                credential,
                Call::post("confirm", "/checkout/confirm", None).with_idempotency_key(),
            )
            .await?;
        Ok(())
    }

    /// Token strategy: the client holds the signed count and the cart, and
    /// sends the whole context when it checks out.
    async fn token_visit(&mut self, target: &Target) -> Result<(), String> {
        self.shared_count(target).await?;
        if self.credential.bearer.is_none() {
            log_in(target, self.strategy, &self.account, &mut self.credential).await?;
        }
        for _ in 0..3 {
            let body = match &self.state_token {
                Some(token) => json!({"stateToken": token}),
                None => json!({"currentCount": 0}),
            };
            let answer = target
                .send(
                    &mut self.credential,
                    Call::post("count", "/increment", Some(body)),
                )
                .await?;
            self.check_count(&answer, target);
        }
        for n in 0..self.cart_items {
            let product = Self::product(n);
            match self.cart.iter_mut().find(|(p, _)| *p == product) {
                Some((_, quantity)) => *quantity += 1,
                None => self.cart.push((product, 1)),
            }
        }
        target
            .send(&mut self.credential, Call::get("profile", "/profile"))
            .await?;
        let items: Vec<Value> = self
            .cart
            .iter()
            .map(|(p, q)| json!({"productId": p, "quantity": q}))
            .collect();
        let order =
            json!({"cart": {"items": items}, "shipping": shipping(), "paymentToken": "tok_123"});
        target
            .send(
                &mut self.credential,
                Call::post("confirm", "/checkout/confirm", Some(order)).with_idempotency_key(),
            )
            .await?;
        self.cart.clear();
        Ok(())
    }

    async fn shared_count(&mut self, target: &Target) -> Result<(), String> {
        let path = format!("/counters/{}/increment", self.shared_counter);
        target
            .send(
                &mut self.credential,
                Call::post("named-counter", path, None),
            )
            .await
            .map(|_| ())
    }
}

fn shipping() -> Value {
    json!({"name": "Lab User", "line1": "1 Test Street", "city": "Testville",
           "postalCode": "12345", "country": "DE"})
}
