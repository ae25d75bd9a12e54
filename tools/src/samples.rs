//! A plausible callback body for any trigger, shaped like Sinch's own samples, for
//! `bridgectl webhook send --trigger` and the mock's delivery reports.

use serde_json::{Value, json};
use sinch_bridge::protocol::Trigger;

use crate::ulid;

/// A callback body for `trigger` from `app_id` in `project_id`.
pub fn callback(trigger: Trigger, app_id: &str, project_id: &str) -> Value {
    let id = ulid::generate();
    let conversation = ulid::generate();
    let contact = ulid::generate();
    let identity = json!({"channel": "WHATSAPP", "identity": "46732001122", "app_id": app_id});
    use Trigger::*;
    let payload = match trigger {
        MessageInbound | MessageInboundSmartConversationRedaction => json!({
            "id": id, "direction": "TO_APP", "contact_message": {"text_message": {"text": "Hello from the CLI"}},
            "channel_identity": identity, "conversation_id": conversation, "contact_id": contact,
            "metadata": "", "accept_time": now(), "processing_mode": "CONVERSATION"
        }),
        MessageDelivery => json!({
            "message_id": id, "conversation_id": conversation, "status": "DELIVERED", "channel_identity": identity,
            "contact_id": contact, "metadata": "", "processing_mode": "CONVERSATION"
        }),
        MessageSubmit => json!({
            "message_id": id, "conversation_id": conversation, "channel_identity": identity, "contact_id": contact,
            "submitted_message": {"text_message": {"text": "submitted"}}, "processing_mode": "CONVERSATION"
        }),
        EventInbound => json!({
            "id": id, "direction": "TO_APP", "contact_event": {"composing_event": {}}, "channel_identity": identity,
            "contact_id": contact, "conversation_id": conversation, "accept_time": now(), "processing_mode": "CONVERSATION"
        }),
        EventDelivery => json!({
            "event_id": id, "status": "DELIVERED", "channel_identity": identity, "contact_id": contact,
            "conversation_id": conversation, "processing_mode": "CONVERSATION"
        }),
        ConversationStart | ConversationStop | ConversationDelete => json!({
            "conversation": {"id": conversation, "app_id": app_id, "contact_id": contact, "active_channel": "WHATSAPP", "active": true}
        }),
        ContactCreate | ContactUpdate | ContactDelete => json!({
            "contact": {"id": contact, "channel_identities": [identity], "display_name": "Test Contact", "language": "EN_US"}
        }),
        ContactMerge => json!({"preserved_contact": {"id": contact}, "deleted_contact": {"id": ulid::generate()}}),
        ContactIdentitiesDuplication => {
            json!({"duplicated_identities": [{"channel": "SMS", "contact_ids": [contact, ulid::generate()]}]})
        }
        Capability => json!({
            "request_id": id, "contact_id": contact, "channel": "WHATSAPP", "identity": "46732001122",
            "capability_status": "CAPABILITY_FULL", "channel_capabilities": []
        }),
        OptIn => {
            json!({"request_id": id, "contact_id": contact, "channel": "WHATSAPP", "identity": "46732001122", "status": "OPT_IN_SUCCEEDED"})
        }
        OptOut => {
            json!({"request_id": id, "contact_id": contact, "channel": "WHATSAPP", "identity": "46732001122", "status": "OPT_OUT_SUCCEEDED"})
        }
        ChannelEvent => {
            json!({"channel_event": {"channel": "WHATSAPP", "event_type": "QUALITY_RATING_CHANGED", "additional_data": {}}})
        }
        Unsupported => json!({
            "channel": "MESSENGER", "payload": "{\"raw\":true}", "processing_mode": "CONVERSATION", "id": id,
            "contact_id": contact, "conversation_id": conversation, "channel_identity": identity
        }),
        SmartConversation => json!({
            "contact_id": contact, "channel_identity": "46732001122", "channel": "WHATSAPP", "message_id": id,
            "conversation_id": conversation, "analysis_results": {}
        }),
        RecordNotification => json!({
            "entity_id": id, "record_status": "RECORD_STATUS_COMPLETED", "channel_identity": identity,
            "contact_id": contact, "conversation_id": conversation, "processing_mode": "CONVERSATION"
        }),
        Unknown => json!({}),
    };
    let mut body = json!({"app_id": app_id, "accepted_time": now(), "event_time": now(), "project_id": project_id, "message_metadata": ""});
    if let Some(key) = trigger.payload_key() {
        body[key] = payload;
    }
    body
}

pub fn now() -> String {
    sinch_bridge::clock::rfc3339_millis(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_classifies_as_its_trigger() {
        for trigger in Trigger::ALL {
            let body = callback(trigger, "01EB37HMH1M6SV18ASNS3G135H", "p").to_string();
            let classified = sinch_bridge::protocol::classify(body.as_bytes()).map(|c| c.trigger);
            assert_eq!(classified, Ok(trigger));
        }
    }
}
