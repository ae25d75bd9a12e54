//! The outbound message format upstream systems put on the outbound queue, and its
//! translation into a Conversation API `SendMessageRequest`.
//!
//! Two shapes are accepted:
//! * the **envelope**: `from` (queue address) or `app_id` (+ `channel`), optional `service`,
//!   `to`, `message` (any AppMessage, passed through untouched) and optional send options;
//! * a **raw** `SendMessageRequest` (it has `recipient`), forwarded exactly as given.
//!
//! Every rejection names the field and says why; message content is never quoted.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::ser::{SerializeMap as _, Serializer};
use serde_json::{Map, Value};

use super::address::QueueAddress;
use super::channel::{Channel, SMS};
use super::service::{MessagingService, is_valid_service_name};

/// The nine AppMessage kinds; a message carries exactly one (OpenAPI `AppMessageTypes`).
pub const MESSAGE_KINDS: [&str; 9] = [
    "text_message",
    "media_message",
    "template_message",
    "choice_message",
    "card_message",
    "carousel_message",
    "location_message",
    "list_message",
    "contact_info_message",
];

pub const SMS_SENDER_PROPERTY: &str = "SMS_SENDER";

const ENVELOPE_FIELDS: [&str; 15] = [
    "from",
    "app_id",
    "channel",
    "service",
    "to",
    "message",
    "correlation_id",
    "message_metadata",
    "conversation_metadata",
    "channel_properties",
    "channel_priority_order",
    "ttl",
    "queue",
    "processing_strategy",
    "callback_url",
];

/// Which field is wrong and why. `code()` is stable for metrics and DLQ attributes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct EnvelopeError {
    pub field: String,
    pub problem: String,
}

impl EnvelopeError {
    fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }

    pub fn code(&self) -> &'static str {
        "invalid_envelope"
    }
}

/// Who receives the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// A bare phone number or channel identity, on the sender's channel.
    Identity(String),
    ContactId(String),
    /// `(channel, identity)` pairs, tried in order by Sinch.
    ChannelIdentities(Vec<(Channel, String)>),
}

/// A validated envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub app_id: String,
    pub channel: Option<Channel>,
    pub service: Option<String>,
    pub recipient: Recipient,
    message: Map<String, Value>,
    channel_properties: BTreeMap<String, String>,
    /// Validated send options copied into the request as given (ttl normalised).
    options: Map<String, Value>,
}

/// One outbound message, validated.
#[derive(Debug, Clone, PartialEq)]
pub enum OutboundMessage {
    Envelope(Envelope),
    Raw {
        app_id: String,
        request: Map<String, Value>,
    },
}

/// Parses and validates one outbound queue body.
pub fn parse_outbound(body: &[u8]) -> Result<OutboundMessage, EnvelopeError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        EnvelopeError::new(
            "(body)",
            format!("not valid JSON at line {} column {}", e.line(), e.column()),
        )
    })?;
    let Value::Object(map) = value else {
        return Err(EnvelopeError::new("(body)", "must be a JSON object"));
    };
    if map.contains_key("recipient") {
        parse_raw(map)
    } else {
        parse_envelope(map).map(OutboundMessage::Envelope)
    }
}

impl OutboundMessage {
    pub fn app_id(&self) -> &str {
        match self {
            OutboundMessage::Envelope(e) => &e.app_id,
            OutboundMessage::Raw { app_id, .. } => app_id,
        }
    }

    pub fn service(&self) -> Option<&str> {
        match self {
            OutboundMessage::Envelope(e) => e.service.as_deref(),
            OutboundMessage::Raw { .. } => None,
        }
    }

    /// The channel the message is addressed to, when one is known.
    pub fn channel(&self) -> Option<&str> {
        match self {
            OutboundMessage::Envelope(e) => e.channel.as_ref().map(Channel::as_str).or(match &e.recipient {
                Recipient::ChannelIdentities(ids) => ids.first().map(|(c, _)| c.as_str()),
                _ => None,
            }),
            OutboundMessage::Raw { request, .. } => request
                .get("channel_priority_order")
                .and_then(|v| v.get(0))
                .and_then(Value::as_str),
        }
    }

