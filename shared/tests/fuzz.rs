//! Fuzz targets for the four parsers that face untrusted input: the signature verifier, the
//! callback classifier, the outbound envelope parser and the queue address parser. Coverage-
//! guided fuzzers need a nightly toolchain these machines do not have, so these are long
//! property runs: random mutations of the project's fixtures plus arbitrary bytes.
//!
//! CI runs a few hundred cases per target. A long run:
//! `FUZZ_SECONDS=600 cargo test --release -p sinch-bridge --test fuzz -- --nocapture --test-threads 4`
//! Each target prints how many inputs it executed. Any failure is shrunk by proptest and
//! belongs in `regressions` below.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sinch_bridge::ingest::stored_event;
use sinch_bridge::protocol::{
    SecretString, SenderAddress, SignatureHeaders, WebhookSecret, classify, parse_outbound, sign, verify,
};

const CALLBACKS: [&str; 6] = [
    r#"{"app_id":"01EB37HMH1M6SV18ASNS3G135H","accepted_time":"2020-11-17T16:05:51.724083Z","project_id":"P","message":{"id":"M","direction":"TO_APP","contact_message":{"text_message":{"text":"hi"}},"channel_identity":{"channel":"WHATSAPP","identity":"46732001122","app_id":""},"conversation_id":"C","contact_id":"K","processing_mode":"CONVERSATION"},"message_metadata":""}"#,
    r#"{"app_id":"A","message_delivery_report":{"message_id":"M","status":"FAILED","reason":{"code":"RECIPIENT_NOT_REACHABLE"},"channel_identity":{"channel":"SMS","identity":"+1555"}}}"#,
    r#"{"app_id":"A","contact_merge_notification":{"preserved_contact":{"id":"K1"},"deleted_contact":{"id":"K2"}}}"#,
    r#"{"app_id":"A","smart_conversation_notification":{"message_id":"M","channel_identity":"4673","channel":"SMS"}}"#,
    r#"{"app_id":"A","opt_in_notification":{"request_id":"R","channel":"WHATSAPP","identity":"1","status":"OPT_IN_SUCCEEDED"}}"#,
    r#"{"app_id":"","accepted_time":"2021-10-18T17:49:13.813615Z","project_id":"e2df3a34","contact_create_notification":{"contact":{"id":"01FJ","channel_identities":[{"channel":"SMS","identity":"48123456789","app_id":""}],"display_name":"New","language":"EN_US"}},"message_metadata":""}"#,
];

const ENVELOPES: [&str; 4] = [
    r#"{"from":"01EB37HMH1M6SV18ASNS3G135H@sms.sinchconversation.com","to":"+15551234567","message":{"text_message":{"text":"hi"}},"correlation_id":"c"}"#,
    r#"{"app_id":"01EB37HMH1M6SV18ASNS3G135H","channel":"WHATSAPP","to":{"contact_id":"K"},"message":{"template_message":{"omni_template":{"template_id":"T","version":"1"}}},"ttl":86400}"#,
    r#"{"app_id":"A1","to":{"channel_identities":[{"channel":"RCS","identity":"1"},{"channel":"SMS","identity":"1"}]},"message":{"media_message":{"url":"https://x"}},"channel_properties":{"SMS_SENDER":"S"}}"#,
    r#"{"app_id":"my app","recipient":{"contact_id":"c"},"message":{"text_message":{"text":"raw"}},"ttl":"2s"}"#,
];

const ADDRESSES: [&str; 3] = [
    "01EB37HMH1M6SV18ASNS3G135H@whatsapp.sinchconversation.com",
    "A@viber-bot.sinchconversation.com",
    "01E@nativechannel.sinchconversation.com",
];

/// Byte-level mutations: flip, insert, delete, duplicate a slice.
fn mutate(mut bytes: Vec<u8>, ops: &[(prop::sample::Index, u8, u8)]) -> Vec<u8> {
    for (index, byte, op) in ops {
        if bytes.is_empty() {
            bytes.push(*byte);
            continue;
        }
        let i = index.index(bytes.len());
        match op % 4 {
            0 => bytes[i] ^= byte | 1,
            1 => bytes.insert(i, *byte),
            2 => {
                bytes.remove(i);
            }
            _ => {
                let end = (i + usize::from(*byte % 16)).min(bytes.len());
                let slice = bytes[i..end].to_vec();
                bytes.splice(i..i, slice);
            }
        }
    }
    bytes
}

fn ops() -> impl Strategy<Value = Vec<(prop::sample::Index, u8, u8)>> {
    prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), any::<u8>()), 1..12)
}

