//! The queues in memory: every message put, visibility change and delete recorded, with
//! switches for the failures SQS has (down, deletes failing, slow, applied but timed out).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::ports::{PortError, QueueControl, QueueMessage, QueueWriter};

/// A sink that records messages and can be told to fail.
#[derive(Default, Clone)]
pub struct MemoryQueues {
    pub messages: Arc<Mutex<Vec<QueueMessage>>>,
    /// `(receipt_handle, seconds)` per visibility change.
    pub visibility: Arc<Mutex<Vec<(String, u32)>>>,
    /// Receipt handles deleted by the sender.
    pub deleted: Arc<Mutex<Vec<String>>>,
    /// What `max_receives` answers (no redrive policy by default).
    pub max_receives: Arc<Mutex<Option<u32>>>,
    /// Every write and delete in order: `put <queue_url>`, `delete <receipt_handle>`.
    pub log: Arc<Mutex<Vec<String>>>,
    fail: Arc<std::sync::atomic::AtomicBool>,
    /// Deletes fail (a DeleteMessage brownout) while puts go on.
    deletes_fail: Arc<std::sync::atomic::AtomicBool>,
    /// How long each call takes (a brownout).
    delay: Arc<Mutex<Duration>>,
    /// Puts are applied and then answered with a timeout: SQS stored the message but its
    /// answer never came (a timeout after the request was sent is ambiguous; the SDK cannot
    /// tell, AWS's SQS developer guide says to design for at-least-once).
    applied_then_timing_out: Arc<std::sync::atomic::AtomicBool>,
}

impl MemoryQueues {
    /// Every call takes `delay` from now on.
    pub fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap_or_else(PoisonError::into_inner) = delay;
    }
    async fn pause(&self) {
        let delay = *self.delay.lock().unwrap_or_else(PoisonError::into_inner);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
    pub fn set_failing(&self, fail: bool) {
        self.fail.store(fail, Ordering::SeqCst);
    }
    pub fn set_applied_then_timing_out(&self, on: bool) {
        self.applied_then_timing_out.store(on, Ordering::SeqCst);
    }
    pub fn set_deletes_failing(&self, fail: bool) {
        self.deletes_fail.store(fail, Ordering::SeqCst);
    }
    pub fn taken(&self) -> Vec<QueueMessage> {
        self.messages.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
    pub fn visibility_changes(&self) -> Vec<(String, u32)> {
        self.visibility.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
    pub fn deleted_handles(&self) -> Vec<String> {
        self.deleted.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl QueueControl for MemoryQueues {
    async fn delete(&self, _queue_url: &str, receipt_handle: &str) -> Result<(), PortError> {
        self.pause().await;
        if self.deletes_fail.load(Ordering::SeqCst) {
            return Err(PortError::new("queue_unavailable", "deletes switched off"));
        }
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(format!("delete {receipt_handle}"));
        self.deleted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(receipt_handle.to_owned());
        Ok(())
    }

    async fn max_receives(&self, _queue_url: &str) -> Result<Option<u32>, PortError> {
        Ok(*self.max_receives.lock().unwrap_or_else(PoisonError::into_inner))
    }

    async fn change_visibility(&self, _queue_url: &str, receipt_handle: &str, seconds: u32) -> Result<(), PortError> {
        self.pause().await;
        self.visibility
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((receipt_handle.to_owned(), seconds));
        Ok(())
    }
}

impl QueueWriter for MemoryQueues {
    async fn put(&self, message: &QueueMessage) -> Result<(), PortError> {
        self.pause().await;
        if self.fail.load(Ordering::SeqCst) {
            return Err(PortError::new("queue_unavailable", "switched off"));
        }
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(format!("put {}", message.queue_url));
        self.messages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(message.clone());
        if self.applied_then_timing_out.load(Ordering::SeqCst) {
            return Err(PortError::new("queue_unavailable", "timeout"));
        }
        Ok(())
    }
}
