//! Sessions in Redis: readable JSON under `session:<public id>`, each operation one
//! server-side script (one round trip, atomic).

use std::sync::LazyLock;

use async_trait::async_trait;
use redis::Script;

use super::RedisBackend;
use crate::clock::{Clock as _, UnixClock, millis as ms};
use crate::data::{
    CartLine, CheckoutStep, MAX_CART_LINES, MAX_COUNTER, MAX_QUANTITY, Mutation, RuleViolation,
    SessionData,
};
use crate::error::StoreError;
use crate::id::SessionId;
use crate::name::ProductId;
use crate::store::{SessionStore, SessionTimeouts, StoreKind, Update};

static LOAD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("prelude.lua"),
        include_str!("load.lua")
    ))
});
static CREATE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("create.lua")));
static UPDATE: LazyLock<Script> = LazyLock::new(|| {
    // The limits are written into the script rather than passed on every call.
    Script::new(&format!(
        "local max_quantity, max_lines, max_counter = {MAX_QUANTITY}, {MAX_CART_LINES}, {MAX_COUNTER}\n{}{}",
        include_str!("prelude.lua"),
        include_str!("update.lua")
    ))
});

/// Now, in ms since the epoch: the scripts' clock (see prelude.lua).
fn now_ms() -> u64 {
    ms(UnixClock.now())
}

/// Sessions in Redis, shared by every instance.
#[derive(Debug, Clone)]
pub struct RedisSessionStore {
    redis: RedisBackend,
    timeouts: SessionTimeouts,
}

/// The Redis form of a session: readable JSON without the fields at their
/// defaults, cart lines as `[productId, quantity]` pairs. Every byte is paid for
/// in every session in Redis's memory: pairs rather than
/// `{"productId":…,"quantity":…}` objects bring a typical session's value from
/// 124 to 78 bytes, one allocation class of 128 down to 96.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Doc<'a> {
    counter: u64,
    #[serde(serialize_with = "pairs")]
    cart_items: &'a [CartLine],
    #[serde(skip_serializing_if = "is_browsing")]
    current_step: CheckoutStep,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
}

/// What the scripts hand back: the [`Doc`] form, `expiresAt` ignored.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredDoc {
    counter: u64,
    #[serde(default)]
    cart_items: Vec<(ProductId, u16)>,
    #[serde(default)]
    current_step: CheckoutStep,
    #[serde(default)]
    user_id: Option<String>,
}

fn pairs<S: serde::Serializer>(lines: &&[CartLine], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(lines.iter().map(|l| (l.product_id.as_str(), l.quantity)))
}

fn is_browsing(step: &CheckoutStep) -> bool {
    *step == CheckoutStep::Browsing
}

fn to_doc(data: &SessionData) -> Result<String, StoreError> {
    let doc = Doc {
        counter: data.counter,
        cart_items: &data.cart_items,
        current_step: data.current_step,
        user_id: data.user_id.as_deref(),
    };
    serde_json::to_string(&doc).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn parse(json: &str) -> Result<SessionData, StoreError> {
    let doc: StoredDoc = serde_json::from_str(json)
        .map_err(|e| StoreError::Corrupt(format!("session JSON: {e}")))?;
    Ok(SessionData {
        counter: doc.counter,
        cart_items: doc
            .cart_items
            .into_iter()
            .map(|(product_id, quantity)| CartLine {
                product_id,
                quantity,
            })
            .collect(),
        current_step: doc.current_step,
        user_id: doc.user_id,
    })
}

impl RedisSessionStore {
    /// Sessions on `redis` with these timeouts.
    pub fn new(redis: RedisBackend, timeouts: SessionTimeouts) -> Self {
        Self { redis, timeouts }
    }

    fn key(&self, id: &SessionId) -> String {
        self.redis.key("session", id.encode().as_str())
    }
}

/// The script's arguments for a mutation: op, product, quantity.
fn op_args(mutation: &Mutation) -> (&'static str, &str, u16) {
    match mutation {
        Mutation::IncrementCounter => ("incr", "", 0),
        Mutation::AddToCart { product, quantity } => ("add", product.as_str(), *quantity),
        Mutation::SetCartQuantity { product, quantity } => ("set", product.as_str(), *quantity),
        Mutation::RemoveFromCart { product } => ("remove", product.as_str(), 0),
        Mutation::ClearCart => ("clear", "", 0),
    }
}

fn violation(reason: &str, mutation: &Mutation) -> Result<RuleViolation, StoreError> {
    Ok(match (reason, mutation) {
        ("counter", _) => RuleViolation::CounterLimit,
        ("quantity", _) => RuleViolation::QuantityLimit,
        ("full", _) => RuleViolation::CartFull,
        ("absent", Mutation::RemoveFromCart { product }) => {
            RuleViolation::NotInCart(product.clone())
        }
        (other, _) => return Err(StoreError::Corrupt(format!("unknown refusal {other}"))),
    })
}

#[async_trait]
impl SessionStore for RedisSessionStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Redis
    }

    async fn create(&self, id: &SessionId, data: &SessionData) -> Result<(), StoreError> {
        let json = to_doc(data)?;
        let (key, idle, absolute) = (
            self.key(id),
            ms(self.timeouts.idle),
            ms(self.timeouts.absolute),
        );
        let created: i64 = self
            .redis
            .call(|mut conn| async move {
                CREATE
                    .key(key)
                    .arg(now_ms())
                    .arg(idle)
                    .arg(absolute)
                    .arg(json)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        if created == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        }
    }

    async fn load(&self, id: &SessionId) -> Result<Option<SessionData>, StoreError> {
        let (key, idle) = (self.key(id), ms(self.timeouts.idle));
        let json: Option<String> = self
            .redis
            .call(|mut conn| async move {
                LOAD.key(key)
                    .arg(now_ms())
                    .arg(idle)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        json.as_deref().map(parse).transpose()
    }

    async fn update(&self, id: &SessionId, mutation: &Mutation) -> Result<Update, StoreError> {
        let (key, idle) = (self.key(id), ms(self.timeouts.idle));
        let (op, product, quantity) = op_args(mutation);
        let product = product.to_owned();
        let answer: redis::Value = self
            .redis
            .call(|mut conn| async move {
                UPDATE
                    .key(key)
                    .arg(now_ms())
                    .arg(idle)
                    .arg(op)
                    .arg(product)
                    .arg(quantity)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        match answer {
            redis::Value::Nil => Ok(Update::Missing),
            redis::Value::BulkString(json) => std::str::from_utf8(&json)
                .map_err(|e| StoreError::Corrupt(format!("session JSON: {e}")))
                .and_then(parse)
                .map(Update::Applied),
            redis::Value::SimpleString(reason) => {
                violation(&reason, mutation).map(Update::Rejected)
            }
            other => Err(StoreError::Corrupt(format!(
                "unexpected answer from the update script: {other:?}"
            ))),
        }
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        let key = self.key(id);
        let deleted: i64 = self
            .redis
            .call(|mut conn| async move { redis::cmd("DEL").arg(key).query_async(&mut conn).await })
            .await?;
        Ok(deleted > 0)
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let pattern = self.redis.key("session", "*");
        self.redis
            .call(|mut conn| async move {
                let mut iter =
                    redis::AsyncCommands::scan_match::<_, String>(&mut conn, pattern).await?;
                let mut n = 0u64;
                while iter.next_item().await.is_some() {
                    n += 1;
                }
                Ok(n)
            })
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.redis.ping().await
    }
}
