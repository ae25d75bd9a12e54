//! What the ingest stores on SQS for one verified callback, decided here alone: the body
//! untouched, the message attributes, and on a FIFO queue the message group (ordering) and the
//! deduplication id (which of Sinch's retries collapse).

use std::time::SystemTime;

use base64::Engine as _;

use crate::clock::rfc3339_millis;
use crate::ports::{QueueMessage, is_fifo};
use crate::protocol::callback::{Callback, Trigger, hex_sha256};

/// The longest attribute value stored as it is; longer ones are stored as their digest.
pub const MAX_ATTRIBUTE_CHARS: usize = 256;

/// The attribute that says the body is base64 (absent: the body is the callback's text).
pub const BODY_ENCODING: &str = "body_encoding";

/// The queue message for one callback: at most 10 attributes, and on a FIFO queue the
/// conversation's group and the event's deduplication id. The body is the bytes Sinch sent, as
/// text when SQS can hold them, else base64 with `body_encoding=base64`.
pub fn build_message(
    queue_url: &str,
    service: &str,
    body: &[u8],
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
            attributes.push((name, attribute_value(value)));
        }
    }
    let fifo = is_fifo(queue_url);
    let group_id = fifo.then(|| group_id(service, callback));
    let dedup_id = fifo.then(|| dedup_id(service, callback, body));
    let stored = match std::str::from_utf8(body).ok().filter(|t| sqs_can_hold(t)) {
        Some(text) => text.to_owned(),
        None => {
            attributes.push((BODY_ENCODING, "base64".to_owned()));
            base64::engine::general_purpose::STANDARD.encode(body)
        }
    };
    QueueMessage {
        queue_url: queue_url.to_owned(),
        body: stored,
        attributes,
        group_id,
        dedup_id,
    }
}

/// True when SQS accepts `text` as a message body or attribute value: tab, line feed,
/// carriage return and U+0020 and above, except U+FFFE and U+FFFF (surrogates cannot occur
/// in a Rust string).
pub fn sqs_can_hold(text: &str) -> bool {
    // Bytes, not chars: this runs over every body on the hot path. In valid UTF-8 a byte under
    // 0x20 is always that control character.
    // Substring searches for the two noncharacters (a char-set pattern would decode every
    // character).
    let controls_ok = !text.bytes().any(|b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'));
    controls_ok && !text.contains("\u{fffe}") && !text.contains("\u{ffff}")
}

/// An attribute value as stored: the value itself when it is printable and at most
/// [`MAX_ATTRIBUTE_CHARS`] long, else `sha256:` and its digest, so the event is always
/// storable and the value can still be matched against the body.
pub fn attribute_value(value: &str) -> String {
    let printable = value
        .chars()
        .all(|c| !c.is_control() && c != '\u{fffe}' && c != '\u{ffff}');
    if printable && value.chars().count() <= MAX_ATTRIBUTE_CHARS {
        value.to_owned()
    } else {
        format!("sha256:{}", hex_sha256(value.as_bytes()))
    }
}

/// Every identity starts with the service, so events of two services sharing a queue (one of
/// which may accept unsigned webhooks) can never collapse into each other.
///
/// The identity of the *event* (not of the body), used to collapse Sinch's retries of one
/// event into one queue message. Only triggers whose ids name the event itself use them;
/// contact and conversation notifications carry the id of the entity (two updates of one
/// contact share it), so those fall back to the body's SHA-256. Hex SHA-256, 64 chars.
pub fn dedup_id(service: &str, callback: &Callback, body: &[u8]) -> String {
    let id = callback.event_id.as_deref().filter(|id| !id.is_empty());
    let (trigger, app) = (callback.trigger.as_str(), callback.app_id.as_str());
    let status = callback.status.as_deref().unwrap_or("");
    let channel = callback.channel.as_deref().unwrap_or("");
    let fields: Option<Vec<&str>> = match (identity(callback.trigger), id) {
        (Identity::IdStatusChannel, Some(id)) => Some(vec![service, trigger, app, id, status, channel]),
        (Identity::IdChannel, Some(id)) => Some(vec![service, trigger, app, id, channel]),
        (Identity::Id, Some(id)) => Some(vec![service, trigger, app, id]),
        (_, None) | (Identity::Body, _) => None,
    };
    match fields {
        Some(fields) => hex_sha256(&length_prefixed(&fields)),
        None => {
            let mut scoped = length_prefixed(&[service]);
            scoped.extend_from_slice(body);
            hex_sha256(&scoped)
        }
    }
}

/// What tells one event of a trigger from another (beyond the service, trigger and app).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// Its id, status and channel: one report per status and channel (QUEUED then DELIVERED,
    /// and a fallback channel's).
    IdStatusChannel,
    /// Its id and channel: channel fallback submits one message id again on the next channel.
    IdChannel,
    /// Its id alone: each inbound message or event, unsupported callback and redaction has its own.
    Id,
    /// Only identical bodies: the id names an entity (a contact, a conversation, a request, an
    /// analysed message) that several distinct events share.
    Body,
}

