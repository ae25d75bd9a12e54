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
use sinch_bridge::ports::{PortError, SecretStore, SecretVersion, Stage};
use sinch_bridge::protocol::Trigger;
use sinch_bridge::protocol::callback::hex_sha256;

/// Counts calls on the way to the real Secrets Manager adapter.
#[derive(Clone)]
struct Counting {
    inner: SecretsManagerStore,
    calls: Arc<AtomicUsize>,
}

impl SecretStore for Counting {
    async fn fetch(&self, name: &str, stage: Stage) -> Result<Option<SecretVersion>, PortError> {
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

/// The deduplication identity README promises: the fields, each as `len:field,`.
fn event_identity(fields: &[&str]) -> Vec<u8> {
    fields
        .iter()
        .flat_map(|f| format!("{}:{f},", f.len()).into_bytes())
        .collect()
}

/// One realistic body per trigger, with the group and deduplication ids the README promises.
fn trigger_body(trigger: Trigger, i: usize) -> (String, String, Option<Vec<u8>>) {
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
            Some(event_identity(&[trigger.as_str(), "APP", &format!("E{i}")])),
        ),
        MessageDelivery => (
            format!(
                r#"{{"message_id":"E{i}","status":"DELIVERED","conversation_id":"CONV{i}","channel_identity":{ci}}}"#
            ),
            format!("conversation-CONV{i}"),
            Some(event_identity(&[
                trigger.as_str(),
                "APP",
                &format!("E{i}"),
                "DELIVERED",
                "WHATSAPP",
            ])),
        ),
        EventDelivery => (
            format!(
                r#"{{"event_id":"E{i}","status":"DELIVERED","conversation_id":"CONV{i}","channel_identity":{ci}}}"#
            ),
            format!("conversation-CONV{i}"),
            Some(event_identity(&[
                trigger.as_str(),
                "APP",
                &format!("E{i}"),
                "DELIVERED",
                "WHATSAPP",
            ])),
        ),
        MessageSubmit => (
            format!(r#"{{"message_id":"E{i}","conversation_id":"CONV{i}","channel_identity":{ci}}}"#),
            format!("conversation-CONV{i}"),
            Some(event_identity(&[trigger.as_str(), "APP", &format!("E{i}"), "WHATSAPP"])),
        ),
        SmartConversation => (
            format!(r#"{{"message_id":"E{i}","conversation_id":"CONV{i}","channel_identity":{ci}}}"#),
            format!("conversation-CONV{i}"),
            None,
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
        let scope = event_identity(&[&w.service]);
        let dedup = event_key.map_or_else(
            || hex_sha256(&[scope.as_slice(), body.as_bytes()].concat()),
            |k| hex_sha256(&[scope.as_slice(), &k].concat()),
        );
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
        // Every group within the service (the events queue is shared).
        assert_eq!(m.group_id, Some(format!("{}:{group}", w.service)), "{trigger}");
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
            ev("stranger", signed(WEBHOOK_SECRET, &body), &body),
            401,
            "invalid_signature",
        ),
        (
            "a listed service without its secret (Sinch retries)",
            ev("ghost", signed(WEBHOOK_SECRET, &body), &body),
            503,
            "service_secret_missing",
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
            401,
            "invalid_signature",
        ),
        (
            "signed without app_id",
            ev(&service, signed(WEBHOOK_SECRET, no_app), no_app),
            401,
            "invalid_signature",
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

/// docs/operations.md's rotation by hand against moto (the staged value retires the old secret
/// until its grace ends), then past the grace: the old secret verifies during the grace and
/// never after, however many refreshes it triggers. Time is compressed by a manual clock (the
/// versions' creation dates are moto's real ones).
#[tokio::test]
async fn a_rotated_out_secret_is_refused_after_its_grace_even_when_it_triggers_refreshes() {
    let mut w = world(true).await;
    let clock = sinch_bridge::testing::ManualClock::new(now());
    w.clock = clock.clone();
    let grace = 120;
    let ingest = w.ingest(|c, cache| {
        c.tolerance_seconds = 60;
        // An instance learns of a promotion within one TTL; the grace outlasts it.
        cache.ttl = std::time::Duration::from_secs(30);
    });
    let name = w.secret_name(&w.service);
    let post_at = |secret: &'static str, i: usize| {
        let (body, _, _) = trigger_body(Trigger::MessageInbound, 500 + i);
        let (w, ingest, clock) = (&w, &ingest, &clock);
        async move {
            let headers = signed_at(
                secret,
                &body,
                &unique("n"),
                sinch_bridge::clock::Clock::unix_seconds(&**clock),
            );
            post_webhook(ingest, &w.service, &headers, &body).await
        }
    };
    assert_eq!(post_at(WEBHOOK_SECRET, 0).await.0, 200);
    // The staged value says until when the old secret still verifies once it is promoted.
    let mut staged = service_secret("next-secret");
    let until = sinch_bridge::clock::Clock::unix_seconds(&*clock) + 31 + i64::try_from(grace).unwrap_or(0);
    staged["retired_webhook_secrets"] = json!([{"secret": WEBHOOK_SECRET, "until": until}]);
    let version = stage_pending(&w.secrets, &name, &staged.to_string()).await;
    assert_eq!(
        post_at("next-secret", 1).await.0,
        200,
        "pending signs during the rotation"
    );
    promote(&w.secrets, &name, &version).await;
    clock.advance(std::time::Duration::from_secs(31));
    assert_eq!(
        post_at(WEBHOOK_SECRET, 2).await.0,
        200,
        "previous signs during its grace"
    );
    assert_eq!(post_at("next-secret", 3).await.0, 200);
    clock.advance(std::time::Duration::from_secs(grace));
    for i in 0..4 {
        // Each forged attempt comes after the refresh interval, so each may refresh.
        clock.advance(std::time::Duration::from_secs(31));
        let (status, answer) = post_at(WEBHOOK_SECRET, 10 + i).await;
        assert_eq!(
            (status, answer),
            (401, json!({"error": "invalid_signature"})),
            "attempt {i}"
        );
    }
    assert_eq!(post_at("next-secret", 20).await.0, 200, "the new secret keeps working");
    assert_eq!(w.stored().await.len(), 5);
}

/// Secrets Manager stalls while the first callback signed with a new secret arrives: 503 (Sinch
/// retries), and the retry with the very same headers succeeds once it answers again.
#[tokio::test]
async fn secrets_manager_stalling_during_a_refresh_is_503_and_the_same_request_succeeds_later() {
    use bridge_tests::fault_proxy::{FaultMix, FaultProxy};
    let w = world(false).await;
    let proxy = FaultProxy::start(w.moto.socket_addr()).await;
    let via_proxy = sdk_config_with_timeout(&proxy.url(), std::time::Duration::from_secs(1)).await;
    let store = SecretsManagerStore::new(aws_sdk_secretsmanager::Client::new(&via_proxy));
    let ingest = w.ingest_with(store, w.queues(), |_, cache| {
        cache.failure_hold = std::time::Duration::ZERO
    });
    let (first, _, _) = trigger_body(Trigger::MessageInbound, 1);
    assert_eq!(
        post_webhook(&ingest, &w.service, &signed(WEBHOOK_SECRET, &first), &first)
            .await
            .0,
        200
    );
    let name = w.secret_name(&w.service);
    stage_pending(&w.secrets, &name, &service_secret("next-secret").to_string()).await;
    proxy.set_mix(FaultMix {
        stall: 100,
        stall_for: std::time::Duration::from_secs(5),
        ..FaultMix::default()
    });
    let (body, _, _) = trigger_body(Trigger::MessageInbound, 2);
    let headers = signed("next-secret", &body);
    let answer = post_webhook(&ingest, &w.service, &headers, &body).await;
    assert_eq!(answer, (503, json!({"error": "secrets_unavailable"})));
    proxy.set_mix(FaultMix::default());
    let answer = post_webhook(&ingest, &w.service, &headers, &body).await;
    assert_eq!(answer.0, 200, "{answer:?}");
    assert_eq!(w.stored().await.len(), 2);
}

/// Channel fallback: Sinch submits one message id again on the next channel. On FIFO both
/// submits are stored, and a retry of either still collapses.
#[tokio::test]
async fn a_message_submitted_on_two_channels_is_stored_twice_on_fifo() {
    let w = world(true).await;
    let ingest = w.ingest(|_, _| {});
    let submit = |channel: &str, extra: &str| {
        format!(
            r#"{{"app_id":"APP"{extra},"message_submit_notification":{{"message_id":"M1","conversation_id":"C1","channel_identity":{{"channel":"{channel}","identity":"+46732001122"}}}}}}"#
        )
    };
    for body in [
        submit("RCS", ""),
        submit("SMS", ""),
        submit("SMS", r#","event_time":"retry""#),
    ] {
        assert_eq!(
            post_webhook(&ingest, &w.service, &signed(WEBHOOK_SECRET, &body), &body)
                .await
                .0,
            200
        );
    }
    let channels: Vec<String> = w
        .stored()
        .await
        .into_iter()
        .map(|m| m.attributes["channel"].clone())
        .collect();
    assert_eq!(channels, vec!["RCS".to_owned(), "SMS".to_owned()]);
}

/// Ids SQS would refuse as attribute values and a body it cannot hold as text: the event is
/// stored anyway, exactly, with the body in base64 and the odd ids as digests.
#[tokio::test]
async fn odd_ids_and_a_body_sqs_cannot_hold_as_text_are_stored_not_refused() {
    use base64::Engine as _;
    let w = world(true).await;
    let ingest = w.ingest(|_, _| {});
    let long_id = "x".repeat(300);
    let body = format!(
        "{{\"app_id\":\"APP\",\"message\":{{\"id\":\"E\\u0001\\u0007\",\"conversation_id\":\"{long_id}\",\"contact_message\":{{\"text_message\":{{\"text\":\"\u{ffff}\"}}}}}}}}"
    );
    let (status, answer) = post_webhook(&ingest, &w.service, &signed(WEBHOOK_SECRET, &body), &body).await;
    assert_eq!(status, 200, "{answer}");
    let stored = w.stored().await;
    assert_eq!(stored.len(), 1);
    let m = &stored[0];
    assert_eq!(m.attributes["body_encoding"], "base64");
    let decoded = base64::engine::general_purpose::STANDARD.decode(&m.body).unwrap();
    assert_eq!(decoded, body.as_bytes(), "the exact bytes");
    assert_eq!(
        m.attributes["event_id"],
        format!("sha256:{}", hex_sha256("E\u{1}\u{7}".as_bytes()))
    );
    assert_eq!(
        m.attributes["conversation_id"],
        format!("sha256:{}", hex_sha256(long_id.as_bytes()))
    );
}
