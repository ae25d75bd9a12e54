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
        group_id: None,
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
    assert_eq!(w.sender.handle_batch(&batch).await, Vec::<String>::new());
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
    assert!(w.sender.handle_batch(&batch).await.is_empty());
    let token_calls = w.http.recorded().iter().filter(|r| r.url == TOKEN_URL).count();
    assert_eq!(token_calls, 1);
    assert_eq!(api_requests(&w).len(), 10);
}

#[tokio::test]
async fn token_is_renewed_before_it_expires() {
    let w = world_with("http://q/outbound", ok_http());
    assert!(
        w.sender
            .handle_batch(&[record("a", &envelope(APP_EU, "1"))])
            .await
            .is_empty()
    );
    let tokens = |w: &World| w.http.recorded().iter().filter(|r| r.url == TOKEN_URL).count();
    w.clock.advance(Duration::from_secs(3600 - 61));
    assert!(
        w.sender
            .handle_batch(&[record("b", &envelope(APP_EU, "2"))])
            .await
            .is_empty()
    );
    assert_eq!(tokens(&w), 1, "still more than the 60 s margin left");
    w.clock.advance(Duration::from_secs(2));
    assert!(
        w.sender
            .handle_batch(&[record("c", &envelope(APP_EU, "3"))])
            .await
            .is_empty()
    );
    assert_eq!(tokens(&w), 2, "renewed inside the margin, before expiry");
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
            .handle_batch(&[record("a", &envelope(APP_EU, "1"))])
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
            .handle_batch(&[record("a", &envelope(APP_EU, "1"))])
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
        w.sender.handle_batch(&batch).await,
        vec!["a".to_owned(), "b".into(), "c".into()]
    );
    let changes: std::collections::HashMap<String, u32> = w.sink.visibility_changes().into_iter().collect();
    assert_eq!(changes.get("rh-a"), Some(&42), "Retry-After wins");
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
        w.sender.handle_batch(&batch).await.is_empty(),
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
    assert_eq!(attr(&a, "service").as_deref(), Some("eu1"));
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
        w.sender.handle_batch(&[record("a", "not json")]).await,
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
        w.sender.handle_batch(&batch).await,
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
    assert_eq!(w.sender.handle_batch(&batch).await, vec!["b".to_owned()]);
}

#[tokio::test]
async fn explicit_service_must_be_configured() {
    let w = world_with("http://q/outbound", ok_http());
    let body = format!(
        r#"{{"app_id":"{APP_EU}","service":"elsewhere","channel":"SMS","to":"1","message":{{"text_message":{{"text":"x"}}}}}}"#
    );
    assert!(w.sender.handle_batch(&[record("a", &body)]).await.is_empty());
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
    assert_eq!(w.sender.handle_batch(&batch).await, vec!["b".to_owned()]);
    let mut deleted = w.sink.deleted_handles();
    deleted.sort();
    assert_eq!(
        deleted,
        vec!["rh-a".to_owned(), "rh-c".to_owned()],
        "sent and dead-lettered are finished"
    );
}
