//! Scheduled rotation of a service's webhook secret: Secrets Manager's four-step rotation
//! protocol, with Sinch's webhooks as the "database" whose credential changes.
//!
//! * `createSecret`: a new random `webhook_secret` in a copy of the current service secret,
//!   stored as `AWSPENDING` under the step's `ClientRequestToken`.
//! * `setSecret`: every webhook of the service's apps that targets this deployment gets the
//!   pending secret (PATCH `update_mask=secret`). From here Sinch signs with it; the ingest
//!   accepts `AWSPENDING`, so nothing is refused.
//! * `testSecret`: reads those webhooks back and checks they hold it.
//! * `finishSecret`: promotes the pending version to `AWSCURRENT`; the old one becomes
//!   `AWSPREVIOUS` and verifies Sinch's retries for the grace period.
//!
//! Every step is idempotent per token and safe to repeat or run again after a later step:
//! Secrets Manager retries failed steps. Apps with their own `webhook_secret` override are not
//! rotated (their secret is not the service's); the logs name them.

use std::sync::Arc;

use serde::Deserialize;

use crate::config::{Fallback, Kind, Setting, Source};
use crate::ports::{PortError, SecretAdmin, SinchClient, Stage};
use crate::protocol::secret::SecretString;
use crate::protocol::service::MessagingService;
use crate::setup::management::{ManagementEndpoints, ManagementError, Webhook};
use crate::setup::sync::same_target;

/// The event Secrets Manager invokes the function with.
#[derive(Debug, Clone, Deserialize)]
pub struct RotationEvent {
    #[serde(rename = "Step")]
    pub step: String,
    #[serde(rename = "SecretId")]
    pub secret_id: String,
    #[serde(rename = "ClientRequestToken")]
    pub token: String,
    #[serde(rename = "RotationToken", default)]
    pub rotation_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct RotationError {
    pub code: &'static str,
    pub detail: String,
}

impl RotationError {
    fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

impl From<PortError> for RotationError {
    fn from(e: PortError) -> Self {
        Self::new("secrets_manager", e.to_string())
    }
}

impl From<ManagementError> for RotationError {
    fn from(e: ManagementError) -> Self {
        Self::new("sinch", format!("{}: {e}", e.code()))
    }
}

/// What a step did, for the log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    Done(String),
    /// The token's version is already current: a repeated or late step.
    AlreadyFinished,
}

pub const WEBHOOK_BASE_URL: Setting = Setting {
    name: "WEBHOOK_BASE_URL",
    kind: Kind::Text,
    fallback: Fallback::Absent,
    doc: "the stack's `WebhookBaseUrl`; webhooks targeting `{base}{service}` are this deployment's (unset: any whose path ends in `/webhooks/{service}`)",
    source: Source::WebhookBase,
};

/// The rotation function's own settings; it also reads the secret prefix, the ingest's refresh
/// interval and the sender's Sinch endpoints (see `config::FUNCTIONS`).
pub const SETTINGS: [&Setting; 1] = [&WEBHOOK_BASE_URL];

/// The rotation function's settings.
#[derive(Debug, Clone)]
pub struct RotationConfig {
    /// `SERVICE_SECRET_PREFIX`: only secrets under it are rotated.
    pub prefix: String,
    /// [`WEBHOOK_BASE_URL`].
    pub webhook_base_url: Option<String>,
    /// How old the pending version must be before Sinch is switched to it: the ingest's
    /// `SECRET_REFRESH_MIN_INTERVAL_SECONDS` plus a margin for clocks.
    pub refresh_wait: std::time::Duration,
    /// `SINCH_AUTH_URL`.
    pub auth_url: String,
    /// `CONVERSATION_API_URL`.
    pub api_base_override: Option<String>,
}

/// Clock difference allowed between Secrets Manager's creation dates and the functions.
const REFRESH_MARGIN: std::time::Duration = std::time::Duration::from_secs(5);

impl RotationConfig {
    /// Refuses a bad value with an error naming the variable, like the other functions.
    pub fn from_env(env: &impl crate::config::Lookup) -> Result<Self, crate::config::ConfigError> {
        use crate::send::config::{CONVERSATION_API_URL, SINCH_AUTH_URL};
        use crate::service_cache::{SECRET_REFRESH_MIN_INTERVAL_SECONDS, SERVICE_SECRET_PREFIX};
        Ok(Self {
            prefix: SERVICE_SECRET_PREFIX.text(env)?,
            webhook_base_url: WEBHOOK_BASE_URL.optional(env),
            refresh_wait: SECRET_REFRESH_MIN_INTERVAL_SECONDS.duration(env)? + REFRESH_MARGIN,
            auth_url: SINCH_AUTH_URL.text(env)?,
            api_base_override: CONVERSATION_API_URL.optional(env),
        })
    }
}

pub struct Rotation<A, H> {
    secrets: A,
    sinch: Arc<ManagementEndpoints<H>>,
    config: RotationConfig,
    clock: Arc<dyn crate::clock::Clock>,
    new_secret: fn() -> Result<String, PortError>,
}

impl<A: SecretAdmin, H: SinchClient> Rotation<A, H> {
    pub fn new(
        secrets: A,
        sinch: Arc<ManagementEndpoints<H>>,
        config: RotationConfig,
        clock: Arc<dyn crate::clock::Clock>,
        new_secret: fn() -> Result<String, PortError>,
    ) -> Self {
        Self {
            secrets,
            sinch,
            config,
            clock,
            new_secret,
        }
    }

