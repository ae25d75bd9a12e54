//! The local loop: deploys `template.yaml` itself into an AWS emulator (SAM transform offline,
//! moto's CloudFormation, `scripts/emulator-stack.py`), adds a demo service secret, and runs the
//! **function binaries** (`webhook-ingest`, `sender`) under a Lambda Runtime API emulator with
//! exactly the environment the stack gives them, plus the local endpoints (the emulator, the
//! mock Conversation API). A plain HTTP listener turns requests into API Gateway HTTP API
//! events for the ingest; a poller drives the sender like the stack's event source mapping
//! (its batch size and window, partial batch responses, the queue's visibility). What the
//! template says is what runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use base64::Engine as _;
use serde_json::{Value, json};
use sinch_bridge::protocol::{Region, SecretString};

use crate::mock::{MockApp, MockConfig, MockState};
use crate::runtime_api::RuntimeApi;

/// The function binaries the loop runs (the packages and binaries share their names).
pub const FUNCTIONS: [&str; 3] = ["webhook-ingest", "sender", "secret-rotation"];
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
    /// The loop's own choices over the template's defaults, so a demo of retries does not
    /// wait minutes: `RETRY_BASE_SECONDS` (whole seconds) and `SEND_TIMEOUT_MS`.
    pub send_timeout: Duration,
    pub retry_base: Duration,
    /// Where `webhook-ingest` and `sender` are (default: beside this program).
    pub bin_dir: Option<PathBuf>,
    /// Show the functions' own output (logs, EMF lines).
    pub show_function_output: bool,
    /// The stack's `ServiceSecretPrefix` (tests give each stack its own, so a rotation in one
    /// cannot touch another's secret on a shared emulator).
    pub secret_prefix: String,
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
            bin_dir: None,
            show_function_output: false,
            secret_prefix: sinch_bridge::service_cache::DEFAULT_SECRET_PREFIX.into(),
        }
    }
}

/// Queue URLs by logical id (`EventsQueue`, `OutboundQueue`, …), as the stack created them.
pub type QueueUrls = HashMap<String, String>;

pub struct LocalStack {
    pub queues: QueueUrls,
    pub webhook_url: String,
    pub mock_url: String,
    pub mock: Arc<MockState>,
    /// The secret-rotation function, invoked the way Secrets Manager would.
    rotation: RuntimeApi,
    pub secret_prefix: String,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The function processes; killed when the stack is dropped.
    _functions: Vec<tokio::process::Child>,
}

impl LocalStack {
    pub fn queue(&self, logical_id: &str) -> &str {
        self.queues.get(logical_id).map(String::as_str).unwrap_or_default()
    }

    /// Rotates `service`'s webhook secret now: the four steps, through the real function.
    pub async fn rotate(&self, service: &str) -> Result<Vec<String>, String> {
        crate::local_setup::rotate(&self.rotation, &format!("{}{service}", self.secret_prefix)).await
    }

    /// Stops every server and poller this stack started (the functions stop when it drops).
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
    #[error("deploying template.yaml into the emulator failed: {0}")]
    Deploy(String),
}

/// The repository's root (this crate is `tools/`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The stack as the emulator created it: queues by logical id, functions with their
/// environment and event sources.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub queues: QueueUrls,
    pub functions: HashMap<String, Value>,
}

