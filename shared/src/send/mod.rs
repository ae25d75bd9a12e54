//! The sender use case: a batch of outbound queue records in, one `messages:send` per record,
//! and for each record exactly one of: sent, retried later (visibility changed, reported as a
//! batch item failure), or dead-lettered with its reason (then done). Transport-free: the
//! Lambda handler and the local runner both call [`Sender::handle_batch`].
//!
//! Standard queues: every record in flight at once (bounded by `MAX_IN_FLIGHT`). FIFO queues:
//! message groups in parallel, records of a group in order; after a record that must be retried,
//! the rest of its group is reported failed without being sent, so order holds, and hidden as
//! long as that record, so the group resumes together after its backoff. No send starts that
//! could not finish before the invocation's deadline; a record not started comes back at once.
//!
//! This file is the batch handling. One record's attempt is `attempt.rs`; what each failure
//! means (retry or dead letter, and the reason codes) is `outcome.rs` alone; acting on the
//! outcome is `finish.rs`, with `dead_letter.rs` and `sent_record.rs` for the two messages it
//! may write; OAuth2 tokens are `token.rs`.

mod attempt;
pub mod config;
pub mod dead_letter;
mod finish;
mod held_back;
pub mod outcome;
mod sent_record;
pub mod token;

pub use config::{DEFAULT_AUTH_URL, SenderConfig};
pub use dead_letter::DEAD_LETTER_ATTRIBUTES;
pub use outcome::{DeadLetter, DeadLetterReason, Outcome, RetryCause};

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt as _, StreamExt as _};

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::ports::{QueueControl, QueueWriter, SecretStore, SinchClient, is_fifo};
use crate::service_cache::ServiceCache;
use finish::Finish;
use held_back::HeldBack;
use token::TokenCache;

/// One SQS record, as the sender needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundRecord {
    pub message_id: String,
    pub receipt_handle: Option<String>,
    pub body: Option<String>,
    /// `ApproximateReceiveCount` (1 on first delivery).
    pub receive_count: u32,
    /// FIFO `MessageGroupId`.
    pub group_id: Option<String>,
    /// When the record was first received (`ApproximateFirstReceiveTimestamp`, else
    /// `SentTimestamp`), Unix milliseconds: the start of its retry budget.
    pub first_received_ms: Option<i64>,
    /// When the record was enqueued (`SentTimestamp`), Unix milliseconds.
    pub enqueued_ms: Option<i64>,
    /// The queue the record came from (`eventSourceARN`): dead letters name it, so a redrive
    /// knows where they go back (SQS cannot tell for messages written with `SendMessage`).
    pub source_queue: Option<String>,
}

pub struct Sender<S, H, Q> {
    service_cache: Arc<ServiceCache<S>>,
    http: H,
    queues: Q,
    tokens: TokenCache,
    config: SenderConfig,
    metrics: Metrics,
    clock: Arc<dyn Clock>,
    held_back: HeldBack,
    /// The outbound queue's redrive `maxReceiveCount`, read once per environment.
    max_receives: tokio::sync::OnceCell<Option<u32>>,
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
        let tokens =
            TokenCache::new(config.auth_url.clone(), clock.clone()).with_failure_hold(config.token_failure_hold);
        Self {
            service_cache,
            http,
            queues,
            tokens,
            config,
            metrics,
            clock,
            held_back: HeldBack::default(),
            max_receives: tokio::sync::OnceCell::new(),
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Shortens the auth endpoint's 429 backoff (tests).
    pub fn with_token_backoff(mut self, base: Duration) -> Self {
        self.tokens.backoff_base = base;
        self
    }

    /// Processes a batch and returns the message ids to report as `batchItemFailures`, in batch
    /// order. Never an empty id: the caller guarantees every record has one. With a `deadline`
    /// (the invocation's), no send starts that could not finish before it.
    pub async fn handle_batch(&self, records: &[OutboundRecord], deadline: Option<Instant>) -> Vec<String> {
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
                work.push(self.process_group(list, deadline));
            }
            let done: Vec<Vec<&str>> = futures::stream::iter(work)
                .buffer_unordered(self.config.max_in_flight)
                .collect()
                .await;
            done.into_iter().flatten().collect()
        } else {
            let mut work = Vec::with_capacity(records.len());
            for record in records {
                work.push(self.failed_id(record, deadline));
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

    async fn failed_id<'r>(&self, record: &'r OutboundRecord, deadline: Option<Instant>) -> Option<&'r str> {
        match self.process_guarded(record, deadline).await {
            Finish::Done(_) => None,
            Finish::Failed { .. } => Some(record.message_id.as_str()),
        }
    }

