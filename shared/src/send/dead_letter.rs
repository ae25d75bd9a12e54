//! The dead-letter message: the record's body unchanged, plus attributes that say why. The
//! attribute names are defined here once; the operator CLI strips them on a redrive. A dead
//! letter never fails for its content: values are made printable and bounded, and when body
//! and attributes would exceed SQS's limit, attributes give way, never the body.

use std::time::SystemTime;

use super::attempt::Context;
use super::finish::Finish;
use super::outcome::DeadLetter;
use super::{OutboundRecord, Sender};
use crate::clock::rfc3339_millis;
use crate::metrics::Metric;
use crate::ports::{QueueControl, QueueMessage, QueueWriter, SecretStore, SinchClient, is_fifo};

pub const REASON: &str = "dead_letter_reason";
pub const DETAIL: &str = "dead_letter_detail";
pub const SOURCE_MESSAGE_ID: &str = "source_message_id";
/// The queue the record came from (its ARN): `bridgectl dlq redrive` sends it back there.
pub const SOURCE_QUEUE: &str = "source_queue";
pub const FAILED_AT: &str = "failed_at";
pub const HTTP_STATUS: &str = "http_status";
pub const SINCH_STATUS: &str = "sinch_status";
pub const SINCH_MESSAGE: &str = "sinch_message";
pub const SERVICE: &str = "service";
pub const APP_ID: &str = "app_id";
pub const LAST_CAUSE: &str = "last_cause";
pub const ATTEMPTS: &str = "attempts";

/// Every attribute the sender may add when dead-lettering, most important first (SQS keeps
/// ten; `service` and `app_id`, last, are also in the body).
pub const DEAD_LETTER_ATTRIBUTES: [&str; 12] = [
    REASON,
    DETAIL,
    SOURCE_QUEUE,
    SOURCE_MESSAGE_ID,
    FAILED_AT,
    LAST_CAUSE,
    ATTEMPTS,
    HTTP_STATUS,
    SINCH_STATUS,
    SINCH_MESSAGE,
    SERVICE,
    APP_ID,
];

/// SQS's message limit, body and attributes (name, type and value) together.
pub const SQS_MESSAGE_LIMIT: usize = 1024 * 1024;

/// `value` as SQS holds it: characters SQS refuses (and other control characters) become `?`,
/// and it is cut to `max` characters.
fn printable(value: &str, max: usize) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' {
                '?'
            } else {
                c
            }
        })
        .take(max)
        .collect()
}

/// Drops attributes from the least important end until body and attributes fit SQS's limit.
fn fit(body: &str, attributes: &mut Vec<(&'static str, String)>) {
    // SQS takes at most ten attributes.
    attributes.truncate(10);
    let size = |a: &[(&'static str, String)]| {
        body.len() + a.iter().map(|(k, v)| k.len() + "String".len() + v.len()).sum::<usize>()
    };
    while size(attributes) > SQS_MESSAGE_LIMIT && !attributes.is_empty() {
        attributes.pop();
    }
}

/// The DLQ message for a record that can never succeed.
pub(super) fn dead_letter_message(
    dlq_url: &str,
    record: &OutboundRecord,
    ctx: &Context,
    dead: &DeadLetter,
) -> QueueMessage {
    let values = [
        (REASON, Some(dead.reason.as_str().to_owned())),
        (DETAIL, Some(dead.detail.clone())),
        (SOURCE_QUEUE, record.source_queue.clone()),
        (SOURCE_MESSAGE_ID, Some(record.message_id.clone())),
        (FAILED_AT, Some(rfc3339_millis(SystemTime::now()))),
        (LAST_CAUSE, dead.last_cause.map(|c| c.as_str().to_owned())),
        (ATTEMPTS, dead.attempts.map(|n| n.to_string())),
        (HTTP_STATUS, dead.http_status.map(|s| s.to_string())),
        (SINCH_STATUS, dead.sinch_status.clone()),
        (SINCH_MESSAGE, dead.sinch_message.clone()),
        (SERVICE, ctx.service.clone()),
        (APP_ID, ctx.app_id.clone()),
    ];
    let mut attributes: Vec<(&'static str, String)> = values
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, printable(&v, 512))).filter(|(_, v)| !v.is_empty()))
        .collect();
    // SQS refuses empty bodies; an empty record is kept visible as such.
    let body = record
        .body
        .clone()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "(empty)".into());
    fit(&body, &mut attributes);
    let fifo = is_fifo(dlq_url);
    QueueMessage {
        queue_url: dlq_url.to_owned(),
        body,
        attributes,
        group_id: fifo.then(|| record.group_id.clone().unwrap_or_else(|| "dead-letter".into())),
        dedup_id: fifo.then(|| record.message_id.clone()),
    }
}

