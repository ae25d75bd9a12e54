//! The sender use case: a batch of outbound queue records in, one `messages:send` per record,
//! and for each record exactly one of: sent, moved to the retry queue, retried later in place
//! (visibility changed, reported as a batch item failure), or dead-lettered with its reason
//! (then done). Transport-free: the Lambda handler and the local runner both call
//! [`Sender::handle_batch`].
//!
//! Two queues feed it. The outbound queue (`Origin::Main`) holds first attempts only: a record
//! that fails is moved to the retry queue (`Origin::Retry`) at once, so a destination that keeps
//! failing never holds records in flight on the queue every other destination shares (SQS
//! serves at most 120,000 in flight, and looks for FIFO groups among the first 120,000). In the
//! retry queue records wait their backoff in place. FIFO order holds across the two: a group
//! with records in the retry queue (counted in the state table) sends its later records there
//! too, unattempted, until they have all left it.
//!
//! Standard queues: every record in flight at once (bounded by `MAX_IN_FLIGHT`). FIFO queues:
//! message groups in parallel, records of a group in order. No send starts that could not finish,
//! with the calls that follow it, before the invocation's deadline; a record not started comes
//! back at once.
//!
//! This file is the batch handling. One record's attempt is `attempt.rs`; what each failure
//! means (retry or dead letter, and the reason codes) is `outcome.rs` alone; acting on the
//! outcome is `finish.rs`, with `retry_queue.rs`, `dead_letter.rs` and `sent_record.rs` for the
//! messages it may write; FIFO groups across the two queues are `fifo_group.rs`; what a moved
//! record carries is `carried.rs`; a service's recent failures are `circuit.rs`; an app's
//! learned pace is `app_pace.rs`; OAuth2 tokens are `token.rs`.

pub mod app_pace;
mod attempt;
pub mod carried;
mod circuit;
pub mod config;
pub mod dead_letter;
mod fifo_group;
mod finish;
mod held_back;
pub mod outcome;
mod retry_queue;
mod sent_record;
pub mod token;

pub use carried::{Carried, Origin};
pub use config::{DEFAULT_AUTH_URL, SenderConfig};
pub use dead_letter::DEAD_LETTER_ATTRIBUTES;
pub use outcome::{DeadLetter, DeadLetterReason, Outcome, RetryCause};

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt as _, StreamExt as _};

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::ports::{NoSendState, QueueControl, QueueWriter, SecretStore, SendState, SinchClient, is_fifo};
use crate::service_cache::ServiceCache;
use app_pace::AppPaces;
use circuit::Circuits;
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
    /// When the record was first received (`ApproximateFirstReceiveTimestamp`), Unix ms.
    pub first_received_ms: Option<i64>,
    /// When the record was enqueued (`SentTimestamp`), Unix milliseconds.
    pub enqueued_ms: Option<i64>,
    /// The queue the record came from (`eventSourceARN`).
    pub source_queue: Option<String>,
    /// Its string message attributes (what a record moved to the retry queue carries).
    pub attributes: Vec<(String, String)>,
}

pub struct Sender<S, H, Q, P = NoSendState> {
    service_cache: Arc<ServiceCache<S>>,
    http: H,
    queues: Q,
    state: P,
    tokens: TokenCache,
    config: SenderConfig,
    metrics: Metrics,
    clock: Arc<dyn Clock>,
    held_back: HeldBack,
    circuits: Circuits,
    paces: AppPaces,
    /// Each queue's redrive `maxReceiveCount`, read once per environment.
    max_receives: [tokio::sync::OnceCell<Option<u32>>; 2],
}

impl<S, H, Q> Sender<S, H, Q, NoSendState>
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
            state: NoSendState,
            tokens,
            config,
            metrics,
            circuits: Circuits::new(clock.clone()),
            clock,
            held_back: HeldBack::default(),
            paces: AppPaces::default(),
            max_receives: Default::default(),
        }
    }
}

