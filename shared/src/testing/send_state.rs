//! The sender's state table in memory, with a switch that makes every call fail.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::ports::{PortError, SendState};

#[derive(Clone, Default)]
pub struct MemorySendState {
    waiting: Arc<Mutex<HashMap<String, i64>>>,
    maybe_sent: Arc<Mutex<HashSet<String>>>,
    down: Arc<AtomicBool>,
}

impl MemorySendState {
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// The count of `group`'s records waiting in the retry queue.
    pub fn count(&self, group: &str) -> i64 {
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(group)
            .copied()
            .unwrap_or(0)
    }

    fn check(&self) -> Result<(), PortError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(PortError::new("state_unavailable", "switched off"));
        }
        Ok(())
    }
}

impl SendState for MemorySendState {
    async fn waiting(&self, groups: &[&str]) -> Result<HashSet<String>, PortError> {
        self.check()?;
        let map = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(groups
            .iter()
            .filter(|g| map.get(**g).is_some_and(|n| *n > 0))
            .map(|g| (*g).to_owned())
            .collect())
    }

    async fn park(&self, group: &str, count: u32, _expires_at: i64) -> Result<(), PortError> {
        self.check()?;
        *self
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(group.to_owned())
            .or_default() += i64::from(count);
        Ok(())
    }

    async fn release(&self, group: &str, count: u32) -> Result<(), PortError> {
        self.check()?;
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = waiting.entry(group.to_owned()).or_default();
        // As the table: never below zero (a repeated release).
        *entry = (*entry - i64::from(count)).max(0);
        Ok(())
    }

    async fn note_maybe_sent(&self, record_id: &str, _expires_at: i64) -> Result<(), PortError> {
        self.check()?;
        self.maybe_sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(record_id.to_owned());
        Ok(())
    }

    async fn maybe_sent(&self, record_id: &str) -> Result<bool, PortError> {
        self.check()?;
        Ok(self
            .maybe_sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(record_id))
    }
}
