//! The outbound message format upstream systems put on the outbound queue, and its
//! translation into a Conversation API `SendMessageRequest`.
//!
//! Two shapes are accepted:
//! * the **envelope**: `from` (queue address) or `app_id` (+ `channel`), optional `service`,
//!   `to`, `message` (any AppMessage, passed through untouched) and optional send options;
//! * a **raw** `SendMessageRequest` (it has `recipient`), forwarded exactly as given.
//!
//! Every rejection names the field and says why; message content is never quoted. This file
//! holds the types; `parse.rs` decides what is valid, `request.rs` what goes to Sinch.

mod parse;
mod request;

pub use request::SendRequest;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::channel::Channel;
use super::service::MessagingService;

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
    pub(crate) fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
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
    if body.is_empty() {
        return Err(EnvelopeError::new("(body)", "is empty"));
    }
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
        parse::raw(map)
    } else {
        parse::envelope(map).map(OutboundMessage::Envelope)
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

#[cfg(test)]
mod tests;
