//! The sender use case: a batch of outbound queue records in, one `messages:send` per record,
//! and for each record exactly one of: sent, retried later (visibility changed, reported as a
//! batch item failure), or dead-lettered with its reason (then done). Transport-free: the
//! Lambda handler and the local runner both call [`Sender::handle_batch`].
//!
//! Standard queues: every record in flight at once (bounded by `MAX_IN_FLIGHT`). FIFO queues:
//! message groups in parallel, records of a group in order; after a record that must be retried,
//! the rest of its group is reported failed without being sent, so order holds.

mod config;
pub mod outcome;
pub mod token;

pub use config::SenderConfig;
pub use outcome::{DeadLetter, Outcome};

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use futures::{FutureExt as _, StreamExt as _};
use serde_json::json;

use crate::clock::{Clock, rfc3339_millis};
use crate::directory::{DirectoryError, ServiceDirectory};
use crate::metrics::Metrics;
use crate::ports::{EventSink, HttpPost, HttpRequest, QueueControl, QueueMessage, SecretStore, is_fifo};
use crate::protocol::service::{AuthMode, MessagingService};
use crate::protocol::{OutboundMessage, SecretString, parse_outbound, region};
use outcome::{backoff, classify_reply, transport_outcome};
use token::{TokenCache, basic_authorization};

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

/// What the log line and the sent record say about a message; never its content.
#[derive(Default)]
struct Context {
    service: Option<String>,
    app_id: Option<String>,
    channel: Option<String>,
    correlation_id: Option<String>,
}

pub struct Sender<S, H, Q> {
    directory: Arc<ServiceDirectory<S>>,
    http: H,
    queues: Q,
    tokens: TokenCache,
    config: SenderConfig,
    metrics: Metrics,
}

