//! The local loop: provisions the stack's queues and a demo service secret on an AWS emulator,
//! and runs the mock Conversation API, webhook-ingest behind a plain HTTP server, and the sender
//! polling the outbound queue with Lambda's batch semantics. Both functions run the same handler
//! code as in Lambda (`webhook_ingest::handle`, `sender::handle`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use sinch_bridge::adapters::{HttpsSinchClient, SecretsManagerStore, SqsQueues, https_client};
use sinch_bridge::clock::SystemClock;
use sinch_bridge::ingest::{Ingest, IngestConfig};
use sinch_bridge::metrics::Metrics;
use sinch_bridge::protocol::{Region, SecretString};
use sinch_bridge::send::{Sender, SenderConfig};
use sinch_bridge::service_cache::{ServiceCache, ServiceCacheConfig};

use crate::mock::{MockApp, MockConfig, MockState};
use crate::stack::QUEUES;

/// The demo messaging service the local loop provisions.
pub const DEMO_SERVICE: &str = "demo";
pub const DEMO_APP_ID: &str = "01HZX5DEM0APP00000000000AA";
pub const DEMO_WEBHOOK_SECRET: &str = "local-demo-webhook-secret";
pub const DEMO_PROJECT: &str = "demo-project";

#[derive(Debug, Clone)]
pub struct LocalConfig {
    pub endpoint_url: String,
    pub stack_name: String,
    pub fifo: bool,
    pub webhook_port: u16,
    pub mock_port: u16,
    pub callback_delay: Duration,
    pub send_timeout: Duration,
    pub retry_base: Duration,
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            endpoint_url: "http://127.0.0.1:5055".into(),
            stack_name: "local".into(),
            fifo: true,
            webhook_port: 3000,
            mock_port: 3010,
            callback_delay: Duration::from_millis(300),
            send_timeout: Duration::from_secs(5),
            retry_base: Duration::from_secs(2),
        }
    }
}

/// Queue URLs by logical id (`EventsQueue`, `OutboundQueue`, …).
pub type QueueUrls = HashMap<&'static str, String>;

