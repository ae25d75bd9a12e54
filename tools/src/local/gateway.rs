//! API Gateway, played on a plain HTTP listener: each `POST /webhooks/{service}` becomes the
//! HTTP API (payload 2.0) event Lambda would hand the ingest function, built by the function
//! crate's own event builder, and the function's answer becomes the HTTP response. Also
//! `POST /_local/rotate/{service}`, what `bridgectl service rotate --now` does on AWS.

use base64::Engine as _;
use serde_json::json;
use webhook_ingest::apigw::{Payload, webhook_event};

use crate::runtime_api::RuntimeApi;

pub(super) async fn serve_webhooks(
    listener: tokio::net::TcpListener,
    ingest: RuntimeApi,
    rotation: (RuntimeApi, String),
) {
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
    match super::setup::rotate(&rotation, &secret_id).await {
        Ok(steps) => axum::Json(json!({"rotated": secret_id, "steps": steps})).into_response(),
        Err(e) => (axum::http::StatusCode::BAD_GATEWAY, axum::Json(json!({"error": e}))).into_response(),
    }
}

/// What API Gateway (HTTP API, payload 2.0) would hand the function for this request: a
/// repeated header folded into one comma-separated value, a binary body base64-encoded, a
/// request id of its own.
fn api_gateway_event(service: &str, headers: &axum::http::HeaderMap, body: &[u8]) -> serde_json::Value {
    let pairs: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut event = webhook_event(Payload::HttpApiV2, service, &pairs, body, false);
    event["requestContext"]["requestId"] = json!(crate::ulid::generate());
    event
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
