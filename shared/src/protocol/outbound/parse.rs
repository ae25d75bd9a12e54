//! Validation of one outbound queue body: which shape it is, and every field's rule. Each
//! rejection names the field and says why, never quoting content.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{ENVELOPE_FIELDS, Envelope, EnvelopeError, MESSAGE_KINDS, OutboundMessage, Recipient};
use crate::protocol::channel::Channel;
use crate::protocol::sender_address::{AddressError, SenderAddress};
use crate::protocol::service::is_valid_service_name;

pub(super) fn raw(map: Map<String, Value>) -> Result<OutboundMessage, EnvelopeError> {
    let app_id = match map.get("app_id") {
        // Forwarded as given: Sinch is the judge of a raw request's app id.
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        Some(_) => return Err(EnvelopeError::new("app_id", "must be a non-empty string")),
        None => {
            return Err(EnvelopeError::new("app_id", "is required in a raw SendMessageRequest"));
        }
    };
    match map.get("recipient") {
        Some(Value::Object(r)) if r.contains_key("contact_id") != r.contains_key("identified_by") => {}
        _ => {
            return Err(EnvelopeError::new(
                "recipient",
                "must hold exactly one of contact_id or identified_by",
            ));
        }
    }
    match map.get("message") {
        Some(Value::Object(m)) => check_message_kind(m)?,
        _ => {
            return Err(EnvelopeError::new("message", "is required and must be an object"));
        }
    }
    Ok(OutboundMessage::Raw { app_id, request: map })
}