impl<S, H, Q> Sender<S, H, Q>
where
    S: SecretStore,
    H: SinchClient,
    Q: QueueWriter + QueueControl,
{
    /// Done when the DLQ has the record; failed (to come back) when the DLQ could not be written.
    pub(super) async fn dead_letter(&self, record: &OutboundRecord, ctx: &Context, dead: &DeadLetter) -> Finish {
        let message = dead_letter_message(&self.config.dlq_url, record, ctx, dead);
        let id = record.message_id.as_str();
        let (service, app_id, _, _) = ctx.labels();
        let reason = dead.reason.as_str();
        match self.queues.put(&message).await {
            Ok(()) => {
                tracing::warn!(
                    sqs_message_id = id,
                    service,
                    app_id,
                    reason,
                    http_status = dead.http_status,
                    sinch_status = dead.sinch_status.as_deref().unwrap_or("-"),
                    outcome = "dead_lettered",
                    "message dead-lettered"
                );
                self.metrics
                    .count_by(Metric::MessageDeadLettered, &[("Reason", reason)], &[&[], &["Reason"]]);
                Finish::Done(None)
            }
            Err(e) => {
                // Not stored in the DLQ, so not done: it comes back and is tried again.
                let cause = super::RetryCause::DlqUnavailable.as_str();
                tracing::error!(sqs_message_id = id, reason, error = %e, outcome = "retry", cause, "dead-letter queue unavailable");
                self.metrics.count(Metric::DeadLetterFailed, &[]);
                self.count_retry(cause);
                self.record_waiting(record);
                Finish::Failed { visibility: None }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::send::DeadLetterReason;

    fn record(body: &str) -> OutboundRecord {
        OutboundRecord {
            message_id: "m1".into(),
            receipt_handle: None,
            body: Some(body.into()),
            receive_count: 1,
            group_id: None,
            first_received_ms: None,
            enqueued_ms: None,
            source_queue: None,
        }
    }

    #[test]
    fn attribute_values_sqs_would_refuse_are_made_printable_and_bounded() {
        let ctx = Context {
            app_id: Some("A\u{0}B\u{ffff}".into()),
            ..Context::default()
        };
        let mut dead = DeadLetter::local(DeadLetterReason::InvalidEnvelope, "x".repeat(5000));
        dead.sinch_message = Some("line\nbreak".into());
        let m = dead_letter_message("https://q/dlq", &record("{}"), &ctx, &dead);
        let value = |k: &str| m.attributes.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
        assert_eq!(value(APP_ID).as_deref(), Some("A?B?"));
        assert_eq!(value(SINCH_MESSAGE).as_deref(), Some("line?break"));
        assert_eq!(value(DETAIL).map(|d| d.chars().count()), Some(512));
    }

    #[test]
    fn a_body_near_the_limit_keeps_itself_and_sheds_attributes() {
        let body = "b".repeat(SQS_MESSAGE_LIMIT - 60);
        let dead = DeadLetter::local(DeadLetterReason::BadRequest, "Sinch refused the request as malformed");
        let m = dead_letter_message("https://q/dlq", &record(&body), &Context::default(), &dead);
        assert_eq!(m.body, body, "the body is never cut");
        let size = m.body.len() + m.attributes.iter().map(|(k, v)| k.len() + 6 + v.len()).sum::<usize>();
        assert!(size <= SQS_MESSAGE_LIMIT, "{size}");
        assert_eq!(
            m.attributes.first().map(|(k, _)| *k),
            Some(REASON),
            "the reason is kept first"
        );
    }
}
