//! The webhook-ingest function's edge: API Gateway events in, API Gateway answers out. All the
//! work is [`sinch_bridge::ingest::Ingest`]; this file only translates.
//!
//! The event is read in place from the JSON tree the runtime parsed it into, once: the path
//! parameter, the headers and the body are all the ingest needs. `lambda_http`'s conversion
//! (the tree into a `LambdaRequest`, that into an `http::Request` with a URL built from the
//! Host header, and the answer back through a tree) cost CPU on every request (BENCHMARKS.md,
//! section 8), panicked on a Host that makes no URL and decoded base64 bodies with `expect`.

pub mod after_answer;
pub mod apigw;

use std::borrow::Cow;

use base64::Engine as _;
use serde_json::{Map, Value, json};
use sinch_bridge::ingest::{Ingest, IngestError, WebhookRequest};
use sinch_bridge::ports::{NonceStore, QueueWriter, SecretStore};

pub const ROUTE_PREFIX: &str = "/webhooks/";

/// The Lambda entry point: one API Gateway event (HTTP API 2.0 or REST 1.0), one answer. It
/// never fails the invocation for what a request holds: every refusal is an answer.
pub async fn entry<S: SecretStore, Q: QueueWriter, N: NonceStore>(
    ingest: &Ingest<S, Q, N>,
    event: lambda_http::LambdaEvent<Value>,
) -> Result<Value, lambda_http::Error> {
    ingest.metrics().cold_start();
    let event = &event.payload;
    let service = raw_service(event);
    let result = match read(event) {
        Ok(EventRequest { headers, body }) => {
            ingest
                .handle(&WebhookRequest {
                    service: service.as_deref().unwrap_or_default(),
                    headers: &headers,
                    body: &body,
                })
                .await
        }
        Err(error) => {
            ingest.record_rejection(service.as_deref(), &error);
            Err(error)
        }
    };
    Ok(match result {
        Ok(stored) => answer(200, &json!({ "status": "stored", "trigger": stored.trigger })),
        Err(e) => answer(e.status(), &json!({ "error": e.code() })),
    })
}

/// An answer both API Gateway payload versions take.
fn answer(status: u16, body: &Value) -> Value {
    json!({
        "statusCode": status,
        "headers": { "content-type": "application/json" },
        "body": body.to_string(),
        "isBase64Encoded": false,
    })
}

/// What the ingest reads of an event, borrowed from it.
struct EventRequest<'a> {
    headers: Vec<(&'a str, &'a [u8])>,
    body: Cow<'a, [u8]>,
}

/// The headers and the body of an event, as they came. A REST API (1.0) event's
/// `multiValueHeaders` hold every value of a repeated header (its `headers` keep the last), so
/// they are read first: a repeated signature header is refused, never collapsed.
fn read(event: &Value) -> Result<EventRequest<'_>, IngestError> {
    let mut headers = Vec::new();
    let multi = object(event, "multiValueHeaders")?.filter(|multi| !multi.is_empty());
    for (name, values) in multi.into_iter().flatten() {
        for value in values.as_array().ok_or(IngestError::InvalidRequest)? {
            headers.push((name.as_str(), text(value)?.as_bytes()));
        }
    }
    // API Gateway fills both maps from the same request, `headers` with each header's last value
    // (docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html,
    // "Support for multi-value headers"); a header only in `headers` (a hand-made event) still
    // counts, and one in both is read once, whatever the case of its name in each.
    for (name, value) in object(event, "headers")?.into_iter().flatten() {
        let value = text(value)?.as_bytes();
        if !multi.is_some_and(|multi| multi.keys().any(|m| m.eq_ignore_ascii_case(name))) {
            headers.push((name.as_str(), value));
        }
    }
    if !headers.iter().all(|(name, value)| is_header(name, value)) {
        return Err(IngestError::InvalidRequest);
    }
    let body = match event.get("body") {
        None | Some(Value::Null) => "",
        Some(Value::String(body)) => body.as_str(),
        Some(_) => return Err(IngestError::InvalidRequest),
    };
    let body = if event.get("isBase64Encoded").and_then(Value::as_bool).unwrap_or(false) {
        Cow::Owned(
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .map_err(|_| IngestError::InvalidBase64)?,
        )
    } else {
        Cow::Borrowed(body.as_bytes())
    };
    Ok(EventRequest { headers, body })
}

fn text(value: &Value) -> Result<&str, IngestError> {
    value.as_str().ok_or(IngestError::InvalidRequest)
}

/// The object at `key`: none when absent or null, a bad request when not an object.
fn object<'a>(event: &'a Value, key: &str) -> Result<Option<&'a Map<String, Value>>, IngestError> {
    match event.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(IngestError::InvalidRequest),
    }
}

/// What HTTP allows in a header (RFC 9110, section 5): a name of token characters and a value
/// without control characters other than tab. API Gateway sends nothing else; anything else is
/// refused as a bad request, as `http`'s own parser would.
fn is_header(name: &str, value: &[u8]) -> bool {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    !name.is_empty() && name.bytes().all(token) && value.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// The `{service}` path segment: API Gateway's path parameter, else the path after
/// [`ROUTE_PREFIX`] (a Function URL or a proxy route).
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
