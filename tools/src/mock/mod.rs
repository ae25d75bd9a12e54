//! A mock Sinch Conversation API for tests and the local loop. This module owns the mock's
//! configuration (apps, access keys), its mutable state (tokens, recorded sends, faults,
//! registered webhooks, callback outcomes), the router, and the helpers every endpoint shares
//! (credentials, Sinch's wrapped error body). The endpoints live in the submodules:
//!
//! - [`send`]: `POST /oauth2/token` and `POST /{region}/v1/projects/{project}/messages:send`,
//!   validated and answered as Sinch documents, with injected faults.
//! - [`management`]: apps (`GET …/apps`, `GET …/apps/{app}`) and webhooks (`GET …/apps/{app}/
//!   webhooks`, `POST …/webhooks`, `GET|PATCH|DELETE …/webhooks/{id}`) under the same prefix
//!   and credentials as `messages:send`, with Sinch's limits and error bodies.
//! - [`webhook`]: the registered webhook, its validation and update masks.
//! - [`callbacks`]: MESSAGE_DELIVERY callbacks to the webhooks registered for the app that
//!   subscribed to the trigger, each signed with that webhook's secret as read at send time
//!   (`POST /_mock/callbacks` `{"app_id":…,"count":N}` sends them).
//! - [`control`]: the mock's own endpoints (`/_mock/requests`, `/_mock/faults`,
//!   `/_mock/secret-reads`, `/_mock/webhooks`); `GET|DELETE /_mock/management`,
//!   `POST|GET|DELETE /_mock/callbacks` and `GET /_mock/health` are served beside their owners.

mod callbacks;
mod control;
mod management;
mod send;
mod webhook;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use sinch_bridge::protocol::{Region, SecretString};

pub use callbacks::CallbackTally;
pub use webhook::{MAX_TARGET_CHARS, MAX_WEBHOOKS_PER_APP, TargetType, Webhook};

/// An app's processing mode. In Dispatch mode Sinch keeps no conversations or contacts, so
/// callbacks carry empty `conversation_id` and `contact_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessingMode {
    Conversation,
    Dispatch,
}

impl ProcessingMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessingMode::Conversation => "CONVERSATION",
            ProcessingMode::Dispatch => "DISPATCH",
        }
    }
}

/// `ChannelIntegrationStatus` of one channel credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelStatus {
    Pending,
    Active,
    Failing,
}

impl ChannelStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelStatus::Pending => "PENDING",
            ChannelStatus::Active => "ACTIVE",
            ChannelStatus::Failing => "FAILING",
        }
    }
}

/// A webhook registered when the mock starts (target type `HTTP`). `secret: None` sends
/// unsigned callbacks, as Sinch does for a webhook without a secret.
#[derive(Debug, Clone)]
pub struct MockWebhook {
    pub target: String,
    pub secret: Option<SecretString>,
    /// Trigger names, e.g. `"MESSAGE_DELIVERY"`.
    pub triggers: Vec<String>,
}

/// An app the mock knows: where it lives and how Sinch would describe it.
#[derive(Debug, Clone)]
pub struct MockApp {
    pub app_id: String,
    pub region: Region,
    pub project_id: String,
    pub display_name: String,
    pub processing_mode: ProcessingMode,
    /// `(channel, status)`, e.g. `("SMS", ChannelStatus::Active)`.
    pub channel_credentials: Vec<(String, ChannelStatus)>,
    /// Webhooks registered at start; more come through the API.
    pub webhooks: Vec<MockWebhook>,
}

impl MockApp {
    /// A Dispatch-mode app with active SMS credentials, named after its id, without webhooks.
    pub fn new(app_id: impl Into<String>, region: Region, project_id: impl Into<String>) -> Self {
        let app_id = app_id.into();
        Self {
            display_name: format!("app {app_id}"),
            app_id,
            region,
            project_id: project_id.into(),
            processing_mode: ProcessingMode::Dispatch,
            channel_credentials: vec![("SMS".to_owned(), ChannelStatus::Active)],
            webhooks: Vec::new(),
        }
    }

    /// True when Sinch would serve this app on `region`'s host for `project`.
    fn is_in(&self, region: &str, project: &str) -> bool {
        self.region.as_str() == region && self.project_id == project
    }
}

