//! A registered webhook as Sinch models it (`Webhook` of the management API), how request
//! bodies and update masks change it, and Sinch's rules for it: `target` required, an absolute
//! http(s) URL of at most 742 characters, not on a `conversation-api.*.sinch.com` host, unique
//! per app; `target_type` `HTTP` or `DISMISS` (default `DISMISS`); triggers among the webhook triggers
//! `WebhookTrigger` names (`UNSPECIFIED_TRIGGER` refused); at most 5 webhooks per app (checked
//! by the caller, which holds the lock).
//!
//! Update masks: one comma-joined `update_mask` (what the Node, Java 1.x and .NET SDKs send),
//! repeated `update_mask`, repeated `update_mask.paths` (an older spec copy), or none (Java
//! 2.x), which replaces the fields present in the body. A masked field absent from the body is
//! cleared, as protobuf field masks do.

use serde_json::{Value, json};
use sinch_bridge::protocol::{SecretString, Trigger};

use super::MockWebhook;
use crate::ulid;

/// Sinch's limit on webhooks per app.
pub const MAX_WEBHOOKS_PER_APP: usize = 5;
/// Sinch's limit on a webhook's `target`, in characters.
pub const MAX_TARGET_CHARS: usize = 742;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetType {
    /// Events are sent to the target.
    Http,
    /// Events are not sent (the schema's default).
    Dismiss,
}

impl TargetType {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetType::Http => "HTTP",
            TargetType::Dismiss => "DISMISS",
        }
    }
}

/// A webhook registered with the mock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: String,
    pub app_id: String,
    pub target: String,
    pub target_type: TargetType,
    /// `None` (or empty in a request): callbacks go unsigned.
    pub secret: Option<SecretString>,
    pub triggers: Vec<String>,
    /// `ClientCredentials` as given (OAuth2 towards the target; the mock does not use it).
    pub client_credentials: Option<Value>,
}

/// A new ULID greater than `last`, so ids sort in creation order (as a monotonic ULID
/// generator makes them): a fresh one, or `last` plus one when the clock has not moved on.
pub(super) fn next_id(last: Option<&str>) -> String {
    let fresh = ulid::generate();
    let Some(last) = last.filter(|l| fresh.as_str() <= *l) else {
        return fresh;
    };
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut digits = last.as_bytes().to_vec();
    for digit in digits.iter_mut().rev() {
        match ALPHABET.iter().position(|a| a == digit) {
            Some(31) => *digit = ALPHABET[0],
            Some(n) => {
                *digit = ALPHABET[n + 1];
                break;
            }
            None => return fresh,
        }
    }
    String::from_utf8(digits).unwrap_or(fresh)
}

impl Webhook {
    pub(super) fn seeded(id: String, app_id: &str, seed: &MockWebhook) -> Self {
        Self {
            id,
            app_id: app_id.to_owned(),
            target: seed.target.clone(),
            target_type: TargetType::Http,
            secret: seed.secret.clone().filter(|s| !s.is_empty()),
            triggers: seed.triggers.clone(),
            client_credentials: None,
        }
    }

    fn empty(id: String, app_id: String) -> Self {
        Self {
            id,
            app_id,
            target: String::new(),
            target_type: TargetType::Dismiss,
            secret: None,
            triggers: Vec::new(),
            client_credentials: None,
        }
    }

    /// True when Sinch would send this trigger's events to the target.
    pub fn delivers(&self, trigger: Trigger) -> bool {
        self.target_type == TargetType::Http && self.triggers.iter().any(|t| t == trigger.as_str())
    }

    /// The webhook with its secret in full (what Sinch holds; for tests and logs never).
    pub fn to_json(&self) -> Value {
        self.render(|s| Some(s.expose().to_owned()))
    }

    /// The webhook as the API returns it under `mode` (`super::MockConfig::secret_reads`).
    pub fn to_json_as(&self, mode: super::SecretReads) -> Value {
        match mode {
            super::SecretReads::Full => self.to_json(),
            super::SecretReads::Masked => self.to_redacted_json(),
            super::SecretReads::Absent => self.render(|_| None),
        }
    }

    /// As [`Webhook::to_json`] with the secret shown as `"***"` (control endpoint, logs).
    pub fn to_redacted_json(&self) -> Value {
        self.render(|_| Some("***".to_owned()))
    }

    fn render(&self, secret: impl Fn(&SecretString) -> Option<String>) -> Value {
        let mut body = json!({
            "id": self.id,
            "app_id": self.app_id,
            "target": self.target,
            "target_type": self.target_type.as_str(),
            "triggers": self.triggers,
        });
        if let Some(shown) = self.secret.as_ref().and_then(secret) {
            body["secret"] = Value::String(shown);
        }
        if let Some(c) = &self.client_credentials {
            body["client_credentials"] = c.clone();
        }
        body
    }
}

