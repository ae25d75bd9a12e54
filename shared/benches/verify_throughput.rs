//! Verifications per CPU-second, for the side-by-side comparison in `scripts/bench-compare.sh`
//! (the box is shared, so CPU time, not wall time, is the fair denominator). Prints one JSON
//! line per body size: `{"impl":"rust","bytes":1024,"ops_per_cpu_second":…}`.
//!
//! `cargo bench -p sinch-bridge --bench verify_throughput`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use sinch_bridge::protocol::{SecretString, SignatureHeaders, WebhookSecret, sign, verify};

/// Process CPU time (user + system) from /proc, in clock ticks of 10 ms.
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn body(size: usize) -> Vec<u8> {
    // The same MESSAGE_INBOUND-shaped body as the Node script builds.
    let head = r#"{"app_id":"01EB37HMH1M6SV18ASNS3G135H","project_id":"c36f3d3d-1513-4edd-ae42-11995557ff61","message":{"id":"01EQ8235TD19N21XQTH12B145D","direction":"TO_APP","contact_message":{"text_message":{"text":""#;
    let tail = r#""}},"channel_identity":{"channel":"WHATSAPP","identity":"46732001122"},"conversation_id":"01EQ8172WMDB8008EFT4M30481"}}"#;
    format!("{head}{}{tail}", "x".repeat(size - head.len() - tail.len())).into_bytes()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let seconds: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let secret = SecretString::new("a-webhook-secret-of-usual-length");
    let key = WebhookSecret::new(secret.clone());
    for size in [1024usize, 16 * 1024, 256 * 1024] {
        let body = body(size);
        let signed = sign(&secret, &body, "01FJA8B4A7BM43YGWSG9GBV067", 1_700_000_000);
        let pairs: Vec<(String, String)> = signed
            .pairs()
            .iter()
            .map(|(k, v)| (k.to_ascii_uppercase(), (*v).to_owned()))
            .collect();
        let mut runs = Vec::new();
        for _ in 0..3 {
            let (wall, cpu0) = (Instant::now(), cpu());
            let mut ops = 0u64;
            while wall.elapsed().as_secs_f64() < seconds {
                for _ in 0..256 {
                    let headers =
                        SignatureHeaders::extract(pairs.iter().map(|(k, v)| (k.as_str(), v.as_bytes()))).unwrap();
                    black_box(verify(&headers, black_box(&body), [&key], 1_700_000_000, 600).unwrap());
                }
                ops += 256;
            }
            let spent = (cpu() - cpu0).as_secs_f64().max(1e-3);
            runs.push(ops as f64 / spent);
        }
        runs.sort_by(f64::total_cmp);
        println!(
            "{{\"impl\":\"rust\",\"bytes\":{size},\"ops_per_cpu_second\":{:.0},\"min\":{:.0},\"max\":{:.0}}}",
            runs[1], runs[0], runs[2]
        );
    }
}
