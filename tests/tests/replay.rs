//! Fleet-wide replay protection on a real DynamoDB protocol (moto): what the nonce table
//! guarantees when SQS, the table or an environment fails, with time compressed by a manual
//! clock instead of sleeps.

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use bridge_tests::world::*;
use bridge_tests::*;
use serde_json::json;
use sinch_bridge::adapters::{DynamoNonces, Nonces};
use sinch_bridge::clock::Clock;
use sinch_bridge::ingest::nonce_key;
use sinch_bridge::metrics::Metrics;
use sinch_bridge::ports::{ClaimOutcome, NonceStore};

const BODY: &str = r#"{"app_id":"01EUAPPAAAAAAAAAAAAAAAAAAA","message":{"id":"M1","conversation_id":"C1"}}"#;

fn signed(nonce: &str, ts: i64) -> Vec<(String, String)> {
    signed_headers(WEBHOOK_SECRET, BODY.as_bytes(), nonce, ts)
}

#[tokio::test]
async fn a_request_refused_because_sqs_failed_is_stored_when_sinch_retries_it() {
    let w = World::start(|_| {}).await;
    // One environment whose queue is gone (deleted by mistake), one that works.
    let broken = w.ingest_on_table(|c, _| c.events_queue_url = format!("{}-gone", w.events));
    let healthy = w.ingest_on_table(|_, _| {});
    let headers = signed(&unique("n"), now());
    let (status, answer) = post_webhook(&broken, &w.service, &headers, BODY).await;
    assert_eq!((status, answer), (503, json!({"error": "queue_unavailable"})));
    // The claim was released: the retry needs no lease to pass, whichever environment gets it.
    assert_eq!(post_webhook(&healthy, &w.service, &headers, BODY).await.0, 200);
    assert_eq!(w.stored().await.len(), 1);
}

#[tokio::test]
async fn a_claim_left_by_an_environment_that_died_lapses_and_the_retry_is_stored() {
    let mut w = World::start(|_| {}).await;
    let clock = sinch_bridge::testing::ManualClock::new(now());
    w.clock = clock.clone();
    let ingest = w.ingest_on_table(|_, _| {});
    let nonce = unique("crash");
    let headers = signed(&nonce, now());
    // The environment claimed the nonce and was killed before SQS answered.
    let dead = DynamoNonces::new(w.dynamodb.clone(), &w.nonce_table);
    let key = nonce_key(&nonce);
    let claimed = dead.claim(&key, clock.unix_seconds(), clock.unix_seconds() + 60).await;
    assert!(matches!(claimed, Ok(ClaimOutcome::Claimed(_))), "{claimed:?}");

    let (status, answer) = post_webhook(&ingest, &w.service, &headers, BODY).await;
    assert_eq!(
        (status, answer),
        (503, json!({"error": "nonce_in_flight"})),
        "Sinch retries"
    );
    clock.advance(Duration::from_secs(61));
    assert_eq!(post_webhook(&ingest, &w.service, &headers, BODY).await.0, 200);
    assert_eq!(
        post_webhook(&ingest, &w.service, &headers, BODY).await.1,
        json!({"error": "replayed_nonce"})
    );
    assert_eq!(w.stored().await.len(), 1);
}

#[tokio::test]
async fn an_unavailable_table_answers_503_stores_nothing_and_is_counted() {
    let mut w = World::start(|_| {}).await;
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    w.metrics = Metrics::with_writer(
        "webhook-ingest",
        Arc::new(move |l: &str| sink.lock().unwrap().push(l.to_owned())),
    );
    // A table that does not answer (deleted, or the wrong name): fail closed.
    let missing = DynamoNonces::new(w.dynamodb.clone(), format!("{}-missing", w.nonce_table));
    let ingest = w.ingest_on_table(|_, _| {}).with_nonce_store(Nonces::Table(missing));
    let headers = signed(&unique("n"), now());
    let (status, answer) = post_webhook(&ingest, &w.service, &headers, BODY).await;
    assert_eq!((status, answer), (503, json!({"error": "replay_check_unavailable"})));
    assert!(w.stored().await.is_empty(), "never stored without the check");
    let metrics = lines.lock().unwrap().join("\n");
    assert!(metrics.contains("\"NonceStoreFailed\":1"), "{metrics}");
    assert!(metrics.contains("replay_check_unavailable"), "{metrics}");
}

#[tokio::test]
async fn the_table_holds_a_hash_and_an_expiry_at_the_end_of_the_widest_signature_window() {
    let w = World::start(|_| {}).await;
    let ingest = w.ingest_on_table(|_, _| {});
    let nonce = unique("kept");
    let ts = now() - 120;
    assert_eq!(
        post_webhook(&ingest, &w.service, &signed(&nonce, ts), BODY).await.0,
        200
    );
    let scanned = w.dynamodb.scan().table_name(&w.nonce_table).send().await.unwrap();
    let (sightings, nonces): (Vec<_>, Vec<_>) = scanned
        .items()
        .iter()
        .partition(|i| matches!(i.get("nonce"), Some(AttributeValue::S(k)) if k.starts_with("seen#")));
    assert_eq!(nonces.len(), 1);
    let item = nonces[0];
    // Beside it, which secret verified the callback (by fingerprint, never the secret).
    assert_eq!(sightings.len(), 1);
    let seen = format!("{:?}", sightings[0]);
    assert!(seen.contains("seen_count") && !seen.contains(WEBHOOK_SECRET), "{seen}");
    assert_eq!(item.get("nonce"), Some(&AttributeValue::S(nonce_key(&nonce))));
    assert_eq!(item.get("state"), Some(&AttributeValue::S("used".into())));
    // Kept for the widest window the code accepts, not this deployment's: widening the window
    // later reopens nothing.
    assert_eq!(
        item.get("expires_at"),
        Some(&AttributeValue::N(
            (ts + i64::try_from(sinch_bridge::ingest::MAX_TOLERANCE_SECONDS).unwrap()).to_string()
        ))
    );
    assert!(item.get("claim").is_none(), "a used nonce has no holder");
    let text = format!("{item:?}");
    assert!(
        !text.contains(&nonce) && !text.contains("M1"),
        "neither the nonce nor the body: {text}"
    );
}