#[derive(Debug, Clone)]
pub struct MockConfig {
    pub apps: Vec<MockApp>,
    /// Access keys: key id -> key secret.
    pub credentials: HashMap<String, SecretString>,
    /// Wait before each callback of an accepted `messages:send`.
    pub callback_delay: Duration,
    /// Whether an accepted `messages:send` produces callbacks (`POST /_mock/callbacks` always does).
    pub send_callbacks: bool,
    /// How webhook secrets are shown back by the management API. Sinch's reference shows
    /// `"secret": "***"` for a webhook list and says the field "will be partially masked for
    /// security"; whether get, create and patch answers mask it too is not said, so every
    /// answer follows this mode. Masked by default, the least convenient documented behaviour.
    pub secret_reads: SecretReads,
}

/// How the management API shows a webhook's secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretReads {
    /// The secret in full.
    Full,
    /// `"***"`, as Sinch's reference shows.
    #[default]
    Masked,
    /// The field left out.
    Absent,
}

impl SecretReads {
    pub const ALL: [SecretReads; 3] = [SecretReads::Full, SecretReads::Masked, SecretReads::Absent];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum FaultKind {
    #[serde(rename = "429")]
    RateLimited,
    #[serde(rename = "500")]
    ServerError,
    #[serde(rename = "400")]
    BadRequest,
    #[serde(rename = "timeout")]
    Timeout,
    /// Management only: the request is applied, then answered 500.
    #[serde(rename = "applied_500")]
    AppliedThen500,
}

/// Which API an injected fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultScope {
    /// `messages:send`.
    #[default]
    Send,
    /// The app and webhook management API. `applied_500` there applies the request, then
    /// answers 500 (its answer lost): the case that makes a blind retry of a create fail.
    Management,
}

pub struct MockState {
    config: MockConfig,
    tokens: Mutex<HashSet<String>>,
    requests: Mutex<Vec<Value>>,
    /// Management API requests: `{"method","path","query","body"}`.
    management: Mutex<Vec<Value>>,
    faults: Mutex<VecDeque<FaultKind>>,
    management_faults: Mutex<VecDeque<(FaultKind, Option<String>)>>,
    secret_reads: Mutex<SecretReads>,
    /// Registered webhooks by id (monotonic ULIDs, so in creation order).
    webhooks: Mutex<BTreeMap<String, Webhook>>,
    /// The HTTP status of every callback answer, `0` when none came (refused, timed out).
    callback_statuses: Mutex<Vec<u16>>,
    http: reqwest::Client,
}

impl MockState {
    fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The `messages:send` requests received, with region, project, body and injected fault.
    pub fn requests(&self) -> Vec<Value> {
        Self::lock(&self.requests).clone()
    }

    /// The management API requests received, in order: `{"method","path","query","body"}`
    /// (`body` parsed JSON, `null` when empty), refused ones included.
    pub fn management_requests(&self) -> Vec<Value> {
        Self::lock(&self.management).clone()
    }

    pub fn inject(&self, kind: FaultKind, count: usize) {
        Self::lock(&self.faults).extend(std::iter::repeat_n(kind, count));
    }

    /// The next `count` management requests (with `method`, when given) get `kind`.
    pub fn inject_management(&self, kind: FaultKind, count: usize, method: Option<&str>) {
        let fault = (kind, method.map(str::to_ascii_uppercase));
        Self::lock(&self.management_faults).extend(std::iter::repeat_n(fault, count));
    }

    pub fn set_secret_reads(&self, mode: SecretReads) {
        *Self::lock(&self.secret_reads) = mode;
    }

    pub fn secret_reads(&self) -> SecretReads {
        *Self::lock(&self.secret_reads)
    }

    /// Every registered webhook, in creation order, secrets included.
    pub fn webhooks(&self) -> Vec<Webhook> {
        Self::lock(&self.webhooks).values().cloned().collect()
    }

    pub fn webhook(&self, id: &str) -> Option<Webhook> {
        Self::lock(&self.webhooks).get(id).cloned()
    }

    /// The status of every callback answer so far, in order; `0` = no answer.
    pub fn callback_statuses(&self) -> Vec<u16> {
        Self::lock(&self.callback_statuses).clone()
    }

    pub fn clear_callback_statuses(&self) {
        Self::lock(&self.callback_statuses).clear();
    }

    fn app(&self, app_id: &str) -> Option<&MockApp> {
        self.config.apps.iter().find(|a| a.app_id == app_id)
    }

