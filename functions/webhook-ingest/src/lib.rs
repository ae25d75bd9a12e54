//! The webhook-ingest function's edge: API Gateway events in, HTTP responses out. All the
//! work is [`sinch_bridge::ingest::Ingest`]; this file only translates.
//!
//! `lambda_http` decodes base64 bodies with `expect`, so an invalid one would abort the
//! execution environment. [`entry`] looks at the raw event first and answers such a request
//! with a clean 400 before `lambda_http` ever sees it.

pub mod after_answer;
pub mod apigw;

use base64::Engine as _;
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Request, RequestExt, Response, Service, service_fn};
use serde_json::{Value, json};
use sinch_bridge::ingest::{Ingest, IngestError, WebhookRequest};
use sinch_bridge::ports::{NonceStore, QueueWriter, SecretStore};
use sinch_bridge::protocol::signature::{HEADERS, Rejection};

pub const ROUTE_PREFIX: &str = "/webhooks/";

/// Handles one HTTP request: the same function Lambda and the local runner call.
pub async fn handle<S: SecretStore, Q: QueueWriter, N: NonceStore>(
    ingest: &Ingest<S, Q, N>,
    request: Request,
) -> Response<Body> {
    let service = service_name(&request);
    let headers: Vec<(&str, &[u8])> = request
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_bytes()))
        .collect();
    let result = ingest
        .handle(&WebhookRequest {
            service: &service,
            headers: &headers,
            body: request.body().as_ref(),
        })
        .await;
    match result {
        Ok(stored) => respond(200, json!({ "status": "stored", "trigger": stored.trigger })),
        Err(e) => error_response(&e),
    }
}

/// The `{service}` path segment: from API Gateway's path parameters, else from the raw path
/// (local runs, Function URLs).
fn service_name(request: &Request) -> String {
    if let Some(name) = request.path_parameters_ref().and_then(|p| p.first("service")) {
        return name.to_owned();
    }
    let path = request.uri().path();
    path.find(ROUTE_PREFIX)
        .map(|i| path[i + ROUTE_PREFIX.len()..].to_owned())
        .unwrap_or_default()
}

pub fn error_response(error: &IngestError) -> Response<Body> {
    respond(error.status(), json!({ "error": error.code() }))
}

fn respond(status: u16, body: Value) -> Response<Body> {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() =
        lambda_http::http::StatusCode::from_u16(status).unwrap_or(lambda_http::http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        lambda_http::http::header::CONTENT_TYPE,
        lambda_http::http::HeaderValue::from_static("application/json"),
    );
    response
}

/// The Lambda entry point over the raw event: catches invalid base64 bodies, then runs the
/// event through `lambda_http`'s own conversion and [`handle`].
pub async fn entry<S: SecretStore, Q: QueueWriter, N: NonceStore>(
    ingest: &Ingest<S, Q, N>,
    event: lambda_http::LambdaEvent<Value>,
) -> Result<Value, lambda_http::Error> {
    ingest.metrics().cold_start();
    let lambda_http::LambdaEvent { payload, context } = event;
    let service = raw_service(&payload);
    let error = match precheck(&payload) {
        Some(error) => error,
        None => match serde_json::from_value::<LambdaRequest>(payload) {
            Ok(request) => {
                let mut adapter = lambda_http::Adapter::from(service_fn(|req: Request| async move {
                    Ok::<_, lambda_http::Error>(handle(ingest, req).await)
                }));
                // The adapter turns the event into an `http::Request` as it is called, and
                // panics on what no API Gateway sends (a host or scheme that makes no URL).
                // Only that conversion is guarded: a panic in the handler itself still fails
                // the invocation, so Sinch retries.
                let event = lambda_http::LambdaEvent::new(request, context);
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| adapter.call(event))) {
                    Ok(call) => return Ok(serde_json::to_value(call.await?)?),
                    Err(_) => IngestError::InvalidRequest,
                }
            }
            // API Gateway would not send this (e.g. a header value with control characters);
            // answer it like any other bad request instead of failing the invocation.
            Err(_) => IngestError::InvalidRequest,
        },
    };
    ingest.record_rejection(service.as_deref(), &error);
    Ok(json!({
        "statusCode": error.status(),
        "headers": { "content-type": "application/json" },
        "body": json!({ "error": error.code() }).to_string(),
        "isBase64Encoded": false,
    }))
}

/// The `{service}` path segment of a raw event, for the logs and metrics of a request refused
/// before it became an `http::Request`.
fn raw_service(event: &Value) -> Option<String> {
    if let Some(name) = event.pointer("/pathParameters/service").and_then(Value::as_str) {
        return Some(name.to_owned());
    }
    ["rawPath", "path"]
        .iter()
        .find_map(|key| event.get(*key).and_then(Value::as_str))
        .and_then(|path| {
            path.find(ROUTE_PREFIX)
                .map(|i| path[i + ROUTE_PREFIX.len()..].to_owned())
        })
}

/// What `lambda_http`'s conversion would lose or panic on, checked on the raw event.
fn precheck(event: &Value) -> Option<IngestError> {
    let encoded = event.get("isBase64Encoded").and_then(Value::as_bool).unwrap_or(false);
    if let (true, Some(body)) = (encoded, event.get("body").and_then(Value::as_str))
        && base64::engine::general_purpose::STANDARD.decode(body).is_err()
    {
        return Some(IngestError::InvalidBase64);
    }
    // REST APIs deliver repeated headers in `multiValueHeaders`, and `lambda_http` keeps only
    // the last of them; a repeated signature header must be refused, not silently collapsed.
    let repeated = event
        .get("multiValueHeaders")
        .and_then(Value::as_object)
        .and_then(|headers| {
            headers.iter().find(|(name, values)| {
                name.to_ascii_lowercase().starts_with("x-sinch-webhook-signature")
                    && values.as_array().is_some_and(|v| v.len() > 1)
            })
        });
    let name = repeated.map(|(name, _)| name.to_ascii_lowercase())?;
    let header = HEADERS.into_iter().find(|h| *h == name)?;
    Some(IngestError::Signature(Rejection::DuplicateHeader(header)))
}
