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

use super::sdk_error::describe;

impl QueueWriter for SqsQueues {
    /// `SendMessageBatch`: the entries of one FIFO group are enqueued in their order.
    async fn put_batch(&self, messages: &[QueueMessage]) -> Vec<Result<(), PortError>> {
        use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
        let Some(first) = messages.first() else {
            return Vec::new();
        };
        let mut entries = Vec::with_capacity(messages.len());
        for (i, m) in messages.iter().enumerate() {
            let entry = attributes(&m.attributes).and_then(|attrs| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&m.body)
                    .set_message_attributes(Some(attrs))
                    .set_message_group_id(m.group_id.clone())
                    .set_message_deduplication_id(m.dedup_id.clone())
                    .build()
                    .map_err(|e| PortError::new("invalid_attribute", e.to_string()))
            });
            match entry {
                Ok(entry) => entries.push(entry),
                Err(e) => return messages.iter().map(|_| Err(e.clone())).collect(),
            }
        }
        let out = self
            .client
            .send_message_batch()
            .queue_url(&first.queue_url)
            .set_entries(Some(entries))
            .send()
            .await;
        match out {
            Ok(out) => {
                let failed: HashMap<&str, &aws_sdk_sqs::types::BatchResultErrorEntry> =
                    out.failed().iter().map(|f| (f.id(), f)).collect();
                (0..messages.len())
                    .map(|i| match failed.get(i.to_string().as_str()) {
                        None => Ok(()),
                        Some(f) => {
                            let code = if f.sender_fault() {
                                QUEUE_REJECTED
                            } else {
                                "queue_unavailable"
                            };
                            Err(PortError::new(code, format!("SendMessageBatch: {}", f.code())))
                        }
                    })
                    .collect()
            }
            Err(e) => {
                let code = if is_permanent(&e) {
                    QUEUE_REJECTED
                } else {
                    "queue_unavailable"
                };
                let error = PortError::new(code, format!("SendMessageBatch: {}", describe(&e)));
                messages.iter().map(|_| Err(error.clone())).collect()
            }
        }
    }

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
    async fn delete_batch(&self, queue_url: &str, receipt_handles: &[String]) -> Result<(), PortError> {
        use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
        if receipt_handles.is_empty() {
            return Ok(());
        }
        let entries = receipt_handles
            .iter()
            .enumerate()
            .map(|(i, h)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(h)
                    .build()
                    .map_err(|e| PortError::new("queue_unavailable", e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .client
            .delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| PortError::new("queue_unavailable", format!("DeleteMessageBatch: {}", describe(&e))))?;
        match out.failed().first() {
            None => Ok(()),
            Some(f) => Err(PortError::new(
                "queue_unavailable",
                format!(
                    "DeleteMessageBatch: {} of {} failed ({})",
                    out.failed().len(),
                    receipt_handles.len(),
                    f.code()
                ),
            )),
        }
    }

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

    async fn max_receives(&self, queue_url: &str) -> Result<Option<u32>, PortError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .map_err(|e| PortError::new("queue_unavailable", format!("GetQueueAttributes: {}", describe(&e))))?;
        let policy = out
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy));
        Ok(policy.and_then(|p| redrive_max_receives(p)))
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

/// `maxReceiveCount` of a redrive policy (SQS writes it as a number; CloudFormation as a string).
fn redrive_max_receives(policy: &str) -> Option<u32> {
    let value: serde_json::Value = serde_json::from_str(policy).ok()?;
    match &value["maxReceiveCount"] {
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_redrive_limit_in_either_form() {
        assert_eq!(
            redrive_max_receives(r#"{"deadLetterTargetArn":"a","maxReceiveCount":1000}"#),
            Some(1000)
        );
        assert_eq!(
            redrive_max_receives(r#"{"deadLetterTargetArn":"a","maxReceiveCount":"5"}"#),
            Some(5)
        );
        assert_eq!(redrive_max_receives("{}"), None);
    }
}