    async fn process_group<'r>(&self, list: Vec<&'r OutboundRecord>, deadline: Option<Instant>) -> Vec<&'r str> {
        let mut failed = Vec::new();
        // Set once a record of the group fails: the visibility the rest of the group gets.
        let mut blocked: Option<Option<u32>> = None;
        for record in list {
            if let Some(visibility) = blocked {
                // Held back unsent: sending it now would overtake the record that failed. It
                // comes back with that record, and this receive does not count as an attempt.
                self.held_back.note(&record.message_id);
                if self.max_receives().await.is_some_and(|max| record.receive_count >= max) {
                    // SQS would move it on its next receive, without a reason: say why instead.
                    let mut dead = DeadLetter::local(
                        DeadLetterReason::ReceiveLimitReached,
                        "held back behind an earlier message of its FIFO group until the outbound queue's redrive limit",
                    );
                    dead.attempts = Some(self.held_back.attempts(&record.message_id, record.receive_count));
                    if let Finish::Done(_) = self.dead_letter(record, &attempt::Context::default(), &dead).await {
                        self.delete_finished(record).await;
                        continue;
                    }
                }
                if let (Some(seconds), Some(handle)) = (visibility, record.receipt_handle.as_deref())
                    && let Err(e) = self
                        .queues
                        .change_visibility(&self.config.outbound_queue_url, handle, seconds)
                        .await
                {
                    tracing::warn!(sqs_message_id = %record.message_id, error = %e, "could not hold back with its group");
                }
                failed.push(record.message_id.as_str());
                continue;
            }
            if let Finish::Failed { visibility } = self.process_guarded(record, deadline).await {
                blocked = Some(visibility);
                failed.push(record.message_id.as_str());
            }
        }
        failed
    }

    /// Runs one record to its finish. A panic while processing it is contained here and
    /// reported as that record's failure only.
    async fn process_guarded(&self, record: &OutboundRecord, deadline: Option<Instant>) -> Finish {
        match AssertUnwindSafe(self.process(record, deadline)).catch_unwind().await {
            Ok(Finish::Done(sent)) => {
                // Finished work leaves the queue now, before anything optional: if the
                // invocation crashes or times out later, only unfinished records come back
                // (Lambda's own delete after the batch is then a no-op).
                self.delete_finished(record).await;
                if let Some(sent) = sent {
                    self.publish_sent(record, sent).await;
                }
                Finish::Done(None)
            }
            Ok(failed @ Finish::Failed { .. }) => failed,
            Err(_) => {
                // A bug, perhaps one this record always triggers: retried with backoff and
                // dead-lettered with the cause once its budget is spent, like any failure.
                tracing::error!(sqs_message_id = %record.message_id, outcome = "panic", "record processing panicked");
                let failure = finish::Failure {
                    cause: RetryCause::Panic,
                    retry_after: None,
                    http_status: None,
                    sinch_status: None,
                };
                let finish = self.retry(record, &attempt::Context::default(), failure).await;
                if let Finish::Done(_) = finish {
                    // Dead-lettered at the end of its budget: finished like any other.
                    self.delete_finished(record).await;
                }
                finish
            }
        }
    }

    /// Deletes a finished record, trying three times: a record Sinch accepted that comes back
    /// would be sent again.
    async fn delete_finished(&self, record: &OutboundRecord) {
        let Some(handle) = record.receipt_handle.as_deref() else {
            return;
        };
        let mut pause = Duration::from_millis(50);
        for attempt in 1..=3 {
            match self.queues.delete(&self.config.outbound_queue_url, handle).await {
                Ok(()) => return,
                Err(e) if attempt == 3 => {
                    tracing::warn!(sqs_message_id = %record.message_id, error = %e, "early delete failed; Lambda deletes it after the batch");
                }
                Err(_) => {
                    tokio::time::sleep(pause).await;
                    pause *= 4;
                }
            }
        }
    }

    /// The outbound queue's redrive limit, read once per environment (a failed read is tried
    /// again next time; meanwhile `None`).
    async fn max_receives(&self) -> Option<u32> {
        let read = self
            .max_receives
            .get_or_try_init(|| self.queues.max_receives(&self.config.outbound_queue_url))
            .await;
        match read {
            Ok(limit) => *limit,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the outbound queue's redrive policy");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;