/// The deliberate choice for every trigger: no arm is a catch-all, so a new trigger does not
/// compile until someone decides how its events are told apart.
pub fn identity(trigger: Trigger) -> Identity {
    match trigger {
        Trigger::MessageDelivery | Trigger::EventDelivery => Identity::IdStatusChannel,
        Trigger::MessageSubmit => Identity::IdChannel,
        Trigger::MessageInbound
        | Trigger::EventInbound
        | Trigger::Unsupported
        | Trigger::MessageInboundSmartConversationRedaction => Identity::Id,
        Trigger::ConversationStart
        | Trigger::ConversationStop
        | Trigger::ConversationDelete
        | Trigger::ContactCreate
        | Trigger::ContactDelete
        | Trigger::ContactMerge
        | Trigger::ContactUpdate
        | Trigger::ContactIdentitiesDuplication
        | Trigger::Capability
        | Trigger::OptIn
        | Trigger::OptOut
        | Trigger::ChannelEvent
        | Trigger::SmartConversation
        | Trigger::RecordNotification
        | Trigger::Unknown => Identity::Body,
    }
}

/// `len:field,` for each field: no two different lists give the same bytes, whatever the
/// fields hold.
fn length_prefixed(fields: &[&str]) -> Vec<u8> {
    let mut out = Vec::with_capacity(fields.iter().map(|f| f.len() + 4).sum());
    for field in fields {
        out.extend_from_slice(field.len().to_string().as_bytes());
        out.push(b':');
        out.extend_from_slice(field.as_bytes());
        out.push(b',');
    }
    out
}

/// The ordering key: the conversation, else (Dispatch mode) the channel identity, else
/// the app, **within the service** (`{service}:{kind}-{id}`): the events queue is shared, and
/// a group is a lock, so no service's callbacks (an unsigned one, or anyone holding its
/// secret) can enter, or stall, another service's customer's stream. Identities are customer
/// phone numbers or PSIDs, so they are hashed before they become queue metadata. Always within
/// SQS's 128-character group id limit (service names have at most 64).
pub fn group_id(service: &str, callback: &Callback) -> String {
    if let Some(conversation) = callback.conversation_id.as_deref() {
        return scoped(service, "conversation", conversation);
    }
    if let (Some(channel), Some(identity)) = (callback.channel.as_deref(), callback.identity.as_deref()) {
        let digest = hex_sha256(format!("{channel}|{identity}").as_bytes());
        return format!("{service}:identity-{}", &digest[..32]);
    }
    scoped(service, "app", &callback.app_id)
}

/// `{service}:{kind}-{id}`, the id kept when SQS's charset and length allow it, else its hash.
/// `:` never occurs in a service name or a kept id, so two services never share a group.
fn scoped(service: &str, kind: &str, id: &str) -> String {
    let room = 128usize.saturating_sub(service.len() + kind.len() + 2);
    let safe = id.len() <= room && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if safe {
        format!("{service}:{kind}-{id}")
    } else {
        format!("{service}:{kind}-{}", &hex_sha256(id.as_bytes())[..32])
    }
}

#[cfg(test)]
#[path = "stored_event_tests.rs"]
mod tests;
