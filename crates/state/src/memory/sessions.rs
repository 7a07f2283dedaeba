//! Sessions in memory: sharded maps of compact records, swept in the background.
//!
//! Lean by design (the seed assumed 50 KB a session; the axum + tower-sessions
//! peer needs 2.6 KB): a record is the session's postcard encoding in one small
//! heap block plus two timestamps, keyed by the 16-byte public ID with an
//! identity hash (the ID is already a SHA-256 output). Expiry needs no per-session
//! timer: a sweeper walks one shard at a time and drops expired records.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use crate::clock::{Clock, SystemClock, millis};
use crate::codec::{decode, encode};
use crate::data::{Mutation, SessionData};
use crate::error::StoreError;
use crate::id::SessionId;
use crate::store::{
    LoginInfo, SessionStore, SessionTimeouts, SessionTransfer, StoreKind, Update, clip,
};
use crate::sweep::spawn_sweeper;

/// Shards of the map: enough that two cores rarely contend, few enough that an
/// empty store stays small.
const SHARDS: usize = 64;
/// How often the sweeper walks the whole map by default.
const DEFAULT_SWEEP_EVERY: Duration = Duration::from_secs(5);

/// Hasher for keys that are already uniformly random: passes the 64 bits through.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only reached if a key type other than SessionId's u64 is hashed.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Shard = HashMap<SessionId, Record, BuildHasherDefault<PassThrough>>;

/// User ID → that user's logged-in sessions and their user agents.
type Logins = HashMap<String, Vec<(SessionId, Box<str>)>>;

/// One session: 32 bytes inline plus its encoding (about 20 bytes for a counter
/// and a 2-item cart).
#[derive(Debug)]
struct Record {
    encoded: Box<[u8]>,
    created_ms: u64,
    seen_ms: u64,
}

#[derive(Debug)]
struct Inner {
    shards: Box<[Mutex<Shard>]>,
    timeouts: SessionTimeouts,
    clock: Arc<dyn Clock>,
    /// Each logged-in user's sessions and their user agents. Entries whose
    /// session has gone are dropped when listed and by the sweeper, so the index
    /// expires with its sessions; anonymous sessions cost it nothing.
    logins: Mutex<Logins>,
}

/// Sessions in this process's memory. Cheap to clone (shares the map).
#[derive(Debug, Clone)]
pub struct MemorySessionStore {
    inner: Arc<Inner>,
}

impl Inner {
    fn now_ms(&self) -> u64 {
        millis(self.clock.now())
    }

    fn shard(&self, id: &SessionId) -> MutexGuard<'_, Shard> {
        // The spread bits are independent of the bits the map hashes on.
        let index = (id.spread() % SHARDS as u64) as usize;
        // A panic while holding a shard lock cannot leave a record half-written
        // (records are replaced whole), so a poisoned lock is safe to keep using.
        self.shards[index]
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn is_expired(&self, record: &Record, now_ms: u64) -> bool {
        now_ms >= record.seen_ms.saturating_add(millis(self.timeouts.idle))
            || now_ms
                >= record
                    .created_ms
                    .saturating_add(millis(self.timeouts.absolute))
    }

