use super::*;
use crate::ports::Stage;
use crate::protocol::{SecretString, sign};
use crate::service_cache::ServiceCacheConfig;
use crate::testing::{ManualClock, MemoryQueues, MemorySecrets};
use std::collections::HashMap;
use std::time::Duration;

const NOW: i64 = 1_700_000_000;
const SECRET_NAME: &str = "sinch-bridge/services/eu1";
const BODY: &str = r#"{"app_id":"APP1","project_id":"P","message_delivery_report":{"message_id":"M1","status":"DELIVERED","conversation_id":"CONV","contact_id":"K","channel_identity":{"channel":"SMS","identity":"+1555"}}}"#;

struct World {
    secrets: MemorySecrets,
    sink: MemoryQueues,
    clock: Arc<ManualClock>,
    ingest: Ingest<MemorySecrets, MemoryQueues>,
}

fn service_json(extra: &str) -> String {
    format!(r#"{{"region":"eu","project_id":"P","key_id":"k","key_secret":"s","webhook_secret":"base-secret"{extra}}}"#)
}

fn world_with(config: IngestConfig) -> World {
    let secrets = MemorySecrets::default();
    secrets.put(
        SECRET_NAME,
        Stage::Current,
        &service_json(r#","apps":{"OVERRIDE":{"webhook_secret":"app-secret"}}"#),
    );
    let sink = MemoryQueues::default();
    let clock = ManualClock::new(NOW);
    let services = Arc::new(ServiceCache::new(
        secrets.clone(),
        clock.clone(),
        ServiceCacheConfig::default(),
    ));
    let ingest = Ingest::new(services, sink.clone(), clock.clone(), config, Metrics::discard("test"));
    World {
        secrets,
        sink,
        clock,
        ingest,
    }
}

fn config(queue: &str) -> IngestConfig {
    IngestConfig {
        max_body_bytes: 4096,
        events_queue_url: queue.into(),
        nonce_capacity: 100,
        ..IngestConfig::default()
    }
}

fn world() -> World {
    world_with(config("http://q/events.fifo"))
}

fn signed(secret: &str, body: &str, nonce: &str) -> Vec<(String, String)> {
    sign(&SecretString::new(secret), body.as_bytes(), nonce, NOW)
        .pairs()
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn post(w: &World, service: &str, headers: &[(String, String)], body: &str) -> Result<Stored, IngestError> {
    post_to(&w.ingest, service, headers, body).await
}

#[tokio::test]
async fn stores_a_signed_callback_byte_for_byte_with_routing_facts() {
    let w = world();
    let stored = post(&w, "eu1", &signed("base-secret", BODY, "n1"), BODY).await;
    assert_eq!(stored.map(|s| s.trigger), Ok("MESSAGE_DELIVERY"));
    let taken = w.sink.taken();
    assert_eq!(taken.len(), 1);
    let m = &taken[0];
    assert_eq!(m.body, BODY);
    assert_eq!(m.queue_url, "http://q/events.fifo");
    let attrs: HashMap<_, _> = m.attributes.iter().cloned().collect();
    assert_eq!(attrs["trigger"], "MESSAGE_DELIVERY");
    assert_eq!(attrs["service"], "eu1");
    assert_eq!(attrs["app_id"], "APP1");
    assert_eq!(attrs["project_id"], "P");
    assert_eq!(attrs["channel"], "SMS");
    assert_eq!(attrs["event_id"], "M1");
    assert_eq!(attrs["conversation_id"], "CONV");
    assert_eq!(attrs["contact_id"], "K");
    assert!(attrs["received_at"].ends_with('Z'));
    assert!(m.attributes.len() <= 10);
    assert_eq!(m.group_id.as_deref(), Some("eu1:conversation-CONV"));
    assert_eq!(m.dedup_id.as_ref().map(String::len), Some(64));
}

#[tokio::test]
async fn standard_queue_gets_no_fifo_ids() {
    let w = world_with(config("http://q/events"));
    assert!(post(&w, "eu1", &signed("base-secret", BODY, "n1"), BODY).await.is_ok());
    let m = &w.sink.taken()[0];
    assert_eq!((m.group_id.clone(), m.dedup_id.clone()), (None, None));
}

#[tokio::test]
async fn routes_triggers_to_their_queues() {
    let mut c = config("http://q/default");
    c.trigger_queue_urls
        .insert("MESSAGE_DELIVERY".into(), "http://q/delivery".into());
    let w = world_with(c);
    assert_eq!(
        post(&w, "eu1", &signed("base-secret", BODY, "n1"), BODY)
            .await
            .map(|s| s.queue_url),
        Ok("http://q/delivery".into())
    );
}

#[tokio::test]
async fn invalid_service_name_is_refused_before_any_secret_lookup() {
    let w = world();
    for name in ["..", "a/b", "%2F", "é", "-x", &"a".repeat(65)] {
        let err = post(&w, name, &signed("base-secret", BODY, "n1"), BODY).await.err();
        assert_eq!(
            err.as_ref().map(|e| (e.status(), e.code())),
            Some((400, "invalid_service_name")),
            "{name}"
        );
    }
    assert_eq!(w.secrets.fetch_count(), 0);
}

#[tokio::test]
async fn unknown_service_looks_exactly_like_a_bad_signature() {
    // A listed service without its secret asks for a retry instead (its own test below).
    let mut c = config("q");
    c.allowed_services = Some(vec!["eu1".into()]);
    let w = world_with(c);
    let unknown = post(&w, "ghost", &signed("base-secret", BODY, "n1"), BODY).await.err();
    let not_listed = post(&w, "other", &signed("base-secret", BODY, "n2"), BODY).await.err();
    let wrong = post(&w, "eu1", &signed("wrong", BODY, "n3"), BODY).await.err();
    for err in [&unknown, &not_listed, &wrong] {
        assert_eq!(
            err.as_ref().map(|e| (e.status(), e.code())),
            Some((401, "invalid_signature"))
        );
    }
    assert_eq!(unknown.map(|e| e.reason()), Some("unknown_service"));
    assert_eq!(wrong.map(|e| e.reason()), Some("signature_mismatch"));
    assert!(w.sink.taken().is_empty());
}

#[tokio::test]
async fn oversized_body_is_413_before_hashing() {
    let w = world();
    let big = format!(r#"{{"app_id":"A","x":"{}"}}"#, "a".repeat(5000));
    let err = post(&w, "eu1", &signed("base-secret", &big, "n1"), &big).await.err();
    assert_eq!(err.map(|e| (e.status(), e.code())), Some((413, "body_too_large")));
    assert_eq!(w.secrets.fetch_count(), 0);
}

#[tokio::test]
async fn stale_and_future_signatures_are_refused() {
    let w = world();
    w.clock.advance(Duration::from_secs(601));
    let err = post(&w, "eu1", &signed("base-secret", BODY, "n1"), BODY).await.err();
    assert_eq!(err.map(|e| (e.status(), e.code())), Some((401, "stale_timestamp")));
}

#[tokio::test]
async fn replay_is_refused_only_after_the_event_was_stored() {
    let w = world();
    let headers = signed("base-secret", BODY, "n-replay");
    w.sink.set_failing(true);
    let first = post(&w, "eu1", &headers, BODY).await.err();
    assert_eq!(first.map(|e| (e.status(), e.code())), Some((503, "queue_unavailable")));
    w.sink.set_failing(false);
    assert!(
        post(&w, "eu1", &headers, BODY).await.is_ok(),
        "Sinch's retry of a 503 succeeds"
    );
    let replay = post(&w, "eu1", &headers, BODY).await.err();
    assert_eq!(replay.map(|e| (e.status(), e.code())), Some((401, "replayed_nonce")));
    assert_eq!(w.sink.taken().len(), 1);
}

#[tokio::test]
async fn secrets_unavailable_on_a_cold_instance_is_503() {
    let w = world();
    w.secrets.set_down(true);
    let err = post(&w, "eu1", &signed("base-secret", BODY, "n1"), BODY).await.err();
    assert_eq!(err.map(|e| (e.status(), e.code())), Some((503, "secrets_unavailable")));
}

#[tokio::test]
async fn warm_instance_keeps_verifying_while_secrets_are_down() {
    let w = world();
    assert!(post(&w, "eu1", &signed("base-secret", BODY, "n1"), BODY).await.is_ok());
    w.secrets.set_down(true);
    w.clock.advance(Duration::from_secs(400));
    let body = BODY.replace("M1", "M2");
    let headers = sign(&SecretString::new("base-secret"), body.as_bytes(), "n2", NOW + 400)
        .pairs()
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect::<Vec<_>>();
    assert!(post(&w, "eu1", &headers, &body).await.is_ok());
}

#[tokio::test]
async fn a_signed_body_that_is_not_a_callback_is_refused_like_a_bad_signature_before_any_lookup() {
    let w = world();
    let bad = "{not json";
    let no_app = r#"{"message":{}}"#;
    for (secret, body, reason) in [
        ("base-secret", bad, "signed_invalid_json"),
        ("other", bad, "signed_invalid_json"),
        ("app-secret", no_app, "signed_without_app_id"),
    ] {
        let err = post(&w, "eu1", &signed(secret, body, &format!("n-{secret}")), body)
            .await
            .err();
        assert_eq!(
            err.map(|e| (e.status(), e.code(), e.reason())),
            Some((401, "invalid_signature", reason))
        );
    }
    assert_eq!(
        w.secrets.fetch_count(),
        0,
        "no secret was looked up, so none was hashed"
    );
    assert!(w.sink.taken().is_empty());
}

#[tokio::test]
async fn an_unsigned_body_that_is_not_a_callback_is_400_for_services_that_accept_unsigned() {
    let w = world();
    w.secrets.put(
        SECRET_NAME,
        Stage::Current,
        &service_json(r#","allow_unsigned_webhooks":true"#),
    );
    let err = post(&w, "eu1", &[], "{not json").await.err();
    assert_eq!(err.map(|e| (e.status(), e.code())), Some((400, "invalid_json")));
}

#[tokio::test]
async fn app_override_replaces_the_service_secret_for_that_app() {
    let w = world();
    let body = r#"{"app_id":"OVERRIDE","message":{"id":"X"}}"#;
    assert!(post(&w, "eu1", &signed("app-secret", body, "n1"), body).await.is_ok());
    let err = post(&w, "eu1", &signed("base-secret", body, "n2"), body).await.err();
    assert_eq!(err.map(|e| e.code()), Some("invalid_signature"));
}

#[tokio::test]
async fn unsigned_requests_need_the_service_opt_in() {
    let w = world();
    let err = post(&w, "eu1", &[], BODY).await.err();
    assert_eq!(
        err.map(|e| (e.status(), e.code())),
        Some((401, "missing_signature_header"))
    );
    let ghost = post(&w, "ghost", &[], BODY).await.err();
    assert_eq!(
        ghost.map(|e| e.code()),
        Some("missing_signature_header"),
        "same answer for unknown services"
    );
    w.secrets.put(
        SECRET_NAME,
        Stage::Current,
        r#"{"region":"eu","project_id":"P","key_id":"k","key_secret":"s","allow_unsigned_webhooks":true}"#,
    );
    w.clock.advance(Duration::from_secs(301));
    assert!(post(&w, "eu1", &[], BODY).await.is_ok());
}

#[tokio::test]
async fn pending_secret_is_accepted_after_one_refresh() {
    let w = world();
    assert!(post(&w, "eu1", &signed("base-secret", BODY, "n1"), BODY).await.is_ok());
    w.secrets.put(
        SECRET_NAME,
        Stage::Pending,
        &service_json("").replace("base-secret", "new-secret"),
    );
    let body = BODY.replace("M1", "M2");
    assert!(post(&w, "eu1", &signed("new-secret", &body, "n2"), &body).await.is_ok());
    assert!(
        post(
            &w,
            "eu1",
            &signed("base-secret", &body.replace("M2", "M3"), "n3"),
            &body.replace("M2", "M3")
        )
        .await
        .is_ok()
    );
    assert_eq!(w.sink.taken().len(), 3);
}

#[tokio::test]
async fn duplicated_and_malformed_headers_have_their_own_codes() {
    let w = world();
    let mut headers = signed("base-secret", BODY, "n1");
    headers.push(("X-Sinch-Webhook-Signature".into(), headers[0].1.clone()));
    let err = post(&w, "eu1", &headers, BODY).await.err();
    assert_eq!(
        err.map(|e| (e.status(), e.code())),
        Some((401, "duplicate_signature_header"))
    );
    let mut headers = signed("base-secret", BODY, "n1");
    headers[3].1 = "HmacSHA1".into();
    let err = post(&w, "eu1", &headers, BODY).await.err();
    assert_eq!(err.map(|e| e.code()), Some("unsupported_algorithm"));
}

#[tokio::test]
async fn a_body_sqs_cannot_hold_as_text_is_stored_base64_not_refused() {
    use base64::Engine as _;
    let w = world();
    let body = "{\"app_id\":\"A\",\"message\":{\"id\":\"M\",\"x\":\"\u{ffff}\"}}";
    assert!(post(&w, "eu1", &signed("base-secret", body, "n1"), body).await.is_ok());
    let stored = w.sink.taken();
    assert_eq!(stored.len(), 1);
    let attribute = |name: &str| {
        stored[0]
            .attributes
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(attribute("body_encoding").as_deref(), Some("base64"));
    let decoded = base64::engine::general_purpose::STANDARD.decode(&stored[0].body);
    assert_eq!(decoded.ok().as_deref(), Some(body.as_bytes()));
}

#[tokio::test]
async fn signed_invalid_utf8_is_verified_over_its_exact_bytes_and_stored_base64() {
    use base64::Engine as _;
    let w = world();
    let mut body = br#"{"app_id":"A","message":{"id":"M","x":""#.to_vec();
    body.extend_from_slice(&[0xc3, 0x28, b'"', b'}', b'}']);
    let headers: Vec<(String, String)> = sign(&SecretString::new("base-secret"), &body, "n1", NOW)
        .pairs()
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let pairs: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())).collect();
    let request = WebhookRequest {
        service: "eu1",
        headers: &pairs,
        body: &body,
    };
    assert!(w.ingest.handle(&request).await.is_ok());
    let stored = w.sink.taken();
    let decoded = base64::engine::general_purpose::STANDARD.decode(&stored[0].body);
    assert_eq!(decoded.ok(), Some(body));
}

#[tokio::test]
async fn a_forged_request_costs_one_lookup_and_at_most_one_refresh() {
    let w = world();
    let forged = post(&w, "eu1", &signed("forged", BODY, "n1"), BODY).await.err();
    assert_eq!(forged.map(|e| e.reason()), Some("signature_mismatch"));
    assert_eq!(w.secrets.fetch_count(), 3, "one lookup, one refresh of two stages");
    let again = post(&w, "eu1", &signed("forged", BODY, "n2"), BODY).await.err();
    assert_eq!(again.map(|e| e.reason()), Some("signature_mismatch"));
    assert_eq!(w.secrets.fetch_count(), 3, "the refresh interval holds");
}

#[tokio::test]
async fn an_app_without_a_secret_triggers_a_refresh_like_a_mismatch() {
    let w = world();
    w.secrets.put(
        SECRET_NAME,
        Stage::Current,
        r#"{"region":"eu","project_id":"P","key_id":"k","key_secret":"s","apps":{"OLD":{"webhook_secret":"old"}}}"#,
    );
    let body = r#"{"app_id":"NEW","message":{"id":"X"}}"#;
    assert!(post(&w, "eu1", &signed("new-secret", body, "n0"), body).await.is_err());
    // The app's secret is added while the cache still holds the old configuration.
    w.secrets.put(
        SECRET_NAME,
        Stage::Current,
        r#"{"region":"eu","project_id":"P","key_id":"k","key_secret":"s","apps":{"OLD":{"webhook_secret":"old"},"NEW":{"webhook_secret":"new-secret"}}}"#,
    );
    w.clock.advance(Duration::from_secs(31));
    assert!(post(&w, "eu1", &signed("new-secret", body, "n1"), body).await.is_ok());
}

#[tokio::test]
async fn secrets_manager_failing_during_a_refresh_is_503_then_the_retry_succeeds() {
    let w = world();
    assert!(post(&w, "eu1", &signed("base-secret", BODY, "n0"), BODY).await.is_ok());
    // Sinch switches to a new secret (staged as pending) while Secrets Manager is down.
    w.secrets.put(
        SECRET_NAME,
        Stage::Pending,
        &service_json("").replace("base-secret", "new-secret"),
    );
    w.secrets.set_down(true);
    let body = BODY.replace("M1", "M2");
    let headers = signed("new-secret", &body, "n1");
    let err = post(&w, "eu1", &headers, &body).await.err();
    assert_eq!(err.map(|e| (e.status(), e.code())), Some((503, "secrets_unavailable")));
    w.secrets.set_down(false);
    w.clock.advance(ServiceCacheConfig::default().failure_hold);
    // Sinch's retry, same headers: the refresh was not used up by the failure.
    let headers_again: Vec<(String, String)> = headers.clone();
    let retried = post(&w, "eu1", &headers_again, &body).await;
    assert!(retried.is_ok(), "{retried:?}");
}

mod shared_nonce_store {
    use super::*;
    use crate::ports::{ClaimOutcome, NonceStore};
    use crate::testing::SwitchableNonces;

    fn world_with_store() -> (
        World,
        Ingest<MemorySecrets, MemoryQueues, SwitchableNonces>,
        SwitchableNonces,
    ) {
        let w = world();
        let store = SwitchableNonces::default();
        let ingest = ingest_on(&w, store.clone(), Metrics::discard("test"));
        (w, ingest, store)
    }

    /// An ingest on `w`'s secrets, queue and clock with `store` for its nonces.
    fn ingest_on(
        w: &World,
        store: SwitchableNonces,
        metrics: Metrics,
    ) -> Ingest<MemorySecrets, MemoryQueues, SwitchableNonces> {
        let services = Arc::new(ServiceCache::new(
            w.secrets.clone(),
            w.clock.clone(),
            ServiceCacheConfig::default(),
        ));
        Ingest::new(
            services,
            w.sink.clone(),
            w.clock.clone(),
            config("http://q/events.fifo"),
            metrics,
        )
        .with_nonce_store(store)
    }

    async fn post_to(
        ingest: &Ingest<MemorySecrets, MemoryQueues, SwitchableNonces>,
        headers: &[(String, String)],
    ) -> Result<Stored, IngestError> {
        let pairs: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())).collect();
        ingest
            .handle(&WebhookRequest {
                service: "eu1",
                headers: &pairs,
                body: BODY.as_bytes(),
            })
            .await
    }

    #[tokio::test]
    async fn store_unavailable_fails_closed_with_503_and_stores_nothing() {
        let (w, ingest, store) = world_with_store();
        let headers = signed("base-secret", BODY, "n-down");
        store.set_down(true);
        let err = post_to(&ingest, &headers).await.err();
        assert_eq!(
            err.map(|e| (e.status(), e.code())),
            Some((503, "replay_check_unavailable"))
        );
        assert!(w.sink.taken().is_empty(), "never stored without the check");
        store.set_down(false);
        assert!(
            post_to(&ingest, &headers).await.is_ok(),
            "Sinch's retry succeeds once it is back"
        );
    }

    #[tokio::test]
    async fn a_claim_left_by_a_dead_environment_lapses_and_the_retry_is_stored() {
        let (w, ingest, store) = world_with_store();
        let headers = signed("base-secret", BODY, "n-crash");
        // An environment claimed the nonce and died before SQS answered.
        let key = nonce_key("n-crash");
        let claim = store.inner.claim(&key, NOW, NOW + 60).await;
        assert!(matches!(claim, Ok(ClaimOutcome::Claimed(_))));

        let err = post_to(&ingest, &headers).await.err();
        assert_eq!(
            err.map(|e| (e.status(), e.code())),
            Some((503, "nonce_in_flight")),
            "retryable, never 4xx"
        );
        w.clock.advance(Duration::from_secs(61));
        assert!(post_to(&ingest, &headers).await.is_ok(), "stored once the claim lapsed");
        let replay = post_to(&ingest, &headers).await.err();
        assert_eq!(replay.map(|e| e.code()), Some("replayed_nonce"));
        assert_eq!(w.sink.taken().len(), 1);
    }

    #[tokio::test]
    async fn a_failed_enqueue_releases_the_claim_at_once() {
        let (w, ingest, _store) = world_with_store();
        let headers = signed("base-secret", BODY, "n-sqs");
        w.sink.set_failing(true);
        let err = post_to(&ingest, &headers).await.err();
        assert_eq!(err.map(|e| e.code()), Some("queue_unavailable"));
        w.sink.set_failing(false);
        // Same second: no lease had to pass.
        assert!(post_to(&ingest, &headers).await.is_ok());
    }

    #[tokio::test]
    async fn a_deferred_confirmation_marks_the_nonce_used_only_when_the_follow_ups_run() {
        let (w, ingest, _store) = world_with_store();
        let ingest = ingest.defer_follow_ups();
        let headers = signed("base-secret", BODY, "n-deferred");
        assert!(post_to(&ingest, &headers).await.is_ok(), "answered after the claim");
        // Before the edge ran the follow-ups the nonce is still only claimed: a copy arriving
        // in between is retried by Sinch, never stored twice.
        let early = post_to(&ingest, &headers).await.err();
        assert_eq!(early.map(|e| e.code()), Some("nonce_in_flight"));
        ingest.run_follow_ups().await;
        let replay = post_to(&ingest, &headers).await.err();
        assert_eq!(replay.map(|e| e.code()), Some("replayed_nonce"));
        // Past the claim's lease, a confirmed nonce is still used (an unconfirmed one would lapse).
        w.clock.advance(Duration::from_secs(61));
        let later = post_to(&ingest, &headers).await.err();
        assert_eq!(later.map(|e| e.code()), Some("replayed_nonce"));
        ingest.run_follow_ups().await;
        assert_eq!(w.sink.taken().len(), 1);
    }

    #[tokio::test]
    async fn a_lost_confirmation_still_answers_stored_and_is_counted() {
        let w = world();
        let store = SwitchableNonces::default();
        let lines = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let sink_lines = lines.clone();
        let metrics = Metrics::with_writer(
            "test",
            Arc::new(move |l: &str| {
                sink_lines
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(l.to_owned())
            }),
        );
        let ingest = ingest_on(&w, store.clone(), metrics);
        store.set_confirm_down(true);
        let headers = signed("base-secret", BODY, "n-confirm");
        assert!(
            post_to(&ingest, &headers).await.is_ok(),
            "the event is on the queue: 2xx"
        );
        let lines = lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .join("\n");
        assert!(lines.contains("\"NonceStoreFailed\":1"), "{lines}");
        // Until the claim lapses, a replay is answered as in flight: still not stored twice.
        let err = post_to(&ingest, &headers).await.err();
        assert_eq!(err.map(|e| e.code()), Some("nonce_in_flight"));
        assert_eq!(w.sink.taken().len(), 1);
    }
}

/// Metrics lines of `metrics`, and a way to read them.
fn recorded() -> (Metrics, impl Fn() -> Vec<serde_json::Value>) {
    let lines = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let metrics = Metrics::with_writer(
        "webhook-ingest",
        Arc::new(move |l: &str| sink.lock().map(|mut v| v.push(l.to_owned())).unwrap_or(())),
    );
    let read = move || {
        lines
            .lock()
            .map(|v| v.iter().filter_map(|l| serde_json::from_str(l).ok()).collect())
            .unwrap_or_default()
    };
    (metrics, read)
}

/// An ingest on `w`'s secrets, queue and clock, with `config` and `metrics`.
fn ingest_recorded(w: &World, config: IngestConfig, metrics: Metrics) -> Ingest<MemorySecrets, MemoryQueues> {
    let services = Arc::new(ServiceCache::new(
        w.secrets.clone(),
        w.clock.clone(),
        ServiceCacheConfig::default(),
    ));
    Ingest::new(services, w.sink.clone(), w.clock.clone(), config, metrics)
}

#[tokio::test]
async fn rejections_name_the_service_in_metrics_only_when_it_is_configured() {
    let (metrics, lines) = recorded();
    let w = world();
    let mut c = config("http://q/events");
    c.allowed_services = Some(vec!["eu1".into()]);
    let ingest = ingest_recorded(&w, c, metrics);
    for service in ["eu1", "made-up"] {
        let headers = signed("a-wrong-secret", BODY, &format!("n-{service}"));
        let pairs: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())).collect();
        let _ = ingest
            .handle(&WebhookRequest {
                service,
                headers: &pairs,
                body: BODY.as_bytes(),
            })
            .await;
    }
    let rejected: Vec<serde_json::Value> = lines()
        .into_iter()
        .filter(|l| l.get("WebhookRejected").is_some())
        .collect();
    assert_eq!(rejected.len(), 2);
    // The configured service: its own series, which RefusedServiceAlarm's query groups by.
    assert_eq!(rejected[0]["Service"], "eu1");
    assert_eq!(rejected[0]["Reason"], "signature_mismatch");
    assert_eq!(
        rejected[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["Function"], ["Function", "Reason"], ["Function", "Reason", "Service"]])
    );
    // Any other name: counted, but no series of its own (a caller mints no metrics).
    assert!(rejected[1].get("Service").is_none(), "{}", rejected[1]);
    assert_eq!(
        rejected[1]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["Function"], ["Function", "Reason"]])
    );
}

