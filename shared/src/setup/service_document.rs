//! Editing a service secret's JSON as a document: the setup commands and the rotation change
//! only the fields they own (the webhook secret, the retired secrets, the webhook records, the
//! last rotation) and keep everything else as it is, so an edit by one never drops another's
//! state. Every result is checked by parsing it exactly as the functions will.

use serde_json::{Map, Value, json};

use crate::protocol::secret::SecretString;
use crate::protocol::service::{MessagingService, ServiceConfigError, WebhookRecord};
use crate::protocol::signature::WebhookSecret;

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceDocument {
    name: String,
    json: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("the service secret is not a JSON object")]
    NotAnObject,
    #[error("{0}")]
    Invalid(ServiceConfigError),
}

impl ServiceDocument {
    pub fn parse(name: &str, text: &SecretString) -> Result<(Self, MessagingService), DocumentError> {
        let service = MessagingService::from_json(name, text.expose().as_bytes()).map_err(DocumentError::Invalid)?;
        let Ok(Value::Object(json)) = serde_json::from_str::<Value>(text.expose()) else {
            return Err(DocumentError::NotAnObject);
        };
        Ok((
            Self {
                name: name.to_owned(),
                json,
            },
            service,
        ))
    }

    /// The document as the secret's value, checked by parsing it as the functions will.
    pub fn to_secret(&self) -> Result<(SecretString, MessagingService), DocumentError> {
        let text = Value::Object(self.json.clone()).to_string();
        let service = MessagingService::from_json(&self.name, text.as_bytes()).map_err(DocumentError::Invalid)?;
        Ok((SecretString::new(text), service))
    }

    pub fn webhook_secret(&self) -> Option<WebhookSecret> {
        self.json
            .get("webhook_secret")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(|s| WebhookSecret::new(SecretString::new(s)))
    }

    pub fn set_webhook_secret(&mut self, secret: &SecretString) {
        self.json
            .insert("webhook_secret".into(), Value::String(secret.expose().to_owned()));
    }

    /// Retires `secret` until `until` (Unix seconds), unless it is already retired for longer;
    /// drops retired secrets whose time is over at `now`.
    pub fn retire(&mut self, secret: &SecretString, until: i64, now: i64) {
        let mut list: Vec<Value> = self
            .json
            .get("retired_webhook_secrets")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        list.retain(|r| r["until"].as_i64().is_some_and(|u| u > now));
        match list.iter_mut().find(|r| r["secret"].as_str() == Some(secret.expose())) {
            Some(existing) if existing["until"].as_i64().is_some_and(|u| u >= until) => {}
            Some(existing) => existing["until"] = json!(until),
            None => list.push(json!({"secret": secret.expose(), "until": until})),
        }
        self.json.insert("retired_webhook_secrets".into(), Value::Array(list));
    }

    /// Forgets retired secrets whose time is over at `now` (and `secret`, if given: the one
    /// becoming current again must not also be "retired").
    pub fn prune_retired(&mut self, now: i64, also: Option<&SecretString>) {
        let Some(Value::Array(list)) = self.json.get_mut("retired_webhook_secrets") else {
            return;
        };
        list.retain(|r| {
            r["until"].as_i64().is_some_and(|u| u > now)
                && also.is_none_or(|s| r["secret"].as_str() != Some(s.expose()))
        });
        if list.is_empty() {
            self.json.remove("retired_webhook_secrets");
        }
    }

    /// Records the app's webhook (creating the app's entry if it has none).
    pub fn record_webhook(&mut self, app_id: &str, record: &WebhookRecord) {
        let apps = self.json.entry("apps").or_insert_with(|| Value::Object(Map::new()));
        if !apps.is_object() {
            *apps = Value::Object(Map::new());
        }
        let app = apps
            .as_object_mut()
            .map(|apps| apps.entry(app_id.to_owned()).or_insert_with(|| json!({})));
        if let Some(Value::Object(app)) = app {
            app.insert("webhook".into(), serde_json::to_value(record).unwrap_or(Value::Null));
        }
    }

    pub fn set_rotation(&mut self, token: &str, finished_at: i64) {
        self.json
            .insert("rotation".into(), json!({"token": token, "finished_at": finished_at}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(extra: &str) -> (ServiceDocument, MessagingService) {
        let text = format!(
            r#"{{"region":"eu","project_id":"P","key_id":"k","key_secret":"ks","webhook_secret":"cur","apps":{{"A1":{{"sms_sender":"X"}}}}{extra}}}"#
        );
        ServiceDocument::parse("svc", &SecretString::new(text)).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn edits_keep_every_field_they_do_not_own() {
        let (mut d, _) = doc(r#","sms_sender":"+1555""#);
        d.set_webhook_secret(&SecretString::new("new"));
        d.retire(&SecretString::new("cur"), 2000, 1000);
        d.record_webhook(
            "A1",
            &WebhookRecord {
                id: "w1".into(),
                target: "https://x/webhooks/svc".into(),
                secret_fingerprint: Some("fp".into()),
            },
        );
        d.set_rotation("tok", 1000);
        let (_, service) = d.to_secret().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(service.sms_sender.as_deref(), Some("+1555"));
        assert_eq!(service.apps["A1"].sms_sender.as_deref(), Some("X"));
        assert_eq!(service.apps["A1"].webhook.as_ref().map(|w| w.id.as_str()), Some("w1"));
        assert_eq!(
            service
                .webhook_secret
                .map(|w| w.secret().expose().to_owned())
                .as_deref(),
            Some("new")
        );
        assert_eq!(service.retired.len(), 1);
        assert_eq!(
            (service.retired[0].secret.secret().expose(), service.retired[0].until),
            ("cur", 2000)
        );
        assert_eq!(service.rotation.map(|r| r.token).as_deref(), Some("tok"));
    }

    #[test]
    fn retiring_never_shortens_a_grace_and_drops_what_has_ended() {
        let (mut d, _) =
            doc(r#","retired_webhook_secrets":[{"secret":"old","until":500},{"secret":"mid","until":3000}]"#);
        d.retire(&SecretString::new("mid"), 2000, 1000);
        d.retire(&SecretString::new("cur"), 4000, 1000);
        let (_, service) = d.to_secret().unwrap_or_else(|e| panic!("{e}"));
        let kept: Vec<(&str, i64)> = service
            .retired
            .iter()
            .map(|r| (r.secret.secret().expose(), r.until))
            .collect();
        assert_eq!(kept, vec![("mid", 3000), ("cur", 4000)]);
        d.prune_retired(3500, Some(&SecretString::new("cur")));
        let (_, service) = d.to_secret().unwrap_or_else(|e| panic!("{e}"));
        assert!(service.retired.is_empty());
    }
}
