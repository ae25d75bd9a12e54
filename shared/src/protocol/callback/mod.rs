//! Conversation API callbacks: which trigger a body is, and the facts needed to route it.
//!
//! The trigger is not in the body; it is the one top-level payload key present (OpenAPI
//! `ConversationWebhookEvent`). Parsing is lenient by design: only `app_id` is required, enum
//! values are open strings, and a field of an unexpected shape is treated as absent. The body
//! itself is never re-serialised: callers forward the original bytes.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use sha2::{Digest, Sha256};

use super::lenient::{LenientObject, LenientString};

macro_rules! triggers {
    ($($variant:ident => $name:literal, $key:literal;)*) => {
        /// The 21 webhook triggers of the OpenAPI `WebhookTrigger` enum, plus `Unknown` for a
        /// body whose payload key we do not know (forwarded, never dropped).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Trigger { $($variant,)* Unknown }

        impl Trigger {
            pub const ALL: [Trigger; 21] = [$(Trigger::$variant,)*];

            pub fn as_str(&self) -> &'static str {
                match self { $(Trigger::$variant => $name,)* Trigger::Unknown => "UNKNOWN" }
            }

            /// The top-level key that carries this trigger's payload.
            pub fn payload_key(&self) -> Option<&'static str> {
                match self { $(Trigger::$variant => Some($key),)* Trigger::Unknown => None }
            }

            pub fn from_payload_key(key: &str) -> Option<Trigger> {
                match key { $($key => Some(Trigger::$variant),)* _ => None }
            }

            pub fn from_name(name: &str) -> Option<Trigger> {
                match name { $($name => Some(Trigger::$variant),)* "UNKNOWN" => Some(Trigger::Unknown), _ => None }
            }
        }
    };
}

triggers! {
    MessageInbound => "MESSAGE_INBOUND", "message";
    MessageDelivery => "MESSAGE_DELIVERY", "message_delivery_report";
    MessageSubmit => "MESSAGE_SUBMIT", "message_submit_notification";
    EventInbound => "EVENT_INBOUND", "event";
    EventDelivery => "EVENT_DELIVERY", "event_delivery_report";
    ConversationStart => "CONVERSATION_START", "conversation_start_notification";
    ConversationStop => "CONVERSATION_STOP", "conversation_stop_notification";
    ConversationDelete => "CONVERSATION_DELETE", "conversation_delete_notification";
    ContactCreate => "CONTACT_CREATE", "contact_create_notification";
    ContactDelete => "CONTACT_DELETE", "contact_delete_notification";
    ContactMerge => "CONTACT_MERGE", "contact_merge_notification";
    ContactUpdate => "CONTACT_UPDATE", "contact_update_notification";
    ContactIdentitiesDuplication => "CONTACT_IDENTITIES_DUPLICATION", "duplicated_contact_identities_notification";
    Capability => "CAPABILITY", "capability_notification";
    OptIn => "OPT_IN", "opt_in_notification";
    OptOut => "OPT_OUT", "opt_out_notification";
    ChannelEvent => "CHANNEL_EVENT", "channel_event_notification";
    Unsupported => "UNSUPPORTED", "unsupported_callback";
    SmartConversation => "SMART_CONVERSATION", "smart_conversation_notification";
    MessageInboundSmartConversationRedaction => "MESSAGE_INBOUND_SMART_CONVERSATION_REDACTION", "message_redaction";
    RecordNotification => "RECORD_NOTIFICATION", "record_notification";
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The routing facts of one callback. Every field but `app_id` may be absent; in Dispatch
/// mode Sinch sends empty conversation and contact ids, which are reported as `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    pub trigger: Trigger,
    pub app_id: String,
    pub project_id: Option<String>,
    pub accepted_time: Option<String>,
    pub event_time: Option<String>,
    pub correlation_id: Option<String>,
    /// The message, event, request or entity id this callback is about.
    pub event_id: Option<String>,
    /// Delivery status, opt-in/out status, capability status or record status.
    pub status: Option<String>,
    pub conversation_id: Option<String>,
    pub contact_id: Option<String>,
    pub channel: Option<String>,
    pub identity: Option<String>,
    pub processing_mode: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// The bytes are not JSON, or not a JSON object. Carries serde's position, never content.
    #[error("callback body is not a JSON object ({0})")]
    InvalidJson(String),
    #[error("callback body has no app_id")]
    MissingAppId,
}

impl CallbackError {
    pub fn code(&self) -> &'static str {
        match self {
            CallbackError::InvalidJson(_) => "invalid_json",
            CallbackError::MissingAppId => "missing_app_id",
        }
    }
}

/// Classifies a raw callback body.
pub fn classify(body: &[u8]) -> Result<Callback, CallbackError> {
    let raw: RawCallback = serde_json::from_slice(body).map_err(|e| {
        CallbackError::InvalidJson(format!("{:?} at line {} column {}", e.classify(), e.line(), e.column()))
    })?;
    raw.into_callback()
}

