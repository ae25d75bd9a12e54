//! The floor for #28 (BENCHMARKS.md, section 8): the Python peer's webhook steps
//! (`scripts/bench/peers/webhook.py`) in Rust, calling AWS through the SDK's own signing crate
//! (`aws-sigv4`) and our HTTP client, with no SDK client, no orchestrator, no interceptors and
//! no `lambda_runtime`. It answers how much of our CPU per invocation the SDK and the Lambda
//! crates take, and what is left with them gone: the round trips themselves.
//!
//! With `FLOOR_SDK=1` its `SendMessage` goes through the SDK's client instead, configured as the
//! functions' (`sdk_config`): the difference is the SDK's share.
//!
//! Benchmark code only: no replay protection, no metrics, minimal error handling (a failure
//! answers 500 with the error's text, which a function of the product must never do).
//! Run by `BENCH_FLOOR=target/release/examples/webhook_floor scripts/bench/whole_function.py`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sdk_sqs::types::MessageAttributeValue;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sinch_bridge::adapters::{AwsSettings, HttpsClient, https_client, sdk_config};
use sinch_bridge::config::process_env;

const TRIGGERS: [(&str, &str); 6] = [
    ("message", "MESSAGE_INBOUND"),
    ("message_delivery_report", "MESSAGE_DELIVERY"),
    ("event", "EVENT_INBOUND"),
    ("event_delivery_report", "EVENT_DELIVERY"),
    ("contact_create_notification", "CONTACT_CREATE"),
    ("conversation_start_notification", "CONVERSATION_START"),
];

struct Aws {
    http: HttpsClient,
    endpoint: String,
    region: String,
    identity: Identity,
}

impl Aws {
    /// One AWS JSON-protocol call, signed with SigV4.
    async fn call(&self, service: &str, target: &str, content_type: &str, body: Vec<u8>) -> Result<Value, String> {
        let settings = SigningSettings::default();
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name(service)
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let headers = [("content-type", content_type), ("x-amz-target", target)];
        let signable = SignableRequest::new(
            "POST",
            &self.endpoint,
            headers.iter().copied(),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params).map_err(|e| e.to_string())?.into_parts();
        let mut request = http::Request::post(&self.endpoint)
            .header("content-type", content_type)
            .header("x-amz-target", target)
            .body(Bytes::from(body))
            .map_err(|e| e.to_string())?;
        instructions.apply_to_request_http1x(&mut request);
        let answer = self.http.send(request, 1 << 20).await.map_err(|e| e.to_string())?;
        if !answer.status().is_success() {
            return Err(format!("{target}: {}", answer.status()));
        }
        serde_json::from_slice(answer.body()).map_err(|e| e.to_string())
    }
}

struct Handler {
    aws: Aws,
    queue_url: String,
    /// `FLOOR_SDK=1`: `SendMessage` through the SDK's client, configured as the functions'.
    sdk: Option<aws_sdk_sqs::Client>,
    prefix: String,
    /// `NONCE_TABLE_NAME`: ours' table mode, the claim before the enqueue and the confirmation
    /// after the answer (two DynamoDB calls).
    nonce_table: Option<String>,
    claimed: Option<String>,
    secrets: HashMap<String, (String, Instant)>,
}

impl Handler {
    async fn secret(&mut self, service: &str) -> Result<String, String> {
        if let Some((value, until)) = self.secrets.get(service)
            && *until > Instant::now()
        {
            return Ok(value.clone());
        }
        let body = serde_json::to_vec(&json!({"SecretId": format!("{}{service}", self.prefix)})).unwrap();
        let answer = self
            .aws
            .call(
                "secretsmanager",
                "secretsmanager.GetSecretValue",
                "application/x-amz-json-1.1",
                body,
            )
            .await?;
        let string: Value =
            serde_json::from_str(answer["SecretString"].as_str().unwrap_or("{}")).map_err(|e| e.to_string())?;
        let value = string["webhook_secret"].as_str().ok_or("no webhook_secret")?.to_owned();
        self.secrets.insert(
            service.to_owned(),
            (value.clone(), Instant::now() + Duration::from_secs(300)),
        );
        Ok(value)
    }

