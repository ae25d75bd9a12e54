//! The OAuth2 token endpoint and `messages:send`: credentials checked, the request validated
//! the way the Conversation API documents (app id, one recipient form, one message kind, the
//! app's project and region), recorded, injected faults answered first, and callbacks queued
//! for each accepted message.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sinch_bridge::protocol::outbound::MESSAGE_KINDS;

use super::{FaultKind, MockState, callbacks, invalid_argument, not_found, sinch_error, unauthenticated, valid_key};
use crate::ulid;

pub(super) async fn token(State(state): State<Arc<MockState>>, headers: HeaderMap, body: String) -> Response {
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

/// The injected fault's answer, if one was queued.
pub(super) async fn fault_answer(fault: FaultKind) -> Response {
    match fault {
        FaultKind::RateLimited => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            Json(json!({"error": {"code": 429, "message": "Too many requests", "status": "RESOURCE_EXHAUSTED"}})),
        )
            .into_response(),
        FaultKind::ServerError | FaultKind::AppliedThen500 => sinch_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "Something went wrong on our end",
        ),
        FaultKind::BadRequest => invalid_argument("Injected bad request"),
        FaultKind::Timeout => {
            tokio::time::sleep(Duration::from_secs(120)).await;
            sinch_error(StatusCode::GATEWAY_TIMEOUT, "DEADLINE_EXCEEDED", "late")
        }
    }
}

pub(super) async fn send(
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
    if let Some(fault) = fault {
        return fault_answer(fault).await;
    }
    if !state.authorized(&headers) {
        return unauthenticated();
    }
    let Some(Value::Object(request)) = parsed else {
        return invalid_argument("Request body must be a JSON object");
    };
    let app_id = match request.get("app_id").and_then(Value::as_str) {
        None | Some("") => return invalid_argument("app_id is required"),
        Some(id) if !ulid::is_ulid(id) => return invalid_argument("app_id must be a valid ULID"),
        Some(id) => id.to_owned(),
    };
    let recipient = request.get("recipient").and_then(Value::as_object);
    let recipient_ok = recipient.is_some_and(|r| r.contains_key("contact_id") != r.contains_key("identified_by"));
    if !recipient_ok {
        return invalid_argument("recipient must have exactly one of contact_id or identified_by");
    }
    let kinds = request
        .get("message")
        .and_then(Value::as_object)
        .map(|m| MESSAGE_KINDS.iter().filter(|k| m.contains_key(**k)).count());
    if kinds != Some(1) {
        return invalid_argument("message must have exactly one message type");
    }
    // An app created in one region and called in another is not found, as Sinch answers.
    let Some(app) = state.app(&app_id).filter(|a| a.is_in(&region, &project)) else {
        return not_found("App not found in project");
    };
    let message_id = ulid::generate();
    if state.config.send_callbacks {
        tokio::spawn(callbacks::deliver(
            state.clone(),
            app.clone(),
            message_id.clone(),
            Value::Object(request.clone()),
        ));
    }
    Json(json!({"message_id": message_id, "accepted_time": crate::samples::now()})).into_response()
}
