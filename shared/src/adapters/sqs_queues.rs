//! [`QueueWriter`] over Amazon SQS `SendMessage`.

use std::collections::HashMap;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::SdkError;
use aws_sdk_sqs::types::MessageAttributeValue;

use crate::ports::{PortError, QUEUE_REJECTED, QueueControl, QueueMessage, QueueWriter};

#[derive(Clone)]
pub struct SqsQueues {
    client: Client,
}

impl SqsQueues {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

pub(crate) fn attributes(list: &[(&'static str, String)]) -> Result<HashMap<String, MessageAttributeValue>, PortError> {
    list.iter()
        .map(|(name, value)| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map(|v| ((*name).to_owned(), v))
                .map_err(|e| PortError::new("invalid_attribute", format!("{name}: {e}")))
        })
        .collect()
}

pub(crate) fn describe<E: aws_sdk_sqs::error::ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> String {
    match e {
        SdkError::ServiceError(s) => s.err().code().unwrap_or("service_error").to_owned(),
        SdkError::TimeoutError(_) => "timeout".to_owned(),
        SdkError::DispatchFailure(_) => "dispatch_failure".to_owned(),
        SdkError::ResponseError(_) => "response_error".to_owned(),
        _ => "sdk_error".to_owned(),
    }
}

impl QueueWriter for SqsQueues {
    async fn put(&self, message: &QueueMessage) -> Result<(), PortError> {
        self.client
            .send_message()
            .queue_url(&message.queue_url)
            .message_body(&message.body)
            .set_message_attributes(Some(attributes(&message.attributes)?))
            .set_message_group_id(message.group_id.clone())
            .set_message_deduplication_id(message.dedup_id.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                let code = if is_permanent(&e) {
                    QUEUE_REJECTED
                } else {
                    "queue_unavailable"
                };
                PortError::new(code, format!("SendMessage: {}", describe(&e)))
            })
    }
}

/// SQS refused the request itself (a 4xx other than throttling): sending the same message
/// again cannot succeed until someone changes the queue, its policy or its key.
fn is_permanent<E: aws_sdk_sqs::error::ProvideErrorMetadata>(
    e: &SdkError<E, aws_sdk_sqs::config::http::HttpResponse>,
) -> bool {
    let SdkError::ServiceError(s) = e else {
        return false;
    };
    let status = s.raw().status().as_u16();
    let throttled = s.err().code().is_some_and(|c| c.contains("Throttl"));
    (400..500).contains(&status) && status != 429 && !throttled
}

impl QueueControl for SqsQueues {
    async fn delete(&self, queue_url: &str, receipt_handle: &str) -> Result<(), PortError> {
        self.client
            .delete_message()
            .queue_url(queue_url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| PortError::new("queue_unavailable", format!("DeleteMessage: {}", describe(&e))))
    }

    async fn change_visibility(&self, queue_url: &str, receipt_handle: &str, seconds: u32) -> Result<(), PortError> {
        self.client
            .change_message_visibility()
            .queue_url(queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(i32::try_from(seconds).unwrap_or(i32::MAX))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                PortError::new(
                    "queue_unavailable",
                    format!("ChangeMessageVisibility: {}", describe(&e)),
                )
            })
    }
}