    async fn handle(&mut self, event: &Value) -> Result<(u16, Value), String> {
        let service = event["pathParameters"]["service"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let mut body = event["body"].as_str().unwrap_or_default().to_owned();
        if event["isBase64Encoded"].as_bool() == Some(true) {
            body = String::from_utf8_lossy(&STANDARD.decode(&body).map_err(|e| e.to_string())?).into_owned();
        }
        let header = |name: &str| event["headers"][name].as_str().unwrap_or_default().to_owned();
        let (signature, nonce, timestamp) = (
            header("x-sinch-webhook-signature"),
            header("x-sinch-webhook-signature-nonce"),
            header("x-sinch-webhook-signature-timestamp"),
        );
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        let fresh = timestamp.parse::<i64>().is_ok_and(|t| (now - t).abs() <= 600);
        if signature.is_empty() || nonce.is_empty() || !fresh {
            return Ok((401, json!({"error": "invalid_signature"})));
        }
        let secret = self.secret(&service).await?;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|e| e.to_string())?;
        mac.update(format!("{body}.{nonce}.{timestamp}").as_bytes());
        let Ok(expected) = STANDARD.decode(&signature) else {
            return Ok((401, json!({"error": "invalid_signature"})));
        };
        if mac.verify_slice(&expected).is_err() {
            return Ok((401, json!({"error": "invalid_signature"})));
        }
        if let Some(table) = &self.nonce_table {
            // The claim before the enqueue, conditional as ours (a replay finds the nonce).
            let claim = json!({
                "TableName": table,
                "Item": {"nonce": {"S": format!("{service}:{nonce}")}, "expires_at": {"N": (now + 60).to_string()}},
                "ConditionExpression": "attribute_not_exists(nonce) OR expires_at < :now",
                "ExpressionAttributeValues": {":now": {"N": now.to_string()}},
            });
            self.aws
                .call(
                    "dynamodb",
                    "DynamoDB_20120810.PutItem",
                    "application/x-amz-json-1.0",
                    serde_json::to_vec(&claim).unwrap(),
                )
                .await?;
            self.claimed = Some(format!("{service}:{nonce}"));
        }
        let callback: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        let (key, trigger) = TRIGGERS
            .iter()
            .find(|(key, _)| callback.get(key).is_some())
            .copied()
            .unwrap_or(("", "UNSUPPORTED"));
        let inner = &callback[key];
        let group = inner["conversation_id"]
            .as_str()
            .or(callback["app_id"].as_str())
            .unwrap_or("none");
        let dedup = hex(&Sha256::digest(format!(
            "{service}:{}",
            inner["id"].as_str().unwrap_or(&body)
        )));
        let app_id = callback["app_id"].as_str().unwrap_or_default();
        match &self.sdk {
            Some(sqs) => {
                let attribute = |value: &str| {
                    MessageAttributeValue::builder()
                        .data_type("String")
                        .string_value(value)
                        .build()
                        .unwrap()
                };
                sqs.send_message()
                    .queue_url(&self.queue_url)
                    .message_body(&body)
                    .message_group_id(format!("{service}:conversation-{group}"))
                    .message_deduplication_id(dedup)
                    .message_attributes("service", attribute(&service))
                    .message_attributes("trigger", attribute(trigger))
                    .message_attributes("app_id", attribute(app_id))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
            }
            None => {
                let request = json!({
                    "QueueUrl": self.queue_url,
                    "MessageBody": body,
                    "MessageGroupId": format!("{service}:conversation-{group}"),
                    "MessageDeduplicationId": dedup,
                    "MessageAttributes": {
                        "service": {"DataType": "String", "StringValue": service},
                        "trigger": {"DataType": "String", "StringValue": trigger},
                        "app_id": {"DataType": "String", "StringValue": app_id},
                    },
                });
                self.aws
                    .call(
                        "sqs",
                        "AmazonSQS.SendMessage",
                        "application/x-amz-json-1.0",
                        serde_json::to_vec(&request).unwrap(),
                    )
                    .await?;
            }
        }
        println!(
            "{}",
            json!({"level": "INFO", "service": service, "trigger": trigger, "outcome": "stored"})
        );
        Ok((200, json!({"status": "stored", "trigger": trigger})))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let http = https_client().unwrap();
    let identity: Identity = Credentials::new(
        env("AWS_ACCESS_KEY_ID"),
        env("AWS_SECRET_ACCESS_KEY"),
        std::env::var("AWS_SESSION_TOKEN").ok(),
        None,
        "lambda-environment",
    )
    .into();
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| format!("https://sqs.{region}.amazonaws.com"));
    let mut handler = Handler {
        aws: Aws {
            http: http.clone(),
            endpoint: format!("{}/", endpoint.trim_end_matches('/')),
            region,
            identity,
        },
        queue_url: env("EVENTS_QUEUE_URL"),
        sdk: std::env::var("FLOOR_SDK").ok().map(|_| {
            let settings = AwsSettings::from_env(&process_env).unwrap();
            aws_sdk_sqs::Client::new(&sdk_config(settings, http.clone()))
        }),
        nonce_table: std::env::var("NONCE_TABLE_NAME").ok(),
        claimed: None,
        prefix: std::env::var("SERVICE_SECRET_PREFIX").unwrap_or_else(|_| "sinch-bridge/services/".into()),
        secrets: HashMap::new(),
    };
    let runtime = format!("http://{}/2018-06-01/runtime/invocation", env("AWS_LAMBDA_RUNTIME_API"));
    loop {
        let next = http::Request::get(format!("{runtime}/next"))
            .body(Bytes::new())
            .unwrap();
        let next = http.send(next, 6 << 20).await.unwrap();
        let request_id = next.headers()["lambda-runtime-aws-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let event: Value = serde_json::from_slice(next.body()).unwrap();
        let (status, body) = handler
            .handle(&event)
            .await
            .unwrap_or_else(|e| (500, json!({"error": e})));
        let answer =
            json!({"statusCode": status, "headers": {"content-type": "application/json"}, "body": body.to_string()});
        let post = http::Request::post(format!("{runtime}/{request_id}/response"))
            .body(Bytes::from(serde_json::to_vec(&answer).unwrap()))
            .unwrap();
        http.send(post, 1 << 16).await.unwrap();
        if let (Some(table), Some(key)) = (&handler.nonce_table, handler.claimed.take()) {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
            let confirm = json!({
                "TableName": table,
                "Key": {"nonce": {"S": key}},
                "UpdateExpression": "SET expires_at = :until",
                "ExpressionAttributeValues": {":until": {"N": (now + 1200).to_string()}},
            });
            let confirm = serde_json::to_vec(&confirm).unwrap();
            if let Err(e) = handler
                .aws
                .call(
                    "dynamodb",
                    "DynamoDB_20120810.UpdateItem",
                    "application/x-amz-json-1.0",
                    confirm,
                )
                .await
            {
                eprintln!("confirmation failed: {e}");
            }
        }
    }
}
