//! The optional "sent" record for upstream systems: `{correlation_id, message_id,
//! accepted_time, app_id, service, answer_complete}` on `SENT_QUEUE_URL` for every message
//! Sinch accepted.

use serde_json::json;

use super::finish::SentInfo;
use super::{OutboundRecord, Sender};
use crate::metrics::Metric;
use crate::ports::{QueueControl, QueueMessage, QueueWriter, SecretStore, SendState, SinchClient, is_fifo};

impl<S, H, Q, P> Sender<S, H, Q, P>
where
    S: SecretStore,
    H: SinchClient,
    Q: QueueWriter + QueueControl,
    P: SendState,
{
    /// Runs after the finished record was deleted: a failure here can never resend it.
    pub(super) async fn publish_sent(&self, record: &OutboundRecord, sent: SentInfo) {
        let SentInfo {
            ctx,
            message_id,
            accepted_time,
            answer_complete,
        } = sent;
        let Some(queue_url) = self.config.sent_queue_url.as_deref() else {
            return;
        };
        let body = json!({
            "correlation_id": ctx.correlation_id,
            "message_id": message_id,
            "accepted_time": accepted_time,
            "app_id": ctx.app_id,
            "service": ctx.service,
            "answer_complete": answer_complete,
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
            dedup_id: fifo.then(|| {
                super::Carried::of(record)
                    .record_id
                    .unwrap_or_else(|| record.message_id.clone())
            }),
        };
        if let Err(e) = self.queues.put(&message).await {
            // The message itself was sent; retrying it would send it twice.
            tracing::error!(sqs_message_id = %record.message_id, error = %e, "could not publish the sent record");
            self.metrics.count(Metric::SentRecordFailed, &[]);
        }
    }
}
