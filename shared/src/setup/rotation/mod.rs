//! Scheduled rotation of a service's webhook secret: Secrets Manager's four-step rotation
//! protocol, with Sinch's webhooks as the "database" whose credential changes.
//!
//! * `createSecret`: a copy of the current service secret with a new random `webhook_secret`,
//!   stored as `AWSPENDING` under the step's token, once every rotated app is known to have a
//!   webhook of this deployment (nothing changes before that).
//! * `setSecret`: this deployment's webhooks (and only those: `webhooks::ours`) get the
//!   pending secret. From here Sinch signs with it; the ingest accepts `AWSPENDING` until its
//!   maximum age, so nothing is refused. Refused past that age: the ingest would not accept it.
//! * `testSecret`: reads the webhooks back. Sinch may not show secrets: a masked one is
//!   reported as unverifiable, never as wrong; where the nonce table keeps sightings, how many
//!   callbacks Sinch has signed with the new secret is logged. A quiet service never blocks.
//! * `finishSecret`: writes a new current version: the service as it is *now* (changes made
//!   during the rotation are kept), with the new secret, the old one retired until the grace
//!   counted from this moment, the webhooks' records updated, and the rotation noted; then takes
//!   `AWSPENDING` off the token's version. The grace is therefore explicit in the secret, counted
//!   from after Sinch switched, and no later edit moves it (ARCHITECTURE.md, "Secrets").
//!
//! Every step is idempotent per token and safe to repeat or to run after a later one: Secrets
//! Manager retries failed steps. [`cancel`] ends a rotation in any state. Apps with their own
//! `webhook_secret` override are not rotated (their secret is not the service's).

mod cancel;
mod steps;

pub use cancel::{CancelReport, cancel};

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::codes::codes;
use crate::config::{ConfigError, Fallback, Kind, Lookup, Setting, Source, Unit};
use crate::ports::{PortError, SecretAdmin, SightingReader};
use crate::setup::management::ManagementError;
use crate::setup::webhooks::WebhookAdmin;

/// A step of Secrets Manager's rotation protocol; anything else is refused when the event is
/// read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Step {
    #[serde(rename = "createSecret")]
    Create,
    #[serde(rename = "setSecret")]
    Set,
    #[serde(rename = "testSecret")]
    Test,
    #[serde(rename = "finishSecret")]
    Finish,
}