    pub fn correlation_id(&self) -> Option<&str> {
        let map = match self {
            OutboundMessage::Envelope(e) => &e.options,
            OutboundMessage::Raw { request, .. } => request,
        };
        map.get("correlation_id").and_then(Value::as_str)
    }

    /// The `messages:send` body. A raw request is returned unchanged; an envelope is
    /// translated and takes the service's defaults (the SMS sender).
    pub fn to_request<'a>(&'a self, service: Option<&'a MessagingService>) -> SendRequest<'a> {
        match self {
            OutboundMessage::Raw { request, .. } => SendRequest::Raw(request),
            OutboundMessage::Envelope(e) => e.to_request(service),
        }
    }
}

/// A `messages:send` body borrowed from the message it translates: serialised straight to
/// JSON, without building (and dropping) a copy of the message as a JSON tree on every send.
#[derive(Debug, Clone)]
pub enum SendRequest<'a> {
    Raw(&'a Map<String, Value>),
    Envelope {
        envelope: &'a Envelope,
        /// `channel_priority_order` pinned to the envelope's channel.
        pinned: Option<&'a str>,
        /// `SMS_SENDER` added from the service's defaults.
        sms_sender: Option<&'a str>,
    },
}

impl Envelope {
    fn to_request<'a>(&'a self, service: Option<&'a MessagingService>) -> SendRequest<'a> {
        // A queue address names the channel; with a contact id Sinch would otherwise pick any
        // of the contact's channels, so pin it unless the sender chose an order itself.
        let pinned = match (&self.channel, &self.recipient) {
            (Some(channel), Recipient::ContactId(_)) if !self.options.contains_key("channel_priority_order") => {
                Some(channel.as_str())
            }
            _ => None,
        };
        let sms_sender = if self.uses_sms() && !self.channel_properties.contains_key(SMS_SENDER_PROPERTY) {
            service.and_then(|s| s.sms_sender_for(&self.app_id))
        } else {
            None
        };
        SendRequest::Envelope {
            envelope: self,
            pinned,
            sms_sender,
        }
    }

    /// A pinned order only ever names the envelope's own channel, so `by_channel` covers it.
    fn uses_sms(&self) -> bool {
        let by_channel = self.channel.as_ref().is_some_and(Channel::is_sms);
        let by_identity =
            matches!(&self.recipient, Recipient::ChannelIdentities(ids) if ids.iter().any(|(c, _)| c.is_sms()));
        let by_order = self
            .options
            .get("channel_priority_order")
            .and_then(Value::as_array)
            .is_some_and(|order| order.iter().any(|c| c.as_str() == Some(SMS)));
        by_channel || by_identity || by_order
    }
}

impl Serialize for SendRequest<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (envelope, pinned, sms_sender) = match self {
            SendRequest::Raw(request) => return request.serialize(serializer),
            SendRequest::Envelope {
                envelope,
                pinned,
                sms_sender,
            } => (*envelope, *pinned, *sms_sender),
        };
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("app_id", &envelope.app_id)?;
        map.serialize_entry("recipient", &RecipientView(envelope))?;
        map.serialize_entry("message", &envelope.message)?;
        for (key, value) in &envelope.options {
            map.serialize_entry(key, value)?;
        }
        if let Some(channel) = pinned {
            map.serialize_entry("channel_priority_order", &[channel])?;
        }
        if !envelope.channel_properties.is_empty() || sms_sender.is_some() {
            let properties = PropertiesView {
                given: &envelope.channel_properties,
                sms_sender,
            };
            map.serialize_entry("channel_properties", &properties)?;
        }
        map.end()
    }
}

struct RecipientView<'a>(&'a Envelope);

