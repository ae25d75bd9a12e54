//! The mock's control endpoints (not Sinch's): `GET|DELETE /_mock/requests` (the
//! `messages:send` requests), `POST /_mock/faults` (`{"kind":"429"|"500"|"400"|"timeout"|
//! "applied_500","count":N,"scope":"send"|"management"}`), `DELETE /_mock/faults`,
//! `POST /_mock/secret-reads` (`{"mode":"full"|"masked"|"absent"}`: how webhook secrets are
//! shown back, masked by default), `GET /_mock/webhooks` (secrets shown as `"***"`). The
//! management requests, callbacks and health are served beside their owners.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::webhook::Webhook;
use super::{FaultKind, FaultScope, MockState, SecretReads};

#[derive(Debug, Deserialize)]
pub(super) struct FaultRequest {
    kind: FaultKind,
    #[serde(default = "one")]
    count: usize,
    #[serde(default)]
    scope: FaultScope,
    /// Management only: the HTTP method the fault waits for (`POST`, `PATCH`, …); any when
    /// absent.
    #[serde(default)]
    method: Option<String>,
}

pub(super) async fn list_requests(State(state): State<Arc<MockState>>) -> Json<Value> {
    Json(Value::Array(state.requests()))
}

pub(super) async fn clear_requests(State(state): State<Arc<MockState>>) -> StatusCode {
    MockState::lock(&state.requests).clear();
    StatusCode::NO_CONTENT
}

pub(super) async fn add_fault(State(state): State<Arc<MockState>>, Json(fault): Json<FaultRequest>) -> StatusCode {
    match fault.scope {
        FaultScope::Send => state.inject(fault.kind, fault.count),
        FaultScope::Management => state.inject_management(fault.kind, fault.count, fault.method.as_deref()),
    }
    StatusCode::NO_CONTENT
}

pub(super) async fn clear_faults(State(state): State<Arc<MockState>>) -> StatusCode {
    MockState::lock(&state.faults).clear();
    MockState::lock(&state.management_faults).clear();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
pub(super) struct SecretReadsRequest {
    mode: SecretReads,
}

/// `POST /_mock/secret-reads` `{"mode":"full"|"masked"|"absent"}`.
pub(super) async fn set_secret_reads(
    State(state): State<Arc<MockState>>,
    Json(request): Json<SecretReadsRequest>,
) -> StatusCode {
    state.set_secret_reads(request.mode);
    StatusCode::NO_CONTENT
}

/// Every webhook of every app, secrets redacted.
pub(super) async fn list_webhooks(State(state): State<Arc<MockState>>) -> Json<Value> {
    let webhooks: Vec<Value> = state.webhooks().iter().map(Webhook::to_redacted_json).collect();
    Json(json!({ "webhooks": webhooks }))
}

/// A count of one, the default of a fault or a callback request.
pub(super) fn one() -> usize {
    1
}
