//! Replay protection inside one execution environment: nonces of stored events are kept
//! until their signature could no longer pass the timestamp window, in bounded memory.

use std::collections::{HashMap, VecDeque};

pub struct NonceCache {
    capacity: usize,
    /// nonce -> Unix second until which it counts as seen.
    expiry: HashMap<String, i64>,
    /// The same keys, oldest first.
    order: VecDeque<String>,
}

impl NonceCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            expiry: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// True when `nonce` was remembered and has not expired at `now`.
    pub fn seen(&self, nonce: &str, now: i64) -> bool {
        self.expiry.get(nonce).is_some_and(|&until| until >= now)
    }

    /// Remembers `nonce` until `until` (Unix seconds). At capacity the oldest entry goes first:
    /// memory stays bounded and only the oldest replays become possible again.
    pub fn remember(&mut self, nonce: &str, until: i64, now: i64) {
        if let Some(existing) = self.expiry.get_mut(nonce) {
            *existing = (*existing).max(until);
            return;
        }
        self.expire(now);
        while self.expiry.len() >= self.capacity {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.expiry.remove(&oldest);
        }
        self.expiry.insert(nonce.to_owned(), until);
        self.order.push_back(nonce.to_owned());
    }

    pub fn len(&self) -> usize {
        self.expiry.len()
    }

    pub fn is_empty(&self) -> bool {
        self.expiry.is_empty()
    }

    fn expire(&mut self, now: i64) {
        while let Some(front) = self.order.front() {
            if self.expiry.get(front).is_none_or(|&until| until >= now) {
                break;
            }
            self.expiry.remove(front);
            self.order.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_until_expiry() {
        let mut cache = NonceCache::new(10);
        assert!(!cache.seen("a", 100));
        cache.remember("a", 200, 100);
        assert!(cache.seen("a", 150));
        assert!(cache.seen("a", 200));
        assert!(!cache.seen("a", 201));
        cache.remember("b", 300, 201);
        assert_eq!(cache.len(), 1, "expired entries are dropped on insert");
    }

    #[test]
    fn memory_is_bounded_by_capacity() {
        let mut cache = NonceCache::new(3);
        for i in 0..1000 {
            cache.remember(&format!("n{i}"), 10_000, 0);
            assert!(cache.len() <= 3);
        }
        assert!(cache.seen("n999", 0));
        assert!(!cache.seen("n0", 0), "oldest evicted first");
        assert_eq!(cache.order.len(), 3);
    }

    #[test]
    fn re_remembering_extends_without_growing() {
        let mut cache = NonceCache::new(2);
        for _ in 0..100 {
            cache.remember("same", 500, 0);
        }
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.order.len(), 1);
        assert!(cache.seen("same", 400));
    }
}