impl Serialize for RecipientView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Contact<'a> {
            contact_id: &'a str,
        }
        #[derive(Serialize)]
        struct Identified<'a> {
            identified_by: Identities<'a>,
        }
        #[derive(Serialize)]
        struct Identities<'a> {
            channel_identities: Vec<Identity<'a>>,
        }
        #[derive(Serialize)]
        struct Identity<'a> {
            channel: &'a str,
            identity: &'a str,
        }
        let envelope = self.0;
        let channel_identities = match &envelope.recipient {
            Recipient::ContactId(id) => return Contact { contact_id: id }.serialize(serializer),
            Recipient::Identity(identity) => vec![Identity {
                channel: envelope.channel.as_ref().map(Channel::as_str).unwrap_or_default(),
                identity,
            }],
            Recipient::ChannelIdentities(ids) => ids
                .iter()
                .map(|(channel, identity)| Identity {
                    channel: channel.as_str(),
                    identity,
                })
                .collect(),
        };
        Identified {
            identified_by: Identities { channel_identities },
        }
        .serialize(serializer)
    }
}

struct PropertiesView<'a> {
    given: &'a BTreeMap<String, String>,
    sms_sender: Option<&'a str>,
}

impl Serialize for PropertiesView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in self.given {
            map.serialize_entry(key, value)?;
        }
        if let Some(sender) = self.sms_sender {
            map.serialize_entry(SMS_SENDER_PROPERTY, sender)?;
        }
        map.end()
    }
}

fn parse_raw(map: Map<String, Value>) -> Result<OutboundMessage, EnvelopeError> {
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

fn parse_envelope(mut map: Map<String, Value>) -> Result<Envelope, EnvelopeError> {
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
            let address: QueueAddress = from
                .parse()
                .map_err(|e: super::address::AddressError| EnvelopeError::new("from", e.to_string()))?;
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
                    Value::String(id) if !id.is_empty() => Ok(Recipient::ContactId(id.clone())),
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
                    let channel = item
                        .get("channel")
                        .and_then(Value::as_str)
                        .and_then(Channel::parse)
                        .ok_or_else(|| EnvelopeError::new(field("channel"), "must be a channel such as SMS"))?;
                    let identity = item
                        .get("identity")
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
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
    let Some(value) = value else {
        return Ok(BTreeMap::new());
    };
    let obj = value
        .as_object()
        .ok_or_else(|| EnvelopeError::new("channel_properties", "must be an object of strings"))?;
    obj.iter()
        .map(|(k, v)| match v {
            Value::String(s) if s.len() <= 1024 => Ok((k.clone(), s.clone())),
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
            .is_some_and(|u| u.starts_with("https://") || u.starts_with("http://"))
        {
            return Err(EnvelopeError::new("callback_url", "must be an http(s) URL"));
        }
        out.insert("callback_url".into(), v);
    }
    if let Some(v) = map.remove("conversation_metadata") {
        if !v.is_object() {
            return Err(EnvelopeError::new("conversation_metadata", "must be a JSON object"));
        }
        out.insert("conversation_metadata".into(), v);
    }
    if let Some(v) = map.remove("channel_priority_order") {
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
    if let Some(v) = map.remove("ttl") {
        out.insert("ttl".into(), Value::String(parse_ttl(&v)?));
    }
    for (field, allowed) in [
        ("queue", &["NORMAL_PRIORITY", "HIGH_PRIORITY"][..]),
        ("processing_strategy", &["DEFAULT", "DISPATCH_ONLY"][..]),
    ] {
        if let Some(v) = map.remove(field) {
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
        Some(Value::String(s)) if s.len() <= max => Ok(Some(Value::String(s))),
        Some(Value::String(_)) => Err(EnvelopeError::new(field, format!("is longer than {max} characters"))),
        Some(_) => Err(EnvelopeError::new(field, "must be a string")),
    }
}

fn is_app_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests;
