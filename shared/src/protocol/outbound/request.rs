//! The `messages:send` body an outbound message becomes: a raw request as given, or an
//! envelope translated with the service's defaults (the pinned channel, the SMS sender),
//! serialised straight from borrowed parts.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::ser::{SerializeMap as _, Serializer};
use serde_json::{Map, Value};

use super::{Envelope, Recipient, SMS_SENDER_PROPERTY};
use crate::protocol::channel::{Channel, SMS};
use crate::protocol::service::MessagingService;

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
    pub(super) fn to_request<'a>(&'a self, service: Option<&'a MessagingService>) -> SendRequest<'a> {
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