/// Mutated fixtures most of the time, arbitrary bytes sometimes.
fn inputs(seeds: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => (prop::sample::select(seeds), ops()).prop_map(|(seed, ops)| mutate(seed.as_bytes().to_vec(), &ops)),
        1 => prop::collection::vec(any::<u8>(), 0..512),
    ]
}

/// Runs `test` over `strategy` for `FUZZ_SECONDS` (or one short run) and reports executions.
fn fuzz<S: Strategy>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    let seconds: u64 = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let chunk = if seconds == 0 { 300 } else { 20_000 };
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut executed: u64 = 0;
    loop {
        let mut runner = TestRunner::new(Config {
            cases: chunk,
            failure_persistence: None,
            ..Config::default()
        });
        if let Err(e) = runner.run(&strategy, &test) {
            panic!("{name}: {e}");
        }
        executed += u64::from(chunk);
        if Instant::now() >= deadline {
            break;
        }
    }
    println!("fuzz {name}: {executed} inputs in {seconds} s target, no failure");
}

#[test]
fn fuzz_verifier() {
    let secret = SecretString::new("fuzz-secret");
    let key = WebhookSecret::new(secret.clone());
    fuzz(
        "verifier",
        (inputs(&CALLBACKS), ops(), "[ -~]{0,40}", "[ -~]{0,20}", any::<bool>()),
        |(body, mutation, nonce, ts, tamper)| {
            let signed = sign(&secret, &body, "01FJA8B4A7BM43YGWSG9GBV067", 1_700_000_000);
            let headers = SignatureHeaders {
                signature: &signed.signature,
                nonce: &signed.nonce,
                timestamp: &signed.timestamp,
                algorithm: None,
            };
            prop_assert_eq!(verify(&headers, &body, [&key], 1_700_000_000, 600), Ok(0));
            // A mutated body never verifies under the original signature.
            let changed = mutate(body.clone(), &mutation);
            if changed != body {
                prop_assert!(verify(&headers, &changed, [&key], 1_700_000_000, 600).is_err());
            }
            // Arbitrary header values never panic and never verify by accident.
            let sig = if tamper {
                nonce.as_str()
            } else {
                signed.signature.as_str()
            };
            let weird = SignatureHeaders {
                signature: sig,
                nonce: &nonce,
                timestamp: &ts,
                algorithm: Some(&ts),
            };
            let _ = verify(&weird, &body, [&key], 1_700_000_000, 600);
            let pairs = [
                ("x-sinch-webhook-signature", nonce.as_bytes()),
                ("X-Sinch-Webhook-Signature-Nonce", ts.as_bytes()),
            ];
            let _ = SignatureHeaders::extract(pairs);
            Ok(())
        },
    );
}

#[test]
fn fuzz_classifier() {
    fuzz("classifier", inputs(&CALLBACKS), |body| {
        let first = classify(&body);
        prop_assert_eq!(&first, &classify(&body), "deterministic");
        if let Ok(c) = first {
            prop_assert_eq!(stored_event::dedup_id("svc", &c, &body).len(), 64);
            let group = stored_event::group_id("svc", &c);
            prop_assert!(!group.is_empty() && group.len() <= 128);
            prop_assert!(
                group
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b':'),
                "SQS group id charset: {}",
                group
            );
        }
        Ok(())
    });
}

#[test]
fn fuzz_envelope_parser() {
    fuzz("envelope", inputs(&ENVELOPES), |body| {
        if let Ok(message) = parse_outbound(&body) {
            let request = serde_json::to_value(message.to_request(None));
            prop_assert!(request.as_ref().is_ok_and(|r| r.get("app_id").is_some()
                && r.get("recipient").is_some()
                && r.get("message").is_some()));
        }
        Ok(())
    });
}

#[test]
fn fuzz_queue_address_parser() {
    let strategy = prop_oneof![
        3 => (prop::sample::select(&ADDRESSES[..]), ops()).prop_map(|(a, ops)| String::from_utf8_lossy(&mutate(a.as_bytes().to_vec(), &ops)).into_owned()),
        1 => ".{0,80}",
    ];
    fuzz("queue address", strategy, |text| {
        if let Ok(address) = text.parse::<SenderAddress>() {
            let again: SenderAddress = address
                .to_string()
                .parse()
                .map_err(|e| TestCaseError::fail(format!("{e}")))?;
            prop_assert_eq!(again, address);
        }
        Ok(())
    });
}

/// Inputs the long runs found, kept as regression tests (none so far; see RELIABILITY.md).
#[test]
fn regressions() {
    for body in [
        &b""[..],
        b"{",
        b"{\"app_id\":",
        b"\xff",
        b"{\"app_id\":\"A\",\"message\":[[[[]]]]}",
    ] {
        let _ = classify(body);
        let _ = parse_outbound(body);
    }
}
