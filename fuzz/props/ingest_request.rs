//! Properties of the whole webhook path, `webhook_ingest::entry` over in-memory ports, for any
//! input bytes. Shared by the fuzz target `ingest_request` and the regression replay in
//! `tests/tests/fuzz_regressions_ingest.rs`.
//!
//! Input layout: byte 0 is the mode, the rest is the payload.
//!
//! * mode bit 0 set: the payload is a callback body, signed with the service's secret;
//! * bits 0-1 clear: the payload is a whole API Gateway event, when it parses as JSON (else an
//!   unsigned body);
//! * bit 0 clear, bit 1 set: the payload is a body, signed with another secret when bit 5 is
//!   set, unsigned otherwise;
//!
//! and, for bodies: bit 2 = base64-encode the body (always done when it is not UTF-8); bit 3 =
//! REST API (payload 1.0) event instead of HTTP API (2.0); bit 4 = header names in upper case;
//! bit 5 (signed) = timestamp an hour old; bit 6 = the signature header given twice (comma
//! folded in 2.0, two `multiValueHeaders` values in 1.0); bit 7 = post to an unknown service.

use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value, json};
use sinch_bridge::clock::{Clock, SystemClock};
use sinch_bridge::ingest::{Ingest, IngestConfig};
use sinch_bridge::metrics::Metrics;
use sinch_bridge::ports::Stage;
use sinch_bridge::protocol::signature::SIGNATURE_HEADER;
use sinch_bridge::protocol::{SecretString, classify, sign};
use sinch_bridge::service_cache::{ServiceCache, ServiceCacheConfig};
use sinch_bridge::testing::{MemoryQueues, MemorySecrets};
use webhook_ingest::apigw::{Payload, webhook_event};

const SERVICE: &str = "svc";
const UNKNOWN_SERVICE: &str = "other";
const SECRET: &str = "fuzz-webhook-secret";
const WRONG_SECRET: &str = "not-the-webhook-secret";
const PREFIX: &str = "fuzz/services/";
const QUEUE_URL: &str = "https://sqs.eu-west-1.amazonaws.com/1/events.fifo";
/// Small, so inputs of libFuzzer's default sizes reach the 413 answer.
const MAX_BODY: usize = 2048;
const NONCE: &str = "01HFUZZN0NCE0000000000000A";
/// Every status the function may answer with.
const STATUSES: [u64; 5] = [200, 400, 401, 413, 503];

/// What the mode byte asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signing {
    Right,
    Wrong,
    None,
}

#[derive(Debug, Clone, Copy)]
struct Mode {
    signing: Signing,
    base64: bool,
    rest_api: bool,
    upper_case: bool,
    stale: bool,
    duplicate: bool,
    unknown_service: bool,
}

impl Mode {
    fn of(byte: u8) -> Self {
        let signing = match (byte & 1 != 0, byte & 2 != 0, byte & 0x20 != 0) {
            (true, _, _) => Signing::Right,
            (false, true, true) => Signing::Wrong,
            _ => Signing::None,
        };
        Self {
            signing,
            base64: byte & 0x04 != 0,
            rest_api: byte & 0x08 != 0,
            upper_case: byte & 0x10 != 0,
            stale: signing == Signing::Right && byte & 0x20 != 0,
            duplicate: signing != Signing::None && byte & 0x40 != 0,
            unknown_service: byte & 0x80 != 0,
        }
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("tokio runtime: {e}"))
    })
}

/// A fresh ingest per input (cheap: in-memory ports), so no nonce or cache state carries over
/// and every input replays alone exactly as it ran.
fn ingest() -> (Ingest<MemorySecrets, MemoryQueues>, MemoryQueues) {
    let secrets = MemorySecrets::default();
    let service = json!({"region": "eu", "project_id": "proj", "key_id": "key", "key_secret": "key-secret",
                         "webhook_secret": SECRET});
    secrets.put(&format!("{PREFIX}{SERVICE}"), Stage::Current, &service.to_string());
    let queues = MemoryQueues::default();
    let clock = Arc::new(SystemClock);
    let cache = ServiceCacheConfig {
        prefix: PREFIX.into(),
        ..ServiceCacheConfig::default()
    };
    let services = Arc::new(ServiceCache::new(secrets, clock.clone(), cache));
    let config = IngestConfig {
        events_queue_url: QUEUE_URL.into(),
        max_body_bytes: MAX_BODY,
        ..IngestConfig::default()
    };
    let ingest = Ingest::new(services, queues.clone(), clock, config, Metrics::discard("fuzz"));
    (ingest, queues)
}

