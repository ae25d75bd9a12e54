use super::*;
use crate::protocol::service::MessagingService;
use serde_json::json;

const APP: &str = "01EB37HMH1M6SV18ASNS3G135H";

fn service() -> MessagingService {
    let json = format!(
        r#"{{"region":"us","project_id":"p","key_id":"k","key_secret":"s","webhook_secret":"w","sms_sender":"+15550001111","apps":{{"{APP}":{{}},"OTHERAPP":{{"sms_sender":"OTHER"}}}}}}"#
    );
    MessagingService::from_json("svc", json.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

fn parse(v: Value) -> Result<OutboundMessage, EnvelopeError> {
    parse_outbound(v.to_string().as_bytes())
}

fn request(v: Value) -> Value {
    match parse(v.clone()) {
        Ok(m) => serde_json::to_value(m.to_request(Some(&service()))).unwrap_or_default(),
        Err(e) => panic!("{v}: {e}"),
    }
}

fn error_field(v: Value) -> String {
    parse(v).err().map(|e| e.field).unwrap_or_else(|| "(accepted)".into())
}

fn text() -> Value {
    json!({"text_message": {"text": "hi"}})
}

#[test]
fn queue_address_and_bare_identity_become_identified_by() {
    let r = request(
        json!({"from": format!("{APP}@whatsapp.sinchconversation.com"), "to": "+46732001122", "message": text()}),
    );
    assert_eq!(
        r,
        json!({"app_id": APP, "recipient": {"identified_by": {"channel_identities": [{"channel": "WHATSAPP", "identity": "+46732001122"}]}}, "message": text()})
    );
}

#[test]
fn app_id_with_channel_and_contact_id_pins_the_channel() {
    let r = request(
        json!({"app_id": APP, "channel": "MESSENGER", "to": {"contact_id": "C1"}, "message": text(), "correlation_id": "c-1"}),
    );
    assert_eq!(
        r,
        json!({"app_id": APP, "recipient": {"contact_id": "C1"}, "message": text(), "channel_priority_order": ["MESSENGER"], "correlation_id": "c-1"})
    );
}

#[test]
fn explicit_channel_identities_pass_through() {
    let r = request(
        json!({"app_id": APP, "to": {"channel_identities": [{"channel": "RCS", "identity": "1"}, {"channel": "WHATSAPP", "identity": "2"}]}, "message": text()}),
    );
    assert_eq!(
        r["recipient"],
        json!({"identified_by": {"channel_identities": [{"channel": "RCS", "identity": "1"}, {"channel": "WHATSAPP", "identity": "2"}]}})
    );
    assert!(r.get("channel_properties").is_none());
}

#[test]
fn sms_without_sender_takes_the_service_default() {
    let r =
        request(json!({"from": format!("{APP}@sms.sinchconversation.com"), "to": "+15551234567", "message": text()}));
    assert_eq!(r["channel_properties"], json!({"SMS_SENDER": "+15550001111"}));
    let r = request(
        json!({"app_id": "OTHERAPP", "to": {"channel_identities": [{"channel": "SMS", "identity": "1"}]}, "message": text()}),
    );
    assert_eq!(
        r["channel_properties"],
        json!({"SMS_SENDER": "OTHER"}),
        "app override wins"
    );
    let r = request(
        json!({"app_id": APP, "to": {"contact_id": "C"}, "channel_priority_order": ["WHATSAPP", "SMS"], "message": text()}),
    );
    assert_eq!(r["channel_properties"]["SMS_SENDER"], "+15550001111");
}

#[test]
fn explicit_sms_sender_is_kept_and_other_channels_get_none() {
    let r = request(
        json!({"from": format!("{APP}@sms.sinchconversation.com"), "to": "1", "message": text(), "channel_properties": {"SMS_SENDER": "MINE"}}),
    );
    assert_eq!(r["channel_properties"], json!({"SMS_SENDER": "MINE"}));
    let r = request(json!({"from": format!("{APP}@whatsapp.sinchconversation.com"), "to": "1", "message": text()}));
    assert!(r.get("channel_properties").is_none());
}

#[test]
fn options_are_validated_and_copied() {
    let r = request(json!({
        "app_id": APP, "channel": "SMS", "to": "1", "message": text(), "service": "svc",
        "message_metadata": "m", "conversation_metadata": {"k": 1}, "ttl": 86400, "queue": "HIGH_PRIORITY",
        "processing_strategy": "DISPATCH_ONLY", "callback_url": "https://example.com/cb",
        "channel_priority_order": ["SMS"]
    }));
    assert_eq!(r["ttl"], "86400s");
    assert_eq!(r["message_metadata"], "m");
    assert_eq!(r["conversation_metadata"], json!({"k": 1}));
    assert_eq!(r["queue"], "HIGH_PRIORITY");
    assert_eq!(r["processing_strategy"], "DISPATCH_ONLY");
    assert_eq!(r["callback_url"], "https://example.com/cb");
    assert!(r.get("service").is_none(), "service is ours, not Sinch's");
    assert_eq!(
        request(json!({"app_id": APP, "channel": "SMS", "to": "1", "message": text(), "ttl": "30s"}))["ttl"],
        "30s"
    );
}

#[test]
fn all_nine_message_kinds_pass_through_untouched() {
    for kind in MESSAGE_KINDS {
        let message = json!({kind: {"anything": [1, {"deep": "value"}]}, "agent": {"display_name": "A"}});
        let r = request(json!({"app_id": APP, "channel": "SMS", "to": "1", "message": message.clone()}));
        assert_eq!(r["message"], message, "{kind}");
    }
}

#[test]
fn raw_requests_pass_through_unchanged() {
    let raw = json!({"app_id": "my app ID", "recipient": {"contact_id": "c"}, "message": text(), "ttl": "2s", "unknown_future_field": true});
    let parsed = parse(raw.clone());
    assert!(matches!(parsed, Ok(OutboundMessage::Raw { .. })));
    let r = parsed
        .map(|m| serde_json::to_value(m.to_request(Some(&service()))).unwrap_or_default())
        .unwrap_or_default();
    assert_eq!(r, raw);
}

#[test]
fn accessors_report_routing_facts() {
    let m = parse(
        json!({"from": format!("{APP}@sms.sinchconversation.com"), "service": "eu-main", "to": "1", "message": text(), "correlation_id": "c9"}),
    );
    let m = m.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (m.app_id(), m.service(), m.channel(), m.correlation_id()),
        (APP, Some("eu-main"), Some("SMS"), Some("c9"))
    );
    let raw = parse(
        json!({"app_id": "A", "recipient": {"contact_id": "c"}, "message": text(), "channel_priority_order": ["RCS"]}),
    );
    let raw = raw.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((raw.app_id(), raw.service(), raw.channel()), ("A", None, Some("RCS")));
}

#[test]
fn every_invalid_envelope_names_its_field() {
    let from = format!("{APP}@sms.sinchconversation.com");
    let cases = [
        (json!({"to": "1", "message": text()}), "from"),
        (
            json!({"from": from, "app_id": APP, "to": "1", "message": text()}),
            "from",
        ),
        (json!({"from": "nonsense", "to": "1", "message": text()}), "from"),
        (
            json!({"app_id": "a b", "channel": "SMS", "to": "1", "message": text()}),
            "app_id",
        ),
        (
            json!({"app_id": 5, "channel": "SMS", "to": "1", "message": text()}),
            "app_id",
        ),
        (
            json!({"from": from, "channel": "WHATSAPP", "to": "1", "message": text()}),
            "channel",
        ),
        (
            json!({"app_id": APP, "channel": "sms", "to": "1", "message": text()}),
            "channel",
        ),
        (json!({"app_id": APP, "to": "1", "message": text()}), "to"),
        (json!({"from": from, "message": text()}), "to"),
        (json!({"from": from, "to": " ", "message": text()}), "to"),
        (json!({"from": from, "to": 7, "message": text()}), "to"),
        (
            json!({"from": from, "to": {"contact_id": "c", "channel_identities": []}, "message": text()}),
            "to",
        ),
        (
            json!({"from": from, "to": {"contact_id": ""}, "message": text()}),
            "to.contact_id",
        ),
        (
            json!({"from": from, "to": {"channel_identities": []}, "message": text()}),
            "to.channel_identities",
        ),
        (
            json!({"from": from, "to": {"channel_identities": [{"channel": "SMS"}]}, "message": text()}),
            "to.channel_identities[0].identity",
        ),
        (
            json!({"from": from, "to": {"channel_identities": [{"identity": "1"}]}, "message": text()}),
            "to.channel_identities[0].channel",
        ),
        (json!({"from": from, "to": "1"}), "message"),
        (json!({"from": from, "to": "1", "message": "hi"}), "message"),
        (json!({"from": from, "to": "1", "message": {}}), "message"),
        (
            json!({"from": from, "to": "1", "message": {"text_message": {}, "media_message": {}}}),
            "message",
        ),
        (
            json!({"from": from, "to": "1", "message": text(), "service": "../x"}),
            "service",
        ),
        (
            json!({"from": from, "to": "1", "message": text(), "ttl": "1 day"}),
            "ttl",
        ),
        (json!({"from": from, "to": "1", "message": text(), "ttl": 0}), "ttl"),
        (
            json!({"from": from, "to": "1", "message": text(), "queue": "URGENT"}),
            "queue",
        ),
        (
            json!({"from": from, "to": "1", "message": text(), "processing_strategy": 1}),
            "processing_strategy",
        ),
        (
            json!({"from": from, "to": "1", "message": text(), "correlation_id": "x".repeat(129)}),
            "correlation_id",
        ),
        (
            json!({"from": from, "to": "1", "message": text(), "message_metadata": 1}),
            "message_metadata",
        ),
        (
            json!({"from": from, "to": "1", "message": text(), "conversation_metadata": "s"}),
            "conversation_metadata",
        ),
        (
            json!({"from": from, "to": "1", "message": text(), "channel_properties": {"SMS_SENDER": 1}}),
            "channel_properties.SMS_SENDER",
        ),
        (
            json!({"from": from, "to": "1", "message": text(), "channel_properties": []}),
            "channel_properties",
        ),
        (
            json!({"from": from, "to": "1", "message": text(), "channel_priority_order": ["sms"]}),
            "channel_priority_order",
        ),
        (
            json!({"from": from, "to": "1", "message": text(), "callback_url": "ftp://x"}),
            "callback_url",
        ),
        (json!({"from": from, "too": "1", "message": text()}), "too"),
        (
            json!({"app_id": APP, "recipient": {"contact_id": "c", "identified_by": {}}, "message": text()}),
            "recipient",
        ),
        (json!({"recipient": {"contact_id": "c"}, "message": text()}), "app_id"),
        (json!({"app_id": APP, "recipient": {"contact_id": "c"}}), "message"),
        (json!([1]), "(body)"),
    ];
    for (input, field) in cases {
        assert_eq!(error_field(input.clone()), field, "{input}");
    }
    assert_eq!(parse_outbound(b"{nope").err().map(|e| e.field), Some("(body)".into()));
}

#[test]
fn errors_never_quote_message_content() {
    let err = parse(
        json!({"from": "x@sms.sinchconversation.com", "to": "1", "message": {"text_message": {"text": "private words"}, "media_message": {}}}),
    );
    let msg = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(!msg.contains("private words") && msg.starts_with("message:"), "{msg}");
}

#[test]
fn the_same_rules_hold_at_every_level_as_the_schema_states_them() {
    let base = || json!({"app_id": APP, "channel": "SMS", "to": "+1555", "message": text()});
    let with = |k: &str, v: Value| {
        let mut e = base();
        e[k] = v;
        e
    };
    // Unknown fields are refused inside channel identities too.
    let ids = json!({"channel_identities": [{"channel": "SMS", "identity": "1", "idnetity": "x"}]});
    assert_eq!(error_field(with("to", ids)), "to.channel_identities[0].idnetity");
    // null is absent for every optional field.
    for field in [
        "conversation_metadata",
        "channel_properties",
        "channel_priority_order",
        "ttl",
        "queue",
        "processing_strategy",
        "correlation_id",
    ] {
        assert_eq!(error_field(with(field, Value::Null)), "(accepted)", "{field}");
    }
    // Whitespace is no identity or contact id, whatever the form.
    assert_eq!(error_field(with("to", json!({"contact_id": " \t"}))), "to.contact_id");
    let blank = json!({"channel_identities": [{"channel": "SMS", "identity": "\u{3000}"}]});
    assert_eq!(error_field(with("to", blank)), "to.channel_identities[0].identity");
    // Lengths are characters, and a URL's scheme is case-insensitive.
    assert_eq!(
        error_field(with("correlation_id", json!("é".repeat(128)))),
        "(accepted)"
    );
    assert_eq!(
        error_field(with("correlation_id", json!("é".repeat(129)))),
        "correlation_id"
    );
    assert_eq!(
        error_field(with("callback_url", json!("HTTPS://example.com/cb"))),
        "(accepted)"
    );
    // An empty body says so.
    assert_eq!(
        parse_outbound(b"").err().map(|e| e.to_string()).as_deref(),
        Some("(body): is empty")
    );
}
