//! How often this execution environment held a record back unsent behind an earlier record of
//! its FIFO group: those receives are not attempts, so a dead letter's `attempts` leaves them
//! out. Best effort: another environment's hold-backs are not known here (SQS keeps no state
//! on a message we could write to).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// Entries kept; past it the map starts over (an undercount of hold-backs, never a crash).
const CAPACITY: usize = 10_000;

#[derive(Default)]
pub(super) struct HeldBack(Mutex<HashMap<String, u32>>);

impl HeldBack {
    pub(super) fn note(&self, message_id: &str) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= CAPACITY && !map.contains_key(message_id) {
            map.clear();
        }
        *map.entry(message_id.to_owned()).or_default() += 1;
    }

    /// The receives of this record that were attempts, of `receive_count` in all.
    pub(super) fn attempts(&self, message_id: &str, receive_count: u32) -> u32 {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        receive_count
            .saturating_sub(map.get(message_id).copied().unwrap_or(0))
            .max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_back_receives_are_not_attempts() {
        let held = HeldBack::default();
        assert_eq!(held.attempts("m", 5), 5);
        held.note("m");
        held.note("m");
        assert_eq!(held.attempts("m", 5), 3);
        assert_eq!(held.attempts("other", 1), 1);
    }
}
