//! Replay protection inside one execution environment (`ReplayProtection=instance`): the
//! [`NonceStore`] of a deployment without a nonce table. Nonces are kept until their signature
//! could no longer pass the timestamp window, in bounded memory; other environments know
//! nothing of them (ARCHITECTURE.md, "Replay protection").

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::ports::{ClaimOutcome, Confirmed, NonceClaim, NonceStore, PortError};
use crate::protocol::callback::hex_sha256;

/// The store's key for a nonce: fixed length whatever the header held. Not scoped by service:
/// a request captured for one service must not be replayable to another service that shares
/// its webhook secret.
pub fn nonce_key(nonce: &str) -> String {
    hex_sha256(nonce.as_bytes())
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Unix second until which the entry counts.
    until: i64,
    /// `Some` while claimed, `None` once used.
    claim: Option<u64>,
}

struct Entries {
    capacity: usize,
    by_key: HashMap<String, Entry>,
    /// The same keys, oldest first.
    order: VecDeque<String>,
}

pub struct InstanceNonces {
    entries: Mutex<Entries>,
    next_claim: AtomicU64,
}

impl InstanceNonces {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(Entries {
                capacity: capacity.max(1),
                by_key: HashMap::new(),
                order: VecDeque::new(),
            }),
            next_claim: AtomicU64::new(1),
        }
    }

    /// Nonces remembered (used or claimed), bounded by the capacity.
    pub fn len(&self) -> usize {
        self.lock().by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Entries {
    fn expire(&mut self, now: i64) {
        while let Some(front) = self.order.front() {
            if self.by_key.get(front).is_some_and(|e| e.until >= now) {
                break;
            }
            self.by_key.remove(front);
            self.order.pop_front();
        }
    }

    /// At capacity the oldest entry goes first: memory stays bounded and only the oldest
    /// replays become possible again.
    fn insert(&mut self, key: &str, entry: Entry, now: i64) {
        if let Some(existing) = self.by_key.get_mut(key) {
            *existing = entry;
            return;
        }
        self.expire(now);
        while self.by_key.len() >= self.capacity {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.by_key.remove(&oldest);
        }
        self.by_key.insert(key.to_owned(), entry);
        self.order.push_back(key.to_owned());
    }
}

fn claim_id(claim: &NonceClaim) -> Option<u64> {
    claim.token.parse().ok()
}

impl NonceStore for InstanceNonces {
    async fn claim(&self, key: &str, now: i64, lease_until: i64) -> Result<ClaimOutcome, PortError> {
        let mut entries = self.lock();
        match entries.by_key.get(key) {
            Some(e) if e.until >= now && e.claim.is_none() => return Ok(ClaimOutcome::Used),
            Some(e) if e.until >= now => return Ok(ClaimOutcome::InFlight),
            _ => {}
        }
        let id = self.next_claim.fetch_add(1, Ordering::Relaxed);
        entries.insert(
            key,
            Entry {
                until: lease_until,
                claim: Some(id),
            },
            now,
        );
        Ok(ClaimOutcome::Claimed(NonceClaim { token: id.to_string() }))
    }

    async fn confirm(&self, key: &str, claim: &NonceClaim, used_until: i64) -> Result<Confirmed, PortError> {
        let mut entries = self.lock();
        if let Some(entry) = entries.by_key.get_mut(key)
            && entry.claim.is_some()
            && entry.claim == claim_id(claim)
        {
            *entry = Entry {
                until: used_until,
                claim: None,
            };
            return Ok(Confirmed::Used);
        }
        Ok(Confirmed::Lapsed)
    }

    async fn release(&self, key: &str, claim: &NonceClaim) -> Result<(), PortError> {
        let mut entries = self.lock();
        if let Some(entry) = entries.by_key.get_mut(key)
            && entry.claim.is_some()
            && entry.claim == claim_id(claim)
        {
            // Lapsed at once; the key leaves the order queue when it reaches the front.
            entry.until = i64::MIN;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimed(outcome: Result<ClaimOutcome, PortError>) -> NonceClaim {
        match outcome {
            Ok(ClaimOutcome::Claimed(c)) => c,
            other => panic!("expected a claim, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn used_nonce_is_a_replay_until_it_expires() {
        let store = InstanceNonces::new(10);
        let claim = claimed(store.claim("a", 100, 160).await);
        store.confirm("a", &claim, 200).await.ok();
        assert_eq!(store.claim("a", 150, 210).await, Ok(ClaimOutcome::Used));
        assert_eq!(store.claim("a", 200, 260).await, Ok(ClaimOutcome::Used));
        claimed(store.claim("a", 201, 261).await);
    }

    #[tokio::test]
    async fn a_live_claim_is_in_flight_and_a_lapsed_one_can_be_taken() {
        let store = InstanceNonces::new(10);
        let first = claimed(store.claim("a", 100, 160).await);
        assert_eq!(store.claim("a", 159, 219).await, Ok(ClaimOutcome::InFlight));
        let second = claimed(store.claim("a", 161, 221).await);
        // The first holder, back late, cannot mark the nonce used over the new claim.
        store.confirm("a", &first, 999).await.ok();
        assert_eq!(store.claim("a", 162, 222).await, Ok(ClaimOutcome::InFlight));
        store.confirm("a", &second, 999).await.ok();
        assert_eq!(store.claim("a", 500, 560).await, Ok(ClaimOutcome::Used));
    }

    #[tokio::test]
    async fn a_released_claim_frees_the_nonce_at_once() {
        let store = InstanceNonces::new(10);
        let claim = claimed(store.claim("a", 100, 160).await);
        store.release("a", &claim).await.ok();
        claimed(store.claim("a", 101, 161).await);
    }

    #[tokio::test]
    async fn memory_is_bounded_by_capacity() {
        let store = InstanceNonces::new(3);
        for i in 0..1000 {
            let key = format!("n{i}");
            let claim = claimed(store.claim(&key, 0, 60).await);
            store.confirm(&key, &claim, 10_000).await.ok();
            assert!(store.len() <= 3);
        }
        assert_eq!(store.claim("n999", 1, 61).await, Ok(ClaimOutcome::Used));
        claimed(store.claim("n0", 1, 61).await);
        assert_eq!(store.lock().order.len(), 3);
    }

    #[test]
    fn keys_are_fixed_length_and_never_the_nonce_itself() {
        let key = nonce_key(&"x".repeat(10_000));
        assert_eq!(key.len(), 64);
        assert_ne!(nonce_key("n"), "n");
    }
}
