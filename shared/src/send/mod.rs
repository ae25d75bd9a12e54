//! The sender use case: a batch of outbound queue records in, one `messages:send` per record,
//! and for each record exactly one of: sent, retried later (visibility changed, reported as a
//! batch item failure), or dead-lettered with its reason (then done). Transport-free: the
//! Lambda handler and the local runner both call [`Sender::handle_batch`].
//!
//! Standard queues: every record in flight at once (bounded by `MAX_IN_FLIGHT`). FIFO queues:
//! message groups in parallel, records of a group in order; after a record that must be retried,
//! the rest of its group is reported failed without being sent, so order holds.
//!
//! This file is the batch handling. One record's attempt is `attempt.rs`; what each failure
//! means (retry or dead letter, and the reason codes) is `outcome.rs` alone; acting on the
//! outcome is `finish.rs`, with `dead_letter.rs` and `sent_record.rs` for the two messages it
//! may write; OAuth2 tokens are `token.rs`.

mod attempt;
mod config;
pub mod dead_letter;
mod finish;
pub mod outcome;
mod sent_record;
pub mod token;

pub use config::SenderConfig;
pub use dead_letter::DEAD_LETTER_ATTRIBUTES;
pub use outcome::{DeadLetter, DeadLetterReason, Outcome, RetryCause};

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::{FutureExt as _, StreamExt as _};

use crate::clock::Clock;
use crate::metrics::{Metric, Metrics};
use crate::ports::{QueueControl, QueueWriter, SecretStore, SinchClient, is_fifo};
use crate::service_cache::ServiceCache;
use token::TokenCache;

/// One SQS record, as the sender needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRecord {
    pub message_id: String,
    pub receipt_handle: Option<String>,
    pub body: Option<String>,
    /// `ApproximateReceiveCount` (1 on first delivery).
    pub receive_count: u32,
    /// FIFO `MessageGroupId`.
    pub group_id: Option<String>,
}

pub struct Sender<S, H, Q> {
    service_cache: Arc<ServiceCache<S>>,
    http: H,
    queues: Q,
    tokens: TokenCache,
    config: SenderConfig,
    metrics: Metrics,
}

impl<S, H, Q> Sender<S, H, Q>
where
    S: SecretStore,
    H: SinchClient,
    Q: QueueWriter + QueueControl,
{
    pub fn new(
        service_cache: Arc<ServiceCache<S>>,
        http: H,
        queues: Q,
        clock: Arc<dyn Clock>,
        config: SenderConfig,
        metrics: Metrics,
    ) -> Self {
        let tokens = TokenCache::new(config.auth_url.clone(), clock);
        Self {
            service_cache,
            http,
            queues,
            tokens,
            config,
            metrics,
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Shortens the auth endpoint's 429 backoff (tests).
    pub fn with_token_backoff(mut self, base: std::time::Duration) -> Self {
        self.tokens.backoff_base = base;
        self
    }

    /// Processes a batch and returns the message ids to report as `batchItemFailures`, in batch
    /// order. Never an empty id: the caller guarantees every record has one.
    pub async fn handle_batch(&self, records: &[OutboundRecord]) -> Vec<String> {
        let fifo = is_fifo(&self.config.outbound_queue_url) || records.iter().any(|r| r.group_id.is_some());
        // Futures are collected before they are polled: the streams then hold no closures
        // over borrowed records, which keeps this future `Send` for `tokio::spawn`.
        let failed: Vec<&str> = if fifo {
            let mut groups: Vec<(&str, Vec<&OutboundRecord>)> = Vec::new();
            for record in records {
                let key = record.group_id.as_deref().unwrap_or("");
                match groups.iter_mut().find(|(g, _)| *g == key) {
                    Some((_, list)) => list.push(record),
                    None => groups.push((key, vec![record])),
                }
            }
            let mut work = Vec::with_capacity(groups.len());
            for (_, list) in groups {
                work.push(self.process_group(list));
            }
            let done: Vec<Vec<&str>> = futures::stream::iter(work)
                .buffer_unordered(self.config.max_in_flight)
                .collect()
                .await;
            done.into_iter().flatten().collect()
        } else {
            let mut work = Vec::with_capacity(records.len());
            for record in records {
                work.push(self.failed_id(record));
            }
            let done: Vec<Option<&str>> = futures::stream::iter(work)
                .buffer_unordered(self.config.max_in_flight)
                .collect()
                .await;
            done.into_iter().flatten().collect()
        };
        records
            .iter()
            .filter(|r| failed.contains(&r.message_id.as_str()))
            .map(|r| r.message_id.clone())
            .collect()
    }

    async fn failed_id<'r>(&self, record: &'r OutboundRecord) -> Option<&'r str> {
        (!self.process_guarded(record).await).then_some(record.message_id.as_str())
    }

    async fn process_group<'r>(&self, list: Vec<&'r OutboundRecord>) -> Vec<&'r str> {
        let mut failed = Vec::new();
        let mut blocked = false;
        for record in list {
            if blocked {
                // Held back unsent: sending it now would overtake the record that failed.
                failed.push(record.message_id.as_str());
                continue;
            }
            if !self.process_guarded(record).await {
                blocked = true;
                failed.push(record.message_id.as_str());
            }
        }
        failed
    }

    /// True when the record is finished (sent or dead-lettered). A panic while processing one
    /// record is contained here and reported as that record's failure only.
    async fn process_guarded(&self, record: &OutboundRecord) -> bool {
        match AssertUnwindSafe(self.process(record)).catch_unwind().await {
            Ok(true) => {
                // Finished work leaves the queue now: if the invocation crashes or times out
                // later in the batch, only unfinished records come back. Lambda's own delete
                // after the batch response is then a no-op.
                if let Some(handle) = record.receipt_handle.as_deref()
                    && let Err(e) = self.queues.delete(&self.config.outbound_queue_url, handle).await
                {
                    tracing::warn!(sqs_message_id = %record.message_id, error = %e, "early delete failed; Lambda deletes it after the batch");
                }
                true
            }
            Ok(false) => false,
            Err(_) => {
                let cause = RetryCause::Panic.as_str();
                tracing::error!(sqs_message_id = %record.message_id, outcome = "panic", cause, "record processing panicked");
                self.metrics.count(Metric::MessageRetried, &[("Cause", cause)]);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests;
