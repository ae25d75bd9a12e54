//! Properties of the outbound envelope parser (`shared/src/protocol/outbound/`), for any input
//! bytes. Shared by the fuzz target `outbound_envelope` and the regression replay in
//! `shared/tests/fuzz_regressions.rs`.

use serde_json::{Map, Value};
use sinch_bridge::protocol::{EnvelopeError, OutboundMessage, parse_outbound};

/// Message strings at least this long are checked against error texts; shorter ones can
/// match a field name or a fixed phrase too easily to say anything.
const MIN_QUOTED: usize = 12;

/// Panics when a property does not hold for `data`.
pub fn check(data: &[u8]) {
    let parsed = parse_outbound(data);
    assert_eq!(parsed, parse_outbound(data), "parse_outbound is not deterministic");
    match parsed {
        Ok(message) => accepted(data, &message),
        Err(error) => no_message_content_quoted(data, &error),
    }
}

/// Anything accepted becomes a `messages:send` body: a JSON object with `app_id` (the
/// message's), `recipient` and `message`.
fn accepted(data: &[u8], message: &OutboundMessage) {
    let bytes = match serde_json::to_vec(&message.to_request(None)) {
        Ok(bytes) => bytes,
        Err(e) => panic!("an accepted message does not serialise: {e}"),
    };
    let request: Map<String, Value> = match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => map,
        other => panic!("the request is not a JSON object: {other:?}"),
    };
    assert_eq!(
        request.get("app_id").and_then(Value::as_str),
        Some(message.app_id()),
        "request app_id"
    );
    assert!(request.contains_key("recipient"), "request has no recipient");
    assert!(
        request.get("message").is_some_and(Value::is_object),
        "request message is not an object"
    );
    // Pass-through: a raw request keeps every top-level field; an envelope's message keeps
    // every field it was given.
    let Ok(Value::Object(input)) = serde_json::from_slice::<Value>(data) else {
        panic!("parse_outbound accepted input that is not a JSON object");
    };
    match message {
        OutboundMessage::Raw { .. } => assert!(input.keys().eq(request.keys()), "a raw request lost or gained fields"),
        OutboundMessage::Envelope(_) => {
            let keys = |m: &Map<String, Value>| {
                m.get("message")
                    .and_then(Value::as_object)
                    .map(|o| o.keys().cloned().collect::<Vec<_>>())
            };
            assert_eq!(
                keys(&input),
                keys(&request),
                "an envelope's message lost or gained fields"
            );
        }
    }
}

/// Rejections name the field and say why, never quoting message content. An error text may
/// hold a message string by coincidence: the input's keys are quoted as field names, and the
/// fixed phrases are input-independent. So when a message string shows up in the error, the
/// same input with every message string blanked must give an error that still shows it.
fn no_message_content_quoted(data: &[u8], error: &EnvelopeError) {
    let shown = error.to_string();
    let Ok(mut root) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let mut texts = Vec::new();
    if let Some(message) = root.get("message") {
        strings(message, &mut texts);
    }
    let leaked: Vec<String> = texts.iter().filter(|t| shown.contains(t.as_str())).cloned().collect();
    if leaked.is_empty() {
        return;
    }
    // The control run: the same document re-serialised must fail the same way, else the
    // comparison below would compare different documents.
    let Ok(canonical) = serde_json::to_vec(&root) else {
        return;
    };
    if parse_outbound(&canonical).err().map(|e| e.to_string()).as_deref() != Some(shown.as_str()) {
        return;
    }
    let Some(filler) = filler_for(&texts) else {
        return;
    };
    if let Some(message) = root.get_mut("message") {
        blank(message, filler);
    }
    let Ok(blanked) = serde_json::to_vec(&root) else {
        return;
    };
    let again = match parse_outbound(&blanked) {
        Err(e) => e.to_string(),
        Ok(_) => String::new(),
    };
    for text in leaked {
        assert!(
            again.contains(&text),
            "the error quotes message content {text:?}: {shown:?} (with message strings blanked: {again:?})"
        );
    }
}

/// Every string value at least `MIN_QUOTED` bytes long inside `value`.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) if s.len() >= MIN_QUOTED => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// Replaces every string `strings` collects with `filler` repeated as many times as it had chars.
fn blank(value: &mut Value, filler: char) {
    match value {
        Value::String(s) if s.len() >= MIN_QUOTED => *s = filler.to_string().repeat(s.chars().count()),
        Value::Array(items) => items.iter_mut().for_each(|v| blank(v, filler)),
        Value::Object(map) => map.values_mut().for_each(|v| blank(v, filler)),
        _ => {}
    }
}

/// A character none of `texts` holds, so no blanked string can contain one of them.
fn filler_for(texts: &[String]) -> Option<char> {
    ['#', '~', '^', '*', '!', '|', '%', '\u{b7}', '\u{2603}']
        .into_iter()
        .find(|c| texts.iter().all(|t| !t.contains(*c)))
}
