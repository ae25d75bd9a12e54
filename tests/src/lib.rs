//! Test harness: a moto server (SQS + Secrets Manager) on loopback and helpers to provision
//! and inspect it through the real AWS SDK.
//!
//! `MOTO_ENDPOINT` (set by `scripts/test.sh`) points every test at one shared server; test
//! resources get unique names so tests run in parallel. Without it each [`Moto`] starts its own
//! server from `MOTO_SERVER_BIN` (or `moto_server` on `PATH`) and kills it on drop.

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::Client as SecretsClient;
use aws_sdk_sqs::Client as SqsClient;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use sinch_bridge::adapters::{AwsSettings, SdkConfig, https_client, sdk_config};

pub mod apigw;
pub mod bench;
pub mod captured;
pub mod cfn;
pub mod cloudwatch;
pub mod fault_proxy;
pub mod move_tasks;
pub mod off_task_mock;
pub mod sim;
pub mod world;

pub struct Moto {
    pub endpoint: String,
    child: Option<Child>,
}

impl Moto {
    pub fn start() -> Self {
        if let Ok(endpoint) = std::env::var("MOTO_ENDPOINT") {
            return Self { endpoint, child: None };
        }
        let bin = std::env::var("MOTO_SERVER_BIN").unwrap_or_else(|_| "moto_server".into());
        let port = free_port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin} ({e}); run scripts/test.sh, which installs moto"));
        let endpoint = format!("http://127.0.0.1:{port}");
        let moto = Self {
            endpoint,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    pub fn socket_addr(&self) -> std::net::SocketAddr {
        self.endpoint
            .trim_start_matches("http://")
            .parse()
            .expect("moto endpoint is host:port")
    }

    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.endpoint).await
    }

    pub async fn sqs(&self) -> SqsClient {
        SqsClient::new(&self.sdk_config().await)
    }

    pub async fn secrets(&self) -> SecretsClient {
        SecretsClient::new(&self.sdk_config().await)
    }

    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk_config().await)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// SDK configuration for an emulator (or a dead port) with dummy credentials, built the way
/// the functions build theirs: every integration test's AWS call goes through the bridge's own
/// HTTPS client and SDK connector.
pub async fn sdk_config_for(endpoint: &str) -> SdkConfig {
    sdk_config_with_timeout(endpoint, Duration::from_secs(10)).await
}

/// As [`sdk_config_for`], with a whole-operation timeout (each attempt gets half of it).
pub async fn sdk_config_with_timeout(endpoint: &str, operation: Duration) -> SdkConfig {
    let settings = AwsSettings {
        region: "us-east-1".into(),
        credentials: aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "static"),
        endpoint_url: Some(endpoint.to_owned()),
        operation_timeout: operation,
    };
    sdk_config(settings, https_client().expect("https client"))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A name unique to this test run.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}", fastrand::u32(..))
}

pub async fn create_queue(sqs: &SqsClient, name: &str) -> String {
    create(sqs, name, None).await
}

/// A queue whose messages move to `dlq_url` after `max_receives` receives.
pub async fn create_queue_with_redrive(sqs: &SqsClient, name: &str, dlq_url: &str, max_receives: u32) -> String {
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("queue arn");
    let policy =
        serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives.to_string()}).to_string();
    create(sqs, name, Some(policy)).await
}

/// A queue (FIFO when the name ends in `.fifo`), with an optional redrive policy.
async fn create(sqs: &SqsClient, name: &str, redrive: Option<String>) -> String {
    let mut req = sqs.create_queue().queue_name(name);
    if name.ends_with(".fifo") {
        req = req
            .attributes(QueueAttributeName::FifoQueue, "true")
            .attributes(QueueAttributeName::ContentBasedDeduplication, "false");
    }
    if let Some(policy) = redrive {
        req = req.attributes(QueueAttributeName::RedrivePolicy, policy);
    }
    req.send()
        .await
        .expect("create queue")
        .queue_url()
        .expect("queue url")
        .to_owned()
}

/// A nonce table shaped as the template's: key `nonce`, on demand.
pub async fn create_nonce_table(dynamodb: &aws_sdk_dynamodb::Client, name: &str) {
    create_table(dynamodb, name, "nonce").await;
}

/// A table with one string hash key, on demand (the nonce and sender state tables' shape).
pub async fn create_table(dynamodb: &aws_sdk_dynamodb::Client, name: &str, key: &str) {
    use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
    dynamodb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(key)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(key)
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .send()
        .await
        .expect("create table");
}

pub async fn create_secret(secrets: &SecretsClient, name: &str, value: &str) {
    secrets
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("create secret");
}

/// Stages a new value as AWSPENDING, the first step of a rotation. Returns its version id.
pub async fn stage_pending(secrets: &SecretsClient, name: &str, value: &str) -> String {
    // Secrets Manager wants 32 to 64 characters here.
    let token = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    secrets
        .put_secret_value()
        .secret_id(name)
        .secret_string(value)
        .client_request_token(&token)
        .version_stages("AWSPENDING")
        .send()
        .await
        .expect("put pending");
    token
}

