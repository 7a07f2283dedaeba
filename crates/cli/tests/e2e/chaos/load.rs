//! The chaos suite's steady load: cart workers (anonymous sessions adding to
//! their carts) and order workers (logged-in users going through the whole
//! checkout, confirming with an `Idempotency-Key` and retrying it until the
//! answer is certain). Every answer is recorded with its time; what each
//! worker knows for certain is kept for the ledger.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::Client;

/// Products the workers add, all with stock enough for the run.
pub(crate) const PRODUCTS: [&str; 3] = ["pen-7", "mug-3", "sticker-5"];
/// How long one request may take before it counts as failed in flight.
const LIMIT: Duration = Duration::from_secs(5);
/// How long an order worker keeps retrying one confirmation.
const CONFIRM_FOR: Duration = Duration::from_secs(40);

/// Every answer of the run: (ms since the start, outcome), the outcome `ok`
/// for a 2xx, the error code (or status) otherwise, `CONNECTION` when no
/// answer came.
#[derive(Default)]
pub(crate) struct Log {
    entries: Mutex<Vec<(u64, String)>>,
}

impl Log {
    fn record(&self, at: Instant, outcome: String) {
        let ms = u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.entries.lock().unwrap().push((ms, outcome));
    }

    /// The answers so far.
    pub(crate) fn entries(&self) -> Vec<(u64, String)> {
        self.entries.lock().unwrap().clone()
    }
}

/// What one request's answer means for the state it tried to change.
enum Answer {
    /// 2xx: applied, with the body.
    Applied(Value),
    /// 4xx: refused, nothing changed (the status).
    Refused(u16),
    /// 5xx or no answer: it may or may not have been applied.
    Unknown,
}

/// One call through the gateway, recorded in `log`.
fn call(
    client: &mut Client,
    base: &str,
    (method, path): (&str, &str),
    headers: &[(&str, &str)],
    body: Option<&str>,
    (log, start): (&Log, Instant),
) -> Answer {
    match client.try_send(method, base, path, headers, body, LIMIT) {
        Ok((status, body)) if (200..300).contains(&status) => {
            log.record(start, "ok".into());
            Answer::Applied(body)
        }
        Ok((status, body)) => {
            let code = body["code"]
                .as_str()
                .map_or_else(|| status.to_string(), str::to_owned);
            log.record(start, code);
            if status < 500 {
                Answer::Refused(status)
            } else {
                Answer::Unknown
            }
        }
        Err(_) => {
            log.record(start, "CONNECTION".into());
            Answer::Unknown
        }
    }
}

/// What a cart worker knows: per product, adds answered 2xx and adds whose
/// fate is unknown; and its client, whose cookie names its cart.
pub(crate) struct CartLedger {
    pub(crate) client: Client,
    pub(crate) committed: BTreeMap<&'static str, u64>,
    pub(crate) unknown: BTreeMap<&'static str, u64>,
}