impl<S, H, Q> Sender<S, H, Q>
where
    S: SecretStore,
    H: HttpPost,
    Q: EventSink + QueueControl,
{
    pub fn new(
        directory: Arc<ServiceDirectory<S>>,
        http: H,
        queues: Q,
        clock: Arc<dyn Clock>,
        config: SenderConfig,
        metrics: Metrics,
    ) -> Self {
        let tokens = TokenCache::new(config.auth_url.clone(), clock);
        Self {
            directory,
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
                tracing::error!(sqs_message_id = %record.message_id, outcome = "panic", "record processing panicked");
                self.metrics.count("MessageRetried", &[("Cause", "panic")]);
                false
            }
        }
    }

    async fn process(&self, record: &OutboundRecord) -> bool {
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
                self.metrics.count("MessageSent", &[("Channel", channel)]);
                self.metrics
                    .milliseconds("SendLatency", started.elapsed().as_secs_f64() * 1000.0, &[]);
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
                    cause,
                    retry_in_seconds = seconds,
                    receive_count = record.receive_count,
                    outcome = "retry",
                    "message will be retried"
                );
                self.metrics.count("MessageRetried", &[("Cause", cause)]);
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

    async fn attempt(&self, record: &OutboundRecord, ctx: &mut Context) -> Outcome {
        let Some(body) = record.body.as_deref().filter(|b| !b.is_empty()) else {
            return Outcome::DeadLetter(DeadLetter::local("invalid_envelope", "(body): is empty"));
        };
        let message = match parse_outbound(body.as_bytes()) {
            Ok(m) => m,
            Err(e) => return Outcome::DeadLetter(DeadLetter::local(e.code(), e.to_string())),
        };
        ctx.app_id = Some(message.app_id().to_owned());
        ctx.channel = message.channel().map(str::to_owned);
        ctx.correlation_id = message.correlation_id().map(str::to_owned);
        let service = match self.resolve_service(&message).await {
            Ok(service) => service,
            Err(outcome) => return outcome,
        };
        ctx.service = Some(service.name.clone());
        let request = message.to_request(Some(&service));
        let body = match serde_json::to_vec(&request) {
            Ok(body) => body,
            Err(e) => return Outcome::DeadLetter(DeadLetter::local("invalid_envelope", e.to_string())),
        };
        let url = region::send_url(
            service.region,
            self.config.api_base_override.as_deref(),
            &service.project_id,
        );
        let mut refreshed = false;
        loop {
            let authorization = match self.authorization(&service).await {
                Ok(a) => a,
                Err(outcome) => return outcome,
            };
            let request = HttpRequest {
                url: url.clone(),
                authorization: authorization.clone(),
                content_type: "application/json",
                body: body.clone(),
            };
            let reply = match self.http.post(request).await {
                Ok(reply) => reply,
                Err(e) => return transport_outcome(&e),
            };
            // One retry with a fresh token: it may have been revoked or expired early.
            if reply.status == 401 && service.auth == AuthMode::OAuth2 && !refreshed {
                refreshed = true;
                self.tokens.invalidate(&service.key_id, &authorization).await;
                continue;
            }
            return classify_reply(&reply);
        }
    }

    async fn authorization(&self, service: &MessagingService) -> Result<SecretString, Outcome> {
        match service.auth {
            AuthMode::Basic => Ok(basic_authorization(&service.key_id, &service.key_secret)),
            AuthMode::OAuth2 => match self
                .tokens
                .bearer(&self.http, &service.key_id, &service.key_secret)
                .await
            {
                Ok((token, fetched)) => {
                    if fetched {
                        self.metrics.count("TokenRefresh", &[]);
                    }
                    Ok(token)
                }
                Err(e) if e.is_transient() => Err(Outcome::Retry {
                    cause: "auth_unavailable",
                    retry_after: None,
                }),
                Err(e) => Err(Outcome::DeadLetter(DeadLetter::local("auth_rejected", e.to_string()))),
            },
        }
    }

    /// The envelope's `service`, else the configured service that lists the app; with a single
    /// configured service that lists no apps at all, that service.
    async fn resolve_service(&self, message: &OutboundMessage) -> Result<Arc<MessagingService>, Outcome> {
        let unavailable = |e: &DirectoryError| match e {
            DirectoryError::Unavailable(_) => Outcome::Retry {
                cause: "secrets_unavailable",
                retry_after: None,
            },
            DirectoryError::Invalid(_) => Outcome::Retry {
                cause: "service_misconfigured",
                retry_after: None,
            },
            DirectoryError::NotFound => Outcome::DeadLetter(DeadLetter::local(
                "unknown_service",
                "the service's secret does not exist",
            )),
        };
        if let Some(name) = message.service() {
            if !self.config.services.iter().any(|s| s == name) {
                return Err(Outcome::DeadLetter(DeadLetter::local(
                    "unknown_service",
                    "service is not in SERVICES",
                )));
            }
            return self
                .directory
                .get(name)
                .await
                .map(|v| v.current)
                .map_err(|e| unavailable(&e));
        }
        let mut retry = None;
        for name in &self.config.services {
            match self.directory.get(name).await {
                Ok(v) if v.current.has_app(message.app_id()) => return Ok(v.current),
                Ok(v) if self.config.services.len() == 1 && v.current.apps.is_empty() => return Ok(v.current),
                Ok(_) | Err(DirectoryError::NotFound) => {}
                Err(e) => retry = Some(unavailable(&e)),
            }
        }
        Err(retry.unwrap_or_else(|| {
            Outcome::DeadLetter(DeadLetter::local("unknown_app", "no configured service lists this app"))
        }))
    }

    async fn dead_letter(&self, record: &OutboundRecord, ctx: &Context, dead: &DeadLetter) -> bool {
        let mut attributes: Vec<(&'static str, String)> = vec![
            ("dead_letter_reason", dead.reason.to_owned()),
            ("dead_letter_detail", dead.detail.chars().take(512).collect()),
            ("source_message_id", record.message_id.clone()),
            ("failed_at", rfc3339_millis(SystemTime::now())),
        ];
        let optional = [
            ("http_status", dead.http_status.map(|s| s.to_string())),
            ("sinch_status", dead.sinch_status.clone()),
            ("sinch_message", dead.sinch_message.clone()),
            ("service", ctx.service.clone()),
            ("app_id", ctx.app_id.clone()),
        ];
        attributes.extend(
            optional
                .into_iter()
                .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (k, v))),
        );
        let fifo = is_fifo(&self.config.dlq_url);
        let message = QueueMessage {
            queue_url: self.config.dlq_url.clone(),
            // SQS refuses empty bodies; an empty record is kept visible as such.
            body: record
                .body
                .clone()
                .filter(|b| !b.is_empty())
                .unwrap_or_else(|| "(empty)".into()),
            attributes,
            group_id: fifo.then(|| record.group_id.clone().unwrap_or_else(|| "dead-letter".into())),
            dedup_id: fifo.then(|| record.message_id.clone()),
        };
        let id = record.message_id.as_str();
        let (service, app_id) = (
            ctx.service.as_deref().unwrap_or("-"),
            ctx.app_id.as_deref().unwrap_or("-"),
        );
        match self.queues.put(&message).await {
            Ok(()) => {
                tracing::warn!(
                    sqs_message_id = id,
                    service,
                    app_id,
                    reason = dead.reason,
                    http_status = dead.http_status,
                    sinch_status = dead.sinch_status.as_deref().unwrap_or("-"),
                    outcome = "dead_lettered",
                    "message dead-lettered"
                );
                self.metrics.count("MessageDeadLettered", &[("Reason", dead.reason)]);
                true
            }
            Err(e) => {
                // Not stored in the DLQ, so not done: it comes back and is tried again.
                tracing::error!(sqs_message_id = id, reason = dead.reason, error = %e, outcome = "retry", "dead-letter queue unavailable");
                self.metrics.count("MessageRetried", &[("Cause", "dlq_unavailable")]);
                false
            }
        }
    }

    async fn publish_sent(
        &self,
        record: &OutboundRecord,
        ctx: &Context,
        message_id: Option<String>,
        accepted_time: Option<String>,
    ) {
        let Some(queue_url) = self.config.sent_queue_url.as_deref() else {
            return;
        };
        let body = json!({
            "correlation_id": ctx.correlation_id,
            "message_id": message_id,
            "accepted_time": accepted_time,
            "app_id": ctx.app_id,
            "service": ctx.service,
        });
        let fifo = is_fifo(queue_url);
        let message = QueueMessage {
            queue_url: queue_url.to_owned(),
            body: body.to_string(),
            attributes: vec![("service", ctx.service.clone().unwrap_or_default())]
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .collect(),
            group_id: fifo.then(|| record.group_id.clone().unwrap_or_else(|| "sent".into())),
            dedup_id: fifo.then(|| record.message_id.clone()),
        };
        if let Err(e) = self.queues.put(&message).await {
            // The message itself was sent; retrying it would send it twice.
            tracing::error!(sqs_message_id = %record.message_id, error = %e, "could not publish the sent record");
            self.metrics.count("SentRecordFailed", &[]);
        }
    }
}

#[cfg(test)]
mod tests;
