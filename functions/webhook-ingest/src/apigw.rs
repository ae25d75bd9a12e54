//! API Gateway events for `POST /webhooks/{service}` as Lambda hands them to this function,
//! built from real-shaped fixtures (`events/`): HTTP API (payload 2.0, the template's) and REST
//! API (payload 1.0). The one builder the local loop, the integration tests and the fuzz targets
//! share, so all three feed the function what API Gateway would.

use base64::Engine as _;
use serde_json::{Map, Value};

const HTTP_API_V2: &str = include_str!("../events/http-api-v2.json");
const REST_API_V1: &str = include_str!("../events/rest-api-v1.json");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    HttpApiV2,
    RestV1,
}

/// The event for `headers` and `body` sent to `service`. A header named twice is folded the
/// way each API does: one comma-joined value (HTTP API); the last value in `headers` and every
/// value in `multiValueHeaders` (REST API). The body is base64-encoded when `base64` asks for it
/// or when it is not UTF-8, as API Gateway does for binary payloads.
pub fn webhook_event(kind: Payload, service: &str, headers: &[(String, String)], body: &[u8], base64: bool) -> Value {
    let fixture = match kind {
        Payload::HttpApiV2 => HTTP_API_V2,
        Payload::RestV1 => REST_API_V1,
    };
    // The fixtures are compiled in and parsed by a test; an unparsable one yields an empty event.
    let mut event: Value = serde_json::from_str(fixture).unwrap_or_default();
    let path = format!("/webhooks/{service}");
    let (text, encoded) = match std::str::from_utf8(body) {
        Ok(text) if !base64 => (text.to_owned(), false),
        _ => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    event["body"] = Value::String(text);
    event["isBase64Encoded"] = Value::Bool(encoded);
    event["pathParameters"]["service"] = Value::String(service.to_owned());
    let mut single = event["headers"].as_object().cloned().unwrap_or_default();
    match kind {
        Payload::HttpApiV2 => {
            event["rawPath"] = Value::String(path.clone());
            event["requestContext"]["http"]["path"] = Value::String(path);
            let mut seen: Map<String, Value> = Map::new();
            for (name, value) in headers {
                let joined = match seen.get(name).and_then(Value::as_str) {
                    Some(before) => format!("{before},{value}"),
                    None => value.clone(),
                };
                seen.insert(name.clone(), Value::String(joined));
            }
            single.extend(seen);
            event["headers"] = Value::Object(single);
        }
        Payload::RestV1 => {
            event["path"] = Value::String(path.clone());
            event["requestContext"]["path"] = Value::String(format!("/prod{path}"));
            let mut multi: Map<String, Value> = single
                .iter()
                .map(|(k, v)| (k.clone(), Value::Array(vec![v.clone()])))
                .collect();
            let mut given: Map<String, Value> = Map::new();
            for (name, value) in headers {
                single.insert(name.clone(), Value::String(value.clone()));
                match given.get_mut(name) {
                    Some(Value::Array(values)) => values.push(Value::String(value.clone())),
                    _ => {
                        given.insert(name.clone(), Value::Array(vec![Value::String(value.clone())]));
                    }
                }
            }
            multi.extend(given);
            event["headers"] = Value::Object(single);
            event["multiValueHeaders"] = Value::Object(multi);
        }
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn fixtures_are_events_lambda_http_accepts() {
        for kind in [Payload::HttpApiV2, Payload::RestV1] {
            let event = webhook_event(kind, "svc", &pairs(&[("x-a", "1")]), b"{}", false);
            let parsed = serde_json::from_value::<lambda_http::request::LambdaRequest>(event);
            assert!(parsed.is_ok(), "{kind:?}: {parsed:?}");
        }
    }

    #[test]
    fn repeated_headers_fold_as_each_api_folds_them() {
        let headers = pairs(&[("x-sig", "a"), ("x-sig", "b")]);
        let v2 = webhook_event(Payload::HttpApiV2, "svc", &headers, b"{}", false);
        assert_eq!(v2["headers"]["x-sig"], "a,b");
        let v1 = webhook_event(Payload::RestV1, "svc", &headers, b"{}", false);
        assert_eq!(v1["headers"]["x-sig"], "b");
        assert_eq!(v1["multiValueHeaders"]["x-sig"], serde_json::json!(["a", "b"]));
        assert_eq!(
            v1["multiValueHeaders"]["Content-Type"],
            serde_json::json!(["application/json"])
        );
    }

    #[test]
    fn binary_bodies_and_the_path_are_set_like_api_gateway() {
        let event = webhook_event(Payload::HttpApiV2, "eu-main", &[], &[0xff, 0x00], false);
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(event["body"], "/wA=");
        assert_eq!(event["rawPath"], "/webhooks/eu-main");
        assert_eq!(event["pathParameters"]["service"], "eu-main");
        let text = webhook_event(Payload::RestV1, "s", &[], b"{}", true);
        assert_eq!(
            (text["body"].as_str(), text["path"].as_str()),
            (Some("e30="), Some("/webhooks/s"))
        );
    }
}