/// Promotes a version to AWSCURRENT (the old current becomes AWSPREVIOUS).
pub async fn promote(secrets: &SecretsClient, name: &str, version: &str) {
    let described = secrets
        .describe_secret()
        .secret_id(name)
        .send()
        .await
        .expect("describe");
    let current = described
        .version_ids_to_stages()
        .and_then(|m| {
            m.iter()
                .find(|(_, stages)| stages.iter().any(|s| s == "AWSCURRENT"))
                .map(|(v, _)| v.clone())
        })
        .expect("a current version");
    secrets
        .update_secret_version_stage()
        .secret_id(name)
        .version_stage("AWSCURRENT")
        .move_to_version_id(version)
        .remove_from_version_id(current)
        .send()
        .await
        .expect("promote");
}

/// A received queue message with its string attributes.
#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub receive_count: u32,
    pub body: String,
    pub attributes: HashMap<String, String>,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
    pub receipt_handle: String,
    /// `ApproximateFirstReceiveTimestamp` and `SentTimestamp` (Unix ms), as SQS gave them.
    pub first_received_ms: Option<String>,
    pub sent_ms: Option<String>,
}

/// Receives and deletes everything on a queue. Deleting as it goes matters on FIFO queues,
/// which hold back a message group while one of its messages is in flight.
pub async fn drain(sqs: &SqsClient, queue_url: &str, visibility: i32) -> Vec<Received> {
    let mut out = Vec::new();
    loop {
        let batch = receive(sqs, queue_url, visibility).await;
        if batch.is_empty() {
            return out;
        }
        for m in &batch {
            delete(sqs, queue_url, m).await;
        }
        out.extend(batch);
    }
}

/// Deletes one received message.
pub async fn delete(sqs: &SqsClient, queue_url: &str, message: &Received) {
    sqs.delete_message()
        .queue_url(queue_url)
        .receipt_handle(&message.receipt_handle)
        .send()
        .await
        .expect("delete");
}

/// One receive call: up to 10 visible messages, hidden for `visibility` seconds afterwards.
pub async fn receive(sqs: &SqsClient, queue_url: &str, visibility: i32) -> Vec<Received> {
    let resp = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .visibility_timeout(visibility)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .expect("receive");
    resp.messages()
        .iter()
        .map(|m| {
            let system = m.attributes();
            Received {
                message_id: m.message_id().unwrap_or_default().to_owned(),
                receive_count: system
                    .and_then(|s| s.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1),
                body: m.body().unwrap_or_default().to_owned(),
                attributes: m
                    .message_attributes()
                    .map(|a| {
                        a.iter()
                            .filter_map(|(k, v)| v.string_value().map(|s| (k.clone(), s.to_owned())))
                            .collect()
                    })
                    .unwrap_or_default(),
                group_id: system
                    .and_then(|s| s.get(&MessageSystemAttributeName::MessageGroupId))
                    .cloned(),
                dedup_id: system
                    .and_then(|s| s.get(&MessageSystemAttributeName::MessageDeduplicationId))
                    .cloned(),
                receipt_handle: m.receipt_handle().unwrap_or_default().to_owned(),
                first_received_ms: system
                    .and_then(|s| s.get(&MessageSystemAttributeName::ApproximateFirstReceiveTimestamp))
                    .cloned(),
                sent_ms: system
                    .and_then(|s| s.get(&MessageSystemAttributeName::SentTimestamp))
                    .cloned(),
            }
        })
        .collect()
}

/// Approximate number of messages on a queue (visible + in flight).
pub async fn depth(sqs: &SqsClient, queue_url: &str) -> usize {
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("queue attributes");
    let map = attrs.attributes().cloned().unwrap_or_default();
    [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .filter_map(|k| map.get(k).and_then(|v| v.parse::<usize>().ok()))
    .sum()
}

/// The SQS event Lambda's event source mapping would deliver for these received messages.
pub fn sqs_event(messages: &[Received]) -> serde_json::Value {
    sqs_event_from("arn:aws:sqs:us-east-1:123456789012:outbound", messages)
}

/// [`sqs_event`] for messages of the queue with ARN `queue_arn`.
pub fn sqs_event_from(queue_arn: &str, messages: &[Received]) -> serde_json::Value {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            let mut attributes = serde_json::json!({
                "ApproximateReceiveCount": m.receive_count.to_string(),
            });
            for (name, value) in [
                ("ApproximateFirstReceiveTimestamp", &m.first_received_ms),
                ("SentTimestamp", &m.sent_ms),
            ] {
                if let Some(value) = value {
                    attributes[name] = serde_json::Value::String(value.clone());
                }
            }
            if let Some(group) = &m.group_id {
                attributes["MessageGroupId"] = serde_json::Value::String(group.clone());
            }
            serde_json::json!({
                "messageId": m.message_id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "attributes": attributes,
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
}

pub async fn send_body(sqs: &SqsClient, queue_url: &str, body: &str, group: Option<&str>) {
    let mut req = sqs.send_message().queue_url(queue_url).message_body(body);
    if let Some(group) = group {
        req = req
            .message_group_id(group)
            .message_deduplication_id(format!("{:016x}", fastrand::u64(..)));
    }
    req.send().await.expect("send message");
}