pub fn hex_sha256(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The envelope, read in one pass; the payload is whichever trigger key comes first.
#[derive(Default)]
struct RawCallback {
    app_id: Option<Option<String>>,
    project_id: Option<String>,
    accepted_time: Option<String>,
    event_time: Option<String>,
    correlation_id: Option<String>,
    trigger: Option<Trigger>,
    payload: Payload,
}

impl<'de> Deserialize<'de> for RawCallback {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawCallback;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a callback object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawCallback, A::Error> {
                let mut raw = RawCallback::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match key.as_ref() {
                        "app_id" => raw.app_id = Some(map.next_value::<LenientString>()?.0),
                        "project_id" => raw.project_id = map.next_value::<LenientString>()?.0,
                        "accepted_time" => raw.accepted_time = map.next_value::<LenientString>()?.0,
                        "event_time" => raw.event_time = map.next_value::<LenientString>()?.0,
                        "correlation_id" => raw.correlation_id = map.next_value::<LenientString>()?.0,
                        other => match Trigger::from_payload_key(other) {
                            Some(trigger) if raw.trigger.is_none() => {
                                raw.trigger = Some(trigger);
                                raw.payload = map.next_value::<LenientObject<Payload>>()?.0.unwrap_or_default();
                            }
                            _ => {
                                map.next_value::<IgnoredAny>()?;
                            }
                        },
                    }
                }
                Ok(raw)
            }
        }
        d.deserialize_map(V)
    }
}

/// The union of the payload fields we route on, across all trigger shapes.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Payload {
    id: LenientString,
    message_id: LenientString,
    event_id: LenientString,
    request_id: LenientString,
    entity_id: LenientString,
    status: LenientString,
    capability_status: LenientString,
    record_status: LenientString,
    conversation_id: LenientString,
    contact_id: LenientString,
    channel: LenientString,
    identity: LenientString,
    processing_mode: LenientString,
    channel_identity: ChannelIdentityField,
    conversation: LenientObject<Entity>,
    contact: LenientObject<Entity>,
    preserved_contact: LenientObject<Entity>,
    channel_event: LenientObject<Entity>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Entity {
    id: LenientString,
    contact_id: LenientString,
    active_channel: LenientString,
    channel: LenientString,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ChannelIdentity {
    channel: LenientString,
    identity: LenientString,
}

/// `channel_identity` is an object almost everywhere, but a plain string in
/// SMART_CONVERSATION (OpenAPI `SmartConversationNotification`).
#[derive(Default)]
struct ChannelIdentityField {
    channel: Option<String>,
    identity: Option<String>,
}

impl<'de> Deserialize<'de> for ChannelIdentityField {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ChannelIdentityField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a channel identity")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let ci = ChannelIdentity::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(ChannelIdentityField {
                    channel: ci.channel.0,
                    identity: ci.identity.0,
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(ChannelIdentityField {
                    channel: None,
                    identity: Some(v.to_owned()),
                })
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(ChannelIdentityField::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(ChannelIdentityField::default())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(ChannelIdentityField::default())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(ChannelIdentityField::default())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(ChannelIdentityField::default())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(ChannelIdentityField::default())
            }
        }
        d.deserialize_any(V)
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

impl RawCallback {
    fn into_callback(self) -> Result<Callback, CallbackError> {
        let app_id = self.app_id.ok_or(CallbackError::MissingAppId)?.unwrap_or_default();
        let trigger = self.trigger.unwrap_or(Trigger::Unknown);
        let p = self.payload;
        let conversation = p.conversation.0.unwrap_or_default();
        let contact = p.contact.0.unwrap_or_default();
        let preserved = p.preserved_contact.0.unwrap_or_default();
        let channel_event = p.channel_event.0.unwrap_or_default();

        let event_id = match trigger {
            Trigger::MessageInbound
            | Trigger::EventInbound
            | Trigger::Unsupported
            | Trigger::MessageInboundSmartConversationRedaction => p.id.0,
            Trigger::MessageDelivery | Trigger::MessageSubmit | Trigger::SmartConversation => p.message_id.0,
            Trigger::EventDelivery => p.event_id.0,
            Trigger::Capability | Trigger::OptIn | Trigger::OptOut => p.request_id.0,
            Trigger::RecordNotification => p.entity_id.0,
            Trigger::ConversationStart | Trigger::ConversationStop | Trigger::ConversationDelete => {
                conversation.id.0.clone()
            }
            Trigger::ContactCreate | Trigger::ContactDelete | Trigger::ContactUpdate => contact.id.0.clone(),
            Trigger::ContactMerge => preserved.id.0,
            Trigger::ContactIdentitiesDuplication | Trigger::ChannelEvent | Trigger::Unknown => None,
        };
        let status = p.status.0.or(p.capability_status.0).or(p.record_status.0);
        let conversation_id = non_empty(p.conversation_id.0).or_else(|| match trigger {
            Trigger::ConversationStart | Trigger::ConversationStop | Trigger::ConversationDelete => {
                non_empty(conversation.id.0.clone())
            }
            _ => None,
        });
        let contact_id = non_empty(p.contact_id.0)
            .or_else(|| non_empty(conversation.contact_id.0))
            .or_else(|| non_empty(contact.id.0));
        let channel = non_empty(p.channel_identity.channel)
            .or_else(|| non_empty(p.channel.0))
            .or_else(|| non_empty(channel_event.channel.0))
            .or_else(|| non_empty(conversation.active_channel.0));
        let identity = non_empty(p.channel_identity.identity).or_else(|| non_empty(p.identity.0));

        Ok(Callback {
            trigger,
            app_id,
            project_id: non_empty(self.project_id),
            accepted_time: non_empty(self.accepted_time),
            event_time: non_empty(self.event_time),
            correlation_id: non_empty(self.correlation_id),
            event_id: non_empty(event_id),
            status: non_empty(status),
            conversation_id,
            contact_id,
            channel,
            identity,
            processing_mode: non_empty(p.processing_mode.0),
        })
    }
}

#[cfg(test)]
mod tests;