    /// Finds a live record and marks it used, removing it if it has expired.
    fn touch<'a>(
        &self,
        shard: &'a mut Shard,
        id: &SessionId,
        now_ms: u64,
    ) -> Option<&'a mut Record> {
        let expired = self.is_expired(shard.get(id)?, now_ms);
        if expired {
            shard.remove(id);
            return None;
        }
        let record = shard.get_mut(id)?;
        record.seen_ms = now_ms;
        Some(record)
    }

    /// Drops every expired record, one shard lock at a time; returns how many.
    fn sweep(&self) -> usize {
        let mut removed = 0;
        for shard in self.shards.iter() {
            let now_ms = self.now_ms();
            let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            let before = shard.len();
            shard.retain(|_, record| !self.is_expired(record, now_ms));
            removed += before - shard.len();
            // Give memory back after a mass expiry instead of keeping a huge table.
            if shard.capacity() > 64 && shard.len() < shard.capacity() / 4 {
                shard.shrink_to_fit();
            }
        }
        self.prune_logins();
        removed
    }

    fn logins(&self) -> MutexGuard<'_, Logins> {
        // Entries are pushed and removed whole: a poisoned lock is still consistent.
        self.logins.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live record's (created, last seen), without touching it.
    fn peek(&self, id: &SessionId, now_ms: u64) -> Option<(u64, u64)> {
        let shard = self.shard(id);
        let record = shard.get(id)?;
        (!self.is_expired(record, now_ms)).then_some((record.created_ms, record.seen_ms))
    }

    /// Drops index entries whose session has gone.
    fn prune_logins(&self) {
        let now_ms = self.now_ms();
        // Collected first: shard locks are never taken under the index lock
        // held for long, and never in the other order.
        let entries: Vec<(String, Vec<SessionId>)> = self
            .logins()
            .iter()
            .map(|(user, list)| (user.clone(), list.iter().map(|(id, _)| *id).collect()))
            .collect();
        for (user, ids) in entries {
            let dead: Vec<SessionId> = ids
                .into_iter()
                .filter(|id| self.peek(id, now_ms).is_none())
                .collect();
            if dead.is_empty() {
                continue;
            }
            let mut logins = self.logins();
            if let Some(list) = logins.get_mut(&user) {
                list.retain(|(id, _)| !dead.contains(id));
                if list.is_empty() {
                    logins.remove(&user);
                }
            }
        }
    }
}

impl MemorySessionStore {
    /// An empty store on the system clock. Inside a tokio runtime it also starts
    /// the background sweeper, which stops when the last clone is dropped.
    pub fn new(timeouts: SessionTimeouts) -> Self {
        Self::with_clock(timeouts, Arc::new(SystemClock::new()), DEFAULT_SWEEP_EVERY)
    }

    /// An empty store on a given clock, swept every `sweep_every` (when a tokio
    /// runtime is present).
    pub fn with_clock(
        timeouts: SessionTimeouts,
        clock: Arc<dyn Clock>,
        sweep_every: Duration,
    ) -> Self {
        let shards = (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect();
        let inner = Arc::new(Inner {
            shards,
            timeouts,
            clock,
            logins: Mutex::default(),
        });
        spawn_sweeper(
            &inner,
            sweep_every,
            |inner| async move { Ok(inner.sweep()) },
        );
        Self { inner }
    }

    /// Removes every expired session now; returns how many were removed.
    pub fn sweep(&self) -> usize {
        self.inner.sweep()
    }

    /// Live sessions held (expired ones not yet swept included).
    pub fn len(&self) -> usize {
        self.inner
            .shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }

    /// `true` when no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Memory
    }

    async fn create(&self, id: &SessionId, data: &SessionData) -> Result<(), StoreError> {
        let encoded = encode(data)?;
        let now_ms = self.inner.now_ms();
        let mut shard = self.inner.shard(id);
        if let Some(existing) = shard.get(id)
            && !self.inner.is_expired(existing, now_ms)
        {
            return Err(StoreError::Conflict);
        }
        shard.insert(
            *id,
            Record {
                encoded,
                created_ms: now_ms,
                seen_ms: now_ms,
            },
        );
        Ok(())
    }

    async fn load(&self, id: &SessionId) -> Result<Option<SessionData>, StoreError> {
        let now_ms = self.inner.now_ms();
        let mut shard = self.inner.shard(id);
        match self.inner.touch(&mut shard, id, now_ms) {
            Some(record) => decode(&record.encoded).map(Some),
            None => Ok(None),
        }
    }

    async fn update(&self, id: &SessionId, mutation: &Mutation) -> Result<Update, StoreError> {
        let now_ms = self.inner.now_ms();
        // The whole read-apply-write runs under the shard lock, which is held for
        // microseconds and never across an await: no update can be lost.
        let mut shard = self.inner.shard(id);
        let Some(record) = self.inner.touch(&mut shard, id, now_ms) else {
            return Ok(Update::Missing);
        };
        let mut data = decode(&record.encoded)?;
        if let Err(violation) = mutation.apply(&mut data) {
            return Ok(Update::Rejected(violation));
        }
        record.encoded = encode(&data)?;
        Ok(Update::Applied(data))
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        let now_ms = self.inner.now_ms();
        let mut shard = self.inner.shard(id);
        Ok(shard
            .remove(id)
            .is_some_and(|record| !self.inner.is_expired(&record, now_ms)))
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Ok(self.len() as u64)
    }

