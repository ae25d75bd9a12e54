//! Sinch's app and webhook management API, under the `messages:send` prefix
//! (`/{region}/v1/projects/{project}`) and with its credentials (a bearer token the mock
//! issued, or an access key over Basic):
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /apps` | `{"apps":[App]}`: the project's apps in that region |
//! | `GET /apps/{app}` | `App`, or 404 `NOT_FOUND` (also for an app of another region) |
//! | `GET /apps/{app}/webhooks` | `{"webhooks":[Webhook]}` |
//! | `POST /webhooks` | the created `Webhook` with its `id` |
//! | `GET /webhooks/{id}` | `Webhook` |
//! | `PATCH /webhooks/{id}?update_mask=…` | the updated `Webhook` |
//! | `DELETE /webhooks/{id}` | `{}` |
//!
//! A webhook is found only through the project and region of its app. Refusals use Sinch's
//! wrapped error body: 401 `UNAUTHENTICATED`, 404 `NOT_FOUND`, 400 `INVALID_ARGUMENT` (rules in
//! [`super::webhook`]). Every management request is recorded (method, path, query, body) for
//! tests: [`MockState::management_requests`], `GET|DELETE /_mock/management`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::webhook::{self, Invalid, Webhook};
use super::{MockApp, MockState, invalid_argument, not_found, unauthenticated};

pub(super) fn routes() -> axum::Router<Arc<MockState>> {
    let prefix = "/{region}/v1/projects/{project}";
    axum::Router::new()
        .route(&format!("{prefix}/apps"), get(list_apps))
        .route(&format!("{prefix}/apps/{{app}}"), get(get_app))
        .route(&format!("{prefix}/apps/{{app}}/webhooks"), get(list_app_webhooks))
        .route(&format!("{prefix}/webhooks"), post(create_webhook))
        .route(
            &format!("{prefix}/webhooks/{{id}}"),
            get(get_webhook).patch(update_webhook).delete(delete_webhook),
        )
}

/// Records the request (its body parsed as JSON when it is JSON), then serves it.
pub(super) async fn record(State(state): State<Arc<MockState>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return invalid_argument("Request body too large");
    };
    let body = match serde_json::from_slice::<Value>(&bytes) {
        Ok(json) => json,
        Err(_) if bytes.is_empty() => Value::Null,
        Err(_) => Value::String(String::from_utf8_lossy(&bytes).into_owned()),
    };
    // Recorded for inspection (`GET /_mock/management`) without the webhook secret, as
    // `/_mock/webhooks` shows webhooks.
    let mut body = body;
    if let Some(secret) = body.get_mut("secret").filter(|s| s.is_string()) {
        *secret = json!("***");
    }
    MockState::lock(&state.management).push(json!({
        "method": parts.method.as_str(), "path": parts.uri.path(), "query": parts.uri.query(), "body": body,
    }));
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// Serves an injected management fault, if one is queued: most answer at once; `applied_500`
/// lets the request through, then answers 500 in its place.
pub(super) async fn faults(State(state): State<Arc<MockState>>, request: Request, next: Next) -> Response {
    let fault = {
        let mut faults = MockState::lock(&state.management_faults);
        let applies = faults
            .front()
            .is_some_and(|(_, method)| method.as_deref().is_none_or(|m| m == request.method().as_str()));
        if applies {
            faults.pop_front().map(|(kind, _)| kind)
        } else {
            None
        }
    };
    match fault {
        None => next.run(request).await,
        Some(super::FaultKind::AppliedThen500) => {
            let _applied = next.run(request).await;
            super::send::fault_answer(super::FaultKind::ServerError).await
        }
        Some(kind) => super::send::fault_answer(kind).await,
    }
}

pub(super) async fn list_requests(State(state): State<Arc<MockState>>) -> Json<Value> {
    Json(Value::Array(state.management_requests()))
}

pub(super) async fn clear_requests(State(state): State<Arc<MockState>>) -> StatusCode {
    MockState::lock(&state.management).clear();
    StatusCode::NO_CONTENT
}

/// `App` as `GET /apps/{app}` answers it.
fn app_json(app: &MockApp) -> Value {
    let mut ordinals: HashMap<&str, u32> = HashMap::new();
    let credentials: Vec<Value> = app
        .channel_credentials
        .iter()
        .map(|(channel, status)| {
            let next = ordinals.entry(channel.as_str()).or_insert(0);
            let ordinal = *next;
            *next += 1;
            json!({"channel": channel, "state": {"status": status.as_str()}, "credential_ordinal_number": ordinal})
        })
        .collect();
    json!({
        "id": app.app_id,
        "display_name": app.display_name,
        "processing_mode": app.processing_mode.as_str(),
        "channel_credentials": credentials,
        "conversation_metadata_report_view": "NONE",
        "rate_limits": {"inbound": 25, "outbound": 25, "webhooks": 25},
    })
}

fn app_not_found(app_id: &str, project: &str) -> Response {
    not_found(&format!("App {app_id} not found in project {project}"))
}

fn webhook_not_found(id: &str) -> Response {
    not_found(&format!("Webhook {id} not found"))
}

fn refused(Invalid(message): Invalid) -> Response {
    invalid_argument(&message)
}

/// The app, if it is served on `region` for `project`.
fn scoped_app<'a>(state: &'a MockState, region: &str, project: &str, app_id: &str) -> Option<&'a MockApp> {
    state.app(app_id).filter(|a| a.is_in(region, project))
}

/// True when the webhook's app is served on `region` for `project`.
fn in_scope(state: &MockState, region: &str, project: &str, webhook: &Webhook) -> bool {
    scoped_app(state, region, project, &webhook.app_id).is_some()
}

async fn list_apps(
    State(state): State<Arc<MockState>>,
    Path((region, project)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if !state.authorized(&headers) {
        return unauthenticated();
    }
    let apps: Vec<Value> = state
        .config
        .apps
        .iter()
        .filter(|a| a.is_in(&region, &project))
        .map(app_json)
        .collect();
    Json(json!({ "apps": apps })).into_response()
}

async fn get_app(
    State(state): State<Arc<MockState>>,
    Path((region, project, app_id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if !state.authorized(&headers) {
        return unauthenticated();
    }
    match scoped_app(&state, &region, &project, &app_id) {
        Some(app) => Json(app_json(app)).into_response(),
        None => app_not_found(&app_id, &project),
    }
}

async fn list_app_webhooks(
    State(state): State<Arc<MockState>>,
    Path((region, project, app_id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if !state.authorized(&headers) {
        return unauthenticated();
    }
    if scoped_app(&state, &region, &project, &app_id).is_none() {
        return app_not_found(&app_id, &project);
    }
    let webhooks = MockState::lock(&state.webhooks);
    let mode = state.secret_reads();
    Json(webhook::list_json(
        webhooks.values().filter(|w| w.app_id == app_id),
        mode,
    ))
    .into_response()
}

async fn create_webhook(
    State(state): State<Arc<MockState>>,
    Path((region, project)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if !state.authorized(&headers) {
        return unauthenticated();
    }
    let body = match webhook::parse_body(&body) {
        Ok(body) => body,
        Err(e) => return refused(e),
    };
    let Some(app_id) = body.app_id.clone().filter(|a| !a.is_empty()) else {
        return invalid_argument("app_id is required");
    };
    if scoped_app(&state, &region, &project, &app_id).is_none() {
        return app_not_found(&app_id, &project);
    }
    // Limit, uniqueness and insertion under one lock: concurrent creates cannot overshoot.
    let mut webhooks = MockState::lock(&state.webhooks);
    match webhook::create(&app_id, &body, webhooks.values()) {
        Ok(created) => {
            let answer = created.to_json_as(state.secret_reads());
            webhooks.insert(created.id.clone(), created);
            Json(answer).into_response()
        }
        Err(e) => refused(e),
    }
}

async fn get_webhook(
    State(state): State<Arc<MockState>>,
    Path((region, project, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if !state.authorized(&headers) {
        return unauthenticated();
    }
    match state.webhook(&id).filter(|w| in_scope(&state, &region, &project, w)) {
        Some(webhook) => Json(webhook.to_json_as(state.secret_reads())).into_response(),
        None => webhook_not_found(&id),
    }
}

async fn update_webhook(
    State(state): State<Arc<MockState>>,
    Path((region, project, id)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: String,
) -> Response {
    if !state.authorized(&headers) {
        return unauthenticated();
    }
    let parsed = webhook::update_mask(query.as_deref()).and_then(|mask| Ok((mask, webhook::parse_body(&body)?)));
    let (mask, body) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => return refused(e),
    };
    let mut webhooks = MockState::lock(&state.webhooks);
    let Some(current) = webhooks.get(&id).filter(|w| in_scope(&state, &region, &project, w)) else {
        return webhook_not_found(&id);
    };
    match webhook::update(current, &body, mask.as_deref(), webhooks.values()) {
        Ok(updated) => {
            let answer = updated.to_json_as(state.secret_reads());
            webhooks.insert(id, updated);
            Json(answer).into_response()
        }
        Err(e) => refused(e),
    }
}

async fn delete_webhook(
    State(state): State<Arc<MockState>>,
    Path((region, project, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if !state.authorized(&headers) {
        return unauthenticated();
    }
    let mut webhooks = MockState::lock(&state.webhooks);
    if !webhooks
        .get(&id)
        .is_some_and(|w| in_scope(&state, &region, &project, w))
    {
        return webhook_not_found(&id);
    }
    webhooks.remove(&id);
    Json(json!({})).into_response()
}
