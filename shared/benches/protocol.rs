//! Criterion benchmarks of the hot paths: signature verification (1 KiB, 16 KiB, 256 KiB),
//! callback classification, the whole in-process ingest path for one request (verify,
//! classify, build the queue message, into a no-op sink) and envelope -> SendMessageRequest.
//!
//! `cargo bench -p sinch-bridge --bench protocol`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sinch_bridge::clock::Clock;
use sinch_bridge::ingest::{Ingest, IngestConfig, WebhookRequest};
use sinch_bridge::metrics::Metrics;
use sinch_bridge::ports::{
    ClaimOutcome, Confirmed, NonceClaim, NonceStore, PortError, QueueMessage, QueueWriter, SecretStore, SecretVersion,
    Stage,
};
use sinch_bridge::protocol::{SecretString, SignatureHeaders, WebhookSecret, classify, parse_outbound, sign, verify};
use sinch_bridge::service_cache::{ServiceCache, ServiceCacheConfig};

/// One service secret, in memory: the bench measures the path, not Secrets Manager.
struct OneSecret(&'static str);

impl SecretStore for OneSecret {
    async fn fetch(&self, _name: &str, stage: Stage) -> Result<Option<SecretVersion>, PortError> {
        Ok((stage == Stage::Current).then(|| SecretVersion::text(self.0, "v1", NOW)))
    }
}

/// Time stands still at the signatures' timestamp.
struct Frozen(std::time::Instant);

impl Clock for Frozen {
    fn unix_seconds(&self) -> i64 {
        NOW
    }
    fn now(&self) -> std::time::Instant {
        self.0
    }
}

const NOW: i64 = 1_700_000_000;

/// A MESSAGE_INBOUND callback padded to `size` bytes, like the performance anchors' payloads.
pub fn inbound_body(size: usize) -> Vec<u8> {
    let head = r#"{"app_id":"01EB37HMH1M6SV18ASNS3G135H","accepted_time":"2026-11-26T10:00:00.123Z","event_time":"2026-11-26T10:00:00Z","project_id":"c36f3d3d-1513-4edd-ae42-11995557ff61","message":{"id":"01EQ8235TD19N21XQTH12B145D","direction":"TO_APP","contact_message":{"text_message":{"text":""#;
    let tail = r#""}},"channel_identity":{"channel":"WHATSAPP","identity":"46732001122","app_id":""},"conversation_id":"01EQ8172WMDB8008EFT4M30481","contact_id":"01EQ4174TXH6ECMG0Z5Q2QT2VR","metadata":"","accept_time":"2026-11-26T10:00:00.118Z","processing_mode":"CONVERSATION"},"message_metadata":""}"#;
    let pad = size.saturating_sub(head.len() + tail.len());
    format!("{head}{}{tail}", "x".repeat(pad)).into_bytes()
}

fn verification(c: &mut Criterion) {
    let secret = SecretString::new("a-webhook-secret-of-usual-length");
    let key = WebhookSecret::new(secret.clone());
    let mut group = c.benchmark_group("verify");
    for size in [1024, 16 * 1024, 256 * 1024] {
        let body = inbound_body(size);
        let signed = sign(&secret, &body, "01FJA8B4A7BM43YGWSG9GBV067", NOW);
        let pairs: Vec<(&str, &[u8])> = signed.pairs().iter().map(|(k, v)| (*k, v.as_bytes())).collect();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &body, |b, body| {
            b.iter(|| {
                let headers = SignatureHeaders::extract(pairs.iter().copied()).unwrap();
                verify(&headers, black_box(body), [&key], NOW, 600).unwrap()
            })
        });
    }
    group.finish();
}

fn classification(c: &mut Criterion) {
    let body = inbound_body(1024);
    c.bench_function("classify/1024", |b| b.iter(|| classify(black_box(&body)).unwrap()));
}

struct NoopSink;

impl QueueWriter for NoopSink {
    async fn put(&self, message: &QueueMessage) -> Result<(), PortError> {
        black_box(message);
        Ok(())
    }
}

/// A shared nonce store that answers at once: what the table costs in-process (key hashing,
/// claim, confirm), without the network round trips (`tests/benches/nonce_table.rs` has those).
struct NoopTable;