#[tokio::test]
async fn a_claim_taken_over_before_its_confirmation_is_logged_and_counted() {
    let (metrics, lines) = recorded();
    let w = world();
    let store = crate::testing::SwitchableNonces::default();
    store.set_claims_lapse(true);
    let ingest = ingest_recorded(&w, config("http://q/events"), metrics).with_nonce_store(store);
    let headers = signed("base-secret", BODY, "n-lapsed");
    let pairs: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())).collect();
    let stored = ingest
        .handle(&WebhookRequest {
            service: "eu1",
            headers: &pairs,
            body: BODY.as_bytes(),
        })
        .await;
    assert!(stored.is_ok(), "the event is on the queue");
    assert!(
        lines().iter().any(|l| l.get("NonceClaimLapsed").is_some()),
        "{:?}",
        lines()
    );
}

async fn post_to<N: NonceStore>(
    ingest: &Ingest<MemorySecrets, MemoryQueues, N>,
    service: &str,
    headers: &[(String, String)],
    body: &str,
) -> Result<Stored, IngestError> {
    let pairs: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())).collect();
    ingest
        .handle(&WebhookRequest {
            service,
            headers: &pairs,
            body: body.as_bytes(),
        })
        .await
}

/// Widening the window later (a day to a week) reopens no captured request: the table kept the
/// nonce for the widest window the code accepts. Before, it kept it for the window of the day it
/// was stored, and a request captured two days earlier was stored a second time.
#[tokio::test]
async fn a_request_stored_under_a_day_window_is_still_a_replay_after_the_window_is_widened_to_a_week() {
    let w = world();
    let table = crate::testing::SwitchableNonces::default();
    let with_window = |tolerance_seconds| IngestConfig {
        nonce_table: Some("nonces".into()),
        tolerance_seconds,
        ..config("http://q/events.fifo")
    };
    let day = ingest_recorded(&w, with_window(86_400), Metrics::discard("test")).with_nonce_store(table.clone());
    let captured = signed("base-secret", BODY, "n-captured");
    assert!(post_to(&day, "eu1", &captured, BODY).await.is_ok());

    w.clock.advance(Duration::from_secs(2 * 86_400));
    let week =
        ingest_recorded(&w, with_window(MAX_TOLERANCE_SECONDS), Metrics::discard("test")).with_nonce_store(table);
    let replay = post_to(&week, "eu1", &captured, BODY).await.err();
    assert_eq!(replay.map(|e| (e.status(), e.code())), Some((401, "replayed_nonce")));
    assert_eq!(w.sink.taken().len(), 1, "stored once");
}

