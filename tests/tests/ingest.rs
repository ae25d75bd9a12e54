//! webhook-ingest end to end: API Gateway events through the Lambda entry point, real
//! Secrets Manager and SQS (moto server on loopback), bodies read back from the queue.

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bridge_tests::apigw::{Payload, webhook_event};
use bridge_tests::*;
use serde_json::{Value, json};
use sinch_bridge::adapters::{SecretsManagerStore, SqsSink};
use sinch_bridge::clock::SystemClock;
use sinch_bridge::directory::{DirectoryConfig, ServiceDirectory};
use sinch_bridge::ingest::{Ingest, IngestConfig};
use sinch_bridge::metrics::Metrics;
use sinch_bridge::ports::{PortError, SecretStore, Stage};
use sinch_bridge::protocol::callback::hex_sha256;
use sinch_bridge::protocol::{SecretString, Trigger, sign};

const PREFIX: &str = "sinch-bridge/services/";

/// Counts calls on the way to the real Secrets Manager adapter.
#[derive(Clone)]
struct Counting {
    inner: SecretsManagerStore,
    calls: Arc<AtomicUsize>,
}

impl SecretStore for Counting {
    async fn fetch(&self, name: &str, stage: Stage) -> Result<Option<SecretString>, PortError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.fetch(name, stage).await
    }
}

struct Stack {
    _moto: Moto,
    sqs: aws_sdk_sqs::Client,
    secrets: aws_sdk_secretsmanager::Client,
    service: String,
    queue: String,
    calls: Arc<AtomicUsize>,
    ingest: Ingest<Counting, SqsSink>,
}

fn service_secret(webhook_secret: &str) -> String {
    json!({"region": "eu", "project_id": "proj", "key_id": "key", "key_secret": "ks", "webhook_secret": webhook_secret})
        .to_string()
}

async fn stack_with(fifo: bool, tweak: impl FnOnce(&mut IngestConfig, &str), sink_endpoint: Option<&str>) -> Stack {
    let moto = Moto::start();
    let sqs = moto.sqs().await;
    let secrets = moto.secrets().await;
    let service = unique("svc");
    let queue_name = if fifo {
        format!("{}.fifo", unique("events"))
    } else {
        unique("events")
    };
    let queue = create_queue(&sqs, &queue_name).await;
    create_secret(
        &secrets,
        &format!("{PREFIX}{service}"),
        &service_secret("current-secret"),
    )
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    let store = Counting {
        inner: SecretsManagerStore::new(secrets.clone()),
        calls: calls.clone(),
    };
    let sink_client = match sink_endpoint {
        Some(endpoint) => aws_sdk_sqs::Client::new(&sdk_config_for(endpoint).await),
        None => sqs.clone(),
    };
    let mut config = IngestConfig {
        allowed_services: None,
        tolerance_seconds: 600,
        max_body_bytes: 64 * 1024,
        events_queue_url: queue.clone(),
        trigger_queue_urls: HashMap::new(),
        nonce_capacity: 1000,
    };
    tweak(&mut config, &service);
    let clock = Arc::new(SystemClock);
    let dir = DirectoryConfig {
        prefix: PREFIX.into(),
        ttl: Duration::from_secs(300),
        refresh_min_interval: Duration::from_secs(30),
    };
    let directory = Arc::new(ServiceDirectory::new(store, clock.clone(), dir));
    let ingest = Ingest::new(
        directory,
        SqsSink::new(sink_client),
        clock,
        config,
        Metrics::discard("test"),
    );
    Stack {
        _moto: moto,
        sqs,
        secrets,
        service,
        queue,
        calls,
        ingest,
    }
}