impl NonceStore for NoopTable {
    async fn claim(&self, _key: &str, _now: i64, _lease_until: i64) -> Result<ClaimOutcome, PortError> {
        Ok(ClaimOutcome::Claimed(NonceClaim { token: String::new() }))
    }
    async fn confirm(&self, key: &str, _claim: &NonceClaim, _used_until: i64) -> Result<Confirmed, PortError> {
        black_box(key);
        Ok(Confirmed::Used)
    }
    async fn release(&self, _key: &str, _claim: &NonceClaim) -> Result<(), PortError> {
        Ok(())
    }
}

fn ingest_path(c: &mut Criterion) {
    ingest_path_with(c, "ingest_path/1024", |ingest| Box::new(ingest));
    ingest_path_with(c, "ingest_path_table/1024", |ingest| {
        Box::new(ingest.with_nonce_store(NoopTable))
    });
}

/// Something that handles a webhook, whatever its nonce store.
trait Handle {
    fn handle_blocking(&self, runtime: &tokio::runtime::Runtime, request: &WebhookRequest<'_>);
}

impl<N: NonceStore> Handle for Ingest<OneSecret, NoopSink, N> {
    fn handle_blocking(&self, runtime: &tokio::runtime::Runtime, request: &WebhookRequest<'_>) {
        runtime.block_on(self.handle(request)).unwrap();
    }
}

fn ingest_path_with(
    c: &mut Criterion,
    name: &str,
    nonces: impl FnOnce(Ingest<OneSecret, NoopSink>) -> Box<dyn Handle>,
) {
    let secrets = OneSecret(
        r#"{"region":"eu","project_id":"p","key_id":"k","key_secret":"s","webhook_secret":"a-webhook-secret-of-usual-length"}"#,
    );
    let clock: Arc<dyn Clock> = Arc::new(Frozen(std::time::Instant::now()));
    let cache = ServiceCacheConfig {
        prefix: "s/".into(),
        ttl: Duration::from_secs(1 << 30),
        ..ServiceCacheConfig::default()
    };
    let services = Arc::new(ServiceCache::new(secrets, clock.clone(), cache));
    let config = IngestConfig {
        max_body_bytes: 1 << 20,
        events_queue_url: "https://sqs.eu-west-1.amazonaws.com/123456789012/events.fifo".into(),
        ..IngestConfig::default()
    };
    let ingest = nonces(Ingest::new(
        services,
        NoopSink,
        clock,
        config,
        Metrics::discard("bench"),
    ));
    let body = inbound_body(1024);
    let secret = SecretString::new("a-webhook-secret-of-usual-length");
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut n = 0u64;
    c.bench_function(name, |b| {
        b.iter_batched(
            || {
                // A fresh nonce per request, as Sinch sends; signing is setup, not measured.
                n += 1;
                sign(&secret, &body, &format!("nonce-{n}"), NOW)
            },
            |signed| {
                let pairs: Vec<(&str, &[u8])> = signed.pairs().iter().map(|(k, v)| (*k, v.as_bytes())).collect();
                let request = WebhookRequest {
                    service: "bench",
                    headers: &pairs,
                    body: &body,
                };
                ingest.handle_blocking(&runtime, &request)
            },
            BatchSize::SmallInput,
        )
    });
}

fn envelope(c: &mut Criterion) {
    let body = br#"{"from":"01EB37HMH1M6SV18ASNS3G135H@sms.sinchconversation.com","to":"+15551234567","message":{"text_message":{"text":"Your order 4711 has shipped and will arrive tomorrow."}},"correlation_id":"order-4711","message_metadata":"ticket-17"}"#;
    let service = sinch_bridge::protocol::MessagingService::from_json(
        "s",
        br#"{"region":"eu","project_id":"p","key_id":"k","key_secret":"s","webhook_secret":"w","sms_sender":"+15550001111"}"#,
    )
    .unwrap();
    c.bench_function("envelope_to_request", |b| {
        b.iter(|| {
            let message = parse_outbound(black_box(body)).unwrap();
            serde_json::to_vec(&message.to_request(Some(&service))).unwrap()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    targets = verification, classification, ingest_path, envelope
}
criterion_main!(benches);
