//! webhook-ingest end to end: API Gateway events through the Lambda entry point, real
//! Secrets Manager and SQS (moto server on loopback), bodies read back from the queue.

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bridge_tests::apigw::{Payload, webhook_event};
use bridge_tests::world::*;
use bridge_tests::*;
use serde_json::{Value, json};
use sinch_bridge::adapters::{SecretsManagerStore, SqsQueues};
use sinch_bridge::ports::{PortError, SecretStore, Stage};
use sinch_bridge::protocol::callback::hex_sha256;
use sinch_bridge::protocol::{SecretString, Trigger};

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

async fn world(fifo: bool) -> World {
    World::start(|s| s.fifo = fifo).await
}

fn signed_at(secret: &str, body: &str, nonce: &str, ts: i64) -> Vec<(String, String)> {
    signed_headers(secret, body.as_bytes(), nonce, ts)
}

fn signed(secret: &str, body: &str) -> Vec<(String, String)> {
    signed_at(secret, body, &unique("nonce"), now())
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
    let w = world(true).await;
    let ingest = w.ingest(|_, _| {});
    let mut expected = HashMap::new();
    for (i, trigger) in Trigger::ALL.into_iter().enumerate() {
        let (body, group, event_key) = trigger_body(trigger, i);
        let (status, answer) = post_webhook(&ingest, &w.service, &signed(WEBHOOK_SECRET, &body), &body).await;
        assert_eq!(
            (status, answer["status"].as_str()),
            (200, Some("stored")),
            "{trigger}: {answer}"
        );
        let dedup = event_key.map_or_else(|| hex_sha256(body.as_bytes()), |k| hex_sha256(k.as_bytes()));
        expected.insert(body, (trigger, group, dedup));
    }
    let stored = w.stored().await;
    assert_eq!(stored.len(), 21);
    for m in stored {
        let (trigger, group, dedup) = expected
            .get(&m.body)
            .unwrap_or_else(|| panic!("body changed: {}", m.body));
        assert_eq!(m.attributes["trigger"], trigger.as_str());
        assert_eq!(m.attributes["service"], w.service);
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
    let w = world(true).await;
    let ingest = w.ingest(|_, _| {});
    let (body, _, _) = trigger_body(Trigger::MessageDelivery, 1);
    for _ in 0..3 {
        // Each retry is signed afresh (new nonce), as Sinch may do.
        assert_eq!(
            post_webhook(&ingest, &w.service, &signed(WEBHOOK_SECRET, &body), &body)
                .await
                .0,
            200
        );
    }
    assert_eq!(w.stored().await.len(), 1);
}

#[tokio::test]
async fn standard_queue_stores_without_fifo_ids_and_rest_and_base64_bodies_work() {
    let w = world(false).await;
    let ingest = w.ingest(|_, _| {});
    let (body, _, _) = trigger_body(Trigger::MessageInbound, 2);
    let pretty = format!(
        "{}\n",
        serde_json::to_string_pretty(&serde_json::from_str::<Value>(&body).unwrap()).unwrap()
    );
    let service = w.service.clone();
    let cases = [
        (Payload::RestV1, false, body.clone()),
        (Payload::HttpApiV2, true, pretty.clone()),
        (Payload::RestV1, true, body.replace("E2", "E3")),
    ];
    for (kind, b64, text) in &cases {
        let event = webhook_event(*kind, &service, &signed(WEBHOOK_SECRET, text), text.as_bytes(), *b64);
        let (status, answer) = invoke_ingest(&ingest, event).await;
        assert_eq!(status, 200, "{kind:?} base64={b64}: {answer}");
    }
    let stored: Vec<String> = w
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
    let w = world(true).await;
    let ingest = w.ingest(|_, _| {});
    let name = w.secret_name(&w.service);
    let mut rejected = 0;
    let mut sent = 0;
    let mut send = |secret: &'static str, i: usize| {
        sent += 1;
        let (body, _, _) = trigger_body(Trigger::MessageInbound, 100 + i);
        let (w, ingest) = (&w, &ingest);
        async move { post_webhook(ingest, &w.service, &signed(secret, &body), &body).await.0 }
    };
    for i in 0..3 {
        rejected += usize::from(send(WEBHOOK_SECRET, i).await != 200);
    }
    let version = stage_pending(&w.secrets, &name, &service_secret("next-secret").to_string()).await;
    // Sinch is switched to the new secret; old retries may still arrive.
    for i in 3..8 {
        let secret = if i % 2 == 0 { "next-secret" } else { WEBHOOK_SECRET };
        rejected += usize::from(send(secret, i).await != 200);
    }
    promote(&w.secrets, &name, &version).await;
    for i in 8..12 {
        let secret = if i % 3 == 0 { WEBHOOK_SECRET } else { "next-secret" };
        rejected += usize::from(send(secret, i).await != 200);
    }
    assert_eq!(rejected, 0, "of {sent}");
    assert_eq!(w.stored().await.len(), 12);
}

