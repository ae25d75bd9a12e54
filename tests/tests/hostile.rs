//! Hostile input against webhook-ingest: a table of requests, each with its expected status
//! and code, and nothing enqueued for any of them; plus bounded memory under a flood.

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use bridge_tests::apigw::{Payload, webhook_event};
use bridge_tests::world::*;
use bridge_tests::*;
use serde_json::{Value, json};
use sinch_bridge::adapters::{SecretsManagerStore, SqsQueues};
use sinch_bridge::ingest::Ingest;

const SECRET: &str = "hostile-test-secret";
const LIMIT: usize = 8 * 1024;

type RealIngest = Ingest<SecretsManagerStore, SqsQueues>;

async fn target(nonce_capacity: usize) -> (World, RealIngest) {
    let w = World::start(|s| s.service_secret = service_secret(SECRET)).await;
    let ingest = w.ingest(|c, _| {
        c.tolerance_seconds = 300;
        c.max_body_bytes = LIMIT;
        c.nonce_capacity = nonce_capacity;
    });
    (w, ingest)
}

fn headers(secret: &str, body: &[u8], nonce: &str, ts: i64) -> Vec<(String, String)> {
    signed_headers(secret, body, nonce, ts)
}

const BODY: &str = r#"{"app_id":"01EB37HMH1M6SV18ASNS3G135H","message":{"id":"M1","conversation_id":"C1"}}"#;

fn good(body: &[u8]) -> Vec<(String, String)> {
    headers(SECRET, body, &unique("n"), now())
}

/// The signed headers with one header replaced (or removed with `None`).
fn with(name: &str, value: Option<&str>) -> Vec<(String, String)> {
    let mut h = good(BODY.as_bytes());
    h.retain(|(k, _)| k != name);
    if let Some(v) = value {
        h.push((name.to_owned(), v.to_owned()));
    }
    h
}

fn sig() -> String {
    good(BODY.as_bytes())[0].1.clone()
}

struct Case {
    name: &'static str,
    event: Value,
    status: u16,
    code: &'static str,
}

fn case(
    name: &'static str,
    service: &str,
    headers: Vec<(String, String)>,
    body: &[u8],
    status: u16,
    code: &'static str,
) -> Case {
    let b64 = std::str::from_utf8(body).is_err();
    Case {
        name,
        event: webhook_event(Payload::HttpApiV2, service, &headers, body, b64),
        status,
        code,
    }
}