/// Deploys `template.yaml` into the emulator with `scripts/emulator-stack.py` (the tools'
/// Python environment is installed on first use by `scripts/python-tools.sh`).
pub async fn deploy(config: &LocalConfig) -> Result<Deployed, LocalError> {
    let root = repo_root();
    let tools = tokio::process::Command::new("bash")
        .arg(root.join("scripts/python-tools.sh"))
        .stderr(Stdio::inherit())
        .output()
        .await
        .map_err(|e| LocalError::Deploy(format!("scripts/python-tools.sh: {e}")))?;
    let bin = String::from_utf8_lossy(&tools.stdout).trim().to_owned();
    let queue_type = if config.fifo { "fifo" } else { "standard" };
    let out = tokio::process::Command::new(Path::new(&bin).join("python"))
        .arg(root.join("scripts/emulator-stack.py"))
        .args([
            "deploy",
            "--endpoint",
            &config.endpoint_url,
            "--stack-name",
            &config.stack_name,
        ])
        .args([
            "--parameters".to_owned(),
            format!("ServiceNames={DEMO_SERVICE}"),
            format!("ServiceSecretPrefix={}", config.secret_prefix),
            format!("QueueType={queue_type}"),
            "EnableSentQueue=true".to_owned(),
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .await
        .map_err(|e| LocalError::Deploy(format!("scripts/emulator-stack.py: {e}")))?;
    let stack: Value = serde_json::from_slice(&out.stdout).map_err(|_| {
        LocalError::Deploy(format!(
            "no stack description: {}",
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or_default()
        ))
    })?;
    if stack["status"] != "CREATE_COMPLETE" {
        return Err(LocalError::Deploy(format!("{} {}", stack["status"], stack["reason"])));
    }
    let queues = stack["queues"]
        .as_object()
        .map(|q| {
            q.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let functions = stack["functions"]
        .as_object()
        .map(|f| f.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    Ok(Deployed { queues, functions })
}

/// Writes the demo service secret (the template never holds secrets).
pub async fn put_demo_secret(sdk: &aws_config::SdkConfig, prefix: &str) -> Result<(), LocalError> {
    let secrets = aws_sdk_secretsmanager::Client::new(sdk);
    let name = format!("{prefix}{DEMO_SERVICE}");
    let value = demo_secret().to_string();
    if secrets
        .create_secret()
        .name(&name)
        .secret_string(&value)
        .send()
        .await
        .is_err()
    {
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
    Ok(())
}

/// The demo service: region eu, one app, OAuth2 against the mock.
pub fn demo_secret() -> Value {
    json!({
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

/// The directory holding the function binaries: given, else beside this program (or one up,
/// for a test executable under `target/debug/deps`).
fn bin_dir(config: &LocalConfig) -> Result<PathBuf, LocalError> {
    if let Some(dir) = &config.bin_dir {
        return Ok(dir.clone());
    }
    let exe = std::env::current_exe().map_err(|e| LocalError::Config(e.to_string()))?;
    let candidates = exe.ancestors().skip(1).take(2);
    for dir in candidates {
        if FUNCTIONS.iter().all(|f| dir.join(f).exists()) {
            return Ok(dir.to_path_buf());
        }
    }
    Err(LocalError::Config(format!(
        "the function binaries are not built: cargo build -p {}",
        FUNCTIONS.join(" -p ")
    )))
}

/// A function binary, started under its own Runtime API emulator with the stack's environment
/// for it, the emulator's endpoint and credentials, and `extra`.
async fn start_function(
    config: &LocalConfig,
    binary: &Path,
    function: &Value,
    extra: &[(&str, String)],
) -> Result<(RuntimeApi, tokio::task::JoinHandle<()>, tokio::process::Child), LocalError> {
    let listener = listen(0).await?;
    let api_addr = listener.local_addr().map_err(|e| LocalError::Config(e.to_string()))?;
    let name = function["name"].as_str().unwrap_or("function").to_owned();
    let timeout = Duration::from_secs(function["timeout"].as_u64().unwrap_or(30));
    let (api, task) = RuntimeApi::spawn(listener, &name, timeout);
    let mut command = tokio::process::Command::new(binary);
    command.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    for (key, value) in function["environment"].as_object().into_iter().flatten() {
        // moto hands numbers back as numbers.
        let value = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
        command.env(key, value);
    }
    command
        .env("AWS_ENDPOINT_URL", &config.endpoint_url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_LAMBDA_RUNTIME_API", api_addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", &name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "local");
    for (key, value) in extra {
        command.env(key, value);
    }
    let output = || {
        if config.show_function_output {
            Stdio::inherit()
        } else {
            Stdio::null()
        }
    };
    let child = command
        .stdout(output())
        .stderr(output())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| LocalError::Config(format!("cannot start {}: {e}", binary.display())))?;
    Ok((api, task, child))
}

/// Deploys, provisions and starts everything; returns once all servers listen.
pub async fn start(config: LocalConfig) -> Result<LocalStack, LocalError> {
    let sdk = crate::aws::sdk_config(Some(&config.endpoint_url), None).await;
    let deployed = deploy(&config).await?;
    put_demo_secret(&sdk, &config.secret_prefix).await?;
    let bins = bin_dir(&config)?;
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
            display_name: "Local demo".into(),
            // registered through the API by LocalStack::register_demo_webhook
            webhooks: Vec::new(),
            ..MockApp::new(DEMO_APP_ID, Region::Eu, DEMO_PROJECT)
        }],
        credentials: HashMap::from([("demo-key".to_owned(), SecretString::new("demo-key-secret"))]),
        callback_delay: config.callback_delay,
        send_callbacks: true,
    };
    let callbacks = crate::http::client().map_err(LocalError::Config)?;
    let (mock_task, mock) = crate::mock::spawn(mock_listener, mock_config, callbacks);

    let function = |id: &str| {
        deployed
            .functions
            .get(id)
            .cloned()
            .ok_or_else(|| LocalError::Deploy(format!("the stack has no {id}")))
    };
    let ingest_fn = function("WebhookIngestFunction")?;
    let sender_fn = function("SenderFunction")?;
    // The loop's own choice, like its retry settings: a forced secret reload may happen every
    // 2 s instead of 30 s, so a rotation's setSecret waits seconds, not half a minute.
    let refresh = ("SECRET_REFRESH_MIN_INTERVAL_SECONDS", "2".to_owned());
    let (ingest, ingest_api, ingest_child) = start_function(
        &config,
        &bins.join("webhook-ingest"),
        &ingest_fn,
        std::slice::from_ref(&refresh),
    )
    .await?;
    let sender_extra = [
        ("SINCH_AUTH_URL", format!("{mock_url}/oauth2/token")),
        ("CONVERSATION_API_URL", mock_url.clone()),
        ("RETRY_BASE_SECONDS", config.retry_base.as_secs().max(1).to_string()),
        ("RETRY_MAX_SECONDS", "60".to_owned()),
        ("SEND_TIMEOUT_MS", config.send_timeout.as_millis().to_string()),
    ];
    let (sender, sender_api, sender_child) =
        start_function(&config, &bins.join("sender"), &sender_fn, &sender_extra).await?;
    let rotation_fn = function("SecretRotationFunction")?;
    let rotation_extra = [
        ("SINCH_AUTH_URL", format!("{mock_url}/oauth2/token")),
        ("CONVERSATION_API_URL", mock_url.clone()),
        ("WEBHOOK_BASE_URL", webhook_url.clone()),
        refresh,
    ];
    let (rotation, rotation_api, rotation_child) =
        start_function(&config, &bins.join("secret-rotation"), &rotation_fn, &rotation_extra).await?;
    let demo = sinch_bridge::protocol::MessagingService::from_json(DEMO_SERVICE, demo_secret().to_string().as_bytes())
        .map_err(|e| LocalError::Config(e.to_string()))?;
    crate::local_setup::register_webhooks(&mock_url, &demo, &webhook_url)
        .await
        .map_err(|e| LocalError::Config(format!("registering the demo webhook: {e}")))?;

    let webhook_task = tokio::spawn(serve_webhooks(
        webhook_listener,
        ingest,
        (rotation.clone(), config.secret_prefix.clone()),
    ));
    let mapping = sender_fn["event_sources"].get(0).cloned().unwrap_or(Value::Null);
    let outbound = deployed.queues.get("OutboundQueue").cloned().unwrap_or_default();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let poll_task = tokio::spawn(poll_outbound(sqs, outbound, sender, EventSource::from(&mapping)));

    Ok(LocalStack {
        queues: deployed.queues,
        webhook_url,
        mock_url,
        mock,
        rotation,
        secret_prefix: config.secret_prefix.clone(),
        tasks: vec![mock_task, webhook_task, poll_task, ingest_api, sender_api, rotation_api],
        _functions: vec![ingest_child, sender_child, rotation_child],
    })
}

async fn serve_webhooks(listener: tokio::net::TcpListener, ingest: RuntimeApi, rotation: (RuntimeApi, String)) {
    let rotate = axum::Router::new()
        .route("/_local/rotate/{service}", axum::routing::post(rotate_now))
        .with_state(rotation);
    let router = axum::Router::new()
        .route("/webhooks/{service}", axum::routing::post(webhook))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(ingest)
        .merge(rotate);
    if let Err(e) = axum::serve(listener, router).await {
        tracing::error!(error = %e, "webhook server stopped");
    }
}

/// `POST /_local/rotate/{service}`: what `bridgectl service rotate --now` does in AWS.
async fn rotate_now(
    axum::extract::State((rotation, prefix)): axum::extract::State<(RuntimeApi, String)>,
    axum::extract::Path(service): axum::extract::Path<String>,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let secret_id = format!("{prefix}{service}");
    match crate::local_setup::rotate(&rotation, &secret_id).await {
        Ok(steps) => axum::Json(json!({"rotated": secret_id, "steps": steps})).into_response(),
        Err(e) => (axum::http::StatusCode::BAD_GATEWAY, axum::Json(json!({"error": e}))).into_response(),
    }
}

/// What API Gateway (HTTP API, payload 2.0) would hand the function for this request.
fn api_gateway_event(service: &str, headers: &axum::http::HeaderMap, body: &[u8]) -> Value {
    let mut joined: serde_json::Map<String, Value> = serde_json::Map::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        let entry = joined
            .entry(name.as_str().to_owned())
            .or_insert(Value::String(String::new()));
        // HTTP APIs fold a repeated header into one comma-separated value.
        if let Value::String(existing) = entry {
            if !existing.is_empty() {
                existing.push(',');
            }
            existing.push_str(&value);
        }
    }
    let (body, encoded) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    let path = format!("/webhooks/{service}");
    let id = crate::ulid::generate();
    json!({
        "version": "2.0",
        "routeKey": "POST /webhooks/{service}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": joined,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "domainPrefix": "local",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "local"},
            "requestId": id,
            "routeKey": "POST /webhooks/{service}",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 0
        },
        "pathParameters": {"service": service},
        "body": body,
        "isBase64Encoded": encoded
    })
}

/// Hands a plain HTTP request to the ingest function as API Gateway would, and its answer back.
async fn webhook(
    axum::extract::State(ingest): axum::extract::State<RuntimeApi>,
    axum::extract::Path(service): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let event = api_gateway_event(&service, &headers, &body);
    match ingest.invoke(event).await {
        Ok(answer) => {
            let status = answer["statusCode"]
                .as_u64()
                .and_then(|s| u16::try_from(s).ok())
                .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
                .unwrap_or(axum::http::StatusCode::BAD_GATEWAY);
            let text = answer["body"].as_str().unwrap_or_default().to_owned();
            let body = if answer["isBase64Encoded"] == true {
                base64::engine::general_purpose::STANDARD
                    .decode(&text)
                    .unwrap_or_default()
            } else {
                text.into_bytes()
            };
            (status, [(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        // What API Gateway answers when the function fails or times out.
        Err(e) => {
            tracing::error!(error = %e, "webhook-ingest invocation failed");
            (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"message":"Internal Server Error"}"#,
            )
                .into_response()
        }
    }
}

/// The stack's SQS event source mapping for the sender.
struct EventSource {
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
async fn poll_outbound(sqs: aws_sdk_sqs::Client, queue_url: String, sender: RuntimeApi, source: EventSource) {
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
            record.event_source = Some("aws:sqs".into());
            event.records.push(record);
        }
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
