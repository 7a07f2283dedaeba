//! A small bounded map whose entries expire: the verified-token cache and the
//! user cache. When full it first drops expired entries and, if still full,
//! everything: entries are cheap to recompute, and a hard bound matters more
//! than the hit rate under a flood of distinct keys.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Instant;

/// A bounded map of `K` to `V`, each entry valid until its deadline.
#[derive(Debug)]
pub(crate) struct ExpiringCache<K, V> {
    entries: Mutex<HashMap<K, (V, Instant)>>,
    capacity: usize,
}

impl<K: Eq + Hash, V: Clone> ExpiringCache<K, V> {
    /// An empty cache holding at most `capacity` entries.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The value under `key`, if present and not expired.
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(v, _)| v.clone())
    }

    /// Keeps `value` under `key` until `until`.
    pub(crate) fn insert(&self, key: K, value: V, until: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.capacity {
            let now = Instant::now();
            entries.retain(|_, (_, t)| *t > now);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (value, until));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn entries_expire_and_the_size_stays_bounded() {
        let cache = ExpiringCache::new(3);
        let later = Instant::now() + Duration::from_secs(60);
        cache.insert(1, "a", later);
        cache.insert(2, "b", Instant::now());
        assert_eq!(cache.get(&1), Some("a"));
        assert_eq!(cache.get(&2), None);
        for k in 3..100 {
            cache.insert(k, "x", later);
            assert!(cache.entries.lock().unwrap().len() <= 3);
        }
    }
}
