//! Sessions in Redis: readable JSON under `session:<public id>`, each operation one
//! server-side script (one round trip, atomic).

use std::borrow::Cow;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::Script;

use super::RedisBackend;
use crate::clock::{Clock as _, UnixClock, millis as ms};
use crate::data::{
    Address, CartLine, CheckoutStep, MAX_CART_LINES, MAX_COUNTER, MAX_QUANTITY, Mutation,
    RuleViolation, SessionData,
};
use crate::error::StoreError;
use crate::id::{SessionId, TAG_BYTES, TAG_CHARS, tag_text, user_tag};
use crate::name::ProductId;
use crate::store::{LoginInfo, SessionStore, SessionTimeouts, StoreKind, Update, clip};

static LOAD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("prelude.lua"),
        include_str!("load.lua")
    ))
});
static CREATE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("create.lua")));
static LOGINS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("session_key.lua"),
        include_str!("logins.lua")
    ))
});
static LOGOUT_ALL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("session_key.lua"),
        include_str!("logout_all.lua")
    ))
});
static DELETE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("delete.lua")));
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
    /// The last count of live sessions and when it was taken: counting walks
    /// the keyspace, so a metrics scrape reuses a recent count.
    counted: Arc<Mutex<Option<(u64, Instant)>>>,
}

/// How long a count of sessions is reused.
const COUNT_FOR: Duration = Duration::from_secs(15);
/// Keys per SCAN step: a million sessions in a thousand round trips.
const SCAN_STEP: usize = 1000;

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
    #[serde(skip_serializing_if = "Option::is_none")]
    shipping: Option<&'a Address>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_token: Option<&'a str>,
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
    #[serde(default)]
    shipping: Option<Address>,
    #[serde(default)]
    payment_token: Option<String>,
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
        shipping: data.shipping.as_ref(),
        payment_token: data.payment_token.as_deref(),
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
        shipping: doc.shipping,
        payment_token: doc.payment_token,
    })
}

impl RedisSessionStore {
    /// Sessions on `redis` with these timeouts.
    pub fn new(redis: RedisBackend, timeouts: SessionTimeouts) -> Self {
        Self {
            redis,
            timeouts,
            counted: Arc::default(),
        }
    }

    /// `session:<id>`; on a cluster `session:{TTTT}REST`, the tag braced as
    /// the hash tag so Redis Cluster places a session by its tag. One server
    /// keeps the plain form: the two braces would take the key past 31 bytes,
    /// into the next SDS header and allocation class (16 bytes a session more).
    fn key(&self, id: &SessionId) -> String {
        let text = id.encode();
        if !self.redis.is_cluster() {
            return self.redis.key("session", text.as_str());
        }
        let (tag, rest) = text.as_str().split_at(TAG_CHARS);
        self.redis.key("session", &format!("{{{tag}}}{rest}"))
    }

    /// The scripts' flag for [`RedisSessionStore::key`]'s form.
    fn braced(&self) -> &'static str {
        if self.redis.is_cluster() { "1" } else { "0" }
    }

    /// The index of a user's logged-in sessions, a hash of session ID → entry:
    /// `user-sessions:{TTTT}USER`, on the slot of the user's logins.
    fn index_key(&self, user_id: &str) -> String {
        self.index_prefix(user_tag(user_id)) + user_id
    }

    /// `user-sessions:{TTTT}`: the index key of any user with this tag, but
    /// for the user ID that ends it (the delete script adds the session's).
    fn index_prefix(&self, tag: [u8; TAG_BYTES]) -> String {
        self.redis
            .key("user-sessions", &format!("{{{}}}", tag_text(tag)))
    }

    /// Stores a new session, and for a login its entry in the user's index
    /// (`user_id`, entry JSON), in one script.
    async fn insert(
        &self,
        id: &SessionId,
        data: &SessionData,
        login: Option<(&str, String)>,
    ) -> Result<(), StoreError> {
        let json = to_doc(data)?;
        let (key, idle, absolute) = (
            self.key(id),
            ms(self.timeouts.idle),
            ms(self.timeouts.absolute),
        );
        let index = login.map(|(user, entry)| (self.index_key(user), id.to_string(), entry));
        let keys = match &index {
            Some((index, ..)) => vec![key.as_str(), index.as_str()],
            None => vec![key.as_str()],
        };
        let created: i64 = self
            .redis
            .write_script(&CREATE, &keys, |call| {
                call.arg(now_ms()).arg(idle).arg(absolute).arg(json);
                if let Some((_, id, entry)) = &index {
                    call.arg(id).arg(entry);
                }
            })
            .await?;
        if created == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        }
    }
}