    /// A bearer token this mock issued, or a known access key over Basic.
    fn authorized(&self, headers: &HeaderMap) -> bool {
        match headers.get("authorization").and_then(|v| v.to_str().ok()) {
            Some(v) if v.starts_with("Bearer ") => Self::lock(&self.tokens).contains(&v["Bearer ".len()..]),
            Some(v) if v.starts_with("Basic ") => valid_key(self, headers),
            _ => false,
        }
    }
}

/// `http` delivers the mock's callbacks to the registered webhooks.
pub fn router(config: MockConfig, http: reqwest::Client) -> (axum::Router, Arc<MockState>) {
    let mut webhooks = BTreeMap::new();
    for app in &config.apps {
        for seed in &app.webhooks {
            let id = webhook::next_id(webhooks.last_key_value().map(|(id, _): (&String, _)| id.as_str()));
            webhooks.insert(id.clone(), Webhook::seeded(id, &app.app_id, seed));
        }
    }
    let secret_reads = config.secret_reads;
    let state = Arc::new(MockState {
        config,
        tokens: Mutex::default(),
        requests: Mutex::default(),
        management: Mutex::default(),
        faults: Mutex::default(),
        management_faults: Mutex::default(),
        secret_reads: Mutex::new(secret_reads),
        webhooks: Mutex::new(webhooks),
        callback_statuses: Mutex::default(),
        http,
    });
    let router = axum::Router::new()
        .route("/oauth2/token", post(send::token))
        .route("/{region}/v1/projects/{project}/messages:send", post(send::send))
        .merge(
            management::routes()
                .route_layer(axum::middleware::from_fn_with_state(state.clone(), management::faults))
                .route_layer(axum::middleware::from_fn_with_state(state.clone(), management::record)),
        )
        .route(
            "/_mock/requests",
            get(control::list_requests).delete(control::clear_requests),
        )
        .route(
            "/_mock/management",
            get(management::list_requests).delete(management::clear_requests),
        )
        .route("/_mock/faults", post(control::add_fault).delete(control::clear_faults))
        .route("/_mock/secret-reads", post(control::set_secret_reads))
        .route("/_mock/webhooks", get(control::list_webhooks))
        .route(
            "/_mock/callbacks",
            get(callbacks::report).post(callbacks::trigger).delete(callbacks::clear),
        )
        .route("/_mock/health", get(|| async { "ok" }))
        .with_state(state.clone());
    (router, state)
}

/// Serves the mock on `listener` until the task is dropped or aborted.
pub fn spawn(
    listener: tokio::net::TcpListener,
    config: MockConfig,
    http: reqwest::Client,
) -> (tokio::task::JoinHandle<()>, Arc<MockState>) {
    let (router, state) = router(config, http);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "mock Conversation API stopped");
        }
    });
    (task, state)
}

/// A mock serving on a free loopback port, stopped when dropped: what the tools' tests start.
pub struct LoopbackMock {
    pub url: String,
    pub state: Arc<MockState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LoopbackMock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockConfig {
    /// `apps`, one access key, callbacks 10 ms after a send when `send_callbacks`.
    pub fn for_tests(apps: Vec<MockApp>, key_id: &str, key_secret: &str, send_callbacks: bool) -> Self {
        Self {
            apps,
            credentials: HashMap::from([(key_id.to_owned(), SecretString::new(key_secret))]),
            callback_delay: Duration::from_millis(10),
            send_callbacks,
            secret_reads: SecretReads::default(),
        }
    }
}

/// Starts the mock on `127.0.0.1:0`.
pub async fn on_loopback(config: MockConfig) -> Result<LoopbackMock, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))?;
    let url = format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?);
    let (task, state) = spawn(listener, config, crate::http::client()?);
    Ok(LoopbackMock { url, state, task })
}

/// Sinch's error body, wrapped form: `{"error":{"code","message","status","details"}}`.
fn sinch_error(status: StatusCode, name: &str, message: &str) -> Response {
    let body = json!({"error": {"code": status.as_u16(), "message": message, "status": name, "details": []}});
    (status, Json(body)).into_response()
}

fn invalid_argument(message: &str) -> Response {
    sinch_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message)
}

fn not_found(message: &str) -> Response {
    sinch_error(StatusCode::NOT_FOUND, "NOT_FOUND", message)
}

fn unauthenticated() -> Response {
    sinch_error(
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
        "Invalid or expired credentials",
    )
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(value).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

fn valid_key(state: &MockState, headers: &HeaderMap) -> bool {
    basic_credentials(headers)
        .is_some_and(|(id, secret)| state.config.credentials.get(&id).is_some_and(|s| s.expose() == secret))
}
