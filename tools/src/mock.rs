//! A mock Sinch: the OAuth2 token endpoint and `messages:send` for every region, validating
//! requests the way the Conversation API documents and answering like it does, recording what
//! it received, injecting faults on request, and sending signed MESSAGE_DELIVERY callbacks
//! (QUEUED_ON_CHANNEL, then DELIVERED) for each accepted message to the webhook of the
//! message's service, echoing `message_metadata` and `correlation_id`.
//!
//! Control endpoints: `GET /_mock/requests`, `POST /_mock/faults` (`{"kind":"429"|"500"|
//! "timeout"|"400","count":N}`), `DELETE /_mock/faults`, `DELETE /_mock/requests`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use sinch_bridge::protocol::outbound::MESSAGE_KINDS;
use sinch_bridge::protocol::{Region, SecretString, sign};

use crate::ulid;

/// An app the mock knows: where it lives and where its callbacks go.
#[derive(Debug, Clone)]
pub struct MockApp {
    pub app_id: String,
    pub region: Region,
    pub project_id: String,
    pub webhook_url: String,
    pub webhook_secret: SecretString,
}

#[derive(Debug, Clone)]
pub struct MockConfig {
    pub apps: Vec<MockApp>,
    /// Access keys: key id -> key secret.
    pub credentials: HashMap<String, SecretString>,
    pub callback_delay: Duration,
    pub send_callbacks: bool,
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
}

#[derive(Debug, Deserialize)]
struct FaultRequest {
    kind: FaultKind,
    #[serde(default = "one")]
    count: usize,
}

fn one() -> usize {
    1
}

pub struct MockState {
    config: MockConfig,
    tokens: Mutex<HashSet<String>>,
    requests: Mutex<Vec<Value>>,
    faults: Mutex<VecDeque<FaultKind>>,
    http: reqwest::Client,
}

impl MockState {
    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn requests(&self) -> Vec<Value> {
        Self::lock(&self.requests).clone()
    }

    pub fn inject(&self, kind: FaultKind, count: usize) {
        Self::lock(&self.faults).extend(std::iter::repeat_n(kind, count));
    }
}

/// `http` delivers the mock's delivery-report callbacks to the bridge.
pub fn router(config: MockConfig, http: reqwest::Client) -> (axum::Router, Arc<MockState>) {
    let state = Arc::new(MockState {
        config,
        tokens: Mutex::default(),
        requests: Mutex::default(),
        faults: Mutex::default(),
        http,
    });
    let router = axum::Router::new()
        .route("/oauth2/token", post(token))
        .route("/{region}/v1/projects/{project}/messages:send", post(send))
        .route("/_mock/requests", get(list_requests).delete(clear_requests))
        .route("/_mock/faults", post(add_fault).delete(clear_faults))
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

fn sinch_error(status: StatusCode, name: &str, message: &str) -> Response {
    let body = json!({"error": {"code": status.as_u16(), "message": message, "status": name, "details": []}});
    (status, Json(body)).into_response()
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

async fn token(State(state): State<Arc<MockState>>, headers: HeaderMap, body: String) -> Response {
    if !valid_key(&state, &headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client"}))).into_response();
    }
    if !body.split('&').any(|p| p == "grant_type=client_credentials") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "unsupported_grant_type"})),
        )
            .into_response();
    }
    let token = format!("mock-{}", ulid::generate());
    MockState::lock(&state.tokens).insert(token.clone());
    Json(json!({"access_token": token, "expires_in": 3600, "scope": "", "token_type": "bearer"})).into_response()
}

