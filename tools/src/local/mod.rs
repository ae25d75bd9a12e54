//! The local loop: deploys `template.yaml` itself into an AWS emulator (`deploy`), adds the demo
//! service secret (`demo`), and runs the **function binaries** under Lambda Runtime API
//! emulators with exactly the environment the stack gives them, plus the local endpoints
//! (`processes`). A plain HTTP listener plays API Gateway for the ingest (`gateway`); a poller
//! plays the sender's SQS event source mapping (`event_source`); `setup` registers the demo
//! webhook and plays Secrets Manager for a rotation. What the template says is what runs.

mod demo;
mod deploy;
mod event_source;
mod gateway;
mod processes;
pub mod setup;

pub use demo::{DEMO_APP_ID, DEMO_PROJECT, DEMO_SERVICE, DEMO_WEBHOOK_SECRET, demo_secret};
pub use deploy::{Deployed, deploy};
pub use processes::FUNCTIONS;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::mock::MockState;
use crate::runtime_api::RuntimeApi;

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
        setup::rotate(&self.rotation, &format!("{}{service}", self.secret_prefix)).await
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

async fn listen(port: u16) -> Result<tokio::net::TcpListener, LocalError> {
    tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|error| LocalError::Listen { port, error })
}

/// Deploys, provisions and starts everything; returns once all servers listen.
pub async fn start(config: LocalConfig) -> Result<LocalStack, LocalError> {
    let sdk = crate::aws::sdk_config(Some(&config.endpoint_url), None).await;
    let deployed = deploy(&config).await?;
    demo::put_demo_secret(&sdk, &config.secret_prefix).await?;
    let webhook_listener = listen(config.webhook_port).await?;
    let mock_listener = listen(config.mock_port).await?;
    let port = |l: &tokio::net::TcpListener, or: u16| l.local_addr().map(|a| a.port()).unwrap_or(or);
    let webhook_url = format!(
        "http://127.0.0.1:{}/webhooks/",
        port(&webhook_listener, config.webhook_port)
    );
    let mock_url = format!("http://127.0.0.1:{}", port(&mock_listener, config.mock_port));

    let callbacks = crate::http::client().map_err(LocalError::Config)?;
    let (mock_task, mock) = crate::mock::spawn(mock_listener, demo::mock_config(config.callback_delay), callbacks);
    let functions = processes::start_all(&config, &deployed, &mock_url, &webhook_url).await?;
    let demo = sinch_bridge::protocol::MessagingService::from_json(DEMO_SERVICE, demo_secret().to_string().as_bytes())
        .map_err(|e| LocalError::Config(e.to_string()))?;
    setup::register_webhooks(&mock_url, &demo, &webhook_url)
        .await
        .map_err(|e| LocalError::Config(format!("registering the demo webhook: {e}")))?;

    let rotation = functions.rotation.api.clone();
    let webhook_task = tokio::spawn(gateway::serve_webhooks(
        webhook_listener,
        functions.ingest.api.clone(),
        (rotation.clone(), config.secret_prefix.clone()),
    ));
    // One poller per event source of the sender (the outbound queue's and the retry queue's),
    // each on the queue its mapping names.
    let mut pollers = Vec::new();
    for mapping in &functions.sender_mappings {
        let arn = mapping["EventSourceArn"].as_str().unwrap_or_default();
        let name = arn.rsplit(':').next().unwrap_or_default();
        let Some(url) = deployed
            .queues
            .values()
            .find(|url| url.rsplit('/').next() == Some(name))
        else {
            continue;
        };
        pollers.push(tokio::spawn(event_source::poll_outbound(
            aws_sdk_sqs::Client::new(&sdk),
            url.clone(),
            functions.sender.api.clone(),
            event_source::EventSource::from(mapping),
        )));
    }
    let (mut tasks, children) = functions.into_parts();
    tasks.extend([mock_task, webhook_task]);
    tasks.extend(pollers);
    Ok(LocalStack {
        queues: deployed.queues,
        webhook_url,
        mock_url,
        mock,
        rotation,
        secret_prefix: config.secret_prefix.clone(),
        tasks,
        _functions: children,
    })
}
