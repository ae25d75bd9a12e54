//! Fault runs against real emulated services: the bridge keeps working under faults, never
//! acknowledges what it did not store, never drops an outbound message. Sizes are small by
//! default (CI); `RELIABILITY_SCALE=10` runs ten times as many events. Each run prints its
//! count reconciliation (`cargo test -p bridge-tests --test reliability -- --nocapture`).

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bridge_tests::fault_proxy::{FaultMix, FaultProxy};
use bridge_tests::off_task_mock::OffTaskMock;
use bridge_tests::world::*;
use bridge_tests::*;
use futures::StreamExt as _;
use serde_json::{Value, json};
use sinch_bridge::adapters::{HttpsSinchClient, SecretsManagerStore, SqsQueues};
use sinch_bridge::ingest::Ingest;
use sinch_bridge::ports::{QueueWriter, SecretStore};
use wiremock::matchers::path;
use wiremock::{Mock, Request, Respond, ResponseTemplate};

fn scale() -> usize {
    std::env::var("RELIABILITY_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

fn service_json(webhook_secret: &str) -> Value {
    service_secret(webhook_secret)
}

fn callback(i: usize) -> String {
    json!({"app_id": APP, "project_id": "proj", "message": {"id": format!("EVT{i:06}"), "conversation_id": format!("CONV{}", i % 7),
           "contact_message": {"text_message": {"text": format!("event {i}")}},
           "channel_identity": {"channel": "WHATSAPP", "identity": "46732001122"}}})
    .to_string()
}

async fn post<S: SecretStore, Q: QueueWriter>(ingest: &Ingest<S, Q>, service: &str, secret: &str, body: &str) -> u16 {
    let headers = signed_headers(secret, body.as_bytes(), &unique("n"), now());
    post_webhook(ingest, service, &headers, body).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ingest_under_sqs_faults_stores_every_event_and_acknowledges_only_stored_ones() {
    let w = World::start(|s| {
        s.fifo = true;
        s.service_secret = service_json("s3cret");
    })
    .await;
    let (sqs, queue, service) = (&w.sqs, &w.events, &w.service);
    let proxy = FaultProxy::start(w.moto.socket_addr()).await;
    proxy.set_mix(FaultMix {
        reset: 15,
        stall: 5,
        cut: 10,
        stall_for: Duration::from_secs(3),
    });
    // SQS through the proxy with a short timeout, as the function's 5 s inside API Gateway.
    let faulty = sdk_config_with_timeout(&proxy.url(), Duration::from_secs(2)).await;
    let ingest = w.ingest_with(w.store(), SqsQueues::new(aws_sdk_sqs::Client::new(&faulty)), |c, _| {
        c.nonce_capacity = 100_000;
    });

    let n = 60 * scale();
    let acked = Mutex::new(HashSet::new());
    let (attempts, failures) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let outage = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        proxy.set_outage(true);
        tokio::time::sleep(Duration::from_secs(2)).await;
        proxy.set_outage(false);
    };
    // A sender that behaves like Sinch: retries every non-2xx with backoff until it gets a 2xx.
    let traffic = futures::stream::iter(0..n)
        .map(|i| {
            let (ingest, acked, attempts, failures) = (&ingest, &acked, &attempts, &failures);
            async move {
                let body = callback(i);
                let mut delay = Duration::from_millis(50);
                for _ in 0..60 {
                    attempts.fetch_add(1, Ordering::Relaxed);
                    let status = post(ingest, service, "s3cret", &body).await;
                    if (200..300).contains(&status) {
                        acked.lock().unwrap().insert(body);
                        return;
                    }
                    assert_eq!(status, 503, "a fault must never look like a bad request");
                    failures.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_millis(800));
                }
                panic!("event {i} was never acknowledged");
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>();
    tokio::join!(traffic, outage);

    let stored = drain(sqs, queue, 30).await;
    let bodies: Vec<String> = stored.iter().map(|m| m.body.clone()).collect();
    let distinct: HashSet<String> = bodies.iter().cloned().collect();
    let acked = acked.into_inner().unwrap();
    println!(
        "ingest under SQS faults: events {n}, POSTs {}, answered 503 {}, acknowledged {}, stored {}, distinct {}, duplicates {}; proxy: {}",
        attempts.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed),
        acked.len(),
        bodies.len(),
        distinct.len(),
        bodies.len() - distinct.len(),
        proxy.summary()
    );
    // The faults bit: connections were broken. Whether one surfaced as a 503 depends on the
    // SDK's own retries absorbing it (a run with none did happen), so that is not required.
    assert!(proxy.faults() > 0, "the faults must have bitten: {}", proxy.summary());
    assert_eq!(acked.len(), n);
    assert!(
        acked.iter().all(|b| distinct.contains(b)),
        "every acknowledged event is stored"
    );
    assert_eq!(distinct.len(), n, "every event is stored");
    assert_eq!(bodies.len(), distinct.len(), "no duplicates on FIFO");
}

/// Mock Sinch for the sender run: poison messages get 400; others draw a fault at random.
/// Records which texts were accepted (200) and which accepted answers were never delivered.
struct Chaos {
    accepted: Mutex<HashMap<String, usize>>,
    lost: Mutex<HashSet<String>>,
}

struct ChaosResponder(Arc<Chaos>);

impl Respond for ChaosResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let chaos = &self.0;
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let text = body["message"]["text_message"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if text.starts_with("poison") {
            return ResponseTemplate::new(400).set_body_json(
                json!({"error": {"code": 400, "message": "Invalid argument", "status": "INVALID_ARGUMENT"}}),
            );
        }
        let ok = ResponseTemplate::new(200)
            .set_body_json(json!({"message_id": unique("m"), "accepted_time": "2026-11-26T00:00:00Z"}));
        match fastrand::u32(0..100) {
            0..10 => ResponseTemplate::new(429).insert_header("Retry-After", "1"),
            10..18 => ResponseTemplate::new(429),
            18..26 => ResponseTemplate::new(500),
            26..32 => ResponseTemplate::new(503),
            32..38 => {
                // Accepted, but the answer arrives after the client gave up: a lost answer.
                *chaos.accepted.lock().unwrap().entry(text.clone()).or_default() += 1;
                chaos.lost.lock().unwrap().insert(text);
                ok.set_delay(Duration::from_secs(4))
            }
            _ => {
                *chaos.accepted.lock().unwrap().entry(text).or_default() += 1;
                ok
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sender_under_api_faults_delivers_everything_and_dead_letters_only_poison() {
    let w = World::start(|s| s.redrive_max_receives = Some(30)).await;
    let (sqs, outbound, dlq) = (&w.sqs, &w.outbound, &w.dlq);

    let chaos = Arc::new(Chaos {
        accepted: Mutex::default(),
        lost: Mutex::default(),
    });
    let mock = OffTaskMock::start().await;
    Mock::given(path("/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "t", "expires_in": 3600})))
        .mount(&mock)
        .await;
    Mock::given(path("/eu/v1/projects/proj/messages:send"))
        .respond_with(ChaosResponder(chaos.clone()))
        .mount(&mock)
        .await;
    // Connection resets in front of the mock: refused before any byte reaches it.
    let proxy = FaultProxy::start(mock.address().to_owned()).await;
    proxy.set_mix(FaultMix {
        reset: 10,
        ..FaultMix::default()
    });

    let sender = w.sender(&mock.uri(), |c, _| {
        c.api_base_override = Some(proxy.url());
        c.sent_queue_url = None;
        c.retry_base = Duration::from_secs(1);
        c.retry_max = Duration::from_secs(2);
        // Well above a normal answer's time even on a loaded machine, so the only answers lost
        // to the timeout are the ones the mock delays on purpose (and records as lost).
        c.send_timeout = Duration::from_secs(2);
    });

    let n = 40 * scale();
    let mut valid = HashSet::new();
    let mut poison = HashSet::new();
    for i in 0..n {
        let text = if i % 10 == 3 {
            format!("poison {i}")
        } else {
            format!("message {i}")
        };
        let body = json!({"app_id": APP, "channel": "SMS", "to": format!("+1555{i:07}"), "message": {"text_message": {"text": text}}}).to_string();
        send_body(sqs, outbound, &body, None).await;
        if text.starts_with("poison") {
            poison.insert(text)
        } else {
            valid.insert(text)
        };
    }
    // Lambda's event source in miniature, until the queue is empty.
    let deadline = std::time::Instant::now() + Duration::from_secs(120) * u32::try_from(scale()).unwrap_or(1);
    let mut invocations = 0;
    let mut redelivered = HashSet::new();
    let mut finished = HashSet::new();
    while depth(sqs, outbound).await > 0 {
        assert!(std::time::Instant::now() < deadline, "queue did not drain");
        let batch = receive(sqs, outbound, 5).await;
        if batch.is_empty() {
            tokio::time::sleep(Duration::from_millis(300)).await;
            continue;
        }
        invocations += 1;
        // A message that comes back after the sender finished it (and it was deleted) was
        // redelivered by the queue, which is at-least-once: that second send is not the sender's.
        let text_of = |m: &Received| {
            serde_json::from_str::<Value>(&m.body).unwrap()["message"]["text_message"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        for m in &batch {
            if finished.contains(&text_of(m)) {
                redelivered.insert(text_of(m));
            }
        }
        let failed = run_batch(&sender, sqs, outbound, &batch).await;
        for m in batch.iter().filter(|m| !failed.contains(&m.message_id)) {
            finished.insert(text_of(m));
        }
    }
    let dead = drain(sqs, dlq, 30).await;
    let accepted = chaos.accepted.lock().unwrap().clone();
    let lost = chaos.lost.lock().unwrap().clone();
    let duplicates: Vec<&String> = accepted.iter().filter(|(_, c)| **c > 1).map(|(t, _)| t).collect();
    println!(
        "sender under API faults: messages {n} (poison {}), invocations {invocations}, accepted {} distinct, duplicates {}, lost answers {}, redelivered by the queue after finishing {}, dead-lettered {}; proxy: {}",
        poison.len(),
        accepted.len(),
        duplicates.len(),
        lost.len(),
        redelivered.len(),
        dead.len(),
        proxy.summary()
    );
    for text in &valid {
        assert!(accepted.get(text).is_some_and(|c| *c >= 1), "{text} was never accepted");
    }
    for text in duplicates {
        assert!(
            lost.contains(text) || redelivered.contains(text),
            "{text} was sent twice without a lost answer or a queue redelivery"
        );
    }
    let dead_texts: HashSet<String> = dead
        .iter()
        .map(|m| {
            assert_eq!(m.attributes["dead_letter_reason"], "bad_request");
            serde_json::from_str::<Value>(&m.body).unwrap()["message"]["text_message"]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        dead_texts, poison,
        "every poison message, and nothing else, is dead-lettered"
    );
    assert_eq!(dead.len(), poison.len(), "each exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_manager_outage_warm_keeps_working_cold_answers_503() {
    let w = World::start(|s| s.service_secret = service_json("s3cret")).await;
    let service = &w.service;
    let proxy = FaultProxy::start(w.moto.socket_addr()).await;
    let via_proxy = sdk_config_with_timeout(&proxy.url(), Duration::from_secs(2)).await;
    // A 1 s cache TTL, so the outage hits a cache that has already expired; failures are held
    // for 1 s (10 s by default).
    let make = || {
        let store = SecretsManagerStore::new(aws_sdk_secretsmanager::Client::new(&via_proxy));
        w.ingest_with(store, w.queues(), |_, cache| {
            cache.ttl = Duration::from_secs(1);
            cache.failure_hold = Duration::from_secs(1);
        })
    };
    let warm = make();
    assert_eq!(post(&warm, service, "s3cret", &callback(1)).await, 200);
    proxy.set_outage(true);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        post(&warm, service, "s3cret", &callback(2)).await,
        200,
        "warm: verifies from its (stale) cache"
    );
    assert_eq!(
        post(&warm, service, "wrong", &callback(3)).await,
        503,
        "a signature it cannot match may be a new secret it cannot load: not stored, retry later"
    );
    let cold = make();
    assert_eq!(
        post(&cold, service, "s3cret", &callback(4)).await,
        503,
        "cold: 503 so Sinch retries, never 401"
    );
    proxy.set_outage(false);
    assert_eq!(
        post(&cold, service, "s3cret", &callback(4)).await,
        503,
        "within the failure hold: answered at once, Secrets Manager not asked"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        post(&cold, service, "s3cret", &callback(4)).await,
        200,
        "Sinch's later retry succeeds"
    );
    assert_eq!(w.stored().await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_keeps_sending_with_cached_credentials_while_secrets_manager_is_down() {
    let w = World::start(|_| {}).await;
    let (sqs, outbound) = (&w.sqs, &w.outbound);
    let proxy = FaultProxy::start(w.moto.socket_addr()).await;
    let via_proxy = sdk_config_with_timeout(&proxy.url(), Duration::from_secs(2)).await;
    let mock = OffTaskMock::start().await;
    Mock::given(path("/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "t", "expires_in": 3600})))
        .mount(&mock)
        .await;
    Mock::given(path("/eu/v1/projects/proj/messages:send"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"message_id": "ok"})))
        .mount(&mock)
        .await;
    let store = SecretsManagerStore::new(aws_sdk_secretsmanager::Client::new(&via_proxy));
    let sinch = HttpsSinchClient::new(sinch_bridge::adapters::https_client().unwrap(), Duration::from_secs(2));
    let sender = w.sender_with(store, sinch, w.queues(), &mock.uri(), |c, cache| {
        c.sent_queue_url = None;
        cache.ttl = Duration::from_secs(1);
    });
    let run = |text: &'static str| {
        let sender = &sender;
        async move {
            send_body(
                sqs,
                outbound,
                &json!({"app_id": APP, "channel": "SMS", "to": "+1555", "message": {"text_message": {"text": text}}})
                    .to_string(),
                None,
            )
            .await;
            let batch = receive(sqs, outbound, 30).await;
            invoke_sender(sender, &batch).await.len()
        }
    };
    assert_eq!(run("before").await, 0);
    proxy.set_outage(true);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(run("during").await, 0, "sent with the cached service and token");
    let sends = mock
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with("messages:send"))
        .count();
    assert_eq!(sends, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_under_concurrent_traffic_rejects_nothing() {
    let w = World::start(|s| s.service_secret = service_json("old-secret")).await;
    let (secrets, service) = (&w.secrets, &w.service);
    let name = w.secret_name(service);
    let ingest = w.ingest(|c, _| c.nonce_capacity = 100_000);
    // What Sinch signs with right now; switched in the middle of the run.
    let sinch_secret = Mutex::new("old-secret");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (sent, rejected) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let traffic = futures::stream::iter(0..4)
        .map(|worker| {
            let (ingest, service, sinch_secret, stop, sent, rejected) =
                (&ingest, service, &sinch_secret, &stop, &sent, &rejected);
            async move {
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    let secret = *sinch_secret.lock().unwrap();
                    // Sinch's retries of older deliveries still carry the old signature.
                    let secret = if i % 5 == 4 { "old-secret" } else { secret };
                    let status = post(ingest, service, secret, &callback(worker * 100_000 + i)).await;
                    sent.fetch_add(1, Ordering::Relaxed);
                    if status != 200 {
                        rejected.fetch_add(1, Ordering::Relaxed);
                    }
                    i += 1;
                }
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<()>>();
    let rotation = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let version = stage_pending(secrets, &name, &service_json("new-secret").to_string()).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        *sinch_secret.lock().unwrap() = "new-secret";
        tokio::time::sleep(Duration::from_millis(500)).await;
        promote(secrets, &name, &version).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, Ordering::SeqCst);
    };
    tokio::join!(traffic, rotation);
    println!(
        "rotation under traffic: requests {}, rejected {}",
        sent.load(Ordering::Relaxed),
        rejected.load(Ordering::Relaxed)
    );
    assert!(sent.load(Ordering::Relaxed) > 20);
    assert_eq!(rejected.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_batch_redelivers_only_unfinished_work_in_group_order() {
    let w = World::start(|s| s.fifo = true).await;
    let (sqs, outbound) = (&w.sqs, &w.outbound);
    let mock = OffTaskMock::start().await;
    Mock::given(path("/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "t", "expires_in": 3600})))
        .mount(&mock)
        .await;
    struct SlowOn3;
    impl Respond for SlowOn3 {
        fn respond(&self, request: &Request) -> ResponseTemplate {
            let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
            let ok = ResponseTemplate::new(200).set_body_json(json!({"message_id": "ok"}));
            if body["message"]["text_message"]["text"] == "g1-3" {
                ok.set_delay(Duration::from_secs(10))
            } else {
                ok
            }
        }
    }
    Mock::given(path("/eu/v1/projects/proj/messages:send"))
        .respond_with(SlowOn3)
        .mount(&mock)
        .await;
    let sender = w.sender(&mock.uri(), |c, _| {
        c.sent_queue_url = None;
        c.send_timeout = Duration::from_secs(30);
    });
    let body = |t: &str| {
        json!({"app_id": APP, "channel": "SMS", "to": "+1555", "message": {"text_message": {"text": t}}}).to_string()
    };
    for (t, g) in [
        ("g1-1", "g1"),
        ("g2-1", "g2"),
        ("g1-2", "g1"),
        ("g2-2", "g2"),
        ("g1-3", "g1"),
        ("g1-4", "g1"),
        ("g1-5", "g1"),
    ] {
        send_body(sqs, outbound, &body(t), Some(g)).await;
    }
    let mut batch = Vec::new();
    while batch.len() < 7 {
        let more = receive(sqs, outbound, 3).await;
        assert!(!more.is_empty());
        batch.extend(more);
    }
    // The invocation dies (timeout, crash) while g1-3 is in flight.
    let crashed = tokio::time::timeout(Duration::from_secs(2), invoke_sender(&sender, &batch)).await;
    assert!(crashed.is_err(), "the batch must still be running when it dies");
    tokio::time::sleep(Duration::from_secs(4)).await; // past the 3 s visibility timeout
    // Nothing of g1 after the stalled record was sent before the crash: order held.
    let sent: Vec<String> = mock
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with("messages:send"))
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["message"]["text_message"]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(
        !sent.contains(&"g1-4".to_owned()) && !sent.contains(&"g1-5".to_owned()),
        "{sent:?}"
    );
    // Redelivered: exactly the unfinished records. (moto does not keep FIFO order on
    // redelivery, unlike SQS, so they are read one by one and compared as a set.)
    let redelivered = drain(sqs, outbound, 30).await;
    let mut texts: Vec<String> = redelivered
        .iter()
        .map(|m| {
            serde_json::from_str::<Value>(&m.body).unwrap()["message"]["text_message"]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    texts.sort();
    assert_eq!(
        texts,
        vec!["g1-3", "g1-4", "g1-5"],
        "finished work was deleted; only unfinished work comes back"
    );
}

/// A whole rotation under concurrent traffic, then past the previous secret's grace: Sinch's
/// callbacks (the current secret, and retries still signed with the old one while that is
/// allowed) are all stored; after the grace, every request signed with the old secret is
/// refused, whatever refreshes it triggers. Time is compressed by a manual clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_then_revocation_under_traffic_rejects_no_valid_callback_and_accepts_no_revoked_one() {
    let mut w = World::start(|s| s.service_secret = service_json("old-secret")).await;
    let clock = sinch_bridge::testing::ManualClock::new(now());
    w.clock = clock.clone();
    let grace = Duration::from_secs(120);
    let ingest = w.ingest(|c, cache| {
        c.nonce_capacity = 100_000;
        c.tolerance_seconds = 60;
        cache.ttl = Duration::from_secs(30);
        cache.refresh_min_interval = Duration::from_secs(5);
    });
    let name = w.secret_name(&w.service);
    let counter = AtomicUsize::new(0);
    // A burst of `n` requests at once, the i-th signed with `secret_for(i)`; the statuses.
    let burst = |n: usize, secret_for: &(dyn Fn(usize) -> &'static str + Sync)| {
        let (ingest, w, clock, counter) = (&ingest, &w, &clock, &counter);
        let requests: Vec<_> = (0..n)
            .map(|i| {
                let secret = secret_for(i);
                async move {
                    let body = callback(counter.fetch_add(1, Ordering::Relaxed));
                    let ts = sinch_bridge::clock::Clock::unix_seconds(&**clock);
                    let headers = signed_headers(secret, body.as_bytes(), &unique("n"), ts);
                    (secret, post_webhook(ingest, &w.service, &headers, &body).await.0)
                }
            })
            .collect();
        futures::stream::iter(requests).buffer_unordered(8).collect::<Vec<_>>()
    };
    let n = 40 * scale();
    let mut valid_rejected = 0;
    let mut sent_valid = 0;
    let mut tally = |results: Vec<(&str, u16)>, valid: &[&str]| {
        let mut revoked_accepted = 0;
        for (secret, status) in results {
            if valid.contains(&secret) {
                sent_valid += 1;
                valid_rejected += usize::from(status != 200);
            } else {
                revoked_accepted += usize::from(status == 200);
            }
        }
        revoked_accepted
    };
    // Before: Sinch signs with the old secret.
    tally(burst(n, &|_| "old-secret").await, &["old-secret"]);
    // Rotation: the new value staged; Sinch switched, its older retries still old-signed.
    // The staged value retires the old secret until the grace after its promotion (below).
    let mut staged = service_json("new-secret");
    let promoted_at = sinch_bridge::clock::Clock::unix_seconds(&*clock) + 31;
    staged["retired_webhook_secrets"] =
        json!([{"secret": "old-secret", "until": promoted_at + i64::try_from(grace.as_secs()).unwrap_or(0)}]);
    let version = stage_pending(&w.secrets, &name, &staged.to_string()).await;
    let mixed = |i: usize| if i % 4 == 3 { "old-secret" } else { "new-secret" };
    tally(burst(n, &mixed).await, &["old-secret", "new-secret"]);
    // Promoted: the old secret is previous, inside its grace.
    promote(&w.secrets, &name, &version).await;
    clock.advance(Duration::from_secs(31));
    tally(burst(n, &mixed).await, &["old-secret", "new-secret"]);
    // Past the grace: the old secret is revoked; each burst comes after the refresh interval.
    clock.advance(grace);
    let mut revoked_accepted = 0;
    let mut revoked_sent = 0;
    for _ in 0..3 {
        clock.advance(Duration::from_secs(6));
        let results = burst(n, &mixed).await;
        revoked_sent += results.iter().filter(|(s, _)| *s == "old-secret").count();
        revoked_accepted += tally(results, &["new-secret"]);
    }
    let stored = w.stored().await.len();
    println!(
        "rotation then revocation under traffic: valid callbacks {sent_valid}, rejected {valid_rejected}; \
         requests with the revoked secret after its grace {revoked_sent}, accepted {revoked_accepted}; stored {stored}"
    );
    assert_eq!(valid_rejected, 0);
    assert!(revoked_sent > 0);
    assert_eq!(revoked_accepted, 0);
    assert_eq!(stored, sent_valid);
}

/// A Sinch whose `messages:send` fails (503) and whose token endpoint refuses the key (403)
/// while the matching switch is on; otherwise both succeed. Records the texts it accepted,
/// in order.
#[derive(Default)]
struct Outage {
    api_down: std::sync::atomic::AtomicBool,
    auth_refused: std::sync::atomic::AtomicBool,
    accepted: Mutex<Vec<String>>,
}

struct OutageResponder(Arc<Outage>);

impl Respond for OutageResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let o = &self.0;
        if request.url.path().ends_with("/oauth2/token") {
            return if o.auth_refused.load(Ordering::SeqCst) {
                ResponseTemplate::new(403)
            } else {
                // Short-lived, so a refused key is noticed again after the outage starts.
                ResponseTemplate::new(200).set_body_json(json!({"access_token": "t", "expires_in": 61}))
            };
        }
        if o.api_down.load(Ordering::SeqCst) {
            return ResponseTemplate::new(503).set_body_json(json!({"error": {"code": 503, "status": "UNAVAILABLE"}}));
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let text = body["message"]["text_message"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        o.accepted.lock().unwrap().push(text);
        ResponseTemplate::new(200).set_body_json(json!({"message_id": unique("m")}))
    }
}

/// What an outage run saw.
struct OutageRun {
    accepted: Vec<String>,
    dead: Vec<Received>,
    invocations: usize,
}

/// `n` messages in `groups` FIFO groups through the sender with the retry settings compressed
/// to seconds (same code, small numbers), while `outage` runs; Lambda's event source in
/// miniature until every message is sent or dead-lettered.
async fn outage_run(n: usize, retry_for: Duration, outage: impl AsyncFnOnce(&Outage)) -> OutageRun {
    // The template's redrive limit (1000): SQS's redrive is only a safety net.
    let w = World::start(|s| {
        s.fifo = true;
        s.redrive_max_receives = Some(1000);
    })
    .await;
    let sinch = Arc::new(Outage::default());
    let mock = OffTaskMock::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(OutageResponder(sinch.clone()))
        .mount(&mock)
        .await;
    let sender = w.sender(&mock.uri(), |c, _| {
        c.sent_queue_url = None;
        c.retry_base = Duration::from_secs(1);
        c.retry_max = Duration::from_secs(2);
        c.retry_for = retry_for;
        c.token_failure_hold = Duration::from_millis(500);
        c.send_timeout = Duration::from_secs(2);
    });
    for i in 0..n {
        let body = json!({"app_id": APP, "channel": "SMS", "to": "+15550000", "message": {"text_message": {"text": format!("g{}-{i:03}", i % 3)}}}).to_string();
        send_body(&w.sqs, &w.outbound, &body, Some(&format!("g{}", i % 3))).await;
    }
    let text_of = |m: &Received| -> (String, usize) {
        let v: Value = serde_json::from_str(&m.body).unwrap();
        let text = v["message"]["text_message"]["text"].as_str().unwrap().to_owned();
        let index = text[3..].parse().unwrap();
        (text, index)
    };
    let drive = async {
        let mut invocations = 0;
        let mut finished: HashSet<usize> = HashSet::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        while depth(&w.sqs, &w.outbound).await > 0 {
            assert!(std::time::Instant::now() < deadline, "the queue did not drain");
            let mut batch = receive(&w.sqs, &w.outbound, 30).await;
            // moto does not lock a FIFO group while one of its messages is hidden, as SQS
            // does: give back what SQS would not have delivered yet (a message whose group
            // has an earlier unfinished message outside this batch).
            batch.sort_by_key(|m| text_of(m).1);
            let mut eligible = Vec::new();
            for m in batch {
                let i = text_of(&m).1;
                let earlier_pending = (i % 3..i)
                    .step_by(3)
                    .any(|j| !finished.contains(&j) && !eligible.iter().any(|e: &Received| text_of(e).1 == j));
                if earlier_pending {
                    w.sqs
                        .change_message_visibility()
                        .queue_url(&w.outbound)
                        .receipt_handle(&m.receipt_handle)
                        .visibility_timeout(0)
                        .send()
                        .await
                        .unwrap();
                } else {
                    eligible.push(m);
                }
            }
            if eligible.is_empty() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            invocations += 1;
            let failed = run_batch(&sender, &w.sqs, &w.outbound, &eligible).await;
            for m in eligible.iter().filter(|m| !failed.contains(&m.message_id)) {
                finished.insert(text_of(m).1);
            }
        }
        invocations
    };
    let (invocations, ()) = tokio::join!(drive, outage(&sinch));
    let accepted = sinch.accepted.lock().unwrap().clone();
    OutageRun {
        accepted,
        dead: drain(&w.sqs, &w.dlq, 30).await,
        invocations,
    }
}

fn texts_in_group(accepted: &[String], group: &str) -> Vec<String> {
    accepted.iter().filter(|t| t.starts_with(group)).cloned().collect()
}

/// (a) An outage longer than the old give-up point (5 receives, about 6 to 9 s with these
/// settings) but inside the budget: nothing dead-lettered, everything delivered once the
/// outage ends, FIFO order kept in each group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_inside_the_retry_budget_dead_letters_nothing_and_keeps_group_order() {
    let n = 12 * scale();
    let run = outage_run(n, Duration::from_secs(60), async |sinch: &Outage| {
        sinch.api_down.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(12)).await;
        sinch.api_down.store(false, Ordering::SeqCst);
    })
    .await;
    println!(
        "outage inside the budget (12 s outage, 60 s budget, old give-up point about 8 s): messages {n}, invocations {}, accepted {}, dead-lettered {}",
        run.invocations,
        run.accepted.len(),
        run.dead.len()
    );
    assert!(
        run.dead.is_empty(),
        "{:?}",
        run.dead.iter().map(|m| &m.attributes).collect::<Vec<_>>()
    );
    let distinct: HashSet<&String> = run.accepted.iter().collect();
    assert_eq!(distinct.len(), n, "every message delivered");
    for g in ["g0", "g1", "g2"] {
        let texts = texts_in_group(&run.accepted, g);
        let mut sorted = texts.clone();
        sorted.sort();
        assert_eq!(texts, sorted, "group {g} in order");
    }
}

/// (b) An outage longer than the budget: every message dead-lettered by the sender itself,
/// with retry_budget_exhausted and its last cause; none moved by SQS's redrive without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_past_the_retry_budget_dead_letters_every_message_with_its_reason() {
    let n = 9 * scale();
    let run = outage_run(n, Duration::from_secs(6), async |sinch: &Outage| {
        sinch.api_down.store(true, Ordering::SeqCst);
        // Ends by itself only after the test: the drive stops once the queue is empty.
        tokio::time::sleep(Duration::from_secs(60)).await;
    })
    .await;
    println!(
        "outage past the budget (6 s budget): messages {n}, invocations {}, dead-lettered {}, by the sender with a reason {}",
        run.invocations,
        run.dead.len(),
        run.dead
            .iter()
            .filter(|m| m.attributes.contains_key("dead_letter_reason"))
            .count()
    );
    assert!(run.accepted.is_empty());
    assert_eq!(run.dead.len(), n);
    for m in &run.dead {
        assert_eq!(
            m.attributes.get("dead_letter_reason").map(String::as_str),
            Some("retry_budget_exhausted")
        );
        assert_eq!(m.attributes.get("last_cause").map(String::as_str), Some("server_error"));
        assert_eq!(m.attributes.get("http_status").map(String::as_str), Some("503"));
        assert!(
            m.attributes
                .get("attempts")
                .is_some_and(|a| a.parse::<u32>().is_ok_and(|a| a >= 1))
        );
    }
}

/// (c) The token endpoint refuses the key for a while (403, as during a key rotation), then
/// accepts it: nothing dead-lettered, everything delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_refused_for_a_while_then_fixed_dead_letters_nothing() {
    let n = 9 * scale();
    let run = outage_run(n, Duration::from_secs(60), async |sinch: &Outage| {
        sinch.auth_refused.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(10)).await;
        sinch.auth_refused.store(false, Ordering::SeqCst);
    })
    .await;
    println!(
        "token endpoint answering 403 for 10 s: messages {n}, invocations {}, accepted {}, dead-lettered {}",
        run.invocations,
        run.accepted.len(),
        run.dead.len()
    );
    assert!(run.dead.is_empty());
    assert_eq!(run.accepted.iter().collect::<HashSet<_>>().len(), n);
}
