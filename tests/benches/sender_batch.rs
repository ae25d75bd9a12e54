//! Sender concurrency benchmark: a batch of 10 (and a backlog of 1,000) against a loopback mock
//! Conversation API that answers after 50 ms, through the functions' HTTPS client and the real
//! `Sender`, with in-memory queues and secrets. Prints medians and ratios; asserts nothing.
//!
//! The mock runs in a child process (this binary with `--serve-mock`, pinned to core 0 when
//! `taskset` exists), as in the performance anchors, so every CPU nanosecond this process
//! spends is the client's.
//!
//! For profiling, `SENDER_BENCH_ONLY=pipeline|bare|reqwest` runs only `SENDER_BENCH_ROUNDS`
//! (default 100) batches of 10 at 0 ms latency (`pipeline-50ms`: at 50 ms). Under `valgrind
//! --tool=callgrind`, the difference between two round counts is the cost of the sends.
//!
//! `cargo bench -p bridge-tests --bench sender_batch`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bridge_tests::bench::cpu_time;
use sinch_bridge::adapters::HttpsSinchClient;
use sinch_bridge::clock::SystemClock;
use sinch_bridge::metrics::Metrics;
use sinch_bridge::ports::Stage;
use sinch_bridge::send::{OutboundRecord, Sender, SenderConfig};
use sinch_bridge::service_cache::{ServiceCache, ServiceCacheConfig};
use sinch_bridge::testing::{MemoryQueues, MemorySecrets};
use wiremock::matchers::path;
use wiremock::{Mock, ResponseTemplate};

const RTT: Duration = Duration::from_millis(50);
const APP: &str = "01BENCHAPP";

type BenchSender = Sender<MemorySecrets, HttpsSinchClient, MemoryQueues>;

