use super::*;

fn classify_str(s: &str) -> Result<Callback, CallbackError> {
    classify(s.as_bytes())
}

fn ok(s: &str) -> Callback {
    match classify_str(s) {
        Ok(c) => c,
        Err(e) => panic!("{s}: {e}"),
    }
}

#[test]
fn detects_each_of_the_21_triggers_by_payload_key() {
    assert_eq!(Trigger::ALL.len(), 21);
    for trigger in Trigger::ALL {
        let key = trigger.payload_key().unwrap_or_default();
        let body = format!(r#"{{"app_id":"A","project_id":"P","{key}":{{}}}}"#);
        assert_eq!(ok(&body).trigger, trigger, "{key}");
        assert_eq!(Trigger::from_name(trigger.as_str()), Some(trigger));
    }
}

#[test]
fn unknown_payload_key_is_unknown_not_an_error() {
    let c = ok(r#"{"app_id":"A","brand_new_notification":{"x":1}}"#);
    assert_eq!(c.trigger, Trigger::Unknown);
    assert_eq!(ok(r#"{"app_id":"A"}"#).trigger, Trigger::Unknown);
}

#[test]
fn reads_inbound_message_routing_facts() {
    let c = ok(r#"{
        "app_id":"APP","project_id":"PRJ","accepted_time":"2020-11-17T16:05:51.724083Z",
        "event_time":"2020-11-17T16:05:45Z","correlation_id":"corr-1",
        "message":{"id":"MSG","direction":"TO_APP",
          "contact_message":{"text_message":{"text":"secret words"}},
          "channel_identity":{"channel":"WHATSAPP","identity":"46732001122","app_id":"APP"},
          "conversation_id":"CONV","contact_id":"CONT","processing_mode":"CONVERSATION"}}"#);
    assert_eq!(c.trigger, Trigger::MessageInbound);
    assert_eq!(c.app_id, "APP");
    assert_eq!(c.project_id.as_deref(), Some("PRJ"));
    assert_eq!(c.accepted_time.as_deref(), Some("2020-11-17T16:05:51.724083Z"));
    assert_eq!(c.event_time.as_deref(), Some("2020-11-17T16:05:45Z"));
    assert_eq!(c.correlation_id.as_deref(), Some("corr-1"));
    assert_eq!(c.event_id.as_deref(), Some("MSG"));
    assert_eq!(c.conversation_id.as_deref(), Some("CONV"));
    assert_eq!(c.contact_id.as_deref(), Some("CONT"));
    assert_eq!(c.channel.as_deref(), Some("WHATSAPP"));
    assert_eq!(c.identity.as_deref(), Some("46732001122"));
    assert_eq!(c.processing_mode.as_deref(), Some("CONVERSATION"));
}

#[test]
fn reads_delivery_report_status_and_message_id() {
    let c = ok(
        r#"{"app_id":"APP","message_delivery_report":{"message_id":"M1","status":"DELIVERED",
        "channel_identity":{"channel":"SMS","identity":"+1555"},"conversation_id":"C","contact_id":"K"}}"#,
    );
    assert_eq!(c.trigger, Trigger::MessageDelivery);
    assert_eq!(c.event_id.as_deref(), Some("M1"));
    assert_eq!(c.status.as_deref(), Some("DELIVERED"));
}

#[test]
fn dispatch_mode_empty_ids_are_absent() {
    let c = ok(
        r#"{"app_id":"APP","message":{"id":"M","conversation_id":"","contact_id":"",
        "channel_identity":{"channel":"SMS","identity":"+1555"},"processing_mode":"DISPATCH"}}"#,
    );
    assert_eq!(c.conversation_id, None);
    assert_eq!(c.contact_id, None);
    assert_eq!(c.processing_mode.as_deref(), Some("DISPATCH"));
}