async fn send(
    State(state): State<Arc<MockState>>,
    Path((region, project)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let fault = MockState::lock(&state.faults).pop_front();
    let parsed: Option<Value> = serde_json::from_str(&body).ok();
    MockState::lock(&state.requests).push(json!({
        "region": region, "project": project, "body": parsed.clone().unwrap_or(Value::Null), "fault": fault.map(|f| format!("{f:?}")),
    }));
    match fault {
        Some(FaultKind::RateLimited) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                Json(json!({"error": {"code": 429, "message": "Too many requests", "status": "RESOURCE_EXHAUSTED"}})),
            )
                .into_response();
        }
        Some(FaultKind::ServerError) => {
            return sinch_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR",
                "Something went wrong on our end",
            );
        }
        Some(FaultKind::BadRequest) => {
            return sinch_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", "Injected bad request");
        }
        Some(FaultKind::Timeout) => {
            tokio::time::sleep(Duration::from_secs(120)).await;
            return sinch_error(StatusCode::GATEWAY_TIMEOUT, "DEADLINE_EXCEEDED", "late");
        }
        None => {}
    }
    let authorized = match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        Some(v) if v.starts_with("Bearer ") => MockState::lock(&state.tokens).contains(&v["Bearer ".len()..]),
        Some(v) if v.starts_with("Basic ") => valid_key(&state, &headers),
        _ => false,
    };
    if !authorized {
        return sinch_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Invalid or expired credentials",
        );
    }
    let Some(Value::Object(request)) = parsed else {
        return sinch_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "Request body must be a JSON object",
        );
    };
    let app_id = match request.get("app_id").and_then(Value::as_str) {
        None | Some("") => return sinch_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", "app_id is required"),
        Some(id) if !ulid::is_ulid(id) => {
            return sinch_error(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                "app_id must be a valid ULID",
            );
        }
        Some(id) => id.to_owned(),
    };
    let recipient = request.get("recipient").and_then(Value::as_object);
    let recipient_ok = recipient.is_some_and(|r| r.contains_key("contact_id") != r.contains_key("identified_by"));
    if !recipient_ok {
        return sinch_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "recipient must have exactly one of contact_id or identified_by",
        );
    }
    let kinds = request
        .get("message")
        .and_then(Value::as_object)
        .map(|m| MESSAGE_KINDS.iter().filter(|k| m.contains_key(**k)).count());
    if kinds != Some(1) {
        return sinch_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "message must have exactly one message type",
        );
    }
    let Some(app) = state.config.apps.iter().find(|a| a.app_id == app_id) else {
        return sinch_error(StatusCode::NOT_FOUND, "NOT_FOUND", "App not found in project");
    };
    if app.region.as_str() != region || app.project_id != project {
        // What Sinch answers when an app created in one region is called in another.
        return sinch_error(StatusCode::NOT_FOUND, "NOT_FOUND", "App not found in project");
    }
    let message_id = ulid::generate();
    if state.config.send_callbacks {
        tokio::spawn(deliver(
            state.clone(),
            app.clone(),
            message_id.clone(),
            Value::Object(request.clone()),
        ));
    }
    Json(json!({"message_id": message_id, "accepted_time": crate::samples::now()})).into_response()
}

/// The channel and identity Sinch would report: the first explicit identity, else the first
/// channel of the priority order with the contact id standing in for the identity.
fn channel_identity(request: &Value) -> (String, String) {
    let first = request.pointer("/recipient/identified_by/channel_identities/0");
    if let Some(first) = first {
        let channel = first["channel"].as_str().unwrap_or("SMS").to_owned();
        return (channel, first["identity"].as_str().unwrap_or_default().to_owned());
    }
    let channel = request
        .pointer("/channel_priority_order/0")
        .and_then(Value::as_str)
        .unwrap_or("SMS")
        .to_owned();
    (
        channel,
        request
            .pointer("/recipient/contact_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    )
}

async fn deliver(state: Arc<MockState>, app: MockApp, message_id: String, request: Value) {
    let (channel, identity) = channel_identity(&request);
    let digest =
        sinch_bridge::protocol::callback::hex_sha256(format!("{}|{channel}|{identity}", app.app_id).as_bytes());
    let conversation_id = digest[..26].to_ascii_uppercase();
    for status in ["QUEUED_ON_CHANNEL", "DELIVERED"] {
        tokio::time::sleep(state.config.callback_delay).await;
        let mut body = json!({
            "app_id": app.app_id,
            "accepted_time": crate::samples::now(),
            "event_time": crate::samples::now(),
            "project_id": app.project_id,
            "message_delivery_report": {
                "message_id": message_id,
                "conversation_id": conversation_id,
                "status": status,
                "channel_identity": {"channel": channel, "identity": identity, "app_id": ""},
                "contact_id": "",
                "metadata": request.get("message_metadata").and_then(Value::as_str).unwrap_or(""),
                "processing_mode": "CONVERSATION"
            },
            "message_metadata": ""
        });
        if let Some(correlation) = request.get("correlation_id") {
            body["correlation_id"] = correlation.clone();
        }
        let bytes = body.to_string();
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let signed = sign(
            &app.webhook_secret,
            bytes.as_bytes(),
            &ulid::generate(),
            i64::try_from(timestamp).unwrap_or(0),
        );
        let mut post = state
            .http
            .post(&app.webhook_url)
            .timeout(Duration::from_secs(10))
            .header("content-type", "application/json")
            .body(bytes);
        for (name, value) in signed.pairs() {
            post = post.header(name, value);
        }
        match post.send().await {
            Ok(r) if r.status().is_success() => tracing::debug!(message_id, status, "callback delivered"),
            Ok(r) => tracing::warn!(message_id, status, answer = r.status().as_u16(), "callback refused"),
            Err(e) => tracing::warn!(message_id, status, error = %e, "callback failed"),
        }
    }
}

async fn list_requests(State(state): State<Arc<MockState>>) -> Json<Value> {
    Json(Value::Array(state.requests()))
}

async fn clear_requests(State(state): State<Arc<MockState>>) -> StatusCode {
    MockState::lock(&state.requests).clear();
    StatusCode::NO_CONTENT
}

async fn add_fault(State(state): State<Arc<MockState>>, Json(fault): Json<FaultRequest>) -> StatusCode {
    state.inject(fault.kind, fault.count);
    StatusCode::NO_CONTENT
}

async fn clear_faults(State(state): State<Arc<MockState>>) -> StatusCode {
    MockState::lock(&state.faults).clear();
    StatusCode::NO_CONTENT
}
