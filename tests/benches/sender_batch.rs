//! Sender concurrency benchmark: a batch of 10 (and a backlog of 1,000) against a loopback mock
//! Conversation API that answers after 50 ms, through the real reqwest client and the real
//! `Sender`, with in-memory queues and secrets. Prints medians and ratios; asserts nothing.
//!
//! `cargo bench -p bridge-tests --bench sender_batch`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use sinch_bridge::adapters::ReqwestHttp;
use sinch_bridge::clock::SystemClock;
use sinch_bridge::directory::{DirectoryConfig, ServiceDirectory};
use sinch_bridge::metrics::Metrics;
use sinch_bridge::ports::Stage;
use sinch_bridge::send::{OutboundRecord, Sender, SenderConfig};
use sinch_bridge::testing::{MemorySecrets, MemorySink};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

const RTT: Duration = Duration::from_millis(50);
const APP: &str = "01BENCHAPP";

/// CPU time of the calling thread (the client: the mock runs on another thread), in
/// nanoseconds from the scheduler's accounting (`/proc/thread-self/schedstat`).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    Duration::from_nanos(stat.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(0))
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
        })
        .collect()
}

/// A sender for project `p` (answers after [`RTT`]) or `fast` (answers at once).
fn sender(mock_uri: &str, max_in_flight: usize, project: &str) -> Sender<MemorySecrets, ReqwestHttp, MemorySink> {
    let secrets = MemorySecrets::default();
    secrets.put("b/svc", Stage::Current, &format!(r#"{{"region":"eu","project_id":"{project}","key_id":"k","key_secret":"s","webhook_secret":"w","apps":{{"{APP}":{{}}}}}}"#));
    let clock = Arc::new(SystemClock);
    let dir = DirectoryConfig {
        prefix: "b/".into(),
        ttl: Duration::from_secs(300),
        refresh_min_interval: Duration::from_secs(30),
    };
    let config = SenderConfig {
        services: vec!["svc".into()],
        auth_url: format!("{mock_uri}/oauth2/token"),
        api_base_override: Some(mock_uri.to_owned()),
        max_in_flight,
        outbound_queue_url: "mem://outbound".into(),
        dlq_url: "mem://dlq".into(),
        sent_queue_url: None,
        retry_base: Duration::from_secs(10),
        retry_max: Duration::from_secs(900),
    };
    let directory = Arc::new(ServiceDirectory::new(secrets, clock.clone(), dir));
    Sender::new(
        directory,
        ReqwestHttp::new(sinch_bridge::adapters::https_client().unwrap(), Duration::from_secs(10)),
        MemorySink::default(),
        clock,
        config,
        Metrics::discard("bench"),
    )
}

async fn run(
    sender: &Sender<MemorySecrets, ReqwestHttp, MemorySink>,
    batch: &[OutboundRecord],
    rounds: usize,
) -> (Duration, Duration) {
    assert!(sender.handle_batch(batch).await.is_empty(), "warm-up must succeed");
    let mut walls = Vec::new();
    let cpu_start = cpu_time();
    for _ in 0..rounds {
        let start = Instant::now();
        let failed = sender.handle_batch(batch).await;
        walls.push(start.elapsed());
        assert!(failed.is_empty());
    }
    let cpu_per_send = (cpu_time() - cpu_start) / u32::try_from(rounds * batch.len()).unwrap();
    (median(walls), cpu_per_send)
}

/// The same sends as bare reqwest calls (one JSON body, bearer header, answer read), all 10 in
/// flight: the HTTP client's share of the sender's CPU, comparable to the performance anchor.
async fn bare_client(mock_uri: &str, project: &str, rounds: usize) -> Duration {
    let client = sinch_bridge::adapters::https_client().unwrap();
    let url = format!("{mock_uri}/eu/v1/projects/{project}/messages:send");
    let body = r#"{"app_id":"01BENCHAPP","recipient":{"identified_by":{"channel_identities":[{"channel":"SMS","identity":"+15550001"}]}},"message":{"text_message":{"text":"bench"}}}"#;
    let send = || async {
        let answer = client
            .post(&url)
            .bearer_auth("t")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        answer.bytes().await.unwrap()
    };
    futures::future::join_all((0..10).map(|_| send())).await;
    let cpu_start = cpu_time();
    for _ in 0..rounds {
        futures::future::join_all((0..10).map(|_| send())).await;
    }
    (cpu_time() - cpu_start) / u32::try_from(rounds * 10).unwrap()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // The mock lives on its own thread and runtime, so the client thread's CPU is the client's.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mock = MockServer::start().await;
            Mock::given(path("/oauth2/token"))
                .respond_with(
                    ResponseTemplate::new(200)
                        .set_body_json(serde_json::json!({"access_token": "t", "expires_in": 3600})),
                )
                .mount(&mock)
                .await;
            Mock::given(path("/eu/v1/projects/p/messages:send"))
                .respond_with(
                    ResponseTemplate::new(200)
                        .set_body_json(serde_json::json!({"message_id": "x"}))
                        .set_delay(RTT),
                )
                .mount(&mock)
                .await;
            Mock::given(path("/eu/v1/projects/fast/messages:send"))
                .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"message_id": "x"})))
                .mount(&mock)
                .await;
            tx.send(mock.uri()).unwrap();
            std::future::pending::<()>().await;
        });
    });
    let mock_uri = rx.recv().unwrap();
    let batch = records(10);
    let concurrent = sender(&mock_uri, 64, "p");
    let sequential = sender(&mock_uri, 1, "p");
    let (wall_c, cpu_c) = run(&concurrent, &batch, 20).await;
    let (wall_s, _) = run(&sequential, &batch, 5).await;
    let cpu_bare = bare_client(&mock_uri, "p", 20).await;
    // The performance anchor's condition: no server delay, 10 in flight.
    let (_, cpu_fast) = run(&sender(&mock_uri, 64, "fast"), &batch, 100).await;
    let cpu_fast_bare = bare_client(&mock_uri, "fast", 100).await;
    let backlog = records(1000);
    let start = Instant::now();
    for chunk in backlog.chunks(10) {
        assert!(concurrent.handle_batch(chunk).await.is_empty());
    }
    let backlog_wall = start.elapsed();
    let wide = sender(&mock_uri, 100, "p");
    let start = Instant::now();
    for chunk in backlog.chunks(100) {
        assert!(wide.handle_batch(chunk).await.is_empty());
    }
    let wide_wall = start.elapsed();

    println!(
        "sender batch benchmark (mock latency {} ms, loopback, current-thread runtime)",
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
        "  client CPU per send (client thread only, 200 sends) : {:.1} us",
        cpu_c.as_secs_f64() * 1e6
    );
    println!(
        "  of which the HTTP client (bare reqwest, same mock)  : {:.1} us",
        cpu_bare.as_secs_f64() * 1e6
    );
    println!(
        "  at 0 ms latency (1,000 sends): sender {:.1} us, bare reqwest {:.1} us per send",
        cpu_fast.as_secs_f64() * 1e6,
        cpu_fast_bare.as_secs_f64() * 1e6
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}