/// A refusal: answered as `400 INVALID_ARGUMENT` with this message.
#[derive(Debug)]
pub(super) struct Invalid(pub String);

fn invalid<T>(message: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(message.into()))
}

/// The writable fields of a `Webhook` (`id` is read-only and ignored in requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    AppId,
    Target,
    TargetType,
    Secret,
    Triggers,
    ClientCredentials,
}

impl Field {
    fn from_name(name: &str) -> Option<Field> {
        Some(match name {
            "app_id" => Field::AppId,
            "target" => Field::Target,
            "target_type" => Field::TargetType,
            "secret" => Field::Secret,
            "triggers" => Field::Triggers,
            "client_credentials" => Field::ClientCredentials,
            _ => return None,
        })
    }
}

/// A request body: its fields type-checked; `present` lists those given (not null).
#[derive(Debug, Default)]
pub(super) struct Body {
    pub app_id: Option<String>,
    target: Option<String>,
    target_type: Option<TargetType>,
    secret: Option<String>,
    triggers: Option<Vec<String>>,
    client_credentials: Option<Value>,
    pub present: Vec<Field>,
}

fn string(value: &Value, name: &str) -> Result<String, Invalid> {
    match value {
        Value::String(s) => Ok(s.clone()),
        _ => invalid(format!("Invalid value for {name}: expected a string")),
    }
}

fn trigger(value: &Value) -> Result<String, Invalid> {
    let name = string(value, "triggers")?;
    if name == "UNSPECIFIED_TRIGGER" {
        return invalid("Invalid trigger UNSPECIFIED_TRIGGER: a webhook must name its triggers");
    }
    if !Trigger::ALL.iter().any(|t| t.as_str() == name) {
        return invalid(format!("Invalid value for triggers: unknown trigger {name:?}"));
    }
    Ok(name)
}

fn client_credentials(value: &Value) -> Result<Value, Invalid> {
    let Some(fields) = value.as_object() else {
        return invalid("Invalid value for client_credentials: expected an object");
    };
    for required in ["client_id", "client_secret", "endpoint"] {
        if !fields.get(required).is_some_and(Value::is_string) {
            return invalid(format!("client_credentials.{required} is required"));
        }
    }
    match fields.get("token_request_type").and_then(Value::as_str) {
        None | Some("BASIC" | "FORM") => Ok(value.clone()),
        Some(other) => invalid(format!(
            "Invalid value for client_credentials.token_request_type: {other:?}"
        )),
    }
}

/// Parses a create or update body: a JSON object of known `Webhook` fields.
pub(super) fn parse_body(text: &str) -> Result<Body, Invalid> {
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(text) else {
        return invalid("Request body must be a JSON object (Webhook)");
    };
    let mut body = Body::default();
    for (name, value) in fields.iter().filter(|(_, v)| !v.is_null()) {
        if name == "id" {
            continue;
        }
        let Some(field) = Field::from_name(name) else {
            return invalid(format!("Unknown field {name:?} in Webhook"));
        };
        match field {
            Field::AppId => body.app_id = Some(string(value, name)?),
            Field::Target => body.target = Some(string(value, name)?),
            Field::TargetType => {
                body.target_type = Some(match string(value, name)?.as_str() {
                    "HTTP" => TargetType::Http,
                    "DISMISS" => TargetType::Dismiss,
                    other => return invalid(format!("Invalid value for target_type: {other:?} (HTTP or DISMISS)")),
                });
            }
            Field::Secret => body.secret = Some(string(value, name)?),
            Field::Triggers => {
                let Some(items) = value.as_array() else {
                    return invalid("Invalid value for triggers: expected an array");
                };
                body.triggers = Some(items.iter().map(trigger).collect::<Result<_, _>>()?);
            }
            Field::ClientCredentials => body.client_credentials = Some(client_credentials(value)?),
        }
        body.present.push(field);
    }
    Ok(body)
}

/// The update mask of a PATCH query, `None` when it names none. Accepts `update_mask=a,b`,
/// `update_mask=a&update_mask=b` and `update_mask.paths=a&update_mask.paths=b`.
pub(super) fn update_mask(query: Option<&str>) -> Result<Option<Vec<Field>>, Invalid> {
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return Ok(None);
    };
    let Ok(url) = reqwest::Url::parse(&format!("http://mock/?{query}")) else {
        return invalid("Malformed query string");
    };
    let mut paths = Vec::new();
    for (key, value) in url.query_pairs() {
        if key != "update_mask" && key != "update_mask.paths" {
            continue;
        }
        for path in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match Field::from_name(path) {
                Some(field) if !paths.contains(&field) => paths.push(field),
                Some(_) => {}
                None => return invalid(format!("Invalid update_mask path {path:?}")),
            }
        }
    }
    Ok((!paths.is_empty()).then_some(paths))
}