    pub async fn run(&self, event: &RotationEvent) -> Result<StepOutcome, RotationError> {
        let versions = self.secrets.describe(&event.secret_id).await?;
        let service = versions
            .name
            .strip_prefix(self.config.prefix.as_str())
            .filter(|s| crate::protocol::service::is_valid_service_name(s))
            .ok_or_else(|| {
                RotationError::new(
                    "not_a_service_secret",
                    format!("{} is not under {}", versions.name, self.config.prefix),
                )
            })?
            .to_owned();
        match versions.labels(&event.token) {
            Some(labels) if labels.iter().any(|l| l == Stage::Current.label()) => {
                return Ok(StepOutcome::AlreadyFinished);
            }
            Some(labels) if !labels.iter().any(|l| l == Stage::Pending.label()) => {
                return Err(RotationError::new(
                    "not_pending",
                    "the token's version is neither AWSPENDING nor AWSCURRENT",
                ));
            }
            // Secrets Manager lists the token before createSecret; a caller that did not is
            // served too (createSecret makes the version).
            None if event.step != "createSecret" => {
                return Err(RotationError::new(
                    "unknown_version",
                    "the secret has no version for this token",
                ));
            }
            _ => {}
        }
        match event.step.as_str() {
            "createSecret" => self.create(event, &versions, &service).await,
            "setSecret" => self.set(event, &versions, &service).await,
            "testSecret" => self.test(event, &versions, &service).await,
            "finishSecret" => self.finish(event, &versions).await,
            other => Err(RotationError::new("unknown_step", other.to_owned())),
        }
    }

    async fn create(
        &self,
        event: &RotationEvent,
        versions: &crate::ports::SecretVersions,
        service: &str,
    ) -> Result<StepOutcome, RotationError> {
        if self.secrets.value_of(&event.secret_id, &event.token).await?.is_some() {
            return Ok(StepOutcome::Done("pending version exists".into()));
        }
        let current_id = versions
            .version_at(Stage::Current)
            .ok_or_else(|| RotationError::new("no_current_version", "the secret has no AWSCURRENT version"))?;
        let (current, _) = self
            .secrets
            .value_of(&event.secret_id, current_id)
            .await?
            .ok_or_else(|| RotationError::new("no_current_value", "AWSCURRENT holds no string"))?;
        // Every rotated app must be reachable and have a webhook of ours before anything
        // changes: a rotation that stops half-way leaves apps signing with a pending secret.
        let service_now = MessagingService::from_json(service, current.expose().as_bytes())
            .map_err(|e| RotationError::new("invalid_service_secret", e.to_string()))?;
        let old = service_now
            .webhook_secret
            .as_ref()
            .map(|w| w.secret().expose().to_owned());
        self.ours(&service_now, &old.iter().map(String::as_str).collect::<Vec<_>>())
            .await?;
        let mut json: serde_json::Value = serde_json::from_str(current.expose())
            .map_err(|_| RotationError::new("invalid_service_secret", "AWSCURRENT is not JSON"))?;
        let secret = (self.new_secret)()?;
        let Some(object) = json.as_object_mut() else {
            return Err(RotationError::new(
                "invalid_service_secret",
                "AWSCURRENT is not a JSON object",
            ));
        };
        object.insert("webhook_secret".into(), serde_json::Value::String(secret));
        let value = SecretString::new(json.to_string());
        // The result must be a service the bridge can load, or the ingest would refuse it.
        MessagingService::from_json(service, value.expose().as_bytes())
            .map_err(|e| RotationError::new("invalid_service_secret", e.to_string()))?;
        self.secrets
            .put_pending(&event.secret_id, &event.token, &value, event.rotation_token.as_deref())
            .await?;
        Ok(StepOutcome::Done("pending version created".into()))
    }

