//! The published contracts in `schemas/` against the code. The outbound envelope schema must
//! accept exactly what `parse_outbound` accepts: the README's examples, Sinch's request fixtures
//! (`$SINCH_CONFORMANCE_DIR/send`, when set), mutations of each, edge cases and generated
//! envelopes. Inputs stay clear of the rules JSON Schema cannot state (UTF-8 byte limits,
//! `86400.0`), which `schemas/README.md` lists. What webhook-ingest stores must fit
//! `event-message.schema.json`.

#![allow(clippy::panic)] // a test file: failing loudly is the point

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};
use sinch_bridge::ingest::build_message;
use sinch_bridge::protocol::{classify, parse_outbound};

const APP: &str = "01EB37HMH1M6SV18ASNS3G135H";
/// The envelope's fields, the raw request's marker and one unknown field.
const FIELDS: &str = "from app_id channel service to message correlation_id message_metadata conversation_metadata \
                      channel_properties channel_priority_order ttl queue processing_strategy callback_url recipient \
                      unknown_field";

fn schema(name: &str) -> jsonschema::Validator {
    let path = format!("{}/../schemas/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    jsonschema::draft202012::new(&value).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `None` when the parser and the schema agree on `value`, else a description.
fn disagreement(validator: &jsonschema::Validator, value: &Value) -> Option<String> {
    let refusal = parse_outbound(value.to_string().as_bytes())
        .err()
        .map(|e| e.to_string());
    let valid = validator.is_valid(value);
    (refusal.is_none() != valid).then(|| format!("parser refusal {refusal:?}, schema valid {valid}: {value}"))
}

/// The elements of a JSON array.
fn list(array: Value) -> Vec<Value> {
    array.as_array().cloned().unwrap_or_default()
}

/// `base` with the fields of `patch` set (a JSON null stays a null).
fn patched(base: &Value, patch: &Value) -> Value {
    let mut map = base.as_object().cloned().unwrap_or_default();
    map.extend(patch.as_object().cloned().unwrap_or_default());
    Value::Object(map)
}

fn readme_examples() -> Vec<Value> {
    list(json!([
        {"from": format!("{APP}@sms.sinchconversation.com"), "to": "+15551234567",
         "message": {"text_message": {"text": "Your order has shipped."}}, "correlation_id": "order-4711"},
        {"app_id": APP, "channel": "WHATSAPP", "to": {"contact_id": "01FJA8B466Y0R2GNXD78MD9SM1"},
         "message": {"template_message": {"omni_template": {"template_id": "welcome", "version": "1"}}}},
        {"app_id": APP, "service": "eu-main",
         "to": {"channel_identities": [{"channel": "RCS", "identity": "+46732001122"},
                                       {"channel": "SMS", "identity": "+46732001122"}]},
         "message": {"text_message": {"text": "Hello"}},
         "ttl": 86400, "message_metadata": "ticket-17", "channel_properties": {"SMS_SENDER": "MyBrand"}},
        {"app_id": APP, "recipient": {"contact_id": "01FJA8B466Y0R2GNXD78MD9SM1"},
         "message": {"text_message": {"text": "Hi"}}}
    ]))
}

fn conformance_dir(sub: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("SINCH_CONFORMANCE_DIR").map(|dir| PathBuf::from(dir).join(sub));
    if dir.is_none() {
        println!("schemas: Sinch's {sub} fixtures skipped, SINCH_CONFORMANCE_DIR is not set");
    }
    dir
}

/// The text of every `*.json` in `dir` (but `index.json`) whose name starts with `prefix`.
fn json_files(dir: &Path, prefix: &str) -> Vec<String> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.unwrap_or_else(|e| panic!("{}: {e}", dir.display())).path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with(prefix) && name.ends_with(".json") && name != "index.json" {
            out.push(std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
        }
    }
    assert!(!out.is_empty(), "no {prefix}*.json in {}", dir.display());
    out
}

/// Sinch's `messages:send` request fixtures that are raw requests (`app_id` and `recipient`).
fn conformance_requests() -> Vec<Value> {
    let Some(dir) = conformance_dir("send") else {
        return Vec::new();
    };
    json_files(&dir, "request.")
        .iter()
        .map(|text| serde_json::from_str::<Value>(text).unwrap_or_else(|e| panic!("{e}: {text}")))
        .filter(|v| v.get("app_id").is_some() && v.get("recipient").is_some())
        .collect()
}

/// Each field removed, then every field set to each wrong value, then messages with no kind and
/// with two.
fn mutations(base: &Value) -> Vec<Value> {
    let wrong = list(json!([
        null, 7, -1, 1.5, true, [], {}, "", " ", "x", "SMS", ["SMS"], ["sms"], {"contact_id": "c"},
        "A".repeat(129), "a".repeat(1025), format!("https://{}", "a".repeat(735))
    ]));
    let map = base.as_object().cloned().unwrap_or_default();
    let mut out: Vec<Value> = map
        .keys()
        .map(|key| {
            let mut without = map.clone();
            without.remove(key);
            Value::Object(without)
        })
        .collect();
    for key in FIELDS.split_whitespace() {
        out.extend(wrong.iter().map(|bad| patched(base, &json!({ key: bad }))));
    }
    for message in list(json!([{}, {"text_message": {}, "media_message": {}}, {"list_message": null, "agent": {}}])) {
        out.push(patched(base, &json!({ "message": message })));
    }
    out
}

fn edge_cases() -> Vec<Value> {
    let from = format!("{APP}@sms.sinchconversation.com");
    let sms = json!({"from": from, "to": "+1", "message": {"text_message": {"text": "hi"}}});
    let app = json!({"app_id": APP, "channel": "SMS", "to": "+1", "message": {"text_message": {"text": "hi"}}});
    let on_sms = list(json!([
        {"app_id": null}, {"channel": "SMS"}, {"channel": "WHATSAPP"},
        {"from": format!("{APP}@WhatsApp.SinchConversation.COM"), "channel": "WHATSAPP"},
        {"from": format!("{APP}@viber.sinchconversation.com"), "channel": "VIBER"},
        {"from": format!("{APP}@viber-bot.sinchconversation.com"), "channel": "VIBER"},
        {"from": format!("{APP}@\u{17f}ms.sinchconversation.com")}, {"from": format!("{from}\n")},
        {"from": format!("{}@sms.sinchconversation.com", "A".repeat(65))},
        {"from": format!("{}@sms.sinchconversation.com", "A".repeat(64))},
        {"to": {"channel_identities": [{"channel": "SMS", "identity": "1", "extra": 1}]}},
        {"to": {"channel_identities": ["SMS"]}}, {"to": {"contact_id": "c", "channel_identities": []}},
        {"to": " \t"}, {"to": "\u{85}"}, {"to": "\u{feff}"}, {"to": "\u{3000}x"}, {"to": "\u{2028}"},
        {"callback_url": "HTTPS://example.com"}, {"callback_url": "http://x"},
        {"channel_properties": {"SMS_SENDER": null}},
        {"ttl": 1}, {"ttl": 0}, {"ttl": 315_576_000_000_u64}, {"ttl": 315_576_000_001_u64}, {"ttl": u64::MAX},
        {"ttl": "0086400s"}, {"ttl": "315576000000s"}, {"ttl": "315576000001s"}, {"ttl": "0s"}, {"ttl": "s"},
        {"ttl": "+5s"}, {"ttl": "86400s\n"}, {"ttl": "\u{663}s"}, {"ttl": "99999999999999999999s"}, {"ttl": "86400"}
    ]));
    let on_app = list(json!([
        {"from": null, "channel": null}, {"to": {"contact_id": "c"}, "channel": null}, {"app_id": "APP\n"},
        {"app_id": "A".repeat(64)}, {"channel": "SMS\n"}, {"channel": "A".repeat(32)}, {"service": "svc\n"},
        {"service": "-svc"}, {"service": "a_b-C9"}, {"service": "a".repeat(65)}
    ]));
    let mut out: Vec<Value> = on_sms.iter().map(|p| patched(&sms, p)).collect();
    out.extend(on_app.iter().map(|p| patched(&app, p)));
    out
}

#[test]
fn envelope_schema_accepts_exactly_what_the_parser_accepts() {
    let validator = schema("outbound-envelope.schema.json");
    let mut bases = readme_examples();
    bases.extend(conformance_requests());
    for base in &bases {
        assert!(
            validator.is_valid(base),
            "an example or Sinch fixture is refused: {base}"
        );
    }
    let mut cases = bases.clone();
    cases.extend(bases.iter().flat_map(mutations));
    cases.extend(edge_cases());
    let problems: Vec<String> = cases.iter().filter_map(|v| disagreement(&validator, v)).collect();
    assert!(
        problems.is_empty(),
        "{} of {} disagree:\n{}",
        problems.len(),
        cases.len(),
        problems.join("\n")
    );
}

/// Envelopes of ASCII strings: each field present or not, its value one of a few fixed ones or
/// a string matching a regex.
fn generated_envelope() -> impl Strategy<Value = Value> {
    let from = format!("{APP}@sms.sinchconversation.com");
    let table = list(json!([
        // field, chance it is present, fixed values, regex for generated strings ("" for none)
        ["from", 0.5, [from, from, format!("{APP}@Viber-Bot.sinchconversation.com"), null],
         "[A-Za-z0-9]{0,3}@[a-z.-]{0,30}"],
        ["app_id", 0.4, [APP, APP, null], "[A-Za-z0-9 ]{0,66}"],
        ["channel", 0.4, ["SMS", "VIBER", "WHATSAPP", null], "[A-Za-z0-9_]{0,33}"],
        ["service", 0.1, ["eu-main", null], "[A-Za-z0-9_./-]{0,66}"],
        ["to", 0.95, [{"contact_id": "c"}, {"contact_id": ""}, {"channel_identities": []},
                      {"channel_identities": [{"channel": "SMS", "identity": "1"}]}, 7, null], "[ \t]?[0-9+]{0,4}"],
        ["message", 0.95, [{"text_message": {}}, {"media_message": {}}, {"template_message": {}}, {},
                           {"card_message": {}, "list_message": {}}], ""],
        ["correlation_id", 0.1, [null, 1], "[ -~]{120,130}"],
        ["message_metadata", 0.1, [null], "[a-z]{1020,1026}"],
        ["conversation_metadata", 0.1, [{"k": 1}, "s", null], ""],
        ["channel_properties", 0.1, [{"SMS_SENDER": "x"}, {"a": 1}, []], ""],
        ["channel_priority_order", 0.1, [["SMS", "RCS"], [], ["Sms"]], ""],
        ["ttl", 0.1, [0, 1, 315_575_999_999_u64, 315_576_000_000_u64, 315_576_000_001_u64], "0{0,2}[0-9]{1,3}s?"],
        ["queue", 0.1, ["HIGH_PRIORITY", "URGENT", null], ""],
        ["processing_strategy", 0.1, ["DISPATCH_ONLY", "default"], ""],
        ["callback_url", 0.1, [null], "(https?|ftp|HTTP)://[a-z]{0,3}"],
        ["recipient", 0.05, [{"contact_id": "c"}, {}], ""],
        ["unknown_field", 0.03, [1], ""]
    ]));
    let mut names = Vec::new();
    let mut present = Vec::new();
    for row in &table {
        let fixed = proptest::sample::select(list(row[2].clone()));
        let regex = row[3].as_str().unwrap_or_default();
        let values = if regex.is_empty() {
            fixed.boxed()
        } else {
            let generated = proptest::string::string_regex(regex).unwrap_or_else(|e| panic!("{regex}: {e}"));
            prop_oneof![fixed, generated.prop_map(Value::String)].boxed()
        };
        names.push(row[0].as_str().unwrap_or_default().to_owned());
        present.push(proptest::option::weighted(row[1].as_f64().unwrap_or_default(), values));
    }
    present.prop_map(move |values| {
        let pairs = names
            .iter()
            .cloned()
            .zip(values)
            .filter_map(|(name, v)| v.map(|v| (name, v)));
        Value::Object(pairs.collect())
    })
}

#[test]
fn generated_envelopes_agree() {
    let validator = schema("outbound-envelope.schema.json");
    let accepted = AtomicUsize::new(0);
    let config = Config {
        cases: 2000,
        failure_persistence: None,
        ..Config::default()
    };
    let result = TestRunner::new(config).run(&generated_envelope(), |value| {
        if validator.is_valid(&value) {
            accepted.fetch_add(1, Ordering::Relaxed);
        }
        disagreement(&validator, &value).map_or(Ok(()), |problem| Err(TestCaseError::fail(problem)))
    });
    result.unwrap_or_else(|e| panic!("{e}"));
    let accepted = accepted.into_inner();
    assert!(
        accepted >= 20,
        "the strategy should produce valid envelopes too, got {accepted} of 2000"
    );
}

#[test]
fn stored_events_fit_the_event_message_schema() {
    let validator = schema("event-message.schema.json");
    let mut bodies: Vec<String> = list(json!([
        {"app_id": "A", "message": {"id": "M", "conversation_id": "CONV1", "contact_id": "K"}},
        {"app_id": "A", "message": {"id": "M", "conversation_id": "", "contact_id": "",
                                    "channel_identity": {"channel": "SMS", "identity": "+15551234"}}},
        {"app_id": "", "message_delivery_report": {"message_id": "M", "status": "DELIVERED",
                                                   "conversation_id": format!("a b/{}", "c".repeat(200))}},
        {"app_id": "A", "brand_new_notification": {}}
    ]))
    .iter()
    .map(ToString::to_string)
    .collect();
    if let Some(dir) = conformance_dir("callbacks") {
        bodies.extend(json_files(&dir, ""));
    }
    for queue in [
        "https://sqs.eu-west-1.amazonaws.com/1/events",
        "https://sqs.eu-west-1.amazonaws.com/1/events.fifo",
    ] {
        for body in &bodies {
            let callback = classify(body.as_bytes()).unwrap_or_else(|e| panic!("{e}: {body}"));
            let message = build_message(queue, "demo", body.as_bytes(), &callback, SystemTime::now());
            let attributes: Map<String, Value> = message
                .attributes
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::from(v.as_str())))
                .collect();
            let mut event = json!({"body": message.body, "attributes": attributes});
            if let (Some(group), Some(dedup)) = (&message.group_id, &message.dedup_id) {
                event["message_group_id"] = Value::from(group.as_str());
                event["message_deduplication_id"] = Value::from(dedup.as_str());
            }
            assert!(
                validator.is_valid(&event),
                "does not fit event-message.schema.json: {event}"
            );
        }
    }
}

#[test]
fn the_stored_event_schema_names_exactly_the_triggers_the_ingest_knows() {
    use sinch_bridge::protocol::Trigger;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/event-message.schema.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let schema: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let enumerated: Vec<String> = schema["properties"]["attributes"]["properties"]["trigger"]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("no trigger enum in {path}"))
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let mut known: Vec<String> = Trigger::ALL.iter().map(|t| t.as_str().to_owned()).collect();
    known.push(Trigger::Unknown.as_str().to_owned());
    assert_eq!(enumerated, known, "schemas/event-message.schema.json's trigger enum");
}
