//! The unwrapped data keys an instance keeps in memory, so that opening the many fields of a
//! case (a replay, a page of the queue, a rebuild) reads and unwraps its key once, not once
//! a field.
//!
//! Bounded two ways. By size: two generations of at most `capacity / 2` entries each; a hit
//! in the older generation moves the entry to the newer; when the newer is full the older is
//! dropped whole. That keeps the recently used keys at O(1) a look-up, with no list to keep
//! in order. By age: an entry older than `ttl` is a miss, so that a key destroyed by another
//! instance stops opening here within `ttl` (the instance that destroys a key forgets it at
//! once).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::envelope::DataKey;

/// How many unwrapped keys an instance keeps, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    pub capacity: usize,
    pub ttl: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            ttl: Duration::from_secs(60),
        }
    }
}

/// What is known of a case's key.
#[derive(Debug, Clone)]
pub(crate) enum Cached {
    Live(Arc<DataKey>),
    /// Destroyed: for good, so this is never out of date.
    Disposed,
}

#[derive(Debug)]
struct Entry {
    value: Cached,
    loaded: Instant,
}

#[derive(Debug, Default)]
struct Generations {
    newer: HashMap<String, Entry>,
    older: HashMap<String, Entry>,
}

#[derive(Debug)]
pub(crate) struct KeyCache {
    settings: CacheSettings,
    inner: Mutex<Generations>,
}

impl KeyCache {
    pub(crate) fn new(settings: CacheSettings) -> Self {
        Self {
            settings,
            inner: Mutex::new(Generations::default()),
        }
    }

    fn half(&self) -> usize {
        (self.settings.capacity / 2).max(1)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        // A panic while holding the lock leaves maps that are still whole: go on with them.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn get(&self, case_id: &str) -> Option<Cached> {
        if self.settings.capacity == 0 {
            return None;
        }
        let now = Instant::now();
        let fresh = |e: &Entry| {
            matches!(e.value, Cached::Disposed) || now.duration_since(e.loaded) < self.settings.ttl
        };
        let mut g = self.lock();
        if let Some(entry) = g.newer.get(case_id) {
            return fresh(entry).then(|| entry.value.clone());
        }
        let entry = g.older.remove(case_id)?;
        if !fresh(&entry) {
            return None;
        }
        let value = entry.value.clone();
        self.insert_locked(&mut g, case_id.to_owned(), entry);
        Some(value)
    }

    pub(crate) fn put(&self, case_id: &str, value: Cached) {
        if self.settings.capacity == 0 {
            return;
        }
        let mut g = self.lock();
        g.older.remove(case_id);
        let entry = Entry {
            value,
            loaded: Instant::now(),
        };
        self.insert_locked(&mut g, case_id.to_owned(), entry);
    }

    fn insert_locked(&self, g: &mut Generations, case_id: String, entry: Entry) {
        if g.newer.len() >= self.half() && !g.newer.contains_key(&case_id) {
            g.older = std::mem::take(&mut g.newer);
        }
        g.newer.insert(case_id, entry);
    }

    pub(crate) fn forget(&self, case_id: &str) {
        let mut g = self.lock();
        g.newer.remove(case_id);
        g.older.remove(case_id);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        let g = self.lock();
        g.newer.len() + g.older.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::envelope::KeyId;

    fn live(case: &str) -> Cached {
        Cached::Live(Arc::new(DataKey::new(case, KeyId([1; 8]), &[1; 32])))
    }

    #[test]
    fn the_cache_stays_within_its_capacity_and_keeps_what_is_used() {
        let cache = KeyCache::new(CacheSettings {
            capacity: 4,
            ttl: Duration::from_secs(60),
        });
        cache.put("a", live("a"));
        cache.put("b", live("b"));
        cache.put("c", live("c"));
        // "a" is used, so it survives the next turn of generations; "b" does not.
        assert!(cache.get("a").is_some());
        cache.put("d", live("d"));
        cache.put("e", live("e"));
        assert!(cache.len() <= 4);
        assert!(cache.get("a").is_some());
        assert!(cache.get("b").is_none());
        cache.forget("a");
        assert!(cache.get("a").is_none());
    }

    #[test]
    fn a_live_key_expires_but_a_disposal_does_not() {
        let cache = KeyCache::new(CacheSettings {
            capacity: 10,
            ttl: Duration::ZERO,
        });
        cache.put("a", live("a"));
        cache.put("b", Cached::Disposed);
        assert!(cache.get("a").is_none());
        assert!(matches!(cache.get("b"), Some(Cached::Disposed)));
        let off = KeyCache::new(CacheSettings {
            capacity: 0,
            ttl: Duration::from_secs(60),
        });
        off.put("a", live("a"));
        assert!(off.get("a").is_none());
    }
}