    async fn pending(
        &self,
        event: &RotationEvent,
        service: &str,
    ) -> Result<(MessagingService, Option<i64>), RotationError> {
        let (value, created) = self
            .secrets
            .value_of(&event.secret_id, &event.token)
            .await?
            .ok_or_else(|| RotationError::new("no_pending_value", "createSecret has not run for this token"))?;
        let parsed = MessagingService::from_json(service, value.expose().as_bytes())
            .map_err(|e| RotationError::new("invalid_service_secret", e.to_string()))?;
        Ok((parsed, created))
    }

    /// The service's webhooks at Sinch, per rotated app: those that target this deployment or
    /// hold the current or pending secret (a custom domain in front of the API must not make
    /// them invisible). An app with none fails the step: promoting a secret Sinch does not
    /// sign with would refuse every callback once the grace ends. Apps with their own secret
    /// are not rotated.
    async fn ours(&self, service: &MessagingService, secrets: &[&str]) -> Result<Vec<Webhook>, RotationError> {
        let api = self.sinch.for_service(service);
        let mut found = Vec::new();
        for (app_id, settings) in &service.apps {
            if settings.webhook_secret.is_some() {
                tracing::warn!(service = %service.name, app_id, "app has its own webhook secret: not rotated");
                continue;
            }
            let webhooks = api
                .list_webhooks(app_id)
                .await
                .map_err(|e| RotationError::new("sinch", format!("app {app_id}: {}: {e}", e.code())))?;
            let before = found.len();
            found.extend(webhooks.into_iter().filter(|w| {
                self.is_ours(&w.target, &service.name)
                    || w.secret.as_ref().is_some_and(|s| secrets.contains(&s.expose()))
            }));
            if found.len() == before {
                return Err(RotationError::new(
                    "no_webhook",
                    format!("app {app_id} has no webhook of this service (bridgectl webhooks sync first)"),
                ));
            }
        }
        Ok(found)
    }

    fn is_ours(&self, target: &str, service: &str) -> bool {
        match &self.config.webhook_base_url {
            Some(base) => same_target(target, &crate::setup::sync::webhook_target(base, service)),
            None => target.trim_end_matches('/').ends_with(&format!("/webhooks/{service}")),
        }
    }

    /// The current version's webhook secret, to recognise the service's webhooks by it.
    async fn current_secret(
        &self,
        event: &RotationEvent,
        versions: &crate::ports::SecretVersions,
        service: &str,
    ) -> Result<Option<String>, RotationError> {
        let Some(id) = versions.version_at(Stage::Current) else {
            return Ok(None);
        };
        let Some((value, _)) = self.secrets.value_of(&event.secret_id, id).await? else {
            return Ok(None);
        };
        Ok(MessagingService::from_json(service, value.expose().as_bytes())
            .ok()
            .and_then(|s| s.webhook_secret.map(|w| w.secret().expose().to_owned())))
    }

