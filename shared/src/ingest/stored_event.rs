//! What the ingest stores on SQS for one verified callback, decided here alone: the body
//! untouched, the message attributes, and on a FIFO queue the message group (ordering) and the
//! deduplication id (which of Sinch's retries collapse).

use std::time::SystemTime;

use crate::clock::rfc3339_millis;
use crate::ports::{QueueMessage, is_fifo};
use crate::protocol::callback::{Callback, Trigger, hex_sha256};

/// The queue message for one callback: the body untouched, at most 10 attributes, and on a
/// FIFO queue the conversation's group and the event's deduplication id.
pub fn build_message(
    queue_url: &str,
    service: &str,
    body: &str,
    callback: &Callback,
    received: SystemTime,
) -> QueueMessage {
    let mut attributes: Vec<(&'static str, String)> = vec![
        ("trigger", callback.trigger.as_str().to_owned()),
        ("service", service.to_owned()),
        ("received_at", rfc3339_millis(received)),
    ];
    let optional = [
        ("app_id", Some(&callback.app_id)),
        ("project_id", callback.project_id.as_ref()),
        ("channel", callback.channel.as_ref()),
        ("event_id", callback.event_id.as_ref()),
        ("conversation_id", callback.conversation_id.as_ref()),
        ("contact_id", callback.contact_id.as_ref()),
    ];
    for (name, value) in optional {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            attributes.push((name, value.clone()));
        }
    }
    let fifo = is_fifo(queue_url);
    QueueMessage {
        queue_url: queue_url.to_owned(),
        body: body.to_owned(),
        attributes,
        group_id: fifo.then(|| group_id(callback)),
        dedup_id: fifo.then(|| dedup_id(callback, body.as_bytes())),
    }
}

/// The identity of the *event* (not of the body), used to collapse Sinch's retries of one
/// event into one queue message. Only triggers whose ids name the event itself use them;
/// contact and conversation notifications carry the id of the entity (two updates of one
/// contact share it), so those fall back to the body's SHA-256. Hex SHA-256, 64 chars.
pub fn dedup_id(callback: &Callback, body: &[u8]) -> String {
    let id = callback.event_id.as_deref().filter(|id| !id.is_empty());
    let identity = match (callback.trigger, id) {
        (Trigger::MessageDelivery | Trigger::EventDelivery, Some(id)) => Some(format!(
            "{}|{}|{}|{}|{}",
            callback.trigger,
            callback.app_id,
            id,
            callback.status.as_deref().unwrap_or(""),
            callback.channel.as_deref().unwrap_or("")
        )),
        (
            Trigger::MessageInbound
            | Trigger::MessageSubmit
            | Trigger::EventInbound
            | Trigger::Unsupported
            | Trigger::SmartConversation
            | Trigger::MessageInboundSmartConversationRedaction,
            Some(id),
        ) => Some(format!("{}|{}|{}", callback.trigger, callback.app_id, id)),
        _ => None,
    };
    match identity {
        Some(identity) => hex_sha256(identity.as_bytes()),
        None => hex_sha256(body),
    }
}

/// The ordering key: the conversation, else (Dispatch mode) the channel identity, else
/// the app. Identities are customer phone numbers or PSIDs, so they are hashed before
/// they become queue metadata. Always within SQS's 128-character group id limit.
pub fn group_id(callback: &Callback) -> String {
    if let Some(conversation) = callback.conversation_id.as_deref() {
        return format!("conversation-{}", truncate_id(conversation));
    }
    if let (Some(channel), Some(identity)) = (callback.channel.as_deref(), callback.identity.as_deref()) {
        let digest = hex_sha256(format!("{channel}|{identity}").as_bytes());
        return format!("identity-{}", &digest[..32]);
    }
    format!("app-{}", truncate_id(&callback.app_id))
}

/// Keeps group ids inside SQS's charset and length whatever Sinch put in an id.
fn truncate_id(id: &str) -> String {
    let safe = id.len() <= 100 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if safe { id.to_owned() } else { hex_sha256(id.as_bytes()) }
}

#[cfg(test)]
mod tests {
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
        let id = |b: &[u8]| classify(b).map(|c| dedup_id(&c, b)).unwrap_or_default();
        assert_eq!(id(queued), id(queued_retry));
        assert_ne!(id(queued), id(delivered));
        assert_eq!(id(queued).len(), 64);
    }

    #[test]
    fn entity_notifications_dedup_on_the_body() {
        let a = br#"{"app_id":"A","contact_update_notification":{"contact":{"id":"K","display_name":"x"}}}"#;
        let b = br#"{"app_id":"A","contact_update_notification":{"contact":{"id":"K","display_name":"y"}}}"#;
        let id = |b: &[u8]| classify(b).map(|c| dedup_id(&c, b)).unwrap_or_default();
        assert_ne!(id(a), id(b));
        assert_eq!(id(a), hex_sha256(a));
    }

    #[test]
    fn group_is_conversation_then_hashed_identity_then_app() {
        let c = ok(r#"{"app_id":"A","message":{"conversation_id":"CONV1"}}"#);
        assert_eq!(group_id(&c), "conversation-CONV1");
        let c = ok(r#"{"app_id":"A","message":{"channel_identity":{"channel":"SMS","identity":"+15551234"}}}"#);
        let g = group_id(&c);
        assert!(
            g.starts_with("identity-") && !g.contains("15551234") && g.len() <= 128,
            "{g}"
        );
        let c = ok(r#"{"app_id":"APP1","channel_event_notification":{}}"#);
        assert_eq!(group_id(&c), "app-APP1");
        let c = ok(r#"{"app_id":"A","message":{"conversation_id":"a b/c"}}"#);
        assert_eq!(group_id(&c).len(), "conversation-".len() + 64);
    }
}
