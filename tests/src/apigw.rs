//! API Gateway events as Lambda receives them, built from the JSON fixtures in
//! `tests/fixtures/`: HTTP API (payload 2.0) and REST API (payload 1.0).

use base64::Engine as _;
use serde_json::Value;

const V2: &str = include_str!("../fixtures/apigw-v2-webhook.json");
const V1: &str = include_str!("../fixtures/apigw-v1-webhook.json");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    HttpApiV2,
    RestV1,
}

/// An event for `POST /webhooks/{service}` with `headers` and `body`; `base64` encodes the
/// body the way API Gateway does for binary payloads.
pub fn webhook_event(kind: Payload, service: &str, headers: &[(String, String)], body: &[u8], base64: bool) -> Value {
    let mut event: Value = serde_json::from_str(match kind {
        Payload::HttpApiV2 => V2,
        Payload::RestV1 => V1,
    })
    .expect("fixture is JSON");
    let path = format!("/webhooks/{service}");
    let map: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    event["body"] = Value::String(if base64 {
        base64::engine::general_purpose::STANDARD.encode(body)
    } else {
        String::from_utf8(body.to_vec()).expect("text body")
    });
    event["isBase64Encoded"] = Value::Bool(base64);
    event["pathParameters"]["service"] = Value::String(service.to_owned());
    match kind {
        Payload::HttpApiV2 => {
            event["rawPath"] = Value::String(path.clone());
            event["requestContext"]["http"]["path"] = Value::String(path);
            let mut all = event["headers"].as_object().cloned().unwrap_or_default();
            all.extend(map);
            event["headers"] = Value::Object(all);
        }
        Payload::RestV1 => {
            event["path"] = Value::String(path.clone());
            event["requestContext"]["path"] = Value::String(format!("/prod{path}"));
            let mut all = event["headers"].as_object().cloned().unwrap_or_default();
            all.extend(map);
            let multi: serde_json::Map<String, Value> = all
                .iter()
                .map(|(k, v)| (k.clone(), Value::Array(vec![v.clone()])))
                .collect();
            event["headers"] = Value::Object(all);
            event["multiValueHeaders"] = Value::Object(multi);
        }
    }
    event
}
