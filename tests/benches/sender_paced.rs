//! The sender against an app rate-limited like Sinch's: a loopback mock Conversation API that
//! accepts 25 messages/s per app (a token bucket holding 5) and answers 429 beyond, without a
//! `Retry-After` (Sinch documents none), after 50 ms. A backlog drains through a simulated
//! queue that honours the visibility each failed record is given, with the app's pace learned
//! from 429s (`app_pace.rs`) and without it (what the sender did before: each record retried on
//! its own backoff). Prints throughput, the share of requests answered 429 and CPU per message
//! delivered; asserts nothing.
//!
//! `cargo bench -p bridge-tests --bench sender_paced` (`SENDER_PACED_MESSAGES`, default 1,500).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bridge_tests::bench::cpu_time;
use sinch_bridge::adapters::HttpsSinchClient;
use sinch_bridge::clock::SystemClock;
use sinch_bridge::metrics::Metrics;
use sinch_bridge::ports::{HttpReply, HttpRequest, SinchClient, Stage, TransportError};
use sinch_bridge::send::{OutboundRecord, Sender, SenderConfig};
use sinch_bridge::service_cache::{ServiceCache, ServiceCacheConfig};
use sinch_bridge::testing::{MemoryQueues, MemorySecrets};
use wiremock::{Request, Respond, ResponseTemplate};

const RTT: Duration = Duration::from_millis(50);
const APP: &str = "01BENCHAPP";
/// Sinch's default per-app rate (`RateLimits`, docs/reference.md).
const RATE: f64 = 25.0;
const BURST: f64 = 5.0;

/// The mock's limit: one bucket for the one app.
struct Limited(Mutex<(f64, Instant)>);

impl Respond for Limited {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut bucket = self.0.lock().unwrap();
        let now = Instant::now();
        let (tokens, since) = *bucket;
        let tokens = (tokens + now.duration_since(since).as_secs_f64() * RATE).min(BURST);
        if tokens >= 1.0 {
            *bucket = (tokens - 1.0, now);
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"message_id": "x"}))
                .set_delay(RTT)
        } else {
            *bucket = (tokens, now);
            ResponseTemplate::new(429)
                .set_body_json(serde_json::json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}))
                .set_delay(RTT)
        }
    }
}

/// The functions' HTTPS client, counting Sinch's answers.
#[derive(Clone)]
struct Counting {
    inner: Arc<HttpsSinchClient>,
    accepted: Arc<AtomicUsize>,
    /// When each message was accepted.
    times: Arc<Mutex<Vec<Instant>>>,
    limited: Arc<AtomicUsize>,
}

impl SinchClient for Counting {
    async fn send(&self, request: HttpRequest) -> Result<HttpReply, TransportError> {
        let token = request.url.ends_with("/oauth2/token");
        let reply = self.inner.send(request).await?;
        if !token {
            match reply.status {
                200 => {
                    self.times.lock().unwrap().push(Instant::now());
                    self.accepted.fetch_add(1, Ordering::Relaxed)
                }
                429 => self.limited.fetch_add(1, Ordering::Relaxed),
                _ => 0,
            };
        }
        Ok(reply)
    }
}

type PacedSender = Sender<MemorySecrets, Counting, MemoryQueues>;

