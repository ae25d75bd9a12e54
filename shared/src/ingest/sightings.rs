//! Which secret Sinch signs with, told to the nonce table so a rotation, the doctor and an
//! operator can read it: per service and secret (by fingerprint), how many stored callbacks it
//! verified and when it was last seen. Written at most once per [`INTERVAL`] per secret and
//! environment (always the first time), so it costs one table write a minute, not one per
//! callback; a failed write keeps its count for the next one.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How often an environment writes one secret's sightings.
pub const INTERVAL: Duration = Duration::from_secs(60);

/// Entries kept; past it the map starts over (a few counts lost, never a crash).
const CAPACITY: usize = 1000;

#[derive(Default)]
struct Tally {
    written_at: Option<Instant>,
    unwritten: u64,
}

/// Counts sightings in this environment until they are due to be written.
#[derive(Default)]
pub struct SightingTally(Mutex<HashMap<(String, String), Tally>>);

impl SightingTally {
    /// Counts one sighting; returns the count to write now, if a write is due.
    pub fn note(&self, service: &str, fingerprint: &str, now: Instant) -> Option<u64> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (service.to_owned(), fingerprint.to_owned());
        if map.len() >= CAPACITY && !map.contains_key(&key) {
            map.clear();
        }
        let tally = map.entry(key).or_default();
        tally.unwritten += 1;
        let due = tally.written_at.is_none_or(|at| now.duration_since(at) >= INTERVAL);
        due.then_some(tally.unwritten)
    }

    /// After a write of `count` sightings succeeded.
    pub fn written(&self, service: &str, fingerprint: &str, count: u64, now: Instant) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(tally) = map.get_mut(&(service.to_owned(), fingerprint.to_owned())) {
            tally.unwritten = tally.unwritten.saturating_sub(count);
            tally.written_at = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_first_sighting_then_at_most_once_an_interval_with_the_count_since() {
        let tally = SightingTally::default();
        let t0 = Instant::now();
        assert_eq!(tally.note("svc", "fp", t0), Some(1));
        tally.written("svc", "fp", 1, t0);
        assert_eq!(tally.note("svc", "fp", t0 + Duration::from_secs(1)), None);
        assert_eq!(tally.note("svc", "fp", t0 + Duration::from_secs(2)), None);
        assert_eq!(tally.note("svc", "fp", t0 + INTERVAL), Some(3));
        // A failed write keeps its count for the next one.
        assert_eq!(tally.note("svc", "other", t0), Some(1));
        assert_eq!(tally.note("svc", "other", t0 + Duration::from_secs(1)), Some(2));
    }
}