pub(super) fn envelope(mut map: Map<String, Value>) -> Result<Envelope, EnvelopeError> {
    if let Some(unknown) = map.keys().find(|k| !ENVELOPE_FIELDS.contains(&k.as_str())) {
        return Err(EnvelopeError::new(unknown.clone(), "is not an envelope field"));
    }
    let from = optional_str(&map, "from")?;
    let app_id = optional_str(&map, "app_id")?;
    let channel = match optional_str(&map, "channel")? {
        Some(name) => Some(Channel::parse(name).ok_or_else(|| {
            EnvelopeError::new("channel", "must be a Conversation API channel such as WHATSAPP or SMS")
        })?),
        None => None,
    };
    let (app_id, channel) = match (from, app_id) {
        (Some(from), None) => {
            let address: SenderAddress = from
                .parse()
                .map_err(|e: AddressError| EnvelopeError::new("from", e.to_string()))?;
            if let Some(explicit) = channel
                && explicit != address.channel
            {
                return Err(EnvelopeError::new(
                    "channel",
                    format!("disagrees with from, which names {}", address.channel),
                ));
            }
            (address.app_id, Some(address.channel))
        }
        (None, Some(app_id)) if is_app_id(app_id) => (app_id.to_owned(), channel),
        (None, Some(_)) => {
            return Err(EnvelopeError::new(
                "app_id",
                "must be the app's id (letters and digits)",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(EnvelopeError::new("from", "give either from or app_id, not both"));
        }
        (None, None) => {
            return Err(EnvelopeError::new(
                "from",
                "a sender is required: from (queue address) or app_id",
            ));
        }
    };
    let service = match optional_str(&map, "service")? {
        Some(name) if is_valid_service_name(name) => Some(name.to_owned()),
        Some(_) => {
            return Err(EnvelopeError::new(
                "service",
                "must match [A-Za-z0-9][A-Za-z0-9_-]{0,63}",
            ));
        }
        None => None,
    };
    let recipient = parse_recipient(map.get("to"), channel.as_ref())?;
    let message = match map.remove("message") {
        Some(Value::Object(m)) => {
            check_message_kind(&m)?;
            m
        }
        Some(_) => {
            return Err(EnvelopeError::new(
                "message",
                "must be an object (a Conversation API AppMessage)",
            ));
        }
        None => return Err(EnvelopeError::new("message", "is required")),
    };
    let channel_properties = parse_channel_properties(map.get("channel_properties"))?;
    let options = parse_options(&mut map)?;
    Ok(Envelope {
        app_id,
        channel,
        service,
        recipient,
        message,
        channel_properties,
        options,
    })
}

fn parse_recipient(to: Option<&Value>, channel: Option<&Channel>) -> Result<Recipient, EnvelopeError> {
    match to {
        None => Err(EnvelopeError::new("to", "is required")),
        Some(Value::String(identity)) if identity.trim().is_empty() => {
            Err(EnvelopeError::new("to", "must not be empty"))
        }
        Some(Value::String(identity)) => match channel {
            Some(_) => Ok(Recipient::Identity(identity.clone())),
            None => Err(EnvelopeError::new(
                "to",
                "a bare identity needs a channel: give from (queue address) or channel",
            )),
        },
        Some(Value::Object(obj)) => {
            let contact = obj.get("contact_id");
            let identities = obj.get("channel_identities");
            if obj.keys().any(|k| k != "contact_id" && k != "channel_identities")
                || contact.is_some() == identities.is_some()
            {
                return Err(EnvelopeError::new(
                    "to",
                    "must hold exactly one of contact_id or channel_identities",
                ));
            }
            if let Some(contact) = contact {
                return match contact {
                    Value::String(id) if !id.trim().is_empty() => Ok(Recipient::ContactId(id.clone())),
                    _ => Err(EnvelopeError::new("to.contact_id", "must be a non-empty string")),
                };
            }
            let list = identities
                .and_then(Value::as_array)
                .filter(|l| !l.is_empty())
                .ok_or_else(|| {
                    EnvelopeError::new(
                        "to.channel_identities",
                        "must be a non-empty array of {channel, identity}",
                    )
                })?;
            list.iter()
                .enumerate()
                .map(|(i, item)| {
                    let field = |name: &str| format!("to.channel_identities[{i}].{name}");
                    if let Some(unknown) = item
                        .as_object()
                        .and_then(|o| o.keys().find(|k| *k != "channel" && *k != "identity"))
                    {
                        return Err(EnvelopeError::new(field(unknown), "is not a channel identity field"));
                    }
                    let channel = item
                        .get("channel")
                        .and_then(Value::as_str)
                        .and_then(Channel::parse)
                        .ok_or_else(|| EnvelopeError::new(field("channel"), "must be a channel such as SMS"))?;
                    let identity = item
                        .get("identity")
                        .and_then(Value::as_str)
                        .filter(|s| !s.trim().is_empty())
                        .ok_or_else(|| EnvelopeError::new(field("identity"), "must be a non-empty string"))?;
                    Ok((channel, identity.to_owned()))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Recipient::ChannelIdentities)
        }
        Some(_) => Err(EnvelopeError::new("to", "must be an identity string or an object")),
    }
}

fn check_message_kind(message: &Map<String, Value>) -> Result<(), EnvelopeError> {
    match MESSAGE_KINDS.iter().filter(|k| message.contains_key(**k)).count() {
        1 => Ok(()),
        0 => Err(EnvelopeError::new(
            "message",
            format!("must hold one of {}", MESSAGE_KINDS.join(", ")),
        )),
        _ => Err(EnvelopeError::new("message", "must hold exactly one message kind")),
    }
}

fn parse_channel_properties(value: Option<&Value>) -> Result<BTreeMap<String, String>, EnvelopeError> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(BTreeMap::new());
    };
    let obj = value
        .as_object()
        .ok_or_else(|| EnvelopeError::new("channel_properties", "must be an object of strings"))?;
    obj.iter()
        .map(|(k, v)| match v {
            Value::String(s) if s.chars().count() <= 1024 => Ok((k.clone(), s.clone())),
            Value::String(_) => Err(EnvelopeError::new(
                format!("channel_properties.{k}"),
                "is longer than 1024 characters",
            )),
            _ => Err(EnvelopeError::new(
                format!("channel_properties.{k}"),
                "must be a string",
            )),
        })
        .collect()
}

/// Validates the pass-through options and returns them as they go into the request.
fn parse_options(map: &mut Map<String, Value>) -> Result<Map<String, Value>, EnvelopeError> {
    let mut out = Map::new();
    if let Some(v) = bounded_str(map, "correlation_id", 128)? {
        out.insert("correlation_id".into(), v);
    }
    if let Some(v) = bounded_str(map, "message_metadata", 1024)? {
        out.insert("message_metadata".into(), v);
    }
    if let Some(v) = bounded_str(map, "callback_url", 742)? {
        if !v
            .as_str()
            .is_some_and(|u| has_prefix_ignoring_case(u, "https://") || has_prefix_ignoring_case(u, "http://"))
        {
            return Err(EnvelopeError::new("callback_url", "must be an http(s) URL"));
        }
        out.insert("callback_url".into(), v);
    }
    if let Some(v) = remove_present(map, "conversation_metadata") {
        if !v.is_object() {
            return Err(EnvelopeError::new("conversation_metadata", "must be a JSON object"));
        }
        out.insert("conversation_metadata".into(), v);
    }
    if let Some(v) = remove_present(map, "channel_priority_order") {
        let valid = v.as_array().is_some_and(|order| {
            !order.is_empty() && order.iter().all(|c| c.as_str().and_then(Channel::parse).is_some())
        });
        if !valid {
            return Err(EnvelopeError::new(
                "channel_priority_order",
                "must be a non-empty array of channel names",
            ));
        }
        out.insert("channel_priority_order".into(), v);
    }
    if let Some(v) = remove_present(map, "ttl") {
        out.insert("ttl".into(), Value::String(parse_ttl(&v)?));
    }
    for (field, allowed) in [
        ("queue", &["NORMAL_PRIORITY", "HIGH_PRIORITY"][..]),
        ("processing_strategy", &["DEFAULT", "DISPATCH_ONLY"][..]),
    ] {
        if let Some(v) = remove_present(map, field) {
            if !v.as_str().is_some_and(|s| allowed.contains(&s)) {
                return Err(EnvelopeError::new(
                    field,
                    format!("must be one of {}", allowed.join(", ")),
                ));
            }
            out.insert(field.into(), v);
        }
    }
    Ok(out)
}

/// TTL in seconds as a number or as Sinch's `"<n>s"` string; Sinch's range is 1s..=10000 years.
fn parse_ttl(value: &Value) -> Result<String, EnvelopeError> {
    const MAX: u64 = 315_576_000_000;
    let seconds = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s
            .strip_suffix('s')
            .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse().ok()),
        _ => None,
    };
    match seconds {
        Some(n) if (1..=MAX).contains(&n) => Ok(format!("{n}s")),
        _ => Err(EnvelopeError::new(
            "ttl",
            "must be whole seconds, as 86400 or \"86400s\", between 1 and 315576000000",
        )),
    }
}

fn optional_str<'a>(map: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, EnvelopeError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s)),
        Some(Value::String(_)) => Err(EnvelopeError::new(field, "must not be empty")),
        Some(_) => Err(EnvelopeError::new(field, "must be a string")),
    }
}

fn bounded_str(map: &mut Map<String, Value>, field: &str, max: usize) -> Result<Option<Value>, EnvelopeError> {
    match map.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(Value::String(s))),
        Some(Value::String(_)) => Err(EnvelopeError::new(field, format!("is longer than {max} characters"))),
        Some(_) => Err(EnvelopeError::new(field, "must be a string")),
    }
}

/// An optional field's value; `null` counts as absent, as for every optional field.
fn remove_present(map: &mut Map<String, Value>, field: &str) -> Option<Value> {
    map.remove(field).filter(|v| !v.is_null())
}

fn has_prefix_ignoring_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

fn is_app_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}
