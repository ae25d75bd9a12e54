//! The sender function's edge: an SQS event in, a partial batch response out. All the work is
//! [`sinch_bridge::send::Sender`]; this file only translates.
//!
//! The event is the raw `SqsEvent` (bodies as strings), never a typed `SqsEventObj`: one
//! malformed body must fail alone, not the whole batch at deserialisation.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{Error, LambdaEvent};
use sinch_bridge::ports::{QueueControl, QueueWriter, SecretStore, SendState, SinchClient};
use sinch_bridge::send::{OutboundRecord, Sender};

/// Handles one SQS batch: the same function Lambda and the local runner call.
pub async fn handle<S, H, Q, P>(
    sender: &Sender<S, H, Q, P>,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error>
where
    S: SecretStore,
    H: SinchClient,
    Q: QueueWriter + QueueControl,
    P: SendState,
{
    sender.metrics().cold_start();
    let deadline = deadline(event.context.deadline);
    let records: Vec<OutboundRecord> = event
        .payload
        .records
        .into_iter()
        .map(record)
        .collect::<Result<_, _>>()?;
    let failed = sender.handle_batch(&records, deadline).await;
    let mut response = SqsBatchResponse::default();
    for id in failed {
        response.add_failure(id);
    }
    Ok(response)
}

/// A record without a message id could not be reported on its own (an empty
/// `itemIdentifier` fails the whole batch anyway), so the invocation fails and every record
/// comes back: nothing is lost.
fn record(message: SqsMessage) -> Result<OutboundRecord, Error> {
    let message_id = message
        .message_id
        .filter(|id| !id.is_empty())
        .ok_or("SQS record without messageId")?;
    let receive_count = message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let first_received_ms = message
        .attributes
        .get("ApproximateFirstReceiveTimestamp")
        .and_then(|v| v.parse().ok());
    // The retry budget counts from here (or from what a retried record carries).
    let enqueued_ms = message.attributes.get("SentTimestamp").and_then(|v| v.parse().ok());
    // What a record moved to the retry queue carries (string attributes only).
    let attributes = message
        .message_attributes
        .iter()
        .filter_map(|(k, v)| v.string_value.clone().map(|s| (k.clone(), s)))
        .collect();
    Ok(OutboundRecord {
        message_id,
        receipt_handle: message.receipt_handle,
        body: message.body,
        receive_count,
        group_id: message.attributes.get("MessageGroupId").cloned(),
        first_received_ms,
        enqueued_ms,
        source_queue: message.event_source_arn,
        attributes,
    })
}

/// The invocation's deadline (Unix milliseconds from the Runtime API) as an `Instant`; `None`
/// when the runtime gave none (0), as in tests that call the handler directly.
fn deadline(deadline_ms: u64) -> Option<Instant> {
    if deadline_ms == 0 {
        return None;
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Instant::now().checked_add(Duration::from_millis(deadline_ms.saturating_sub(now_ms)))
}
