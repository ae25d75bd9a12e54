//! Acting on a record's [`Outcome`]: the log line and metrics, and what becomes of it. Sent:
//! done. Never able to succeed: dead-lettered. Able to succeed later: on the outbound queue,
//! moved to the retry queue; in the retry queue (or without one), retried in place with a
//! backoff from its attempts, while its retry budget (counted from its enqueue) lasts; then
//! dead-lettered with its last cause.

use std::time::{Duration, Instant};

use super::attempt::{Context, pace_key};
use super::carried::{Carried, Origin};
use super::outcome::{DeadLetter, Outcome, RetryCause, backoff};
use super::{OutboundRecord, Sender};
use crate::metrics::Metric;
use crate::ports::{QueueControl, QueueWriter, SecretStore, SendState, SinchClient, is_fifo};

/// How long the state table keeps what it learns of a record or group: SQS's longest retention.
pub(super) const STATE_TTL_SECONDS: i64 = 1_209_600;

/// How one record ended in this invocation.
pub(super) enum Finish {
    /// Sent (with what the sent record says) or dead-lettered: delete it.
    Done(Option<SentInfo>),
    /// To be tried again: reported as a batch item failure, hidden for `visibility` seconds
    /// (`None`: the queue's own visibility timeout applies).
    Failed { visibility: Option<u32> },
    /// Failed on the outbound queue: moves to the retry queue, with what follows it of its FIFO
    /// group in the batch.
    ToRetryQueue(Failure),
}

/// Why a record failed this time, and what Sinch said.
#[derive(Debug, Clone)]
pub(super) struct Failure {
    pub cause: RetryCause,
    pub retry_after: Option<u64>,
    pub http_status: Option<u16>,
    pub sinch_status: Option<String>,
    pub maybe_sent: bool,
    pub attempted: bool,
}

impl Failure {
    pub fn new(cause: RetryCause) -> Self {
        Self {
            cause,
            retry_after: None,
            http_status: None,
            sinch_status: None,
            maybe_sent: false,
            attempted: true,
        }
    }
}

/// What a sent record publishes.
pub(super) struct SentInfo {
    pub ctx: Context,
    pub message_id: Option<String>,
    pub accepted_time: Option<String>,
    pub answer_complete: bool,
}