    async fn set(
        &self,
        event: &RotationEvent,
        versions: &crate::ports::SecretVersions,
        service: &str,
    ) -> Result<StepOutcome, RotationError> {
        let (pending, created) = self.pending(event, service).await?;
        let secret = pending
            .webhook_secret
            .as_ref()
            .map(|s| s.secret().clone())
            .ok_or_else(|| RotationError::new("invalid_service_secret", "pending version has no webhook_secret"))?;
        let current = self.current_secret(event, versions, service).await?;
        let known: Vec<&str> = [Some(secret.expose()), current.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        let webhooks = self.ours(&pending, &known).await?;
        // An ingest environment reloads at most once per refresh interval after a mismatch.
        // Once the pending version is older than that, every environment either loaded it or
        // may reload now, so none refuses the first callback Sinch signs with it.
        let ready_at = created
            .unwrap_or(0)
            .saturating_add(i64::try_from(self.config.refresh_wait.as_secs()).unwrap_or(0));
        let wait = ready_at.saturating_sub(self.clock.unix_seconds());
        if wait > 0 {
            tokio::time::sleep(std::time::Duration::from_secs(wait.unsigned_abs())).await;
        }
        let api = self.sinch.for_service(&pending);
        let mut patched = 0;
        for webhook in &webhooks {
            if webhook.secret.as_ref().is_some_and(|s| s.expose() == secret.expose()) {
                continue;
            }
            let update = Webhook {
                secret: Some(secret.clone()),
                ..webhook.clone()
            };
            api.update_webhook(&update, &["secret"]).await.map_err(|e| {
                RotationError::new(
                    "sinch",
                    format!("webhook {}: {}: {}", webhook.id, e.code(), e.redacted(secret.expose())),
                )
            })?;
            patched += 1;
        }
        Ok(StepOutcome::Done(format!(
            "{patched} of {} webhook(s) patched",
            webhooks.len()
        )))
    }

    async fn test(
        &self,
        event: &RotationEvent,
        versions: &crate::ports::SecretVersions,
        service: &str,
    ) -> Result<StepOutcome, RotationError> {
        let (pending, _) = self.pending(event, service).await?;
        let secret = pending.webhook_secret.as_ref().map(|s| s.secret().expose().to_owned());
        let current = self.current_secret(event, versions, service).await?;
        let known: Vec<&str> = [secret.as_deref(), current.as_deref()].into_iter().flatten().collect();
        let webhooks = self.ours(&pending, &known).await?;
        let unreadable = webhooks.iter().filter(|w| w.secret.is_none()).count();
        if unreadable > 0 {
            // Sinch's reference does not say whether it returns secrets; without them the
            // setSecret answers (2xx) are what this rests on.
            tracing::warn!(
                service,
                unreadable,
                "Sinch returned webhooks without their secret: not verifiable"
            );
        }
        let stale = webhooks
            .iter()
            .filter(|w| w.secret.is_some() && w.secret.as_ref().map(|s| s.expose().to_owned()) != secret)
            .count();
        if stale > 0 {
            return Err(RotationError::new(
                "webhook_not_updated",
                format!(
                    "{stale} of {} webhook(s) do not hold the pending secret",
                    webhooks.len()
                ),
            ));
        }
        Ok(StepOutcome::Done(format!(
            "{} webhook(s) hold the pending secret",
            webhooks.len()
        )))
    }

    async fn finish(
        &self,
        event: &RotationEvent,
        versions: &crate::ports::SecretVersions,
    ) -> Result<StepOutcome, RotationError> {
        let current = versions
            .version_at(Stage::Current)
            .ok_or_else(|| RotationError::new("no_current_version", "the secret has no AWSCURRENT version"))?;
        // Someone changed the service (apps, key) since createSecret copied it: promoting the
        // copy would undo that. Fail, so the operator sees it (docs/operations.md).
        let without_webhook_secret = |value: Option<(SecretString, Option<i64>)>| {
            value
                .and_then(|(v, _)| serde_json::from_str::<serde_json::Value>(v.expose()).ok())
                .map(|mut json| {
                    if let Some(object) = json.as_object_mut() {
                        object.remove("webhook_secret");
                    }
                    json
                })
        };
        let now_current = without_webhook_secret(self.secrets.value_of(&event.secret_id, current).await?);
        let pending = without_webhook_secret(self.secrets.value_of(&event.secret_id, &event.token).await?);
        if now_current != pending {
            return Err(RotationError::new(
                "changed_during_rotation",
                "the current service secret changed after createSecret; start a new rotation",
            ));
        }
        self.secrets.promote(&event.secret_id, &event.token, current).await?;
        Ok(StepOutcome::Done("pending version promoted".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::map_env;

    #[test]
    fn settings_default_and_refuse_bad_values_naming_the_variable() {
        let config = RotationConfig::from_env(&map_env(&[])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.prefix, crate::service_cache::DEFAULT_SECRET_PREFIX);
        assert_eq!(config.refresh_wait, std::time::Duration::from_secs(35));
        assert_eq!(config.webhook_base_url, None);
        assert_eq!(config.auth_url, crate::send::DEFAULT_AUTH_URL);
        let bad = |pairs: &[(&str, &str)]| RotationConfig::from_env(&map_env(pairs)).err().map(|e| e.variable);
        assert_eq!(
            bad(&[("SECRET_REFRESH_MIN_INTERVAL_SECONDS", "soon")]),
            Some("SECRET_REFRESH_MIN_INTERVAL_SECONDS")
        );
        assert_eq!(
            bad(&[("SECRET_REFRESH_MIN_INTERVAL_SECONDS", "7200")]),
            Some("SECRET_REFRESH_MIN_INTERVAL_SECONDS"),
            "above its bound"
        );
        assert_eq!(bad(&[("WEBHOOK_BASE_URL", "https://x/webhooks/")]), None);
    }
}