    async fn create_login(
        &self,
        id: &SessionId,
        data: &SessionData,
        user_agent: &str,
    ) -> Result<(), StoreError> {
        let user = data.login_user()?.to_owned();
        self.create(id, data).await?;
        let agent = clip(user_agent).into();
        self.inner
            .logins()
            .entry(user)
            .or_default()
            .push((*id, agent));
        Ok(())
    }

    async fn user_sessions(&self, user_id: &str) -> Result<Vec<LoginInfo>, StoreError> {
        let now_ms = self.inner.now_ms();
        let entries = self
            .inner
            .logins()
            .get(user_id)
            .cloned()
            .unwrap_or_default();
        let mut live = Vec::with_capacity(entries.len());
        for (id, agent) in entries {
            if let Some((created_ms, last_seen_ms)) = self.inner.peek(&id, now_ms) {
                // Calendar times, as every store reports them.
                let clock = &self.inner.clock;
                live.push(LoginInfo {
                    id,
                    created_ms: clock.unix_ms(created_ms),
                    last_seen_ms: clock.unix_ms(last_seen_ms),
                    user_agent: agent.into(),
                });
            }
        }
        live.sort_by_key(|l| l.created_ms);
        Ok(live)
    }

    async fn delete_user_sessions(&self, user_id: &str) -> Result<u64, StoreError> {
        let entries = self.inner.logins().remove(user_id).unwrap_or_default();
        let mut deleted = 0;
        for (id, _) in entries {
            if self.delete(&id).await? {
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn export(&self, since_ms: u64) -> Result<Vec<SessionTransfer>, StoreError> {
        let now_ms = self.inner.now_ms();
        // Transfers are in calendar time: the other instance's clock began
        // at another moment (the hand-over's `since` is calendar time too).
        let clock = &self.inner.clock;
        let since_ms = clock.reading_ms(since_ms);
        let mut out = Vec::new();
        for shard in self.inner.shards.iter() {
            // Decoded outside no lock but this shard's, one shard at a time.
            let shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            for (id, record) in shard.iter() {
                if record.seen_ms >= since_ms && !self.inner.is_expired(record, now_ms) {
                    out.push(SessionTransfer {
                        id: id.to_string(),
                        data: decode(&record.encoded)?,
                        created_ms: clock.unix_ms(record.created_ms),
                        seen_ms: clock.unix_ms(record.seen_ms),
                    });
                }
            }
        }
        Ok(out)
    }

    async fn import(&self, sessions: &[SessionTransfer]) -> Result<u64, StoreError> {
        let now_ms = self.inner.now_ms();
        let mut taken = 0;
        for session in sessions {
            let Some(id) = SessionId::parse(&session.id) else {
                return Err(StoreError::Corrupt(format!(
                    "bad session id {:?}",
                    session.id
                )));
            };
            let clock = &self.inner.clock;
            let record = Record {
                encoded: encode(&session.data)?,
                created_ms: clock.reading_ms(session.created_ms),
                seen_ms: clock.reading_ms(session.seen_ms),
            };
            if self.inner.is_expired(&record, now_ms) {
                continue;
            }
            let fresher = {
                let mut shard = self.inner.shard(&id);
                let fresher = shard
                    .get(&id)
                    .is_none_or(|held| held.seen_ms < record.seen_ms);
                if fresher {
                    shard.insert(id, record);
                }
                fresher
            };
            if !fresher {
                continue;
            }
            taken += 1;
            if let Some(user) = &session.data.user_id {
                let mut logins = self.inner.logins();
                let list = logins.entry(user.clone()).or_default();
                if !list.iter().any(|(known, _)| *known == id) {
                    list.push((id, Box::from("")));
                }
            }
        }
        Ok(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;
    use crate::id::SessionSecret;

    fn store(clock: &ManualClock) -> MemorySessionStore {
        let timeouts = SessionTimeouts {
            idle: Duration::from_secs(10),
            absolute: Duration::from_secs(60),
        };
        MemorySessionStore::with_clock(timeouts, Arc::new(clock.clone()), Duration::from_secs(3600))
    }

    #[test]
    fn a_typical_session_encodes_in_a_few_dozen_bytes() {
        let mut data = SessionData {
            counter: 5,
            ..SessionData::default()
        };
        for (p, q) in [("book-1", 2), ("pen-7", 1)] {
            Mutation::AddToCart {
                product: crate::ProductId::parse(p).unwrap(),
                quantity: q,
            }
            .apply(&mut data)
            .unwrap();
        }
        let encoded = encode(&data).unwrap();
        assert!(encoded.len() <= 24, "{} bytes", encoded.len());
        assert_eq!(decode(&encoded).unwrap(), data);
        assert_eq!(std::mem::size_of::<Record>(), 32);
    }

    #[tokio::test]
    async fn sessions_hand_over_with_the_fresher_copy_winning() {
        let clock = ManualClock::new();
        let (from, to) = (store(&clock), store(&clock));
        let (a, b) = (
            SessionSecret::generate().public_id(),
            SessionSecret::generate().public_id(),
        );
        let data = |counter| SessionData {
            counter,
            ..SessionData::default()
        };
        from.create(&a, &data(1)).await.unwrap();
        clock.advance(Duration::from_secs(1));
        let since = millis(clock.now());
        from.create(&b, &data(2)).await.unwrap();
        // Everything, then only what was used since.
        let all = from.export(0).await.unwrap();
        assert_eq!(all.len(), 2);
        let recent = from.export(since).await.unwrap();
        assert_eq!(recent.len(), 1);
        assert_eq!(recent[0].id, b.to_string());
        assert_eq!(to.import(&all).await.unwrap(), 2);
        assert_eq!(to.load(&a).await.unwrap(), Some(data(1)));
        // The heir's copy was used after the export: an older copy arriving
        // late does not overwrite it; a fresher one does.
        clock.advance(Duration::from_secs(1));
        to.update(&b, &Mutation::IncrementCounter).await.unwrap();
        assert_eq!(to.import(&recent).await.unwrap(), 0);
        assert_eq!(to.load(&b).await.unwrap(), Some(data(3)));
        clock.advance(Duration::from_secs(1));
        from.update(&a, &Mutation::IncrementCounter).await.unwrap();
        assert_eq!(
            to.import(&from.export(since).await.unwrap()).await.unwrap(),
            1
        );
        assert_eq!(to.load(&a).await.unwrap(), Some(data(2)));
        // Expired sessions are not taken.
        clock.advance(Duration::from_secs(30));
        let fresh = store(&clock);
        assert_eq!(fresh.import(&all).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn sweep_frees_expired_sessions_without_any_request() {
        let clock = ManualClock::new();
        let store = store(&clock);
        for _ in 0..100 {
            let id = SessionSecret::generate().public_id();
            store.create(&id, &SessionData::default()).await.unwrap();
        }
        assert_eq!(store.sweep(), 0);
        clock.advance(Duration::from_secs(11));
        assert_eq!(store.sweep(), 100);
        assert!(store.is_empty());
    }

    #[tokio::test]
    async fn the_background_sweeper_runs_on_its_own() {
        let clock = ManualClock::new();
        let timeouts = SessionTimeouts {
            idle: Duration::from_secs(1),
            absolute: Duration::from_secs(60),
        };
        let store = MemorySessionStore::with_clock(
            timeouts,
            Arc::new(clock.clone()),
            Duration::from_millis(10),
        );
        let id = SessionSecret::generate().public_id();
        store.create(&id, &SessionData::default()).await.unwrap();
        clock.advance(Duration::from_secs(2));
        for _ in 0..200 {
            if store.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the sweeper did not remove the expired session");
    }
}