impl<S, H, Q, P> Sender<S, H, Q, P>
where
    S: SecretStore,
    H: SinchClient,
    Q: QueueWriter + QueueControl,
    P: SendState,
{
    /// The same sender with the state table: FIFO records can then be moved to the retry queue.
    pub fn with_state<N: SendState>(self, state: N) -> Sender<S, H, Q, N> {
        Sender {
            service_cache: self.service_cache,
            http: self.http,
            queues: self.queues,
            state,
            tokens: self.tokens,
            config: self.config,
            metrics: self.metrics,
            clock: self.clock,
            held_back: self.held_back,
            circuits: self.circuits,
            paces: self.paces,
            max_receives: self.max_receives,
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

    /// Which queue `record` was received from: the retry queue when its `eventSourceARN` names
    /// it, else the outbound queue.
    pub fn origin(&self, record: &OutboundRecord) -> Origin {
        let retry_name = self
            .config
            .retry_queue_url
            .as_deref()
            .and_then(|url| url.rsplit('/').next());
        match (retry_name, record.source_queue.as_deref()) {
            (Some(name), Some(arn)) if arn.rsplit(':').next() == Some(name) => Origin::Retry,
            _ => Origin::Main,
        }
    }

    /// The queue URL of an origin.
    fn queue_url(&self, origin: Origin) -> &str {
        match (origin, self.config.retry_queue_url.as_deref()) {
            (Origin::Retry, Some(url)) => url,
            _ => &self.config.outbound_queue_url,
        }
    }

    /// Whether a failed record of the outbound queue is moved to the retry queue (with a
    /// FIFO queue only when the state table keeps its group's order).
    fn moves_to_retry_queue(&self, fifo: bool) -> bool {
        self.config.retry_queue_url.is_some() && (!fifo || self.state.enabled())
    }

    /// Processes a batch and returns the message ids to report as `batchItemFailures`, in batch
    /// order. Never an empty id: the caller guarantees every record has one. With a `deadline`
    /// (the invocation's), no send starts that could not finish before it.
    pub async fn handle_batch(&self, records: &[OutboundRecord], deadline: Option<Instant>) -> Vec<String> {
        let Some(first) = records.first() else {
            return Vec::new();
        };
        let origin = self.origin(first);
        let fifo = is_fifo(self.queue_url(origin)) || records.iter().any(|r| r.group_id.is_some());
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
            let waiting = match self.waiting_groups(origin, &groups).await {
                Ok(waiting) => waiting,
                Err(failed) => return failed,
            };
            let mut work = Vec::with_capacity(groups.len());
            for (group, list) in groups {
                work.push(self.process_group(origin, list, waiting.contains(group), deadline));
            }
            let done: Vec<Vec<&str>> = futures::stream::iter(work)
                .buffer_unordered(self.config.max_in_flight)
                .collect()
                .await;
            done.into_iter().flatten().collect()
        } else {
            let mut work = Vec::with_capacity(records.len());
            for record in records {
                work.push(self.failed_id(origin, record, deadline));
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

    async fn failed_id<'r>(
        &self,
        origin: Origin,
        record: &'r OutboundRecord,
        deadline: Option<Instant>,
    ) -> Option<&'r str> {
        match self.process_guarded(origin, record, deadline).await {
            Finish::Done(_) => None,
            Finish::Failed { .. } => Some(record.message_id.as_str()),
            Finish::ToRetryQueue(failure) => self
                .move_to_retry(origin, &[(record, Some(failure))])
                .await
                .first()
                .copied(),
        }
    }

    /// Runs one record to its finish. A panic while processing it is contained here and
    /// reported as that record's failure only.
    async fn process_guarded(&self, origin: Origin, record: &OutboundRecord, deadline: Option<Instant>) -> Finish {
        match AssertUnwindSafe(self.process(origin, record, deadline))
            .catch_unwind()
            .await
        {
            Ok(Finish::Done(sent)) => {
                // Finished work leaves the queue now, before anything optional: if the
                // invocation crashes or times out later, only unfinished records come back
                // (Lambda's own delete after the batch is then a no-op). A record leaving the
                // retry queue no longer holds its group there.
                let (_, released) = futures::join!(
                    self.delete_finished(origin, record, deadline),
                    self.release_group(origin, record)
                );
                let () = released;
                if let Some(sent) = sent {
                    self.publish_sent(record, sent).await;
                }
                Finish::Done(None)
            }
            Ok(other) => other,
            Err(_) => {
                // A bug, perhaps one this record always triggers: retried with backoff and
                // dead-lettered with the cause once its budget is spent, like any failure.
                tracing::error!(sqs_message_id = %record.message_id, outcome = "panic", "record processing panicked");
                let failure = finish::Failure::new(RetryCause::Panic);
                let finish = self.retry(origin, record, &attempt::Context::default(), failure).await;
                if let Finish::Done(_) = finish {
                    // Dead-lettered at the end of its budget: finished like any other.
                    futures::join!(
                        self.delete_finished(origin, record, deadline),
                        self.release_group(origin, record)
                    );
                }
                finish
            }
        }
    }

    /// Deletes a finished record, trying up to three times while the invocation has time for
    /// another call: a record Sinch accepted that comes back would be sent again. The deadline
    /// margin counts one try, the group release beside it and the sent-record publish after it;
    /// a further try only runs if that whole margin still fits after it.
    async fn delete_finished(&self, origin: Origin, record: &OutboundRecord, deadline: Option<Instant>) {
        let Some(handle) = record.receipt_handle.as_deref() else {
            return;
        };
        let mut pause = Duration::from_millis(50);
        for attempt in 1..=3 {
            let result = self.queues.delete(self.queue_url(origin), handle).await;
            let Err(e) = result else { return };
            let time_left =
                deadline.is_none_or(|d| Instant::now() + pause + config::deadline_margin(self.config.aws_timeout) < d);
            if attempt == 3 || !time_left {
                tracing::warn!(sqs_message_id = %record.message_id, error = %e, "early delete failed; Lambda deletes it after the batch");
                return;
            }
            tokio::time::sleep(pause).await;
            pause *= 4;
        }
    }

    /// A queue's redrive limit, read once per environment (a failed read is tried again next
    /// time; meanwhile `None`).
    async fn max_receives(&self, origin: Origin) -> Option<u32> {
        let cell = &self.max_receives[usize::from(origin == Origin::Retry)];
        let read = cell
            .get_or_try_init(|| self.queues.max_receives(self.queue_url(origin)))
            .await;
        match read {
            Ok(limit) => *limit,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the queue's redrive policy");
                None
            }
        }
    }
}

#[cfg(test)]
mod retry_tests;
#[cfg(test)]
mod tests;