#[tokio::test]
async fn hostile_requests_get_their_status_and_code_and_store_nothing() {
    let (w, ingest) = target(1000).await;
    let s = w.service.as_str();
    let ts = now();
    let replayed = good(BODY.as_bytes());
    let body = BODY.as_bytes();
    let sig_value = sig();
    let b = |text: &str| text.as_bytes().to_vec();
    let over = format!(r#"{{"app_id":"A","pad":"{}"}}"#, "x".repeat(LIMIT));
    let exactly_over = &over.as_bytes()[..LIMIT + 1];
    let garbage_at_limit = vec![b'z'; LIMIT];
    let deep = format!(r#"{{"app_id":"A","x":{}1{}}}"#, "[".repeat(5000), "]".repeat(5000));
    let mut cases = vec![
        // Signature headers: missing, empty, duplicated, oversized, odd bytes.
        case(
            "no signature headers at all",
            s,
            vec![],
            body,
            401,
            "missing_signature_header",
        ),
        case(
            "signature missing",
            s,
            with("x-sinch-webhook-signature", None),
            body,
            401,
            "missing_signature_header",
        ),
        case(
            "nonce missing",
            s,
            with("x-sinch-webhook-signature-nonce", None),
            body,
            401,
            "missing_signature_header",
        ),
        case(
            "timestamp missing",
            s,
            with("x-sinch-webhook-signature-timestamp", None),
            body,
            401,
            "missing_signature_header",
        ),
        case(
            "signature empty",
            s,
            with("x-sinch-webhook-signature", Some("")),
            body,
            401,
            "invalid_signature",
        ),
        case(
            "nonce empty",
            s,
            with("x-sinch-webhook-signature-nonce", Some("")),
            body,
            401,
            "invalid_signature",
        ),
        case(
            "timestamp empty",
            s,
            with("x-sinch-webhook-signature-timestamp", Some("")),
            body,
            401,
            "malformed_timestamp",
        ),
        case(
            "signature folded twice",
            s,
            with("x-sinch-webhook-signature", Some(&format!("{sig_value},{sig_value}"))),
            body,
            401,
            "duplicate_signature_header",
        ),
        case(
            "signature oversized",
            s,
            with("x-sinch-webhook-signature", Some(&"A".repeat(4096))),
            body,
            401,
            "malformed_signature_header",
        ),
        case(
            "nonce oversized",
            s,
            with("x-sinch-webhook-signature-nonce", Some(&"N".repeat(129))),
            body,
            401,
            "malformed_signature_header",
        ),
        case(
            "non-ASCII nonce",
            s,
            with("x-sinch-webhook-signature-nonce", Some("nönce")),
            body,
            401,
            "malformed_signature_header",
        ),
        case(
            "control character in signature",
            s,
            with("x-sinch-webhook-signature", Some("abc\u{7}def")),
            body,
            400,
            "invalid_request",
        ),
        // Algorithm variants.
        case(
            "algorithm lower-case",
            s,
            with("x-sinch-webhook-signature-algorithm", Some("hmacsha256")),
            body,
            401,
            "unsupported_algorithm",
        ),
        case(
            "algorithm HmacSHA1",
            s,
            with("x-sinch-webhook-signature-algorithm", Some("HmacSHA1")),
            body,
            401,
            "unsupported_algorithm",
        ),
        case(
            "algorithm empty",
            s,
            with("x-sinch-webhook-signature-algorithm", Some("")),
            body,
            401,
            "unsupported_algorithm",
        ),
        case(
            "algorithm none",
            s,
            with("x-sinch-webhook-signature-algorithm", Some("none")),
            body,
            401,
            "unsupported_algorithm",
        ),
        // Timestamps.
        case(
            "timestamp negative",
            s,
            with("x-sinch-webhook-signature-timestamp", Some("-1700000000")),
            body,
            401,
            "malformed_timestamp",
        ),
        case(
            "timestamp fractional",
            s,
            with("x-sinch-webhook-signature-timestamp", Some(&format!("{ts}.5"))),
            body,
            401,
            "malformed_timestamp",
        ),
        case(
            "timestamp huge",
            s,
            with("x-sinch-webhook-signature-timestamp", Some("99999999999999999999")),
            body,
            401,
            "malformed_timestamp",
        ),
        case(
            "timestamp in milliseconds",
            s,
            headers(SECRET, body, "n-ms", ts * 1000),
            body,
            401,
            "malformed_timestamp",
        ),
        case(
            "timestamp far past",
            s,
            headers(SECRET, body, "n-past", ts - 86_400),
            body,
            401,
            "stale_timestamp",
        ),
        case(
            "timestamp just outside window",
            s,
            headers(SECRET, body, "n-edge", ts - 400),
            body,
            401,
            "stale_timestamp",
        ),
        case(
            "timestamp far future",
            s,
            headers(SECRET, body, "n-future", ts + 86_400),
            body,
            401,
            "future_timestamp",
        ),
        case(
            "timestamp zero",
            s,
            headers(SECRET, body, "n-zero", 0),
            body,
            401,
            "stale_timestamp",
        ),
        // Signatures.
        case(
            "different secret",
            s,
            headers("another-secret", body, "n-other", ts),
            body,
            401,
            "invalid_signature",
        ),
        case(
            "signature truncated",
            s,
            with("x-sinch-webhook-signature", Some(&sig_value[..20])),
            body,
            401,
            "invalid_signature",
        ),
        case(
            "signature unpadded",
            s,
            with("x-sinch-webhook-signature", Some(sig_value.trim_end_matches('='))),
            body,
            401,
            "invalid_signature",
        ),
        case(
            "signature hex",
            s,
            with("x-sinch-webhook-signature", Some(&"ab".repeat(32))),
            body,
            401,
            "invalid_signature",
        ),
        case(
            "signature of another body",
            s,
            headers(SECRET, b"{}", "n-body", ts),
            body,
            401,
            "invalid_signature",
        ),
        case(
            "empty secret signature",
            s,
            headers("", body, "n-empty", ts),
            body,
            401,
            "invalid_signature",
        ),
        // Bodies.
        case("body empty, signed", s, good(b""), b"", 401, "invalid_signature"),
        case(
            "body one byte over the limit",
            s,
            good(exactly_over),
            exactly_over,
            413,
            "body_too_large",
        ),
        case(
            "body not UTF-8, signed",
            s,
            good(&[0xff, 0xfe, 0x7b]),
            &[0xff, 0xfe, 0x7b],
            401,
            "invalid_signature",
        ),
        case(
            "body deeply nested JSON, signed",
            s,
            good(deep.as_bytes()),
            deep.as_bytes(),
            413,
            "body_too_large",
        ),
        case(
            "JSON array, signed",
            s,
            good(b"[1,2]"),
            b"[1,2]",
            401,
            "invalid_signature",
        ),
        // Refused before any secret lookup or hashing, so they cost no HMAC.
        case(
            "signed garbage at the size limit",
            s,
            good(&garbage_at_limit),
            &garbage_at_limit,
            401,
            "invalid_signature",
        ),
        case(
            "JSON string, signed",
            s,
            good(b"\"x\""),
            b"\"x\"",
            401,
            "invalid_signature",
        ),
        case("JSON null, signed", s, good(b"null"), b"null", 401, "invalid_signature"),
        case(
            "app_id not a string, forged",
            s,
            headers("forged", br#"{"app_id":7,"message":{}}"#, "n-app7", ts),
            br#"{"app_id":7,"message":{}}"#,
            401,
            "invalid_signature",
        ),
        case(
            "valid signature, no app_id",
            s,
            good(&b(r#"{"message":{"id":"x"}}"#)),
            &b(r#"{"message":{"id":"x"}}"#),
            401,
            "invalid_signature",
        ),
        case(
            "unsigned invalid JSON",
            s,
            vec![],
            b"{nope",
            401,
            "missing_signature_header",
        ),
        // Service names.
        case("service ..", "..", good(body), body, 400, "invalid_service_name"),
        case(
            "service with slash",
            "a/b",
            good(body),
            body,
            400,
            "invalid_service_name",
        ),
        case("service %2F", "a%2Fb", good(body), body, 400, "invalid_service_name"),
        case(
            "service unicode",
            "sérvice",
            good(body),
            body,
            400,
            "invalid_service_name",
        ),
        case(
            "service 65 characters",
            &"s".repeat(65),
            good(body),
            body,
            400,
            "invalid_service_name",
        ),
        case(
            "service leading dash",
            "-svc",
            good(body),
            body,
            400,
            "invalid_service_name",
        ),
        case(
            "service unknown",
            "ghost-service",
            good(body),
            body,
            401,
            "invalid_signature",
        ),
        case("service empty", "", good(body), body, 400, "invalid_service_name"),
    ];
    // Base64 flag with a body that is not base64.
    let mut bad_b64 = webhook_event(Payload::HttpApiV2, s, &good(body), body, false);
    bad_b64["body"] = json!("!!not base64!!");
    bad_b64["isBase64Encoded"] = json!(true);
    cases.push(Case {
        name: "invalid base64 with the base64 flag",
        event: bad_b64,
        status: 400,
        code: "invalid_base64",
    });
    // Deep nesting that fits the limit: parsed without trouble, then refused for having no app_id.
    let small_deep = format!(r#"{{"x":{}1{}}}"#, "[".repeat(3000), "]".repeat(3000));
    cases.push(case(
        "deep nesting within the limit, no app_id",
        s,
        good(small_deep.as_bytes()),
        small_deep.as_bytes(),
        401,
        "invalid_signature",
    ));
    // RELIABILITY.md, "Hostile input", gives this count (with the nonce reuse added below).
    assert_eq!(cases.len() + 1, 52, "{} cases", cases.len());

    // One real delivery first, so its nonce can be replayed.
    let first = webhook_event(Payload::HttpApiV2, s, &replayed, body, false);
    assert_eq!(invoke_ingest(&ingest, first).await.0, 200);
    let _ = drain(&w.sqs, &w.events, 30).await;
    cases.push(Case {
        name: "nonce reuse",
        event: webhook_event(Payload::HttpApiV2, s, &replayed, body, false),
        status: 401,
        code: "replayed_nonce",
    });

    let total = cases.len();
    for c in cases {
        let (status, answer) = invoke_ingest(&ingest, c.event).await;
        assert_eq!(
            (status, answer.clone()),
            (c.status, json!({"error": c.code})),
            "{}",
            c.name
        );
    }
    assert_eq!(
        depth(&w.sqs, &w.events).await,
        0,
        "none of the {total} hostile requests was enqueued"
    );
}

/// The edge reads the path parameter, the headers and the body and nothing else: a Host or a
/// scheme that makes no URL (which `lambda_http` panicked on, when it built one) does not stop a
/// signed callback; an event whose headers are not HTTP headers is a bad request.
#[tokio::test]
async fn the_edge_reads_only_what_the_ingest_needs_from_the_event() {
    let (w, ingest) = target(100).await;
    let s = w.service.as_str();
    let body = BODY.as_bytes();
    let mut stored = 0;
    for (kind, header, value) in [
        (Payload::HttpApiV2, "host", "a b"),
        (Payload::HttpApiV2, "x-forwarded-proto", "ht tp"),
        (Payload::RestV1, "Host", "a b"),
    ] {
        let mut event = webhook_event(kind, s, &good(body), body, false);
        event["headers"][header] = json!(value);
        if kind == Payload::RestV1 {
            event["multiValueHeaders"][header] = json!([value]);
        }
        assert_eq!(
            invoke_ingest(&ingest, event).await,
            (200, json!({"status": "stored", "trigger": "MESSAGE_INBOUND"})),
            "{header}: {value}"
        );
        stored += 1;
    }
    // A header only in a REST event's `headers` counts; one in both maps is read once.
    let mut rest = webhook_event(Payload::RestV1, s, &good(body), body, false);
    if let Some(multi) = rest["multiValueHeaders"].as_object_mut() {
        multi.retain(|name, _| name != "x-sinch-webhook-signature");
    }
    rest["headers"] = json!(rest["headers"].as_object().map(|h| {
        h.iter()
            .map(|(k, v)| (k.to_uppercase(), v.clone()))
            .collect::<serde_json::Map<_, _>>()
    }));
    assert_eq!(
        invoke_ingest(&ingest, rest).await.0,
        200,
        "signature header only in `headers`"
    );
    stored += 1;
    // A tab is allowed in a value; an empty `multiValueHeaders` leaves `headers` to be read.
    let mut tab = webhook_event(Payload::HttpApiV2, s, &good(body), body, false);
    tab["headers"]["x-other"] = json!("a\tb");
    tab["multiValueHeaders"] = json!({});
    assert_eq!(invoke_ingest(&ingest, tab).await.0, 200, "a tab in a value");
    stored += 1;
    // Signed callbacks each with one thing that is not HTTP, or not the event's shape.
    type Change = fn(&mut Value);
    let refused: [(&str, Change); 9] = [
        ("a header name with a space", |e| e["headers"]["x other"] = json!("a")),
        ("an empty header name", |e| e["headers"][""] = json!("a")),
        ("a NUL in a header value", |e| {
            e["headers"]["x-other"] = json!("a\u{0}b")
        }),
        ("a number as a header value", |e| e["headers"]["x-other"] = json!(7)),
        ("headers as a string", |e| e["headers"] = json!("x-other: a")),
        ("a REST header value with a NUL", |e| {
            e["multiValueHeaders"] = json!({"x-other": ["a\u{0}b"]})
        }),
        ("a REST header value that is a number", |e| {
            e["multiValueHeaders"] = json!({"x-other": [7]})
        }),
        ("a REST header that is not a list", |e| {
            e["multiValueHeaders"] = json!({"x-other": "a"})
        }),
        ("a body that is an object", |e| e["body"] = json!({"app_id": "A"})),
    ];
    for (name, change) in refused {
        let mut event = webhook_event(Payload::HttpApiV2, s, &good(body), body, false);
        change(&mut event);
        assert_eq!(
            invoke_ingest(&ingest, event).await,
            (400, json!({"error": "invalid_request"})),
            "{name}"
        );
    }
    assert_eq!(drain(&w.sqs, &w.events, 30).await.len(), stored);
}

#[tokio::test]
async fn replay_memory_stays_bounded_under_a_flood() {
    let (w, ingest) = target(500).await;
    let body = BODY.as_bytes();
    // Forged requests never enter the nonce cache.
    for i in 0..2000 {
        let h = headers("forged", body, &format!("forged-{i}"), now());
        let (status, _) = invoke_ingest(&ingest, webhook_event(Payload::HttpApiV2, &w.service, &h, body, false)).await;
        assert_eq!(status, 401);
    }
    assert_eq!(ingest.nonce_store().len(), 0);
    // Valid ones do, up to the capacity and no further.
    for i in 0..800 {
        let b = format!(r#"{{"app_id":"A","message":{{"id":"M{i}"}}}}"#);
        let h = headers(SECRET, b.as_bytes(), &format!("real-{i}"), now());
        let (status, _) = invoke_ingest(
            &ingest,
            webhook_event(Payload::HttpApiV2, &w.service, &h, b.as_bytes(), false),
        )
        .await;
        assert_eq!(status, 200);
    }
    assert_eq!(ingest.nonce_store().len(), 500);
}

/// `ReplayProtection=table`: a captured request replayed to any environment is refused, and
/// copies arriving together store one event.
#[tokio::test]
async fn replays_are_refused_by_every_instance_sharing_the_nonce_table() {
    let w = World::start(|s| s.service_secret = service_secret(SECRET)).await;
    let a = w.ingest_on_table(|_, _| {});
    let b = w.ingest_on_table(|_, _| {});
    let s = w.service.as_str();
    let body = BODY.as_bytes();
    let event = |h: &[(String, String)]| webhook_event(Payload::HttpApiV2, s, h, body, false);

    let captured = good(body);
    assert_eq!(invoke_ingest(&a, event(&captured)).await.0, 200);
    for (name, instance) in [("other instance", &b), ("same instance", &a), ("other again", &b)] {
        let (status, answer) = invoke_ingest(instance, event(&captured)).await;
        assert_eq!((status, answer), (401, json!({"error": "replayed_nonce"})), "{name}");
    }

    // An hour-old signature (a Sinch retry after an outage) is inside the table's window: the
    // first delivery is stored, its replay on the other instance is not.
    let late = headers(SECRET, body, &unique("late"), now() - 3600);
    assert_eq!(invoke_ingest(&b, event(&late)).await.0, 200);
    assert_eq!(
        invoke_ingest(&a, event(&late)).await.1,
        json!({"error": "replayed_nonce"})
    );

    // Two copies at once, one per instance: one is stored, the other is refused or told to
    // retry (if the first had failed, that retry would be needed).
    let twin = good(body);
    let (first, second) = tokio::join!(invoke_ingest(&a, event(&twin)), invoke_ingest(&b, event(&twin)));
    let mut statuses = [first.0, second.0];
    statuses.sort_unstable();
    assert_eq!(statuses[0], 200, "{first:?} {second:?}");
    assert!(
        [json!({"error": "nonce_in_flight"}), json!({"error": "replayed_nonce"})].contains(&second.1)
            || [json!({"error": "nonce_in_flight"}), json!({"error": "replayed_nonce"})].contains(&first.1),
        "{first:?} {second:?}"
    );
    let stored = drain(&w.sqs, &w.events, 30).await;
    assert_eq!(stored.len(), 3, "one event per distinct request");
}
