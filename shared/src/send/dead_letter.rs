//! The dead-letter message: the record's body unchanged, plus attributes that say why. The
//! attribute names are defined here once; the operator CLI strips them on a redrive.

use std::time::SystemTime;

use super::attempt::Context;
use super::outcome::DeadLetter;
use super::{OutboundRecord, Sender};
use crate::clock::rfc3339_millis;
use crate::metrics::Metric;
use crate::ports::{QueueControl, QueueMessage, QueueWriter, SecretStore, SinchClient, is_fifo};

pub const REASON: &str = "dead_letter_reason";
pub const DETAIL: &str = "dead_letter_detail";
pub const SOURCE_MESSAGE_ID: &str = "source_message_id";
pub const FAILED_AT: &str = "failed_at";
pub const HTTP_STATUS: &str = "http_status";
pub const SINCH_STATUS: &str = "sinch_status";
pub const SINCH_MESSAGE: &str = "sinch_message";
pub const SERVICE: &str = "service";
pub const APP_ID: &str = "app_id";

/// Every attribute the sender may add when dead-lettering.
pub const DEAD_LETTER_ATTRIBUTES: [&str; 9] = [
    REASON,
    DETAIL,
    SOURCE_MESSAGE_ID,
    FAILED_AT,
    HTTP_STATUS,
    SINCH_STATUS,
    SINCH_MESSAGE,
    SERVICE,
    APP_ID,
];

/// The DLQ message for a record that can never succeed.
pub(super) fn dead_letter_message(
    dlq_url: &str,
    record: &OutboundRecord,
    ctx: &Context,
    dead: &DeadLetter,
) -> QueueMessage {
    let mut attributes: Vec<(&'static str, String)> = vec![
        (REASON, dead.reason.as_str().to_owned()),
        (DETAIL, dead.detail.chars().take(512).collect()),
        (SOURCE_MESSAGE_ID, record.message_id.clone()),
        (FAILED_AT, rfc3339_millis(SystemTime::now())),
    ];
    let optional = [
        (HTTP_STATUS, dead.http_status.map(|s| s.to_string())),
        (SINCH_STATUS, dead.sinch_status.clone()),
        (SINCH_MESSAGE, dead.sinch_message.clone()),
        (SERVICE, ctx.service.clone()),
        (APP_ID, ctx.app_id.clone()),
    ];
    attributes.extend(
        optional
            .into_iter()
            .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (k, v))),
    );
    let fifo = is_fifo(dlq_url);
    QueueMessage {
        queue_url: dlq_url.to_owned(),
        // SQS refuses empty bodies; an empty record is kept visible as such.
        body: record
            .body
            .clone()
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| "(empty)".into()),
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
    /// True when the DLQ has the record (it is then finished); false when it must come back.
    pub(super) async fn dead_letter(&self, record: &OutboundRecord, ctx: &Context, dead: &DeadLetter) -> bool {
        let message = dead_letter_message(&self.config.dlq_url, record, ctx, dead);
        let id = record.message_id.as_str();
        let (service, app_id) = (
            ctx.service.as_deref().unwrap_or("-"),
            ctx.app_id.as_deref().unwrap_or("-"),
        );
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
                self.metrics.count(Metric::MessageDeadLettered, &[("Reason", reason)]);
                true
            }
            Err(e) => {
                // Not stored in the DLQ, so not done: it comes back and is tried again.
                let cause = super::RetryCause::DlqUnavailable.as_str();
                tracing::error!(sqs_message_id = id, reason, error = %e, outcome = "retry", cause, "dead-letter queue unavailable");
                self.metrics.count(Metric::MessageRetried, &[("Cause", cause)]);
                false
            }
        }
    }
}
