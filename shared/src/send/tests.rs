use super::*;
use crate::ports::{HttpReply, HttpRequest, QueueMessage, Stage};
use crate::service_cache::ServiceCacheConfig;
use crate::testing::{FakeSinch, ManualClock, MemoryQueues, MemorySecrets, reply};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const APP_EU: &str = "01EUAPP";
const APP_US: &str = "01USAPP";
const TOKEN_URL: &str = "http://auth/oauth2/token";

struct World {
    sink: MemoryQueues,
    http: FakeSinch,
    clock: Arc<ManualClock>,
    sender: Sender<MemorySecrets, FakeSinch, MemoryQueues>,
}

fn world_with(queue: &str, http: FakeSinch) -> World {
    let secrets = MemorySecrets::default();
    secrets.put(
        "p/eu1",
        Stage::Current,
        &format!(r#"{{"region":"eu","project_id":"proj-eu","key_id":"key-eu","key_secret":"ks-eu","webhook_secret":"w","sms_sender":"+15550001111","apps":{{"{APP_EU}":{{}}}}}}"#),
    );
    secrets.put(
        "p/us1",
        Stage::Current,
        &format!(r#"{{"region":"us","project_id":"proj-us","key_id":"key-us","key_secret":"ks-us","auth":"basic","webhook_secret":"w","apps":{{"{APP_US}":{{}}}}}}"#),
    );
    let clock = ManualClock::new(1_700_000_000);
    let cache = ServiceCacheConfig {
        prefix: "p/".into(),
        ..ServiceCacheConfig::default()
    };
    let services = Arc::new(ServiceCache::new(secrets, clock.clone(), cache));
    let config = SenderConfig {
        services: vec!["eu1".into(), "us1".into()],
        auth_url: TOKEN_URL.into(),
        api_base_override: Some("http://api".into()),
        outbound_queue_url: queue.into(),
        dlq_url: "http://q/dlq".into(),
        sent_queue_url: Some("http://q/sent".into()),
        ..SenderConfig::default()
    };
    let sink = MemoryQueues::default();
    let sender = Sender::new(
        services,
        http.clone(),
        sink.clone(),
        clock.clone(),
        config,
        Metrics::discard("test"),
    )
    .with_token_backoff(Duration::from_millis(1));
    World {
        sink,
        http,
        clock,
        sender,
    }
}

fn ok_http() -> FakeSinch {
    FakeSinch::new(|req, i| {
        if req.url == TOKEN_URL {
            reply(
                200,
                &format!(r#"{{"access_token":"tok{i}","expires_in":3600,"token_type":"bearer"}}"#),
            )
        } else {
            reply(
                200,
                &format!(r#"{{"message_id":"sinch-{i}","accepted_time":"2026-11-26T11:00:00Z"}}"#),
            )
        }
    })
}

fn record(id: &str, body: &str) -> OutboundRecord {
    OutboundRecord {
        message_id: id.into(),
        receipt_handle: Some(format!("rh-{id}")),
        body: Some(body.into()),
        receive_count: 1,
        ..OutboundRecord::default()
    }
}

fn envelope(app: &str, text: &str) -> String {
    format!(
        r#"{{"app_id":"{app}","channel":"SMS","to":"+15551230000","message":{{"text_message":{{"text":"{text}"}}}},"correlation_id":"c-{text}"}}"#
    )
}

fn api_requests(w: &World) -> Vec<HttpRequest> {
    w.http.recorded().into_iter().filter(|r| r.url != TOKEN_URL).collect()
}

#[tokio::test]
async fn sends_each_record_to_its_region_with_its_credentials() {
    let w = world_with("http://q/outbound", ok_http());
    let batch = vec![
        record("a", &envelope(APP_EU, "one")),
        record("b", &envelope(APP_US, "two")),
    ];
    assert_eq!(w.sender.handle_batch(&batch, None).await, Vec::<String>::new());
    let sent = api_requests(&w);
    assert_eq!(sent.len(), 2);
    let eu = sent
        .iter()
        .find(|r| r.url.contains("/eu/"))
        .cloned()
        .unwrap_or_else(|| panic!("no eu call"));
    assert_eq!(eu.url, "http://api/eu/v1/projects/proj-eu/messages:send");
    assert!(eu.authorization.expose().starts_with("Bearer tok"));
    let body: serde_json::Value = serde_json::from_slice(&eu.body).unwrap_or_default();
    assert_eq!(body["channel_properties"]["SMS_SENDER"], "+15550001111");
    let us = sent
        .iter()
        .find(|r| r.url.contains("/us/"))
        .cloned()
        .unwrap_or_else(|| panic!("no us call"));
    assert_eq!(us.url, "http://api/us/v1/projects/proj-us/messages:send");
    assert_eq!(
        us.authorization.expose(),
        "Basic a2V5LXVzOmtzLXVz",
        "basic auth key-us:ks-us"
    );
    let published: Vec<_> = w
        .sink
        .taken()
        .into_iter()
        .filter(|m| m.queue_url == "http://q/sent")
        .collect();
    assert_eq!(published.len(), 2);
    let first: serde_json::Value = serde_json::from_str(&published[0].body).unwrap_or_default();
    assert!(first["message_id"].as_str().is_some_and(|id| id.starts_with("sinch-")));
    assert!(first["correlation_id"].as_str().is_some_and(|c| c.starts_with("c-")));
}

#[tokio::test]
async fn one_token_serves_a_whole_concurrent_batch() {
    let w = world_with("http://q/outbound", ok_http());
    let batch: Vec<_> = (0..10)
        .map(|i| record(&format!("m{i}"), &envelope(APP_EU, &format!("t{i}"))))
        .collect();
    assert!(w.sender.handle_batch(&batch, None).await.is_empty());
    let token_calls = w.http.recorded().iter().filter(|r| r.url == TOKEN_URL).count();
    assert_eq!(token_calls, 1);
    assert_eq!(api_requests(&w).len(), 10);
}

#[tokio::test]
async fn token_is_renewed_before_it_expires() {
    let w = world_with("http://q/outbound", ok_http());
    assert!(
        w.sender
            .handle_batch(&[record("a", &envelope(APP_EU, "1"))], None)
            .await
            .is_empty()
    );
    let tokens = |w: &World| w.http.recorded().iter().filter(|r| r.url == TOKEN_URL).count();
    w.clock.advance(Duration::from_secs(3600 - 61));
    assert!(
        w.sender
            .handle_batch(&[record("b", &envelope(APP_EU, "2"))], None)
            .await
            .is_empty()
    );
    assert_eq!(tokens(&w), 1, "still more than the 60 s margin left");
    w.clock.advance(Duration::from_secs(2));
    assert!(
        w.sender
            .handle_batch(&[record("c", &envelope(APP_EU, "3"))], None)
            .await
            .is_empty()
    );
    assert_eq!(tokens(&w), 2, "renewed inside the margin, before expiry");
}

/// Reproduction (#26, item 6): a renewal failing inside the last minute of a token's life
/// failed the send although the token was still valid.
#[tokio::test]
async fn a_failed_renewal_sends_with_the_token_that_is_still_valid() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let http = FakeSinch::new(move |req, _| {
        if req.url == TOKEN_URL {
            // The first fetch works; every renewal after it fails.
            return if c.fetch_add(1, Ordering::SeqCst) == 0 {
                reply(200, r#"{"access_token":"first","expires_in":3600}"#)
            } else {
                reply(503, "")
            };
        }
        reply(200, r#"{"message_id":"ok"}"#)
    });
    let w = world_with("http://q/outbound", http);
    assert!(
        w.sender
            .handle_batch(&[record("a", &envelope(APP_EU, "1"))], None)
            .await
            .is_empty()
    );
    // 30 s before expiry: renewal is due and fails; the token is still good for 30 s.
    w.clock.advance(Duration::from_secs(3600 - 30));
    assert!(
        w.sender
            .handle_batch(&[record("b", &envelope(APP_EU, "2"))], None)
            .await
            .is_empty(),
        "sent with the still-valid token"
    );
    let last = api_requests(&w).pop().map(|r| r.authorization.expose().to_owned());
    assert_eq!(last.as_deref(), Some("Bearer first"));
    // Expired: nothing valid left, the record is retried.
    w.clock.advance(Duration::from_secs(31));
    assert_eq!(
        w.sender
            .handle_batch(&[record("c", &envelope(APP_EU, "3"))], None)
            .await,
        vec!["c".to_owned()]
    );
}

#[tokio::test]
async fn a_401_refreshes_the_token_and_retries_once() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let http = FakeSinch::new(move |req, i| {
        if req.url == TOKEN_URL {
            return reply(200, &format!(r#"{{"access_token":"tok{i}","expires_in":3600}}"#));
        }
        if c.fetch_add(1, Ordering::SeqCst) == 0 {
            reply(401, "{}")
        } else {
            reply(200, r#"{"message_id":"ok"}"#)
        }
    });
    let w = world_with("http://q/outbound", http);
    assert!(
        w.sender
            .handle_batch(&[record("a", &envelope(APP_EU, "1"))], None)
            .await
            .is_empty()
    );
    let auths: Vec<String> = api_requests(&w)
        .iter()
        .map(|r| r.authorization.expose().to_owned())
        .collect();
    assert_eq!(auths.len(), 2);
    assert_ne!(auths[0], auths[1], "second attempt uses a new token");
}

#[tokio::test]
async fn auth_endpoint_rate_limit_is_retried_with_backoff() {
    let http = FakeSinch::new(|req, i| {
        if req.url == TOKEN_URL && i < 2 {
            return reply(429, "");
        }
        if req.url == TOKEN_URL {
            return reply(200, r#"{"access_token":"t","expires_in":3600}"#);
        }
        reply(200, "{}")
    });
    let w = world_with("http://q/outbound", http);
    assert!(
        w.sender
            .handle_batch(&[record("a", &envelope(APP_EU, "1"))], None)
            .await
            .is_empty()
    );
    assert_eq!(w.http.recorded().iter().filter(|r| r.url == TOKEN_URL).count(), 3);
}

#[tokio::test]
async fn transient_failures_are_reported_and_delayed() {
    let http = FakeSinch::new(|req, _| {
        if req.url == TOKEN_URL {
            return reply(200, r#"{"access_token":"t","expires_in":3600}"#);
        }
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
        match body["message"]["text_message"]["text"].as_str() {
            Some("rate") => Ok(HttpReply {
                status: 429,
                retry_after: Some(42),
                body: vec![],
                complete: true,
            }),
            Some("boom") => reply(503, ""),
            Some("slow") => Err(crate::ports::TransportError::Timeout),
            _ => reply(200, "{}"),
        }
    });
    let w = world_with("http://q/outbound", http);
    let mut third = record("c", &envelope(APP_EU, "slow"));
    third.receive_count = 3;
    let batch = vec![
        record("a", &envelope(APP_EU, "rate")),
        record("b", &envelope(APP_EU, "boom")),
        third,
        record("d", &envelope(APP_EU, "fine")),
    ];
    assert_eq!(
        w.sender.handle_batch(&batch, None).await,
        vec!["a".to_owned(), "b".into(), "c".into()]
    );
    let changes: std::collections::HashMap<String, u32> = w.sink.visibility_changes().into_iter().collect();
    assert!(
        changes.get("rh-a").is_some_and(|s| (42..=47).contains(s)),
        "Retry-After is the floor: {changes:?}"
    );
    assert!(changes.get("rh-b").is_some_and(|s| (5..=10).contains(s)), "{changes:?}");
    assert!(
        changes.get("rh-c").is_some_and(|s| (20..=40).contains(s)),
        "{changes:?}"
    );
    assert!(!changes.contains_key("rh-d"));
    assert!(w.sink.taken().iter().all(|m| m.queue_url != "http://q/dlq"));
}

#[tokio::test]
async fn permanent_failures_are_dead_lettered_with_reasons_and_not_reported() {
    let http = FakeSinch::new(|req, _| {
        if req.url == TOKEN_URL {
            return reply(200, r#"{"access_token":"t","expires_in":3600}"#);
        }
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
        match body["message"]["text_message"]["text"].as_str() {
            Some("bad") => reply(
                400,
                r#"{"error":{"code":400,"message":"Invalid argument","status":"INVALID_ARGUMENT"}}"#,
            ),
            Some("gone") => reply(
                404,
                r#"{"error":{"code":404,"message":"App not found","status":"NOT_FOUND"}}"#,
            ),
            _ => reply(200, "{}"),
        }
    });
    let w = world_with("http://q/outbound", http);
    let invalid = r#"{"app_id":"01EUAPP","to":"+1","message":{"text_message":{"text":"x"}}}"#;
    let unknown_app = envelope("01NOBODY", "x");
    let batch = vec![
        record("a", &envelope(APP_EU, "bad")),
        record("b", &envelope(APP_EU, "gone")),
        record("c", invalid),
        record("d", &unknown_app),
        record("e", "not json"),
    ];
    assert!(
        w.sender.handle_batch(&batch, None).await.is_empty(),
        "dead-lettered records are done"
    );
    let dlq: Vec<QueueMessage> = w
        .sink
        .taken()
        .into_iter()
        .filter(|m| m.queue_url == "http://q/dlq")
        .collect();
    assert_eq!(dlq.len(), 5);
    let attr = |m: &QueueMessage, k: &str| m.attributes.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
    let by_source = |id: &str| {
        dlq.iter()
            .find(|m| attr(m, "source_message_id").as_deref() == Some(id))
            .cloned()
            .unwrap_or_else(|| panic!("{id} not in DLQ"))
    };
    let a = by_source("a");
    assert_eq!(a.body, envelope(APP_EU, "bad"), "original body kept");
    assert_eq!(attr(&a, "dead_letter_reason").as_deref(), Some("bad_request"));
    assert_eq!(attr(&a, "http_status").as_deref(), Some("400"));
    assert_eq!(attr(&a, "sinch_status").as_deref(), Some("INVALID_ARGUMENT"));
    assert_eq!(
        attr(&a, "dead_letter_detail").as_deref(),
        Some("Sinch refused the request as malformed; Sinch: Invalid argument"),
        "Sinch's own message follows in the detail"
    );
    let b = by_source("b");
    assert_eq!(attr(&b, "dead_letter_reason").as_deref(), Some("not_found"));
    assert!(attr(&b, "dead_letter_detail").is_some_and(|d| d.contains("region")));
    assert_eq!(
        attr(&by_source("c"), "dead_letter_reason").as_deref(),
        Some("invalid_envelope")
    );
    assert!(attr(&by_source("c"), "dead_letter_detail").is_some_and(|d| d.starts_with("to:")));
    assert_eq!(
        attr(&by_source("d"), "dead_letter_reason").as_deref(),
        Some("unknown_app")
    );
    assert_eq!(
        attr(&by_source("e"), "dead_letter_reason").as_deref(),
        Some("invalid_envelope")
    );
    assert!(
        dlq.iter()
            .all(|m| m.attributes.len() <= 10 && m.attributes.iter().all(|(_, v)| !v.is_empty()))
    );
}

#[tokio::test]
async fn a_dead_letter_that_cannot_be_stored_is_retried() {
    let w = world_with("http://q/outbound", ok_http());
    w.sink.set_failing(true);
    assert_eq!(
        w.sender.handle_batch(&[record("a", "not json")], None).await,
        vec!["a".to_owned()]
    );
}

#[tokio::test]
async fn fifo_failure_holds_back_the_rest_of_its_group_only() {
    let http = FakeSinch::new(|req, _| {
        if req.url == TOKEN_URL {
            return reply(200, r#"{"access_token":"t","expires_in":3600}"#);
        }
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
        if body["message"]["text_message"]["text"] == "g1-2" {
            reply(500, "")
        } else {
            reply(200, "{}")
        }
    });
    let w = world_with("http://q/outbound.fifo", http);
    let mut batch = Vec::new();
    for (group, n) in [("g1", 1), ("g2", 1), ("g1", 2), ("g2", 2), ("g1", 3), ("g2", 3)] {
        let mut r = record(&format!("{group}-{n}"), &envelope(APP_EU, &format!("{group}-{n}")));
        r.group_id = Some(group.into());
        batch.push(r);
    }
    assert_eq!(
        w.sender.handle_batch(&batch, None).await,
        vec!["g1-2".to_owned(), "g1-3".into()]
    );
    let texts: Vec<String> = api_requests(&w)
        .iter()
        .map(|r| {
            serde_json::from_slice::<serde_json::Value>(&r.body).unwrap_or_default()["message"]["text_message"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert!(!texts.contains(&"g1-3".to_owned()), "held back, never sent");
    let g2: Vec<&String> = texts.iter().filter(|t| t.starts_with("g2")).collect();
    assert_eq!(g2, vec!["g2-1", "g2-2", "g2-3"], "group order kept");
}

#[tokio::test]
async fn a_panic_in_one_record_fails_only_that_record() {
    let http = FakeSinch::new(|req, _| {
        if req.url == TOKEN_URL {
            return reply(200, r#"{"access_token":"t","expires_in":3600}"#);
        }
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
        if body["message"]["text_message"]["text"] == "explode" {
            panic!("injected");
        }
        reply(200, "{}")
    });
    let w = world_with("http://q/outbound", http);
    let batch = vec![
        record("a", &envelope(APP_EU, "fine")),
        record("b", &envelope(APP_EU, "explode")),
        record("c", &envelope(APP_EU, "also-fine")),
    ];
    assert_eq!(w.sender.handle_batch(&batch, None).await, vec!["b".to_owned()]);
    // Retried with backoff like any failure, not after the queue's own visibility timeout...
    let changes: std::collections::HashMap<String, u32> = w.sink.visibility_changes().into_iter().collect();
    assert!(changes.get("rh-b").is_some_and(|s| (5..=10).contains(s)), "{changes:?}");
    // ...and dead-lettered with its cause once the budget is spent, never retried forever.
    let spent = {
        let mut r = aged("b2", SenderConfig::default().retry_for + Duration::from_secs(1), 7);
        r.body = Some(envelope(APP_EU, "explode"));
        r
    };
    assert!(w.sender.handle_batch(&[spent], None).await.is_empty());
    let dead = dead_letters(&w);
    assert_eq!(attr(&dead[0], "last_cause").as_deref(), Some("panic"));
    assert!(
        w.sink.deleted_handles().contains(&"rh-b2".to_owned()),
        "deleted once dead-lettered"
    );
}

#[tokio::test]
async fn a_token_endpoint_too_slow_for_the_deadline_is_a_retry_with_backoff_not_a_tight_loop() {
    let http = FakeSinch::new(|req, _| {
        if req.url == TOKEN_URL {
            // Rate limited: the token cache backs off for seconds.
            return reply(429, "");
        }
        reply(200, "{}")
    });
    let mut w = world_with("http://q/outbound", http);
    w.sender.tokens.backoff_base = Duration::from_secs(10);
    // Just enough time to start: the token fetch's backoff runs past the last start.
    let deadline = Instant::now() + SenderConfig::default().send_window() + Duration::from_millis(5);
    let failed = w
        .sender
        .handle_batch(&[record("a", &envelope(APP_EU, "a"))], Some(deadline))
        .await;
    assert_eq!(failed, vec!["a".to_owned()]);
    let changes: Vec<(String, u32)> = w.sink.visibility_changes();
    assert!(
        changes.iter().all(|(_, s)| *s >= 5),
        "a backoff, not at once: {changes:?}"
    );
}

#[tokio::test]
async fn explicit_service_must_be_configured() {
    let w = world_with("http://q/outbound", ok_http());
    let body = format!(
        r#"{{"app_id":"{APP_EU}","service":"elsewhere","channel":"SMS","to":"1","message":{{"text_message":{{"text":"x"}}}}}}"#
    );
    assert!(w.sender.handle_batch(&[record("a", &body)], None).await.is_empty());
    let reasons: Vec<String> = w
        .sink
        .taken()
        .iter()
        .flat_map(|m| {
            m.attributes
                .iter()
                .filter(|(k, _)| *k == "dead_letter_reason")
                .map(|(_, v)| v.clone())
        })
        .collect();
    assert_eq!(reasons, vec!["unknown_service".to_owned()]);
    assert!(api_requests(&w).is_empty());
}

#[tokio::test]
async fn finished_records_are_deleted_at_once_and_failed_ones_are_not() {
    let http = FakeSinch::new(|req, _| {
        if req.url == TOKEN_URL {
            return reply(200, r#"{"access_token":"t","expires_in":3600}"#);
        }
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
        match body["message"]["text_message"]["text"].as_str() {
            Some("later") => reply(503, ""),
            Some("never") => reply(400, "{}"),
            _ => reply(200, "{}"),
        }
    });
    let w = world_with("http://q/outbound", http);
    let batch = vec![
        record("a", &envelope(APP_EU, "ok")),
        record("b", &envelope(APP_EU, "later")),
        record("c", &envelope(APP_EU, "never")),
    ];
    assert_eq!(w.sender.handle_batch(&batch, None).await, vec!["b".to_owned()]);
    let mut deleted = w.sink.deleted_handles();
    deleted.sort();
    assert_eq!(
        deleted,
        vec!["rh-a".to_owned(), "rh-c".to_owned()],
        "sent and dead-lettered are finished"
    );
}

/// A Sinch that answers `status` to every send (tokens are fine).
fn failing_http(status: u16) -> FakeSinch {
    FakeSinch::new(move |req, _| {
        if req.url == TOKEN_URL {
            reply(200, r#"{"access_token":"tok","expires_in":3600}"#)
        } else {
            reply(status, r#"{"error":{"code":503,"status":"UNAVAILABLE"}}"#)
        }
    })
}

fn attr(m: &QueueMessage, k: &str) -> Option<String> {
    m.attributes.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
}

fn dead_letters(w: &World) -> Vec<QueueMessage> {
    w.sink
        .taken()
        .into_iter()
        .filter(|m| m.queue_url == "http://q/dlq")
        .collect()
}

/// A record first received `age` ago (by the world's clock).
fn aged(id: &str, age: Duration, receive_count: u32) -> OutboundRecord {
    let mut r = record(id, &envelope(APP_EU, id));
    r.first_received_ms = Some((1_700_000_000 - i64::try_from(age.as_secs()).unwrap_or(0)) * 1000);
    r.receive_count = receive_count;
    r
}

#[tokio::test]
async fn a_transient_failure_is_retried_within_the_budget_and_dead_lettered_with_its_cause_after() {
    let w = world_with("http://q/outbound", failing_http(503));
    let budget = SenderConfig::default().retry_for;
    let young = aged("young", budget - Duration::from_secs(60), 40);
    let old = aged("old", budget + Duration::from_secs(1), 41);
    assert_eq!(
        w.sender.handle_batch(&[young, old], None).await,
        vec!["young".to_owned()]
    );
    let dead = dead_letters(&w);
    assert_eq!(dead.len(), 1, "only the record past its budget");
    assert_eq!(
        attr(&dead[0], "dead_letter_reason").as_deref(),
        Some("retry_budget_exhausted")
    );
    assert_eq!(attr(&dead[0], "last_cause").as_deref(), Some("server_error"));
    assert_eq!(attr(&dead[0], "http_status").as_deref(), Some("503"));
    assert_eq!(attr(&dead[0], "sinch_status").as_deref(), Some("UNAVAILABLE"));
    assert_eq!(attr(&dead[0], "attempts").as_deref(), Some("41"));
    assert!(
        w.sink.deleted_handles().contains(&"rh-old".to_owned()),
        "dead-lettered, so done"
    );
}

#[tokio::test]
async fn a_refused_key_is_retried_with_an_alarm_and_dead_lettered_as_auth_rejected_at_budget_end() {
    let lines = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let metrics = Metrics::with_writer(
        "sender",
        Arc::new(move |l: &str| sink.lock().map(|mut v| v.push(l.to_owned())).unwrap_or(())),
    );
    let http = FakeSinch::new(|_, _| reply(403, r#"{"error":"forbidden"}"#));
    let mut w = world_with("http://q/outbound", http);
    w.sender.metrics = metrics;
    let budget = SenderConfig::default().retry_for;
    let fresh = aged("fresh", Duration::from_secs(5), 1);
    assert_eq!(
        w.sender.handle_batch(&[fresh], None).await,
        vec!["fresh".to_owned()],
        "retried, not dead-lettered"
    );
    assert!(dead_letters(&w).is_empty());
    assert!(
        lines
            .lock()
            .map(|l| l.iter().any(|l| l.contains("\"AuthRejected\"")))
            .unwrap_or(false)
    );
    w.clock.advance(Duration::from_secs(10)); // past the failure hold: the endpoint is asked again
    let spent = aged("spent", budget + Duration::from_secs(1), 90);
    assert!(w.sender.handle_batch(&[spent], None).await.is_empty());
    let dead = dead_letters(&w);
    assert_eq!(attr(&dead[0], "dead_letter_reason").as_deref(), Some("auth_rejected"));
    assert_eq!(attr(&dead[0], "http_status").as_deref(), Some("403"));
}

#[tokio::test]
async fn a_failed_token_fetch_is_shared_by_the_whole_batch_and_remembered_briefly() {
    let w = world_with("http://q/outbound", FakeSinch::new(|_, _| reply(503, "")));
    let batch: Vec<OutboundRecord> = (0..10)
        .map(|i| record(&format!("r{i}"), &envelope(APP_EU, "x")))
        .collect();
    assert_eq!(w.sender.handle_batch(&batch, None).await.len(), 10);
    let token_calls = || w.http.recorded().iter().filter(|r| r.url == TOKEN_URL).count();
    assert_eq!(token_calls(), 1, "one fetch for ten records");
    assert_eq!(w.sender.handle_batch(&batch, None).await.len(), 10);
    assert_eq!(token_calls(), 1, "remembered within the hold");
    w.clock.advance(SenderConfig::default().token_failure_hold);
    let _ = w.sender.handle_batch(&batch, None).await;
    assert_eq!(token_calls(), 2, "asked again after it");
}

#[tokio::test]
async fn fifo_records_held_back_share_the_failing_record_s_delay_and_are_not_attempts() {
    let w = world_with("http://q/outbound.fifo", failing_http(503));
    let mut batch = Vec::new();
    for n in 1..=3 {
        let mut r = record(&format!("g-{n}"), &envelope(APP_EU, &format!("g-{n}")));
        r.group_id = Some("g".into());
        batch.push(r);
    }
    assert_eq!(w.sender.handle_batch(&batch, None).await.len(), 3);
    let changes: std::collections::HashMap<String, u32> = w.sink.visibility_changes().into_iter().collect();
    let head = changes.get("rh-g-1").copied();
    assert!(head.is_some());
    assert_eq!(
        changes.get("rh-g-2").copied(),
        head,
        "held back as long as the failing record"
    );
    assert_eq!(changes.get("rh-g-3").copied(), head);
    assert_eq!(api_requests(&w).len(), 1, "only the head was tried");
    assert_eq!(
        w.sender.held_back.attempts("g-2", 2),
        1,
        "its hold-back is not an attempt"
    );
}

#[tokio::test]
async fn no_send_starts_that_could_not_finish_before_the_deadline() {
    let w = world_with("http://q/outbound", ok_http());
    let batch = [record("a", &envelope(APP_EU, "a")), record("b", &envelope(APP_EU, "b"))];
    // One second left, a send may take ten: nothing is sent, both come back at once.
    let deadline = Instant::now() + Duration::from_secs(1);
    assert_eq!(
        w.sender.handle_batch(&batch, Some(deadline)).await,
        vec!["a".to_owned(), "b".into()]
    );
    assert!(api_requests(&w).is_empty());
    let changes: Vec<(String, u32)> = w.sink.visibility_changes();
    assert!(
        changes.iter().all(|(_, s)| *s == 0) && changes.len() == 2,
        "{changes:?}"
    );
    // With time to spare, they are sent.
    let deadline = Instant::now() + Duration::from_secs(60);
    assert!(w.sender.handle_batch(&batch, Some(deadline)).await.is_empty());
}

#[tokio::test]
async fn a_record_at_the_queue_s_receive_limit_is_dead_lettered_with_a_reason_not_silently() {
    let w = world_with("http://q/outbound", failing_http(503));
    *w.sink
        .max_receives
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(5);
    let at_limit = aged("last", Duration::from_secs(60), 5);
    assert!(w.sender.handle_batch(&[at_limit], None).await.is_empty());
    let dead = dead_letters(&w);
    assert_eq!(
        attr(&dead[0], "dead_letter_reason").as_deref(),
        Some("receive_limit_reached")
    );
}

#[tokio::test]
async fn a_sent_record_is_deleted_before_anything_optional_is_published() {
    let w = world_with("http://q/outbound", ok_http());
    assert!(
        w.sender
            .handle_batch(&[record("a", &envelope(APP_EU, "a"))], None)
            .await
            .is_empty()
    );
    let log = w.sink.log.lock().map(|l| l.clone()).unwrap_or_default();
    assert_eq!(log, vec!["delete rh-a".to_owned(), "put http://q/sent".to_owned()]);
}

#[tokio::test]
async fn a_held_back_record_at_the_receive_limit_is_dead_lettered_with_a_reason() {
    let w = world_with("http://q/outbound.fifo", failing_http(503));
    *w.sink
        .max_receives
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(5);
    let mut head = aged("head", Duration::from_secs(60), 2);
    head.group_id = Some("g".into());
    let mut behind = aged("behind", Duration::from_secs(60), 5);
    behind.group_id = Some("g".into());
    assert_eq!(
        w.sender.handle_batch(&[head, behind], None).await,
        vec!["head".to_owned()]
    );
    let dead = dead_letters(&w);
    assert_eq!(dead.len(), 1);
    assert_eq!(
        attr(&dead[0], "dead_letter_reason").as_deref(),
        Some("receive_limit_reached")
    );
    assert_eq!(attr(&dead[0], "source_message_id").as_deref(), Some("behind"));
}

#[tokio::test]
async fn a_record_left_for_a_retry_reports_its_age_since_enqueue_and_its_dead_letter_names_its_queue() {
    let lines = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let metrics = Metrics::with_writer(
        "sender",
        Arc::new(move |l: &str| sink.lock().map(|mut v| v.push(l.to_owned())).unwrap_or(())),
    );
    let mut w = world_with("http://q/outbound", FakeSinch::new(|_, _| reply(503, "")));
    w.sender.metrics = metrics.with_clock(w.clock.clone());
    let mut r = record("late", &envelope(APP_EU, "x"));
    // Enqueued 20 minutes ago, first received just now (held back behind others meanwhile).
    r.enqueued_ms = Some((1_700_000_000 - 1200) * 1000);
    r.first_received_ms = Some(1_700_000_000 * 1000);
    r.source_queue = Some("arn:aws:sqs:eu-west-1:1:outbound".into());
    assert_eq!(w.sender.handle_batch(&[r.clone()], None).await, vec!["late".to_owned()]);
    let ages: Vec<f64> = lines
        .lock()
        .map(|l| {
            l.iter()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter_map(|v| v["RetryAge"].as_f64())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(ages, vec![1200.0], "counted from the enqueue, not the first receive");

    let poison = FakeSinch::new(|req, _| {
        if req.url == TOKEN_URL {
            reply(200, r#"{"access_token":"t","expires_in":3600}"#)
        } else {
            reply(400, r#"{"error":{"status":"INVALID_ARGUMENT"}}"#)
        }
    });
    let w = world_with("http://q/outbound", poison);
    assert!(w.sender.handle_batch(&[r], None).await.is_empty());
    let dead = dead_letters(&w);
    assert_eq!(
        attr(&dead[0], "source_queue").as_deref(),
        Some("arn:aws:sqs:eu-west-1:1:outbound")
    );
}