impl<S, H, Q, P> Sender<S, H, Q, P>
where
    S: SecretStore,
    H: SinchClient,
    Q: QueueWriter + QueueControl,
    P: SendState,
{
    pub(super) async fn process(&self, origin: Origin, record: &OutboundRecord, deadline: Option<Instant>) -> Finish {
        let mut ctx = Context::default();
        let started = Instant::now();
        let outcome = self.attempt(origin, record, &mut ctx, deadline).await;
        match outcome {
            Outcome::Sent {
                message_id,
                accepted_time,
                answer_complete,
            } => {
                let (service, app_id, channel, correlation_id) = ctx.labels();
                self.circuits.succeeded(service);
                self.paces.accepted(&pace_key(service, app_id), self.clock.now());
                tracing::info!(
                    sqs_message_id = %record.message_id,
                    service,
                    app_id,
                    channel,
                    correlation_id,
                    sinch_message_id = message_id.as_deref().unwrap_or("-"),
                    answer_complete,
                    outcome = "sent",
                    "message sent"
                );
                self.metrics
                    .count_by(Metric::MessageSent, &[("Channel", channel)], &[&[], &["Channel"]]);
                self.metrics
                    .milliseconds(Metric::SendLatency, started.elapsed().as_secs_f64() * 1000.0, &[]);
                Finish::Done(Some(SentInfo {
                    ctx,
                    message_id,
                    accepted_time,
                    answer_complete,
                }))
            }
            Outcome::NotStarted => {
                self.hold_in_place(origin, record, &ctx, RetryCause::NotStarted, 0)
                    .await
            }
            Outcome::Paced(wait) => {
                let seconds = u32::try_from(wait.as_secs()).unwrap_or(u32::MAX).saturating_add(1);
                let seconds = seconds.min(u32::try_from(self.config.retry_max.as_secs()).unwrap_or(u32::MAX));
                self.hold_in_place(origin, record, &ctx, RetryCause::AppPaced, seconds)
                    .await
            }
            Outcome::Retry {
                cause,
                retry_after,
                http_status,
                sinch_status,
                maybe_sent,
                attempted,
            } => {
                let failure = Failure {
                    cause,
                    retry_after,
                    http_status,
                    sinch_status,
                    maybe_sent,
                    attempted,
                };
                if attempted && let Some(service) = ctx.service.as_deref() {
                    self.circuits.failed(service, cause, http_status);
                    if cause == RetryCause::RateLimited {
                        let (_, app_id, _, _) = ctx.labels();
                        let after = retry_after.map(Duration::from_secs);
                        self.paces.limited(&pace_key(service, app_id), self.clock.now(), after);
                    }
                }
                self.retry(origin, record, &ctx, failure).await
            }
            Outcome::DeadLetter(mut dead) => {
                dead.maybe_sent = self.maybe_sent_before(origin, record).await;
                self.dead_letter(origin, record, &ctx, &dead).await
            }
        }
    }

    /// Not an attempt: it comes back after `seconds` (0: at once, for an invocation with time
    /// to send it; else when its app's pace has a slot). It still spends a receive, so the
    /// redrive limit is watched here too, and the retry budget. In the retry queue, where
    /// every receive counts as an attempt, a paced record's next backoff is one step longer.
    async fn hold_in_place(
        &self,
        origin: Origin,
        record: &OutboundRecord,
        ctx: &Context,
        cause: RetryCause,
        seconds: u32,
    ) -> Finish {
        let id = record.message_id.as_str();
        self.held_back.note(id);
        let at_limit = self
            .max_receives(origin)
            .await
            .is_some_and(|max| record.receive_count >= max);
        let waited = self.waited(origin, record);
        let spent = cause == RetryCause::AppPaced && waited >= self.config.retry_for;
        if at_limit || spent {
            let mut dead = DeadLetter::gave_up(
                cause,
                None,
                None,
                self.attempts(origin, record, false),
                waited,
                at_limit,
            );
            dead.maybe_sent = self.maybe_sent_before(origin, record).await;
            return self.dead_letter(origin, record, ctx, &dead).await;
        }
        let (service, app_id, _, _) = ctx.labels();
        tracing::info!(
            sqs_message_id = id,
            service,
            app_id,
            outcome = "retry",
            cause = cause.as_str(),
            retry_in_seconds = seconds,
            "{}",
            if cause == RetryCause::AppPaced {
                "the app's pace has no slot for it yet"
            } else {
                "too close to the deadline to send"
            }
        );
        self.count_retry(cause.as_str());
        if cause == RetryCause::AppPaced {
            self.record_waiting(origin, record);
        }
        self.set_visibility(origin, record, seconds).await;
        Finish::Failed {
            visibility: Some(seconds),
        }
    }

    /// A record that may succeed later. While its budget lasts: from the outbound queue it
    /// moves to the retry queue; elsewhere it waits in place, for a backoff grown by its
    /// attempts. Spent (or at the queue's redrive limit), it is dead-lettered with its last
    /// cause.
    pub(super) async fn retry(
        &self,
        origin: Origin,
        record: &OutboundRecord,
        ctx: &Context,
        failure: Failure,
    ) -> Finish {
        let id = record.message_id.as_str();
        let (service, app_id, channel, correlation_id) = ctx.labels();
        if failure.cause == RetryCause::AuthRejected && failure.attempted {
            self.metrics.count(Metric::AuthRejected, &[]);
        }
        let waited = self.waited(origin, record);
        let at_limit = self
            .max_receives(origin)
            .await
            .is_some_and(|max| record.receive_count >= max);
        let attempts = self.attempts(origin, record, failure.attempted);
        if waited >= self.config.retry_for || at_limit {
            let mut dead = DeadLetter::gave_up(
                failure.cause,
                failure.http_status,
                failure.sinch_status.clone(),
                attempts,
                waited,
                at_limit,
            );
            dead.maybe_sent = failure.maybe_sent || self.maybe_sent_before(origin, record).await;
            return self.dead_letter(origin, record, ctx, &dead).await;
        }
        let fifo = record.group_id.is_some() || is_fifo(self.queue_url(origin));
        if origin == Origin::Main && self.moves_to_retry_queue(fifo) {
            return Finish::ToRetryQueue(failure);
        }
        if failure.maybe_sent && origin == Origin::Retry {
            self.note_maybe_sent(record).await;
        }
        let delay = backoff(
            attempts,
            self.config.retry_base,
            self.config.retry_max,
            failure.retry_after,
        );
        let seconds = u32::try_from(delay.as_secs()).unwrap_or(u32::MAX);
        tracing::warn!(
            sqs_message_id = id,
            service,
            app_id,
            channel,
            correlation_id,
            cause = failure.cause.as_str(),
            http_status = failure.http_status,
            retry_in_seconds = seconds,
            waited_seconds = waited.as_secs(),
            attempts,
            outcome = "retry",
            "message will be retried"
        );
        self.count_retry(failure.cause.as_str());
        self.record_waiting(origin, record);
        if self.set_visibility(origin, record, seconds).await {
            Finish::Failed {
                visibility: Some(seconds),
            }
        } else {
            Finish::Failed { visibility: None }
        }
    }

    /// One retry, counted in total (the dashboard, alarms) and by cause.
    pub(super) fn count_retry(&self, cause: &str) {
        self.metrics
            .count_by(Metric::MessageRetried, &[("Cause", cause)], &[&[], &["Cause"]]);
    }

    /// How long a record that must wait for a retry has been waiting since it was enqueued:
    /// the sender's outage signal. SQS's own age metric cannot be it: a record received three
    /// times leaves `ApproximateAgeOfOldestMessage`, and a record waiting on its backoff is in
    /// flight, not visible (docs/operations.md, OutboundDelayedAlarm).
    pub(super) fn record_waiting(&self, origin: Origin, record: &OutboundRecord) {
        let Some(enqueued) = self.enqueued_ms(origin, record) else {
            return;
        };
        let age_ms = self.clock.unix_millis().saturating_sub(enqueued).max(0);
        #[allow(clippy::cast_precision_loss)] // an age in ms is far below 2^52
        let age = age_ms as f64 / 1000.0;
        self.metrics.seconds_by(Metric::RetryAge, age, &[], &[&[]]);
    }

    /// When the record was first enqueued: what it carries from the outbound queue, else its
    /// own `SentTimestamp`. Its retry budget counts from here, so the records of a blocked
    /// group reach the end of theirs together, before SQS's retention.
    pub(super) fn enqueued_ms(&self, origin: Origin, record: &OutboundRecord) -> Option<i64> {
        let carried = (origin == Origin::Retry)
            .then(|| Carried::of(record).enqueued_ms)
            .flatten();
        carried.or(record.enqueued_ms).or(record.first_received_ms)
    }

    /// How long this record has waited since it was enqueued.
    pub(super) fn waited(&self, origin: Origin, record: &OutboundRecord) -> Duration {
        let now_ms = self.clock.unix_millis();
        let since = self.enqueued_ms(origin, record).unwrap_or(now_ms);
        Duration::from_millis(u64::try_from(now_ms.saturating_sub(since)).unwrap_or(0))
    }

    /// Attempts at this record so far, this one included when `attempted`. In the retry queue,
    /// every receive is an attempt (its event source hands over one record at a time, so none is
    /// held back) after those it carries; on the outbound queue, its receives but those this
    /// environment held back.
    pub(super) fn attempts(&self, origin: Origin, record: &OutboundRecord, attempted: bool) -> u32 {
        match origin {
            Origin::Retry => Carried::of(record).attempts + record.receive_count,
            Origin::Main if attempted => self.held_back.attempts(&record.message_id, record.receive_count),
            Origin::Main => self
                .held_back
                .attempts(&record.message_id, record.receive_count)
                .saturating_sub(1),
        }
    }

    /// Whether an earlier attempt may have reached Sinch: what the record carries, and, in the
    /// retry queue, what the state table remembers of attempts made there.
    pub(super) async fn maybe_sent_before(&self, origin: Origin, record: &OutboundRecord) -> bool {
        let carried = Carried::of(record);
        if carried.maybe_sent || origin != Origin::Retry || !self.state.enabled() {
            return carried.maybe_sent;
        }
        let id = carried.record_id.unwrap_or_else(|| record.message_id.clone());
        self.state.maybe_sent(&id).await.unwrap_or_else(|e| {
            tracing::warn!(sqs_message_id = %record.message_id, error = %e, "could not read whether an earlier attempt may have been sent");
            false
        })
    }

    async fn note_maybe_sent(&self, record: &OutboundRecord) {
        if !self.state.enabled() {
            return;
        }
        let id = Carried::of(record)
            .record_id
            .unwrap_or_else(|| record.message_id.clone());
        let expires = self.clock.unix_seconds().saturating_add(STATE_TTL_SECONDS);
        if let Err(e) = self.state.note_maybe_sent(&id, expires).await {
            tracing::warn!(sqs_message_id = %record.message_id, error = %e, "could not record that an attempt may have been sent");
        }
    }

    /// True when the delay was set.
    pub(super) async fn set_visibility(&self, origin: Origin, record: &OutboundRecord, seconds: u32) -> bool {
        let Some(handle) = record.receipt_handle.as_deref() else {
            return false;
        };
        match self
            .queues
            .change_visibility(self.queue_url(origin), handle, seconds)
            .await
        {
            Ok(()) => true,
            Err(e) => {
                // The message still comes back, after the queue's own visibility timeout.
                tracing::warn!(sqs_message_id = %record.message_id, error = %e, "could not set the retry delay");
                false
            }
        }
    }
}
