//! Properties of the callback classifier and the stored-event rules
//! (`shared/src/ingest/stored_event.rs`), for any input bytes. Shared by the fuzz target
//! `callback_classify` and the regression replay in `shared/tests/fuzz_regressions.rs`.

use std::time::SystemTime;

use sinch_bridge::ingest::stored_event::{build_message, dedup_id, group_id};
use sinch_bridge::protocol::callback::hex_sha256;
use sinch_bridge::protocol::classify;

/// A FIFO queue, so `build_message` sets the group and deduplication ids.
const QUEUE_URL: &str = "https://sqs.eu-west-1.amazonaws.com/1/events.fifo";

/// Panics when a property does not hold for `data`.
pub fn check(data: &[u8]) {
    let first = classify(data);
    assert_eq!(first, classify(data), "classify is not deterministic");
    let Ok(callback) = first else {
        return;
    };

    // Deduplication id: hex SHA-256, 64 lower-case hex chars, a pure function of its inputs.
    let dedup = dedup_id("svc", &callback, data);
    assert!(
        is_lower_hex(&dedup, 64),
        "dedup id is not 64 lower-case hex chars: {dedup:?}"
    );
    assert_eq!(dedup, dedup_id("svc", &callback, data), "dedup id is not deterministic");

    // Group id: SQS's charset and length, whatever Sinch put in an id.
    let group = group_id("svc", &callback);
    assert!(
        !group.is_empty() && group.len() <= 128,
        "group id length {} is outside 1..=128: {group:?}",
        group.len()
    );
    assert!(
        group
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b':'),
        "group id has a character outside [A-Za-z0-9_:-]: {group:?}"
    );
    // Which key orders the event, always within the service: the conversation, else the
    // hashed channel identity, else the app; an id goes in as given only when it fits and is
    // already in the charset.
    match (&callback.conversation_id, &callback.channel, &callback.identity) {
        (Some(conversation), _, _) => {
            assert_eq!(
                group,
                format!("svc:conversation-{}", safe_id("conversation", conversation)),
                "conversation group"
            );
        }
        (None, Some(_), Some(identity)) => {
            let digest = group.strip_prefix("svc:identity-").unwrap_or_default();
            assert!(
                is_lower_hex(digest, 32),
                "identity group is not svc:identity-<32 hex>: {group:?}"
            );
            // Identities are phone numbers or PSIDs: they never reach queue metadata in clear.
            // (Below 8 chars a hex digest could hold one by chance.)
            if identity.len() >= 8 {
                assert!(
                    !digest.contains(identity.as_str()),
                    "group id holds the identity: {group:?}"
                );
            }
        }
        _ => assert_eq!(
            group,
            format!("svc:app-{}", safe_id("app", &callback.app_id)),
            "app group"
        ),
    }

    // The queue message built from it: the bytes Sinch sent (as text when SQS can hold
    // them, else as base64, flagged by an attribute), at most 10 distinct non-empty
    // attributes SQS can hold, and the same group and deduplication ids.
    let message = build_message(QUEUE_URL, "svc", data, &callback, SystemTime::UNIX_EPOCH);
    match std::str::from_utf8(data).ok().filter(|text| sqs_can_hold(text)) {
        Some(text) => assert_eq!(message.body, text, "stored body differs from the received one"),
        None => {
            assert_eq!(
                message.body,
                base64(data),
                "a body SQS cannot hold as text is not its base64"
            );
            assert!(
                message.attributes.iter().any(|(_, value)| value == "base64"),
                "a base64 body is not flagged as such: {:?}",
                message.attributes
            );
        }
    }
    assert!(sqs_can_hold(&message.body), "SQS cannot hold the stored body");
    assert!(
        message.attributes.len() <= 10,
        "{} attributes",
        message.attributes.len()
    );
    for (i, (name, value)) in message.attributes.iter().enumerate() {
        assert!(!value.is_empty(), "attribute {name} is empty");
        assert!(sqs_can_hold(value), "SQS cannot hold attribute {name}: {value:?}");
        assert!(
            message.attributes[..i].iter().all(|(other, _)| other != name),
            "attribute {name} given twice"
        );
    }
    assert_eq!(message.group_id.as_deref(), Some(group.as_str()), "message group id");
    assert_eq!(message.dedup_id.as_deref(), Some(dedup.as_str()), "message dedup id");
}

/// SQS's rule for message bodies and attribute values: tab, line feed, carriage return and
/// U+0020 and above, except U+FFFE and U+FFFF.
fn sqs_can_hold(text: &str) -> bool {
    text.chars()
        .all(|c| matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{fffe}' && c != '\u{ffff}'))
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let triple = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((triple >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// What `stored_event::truncate_id` promises: the id itself when it is at most 100 chars of
/// `[A-Za-z0-9_-]`, else its hex SHA-256.
/// The id as the group holds it after `svc:<kind>-`: as given when it fits SQS's 128
/// characters in the charset, else the first 32 hex of its SHA-256.
fn safe_id(kind: &str, id: &str) -> String {
    let room = 128 - "svc:".len() - kind.len() - 1;
    if id.len() <= room && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        id.to_owned()
    } else {
        hex_sha256(id.as_bytes())[..32].to_owned()
    }
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