impl Step {
    pub fn as_str(&self) -> &'static str {
        match self {
            Step::Create => "createSecret",
            Step::Set => "setSecret",
            Step::Test => "testSecret",
            Step::Finish => "finishSecret",
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The event Secrets Manager invokes the function with.
#[derive(Debug, Clone, Deserialize)]
pub struct RotationEvent {
    #[serde(rename = "Step")]
    pub step: Step,
    #[serde(rename = "SecretId")]
    pub secret_id: String,
    #[serde(rename = "ClientRequestToken")]
    pub token: String,
    #[serde(rename = "RotationToken", default)]
    pub rotation_token: Option<String>,
}

codes! {
    /// Why a rotation step failed (the log line's `code`; Secrets Manager retries the step).
    RotationFailure {
        SecretsManager => "secrets_manager",
        Sinch => "sinch",
        NotAServiceSecret => "not_a_service_secret",
        NotPending => "not_pending",
        UnknownVersion => "unknown_version",
        NoCurrentVersion => "no_current_version",
        InvalidServiceSecret => "invalid_service_secret",
        NoPendingValue => "no_pending_value",
        NoWebhook => "no_webhook",
        SeveralWebhooks => "several_webhooks",
        WebhookNotUpdated => "webhook_not_updated",
        PendingExpired => "pending_expired",
        RandomUnavailable => "random_unavailable",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct RotationError {
    pub code: RotationFailure,
    pub detail: String,
}

impl RotationError {
    pub fn new(code: RotationFailure, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

impl From<PortError> for RotationError {
    fn from(e: PortError) -> Self {
        let code = if e.code == "random_unavailable" {
            RotationFailure::RandomUnavailable
        } else {
            RotationFailure::SecretsManager
        };
        Self::new(code, e.to_string())
    }
}

impl From<ManagementError> for RotationError {
    fn from(e: ManagementError) -> Self {
        Self::new(RotationFailure::Sinch, format!("{}: {e}", e.code()))
    }
}

/// What a step did, for the log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    Done(String),
    /// The token's rotation already finished: a repeated or late step.
    AlreadyFinished,
}

pub const WEBHOOK_BASE_URL: Setting = Setting {
    name: "WEBHOOK_BASE_URL",
    kind: Kind::Text,
    fallback: Fallback::Absent,
    doc: "the stack's `WebhookBaseUrl`; without a recorded webhook, one targeting `{base}{service}` is this deployment's (unset: any whose path ends in `/webhooks/{service}`)",
    source: Source::WebhookBase,
};
pub const PREVIOUS_SECRET_GRACE_SECONDS: Setting = Setting {
    name: "PREVIOUS_SECRET_GRACE_SECONDS",
    kind: Kind::Number {
        unit: Unit::Seconds,
        min: 0,
        max: 1_209_600,
    },
    fallback: Fallback::Derived("3600, or the signature window when longer"),
    doc: "how long a rotated-out secret still verifies, counted from finishSecret (after Sinch switched); at least the signature window. The template leaves it to its default",
    source: Source::Unset,
};

/// The rotation function's own settings; it also reads the ingest's window and trust settings
/// and the sender's Sinch endpoints, to agree with them (see `config::FUNCTIONS`).
pub const SETTINGS: [&Setting; 2] = [&WEBHOOK_BASE_URL, &PREVIOUS_SECRET_GRACE_SECONDS];

/// The shortest grace when the signature window is shorter.
pub const MIN_GRACE: Duration = Duration::from_secs(3600);

/// The rotation function's settings.
#[derive(Debug, Clone)]
pub struct RotationConfig {
    /// `SERVICE_SECRET_PREFIX`: only secrets under it are rotated.
    pub prefix: String,
    /// [`WEBHOOK_BASE_URL`].
    pub webhook_base_url: Option<String>,
    /// How old the pending version must be before Sinch is switched to it: the ingest's
    /// `SECRET_REFRESH_MIN_INTERVAL_SECONDS` plus a margin for clocks.
    pub refresh_wait: Duration,
    /// [`PREVIOUS_SECRET_GRACE_SECONDS`].
    pub grace: Duration,
    /// `PENDING_SECRET_MAX_AGE_SECONDS`: the ingest's, so `setSecret` never switches Sinch to
    /// a secret the ingest no longer accepts.
    pub pending_max_age: Duration,
    /// `SINCH_AUTH_URL`.
    pub auth_url: String,
    /// `CONVERSATION_API_URL`.
    pub api_base_override: Option<String>,
    /// `NONCE_TABLE_NAME`: where the ingest records which secret Sinch signs with.
    pub sightings_table: Option<String>,
}

/// Clock difference allowed between Secrets Manager's creation dates and the functions.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5);

impl RotationConfig {
    /// Refuses a bad value with an error naming the variable, like the other functions; a
    /// grace shorter than the signature window names both.
    pub fn from_env(env: &impl Lookup) -> Result<Self, ConfigError> {
        use crate::ingest::config::{NONCE_TABLE_NAME, signature_window};
        use crate::send::config::{CONVERSATION_API_URL, SINCH_AUTH_URL};
        use crate::service_cache::{
            PENDING_SECRET_MAX_AGE_SECONDS, SECRET_REFRESH_MIN_INTERVAL_SECONDS, SERVICE_SECRET_PREFIX,
        };
        let window = Duration::from_secs(signature_window(env)?);
        let grace = PREVIOUS_SECRET_GRACE_SECONDS.duration_or(env, MIN_GRACE.max(window))?;
        if grace < window {
            return Err(ConfigError::new(
                PREVIOUS_SECRET_GRACE_SECONDS.name,
                format!(
                    "must be at least SIGNATURE_TOLERANCE_SECONDS ({} s): a retry Sinch signed before the switch must still verify",
                    window.as_secs()
                ),
            ));
        }
        Ok(Self {
            prefix: SERVICE_SECRET_PREFIX.text(env)?,
            webhook_base_url: WEBHOOK_BASE_URL.optional(env),
            refresh_wait: SECRET_REFRESH_MIN_INTERVAL_SECONDS.duration(env)? + REFRESH_MARGIN,
            grace,
            pending_max_age: PENDING_SECRET_MAX_AGE_SECONDS.duration(env)?,
            auth_url: SINCH_AUTH_URL.text(env)?,
            api_base_override: CONVERSATION_API_URL.optional(env),
            sightings_table: NONCE_TABLE_NAME.optional(env),
        })
    }
}

/// The four steps over a secret store `A`, Sinch's webhooks `W` and, where the nonce table
/// exists, the sightings `R` the ingest records.
pub struct Rotation<A, W, R> {
    secrets: A,
    webhooks: Arc<W>,
    sightings: Option<R>,
    config: RotationConfig,
    clock: Arc<dyn crate::clock::Clock>,
    new_secret: fn() -> Result<String, PortError>,
}

impl<A: SecretAdmin, W: WebhookAdmin, R: SightingReader> Rotation<A, W, R> {
    pub fn new(
        secrets: A,
        webhooks: Arc<W>,
        sightings: Option<R>,
        config: RotationConfig,
        clock: Arc<dyn crate::clock::Clock>,
        new_secret: fn() -> Result<String, PortError>,
    ) -> Self {
        Self {
            secrets,
            webhooks,
            sightings,
            config,
            clock,
            new_secret,
        }
    }

    pub fn config(&self) -> &RotationConfig {
        &self.config
    }

    pub async fn run(&self, event: &RotationEvent) -> Result<StepOutcome, RotationError> {
        let versions = self.secrets.describe(&event.secret_id).await?;
        let service = versions
            .name
            .strip_prefix(self.config.prefix.as_str())
            .filter(|s| crate::protocol::service::is_valid_service_name(s))
            .ok_or_else(|| {
                RotationError::new(
                    RotationFailure::NotAServiceSecret,
                    format!("{} is not under {}", versions.name, self.config.prefix),
                )
            })?
            .to_owned();
        let current = steps::Current::read(&self.secrets, &event.secret_id, &versions, &service).await?;
        if current.finished(&event.token) {
            // Finished (and the token's version has lost its labels): any step is a no-op,
            // but a label a failed finish left behind still goes.
            self.drop_pending_label(event, &versions).await?;
            return Ok(StepOutcome::AlreadyFinished);
        }
        match versions.labels(&event.token) {
            Some(labels) if labels.iter().any(|l| l == crate::ports::Stage::Current.label()) => {
                self.drop_pending_label(event, &versions).await?;
                return Ok(StepOutcome::AlreadyFinished);
            }
            Some(labels) if !labels.iter().any(|l| l == crate::ports::Stage::Pending.label()) => {
                return Err(RotationError::new(
                    RotationFailure::NotPending,
                    "the token's version is neither AWSPENDING nor AWSCURRENT (cancelled?)",
                ));
            }
            // Secrets Manager lists the token before createSecret; a caller that did not is
            // served too (createSecret makes the version).
            None if event.step != Step::Create => {
                return Err(RotationError::new(
                    RotationFailure::UnknownVersion,
                    "the secret has no labelled version for this token",
                ));
            }
            _ => {}
        }
        match event.step {
            Step::Create => self.create(event, &current).await,
            Step::Set => self.set(event, &service).await,
            Step::Test => self.test(event, &service).await,
            Step::Finish => self.finish(event, &versions, current).await,
        }
    }

    /// Takes `AWSPENDING` off the token's version if it still has it (a finish that wrote the
    /// new version but failed before this).
    async fn drop_pending_label(
        &self,
        event: &RotationEvent,
        versions: &crate::ports::SecretVersions,
    ) -> Result<(), RotationError> {
        if versions.version_at(crate::ports::Stage::Pending) == Some(event.token.as_str()) {
            self.secrets
                .remove_label(&event.secret_id, crate::ports::Stage::Pending, &event.token)
                .await?;
        }
        Ok(())
    }

    fn deployment<'a>(&'a self, service: &'a str) -> crate::setup::webhooks::Deployment<'a> {
        crate::setup::webhooks::Deployment {
            base_url: self.config.webhook_base_url.as_deref(),
            service,
        }
    }
}

#[cfg(test)]
mod tests;