/// Times this process gave up the CPU to wait (`voluntary_ctxt_switches`): its wake-ups.
fn wake_ups() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// CPU for one wake-up from idle on this machine with nothing to do after it: a current-thread
/// runtime sleeping 5 ms, 200 times.
async fn idle_wake_up_cost() -> Duration {
    let start = cpu_time();
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (cpu_time() - start) / 200
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn records(n: usize) -> Vec<OutboundRecord> {
    (0..n)
        .map(|i| OutboundRecord {
            message_id: format!("m{i}"),
            receipt_handle: None,
            body: Some(format!(r#"{{"app_id":"{APP}","channel":"SMS","to":"+1555000{i}","message":{{"text_message":{{"text":"bench {i}"}}}}}}"#)),
            receive_count: 1,
            group_id: None,
            first_received_ms: None,
            enqueued_ms: None,
            source_queue: None,
            attributes: Vec::new(),
        })
        .collect()
}

/// A sender for project `p` (answers after [`RTT`]) or `fast` (answers at once).
fn sender(mock_uri: &str, max_in_flight: usize, project: &str) -> BenchSender {
    let secrets = MemorySecrets::default();
    secrets.put("b/svc", Stage::Current, &format!(r#"{{"region":"eu","project_id":"{project}","key_id":"k","key_secret":"s","webhook_secret":"w","apps":{{"{APP}":{{}}}}}}"#));
    let clock = Arc::new(SystemClock);
    let cache = ServiceCacheConfig {
        prefix: "b/".into(),
        ..ServiceCacheConfig::default()
    };
    let config = SenderConfig {
        services: vec!["svc".into()],
        auth_url: format!("{mock_uri}/oauth2/token"),
        api_base_override: Some(mock_uri.to_owned()),
        max_in_flight,
        outbound_queue_url: "mem://outbound".into(),
        dlq_url: "mem://dlq".into(),
        ..SenderConfig::default()
    };
    let services = Arc::new(ServiceCache::new(secrets, clock.clone(), cache));
    Sender::new(
        services,
        HttpsSinchClient::new(sinch_bridge::adapters::https_client().unwrap(), config.send_timeout),
        MemoryQueues::default(),
        clock,
        config,
        Metrics::discard("bench"),
    )
}

/// Median wall time per batch, CPU per send and wake-ups per send.
async fn run(sender: &BenchSender, batch: &[OutboundRecord], rounds: usize) -> (Duration, Duration, f64) {
    assert!(
        sender.handle_batch(batch, None).await.is_empty(),
        "warm-up must succeed"
    );
    let mut walls = Vec::new();
    let wakes_start = wake_ups();
    let cpu_start = cpu_time();
    for _ in 0..rounds {
        let start = Instant::now();
        let failed = sender.handle_batch(batch, None).await;
        walls.push(start.elapsed());
        assert!(failed.is_empty());
    }
    let cpu_per_send = (cpu_time() - cpu_start) / u32::try_from(rounds * batch.len()).unwrap();
    let wakes = (wake_ups() - wakes_start) as f64 / (rounds * batch.len()) as f64;
    (median(walls), cpu_per_send, wakes)
}

const BARE_BODY: &str = r#"{"app_id":"01BENCHAPP","recipient":{"identified_by":{"channel_identities":[{"channel":"SMS","identity":"+15550001"}]}},"message":{"text_message":{"text":"bench"}}}"#;

/// The same sends as bare calls on the functions' HTTPS client (one JSON body, bearer header,
/// answer read), all 10 in flight: the HTTP client's share of the sender's CPU.
async fn bare_https(mock_uri: &str, project: &str, rounds: usize) -> Duration {
    let client = sinch_bridge::adapters::https_client().unwrap();
    let url = format!("{mock_uri}/eu/v1/projects/{project}/messages:send");
    let send = || async {
        let request = http::Request::post(url.as_str())
            .header("authorization", "Bearer t")
            .header("content-type", "application/json")
            .body(bytes::Bytes::from_static(BARE_BODY.as_bytes()))
            .unwrap();
        client.send(request, 64 * 1024).await.unwrap()
    };
    bare_rounds(send, rounds).await
}

/// The same again on reqwest 0.13 (the anchors' Rust client), for comparison.
async fn bare_reqwest(mock_uri: &str, project: &str, rounds: usize) -> Duration {
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(sinch_bridge::adapters::tls_config().unwrap())
        .build()
        .unwrap();
    let url = format!("{mock_uri}/eu/v1/projects/{project}/messages:send");
    let send = || async {
        let answer = client
            .post(&url)
            .bearer_auth("t")
            .header("content-type", "application/json")
            .body(BARE_BODY)
            .send()
            .await
            .unwrap();
        answer.bytes().await.unwrap()
    };
    bare_rounds(send, rounds).await
}

/// `rounds` times 10 concurrent `send`s after one warm-up round; CPU per send.
async fn bare_rounds<F, Fut, T>(send: F, rounds: usize) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    futures::future::join_all((0..10).map(|_| send())).await;
    let cpu_start = cpu_time();
    for _ in 0..rounds {
        futures::future::join_all((0..10).map(|_| send())).await;
    }
    (cpu_time() - cpu_start) / u32::try_from(rounds * 10).unwrap()
}

/// `--serve-mock`: the mock Conversation API (50 ms per send, and none on project `fast`).
fn serve_mock() {
    let slow = ResponseTemplate::new(200)
        .set_body_json(serde_json::json!({"message_id": "x"}))
        .set_delay(RTT);
    bridge_tests::bench::serve_mock(slow, async |mock| {
        Mock::given(path("/eu/v1/projects/fast/messages:send"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"message_id": "x"})))
            .mount(&mock)
            .await;
        mock
    });
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
    let (mut mock, mock_uri) = bridge_tests::bench::spawn_mock();
    // `SENDER_BENCH_RUNTIME=multi`: tokio's default multi-thread runtime, for comparison.
    let rt = match std::env::var("SENDER_BENCH_RUNTIME").as_deref() {
        Ok("multi") => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
        _ => tokio::runtime::Builder::new_current_thread().enable_all().build(),
    };
    rt.unwrap().block_on(client(&mock_uri));
    drop(mock.stdin.take());
    let _ = mock.wait();
}

/// Everything measured runs here, on one current-thread runtime.
async fn client(mock_uri: &str) {
    let mock_uri = mock_uri.to_owned();
    let rounds = std::env::var("SENDER_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(100);
    match std::env::var("SENDER_BENCH_ONLY").as_deref() {
        Ok("pipeline") => {
            let (_, cpu, _) = run(&sender(&mock_uri, 64, "fast"), &records(10), rounds).await;
            println!("pipeline, 0 ms: {:.1} us per send", cpu.as_secs_f64() * 1e6);
        }
        Ok("pipeline-50ms") => {
            let (_, cpu, _) = run(&sender(&mock_uri, 64, "p"), &records(10), rounds).await;
            println!("pipeline, 50 ms: {:.1} us per send", cpu.as_secs_f64() * 1e6);
        }
        Ok("bare") => {
            let cpu = bare_https(&mock_uri, "fast", rounds).await;
            println!("bare HTTPS client, 0 ms: {:.1} us per send", cpu.as_secs_f64() * 1e6);
        }
        Ok("reqwest") => {
            let cpu = bare_reqwest(&mock_uri, "fast", rounds).await;
            println!("bare reqwest, 0 ms: {:.1} us per send", cpu.as_secs_f64() * 1e6);
        }
        _ => full(&mock_uri).await,
    }
}

async fn full(mock_uri: &str) {
    let batch = records(10);
    let concurrent = sender(mock_uri, 64, "p");
    let sequential = sender(mock_uri, 1, "p");
    let (wall_c, cpu_c, wakes_c) = run(&concurrent, &batch, 60).await;
    let (wall_s, _, _) = run(&sequential, &batch, 5).await;
    let cpu_bare = bare_https(mock_uri, "p", 60).await;
    let cpu_reqwest = bare_reqwest(mock_uri, "p", 60).await;
    // The performance anchor's condition: no server delay, 10 in flight.
    let (_, cpu_fast, wakes_fast) = run(&sender(mock_uri, 64, "fast"), &batch, 100).await;
    let wake_cost = idle_wake_up_cost().await;
    let cpu_fast_bare = bare_https(mock_uri, "fast", 100).await;
    let cpu_fast_reqwest = bare_reqwest(mock_uri, "fast", 100).await;
    let backlog = records(1000);
    let start = Instant::now();
    for chunk in backlog.chunks(10) {
        assert!(concurrent.handle_batch(chunk, None).await.is_empty());
    }
    let backlog_wall = start.elapsed();
    let wide = sender(mock_uri, 100, "p");
    let start = Instant::now();
    for chunk in backlog.chunks(100) {
        assert!(wide.handle_batch(chunk, None).await.is_empty());
    }
    let wide_wall = start.elapsed();

    println!(
        "sender batch benchmark (mock latency {} ms in its own process, loopback, current-thread runtime)",
        RTT.as_millis()
    );
    println!(
        "  batch of 10, all in flight : median {:>7.1} ms = {:.2} x one round trip",
        ms(wall_c),
        ratio(wall_c, RTT)
    );
    println!(
        "  batch of 10, sequential    : median {:>7.1} ms = {:.2} x one round trip",
        ms(wall_s),
        ratio(wall_s, RTT)
    );
    println!("  speed-up over sequential   : {:.1} x", ratio(wall_s, wall_c));
    println!(
        "  backlog 1,000 in batches of 10  : {:>7.0} ms, {:.0} msg/s",
        ms(backlog_wall),
        1000.0 / backlog_wall.as_secs_f64()
    );
    println!(
        "  backlog 1,000 in batches of 100 : {:>7.0} ms, {:.0} msg/s",
        ms(wide_wall),
        1000.0 / wide_wall.as_secs_f64()
    );
    println!(
        "  client CPU per send (client process, 600 sends) : {:.1} us",
        cpu_c.as_secs_f64() * 1e6
    );
    println!(
        "  of which the HTTP client (bare sends, same mock)    : {:.1} us (reqwest 0.13: {:.1} us)",
        cpu_bare.as_secs_f64() * 1e6,
        cpu_reqwest.as_secs_f64() * 1e6
    );
    println!(
        "  wake-ups per send: {wakes_c:.2} at 50 ms, {wakes_fast:.2} at 0 ms; CPU per idle wake-up (5 ms timer): {:.1} us",
        wake_cost.as_secs_f64() * 1e6
    );
    println!(
        "  at 0 ms latency (1,000 sends): sender {:.1} us, bare HTTPS client {:.1} us, bare reqwest {:.1} us per send",
        cpu_fast.as_secs_f64() * 1e6,
        cpu_fast_bare.as_secs_f64() * 1e6,
        cpu_fast_reqwest.as_secs_f64() * 1e6
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}