async fn stack(fifo: bool) -> Stack {
    stack_with(fifo, |_, _| {}, None).await
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn signed_at(secret: &str, body: &str, nonce: &str, ts: i64) -> Vec<(String, String)> {
    sign(&SecretString::new(secret), body.as_bytes(), nonce, ts)
        .pairs()
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn signed(secret: &str, body: &str) -> Vec<(String, String)> {
    signed_at(secret, body, &unique("nonce"), now())
}

impl Stack {
    async fn post_event(&self, event: Value) -> (u16, Value) {
        let ctx = lambda_http::Context::default();
        let response = webhook_ingest::entry(&self.ingest, lambda_http::LambdaEvent::new(event, ctx))
            .await
            .expect("entry never errs");
        let status = response["statusCode"].as_u64().expect("statusCode") as u16;
        let body: Value = serde_json::from_str(response["body"].as_str().unwrap_or("null")).expect("JSON body");
        (status, body)
    }

    async fn post(&self, headers: &[(String, String)], body: &str) -> (u16, Value) {
        let service = self.service.clone();
        self.post_event(webhook_event(
            Payload::HttpApiV2,
            &service,
            headers,
            body.as_bytes(),
            false,
        ))
        .await
    }

    async fn stored(&self) -> Vec<Received> {
        drain(&self.sqs, &self.queue, 30).await
    }
}

/// One realistic body per trigger, with the group and deduplication ids the README promises.
fn trigger_body(trigger: Trigger, i: usize) -> (String, String, Option<String>) {
    let key = trigger.payload_key().expect("payload key");
    let head = format!(
        r#""app_id":"APP","project_id":"PRJ","accepted_time":"2026-11-26T10:00:0{}.000Z""#,
        i % 10
    );
    let ci = r#"{"channel":"WHATSAPP","identity":"46732001122","app_id":"APP"}"#;
    use Trigger::*;
    let (payload, group, event_key) = match trigger {
        MessageInbound | MessageInboundSmartConversationRedaction | Unsupported | EventInbound => (
            format!(r#"{{"id":"E{i}","conversation_id":"CONV{i}","contact_id":"K{i}","channel_identity":{ci}}}"#),
            format!("conversation-CONV{i}"),
            Some(format!("{trigger}|APP|E{i}")),
        ),
        MessageDelivery => (
            format!(
                r#"{{"message_id":"E{i}","status":"DELIVERED","conversation_id":"CONV{i}","channel_identity":{ci}}}"#
            ),
            format!("conversation-CONV{i}"),
            Some(format!("{trigger}|APP|E{i}|DELIVERED|WHATSAPP")),
        ),
        EventDelivery => (
            format!(
                r#"{{"event_id":"E{i}","status":"DELIVERED","conversation_id":"CONV{i}","channel_identity":{ci}}}"#
            ),
            format!("conversation-CONV{i}"),
            Some(format!("{trigger}|APP|E{i}|DELIVERED|WHATSAPP")),
        ),
        MessageSubmit | SmartConversation => (
            format!(r#"{{"message_id":"E{i}","conversation_id":"CONV{i}","channel_identity":{ci}}}"#),
            format!("conversation-CONV{i}"),
            Some(format!("{trigger}|APP|E{i}")),
        ),
        RecordNotification => (
            format!(r#"{{"entity_id":"E{i}","record_status":"DONE","conversation_id":"CONV{i}"}}"#),
            format!("conversation-CONV{i}"),
            None,
        ),
        ConversationStart | ConversationStop | ConversationDelete => (
            format!(r#"{{"conversation":{{"id":"CONV{i}","contact_id":"K{i}","active_channel":"WHATSAPP"}}}}"#),
            format!("conversation-CONV{i}"),
            None,
        ),
        ContactCreate | ContactUpdate | ContactDelete => {
            (format!(r#"{{"contact":{{"id":"K{i}"}}}}"#), "app-APP".into(), None)
        }
        ContactMerge => (
            format!(r#"{{"preserved_contact":{{"id":"K{i}"}},"deleted_contact":{{"id":"D{i}"}}}}"#),
            "app-APP".into(),
            None,
        ),
        ContactIdentitiesDuplication => (
            r#"{"duplicated_identities":[{"channel":"SMS","contact_ids":["a","b"]}]}"#.into(),
            "app-APP".into(),
            None,
        ),
        ChannelEvent => (
            r#"{"channel_event":{"channel":"WHATSAPP","event_type":"QUALITY"}}"#.into(),
            "app-APP".into(),
            None,
        ),
        Capability | OptIn | OptOut => (
            format!(
                r#"{{"request_id":"R{i}","channel":"WHATSAPP","identity":"46732001122","status":"OPT_IN_SUCCEEDED"}}"#
            ),
            format!("identity-{}", &hex_sha256(b"WHATSAPP|46732001122")[..32]),
            None,
        ),
        Trigger::Unknown => unreachable!(),
    };
    let body = format!(r#"{{{head},"{key}":{payload}}}"#);
    (body, group, event_key)
}

#[tokio::test]
async fn every_trigger_lands_byte_identical_with_attributes_and_fifo_ids() {
    let s = stack(true).await;
    let mut expected = HashMap::new();
    for (i, trigger) in Trigger::ALL.into_iter().enumerate() {
        let (body, group, event_key) = trigger_body(trigger, i);
        let (status, answer) = s.post(&signed("current-secret", &body), &body).await;
        assert_eq!(
            (status, answer["status"].as_str()),
            (200, Some("stored")),
            "{trigger}: {answer}"
        );
        let dedup = event_key.map_or_else(|| hex_sha256(body.as_bytes()), |k| hex_sha256(k.as_bytes()));
        expected.insert(body, (trigger, group, dedup));
    }
    let stored = s.stored().await;
    assert_eq!(stored.len(), 21);
    for m in stored {
        let (trigger, group, dedup) = expected
            .get(&m.body)
            .unwrap_or_else(|| panic!("body changed: {}", m.body));
        assert_eq!(m.attributes["trigger"], trigger.as_str());
        assert_eq!(m.attributes["service"], s.service);
        assert_eq!(m.attributes["app_id"], "APP");
        assert_eq!(m.attributes["project_id"], "PRJ");
        assert!(m.attributes["received_at"].ends_with('Z'));
        assert!(m.attributes.len() <= 10);
        assert_eq!(m.group_id.as_ref(), Some(group), "{trigger}");
        assert_eq!(m.dedup_id.as_ref(), Some(dedup), "{trigger}");
    }
}

#[tokio::test]
async fn sinch_retries_of_one_event_collapse_on_fifo() {
    let s = stack(true).await;
    let (body, _, _) = trigger_body(Trigger::MessageDelivery, 1);
    for _ in 0..3 {
        // Each retry is signed afresh (new nonce), as Sinch may do.
        assert_eq!(s.post(&signed("current-secret", &body), &body).await.0, 200);
    }
    assert_eq!(s.stored().await.len(), 1);
}

#[tokio::test]
async fn standard_queue_stores_without_fifo_ids_and_rest_and_base64_bodies_work() {
    let s = stack(false).await;
    let (body, _, _) = trigger_body(Trigger::MessageInbound, 2);
    let pretty = format!(
        "{}\n",
        serde_json::to_string_pretty(&serde_json::from_str::<Value>(&body).unwrap()).unwrap()
    );
    let service = s.service.clone();
    let cases = [
        (Payload::RestV1, false, body.clone()),
        (Payload::HttpApiV2, true, pretty.clone()),
        (Payload::RestV1, true, body.replace("E2", "E3")),
    ];
    for (kind, b64, text) in &cases {
        let event = webhook_event(*kind, &service, &signed("current-secret", text), text.as_bytes(), *b64);
        let (status, answer) = s.post_event(event).await;
        assert_eq!(status, 200, "{kind:?} base64={b64}: {answer}");
    }
    let stored: Vec<String> = s
        .stored()
        .await
        .into_iter()
        .map(|m| {
            assert_eq!((m.group_id, m.dedup_id), (None, None));
            m.body
        })
        .collect();
    assert_eq!(stored.len(), 3);
    for (_, _, text) in &cases {
        assert!(stored.contains(text), "stored byte for byte");
    }
}

#[tokio::test]
async fn rotation_with_pending_then_promotion_rejects_nothing() {
    let s = stack(true).await;
    let name = format!("{PREFIX}{}", s.service);
    let mut rejected = 0;
    let mut sent = 0;
    let mut send = |secret: &'static str, i: usize| {
        sent += 1;
        let (body, _, _) = trigger_body(Trigger::MessageInbound, 100 + i);
        let s = &s;
        async move { s.post(&signed(secret, &body), &body).await.0 }
    };
    for i in 0..3 {
        rejected += usize::from(send("current-secret", i).await != 200);
    }
    let version = stage_pending(&s.secrets, &name, &service_secret("next-secret")).await;
    // Sinch is switched to the new secret; old retries may still arrive.
    for i in 3..8 {
        let secret = if i % 2 == 0 { "next-secret" } else { "current-secret" };
        rejected += usize::from(send(secret, i).await != 200);
    }
    promote(&s.secrets, &name, &version).await;
    for i in 8..12 {
        let secret = if i % 3 == 0 { "current-secret" } else { "next-secret" };
        rejected += usize::from(send(secret, i).await != 200);
    }
    assert_eq!(rejected, 0, "of {sent}");
    assert_eq!(s.stored().await.len(), 12);
}

#[tokio::test]
async fn warm_instance_fetches_the_secret_once_for_many_requests() {
    let s = stack(false).await;
    for i in 0..20 {
        let (body, _, _) = trigger_body(Trigger::MessageInbound, 200 + i);
        assert_eq!(s.post(&signed("current-secret", &body), &body).await.0, 200);
    }
    assert_eq!(s.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn sqs_unavailable_is_503_and_nothing_is_acknowledged() {
    let dead = format!("http://127.0.0.1:{}", free_port());
    let s = stack_with(false, |_, _| {}, Some(&dead)).await;
    let (body, _, _) = trigger_body(Trigger::MessageInbound, 1);
    let headers = signed("current-secret", &body);
    let (status, answer) = s.post(&headers, &body).await;
    assert_eq!((status, answer), (503, json!({"error": "queue_unavailable"})));
    assert_eq!(depth(&s.sqs, &s.queue).await, 0);
}

#[tokio::test]
async fn triggers_route_to_their_own_queues() {
    let moto_for_queue = Moto::start();
    let sqs = moto_for_queue.sqs().await;
    let delivery_queue = create_queue(&sqs, &unique("deliveries")).await;
    let dq = delivery_queue.clone();
    let s = stack_with(
        false,
        move |c, _| {
            c.trigger_queue_urls.insert("MESSAGE_DELIVERY".into(), dq);
        },
        None,
    )
    .await;
    let (delivery, _, _) = trigger_body(Trigger::MessageDelivery, 1);
    let (inbound, _, _) = trigger_body(Trigger::MessageInbound, 1);
    assert_eq!(s.post(&signed("current-secret", &delivery), &delivery).await.0, 200);
    assert_eq!(s.post(&signed("current-secret", &inbound), &inbound).await.0, 200);
    let routed: Vec<String> = drain(&sqs, &delivery_queue, 30)
        .await
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert_eq!(routed, vec![delivery]);
    let rest: Vec<String> = s.stored().await.into_iter().map(|m| m.body).collect();
    assert_eq!(rest, vec![inbound]);
}

#[tokio::test]
async fn every_rejection_has_its_status_and_code_and_stores_nothing() {
    let s = stack_with(
        true,
        |c, service| c.allowed_services = Some(vec![service.to_owned(), "ghost".into()]),
        None,
    )
    .await;
    let (body, _, _) = trigger_body(Trigger::MessageInbound, 7);
    let ts = now();
    let good = signed_at("current-secret", &body, "N-replay", ts);
    assert_eq!(s.post(&good, &body).await.0, 200);
    let _ = s.stored().await; // take the one accepted event off the queue
    let service = s.service.clone();

    let with = |name: &str, value: &str| {
        let mut h = signed("current-secret", &body);
        h.retain(|(k, _)| k != name);
        h.push((name.to_owned(), value.to_owned()));
        h
    };
    let without = |name: &str| {
        let mut h = signed("current-secret", &body);
        h.retain(|(k, _)| k != name);
        h
    };
    let big = format!(r#"{{"app_id":"A","pad":"{}"}}"#, "x".repeat(64 * 1024));
    let invalid_json = "{\"app_id\":";
    let no_app = r#"{"message":{"id":"x"}}"#;
    let ev = |svc: &str, headers: Vec<(String, String)>, body: &str| {
        webhook_event(Payload::HttpApiV2, svc, &headers, body.as_bytes(), false)
    };
    let mut bad_b64 = ev(&service, signed("current-secret", &body), &body);
    bad_b64["body"] = json!("%%% not base64 %%%");
    bad_b64["isBase64Encoded"] = json!(true);
    // HTTP APIs fold repeated headers into one comma-separated value.
    let mut dup = signed("current-secret", &body);
    for (k, v) in dup.iter_mut() {
        if k == "x-sinch-webhook-signature-nonce" {
            *v = format!("{v},second");
        }
    }
    // REST (v1) keeps repeated headers apart; a duplicate there must be refused too.
    let mut dup_v1 = webhook_event(
        Payload::RestV1,
        &service,
        &signed("current-secret", &body),
        body.as_bytes(),
        false,
    );
    dup_v1["multiValueHeaders"]["x-sinch-webhook-signature-nonce"] = json!(["one", "two"]);

    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "service with ..",
            ev("..", signed("current-secret", &body), &body),
            400,
            "invalid_service_name",
        ),
        (
            "service with unicode",
            ev("sérvice", signed("current-secret", &body), &body),
            400,
            "invalid_service_name",
        ),
        (
            "service too long",
            ev(&"s".repeat(65), signed("current-secret", &body), &body),
            400,
            "invalid_service_name",
        ),
        (
            "body too large",
            ev(&service, signed("current-secret", &big), &big),
            413,
            "body_too_large",
        ),
        ("invalid base64", bad_b64, 400, "invalid_base64"),
        ("unsigned", ev(&service, vec![], &body), 401, "missing_signature_header"),
        (
            "no nonce",
            ev(&service, without("x-sinch-webhook-signature-nonce"), &body),
            401,
            "missing_signature_header",
        ),
        (
            "folded duplicate",
            ev(&service, dup, &body),
            401,
            "duplicate_signature_header",
        ),
        ("REST duplicate", dup_v1, 401, "duplicate_signature_header"),
        (
            "non-ASCII nonce",
            ev(&service, with("x-sinch-webhook-signature-nonce", "nönce"), &body),
            401,
            "malformed_signature_header",
        ),
        (
            "HmacSHA1",
            ev(&service, with("x-sinch-webhook-signature-algorithm", "HmacSHA1"), &body),
            401,
            "unsupported_algorithm",
        ),
        (
            "fractional timestamp",
            ev(&service, with("x-sinch-webhook-signature-timestamp", "1.5"), &body),
            401,
            "malformed_timestamp",
        ),
        (
            "stale",
            ev(&service, signed_at("current-secret", &body, "n-old", ts - 3600), &body),
            401,
            "stale_timestamp",
        ),
        (
            "future",
            ev(&service, signed_at("current-secret", &body, "n-new", ts + 3600), &body),
            401,
            "future_timestamp",
        ),
        (
            "wrong secret",
            ev(&service, signed("other-secret", &body), &body),
            401,
            "invalid_signature",
        ),
        (
            "unknown service",
            ev("ghost", signed("current-secret", &body), &body),
            401,
            "invalid_signature",
        ),
        (
            "service not allowed",
            ev("elsewhere", signed("current-secret", &body), &body),
            401,
            "invalid_signature",
        ),
        (
            "replayed nonce",
            ev(&service, good.clone(), &body),
            401,
            "replayed_nonce",
        ),
        (
            "signed invalid JSON",
            ev(&service, signed("current-secret", invalid_json), invalid_json),
            400,
            "invalid_json",
        ),
        (
            "signed without app_id",
            ev(&service, signed("current-secret", no_app), no_app),
            400,
            "missing_app_id",
        ),
    ];
    for (name, event, status, code) in cases {
        let answer = s.post_event(event).await;
        assert_eq!(answer, (status, json!({"error": code})), "{name}");
    }
    assert_eq!(depth(&s.sqs, &s.queue).await, 0, "nothing stored");
}

#[tokio::test]
async fn misconfigured_service_secret_is_503_so_sinch_retries() {
    let s = stack(false).await;
    let broken = unique("broken");
    create_secret(&s.secrets, &format!("{PREFIX}{broken}"), "{not json").await;
    let (body, _, _) = trigger_body(Trigger::MessageInbound, 1);
    let event = webhook_event(Payload::HttpApiV2, &broken, &signed("x", &body), body.as_bytes(), false);
    assert_eq!(
        s.post_event(event).await,
        (503, json!({"error": "service_misconfigured"}))
    );
}

#[tokio::test]
async fn cold_instance_without_secrets_manager_answers_503_never_401() {
    let moto = Moto::start();
    let sqs = moto.sqs().await;
    let queue = create_queue(&sqs, &unique("events")).await;
    let dead = sdk_config_for(&format!("http://127.0.0.1:{}", free_port())).await;
    let clock = Arc::new(SystemClock);
    let dir = DirectoryConfig {
        prefix: PREFIX.into(),
        ttl: Duration::from_secs(300),
        refresh_min_interval: Duration::from_secs(30),
    };
    let directory = Arc::new(ServiceDirectory::new(
        SecretsManagerStore::new(aws_sdk_secretsmanager::Client::new(&dead)),
        clock.clone(),
        dir,
    ));
    let config = IngestConfig {
        allowed_services: None,
        tolerance_seconds: 600,
        max_body_bytes: 65536,
        events_queue_url: queue.clone(),
        trigger_queue_urls: HashMap::new(),
        nonce_capacity: 10,
    };
    let ingest = Ingest::new(
        directory,
        SqsSink::new(sqs.clone()),
        clock,
        config,
        Metrics::discard("test"),
    );
    let (body, _, _) = trigger_body(Trigger::MessageInbound, 1);
    let event = webhook_event(Payload::HttpApiV2, "svc", &signed("s", &body), body.as_bytes(), false);
    let response = webhook_ingest::entry(
        &ingest,
        lambda_http::LambdaEvent::new(event, lambda_http::Context::default()),
    )
    .await
    .expect("entry");
    assert_eq!(response["statusCode"], 503);
    assert_eq!(response["body"], json!({"error": "secrets_unavailable"}).to_string());
    assert_eq!(depth(&sqs, &queue).await, 0);
}
