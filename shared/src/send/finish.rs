//! Acting on a record's [`Outcome`]: the log line and metrics, the retry delay (the message's
//! visibility) while the record's retry budget lasts, the dead-letter write once it is spent or
//! when the record can never succeed. Returns whether the record is finished (sent or
//! dead-lettered), which decides if it is reported as a batch failure, and how long a failed
//! one stays hidden (its FIFO group is hidden as long).

use std::time::{Duration, Instant};

use super::attempt::Context;
use super::outcome::{DeadLetter, Outcome, RetryCause, backoff};
use super::{OutboundRecord, Sender};
use crate::metrics::Metric;
use crate::ports::{QueueControl, QueueWriter, SecretStore, SinchClient};

/// How one record ended in this invocation.
pub(super) enum Finish {
    /// Sent (with what the sent record says) or dead-lettered: delete it.
    Done(Option<SentInfo>),
    /// To be tried again: reported as a batch item failure, hidden for `visibility` seconds
    /// (`None`: the queue's own visibility timeout applies).
    Failed { visibility: Option<u32> },
}

/// Why a record failed this time, and what Sinch said.
pub(super) struct Failure {
    pub cause: RetryCause,
    pub retry_after: Option<u64>,
    pub http_status: Option<u16>,
    pub sinch_status: Option<String>,
}

/// What a sent record publishes.
pub(super) struct SentInfo {
    pub ctx: Context,
    pub message_id: Option<String>,
    pub accepted_time: Option<String>,
}

impl<S, H, Q> Sender<S, H, Q>
where
    S: SecretStore,
    H: SinchClient,
    Q: QueueWriter + QueueControl,
{
    pub(super) async fn process(&self, record: &OutboundRecord, deadline: Option<Instant>) -> Finish {
        let mut ctx = Context::default();
        let started = Instant::now();
        let outcome = self.attempt(record, &mut ctx, deadline).await;
        let (service, app_id, channel, correlation_id) = ctx.labels();
        let id = record.message_id.as_str();
        match outcome {
            Outcome::Sent {
                message_id,
                accepted_time,
            } => {
                let sinch_id = message_id.as_deref().unwrap_or("-");
                tracing::info!(
                    sqs_message_id = id,
                    service,
                    app_id,
                    channel,
                    correlation_id,
                    sinch_message_id = sinch_id,
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
                }))
            }
            Outcome::NotStarted => {
                // Not an attempt: it comes back at once for an invocation with time to send it.
                // It still spends a receive, so the redrive limit is watched here too.
                self.held_back.note(id);
                if self.max_receives().await.is_some_and(|max| record.receive_count >= max) {
                    let attempts = self.held_back.attempts(id, record.receive_count);
                    let dead = DeadLetter::gave_up(
                        RetryCause::NotStarted,
                        None,
                        None,
                        attempts,
                        self.retried_for(record),
                        true,
                    );
                    return self.dead_letter(record, &ctx, &dead).await;
                }
                let cause = RetryCause::NotStarted.as_str();
                tracing::info!(
                    sqs_message_id = id,
                    outcome = "retry",
                    cause,
                    "too close to the deadline to send"
                );
                self.count_retry(cause);
                self.set_visibility(record, 0).await;
                Finish::Failed { visibility: Some(0) }
            }
            Outcome::Retry {
                cause,
                retry_after,
                http_status,
                sinch_status,
            } => {
                let failure = Failure {
                    cause,
                    retry_after,
                    http_status,
                    sinch_status,
                };
                self.retry(record, &ctx, failure).await
            }
            Outcome::DeadLetter(dead) => self.dead_letter(record, &ctx, &dead).await,
        }
    }

    /// A record that may succeed later: retried with backoff while its budget lasts (and the
    /// queue's redrive limit is not reached), dead-lettered with its last cause after.
    pub(super) async fn retry(&self, record: &OutboundRecord, ctx: &Context, failure: Failure) -> Finish {
        let Failure {
            cause,
            retry_after,
            http_status,
            sinch_status,
        } = failure;
        let id = record.message_id.as_str();
        let (service, app_id, channel, correlation_id) = ctx.labels();
        if cause == RetryCause::AuthRejected {
            self.metrics.count(Metric::AuthRejected, &[]);
        }
        let retried_for = self.retried_for(record);
        let at_limit = self.max_receives().await.is_some_and(|max| record.receive_count >= max);
        if retried_for >= self.config.retry_for || at_limit {
            let attempts = self.held_back.attempts(id, record.receive_count);
            let dead = DeadLetter::gave_up(cause, http_status, sinch_status, attempts, retried_for, at_limit);
            return self.dead_letter(record, ctx, &dead).await;
        }
        let delay = backoff(
            record.receive_count,
            self.config.retry_base,
            self.config.retry_max,
            retry_after,
        );
        let seconds = u32::try_from(delay.as_secs()).unwrap_or(u32::MAX);
        tracing::warn!(
            sqs_message_id = id,
            service,
            app_id,
            channel,
            correlation_id,
            cause = cause.as_str(),
            http_status,
            retry_in_seconds = seconds,
            retried_for_seconds = retried_for.as_secs(),
            receive_count = record.receive_count,
            outcome = "retry",
            "message will be retried"
        );
        self.count_retry(cause.as_str());
        self.record_waiting(record);
        if self.set_visibility(record, seconds).await {
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
    /// times leaves `ApproximateAgeOfOldestMessage`, and a record waiting on its backoff is
    /// in flight, not visible (docs/operations.md, SenderRetryingAlarm).
    pub(super) fn record_waiting(&self, record: &OutboundRecord) {
        let Some(enqueued) = record.enqueued_ms else {
            return;
        };
        let age_ms = self.clock.unix_millis().saturating_sub(enqueued).max(0);
        #[allow(clippy::cast_precision_loss)] // an age in ms is far below 2^52
        let age = age_ms as f64 / 1000.0;
        self.metrics.seconds_by(Metric::RetryAge, age, &[], &[&[]]);
    }

    /// How long this record has been retried: since its first receive.
    fn retried_for(&self, record: &OutboundRecord) -> Duration {
        let now_ms = self.clock.unix_seconds().saturating_mul(1000);
        let first = record.first_received_ms.unwrap_or(now_ms);
        Duration::from_millis(u64::try_from(now_ms.saturating_sub(first)).unwrap_or(0))
    }

    /// True when the delay was set.
    async fn set_visibility(&self, record: &OutboundRecord, seconds: u32) -> bool {
        let Some(handle) = record.receipt_handle.as_deref() else {
            return false;
        };
        match self
            .queues
            .change_visibility(&self.config.outbound_queue_url, handle, seconds)
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