/// A listed service whose secret is gone (deleted, or being recreated) asks Sinch to retry,
/// with its own code and the service in its metric; the retry after the secret is back is
/// stored. A name nobody listed still looks like a bad signature.
#[tokio::test]
async fn a_listed_service_without_its_secret_is_503_with_its_own_code_and_stored_once_it_is_back() {
    let (metrics, lines) = recorded();
    let w = world();
    let mut c = config("http://q/events");
    c.allowed_services = Some(vec!["eu1".into(), "gone".into()]);
    let ingest = ingest_recorded(&w, c, metrics);
    let headers = signed("base-secret", BODY, "n-missing");
    let missing = post_to(&ingest, "gone", &headers, BODY).await.err();
    assert_eq!(
        missing.map(|e| (e.status(), e.code())),
        Some((503, "service_secret_missing"))
    );
    let rejected: Vec<serde_json::Value> = lines()
        .into_iter()
        .filter(|l| l.get("WebhookRejected").is_some())
        .collect();
    assert_eq!(rejected[0]["Reason"], "service_secret_missing");
    assert_eq!(rejected[0]["Service"], "gone");

    let unlisted = post_to(&ingest, "never-listed", &headers, BODY).await.err();
    assert_eq!(
        unlisted.map(|e| (e.status(), e.code())),
        Some((401, "invalid_signature"))
    );

    w.secrets
        .put("sinch-bridge/services/gone", Stage::Current, &service_json(""));
    w.clock.advance(Duration::from_secs(60));
    assert!(
        post_to(&ingest, "gone", &headers, BODY).await.is_ok(),
        "Sinch's retry is stored"
    );
}

