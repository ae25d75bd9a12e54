use super::*;
use crate::protocol::callback::classify;

fn ok(body: &str) -> Callback {
    classify(body.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn delivery_retries_share_a_dedup_id_but_status_changes_do_not() {
    let queued = br#"{"app_id":"A","message_delivery_report":{"message_id":"M","status":"QUEUED_ON_CHANNEL"}}"#;
    let queued_retry = br#"{"app_id":"A","accepted_time":"later","message_delivery_report":{"message_id":"M","status":"QUEUED_ON_CHANNEL"}}"#;
    let delivered = br#"{"app_id":"A","message_delivery_report":{"message_id":"M","status":"DELIVERED"}}"#;
    let id = |b: &[u8]| classify(b).map(|c| dedup_id("svc", &c, b)).unwrap_or_default();
    assert_eq!(id(queued), id(queued_retry));
    assert_ne!(id(queued), id(delivered));
    assert_eq!(id(queued).len(), 64);
}

#[test]
fn entity_notifications_dedup_on_the_body() {
    let a = br#"{"app_id":"A","contact_update_notification":{"contact":{"id":"K","display_name":"x"}}}"#;
    let b = br#"{"app_id":"A","contact_update_notification":{"contact":{"id":"K","display_name":"y"}}}"#;
    let id = |b: &[u8]| classify(b).map(|c| dedup_id("svc", &c, b)).unwrap_or_default();
    assert_ne!(id(a), id(b));
    let mut scoped = length_prefixed(&["svc"]);
    scoped.extend_from_slice(a);
    assert_eq!(id(a), hex_sha256(&scoped));
}

#[test]
fn group_is_conversation_then_hashed_identity_then_app_within_the_service() {
    let c = ok(r#"{"app_id":"A","message":{"conversation_id":"CONV1"}}"#);
    assert_eq!(group_id("eu1", &c), "eu1:conversation-CONV1");
    let c = ok(r#"{"app_id":"A","message":{"channel_identity":{"channel":"SMS","identity":"+15551234"}}}"#);
    let g = group_id("eu1", &c);
    assert!(
        g.starts_with("eu1:identity-") && !g.contains("15551234") && g.len() <= 128,
        "{g}"
    );
    let c = ok(r#"{"app_id":"APP1","channel_event_notification":{}}"#);
    assert_eq!(group_id("eu1", &c), "eu1:app-APP1");
    let c = ok(r#"{"app_id":"A","message":{"conversation_id":"a b/c"}}"#);
    assert_eq!(group_id("eu1", &c).len(), "eu1:conversation-".len() + 32);
}

/// Two services computing the same customer's group (from a phone number, or an id in a
/// body they signed themselves) land in different groups: one cannot stall the other's.
#[test]
fn the_same_conversation_or_identity_in_two_services_is_two_groups() {
    for body in [
        r#"{"app_id":"A","message":{"conversation_id":"CONV1"}}"#,
        r#"{"app_id":"A","message":{"channel_identity":{"channel":"SMS","identity":"+15551234"}}}"#,
        r#"{"app_id":"A","channel_event_notification":{}}"#,
    ] {
        let c = ok(body);
        assert_ne!(group_id("tenant-a", &c), group_id("tenant-b", &c), "{body}");
    }
    // A service name that looks like another's group prefix still cannot reach it.
    let c = ok(r#"{"app_id":"x_app-Y","channel_event_notification":{}}"#);
    let d = ok(r#"{"app_id":"Y","channel_event_notification":{}}"#);
    assert_ne!(group_id("a", &c), group_id("a_app-x", &d));
}

#[test]
fn a_group_id_fits_sqs_for_the_longest_service_name_and_id() {
    let service = "s".repeat(64);
    let c = ok(&format!(
        r#"{{"app_id":"A","message":{{"conversation_id":"{}"}}}}"#,
        "C".repeat(100)
    ));
    let g = group_id(&service, &c);
    assert!(g.len() <= 128, "{} {g}", g.len());
    assert!(g.starts_with(&format!("{service}:conversation-")));
}

fn id(body: &str) -> String {
    dedup_id("svc", &ok(body), body.as_bytes())
}

/// Two events of one trigger class that differ only in the field that tells them apart
/// must get different ids (SQS would drop the second and we would answer 200).
#[test]
fn distinct_events_never_share_a_dedup_id() {
    let pairs = [
        // delivery reports: status, then channel (fallback), for messages and events
        (
            r#"{"app_id":"A","message_delivery_report":{"message_id":"M","status":"QUEUED_ON_CHANNEL","channel_identity":{"channel":"RCS"}}}"#,
            r#"{"app_id":"A","message_delivery_report":{"message_id":"M","status":"DELIVERED","channel_identity":{"channel":"RCS"}}}"#,
        ),
        (
            r#"{"app_id":"A","message_delivery_report":{"message_id":"M","status":"FAILED","channel_identity":{"channel":"RCS"}}}"#,
            r#"{"app_id":"A","message_delivery_report":{"message_id":"M","status":"FAILED","channel_identity":{"channel":"SMS"}}}"#,
        ),
        (
            r#"{"app_id":"A","event_delivery_report":{"event_id":"E","status":"DELIVERED","channel_identity":{"channel":"RCS"}}}"#,
            r#"{"app_id":"A","event_delivery_report":{"event_id":"E","status":"DELIVERED","channel_identity":{"channel":"SMS"}}}"#,
        ),
        // submit: the same message id on the fallback channel
        (
            r#"{"app_id":"A","message_submit_notification":{"message_id":"M","channel_identity":{"channel":"RCS"}}}"#,
            r#"{"app_id":"A","message_submit_notification":{"message_id":"M","channel_identity":{"channel":"SMS"}}}"#,
        ),
        // inbound messages and events: their own ids
        (
            r#"{"app_id":"A","message":{"id":"M1"}}"#,
            r#"{"app_id":"A","message":{"id":"M2"}}"#,
        ),
        (
            r#"{"app_id":"A","event":{"id":"E1"}}"#,
            r#"{"app_id":"A","event":{"id":"E2"}}"#,
        ),
        // the same id under two triggers, or two apps
        (
            r#"{"app_id":"A","message":{"id":"M"}}"#,
            r#"{"app_id":"A","message_redaction":{"id":"M"}}"#,
        ),
        (
            r#"{"app_id":"A","message":{"id":"M"}}"#,
            r#"{"app_id":"B","message":{"id":"M"}}"#,
        ),
        // entity notifications: two updates of one contact or conversation
        (
            r#"{"app_id":"A","contact_update_notification":{"contact":{"id":"K","display_name":"x"}}}"#,
            r#"{"app_id":"A","contact_update_notification":{"contact":{"id":"K","display_name":"y"}}}"#,
        ),
        (
            r#"{"app_id":"A","conversation_stop_notification":{"conversation":{"id":"C","active_channel":"SMS"}}}"#,
            r#"{"app_id":"A","conversation_stop_notification":{"conversation":{"id":"C","active_channel":"RCS"}}}"#,
        ),
        // opt-in/out, capability: one request, two answers
        (
            r#"{"app_id":"A","opt_in_notification":{"request_id":"R","status":"OPT_IN_SUCCEEDED"}}"#,
            r#"{"app_id":"A","opt_in_notification":{"request_id":"R","status":"OPT_IN_FAILED"}}"#,
        ),
        // smart conversation: two analyses of one message
        (
            r#"{"app_id":"A","smart_conversation_notification":{"message_id":"M","analysis_results":{"ml_sentiment_result":[]}}}"#,
            r#"{"app_id":"A","smart_conversation_notification":{"message_id":"M","analysis_results":{"ml_nlu_result":[]}}}"#,
        ),
        // a field holding the separator of a naive join cannot fake another event
        (
            r#"{"app_id":"A","message_delivery_report":{"message_id":"M|DELIVERED","status":""}}"#,
            r#"{"app_id":"A","message_delivery_report":{"message_id":"M","status":"DELIVERED|"}}"#,
        ),
    ];
    for (a, b) in pairs {
        assert_ne!(id(a), id(b), "{a}\n{b}");
    }
}

#[test]
fn retries_of_one_event_share_a_dedup_id() {
    let submit =
        r#"{"app_id":"A","message_submit_notification":{"message_id":"M","channel_identity":{"channel":"SMS"}}}"#;
    let retry = r#"{"app_id":"A","accepted_time":"later","message_submit_notification":{"message_id":"M","channel_identity":{"channel":"SMS"}}}"#;
    assert_eq!(id(submit), id(retry));
    let inbound = r#"{"app_id":"A","message":{"id":"M"}}"#;
    let inbound_retry = r#"{"app_id":"A","event_time":"t","message":{"id":"M"}}"#;
    assert_eq!(id(inbound), id(inbound_retry));
}

fn message(body: &[u8], callback: &Callback) -> QueueMessage {
    build_message("https://q/events.fifo", "svc", body, callback, SystemTime::UNIX_EPOCH)
}

fn attribute<'a>(m: &'a QueueMessage, name: &str) -> Option<&'a str> {
    m.attributes.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
}

#[test]
fn text_bodies_are_stored_as_they_came() {
    let body = r#"{"app_id":"A","message":{"id":"M","contact_message":{"text_message":{"text":"héllo"}}}}"#;
    let m = message(body.as_bytes(), &ok(body));
    assert_eq!(m.body, body);
    assert_eq!(attribute(&m, BODY_ENCODING), None);
}

#[test]
fn bodies_sqs_cannot_hold_as_text_are_stored_base64() {
    use base64::Engine as _;
    let with_nonchar = "{\"app_id\":\"A\",\"message\":{\"id\":\"M\",\"x\":\"\u{ffff}\"}}";
    let mut invalid_utf8 = br#"{"app_id":"A","message":{"id":"M","x":""#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, b'"', b'}', b'}']);
    for body in [with_nonchar.as_bytes().to_vec(), invalid_utf8] {
        let callback = ok(&String::from_utf8_lossy(&body));
        let m = message(&body, &callback);
        assert_eq!(attribute(&m, BODY_ENCODING), Some("base64"));
        let decoded = base64::engine::general_purpose::STANDARD.decode(&m.body);
        assert_eq!(decoded.ok(), Some(body.clone()), "the exact bytes come back");
        assert!(m.attributes.len() <= 10);
    }
}

#[test]
fn attribute_values_sqs_would_refuse_are_stored_as_digests() {
    assert_eq!(
        attribute_value("01HZX5DEM0APP00000000000AA"),
        "01HZX5DEM0APP00000000000AA"
    );
    assert_eq!(attribute_value("héllo wörld"), "héllo wörld");
    for bad in [
        "a\u{0}b",
        "line\nbreak",
        "non\u{ffff}char",
        &"x".repeat(MAX_ATTRIBUTE_CHARS + 1),
    ] {
        let stored = attribute_value(bad);
        assert_eq!(stored, format!("sha256:{}", hex_sha256(bad.as_bytes())), "{bad:?}");
        assert!(sqs_can_hold(&stored));
    }
    let body = r#"{"app_id":"A\u0001B","message":{"id":"M\u0000","conversation_id":"C\u0007"}}"#;
    let callback = ok(body);
    let m = message(body.as_bytes(), &callback);
    for (name, value) in &m.attributes {
        assert!(
            sqs_can_hold(value) && !value.chars().any(char::is_control),
            "{name}: {value:?}"
        );
    }
    assert!(m.group_id.as_deref().is_some_and(|g| g.len() <= 128 && g.is_ascii()));
}

#[test]
fn the_same_event_id_under_two_services_never_collides() {
    let body = r#"{"app_id":"A","message":{"id":"M"}}"#;
    let c = ok(body);
    assert_ne!(
        dedup_id("signed", &c, body.as_bytes()),
        dedup_id("unsigned", &c, body.as_bytes())
    );
    let entity = r#"{"app_id":"A","contact_create_notification":{"contact":{"id":"K"}}}"#;
    let e = ok(entity);
    assert_ne!(
        dedup_id("a", &e, entity.as_bytes()),
        dedup_id("b", &e, entity.as_bytes())
    );
}
