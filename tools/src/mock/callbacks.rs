//! The callbacks the mock sends: MESSAGE_DELIVERY reports (QUEUED_ON_CHANNEL, then DELIVERED)
//! for each accepted `messages:send`, echoing `message_metadata` and `correlation_id`, and on
//! demand through `POST /_mock/callbacks`. Each goes to every webhook registered for the app
//! whose target type is `HTTP` and whose triggers include `MESSAGE_DELIVERY`, signed with that
//! webhook's secret as it is when the callback leaves (so a PATCHed secret signs the next
//! one), unsigned when the webhook has no secret. Dispatch-mode apps report empty
//! `conversation_id` and `contact_id`, as Sinch does. Every answer's status is recorded.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sinch_bridge::protocol::callback::hex_sha256;
use sinch_bridge::protocol::{SecretString, Trigger, sign};

use super::{MockApp, MockState, ProcessingMode, not_found};
use crate::ulid;

/// What a batch of callbacks got back: one answer per webhook per callback.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CallbackTally {
    /// Callbacks produced (each goes to every subscribed webhook).
    pub sent: usize,
    /// Answers with a 2xx status.
    pub accepted: usize,
    /// Answers with any other status.
    pub rejected: usize,
    /// No answer (connection refused, timeout).
    pub failed: usize,
}

impl CallbackTally {
    fn count(&mut self, statuses: &[u16]) {
        for status in statuses {
            match status {
                0 => self.failed += 1,
                200..=299 => self.accepted += 1,
                _ => self.rejected += 1,
            }
        }
    }
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
    let contact = request.pointer("/recipient/contact_id").and_then(Value::as_str);
    (channel, contact.unwrap_or_default().to_owned())
}

/// A stable 26-character id derived from `seed`.
fn derived_id(seed: &str) -> String {
    hex_sha256(seed.as_bytes())[..26].to_ascii_uppercase()
}

/// The MESSAGE_DELIVERY callback body for `status` of `message_id`, sent for `request`.
fn delivery_report(app: &MockApp, message_id: &str, status: &str, request: &Value) -> Value {
    let (channel, identity) = channel_identity(request);
    let (conversation_id, contact_id) = match app.processing_mode {
        ProcessingMode::Dispatch => (String::new(), String::new()),
        ProcessingMode::Conversation => {
            let key = format!("{}|{channel}|{identity}", app.app_id);
            let contact = request.pointer("/recipient/contact_id").and_then(Value::as_str);
            (
                derived_id(&key),
                contact.map_or_else(|| derived_id(&format!("contact|{key}")), str::to_owned),
            )
        }
    };
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
            "contact_id": contact_id,
            "metadata": request.get("message_metadata").and_then(Value::as_str).unwrap_or(""),
            "processing_mode": app.processing_mode.as_str()
        },
        "message_metadata": ""
    });
    if let Some(correlation) = request.get("correlation_id") {
        body["correlation_id"] = correlation.clone();
    }
    body
}

fn unix_now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    i64::try_from(secs).unwrap_or(0)
}

/// Posts `body` to every webhook of `app_id` subscribed to MESSAGE_DELIVERY, one after the
/// other; returns (and records) each answer's status, `0` for none.
async fn post_to_webhooks(state: &MockState, app_id: &str, body: &Value) -> Vec<u16> {
    // Targets and secrets are read now, not when the message was sent.
    let targets: Vec<(String, Option<SecretString>)> = MockState::lock(&state.webhooks)
        .values()
        .filter(|w| w.app_id == app_id && w.delivers(Trigger::MessageDelivery))
        .map(|w| (w.target.clone(), w.secret.clone()))
        .collect();
    let bytes = body.to_string();
    let mut statuses = Vec::with_capacity(targets.len());
    for (target, secret) in targets {
        let mut post = state
            .http
            .post(&target)
            .timeout(Duration::from_secs(10))
            .header("content-type", "application/json")
            .body(bytes.clone());
        if let Some(secret) = secret {
            let signed = sign(&secret, bytes.as_bytes(), &ulid::generate(), unix_now());
            for (name, value) in signed.pairs() {
                post = post.header(name, value);
            }
        }
        let status = match post.send().await {
            Ok(r) => r.status().as_u16(),
            Err(e) => {
                tracing::warn!(target, error = %e, "callback failed");
                0
            }
        };
        if !(200..300).contains(&status) && status != 0 {
            tracing::warn!(target, status, "callback refused");
        }
        statuses.push(status);
    }
    MockState::lock(&state.callback_statuses).extend(&statuses);
    statuses
}

/// The callbacks of one accepted `messages:send`, each after `callback_delay`.
pub(super) async fn deliver(state: Arc<MockState>, app: MockApp, message_id: String, request: Value) {
    for status in ["QUEUED_ON_CHANNEL", "DELIVERED"] {
        tokio::time::sleep(state.config.callback_delay).await;
        let body = delivery_report(&app, &message_id, status, &request);
        post_to_webhooks(&state, &app.app_id, &body).await;
    }
}

impl MockState {
    /// Sends `count` MESSAGE_DELIVERY (DELIVERED) callbacks for `app_id` right away, one after
    /// the other, as `messages:send` callbacks go. `None` when the app is unknown.
    pub async fn send_delivery_callbacks(&self, app_id: &str, count: usize) -> Option<CallbackTally> {
        let app = self.app(app_id)?.clone();
        let request = json!({"recipient": {"identified_by": {"channel_identities": [
            {"channel": "SMS", "identity": "+15550100000"}
        ]}}});
        let mut tally = CallbackTally::default();
        for _ in 0..count {
            let body = delivery_report(&app, &ulid::generate(), "DELIVERED", &request);
            tally.count(&post_to_webhooks(self, app_id, &body).await);
            tally.sent += 1;
        }
        Some(tally)
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct TriggerRequest {
    app_id: String,
    #[serde(default = "super::control::one")]
    count: usize,
}

/// `POST /_mock/callbacks` `{"app_id":…,"count":N}` -> `{"sent","accepted","rejected","failed"}`.
pub(super) async fn trigger(State(state): State<Arc<MockState>>, Json(request): Json<TriggerRequest>) -> Response {
    match state.send_delivery_callbacks(&request.app_id, request.count).await {
        Some(tally) => Json(tally).into_response(),
        None => not_found(&format!("App {} not found", request.app_id)),
    }
}

/// `GET /_mock/callbacks`: every answer status so far and their tally.
pub(super) async fn report(State(state): State<Arc<MockState>>) -> Json<Value> {
    let statuses = state.callback_statuses();
    let mut tally = CallbackTally::default();
    tally.count(&statuses);
    Json(json!({
        "statuses": statuses, "accepted": tally.accepted, "rejected": tally.rejected, "failed": tally.failed,
    }))
}

pub(super) async fn clear(State(state): State<Arc<MockState>>) -> StatusCode {
    state.clear_callback_statuses();
    StatusCode::NO_CONTENT
}