/// An SQS SendMessage that was applied but whose answer timed out: the ingest cannot tell it
/// from one that failed, so it answers 503 and releases the claim (keeping it would lose the
/// event whenever the write did fail). Sinch's retry is stored again: two copies with the same
/// deduplication id and `event_id`, which a FIFO queue collapses within its 5-minute window and
/// a consumer deduplicates after it (docs/reference.md, "What is stored").
#[tokio::test]
async fn a_send_applied_but_timed_out_is_answered_503_and_its_retry_is_a_copy_with_the_same_ids() {
    let w = world();
    let table = crate::testing::SwitchableNonces::default();
    let ingest = ingest_recorded(
        &w,
        IngestConfig {
            nonce_table: Some("nonces".into()),
            tolerance_seconds: 86_400,
            ..config("http://q/events.fifo")
        },
        Metrics::discard("test"),
    )
    .with_nonce_store(table);
    let headers = signed("base-secret", BODY, "n-ambiguous");
    w.sink.set_applied_then_timing_out(true);
    let first = post_to(&ingest, "eu1", &headers, BODY).await.err();
    assert_eq!(first.map(|e| (e.status(), e.code())), Some((503, "queue_unavailable")));
    w.sink.set_applied_then_timing_out(false);
    assert!(
        post_to(&ingest, "eu1", &headers, BODY).await.is_ok(),
        "Sinch's retry is stored"
    );
    let copies = w.sink.taken();
    assert_eq!(copies.len(), 2, "the write that timed out had been applied");
    assert_eq!(copies[0].dedup_id, copies[1].dedup_id);
    let event_id = |m: &crate::ports::QueueMessage| {
        m.attributes
            .iter()
            .find(|(k, _)| *k == "event_id")
            .map(|(_, v)| v.clone())
    };
    assert_eq!(event_id(&copies[0]), event_id(&copies[1]));
    assert!(event_id(&copies[0]).is_some());
}
