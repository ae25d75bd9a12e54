//! Messaging services: one Sinch project + region + apps, stored as one JSON secret.
//!
//! ```json
//! {
//!   "region": "eu",
//!   "project_id": "PROJECT",
//!   "key_id": "KEY", "key_secret": "SECRET", "auth": "oauth2",
//!   "webhook_secret": "WEBHOOK SECRET",
//!   "sms_sender": "+15550001111",
//!   "apps": { "APPID": { "webhook_secret": "override", "sms_sender": "SENDER",
//!                        "webhook": { "id": "WEBHOOK ID", "target": "https://…/webhooks/S",
//!                                     "secret_fingerprint": "0123456789abcdef" } } },
//!   "allow_unsigned_webhooks": false,
//!   "retired_webhook_secrets": [ { "secret": "OLD SECRET", "until": 1767225600 } ],
//!   "rotation": { "token": "…", "finished_at": 1767139200 }
//! }
//! ```
//! Contact Pro's packed credential (`"authentication_id": "KEYID@APPID"`, `"password"`) is
//! accepted instead of `key_id`/`key_secret`; its app joins `apps`. Validation errors name the
//! field and never quote a value.
//!
//! The last three are state the bridge keeps, not configuration: which webhook at Sinch is this
//! deployment's (written by `webhooks sync` and the rotation, so they change only those), the
//! secrets a rotation retired with the end of their grace (so the trust window is explicit
//! and no later edit of the service moves it), and the last rotation that finished.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::region::Region;
use super::secret::SecretString;
use super::signature::WebhookSecret;

/// How the sender authenticates to the Conversation API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// OAuth2 client credentials: the default, and what Sinch recommends.
    OAuth2,
    /// HTTP Basic with the access key on every call (heavily rate limited by Sinch).
    Basic,
}

/// Per-app settings inside a service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppSettings {
    pub webhook_secret: Option<WebhookSecret>,
    pub sms_sender: Option<String>,
    /// The webhook this deployment registered for the app, as `webhooks sync` recorded it.
    pub webhook: Option<WebhookRecord>,
}

/// A webhook at Sinch that belongs to this deployment: its id and the target it was given,
/// and the fingerprint of the secret last set on it (Sinch does not show secrets back).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookRecord {
    pub id: String,
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_fingerprint: Option<String>,
}

/// A webhook secret a rotation replaced, valid for callbacks until `until` (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetiredSecret {
    pub secret: WebhookSecret,
    pub until: i64,
}

/// The last rotation that finished: its `ClientRequestToken` and when.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RotationRecord {
    pub token: String,
    pub finished_at: i64,
}

/// A validated messaging service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagingService {
    pub name: String,
    pub region: Region,
    pub project_id: String,
    pub key_id: String,
    pub key_secret: SecretString,
    pub auth: AuthMode,
    pub webhook_secret: Option<WebhookSecret>,
    pub sms_sender: Option<String>,
    pub apps: BTreeMap<String, AppSettings>,
    pub allow_unsigned_webhooks: bool,
    /// Service-wide webhook secrets a rotation retired, each until the end of its grace.
    pub retired: Vec<RetiredSecret>,
    pub rotation: Option<RotationRecord>,
}

/// A field-level validation error. `field` is a JSON path such as `apps.X.webhook_secret`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("service {service:?}: {field}: {problem}")]
pub struct ServiceConfigError {
    pub service: String,
    pub field: String,
    pub problem: &'static str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    region: Option<String>,
    project_id: Option<String>,
    key_id: Option<String>,
    key_secret: Option<SecretString>,
    authentication_id: Option<String>,
    password: Option<SecretString>,
    auth: Option<String>,
    webhook_secret: Option<SecretString>,
    sms_sender: Option<String>,
    #[serde(default)]
    apps: BTreeMap<String, RawApp>,
    #[serde(default)]
    allow_unsigned_webhooks: bool,
    #[serde(default)]
    retired_webhook_secrets: Vec<RawRetired>,
    rotation: Option<RotationRecord>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawApp {
    webhook_secret: Option<SecretString>,
    sms_sender: Option<String>,
    webhook: Option<WebhookRecord>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetired {
    secret: SecretString,
    until: i64,
}

/// Builds the errors of one service's parse: the field is named, a value never quoted.
#[derive(Clone, Copy)]
struct Fail<'a>(&'a str);

impl Fail<'_> {
    fn at(self, field: &str, problem: &'static str) -> ServiceConfigError {
        ServiceConfigError {
            service: self.0.to_owned(),
            field: field.to_owned(),
            problem,
        }
    }
}

impl RawService {
    fn parse(json: &[u8], fail: Fail<'_>) -> Result<Self, ServiceConfigError> {
        serde_json::from_slice(json).map_err(|e| {
            // serde's message names unknown or mistyped fields; it quotes no secret values
            // because secrets are plain strings and type errors print only the type.
            if e.is_data() {
                fail.at("(document)", "unknown field or wrong type")
            } else {
                fail.at("(json)", "not valid JSON")
            }
        })
    }