/// A user's index entry for one session (`createdAt` in ms, `userAgent`).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexEntry {
    created_at: u64,
    user_agent: String,
}

/// The update script's arguments after the deadline: op, text, quantity.
/// The text is borrowed from the mutation where it can be (no copy per add).
type OpArgs<'a> = (Option<&'static str>, Option<Cow<'a, str>>, Option<u16>);

/// The script's arguments for a mutation: op, then a text argument (a product
/// ID, the address as JSON, a payment token) and a quantity where the op has
/// them. An argument not sent costs Redis nothing: each one it takes is a Lua
/// string made and interned on every call (~2% of a counter update's work).
fn op_args(mutation: &Mutation) -> Result<OpArgs<'_>, StoreError> {
    let (op, product, quantity) = match mutation {
        // The script's default op: no argument at all.
        Mutation::IncrementCounter => return Ok((None, None, None)),
        Mutation::AddToCart { product, quantity } => (
            "add",
            Some(Cow::Borrowed(product.as_str())),
            Some(*quantity),
        ),
        Mutation::SetCartQuantity { product, quantity } => (
            "set",
            Some(Cow::Borrowed(product.as_str())),
            Some(*quantity),
        ),
        Mutation::RemoveFromCart { product } => {
            ("remove", Some(Cow::Borrowed(product.as_str())), None)
        }
        Mutation::ClearCart => ("clear", None, None),
        Mutation::StartCheckout => ("checkout", None, None),
        Mutation::SetShipping(address) => (
            "shipping",
            Some(Cow::Owned(
                serde_json::to_string(address).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            )),
            None,
        ),
        Mutation::SetPayment(token) => ("payment", Some(Cow::Borrowed(token.as_str())), None),
        Mutation::CompleteCheckout => ("complete", None, None),
    };
    Ok((Some(op), product, quantity))
}

fn violation(reason: &str, mutation: &Mutation) -> Result<RuleViolation, StoreError> {
    Ok(match (reason, mutation) {
        ("counter", _) => RuleViolation::CounterLimit,
        ("quantity", _) => RuleViolation::QuantityLimit,
        ("full", _) => RuleViolation::CartFull,
        ("absent", Mutation::RemoveFromCart { product }) => {
            RuleViolation::NotInCart(product.clone())
        }
        ("empty", _) => RuleViolation::CartEmpty,
        ("step:checkout", _) => RuleViolation::StepInvalid {
            expected: CheckoutStep::Checkout,
        },
        ("step:shipping", _) => RuleViolation::StepInvalid {
            expected: CheckoutStep::Shipping,
        },
        ("step:payment", _) => RuleViolation::StepInvalid {
            expected: CheckoutStep::Payment,
        },
        (other, _) => return Err(StoreError::Corrupt(format!("unknown refusal {other}"))),
    })
}