#[tokio::test]
async fn warm_instance_fetches_the_secret_once_for_many_requests() {
    let w = world(false).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let store = Counting {
        inner: w.store(),
        calls: calls.clone(),
    };
    let ingest = w.ingest_with(store, w.queues(), |_, _| {});
    for i in 0..20 {
        let (body, _, _) = trigger_body(Trigger::MessageInbound, 200 + i);
        assert_eq!(
            post_webhook(&ingest, &w.service, &signed(WEBHOOK_SECRET, &body), &body)
                .await
                .0,
            200
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn sqs_unavailable_is_503_and_nothing_is_acknowledged() {
    let dead = format!("http://127.0.0.1:{}", free_port());
    let w = world(false).await;
    let unreachable = SqsQueues::new(aws_sdk_sqs::Client::new(&sdk_config_for(&dead).await));
    let ingest = w.ingest_with(w.store(), unreachable, |_, _| {});
    let (body, _, _) = trigger_body(Trigger::MessageInbound, 1);
    let headers = signed(WEBHOOK_SECRET, &body);
    let (status, answer) = post_webhook(&ingest, &w.service, &headers, &body).await;
    assert_eq!((status, answer), (503, json!({"error": "queue_unavailable"})));
    assert_eq!(depth(&w.sqs, &w.events).await, 0);
}

#[tokio::test]
async fn triggers_route_to_their_own_queues() {
    let w = world(false).await;
    let delivery_queue = create_queue(&w.sqs, &unique("deliveries")).await;
    let ingest = w.ingest(|c, _| {
        c.trigger_queue_urls
            .insert("MESSAGE_DELIVERY".into(), delivery_queue.clone());
    });
    let (delivery, _, _) = trigger_body(Trigger::MessageDelivery, 1);
    let (inbound, _, _) = trigger_body(Trigger::MessageInbound, 1);
    assert_eq!(
        post_webhook(&ingest, &w.service, &signed(WEBHOOK_SECRET, &delivery), &delivery)
            .await
            .0,
        200
    );
    assert_eq!(
        post_webhook(&ingest, &w.service, &signed(WEBHOOK_SECRET, &inbound), &inbound)
            .await
            .0,
        200
    );
    let routed: Vec<String> = drain(&w.sqs, &delivery_queue, 30)
        .await
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert_eq!(routed, vec![delivery]);
    let rest: Vec<String> = w.stored().await.into_iter().map(|m| m.body).collect();
    assert_eq!(rest, vec![inbound]);
}

#[tokio::test]
async fn every_rejection_has_its_status_and_code_and_stores_nothing() {
    let w = world(true).await;
    let ingest = w.ingest(|c, _| {
        c.allowed_services = Some(vec![w.service.clone(), "ghost".into()]);
        c.max_body_bytes = 64 * 1024;
    });
    let (body, _, _) = trigger_body(Trigger::MessageInbound, 7);
    let ts = now();
    let good = signed_at(WEBHOOK_SECRET, &body, "N-replay", ts);
    assert_eq!(post_webhook(&ingest, &w.service, &good, &body).await.0, 200);
    let _ = w.stored().await; // take the one accepted event off the queue
    let service = w.service.clone();

    let with = |name: &str, value: &str| {
        let mut h = signed(WEBHOOK_SECRET, &body);
        h.retain(|(k, _)| k != name);
        h.push((name.to_owned(), value.to_owned()));
        h
    };
    let without = |name: &str| {
        let mut h = signed(WEBHOOK_SECRET, &body);
        h.retain(|(k, _)| k != name);
        h
    };
    let big = format!(r#"{{"app_id":"A","pad":"{}"}}"#, "x".repeat(64 * 1024));
    let invalid_json = "{\"app_id\":";
    let no_app = r#"{"message":{"id":"x"}}"#;
    let ev = |svc: &str, headers: Vec<(String, String)>, body: &str| {
        webhook_event(Payload::HttpApiV2, svc, &headers, body.as_bytes(), false)
    };
    let mut bad_b64 = ev(&service, signed(WEBHOOK_SECRET, &body), &body);
    bad_b64["body"] = json!("%%% not base64 %%%");
    bad_b64["isBase64Encoded"] = json!(true);
    // HTTP APIs fold repeated headers into one comma-separated value.
    let mut dup = signed(WEBHOOK_SECRET, &body);
    for (k, v) in dup.iter_mut() {
        if k == "x-sinch-webhook-signature-nonce" {
            *v = format!("{v},second");
        }
    }
    // REST (v1) keeps repeated headers apart; a duplicate there must be refused too.
    let mut dup_v1 = webhook_event(
        Payload::RestV1,
        &service,
        &signed(WEBHOOK_SECRET, &body),
        body.as_bytes(),
        false,
    );
    dup_v1["multiValueHeaders"]["x-sinch-webhook-signature-nonce"] = json!(["one", "two"]);

    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "service with ..",
            ev("..", signed(WEBHOOK_SECRET, &body), &body),
            400,
            "invalid_service_name",
        ),
        (
            "service with unicode",
            ev("sérvice", signed(WEBHOOK_SECRET, &body), &body),
            400,
            "invalid_service_name",
        ),
        (
            "service too long",
            ev(&"s".repeat(65), signed(WEBHOOK_SECRET, &body), &body),
            400,
            "invalid_service_name",
        ),
        (
            "body too large",
            ev(&service, signed(WEBHOOK_SECRET, &big), &big),
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
            ev(&service, signed_at(WEBHOOK_SECRET, &body, "n-old", ts - 3600), &body),
            401,
            "stale_timestamp",
        ),
        (
            "future",
            ev(&service, signed_at(WEBHOOK_SECRET, &body, "n-new", ts + 3600), &body),
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
            ev("ghost", signed(WEBHOOK_SECRET, &body), &body),
            401,
            "invalid_signature",
        ),
        (
            "service not allowed",
            ev("elsewhere", signed(WEBHOOK_SECRET, &body), &body),
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
            ev(&service, signed(WEBHOOK_SECRET, invalid_json), invalid_json),
            400,
            "invalid_json",
        ),
        (
            "signed without app_id",
            ev(&service, signed(WEBHOOK_SECRET, no_app), no_app),
            400,
            "missing_app_id",
        ),
    ];
    for (name, event, status, code) in cases {
        let answer = invoke_ingest(&ingest, event).await;
        assert_eq!(answer, (status, json!({"error": code})), "{name}");
    }
    assert_eq!(depth(&w.sqs, &w.events).await, 0, "nothing stored");
}

#[tokio::test]
async fn misconfigured_service_secret_is_503_so_sinch_retries() {
    let w = world(false).await;
    let ingest = w.ingest(|_, _| {});
    let broken = unique("broken");
    create_secret(&w.secrets, &w.secret_name(&broken), "{not json").await;
    let (body, _, _) = trigger_body(Trigger::MessageInbound, 1);
    let event = webhook_event(Payload::HttpApiV2, &broken, &signed("x", &body), body.as_bytes(), false);
    assert_eq!(
        invoke_ingest(&ingest, event).await,
        (503, json!({"error": "service_misconfigured"}))
    );
}

#[tokio::test]
async fn cold_instance_without_secrets_manager_answers_503_never_401() {
    let w = world(false).await;
    let dead = sdk_config_for(&format!("http://127.0.0.1:{}", free_port())).await;
    let unreachable = SecretsManagerStore::new(aws_sdk_secretsmanager::Client::new(&dead));
    let ingest = w.ingest_with(unreachable, w.queues(), |_, _| {});
    let (body, _, _) = trigger_body(Trigger::MessageInbound, 1);
    let answer = post_webhook(&ingest, "svc", &signed("s", &body), &body).await;
    assert_eq!(answer, (503, json!({"error": "secrets_unavailable"})));
    assert_eq!(depth(&w.sqs, &w.events).await, 0);
}
