//! Conformance against Sinch's own material (signature vectors from the official SDKs,
//! callback samples for every trigger, `messages:send` fixtures), read from the directory in
//! `SINCH_CONFORMANCE_DIR`. The material is never copied into this repository.
//!
//! Policy for the one vector the SDKs disagree on (`sdk_disagreement`, Java rejects a missing
//! `x-sinch-webhook-signature-algorithm` header): we follow Node, Python and .NET and accept
//! it, because Sinch's own docs list the header as informative. A present header must still be
//! exactly `HmacSHA256`.

#![allow(clippy::panic)] // a test file: failing loudly is the point

use std::path::{Path, PathBuf};

use serde_json::Value;
use sinch_bridge::protocol::{self, SecretString, SignatureHeaders, Trigger, WebhookSecret};

fn conformance_dir() -> Option<PathBuf> {
    match std::env::var_os("SINCH_CONFORMANCE_DIR") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            println!("conformance: skipped, SINCH_CONFORMANCE_DIR is not set");
            None
        }
    }
}

fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} missing in {v}"))
}

#[test]
fn every_signature_vector_gives_its_expected_result() {
    let Some(dir) = conformance_dir() else { return };
    let vectors = read_json(&dir.join("signature-vectors.json"));
    let vectors = vectors.as_array().unwrap_or_else(|| panic!("vectors must be an array"));
    assert!(vectors.len() >= 20, "expected the full vector set");
    for v in vectors {
        let id = str_field(v, "id");
        let secret = SecretString::new(str_field(v, "secret"));
        let key = WebhookSecret::new(secret.clone());
        let body = str_field(v, "body");
        let headers: Vec<(String, String)> = v["headers"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let pairs = headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes()));
        // Vectors are from 2021 and 2025: pin the clock to the vector's own timestamp.
        let result = SignatureHeaders::extract(pairs).and_then(|h| {
            let now = protocol::signature::parse_timestamp(h.timestamp).unwrap_or(0);
            protocol::verify(&h, body.as_bytes(), [&key], now, 300)
        });
        let expected = if v["sdk_disagreement"].as_bool() == Some(true) {
            assert_eq!(id, "conv-java-missing-algorithm", "a new disagreement needs a policy");
            true
        } else {
            v["valid"].as_bool().unwrap_or_else(|| panic!("{id}: valid missing"))
        };
        assert_eq!(result.is_ok(), expected, "{id}: {result:?}");
    }
    println!("conformance: {} signature vectors checked", vectors.len());
}

#[test]
fn every_callback_sample_classifies_to_its_trigger() {
    let Some(dir) = conformance_dir() else { return };
    let index = read_json(&dir.join("callbacks/index.json"));
    let files = index["files"]
        .as_array()
        .unwrap_or_else(|| panic!("index.files missing"));
    let mut seen = std::collections::HashSet::new();
    for entry in files {
        let file = str_field(entry, "file");
        let expected =
            Trigger::from_name(str_field(entry, "trigger")).unwrap_or_else(|| panic!("{file}: unknown trigger name"));
        let body = std::fs::read(dir.join("callbacks").join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let callback = protocol::classify(&body).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(callback.trigger, expected, "{file}");
        assert_eq!(Some(str_field(entry, "payload_key")), expected.payload_key(), "{file}");
        seen.insert(expected);
    }
    assert_eq!(seen.len(), 21, "samples must cover all 21 triggers");
    println!("conformance: {} callback samples checked", files.len());
}

#[test]
fn every_send_request_round_trips_through_the_raw_path_unchanged() {
    let Some(dir) = conformance_dir() else { return };
    let mut count = 0;
    let mut entries: Vec<_> = std::fs::read_dir(dir.join("send"))
        .unwrap_or_else(|e| panic!("send/: {e}"))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("request."))
        })
        .collect();
    entries.sort();
    for path in entries {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let original: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let parsed = protocol::parse_outbound(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            matches!(parsed, protocol::OutboundMessage::Raw { .. }),
            "{}",
            path.display()
        );
        assert_eq!(
            serde_json::to_value(parsed.to_request(None)).ok(),
            Some(original),
            "{}",
            path.display()
        );
        count += 1;
    }
    assert!(
        count >= 14,
        "expected the nine message kinds and the channel-property examples"
    );
    println!("conformance: {count} send requests checked");
}