/// Panics when a property does not hold for `data`.
pub fn check(data: &[u8]) {
    let Some((&byte, payload)) = data.split_first() else {
        return;
    };
    let mode = Mode::of(byte);
    let raw_event = (byte & 3 == 0)
        .then(|| serde_json::from_slice::<Value>(payload).ok())
        .flatten();
    let (event, expected) = match raw_event {
        Some(event) => (event, None),
        None => (body_event(mode, payload), Some(expected_statuses(mode, payload))),
    };

    let (ingest, queues) = ingest();
    let before = queues.taken().len();
    let response = runtime().block_on(webhook_ingest::entry(
        &ingest,
        lambda_http::LambdaEvent::new(event, lambda_http::Context::default()),
    ));
    let response = match response {
        Ok(response) => response,
        Err(e) => panic!("entry failed instead of answering: {e}"),
    };
    let stored = queues.taken();
    let added = stored.len().saturating_sub(before);

    let status = response.get("statusCode").and_then(Value::as_u64);
    let Some(status) = status.filter(|s| STATUSES.contains(s)) else {
        panic!("statusCode {status:?} is not one of {STATUSES:?}: {response}");
    };
    let body: Map<String, Value> = match response
        .get("body")
        .and_then(Value::as_str)
        .map(serde_json::from_str::<Value>)
    {
        Some(Ok(Value::Object(body))) => body,
        other => panic!("the response body is not a JSON object ({other:?}): {response}"),
    };
    if status == 200 {
        assert_eq!(
            body.get("status"),
            Some(&json!("stored")),
            "200 without status stored: {response}"
        );
        assert_eq!(added, 1, "answered 200 but stored {added} messages");
    } else {
        assert!(
            body.get("error").and_then(Value::as_str).is_some_and(|e| !e.is_empty()),
            "{status} without an error code: {response}"
        );
        assert_eq!(added, 0, "answered {status} but stored {added} messages");
    }
    // Only a request we signed with the service's secret can be stored.
    if status == 200 {
        assert!(
            expected.is_some() && mode.signing == Signing::Right,
            "stored a request that was not signed with the service's secret (mode {mode:?})"
        );
    }
    if let Some(expected) = expected {
        assert!(
            expected.contains(&status),
            "mode {mode:?}, {} byte body: expected one of {expected:?}: {response}",
            payload.len()
        );
    }
    if let (200, Some(message)) = (status, stored.last()) {
        // The bytes Sinch sent: as text when SQS can hold them, else as base64.
        match std::str::from_utf8(payload).ok().filter(|text| sqs_can_hold(text)) {
            Some(text) => assert_eq!(message.body, text, "the stored body is not the received one"),
            None => assert_eq!(
                message.body,
                base64(payload),
                "the stored body is not the received one's base64"
            ),
        }
        assert_eq!(message.queue_url, QUEUE_URL, "queue");
        assert!(message.group_id.is_some(), "FIFO message without a group id");
        assert!(
            message.dedup_id.as_deref().is_some_and(|d| d.len() == 64),
            "FIFO message without a 64-char dedup id"
        );
    }
}

/// The statuses a body in `mode` may be answered with.
fn expected_statuses(mode: Mode, body: &[u8]) -> &'static [u64] {
    if mode.duplicate && mode.rest_api {
        // The entry refuses a repeated multi-value signature header before anything else.
        return &[401];
    }
    if body.len() > MAX_BODY {
        return &[413];
    }
    if mode.signing != Signing::Right || mode.stale || mode.duplicate || mode.unknown_service {
        // Unsigned, forged, stale, folded, or for a service that does not exist.
        return &[401];
    }
    let plain_callback = classify(body).is_ok() && std::str::from_utf8(body).is_ok_and(sqs_can_hold);
    if plain_callback {
        &[200]
    } else {
        // Signed, but not a callback or not text SQS can hold: refused (400, or 401 where a
        // signed body that is not a callback is treated as a bad signature), or stored as
        // base64 (413 when that outgrows the limit). The exact answer is the ingest's policy.
        &[200, 400, 401, 413]
    }
}

/// SQS's rule for message bodies: tab, line feed, carriage return and U+0020 and above,
/// except U+FFFE and U+FFFF.
fn sqs_can_hold(text: &str) -> bool {
    text.chars()
        .all(|c| matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{fffe}' && c != '\u{ffff}'))
}

/// An API Gateway event posting `body` to the service, with the headers `mode` asks for, built
/// by the function crate's own event builder (the one the tests and the local loop use).
fn body_event(mode: Mode, body: &[u8]) -> Value {
    let mut headers: Vec<(String, String)> = Vec::new();
    let secret = match mode.signing {
        Signing::Right => Some(SECRET),
        Signing::Wrong => Some(WRONG_SECRET),
        Signing::None => None,
    };
    if let Some(secret) = secret {
        let now = SystemClock.unix_seconds();
        let timestamp = if mode.stale { now - 3600 } else { now };
        let signed = sign(&SecretString::new(secret), body, NONCE, timestamp);
        for (name, value) in signed.pairs() {
            headers.push((name.to_owned(), value.to_owned()));
            if mode.duplicate && name == SIGNATURE_HEADER {
                // Folded into "v,v" by an HTTP API, kept as two values by a REST API.
                headers.push((name.to_owned(), value.to_owned()));
            }
        }
    }
    if mode.upper_case {
        for (name, _) in &mut headers {
            *name = name.to_ascii_uppercase();
        }
    }
    let service = if mode.unknown_service { UNKNOWN_SERVICE } else { SERVICE };
    let kind = if mode.rest_api {
        Payload::RestV1
    } else {
        Payload::HttpApiV2
    };
    webhook_event(kind, service, &headers, body, mode.base64)
}

/// Standard base64 with padding, written out here as an independent check of what is stored.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let triple = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((triple >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