/// Sets `fields` of `webhook` from `body`; a field absent from the body is cleared. The app
/// of an existing webhook cannot change.
fn apply(webhook: &mut Webhook, body: &Body, fields: &[Field]) -> Result<(), Invalid> {
    for field in fields {
        match field {
            Field::AppId => {
                if body.app_id.as_ref().is_some_and(|a| *a != webhook.app_id) {
                    return invalid("app_id of a webhook cannot be changed");
                }
            }
            Field::Target => webhook.target = body.target.clone().unwrap_or_default(),
            Field::TargetType => webhook.target_type = body.target_type.unwrap_or(TargetType::Dismiss),
            Field::Secret => {
                webhook.secret = body.secret.clone().filter(|s| !s.is_empty()).map(SecretString::new);
            }
            Field::Triggers => webhook.triggers = body.triggers.clone().unwrap_or_default(),
            Field::ClientCredentials => webhook.client_credentials = body.client_credentials.clone(),
        }
    }
    Ok(())
}

/// The `target` rules that need no other webhook.
fn check_target(target: &str) -> Result<(), Invalid> {
    if target.is_empty() {
        return invalid("target is required");
    }
    if target.chars().count() > MAX_TARGET_CHARS {
        return invalid(format!("target must be at most {MAX_TARGET_CHARS} characters"));
    }
    let url = reqwest::Url::parse(target).ok();
    let Some(host) = url
        .as_ref()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .and_then(|u| u.host_str())
    else {
        return invalid(format!("Invalid target {target:?}: must be an http or https URL"));
    };
    if host.starts_with("conversation-api.") && host.ends_with(".sinch.com") {
        return invalid(format!(
            "Invalid target host {host}: conversation-api.*.sinch.com subdomains are forbidden"
        ));
    }
    Ok(())
}

/// Checks `webhook` against the rules and the app's `others` (excluding itself).
fn check<'a>(webhook: &Webhook, mut others: impl Iterator<Item = &'a Webhook>) -> Result<(), Invalid> {
    check_target(&webhook.target)?;
    if others.any(|o| o.id != webhook.id && o.app_id == webhook.app_id && o.target == webhook.target) {
        return invalid(format!(
            "A webhook with target {} already exists for app {}",
            webhook.target, webhook.app_id
        ));
    }
    Ok(())
}

/// A new webhook for `app_id` from a create body, checked against `existing` (every webhook).
/// Fields absent from the body take their defaults (`target_type` `DISMISS`).
pub(super) fn create<'a>(
    app_id: &str,
    body: &Body,
    existing: impl Iterator<Item = &'a Webhook> + Clone,
) -> Result<Webhook, Invalid> {
    let count = existing.clone().filter(|w| w.app_id == app_id).count();
    if count >= MAX_WEBHOOKS_PER_APP {
        return invalid(format!(
            "App {app_id} already has the maximum of {MAX_WEBHOOKS_PER_APP} webhooks"
        ));
    }
    let last = existing.clone().map(|w| w.id.as_str()).max();
    let mut webhook = Webhook::empty(next_id(last), app_id.to_owned());
    let all = [
        Field::Target,
        Field::TargetType,
        Field::Secret,
        Field::Triggers,
        Field::ClientCredentials,
    ];
    apply(&mut webhook, body, &all)?;
    check(&webhook, existing)?;
    Ok(webhook)
}

/// `current` updated from a PATCH body and mask (`None`: the fields present in the body),
/// checked against `existing` (every webhook).
pub(super) fn update<'a>(
    current: &Webhook,
    body: &Body,
    mask: Option<&[Field]>,
    existing: impl Iterator<Item = &'a Webhook>,
) -> Result<Webhook, Invalid> {
    let mut webhook = current.clone();
    apply(&mut webhook, body, mask.unwrap_or(&body.present))?;
    check(&webhook, existing)?;
    Ok(webhook)
}

/// `{"webhooks":[…]}` for a list answer, secrets shown as `mode` says.
pub(super) fn list_json<'a>(webhooks: impl Iterator<Item = &'a Webhook>, mode: super::SecretReads) -> Value {
    let list: Vec<Value> = webhooks.map(|w| w.to_json_as(mode)).collect();
    json!({ "webhooks": list })
}
