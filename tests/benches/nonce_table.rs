//! What the nonce table adds to a webhook, as round trips against moto on loopback: the whole
//! ingest path with `ReplayProtection=instance` and `=table` (same requests, interleaved), and
//! the table's own claim + confirm calls. moto is a Python server, so the absolute times are
//! moto's; the ratio of calls is what carries over to AWS (BENCHMARKS.md, section 6).
//! Prints medians and ratios; asserts nothing.
//!
//! `cargo bench -p bridge-tests --bench nonce_table` (starts moto itself, or uses MOTO_ENDPOINT)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use bridge_tests::world::*;
use bridge_tests::*;
use sinch_bridge::adapters::DynamoNonces;
use sinch_bridge::ingest::nonce_key;
use sinch_bridge::ports::NonceStore;

const ROUNDS: usize = 300;
const BODY: &str = r#"{"app_id":"01EUAPPAAAAAAAAAAAAAAAAAAA","message":{"id":"M1","conversation_id":"C1","direction":"TO_APP","contact_message":{"text_message":{"text":"hello"}}}}"#;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let w = World::start(|_| {}).await;
    let instance = w.ingest(|_, _| {});
    let table = w.ingest_on_table(|_, _| {});
    let store = DynamoNonces::new(w.dynamodb.clone(), &w.nonce_table);
    // Warm both paths (secret cache, connections).
    for ingest_round in 0..5 {
        let h = signed_headers(WEBHOOK_SECRET, BODY.as_bytes(), &format!("warm-{ingest_round}"), now());
        assert_eq!(post_webhook(&instance, &w.service, &h, BODY).await.0, 200);
        let h = signed_headers(
            WEBHOOK_SECRET,
            BODY.as_bytes(),
            &format!("warm-t-{ingest_round}"),
            now(),
        );
        assert_eq!(post_webhook(&table, &w.service, &h, BODY).await.0, 200);
    }
    let (mut with_instance, mut with_table, mut calls) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let h = signed_headers(WEBHOOK_SECRET, BODY.as_bytes(), &format!("i-{round}"), now());
        let started = Instant::now();
        assert_eq!(post_webhook(&instance, &w.service, &h, BODY).await.0, 200);
        with_instance.push(started.elapsed());

        let h = signed_headers(WEBHOOK_SECRET, BODY.as_bytes(), &format!("t-{round}"), now());
        let started = Instant::now();
        assert_eq!(post_webhook(&table, &w.service, &h, BODY).await.0, 200);
        with_table.push(started.elapsed());

        let key = nonce_key(&format!("direct-{round}-{}", w.nonce_table));
        let started = Instant::now();
        let sinch_bridge::ports::ClaimOutcome::Claimed(claim) = store.claim(&key, now(), now() + 60).await.unwrap()
        else {
            panic!("fresh key")
        };
        store.confirm(&key, &claim, now() + 86_400).await.unwrap();
        calls.push(started.elapsed());
        if round % 100 == 99 {
            // Keep moto's queue short: it slows down past a few thousand messages.
            let _ = drain(&w.sqs, &w.events, 1).await;
        }
    }
    let (i, t, c) = (median(with_instance), median(with_table), median(calls));
    println!(
        "{}",
        serde_json::json!({
            "bench": "nonce_table_moto",
            "rounds": ROUNDS,
            "ingest_instance_ms": (ms(i) * 1000.0).round() / 1000.0,
            "ingest_table_ms": (ms(t) * 1000.0).round() / 1000.0,
            "claim_confirm_ms": (ms(c) * 1000.0).round() / 1000.0,
            "table_over_instance": ((t.as_secs_f64() / i.as_secs_f64()) * 100.0).round() / 100.0,
        })
    );
}
