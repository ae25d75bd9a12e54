//! Lambda's SQS event source mapping for the sender, in miniature: the stack's batch size and
//! batching window, the partial batch response (what is not reported failed is deleted), failed
//! records keeping the visibility the sender gave them.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use serde_json::Value;

use crate::runtime_api::RuntimeApi;

/// The stack's SQS event source mapping for the sender.
pub(super) struct EventSource {
    batch_size: i32,
    window: Duration,
}

impl From<&Value> for EventSource {
    fn from(mapping: &Value) -> Self {
        Self {
            batch_size: mapping["BatchSize"]
                .as_i64()
                .and_then(|b| i32::try_from(b).ok())
                .unwrap_or(10)
                .clamp(1, 10),
            window: Duration::from_secs(mapping["MaximumBatchingWindowInSeconds"].as_u64().unwrap_or(0)),
        }
    }
}

/// Lambda's SQS event source, in miniature: long-poll up to the mapping's batch size (waiting
/// up to its batching window to fill it), invoke the sender, delete what it did not report as
/// failed (failed ones keep the visibility it gave them).
pub(super) async fn poll_outbound(
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    sender: RuntimeApi,
    source: EventSource,
) {
    // Each record names its queue, as Lambda's do: the sender's dead letters record it.
    let queue_arn = queue_arn(&sqs, &queue_url).await;
    loop {
        let mut messages = Vec::new();
        let window_ends = tokio::time::Instant::now() + source.window;
        while messages.len() < usize::try_from(source.batch_size).unwrap_or(10) {
            let want = source.batch_size - i32::try_from(messages.len()).unwrap_or(0);
            let received = sqs
                .receive_message()
                .queue_url(&queue_url)
                .max_number_of_messages(want)
                .wait_time_seconds(1)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await;
            match received {
                Ok(out) => messages.extend(out.messages.unwrap_or_default()),
                Err(e) => {
                    tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "receive from the outbound queue failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            if !messages.is_empty() && tokio::time::Instant::now() >= window_ends {
                break;
            }
        }
        let event = sqs_event(&messages, queue_arn.as_deref());
        let Ok(event) = serde_json::to_value(&event) else {
            continue;
        };
        let failed: Vec<String> = match sender.invoke(event).await {
            Ok(response) => response["batchItemFailures"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                .collect(),
            Err(e) => {
                // The whole batch comes back after the queue's visibility timeout.
                tracing::error!(error = %e, "sender failed the whole batch");
                continue;
            }
        };
        for m in messages {
            if m.message_id.as_ref().is_some_and(|id| failed.contains(id)) {
                continue;
            }
            if let Some(handle) = m.receipt_handle
                && let Err(e) = sqs
                    .delete_message()
                    .queue_url(&queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
            {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "delete failed");
            }
        }
    }
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Option<String> {
    use aws_sdk_sqs::types::QueueAttributeName;
    sqs.get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .ok()
        .and_then(|a| a.attributes()?.get(&QueueAttributeName::QueueArn).cloned())
}

/// The event Lambda builds from received messages.
fn sqs_event(messages: &[aws_sdk_sqs::types::Message], queue_arn: Option<&str>) -> SqsEvent {
    let mut event = SqsEvent::default();
    for m in messages {
        let mut record = SqsMessage::default();
        record.message_id = m.message_id.clone();
        record.receipt_handle = m.receipt_handle.clone();
        record.body = m.body.clone();
        record.attributes = m
            .attributes()
            .map(|a| a.iter().map(|(k, v)| (k.as_str().to_owned(), v.clone())).collect())
            .unwrap_or_default();
        record.event_source = Some("aws:sqs".into());
        record.event_source_arn = queue_arn.map(str::to_owned);
        event.records.push(record);
    }
    event
}
