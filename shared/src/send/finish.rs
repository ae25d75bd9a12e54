//! Acting on a record's [`Outcome`]: the log line and metrics, the retry delay (the message's
//! visibility), the dead-letter write or the sent record. Returns whether the record is
//! finished (sent or dead-lettered), which decides if it is reported as a batch failure.

use std::time::Instant;

use super::attempt::Context;
use super::outcome::{Outcome, backoff};
use super::{OutboundRecord, Sender};
use crate::metrics::Metric;
use crate::ports::{QueueControl, QueueWriter, SecretStore, SinchClient};

impl<S, H, Q> Sender<S, H, Q>
where
    S: SecretStore,
    H: SinchClient,
    Q: QueueWriter + QueueControl,
{
    pub(super) async fn process(&self, record: &OutboundRecord) -> bool {
        let mut ctx = Context::default();
        let started = Instant::now();
        let outcome = self.attempt(record, &mut ctx).await;
        let (service, app_id, channel, correlation_id) = (
            ctx.service.as_deref().unwrap_or("-"),
            ctx.app_id.as_deref().unwrap_or("-"),
            ctx.channel.as_deref().unwrap_or("-"),
            ctx.correlation_id.as_deref().unwrap_or("-"),
        );
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
                self.metrics.count(Metric::MessageSent, &[("Channel", channel)]);
                self.metrics
                    .milliseconds(Metric::SendLatency, started.elapsed().as_secs_f64() * 1000.0, &[]);
                self.publish_sent(record, &ctx, message_id, accepted_time).await;
                true
            }
            Outcome::Retry { cause, retry_after } => {
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
                    retry_in_seconds = seconds,
                    receive_count = record.receive_count,
                    outcome = "retry",
                    "message will be retried"
                );
                self.metrics.count(Metric::MessageRetried, &[("Cause", cause.as_str())]);
                if let Some(handle) = record.receipt_handle.as_deref()
                    && let Err(e) = self
                        .queues
                        .change_visibility(&self.config.outbound_queue_url, handle, seconds)
                        .await
                {
                    // The message still comes back, after the queue's own visibility timeout.
                    tracing::warn!(sqs_message_id = id, error = %e, "could not set the retry delay");
                }
                false
            }
            Outcome::DeadLetter(dead) => self.dead_letter(record, &ctx, &dead).await,
        }
    }
}