pub struct LocalStack {
    pub queues: QueueUrls,
    pub webhook_url: String,
    pub mock_url: String,
    pub mock: Arc<MockState>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl LocalStack {
    pub fn queue(&self, logical_id: &str) -> &str {
        self.queues.get(logical_id).map(String::as_str).unwrap_or_default()
    }

    /// Stops every server and poller this stack started.
    pub fn stop(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        self.stop();
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("{0}")]
    Aws(String),
    #[error("cannot listen on 127.0.0.1:{port}: {error}")]
    Listen { port: u16, error: std::io::Error },
    #[error("{0}")]
    Config(String),
}

/// Creates the template's queues (with their redrive policies) and the demo service secret.
/// Safe to run again: existing queues and secrets are reused, the secret value refreshed.
pub async fn provision(config: &LocalConfig, sdk: &aws_config::SdkConfig) -> Result<QueueUrls, LocalError> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut urls = QueueUrls::new();
    // Dead-letter queues first, so the sources can point at them.
    let ordered = QUEUES
        .iter()
        .filter(|q| q.dead_letter.is_none())
        .chain(QUEUES.iter().filter(|q| q.dead_letter.is_some()));
    for spec in ordered {
        let name = spec.name(&config.stack_name, config.fifo);
        let mut request = sqs
            .create_queue()
            .queue_name(&name)
            .attributes(QueueAttributeName::SqsManagedSseEnabled, "true");
        if name.ends_with(".fifo") {
            request = request
                .attributes(QueueAttributeName::FifoQueue, "true")
                .attributes(QueueAttributeName::ContentBasedDeduplication, "false");
        }
        if spec.logical_id == "OutboundQueue" {
            request = request.attributes(QueueAttributeName::VisibilityTimeout, "60");
        }
        if let Some(dlq) = spec.dead_letter {
            let dlq_url = urls.get(dlq).cloned().unwrap_or_default();
            let arn = sqs
                .get_queue_attributes()
                .queue_url(&dlq_url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .map_err(|e| LocalError::Aws(format!("GetQueueAttributes {dlq}: {e}")))?
                .attributes()
                .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
                .unwrap_or_default();
            let policy = serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": "5"}).to_string();
            request = request.attributes(QueueAttributeName::RedrivePolicy, policy);
        }
        let url = request
            .send()
            .await
            .map_err(|e| {
                LocalError::Aws(format!(
                    "CreateQueue {name}: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                ))
            })?
            .queue_url()
            .unwrap_or_default()
            .to_owned();
        urls.insert(spec.logical_id, url);
    }
    let secrets = aws_sdk_secretsmanager::Client::new(sdk);
    let name = ServiceCacheConfig::default().secret_name(DEMO_SERVICE);
    let value = demo_secret().to_string();
    let created = secrets.create_secret().name(&name).secret_string(&value).send().await;
    if created.is_err() {
        secrets
            .put_secret_value()
            .secret_id(&name)
            .secret_string(&value)
            .send()
            .await
            .map_err(|e| {
                LocalError::Aws(format!(
                    "PutSecretValue {name}: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                ))
            })?;
    }
    Ok(urls)
}

/// The demo service: region eu, one app, OAuth2 against the mock.
pub fn demo_secret() -> serde_json::Value {
    serde_json::json!({
        "region": "eu",
        "project_id": DEMO_PROJECT,
        "key_id": "demo-key",
        "key_secret": "demo-key-secret",
        "webhook_secret": DEMO_WEBHOOK_SECRET,
        "sms_sender": "+15550001111",
        "apps": { DEMO_APP_ID: {} }
    })
}

async fn listen(port: u16) -> Result<tokio::net::TcpListener, LocalError> {
    tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|error| LocalError::Listen { port, error })
}

/// Provisions and starts everything; returns once all servers listen.
pub async fn start(config: LocalConfig) -> Result<LocalStack, LocalError> {
    let sdk = crate::aws::sdk_config(Some(&config.endpoint_url), None).await;
    let queues = provision(&config, &sdk).await?;
    let webhook_listener = listen(config.webhook_port).await?;
    let mock_listener = listen(config.mock_port).await?;
    let webhook_port = webhook_listener
        .local_addr()
        .map(|a| a.port())
        .unwrap_or(config.webhook_port);
    let mock_port = mock_listener.local_addr().map(|a| a.port()).unwrap_or(config.mock_port);
    let webhook_url = format!("http://127.0.0.1:{webhook_port}/webhooks/");
    let mock_url = format!("http://127.0.0.1:{mock_port}");

    let mock_config = MockConfig {
        apps: vec![MockApp {
            app_id: DEMO_APP_ID.into(),
            region: Region::Eu,
            project_id: DEMO_PROJECT.into(),
            webhook_url: format!("{webhook_url}{DEMO_SERVICE}"),
            webhook_secret: SecretString::new(DEMO_WEBHOOK_SECRET),
        }],
        credentials: HashMap::from([("demo-key".to_owned(), SecretString::new("demo-key-secret"))]),
        callback_delay: config.callback_delay,
        send_callbacks: true,
    };
    let https = https_client().map_err(|e| LocalError::Config(e.to_string()))?;
    let callbacks = crate::http::client().map_err(LocalError::Config)?;
    let (mock_task, mock) = crate::mock::spawn(mock_listener, mock_config, callbacks);

    let clock = Arc::new(SystemClock);
    let secrets = SecretsManagerStore::new(aws_sdk_secretsmanager::Client::new(&sdk));
    let services = Arc::new(ServiceCache::new(secrets, clock.clone(), ServiceCacheConfig::default()));
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let get = |id: &str| queues.get(id).cloned().unwrap_or_default();

    let ingest_config = IngestConfig {
        events_queue_url: get("EventsQueue"),
        ..IngestConfig::default()
    };
    let ingest = Arc::new(Ingest::new(
        services.clone(),
        SqsQueues::new(sqs.clone()),
        clock.clone(),
        ingest_config,
        Metrics::discard("webhook-ingest"),
    ));
    let webhook_task = tokio::spawn(serve_webhooks(webhook_listener, ingest));

    let sender_config = SenderConfig {
        services: vec![DEMO_SERVICE.into()],
        auth_url: format!("{mock_url}/oauth2/token"),
        api_base_override: Some(mock_url.clone()),
        outbound_queue_url: get("OutboundQueue"),
        dlq_url: get("OutboundDeadLetterQueue"),
        sent_queue_url: Some(get("SentQueue")),
        retry_base: config.retry_base,
        // The loop's own choice: a short cap so a demo of retries does not wait 15 minutes.
        retry_max: Duration::from_secs(60),
        send_timeout: config.send_timeout,
        ..SenderConfig::default()
    };
    let http = HttpsSinchClient::new(https, sender_config.send_timeout);
    let sender = Arc::new(Sender::new(
        services,
        http,
        SqsQueues::new(sqs.clone()),
        clock,
        sender_config,
        Metrics::discard("sender"),
    ));
    let poll_task = tokio::spawn(poll_outbound(sqs, get("OutboundQueue"), sender));

    Ok(LocalStack {
        queues,
        webhook_url,
        mock_url,
        mock,
        tasks: vec![mock_task, webhook_task, poll_task],
    })
}

type LocalIngest = Ingest<SecretsManagerStore, SqsQueues>;

async fn serve_webhooks(listener: tokio::net::TcpListener, ingest: Arc<LocalIngest>) {
    let router = axum::Router::new()
        .route("/webhooks/{service}", axum::routing::post(webhook))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(ingest);
    if let Err(e) = axum::serve(listener, router).await {
        tracing::error!(error = %e, "webhook server stopped");
    }
}

/// Adapts a plain HTTP request to the Lambda handler, exactly as API Gateway would hand it over.
async fn webhook(
    axum::extract::State(ingest): axum::extract::State<Arc<LocalIngest>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let limit = ingest.config().max_body_bytes.saturating_add(1);
    let bytes = axum::body::to_bytes(body, limit).await.unwrap_or_default();
    let request = lambda_http::http::Request::from_parts(parts, lambda_http::Body::from(bytes.to_vec()));
    let response = webhook_ingest::handle(&ingest, request).await;
    let (parts, body) = response.into_parts();
    axum::response::Response::from_parts(parts, axum::body::Body::from(body.to_vec()))
}

type LocalSender = Sender<SecretsManagerStore, HttpsSinchClient, SqsQueues>;

/// Lambda's SQS event source, in miniature: long-poll up to 10 messages, run the handler,
/// delete what it did not report as failed (failed ones keep the visibility it gave them).
async fn poll_outbound(sqs: aws_sdk_sqs::Client, queue_url: String, sender: Arc<LocalSender>) {
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await;
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "receive from the outbound queue failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let mut event = SqsEvent::default();
        for m in &messages {
            let mut record = SqsMessage::default();
            record.message_id = m.message_id.clone();
            record.receipt_handle = m.receipt_handle.clone();
            record.body = m.body.clone();
            record.attributes = m
                .attributes()
                .map(|a| a.iter().map(|(k, v)| (k.as_str().to_owned(), v.clone())).collect())
                .unwrap_or_default();
            event.records.push(record);
        }
        let failed: Vec<String> = match sender::handle(
            &sender,
            lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default()),
        )
        .await
        {
            Ok(response) => response
                .batch_item_failures
                .into_iter()
                .map(|f| f.item_identifier)
                .collect(),
            Err(e) => {
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