#[test]
fn reads_ids_from_nested_entities() {
    let c = ok(
        r#"{"app_id":"A","conversation_start_notification":{"conversation":{"id":"CV","contact_id":"CT","active_channel":"RCS"}}}"#,
    );
    assert_eq!(
        (
            c.event_id.as_deref(),
            c.conversation_id.as_deref(),
            c.contact_id.as_deref(),
            c.channel.as_deref()
        ),
        (Some("CV"), Some("CV"), Some("CT"), Some("RCS"))
    );
    let c = ok(
        r#"{"app_id":"A","contact_merge_notification":{"preserved_contact":{"id":"KEEP"},"deleted_contact":{"id":"GONE"}}}"#,
    );
    assert_eq!(c.event_id.as_deref(), Some("KEEP"));
    let c =
        ok(r#"{"app_id":"A","channel_event_notification":{"channel_event":{"channel":"WHATSAPP","event_type":"X"}}}"#);
    assert_eq!(c.channel.as_deref(), Some("WHATSAPP"));
    let c = ok(
        r#"{"app_id":"A","opt_in_notification":{"request_id":"R","channel":"WHATSAPP","identity":"123","status":"OPT_IN_SUCCEEDED"}}"#,
    );
    assert_eq!(
        (c.event_id.as_deref(), c.identity.as_deref(), c.status.as_deref()),
        (Some("R"), Some("123"), Some("OPT_IN_SUCCEEDED"))
    );
}

#[test]
fn smart_conversation_channel_identity_may_be_a_string() {
    let c = ok(
        r#"{"app_id":"A","smart_conversation_notification":{"message_id":"M","channel_identity":"4673","channel":"SMS"}}"#,
    );
    assert_eq!(
        (c.identity.as_deref(), c.channel.as_deref()),
        (Some("4673"), Some("SMS"))
    );
}

#[test]
fn odd_field_shapes_are_treated_as_absent() {
    let c = ok(r#"{"app_id":"A","project_id":7,"accepted_time":null,
        "message_delivery_report":{"message_id":{"nested":true},"status":["x"],"channel_identity":5}}"#);
    assert_eq!(c.trigger, Trigger::MessageDelivery);
    assert_eq!(
        (c.project_id, c.accepted_time, c.event_id, c.status, c.channel),
        (None, None, None, None, None)
    );
    let c = ok(r#"{"app_id":"A","message":"not an object"}"#);
    assert_eq!((c.trigger, c.event_id), (Trigger::MessageInbound, None));
}

#[test]
fn first_payload_key_wins() {
    let c = ok(r#"{"app_id":"A","event":{"id":"E"},"message":{"id":"M"}}"#);
    assert_eq!((c.trigger, c.event_id.as_deref()), (Trigger::EventInbound, Some("E")));
}

#[test]
fn app_id_is_required_but_may_be_empty() {
    assert_eq!(classify_str(r#"{"message":{}}"#), Err(CallbackError::MissingAppId));
    assert_eq!(ok(r#"{"app_id":"","message":{}}"#).app_id, "");
    assert_eq!(ok(r#"{"app_id":null,"message":{}}"#).app_id, "");
}

#[test]
fn invalid_json_is_a_clear_error_without_content() {
    for bad in ["", "{", "[]", "\"x\"", "{\"app_id\":\"secret-text\",}", "nul", "\u{0}"] {
        let err = classify_str(bad);
        assert!(matches!(err, Err(CallbackError::InvalidJson(_))), "{bad:?}: {err:?}");
        let msg = err.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(!msg.contains("secret-text"), "{msg}");
        assert_eq!(CallbackError::InvalidJson(String::new()).code(), "invalid_json");
    }
    assert!(classify(&[0xff, 0xfe]).is_err());
}

#[test]
fn deeply_nested_json_never_overflows_the_stack() {
    // Skipped values are consumed without recursion limits biting; what we read stays shallow.
    for (open, close) in [("[", "]"), (r#"{"a":"#, "}")] {
        let deep = format!(
            r#"{{"app_id":"A","message":{}1{}}}"#,
            open.repeat(100_000),
            close.repeat(100_000)
        );
        let c = classify_str(&deep);
        assert!(
            matches!(&c, Ok(c) if c.trigger == Trigger::MessageInbound)
                || matches!(c, Err(CallbackError::InvalidJson(_)))
        );
        let deep = format!(
            r#"{{"app_id":{}1{},"message":{{}}}}"#,
            open.repeat(100_000),
            close.repeat(100_000)
        );
        assert!(matches!(
            classify_str(&deep),
            Ok(_) | Err(CallbackError::InvalidJson(_))
        ));
    }
}

#[test]
fn hex_sha256_matches_known_value() {
    assert_eq!(
        hex_sha256(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}