#[async_trait]
impl SessionStore for RedisSessionStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Redis
    }

    async fn create(&self, id: &SessionId, data: &SessionData) -> Result<(), StoreError> {
        self.insert(id, data, None).await
    }

    async fn load(&self, id: &SessionId) -> Result<Option<SessionData>, StoreError> {
        let (key, idle) = (self.key(id), ms(self.timeouts.idle));
        let json: Option<String> = self
            .redis
            .script(&LOAD, &[&key], |call| {
                call.arg(idle).arg(now_ms().saturating_add(idle));
            })
            .await?;
        json.as_deref().map(parse).transpose()
    }

    async fn update(&self, id: &SessionId, mutation: &Mutation) -> Result<Update, StoreError> {
        let (key, idle) = (self.key(id), ms(self.timeouts.idle));
        let (op, product, quantity) = op_args(mutation)?;
        let answer: redis::Value = self
            .redis
            .write_script(&UPDATE, &[&key], |call| {
                call.arg(idle)
                    .arg(now_ms().saturating_add(idle))
                    .arg(op)
                    .arg(product.as_deref())
                    .arg(quantity);
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
        // A login's index is on the slot of its tag; the script names it from
        // the session's user, which only the stored JSON knows.
        let key = self.key(id);
        let index_prefix = self.index_prefix(id.tag());
        let id = id.to_string();
        let deleted: i64 = self
            .redis
            .write_script(&DELETE, &[&key], |call| {
                call.arg(index_prefix).arg(id);
            })
            .await?;
        Ok(deleted > 0)
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let recent = *self.counted.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((n, at)) = recent
            && at.elapsed() < COUNT_FOR
        {
            return Ok(n);
        }
        let pattern = self.redis.key("session", "*");
        let mut n = 0u64;
        self.redis.scan(&pattern, SCAN_STEP, |_| n += 1).await?;
        *self.counted.lock().unwrap_or_else(|p| p.into_inner()) = Some((n, Instant::now()));
        Ok(n)
    }

    async fn create_login(
        &self,
        id: &SessionId,
        data: &SessionData,
        user_agent: &str,
    ) -> Result<(), StoreError> {
        let user = data.login_user()?;
        if id.tag() != user_tag(user) {
            return Err(StoreError::Corrupt(
                "a login session's ID must carry its user's tag".to_owned(),
            ));
        }
        let entry = IndexEntry {
            created_at: now_ms(),
            user_agent: clip(user_agent).to_owned(),
        };
        let entry =
            serde_json::to_string(&entry).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.insert(id, data, Some((user, entry))).await
    }

    async fn user_sessions(&self, user_id: &str) -> Result<Vec<LoginInfo>, StoreError> {
        let (index, prefix) = (self.index_key(user_id), self.redis.key("session", ""));
        let braced = self.braced();
        let flat: Vec<redis::Value> = self
            .redis
            .script(&LOGINS, &[&index], |call| {
                call.arg(prefix).arg(braced);
            })
            .await?;
        let now = now_ms();
        let idle = ms(self.timeouts.idle);
        let absolute = ms(self.timeouts.absolute);
        let corrupt = || StoreError::Corrupt("unexpected answer from the logins script".to_owned());
        let mut out = Vec::with_capacity(flat.len() / 3);
        for triple in flat.chunks(3) {
            let [id, entry, ttl] = triple else {
                return Err(corrupt());
            };
            let id: String = redis::from_redis_value(id).map_err(|_| corrupt())?;
            let entry: String = redis::from_redis_value(entry).map_err(|_| corrupt())?;
            let ttl: u64 = redis::from_redis_value(ttl).map_err(|_| corrupt())?;
            let Some(id) = SessionId::parse(&id) else {
                return Err(corrupt());
            };
            let entry: IndexEntry = serde_json::from_str(&entry).map_err(|_| corrupt())?;
            // The TTL was set to the idle timeout at the last use, unless the
            // absolute deadline came first; then the last use is only known to
            // be within the last idle period before it.
            let deadline = now + ttl;
            let last_seen = deadline
                .saturating_sub(idle)
                .max(entry.created_at)
                .min(now)
                .min(entry.created_at + absolute);
            out.push(LoginInfo {
                id,
                created_ms: entry.created_at,
                last_seen_ms: last_seen,
                user_agent: entry.user_agent,
            });
        }
        out.sort_by_key(|l| l.created_ms);
        Ok(out)
    }

    async fn delete_user_sessions(&self, user_id: &str) -> Result<u64, StoreError> {
        let (index, prefix) = (self.index_key(user_id), self.redis.key("session", ""));
        let braced = self.braced();
        self.redis
            .write_script(&LOGOUT_ALL, &[&index], |call| {
                call.arg(prefix).arg(braced);
            })
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.redis.ping().await
    }
}
