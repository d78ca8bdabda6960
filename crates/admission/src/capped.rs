//! A map with a hard cap on its entries: when full, inserting a new key
//! evicts the entry touched longest ago. A flood of distinct keys (spoofed
//! sources, invented user names) therefore costs a bounded amount of memory
//! and pushes out only idle entries.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::time::Instant;

/// Entries by key, and keys by when they were last touched (the
/// `(Instant, seq)` pair is unique, so the index is a plain ordered map).
#[derive(Debug)]
pub(crate) struct CappedMap<K, V> {
    entries: HashMap<K, Slot<V>>,
    by_age: BTreeMap<(Instant, u64), K>,
    cap: usize,
    seq: u64,
    evicted: u64,
}

#[derive(Debug)]
struct Slot<V> {
    value: V,
    stamp: (Instant, u64),
}

impl<K: Hash + Eq + Clone, V> CappedMap<K, V> {
    /// An empty map holding at most `cap` entries (at least one).
    pub(crate) fn new(cap: usize) -> Self {
        CappedMap {
            entries: HashMap::new(),
            by_age: BTreeMap::new(),
            cap: cap.max(1),
            seq: 0,
            evicted: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Entries pushed out by the cap so far.
    #[cfg(test)]
    pub(crate) fn evicted(&self) -> u64 {
        self.evicted
    }

    /// The entry for `key`, without touching it.
    pub(crate) fn peek(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|s| &s.value)
    }

    /// The entry for `key`, created with `make` (evicting the stalest entry
    /// if the map is full), marked as touched at `now`.
    pub(crate) fn touch(&mut self, now: Instant, key: &K, make: impl FnOnce() -> V) -> &mut V {
        self.seq += 1;
        let stamp = (now, self.seq);
        if let Some(slot) = self.entries.get(key) {
            self.by_age.remove(&slot.stamp);
        } else if self.entries.len() >= self.cap {
            if let Some((_, stalest)) = self.by_age.pop_first() {
                self.entries.remove(&stalest);
                self.evicted += 1;
            }
        }
        self.by_age.insert(stamp, key.clone());
        let slot = self.entries.entry(key.clone()).or_insert_with(|| Slot {
            value: make(),
            stamp,
        });
        slot.stamp = stamp;
        &mut slot.value
    }

    /// The entry for `key` if present, marked as touched at `now`.
    pub(crate) fn touch_existing(&mut self, now: Instant, key: &K) -> Option<&mut V> {
        let slot = self.entries.get_mut(key)?;
        self.seq += 1;
        self.by_age.remove(&slot.stamp);
        slot.stamp = (now, self.seq);
        self.by_age.insert(slot.stamp, key.clone());
        Some(&mut slot.value)
    }

    #[cfg(test)]
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let slot = self.entries.remove(key)?;
        self.by_age.remove(&slot.stamp);
        Some(slot.value)
    }

    /// Drops every entry last touched before `before` for which `idle`
    /// says it carries nothing worth keeping.
    pub(crate) fn sweep(&mut self, before: Instant, mut idle: impl FnMut(&V) -> bool) -> usize {
        let old: Vec<((Instant, u64), K)> = self
            .by_age
            .range(..(before, 0))
            .map(|(s, k)| (*s, k.clone()))
            .collect();
        let mut dropped = 0;
        for (stamp, key) in old {
            if self.entries.get(&key).is_some_and(|s| idle(&s.value)) {
                self.entries.remove(&key);
                self.by_age.remove(&stamp);
                dropped += 1;
            }
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_full_map_evicts_the_stalest_entry() {
        let t0 = Instant::now();
        let mut m = CappedMap::new(2);
        *m.touch(t0, &"a", || 0) += 1;
        *m.touch(t0 + Duration::from_secs(1), &"b", || 0) += 1;
        // `a` is touched again: `b` becomes the stalest.
        *m.touch(t0 + Duration::from_secs(2), &"a", || 0) += 1;
        m.touch(t0 + Duration::from_secs(3), &"c", || 0);
        assert_eq!(m.len(), 2);
        assert_eq!(m.peek(&"a"), Some(&2));
        assert_eq!(m.peek(&"b"), None);
        assert_eq!(m.evicted(), 1);
    }

    #[test]
    fn a_flood_of_distinct_keys_stays_within_the_cap() {
        let t0 = Instant::now();
        let mut m = CappedMap::new(100);
        for i in 0..10_000u32 {
            m.touch(t0 + Duration::from_micros(u64::from(i)), &i, || ());
        }
        assert_eq!(m.len(), 100);
        assert_eq!(m.by_age.len(), 100);
        assert_eq!(m.evicted(), 9_900);
        assert!(m.peek(&9_999).is_some());
        assert!(m.peek(&0).is_none());
    }

    #[test]
    fn sweep_drops_only_old_idle_entries() {
        let t0 = Instant::now();
        let mut m = CappedMap::new(10);
        m.touch(t0, &1, || true);
        m.touch(t0, &2, || false);
        m.touch(t0 + Duration::from_secs(10), &3, || true);
        assert_eq!(m.sweep(t0 + Duration::from_secs(5), |idle| *idle), 1);
        assert!(m.peek(&1).is_none());
        assert!(m.peek(&2).is_some());
        assert!(m.peek(&3).is_some());
        assert_eq!(m.remove(&2), Some(false));
        assert_eq!(m.by_age.len(), 1);
    }
}