/// Adds one of each product in turn to an anonymous session's cart until `stop`.
pub(crate) fn cart_worker(base: &str, stop: &AtomicBool, log: &Log, start: Instant) -> CartLedger {
    let mut ledger = CartLedger {
        client: Client::new(),
        committed: BTreeMap::new(),
        unknown: BTreeMap::new(),
    };
    // The session first, so that a failed first add cannot leave it unnamed.
    while !matches!(
        call(
            &mut ledger.client,
            base,
            ("POST", "/increment"),
            &[],
            None,
            (log, start)
        ),
        Answer::Applied(_)
    ) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let product = PRODUCTS[n % PRODUCTS.len()];
        n += 1;
        let body = format!(r#"{{"productId":"{product}","quantity":1}}"#);
        match call(
            &mut ledger.client,
            base,
            ("POST", "/cart/items"),
            &[],
            Some(&body),
            (log, start),
        ) {
            Answer::Applied(_) => *ledger.committed.entry(product).or_default() += 1,
            Answer::Unknown => *ledger.unknown.entry(product).or_default() += 1,
            Answer::Refused(_) => {}
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    ledger
}

/// What an order worker knows: orders confirmed to it (idempotency key →
/// order ID) and keys whose confirmation never got a certain answer.
#[derive(Default)]
pub(crate) struct OrderLedger {
    pub(crate) accepted: BTreeMap<String, String>,
    pub(crate) unresolved: Vec<String>,
    /// Journeys abandoned before confirming (a step refused or failed).
    pub(crate) abandoned: u64,
}

const SHIPPING: &str = r#"{"name":"Chaos Monkey","line1":"1 Loop Road","city":"Localhost","postalCode":"12345","country":"NL"}"#;

/// Logs `user` in (retrying until it works).
fn log_in(client: &mut Client, base: &str, user: &str, log: &Log, start: Instant) {
    let body = format!(r#"{{"user":"{user}","password":"chaos-password-1"}}"#);
    loop {
        if let Answer::Applied(_) = call(
            client,
            base,
            ("POST", "/login"),
            &[],
            Some(&body),
            (log, start),
        ) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Buys as `user`, one whole checkout after another, until `stop`.
pub(crate) fn order_worker(
    base: &str,
    user: &str,
    stop: &AtomicBool,
    log: &Log,
    start: Instant,
) -> OrderLedger {
    let mut client = Client::new();
    let mut ledger = OrderLedger::default();
    log_in(&mut client, base, user, log, start);
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let product = PRODUCTS[n % PRODUCTS.len()];
        let item = format!(r#"{{"productId":"{product}","quantity":1}}"#);
        let steps: [(&str, &str, Option<&str>); 5] = [
            ("DELETE", "/cart", None),
            ("POST", "/cart/items", Some(&item)),
            ("POST", "/checkout", None),
            ("POST", "/checkout/shipping", Some(SHIPPING)),
            (
                "POST",
                "/checkout/payment",
                Some(r#"{"paymentToken":"tok_chaos"}"#),
            ),
        ];
        let mut ready = true;
        for (method, path, body) in steps {
            match call(&mut client, base, (method, path), &[], body, (log, start)) {
                Answer::Applied(_) => {}
                Answer::Refused(401) => {
                    log_in(&mut client, base, user, log, start);
                    ready = false;
                    break;
                }
                _ => {
                    ready = false;
                    break;
                }
            }
        }
        if !ready {
            ledger.abandoned += 1;
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        let key = format!("{user}-{n}");
        confirm(&mut client, base, user, &key, &mut ledger, (log, start));
    }
    ledger
}

/// Confirms with `key` until the answer is certain (or [`CONFIRM_FOR`] passes).
fn confirm(
    client: &mut Client,
    base: &str,
    user: &str,
    key: &str,
    ledger: &mut OrderLedger,
    (log, start): (&Log, Instant),
) {
    let deadline = Instant::now() + CONFIRM_FOR;
    while Instant::now() < deadline {
        match call(
            client,
            base,
            ("POST", "/checkout/confirm"),
            &[("Idempotency-Key", key)],
            None,
            (log, start),
        ) {
            Answer::Applied(order) => {
                let id = order["orderId"].as_str().unwrap_or_default().to_owned();
                ledger.accepted.insert(key.to_owned(), id);
                return;
            }
            Answer::Refused(401) => log_in(client, base, user, log, start),
            // Refused for certain: no order with this key (a retry would
            // have found it first).
            Answer::Refused(_) => return,
            Answer::Unknown => std::thread::sleep(Duration::from_millis(200)),
        }
    }
    ledger.unresolved.push(key.to_owned());
}

/// Starts the workers; `stop` ends them. Returns their handles.
pub(crate) fn start_workers(
    base: &str,
    carts: usize,
    buyers: &[String],
    stop: &Arc<AtomicBool>,
    log: &Arc<Log>,
    start: Instant,
) -> Workers {
    let cart = (0..carts)
        .map(|_| {
            let (base, stop, log) = (base.to_owned(), Arc::clone(stop), Arc::clone(log));
            std::thread::spawn(move || cart_worker(&base, &stop, &log, start))
        })
        .collect();
    let order = buyers
        .iter()
        .map(|user| {
            let (base, user) = (base.to_owned(), user.clone());
            let (stop, log) = (Arc::clone(stop), Arc::clone(log));
            std::thread::spawn(move || order_worker(&base, &user, &stop, &log, start))
        })
        .collect();
    Workers { cart, order }
}

/// The running workers.
pub(crate) struct Workers {
    pub(crate) cart: Vec<std::thread::JoinHandle<CartLedger>>,
    pub(crate) order: Vec<std::thread::JoinHandle<OrderLedger>>,
}