    /// The access key, from `key_id`/`key_secret` or Contact Pro's packed
    /// `authentication_id`/`password` (whose app is returned too, to join `apps`).
    #[allow(clippy::type_complexity)]
    fn credentials(&mut self, fail: Fail<'_>) -> Result<(String, SecretString, Option<String>), ServiceConfigError> {
        let (key_id, key_secret, packed_app) = match (
            self.key_id.take(),
            self.key_secret.take(),
            self.authentication_id.take(),
            self.password.take(),
        ) {
            (Some(id), Some(secret), None, None) => (id, secret, None),
            (None, None, Some(packed), Some(password)) => {
                let (key, app) = packed
                    .split_once('@')
                    .ok_or_else(|| fail.at("authentication_id", "must be KEYID@APPID"))?;
                if key.is_empty() || !is_id(app) {
                    return Err(fail.at("authentication_id", "must be KEYID@APPID"));
                }
                (key.to_owned(), password, Some(app.to_owned()))
            }
            (None, None, None, None) => {
                return Err(fail.at("key_id", "is required (or authentication_id + password)"));
            }
            (Some(_), None, _, _) => return Err(fail.at("key_secret", "is required with key_id")),
            (None, Some(_), _, _) => return Err(fail.at("key_id", "is required with key_secret")),
            (None, None, Some(_), None) => return Err(fail.at("password", "is required with authentication_id")),
            (None, None, None, Some(_)) => return Err(fail.at("authentication_id", "is required with password")),
            _ => {
                return Err(fail.at(
                    "authentication_id",
                    "give either key_id/key_secret or authentication_id/password, not both",
                ));
            }
        };
        if key_id.is_empty() || !key_id.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            return Err(fail.at("key_id", "must be non-empty printable ASCII without ':'"));
        }
        if key_secret.is_empty() {
            return Err(fail.at("key_secret", "must not be empty"));
        }
        Ok((key_id, key_secret, packed_app))
    }

    fn apps(
        apps: BTreeMap<String, RawApp>,
        packed_app: Option<String>,
        fail: Fail<'_>,
    ) -> Result<BTreeMap<String, AppSettings>, ServiceConfigError> {
        let mut out: BTreeMap<String, AppSettings> = BTreeMap::new();
        if let Some(app) = packed_app {
            out.entry(app).or_default();
        }
        for (app_id, app) in apps {
            if !is_id(&app_id) {
                return Err(fail.at("apps", "app ids must be letters and digits"));
            }
            if app.webhook_secret.as_ref().is_some_and(SecretString::is_empty) {
                return Err(fail.at(&format!("apps.{app_id}.webhook_secret"), "must not be empty"));
            }
            out.insert(
                app_id,
                AppSettings {
                    webhook_secret: app.webhook_secret.map(WebhookSecret::new),
                    sms_sender: app.sms_sender,
                    webhook: app.webhook,
                },
            );
        }
        Ok(out)
    }
}

impl MessagingService {
    /// Parses the secret JSON of service `name`.
    pub fn from_json(name: &str, json: &[u8]) -> Result<Self, ServiceConfigError> {
        let fail = Fail(name);
        let mut raw = RawService::parse(json, fail)?;
        let region = raw
            .region
            .as_deref()
            .ok_or_else(|| fail.at("region", "is required (eu, us or br)"))?
            .parse::<Region>()
            .map_err(|_| fail.at("region", "must be eu, us or br"))?;
        let project_id = raw
            .project_id
            .take()
            .ok_or_else(|| fail.at("project_id", "is required"))?;
        if !is_id(&project_id) {
            return Err(fail.at("project_id", "must be letters, digits, '-' or '_'"));
        }
        let (key_id, key_secret, packed_app) = raw.credentials(fail)?;
        let auth = match raw.auth.as_deref() {
            None | Some("oauth2") => AuthMode::OAuth2,
            Some("basic") => AuthMode::Basic,
            Some(_) => return Err(fail.at("auth", "must be oauth2 or basic")),
        };
        let apps = RawService::apps(std::mem::take(&mut raw.apps), packed_app, fail)?;
        let webhook_secret = raw
            .webhook_secret
            .take()
            .filter(|s| !s.is_empty())
            .map(WebhookSecret::new);
        if raw.retired_webhook_secrets.iter().any(|r| r.secret.is_empty()) {
            return Err(fail.at("retired_webhook_secrets", "a secret must not be empty"));
        }
        let retired = std::mem::take(&mut raw.retired_webhook_secrets)
            .into_iter()
            .map(|r| RetiredSecret {
                secret: WebhookSecret::new(r.secret),
                until: r.until,
            })
            .collect();
        if webhook_secret.is_none() && !raw.allow_unsigned_webhooks && apps.values().all(|a| a.webhook_secret.is_none())
        {
            return Err(fail.at("webhook_secret", "is required unless allow_unsigned_webhooks is true"));
        }
        Ok(Self {
            name: name.to_owned(),
            region,
            project_id,
            key_id,
            key_secret,
            auth,
            webhook_secret,
            sms_sender: raw.sms_sender.filter(|s| !s.is_empty()),
            apps,
            allow_unsigned_webhooks: raw.allow_unsigned_webhooks,
            retired,
            rotation: raw.rotation,
        })
    }

    /// The webhook secret for a callback from `app_id`: the app's override, else the service's.
    pub fn webhook_secret_for(&self, app_id: &str) -> Option<&WebhookSecret> {
        self.apps
            .get(app_id)
            .and_then(|a| a.webhook_secret.as_ref())
            .or(self.webhook_secret.as_ref())
    }

    /// The default SMS sender for `app_id`: the app's, else the service's.
    pub fn sms_sender_for(&self, app_id: &str) -> Option<&str> {
        self.apps
            .get(app_id)
            .and_then(|a| a.sms_sender.as_deref())
            .or(self.sms_sender.as_deref())
    }

    pub fn has_app(&self, app_id: &str) -> bool {
        self.apps.contains_key(app_id)
    }
}

/// Ids that go into URLs and queue metadata: ASCII letters, digits, `-`, `_`.
fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Service names as they appear in paths and secret names.
pub fn is_valid_service_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
}

#[cfg(test)]
mod tests;