fn sender(mock_uri: &str, http: Counting, queues: MemoryQueues, pace_apps: bool) -> PacedSender {
    let secrets = MemorySecrets::default();
    secrets.put("b/svc", Stage::Current, &format!(r#"{{"region":"eu","project_id":"p","key_id":"k","key_secret":"s","webhook_secret":"w","apps":{{"{APP}":{{}}}}}}"#));
    let clock = Arc::new(SystemClock);
    let cache = ServiceCacheConfig {
        prefix: "b/".into(),
        ..ServiceCacheConfig::default()
    };
    let config = SenderConfig {
        services: vec!["svc".into()],
        auth_url: format!("{mock_uri}/oauth2/token"),
        api_base_override: Some(mock_uri.to_owned()),
        outbound_queue_url: "mem://outbound".into(),
        dlq_url: "mem://dlq".into(),
        pace_apps,
        ..SenderConfig::default()
    };
    let services = Arc::new(ServiceCache::new(secrets, clock.clone(), cache));
    Sender::new(services, http, queues, clock, config, Metrics::discard("bench"))
}

/// A standard queue as the sender sees it: up to 10 visible records per receive, a failed one
/// hidden for the visibility the sender gave it.
struct Queue {
    waiting: VecDeque<(Instant, OutboundRecord)>,
}

impl Queue {
    fn new(n: usize) -> Self {
        let now = Instant::now();
        let waiting = (0..n)
            .map(|i| {
                let record = OutboundRecord {
                    message_id: format!("m{i}"),
                    receipt_handle: Some(format!("m{i}")),
                    body: Some(format!(r#"{{"app_id":"{APP}","channel":"SMS","to":"+1555000{i}","message":{{"text_message":{{"text":"bench {i}"}}}}}}"#)),
                    receive_count: 0,
                    ..OutboundRecord::default()
                };
                (now, record)
            })
            .collect();
        Self { waiting }
    }

    /// Up to 10 visible records, or how long until one is.
    fn receive(&mut self) -> Result<Vec<OutboundRecord>, Duration> {
        let now = Instant::now();
        let mut batch = Vec::new();
        let mut rest = VecDeque::new();
        while let Some((at, mut record)) = self.waiting.pop_front() {
            if at <= now && batch.len() < 10 {
                record.receive_count += 1;
                batch.push(record);
            } else {
                rest.push_back((at, record));
            }
        }
        self.waiting = rest;
        if batch.is_empty() {
            let next = self.waiting.iter().map(|(at, _)| *at).min();
            return Err(next.map_or(Duration::ZERO, |at| at.saturating_duration_since(now)));
        }
        Ok(batch)
    }
}

struct Outcome {
    wall: Duration,
    /// Messages/s between the 10th and the 90th percentile of deliveries: the pace held once
    /// the start's burst and the end's stragglers are left out.
    steady: f64,
    delivered: usize,
    limited: usize,
    cpu_per_delivered: Duration,
}

/// Drains `n` records with `environments` senders (Lambda's concurrent execution
/// environments, each with its own pace) taking batches in turn from one queue.
async fn drain(mock_uri: &str, n: usize, environments: usize, pace_apps: bool) -> Outcome {
    let accepted = Arc::new(AtomicUsize::new(0));
    let limited = Arc::new(AtomicUsize::new(0));
    let times = Arc::new(Mutex::new(Vec::new()));
    let inner = Arc::new(HttpsSinchClient::new(
        sinch_bridge::adapters::https_client().unwrap(),
        SenderConfig::default().send_timeout,
    ));
    let queue = Arc::new(Mutex::new(Queue::new(n)));
    let start = Instant::now();
    let cpu_start = cpu_time();
    let workers = (0..environments).map(|_| {
        let http = Counting {
            inner: inner.clone(),
            accepted: accepted.clone(),
            limited: limited.clone(),
            times: times.clone(),
        };
        let queues = MemoryQueues::default();
        let sender = sender(mock_uri, http, queues.clone(), pace_apps);
        let queue = queue.clone();
        let accepted = accepted.clone();
        async move {
            while accepted.load(Ordering::Relaxed) < n {
                let batch = queue.lock().unwrap().receive();
                let batch = match batch {
                    Ok(batch) => batch,
                    Err(wait) => {
                        tokio::time::sleep(wait.max(Duration::from_millis(5))).await;
                        continue;
                    }
                };
                let failed = sender.handle_batch(&batch, None).await;
                let hidden: HashMap<String, u32> = queues.visibility_changes().into_iter().collect();
                let now = Instant::now();
                let mut q = queue.lock().unwrap();
                for record in batch.into_iter().filter(|r| failed.contains(&r.message_id)) {
                    let seconds = hidden.get(&record.message_id).copied().unwrap_or(30);
                    q.waiting
                        .push_back((now + Duration::from_secs(u64::from(seconds)), record));
                }
            }
        }
    });
    futures::future::join_all(workers).await;
    let delivered = accepted.load(Ordering::Relaxed);
    let times = times.lock().unwrap().clone();
    let (from, to) = (times[delivered / 10], times[delivered * 9 / 10]);
    #[allow(clippy::cast_precision_loss)]
    let steady = (delivered * 8 / 10) as f64 / to.duration_since(from).as_secs_f64();
    Outcome {
        wall: start.elapsed(),
        steady,
        delivered,
        limited: limited.load(Ordering::Relaxed),
        cpu_per_delivered: (cpu_time() - cpu_start) / u32::try_from(delivered.max(1)).unwrap(),
    }
}

fn serve_mock() {
    bridge_tests::bench::serve_mock(Limited(Mutex::new((BURST, Instant::now()))), async |mock| mock);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    if args.iter().any(|a| a == "--serve-mock") {
        serve_mock();
        return;
    }
    let n = std::env::var("SENDER_PACED_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "sender against an app limited to {RATE} msg/s (bucket of {BURST}, 429 without Retry-After, {} ms latency), {n} messages",
        RTT.as_millis()
    );
    for (label, environments, pace) in [
        ("without the app's pace (before)", 1, false),
        ("with the app's pace", 1, true),
        ("without the app's pace, 4 environments", 4, false),
        ("with the app's pace, 4 environments", 4, true),
    ] {
        // A fresh mock per case: every case starts with a full bucket.
        let (mut mock, uri) = bridge_tests::bench::spawn_mock();
        let o = rt.block_on(drain(&uri, n, environments, pace));
        #[allow(clippy::cast_precision_loss)]
        let share = o.limited as f64 / (o.limited + o.delivered) as f64 * 100.0;
        println!(
            "  {label:<42}: all in {:>6.1} s ({:>5.1} msg/s), steady {:>5.1} msg/s ({:.0} % of the limit), {:>5} answered 429 ({share:.1} % of requests), {:.1} us CPU per message delivered",
            o.wall.as_secs_f64(),
            o.delivered as f64 / o.wall.as_secs_f64(),
            o.steady,
            o.steady / RATE * 100.0,
            o.limited,
            o.cpu_per_delivered.as_secs_f64() * 1e6
        );
        drop(mock.stdin.take());
        let _ = mock.wait();
    }
}
