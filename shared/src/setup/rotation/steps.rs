//! The four steps. Each reads what it needs afresh (Secrets Manager retries steps, possibly
//! hours apart), changes only this deployment's webhooks, and is idempotent per token.

use std::time::Duration;

use super::{Rotation, RotationError, RotationEvent, RotationFailure, StepOutcome};
use crate::ports::{SecretAdmin, SecretVersions, SightingReader, Stage};
use crate::protocol::secret::SecretString;
use crate::protocol::service::{MessagingService, WebhookRecord};
use crate::setup::management::Webhook;
use crate::setup::service_document::ServiceDocument;
use crate::setup::webhooks::{Ours, SecretReading, WebhookAdmin, ours};

/// The current version, read and parsed.
pub(super) struct Current {
    pub document: ServiceDocument,
    pub service: MessagingService,
}

impl Current {
    pub(super) async fn read<A: SecretAdmin>(
        secrets: &A,
        secret_id: &str,
        versions: &SecretVersions,
        service: &str,
    ) -> Result<Self, RotationError> {
        let version_id = versions
            .version_at(Stage::Current)
            .ok_or_else(|| {
                RotationError::new(
                    RotationFailure::NoCurrentVersion,
                    "the secret has no AWSCURRENT version",
                )
            })?
            .to_owned();
        let (value, _) = secrets
            .value_of(secret_id, &version_id)
            .await?
            .ok_or_else(|| RotationError::new(RotationFailure::InvalidServiceSecret, "AWSCURRENT holds no string"))?;
        let (document, service) = ServiceDocument::parse(service, &value)
            .map_err(|e| RotationError::new(RotationFailure::InvalidServiceSecret, e.to_string()))?;
        Ok(Self { document, service })
    }

    /// True when the current version was written by this token's finishSecret.
    pub(super) fn finished(&self, token: &str) -> bool {
        self.service.rotation.as_ref().is_some_and(|r| r.token == token)
    }
}

/// The apps whose webhooks carry the service's secret (an app with its own is not rotated).
fn rotated_apps(service: &MessagingService) -> impl Iterator<Item = &str> {
    service.apps.iter().filter_map(|(app_id, settings)| {
        if settings.webhook_secret.is_some() {
            tracing::warn!(service = %service.name, app_id, "app has its own webhook secret: not rotated");
            None
        } else {
            Some(app_id.as_str())
        }
    })
}

fn secret_of(service: &MessagingService, which: &str) -> Result<SecretString, RotationError> {
    service
        .webhook_secret
        .as_ref()
        .map(|s| s.secret().clone())
        .ok_or_else(|| {
            RotationError::new(
                RotationFailure::InvalidServiceSecret,
                format!("{which} has no webhook_secret"),
            )
        })
}

impl<A: SecretAdmin, W: WebhookAdmin, R: SightingReader> Rotation<A, W, R> {
    /// This deployment's webhook of every rotated app; an app with none (or several) fails the
    /// step: promoting a secret Sinch does not sign with would refuse every callback once the
    /// grace ends, and several would get callbacks twice.
    async fn our_webhooks(&self, service: &MessagingService) -> Result<Vec<(String, Webhook)>, RotationError> {
        let deployment = self.deployment(&service.name);
        let mut found = Vec::new();
        for app_id in rotated_apps(service) {
            let webhooks =
                self.webhooks.list(service, app_id).await.map_err(|e| {
                    RotationError::new(RotationFailure::Sinch, format!("app {app_id}: {}: {e}", e.code()))
                })?;
            let record = service.apps.get(app_id).and_then(|a| a.webhook.as_ref());
            match ours(record, &webhooks, &deployment) {
                Ours::One(webhook) => found.push((app_id.to_owned(), webhook.clone())),
                Ours::None => {
                    return Err(RotationError::new(
                        RotationFailure::NoWebhook,
                        format!("app {app_id} has no webhook of this deployment (bridgectl webhooks sync first)"),
                    ));
                }
                Ours::Several(list) => {
                    return Err(RotationError::new(
                        RotationFailure::SeveralWebhooks,
                        format!(
                            "app {app_id} has {} webhooks of this deployment; delete all but one, then sync",
                            list.len()
                        ),
                    ));
                }
            }
        }
        Ok(found)
    }

    async fn pending(&self, event: &RotationEvent, service: &str) -> Result<(MessagingService, i64), RotationError> {
        let (value, created) = self
            .secrets
            .value_of(&event.secret_id, &event.token)
            .await?
            .ok_or_else(|| {
                RotationError::new(
                    RotationFailure::NoPendingValue,
                    "createSecret has not run for this token",
                )
            })?;
        let parsed = MessagingService::from_json(service, value.expose().as_bytes())
            .map_err(|e| RotationError::new(RotationFailure::InvalidServiceSecret, e.to_string()))?;
        Ok((parsed, created.unwrap_or_else(|| self.clock.unix_seconds())))
    }

    /// A pending secret past its maximum age no longer verifies callbacks: switching Sinch to
    /// it would refuse them all.
    fn check_age(&self, created: i64, service: &str) -> Result<(), RotationError> {
        let until = created.saturating_add(secs(self.config.pending_max_age));
        if self.clock.unix_seconds() >= until {
            return Err(RotationError::new(
                RotationFailure::PendingExpired,
                format!(
                    "the pending secret is past its maximum age ({} s) and no longer verifies callbacks; start over: bridgectl service rotate --service {service} --cancel, then --now",
                    self.config.pending_max_age.as_secs()
                ),
            ));
        }
        Ok(())
    }

    pub(super) async fn create(&self, event: &RotationEvent, current: &Current) -> Result<StepOutcome, RotationError> {
        if self.secrets.value_of(&event.secret_id, &event.token).await?.is_some() {
            return Ok(StepOutcome::Done("pending version exists".into()));
        }
        // Every rotated app must have a webhook of ours before anything changes.
        let webhooks = self.our_webhooks(&current.service).await?;
        let mut pending = current.document.clone();
        pending.set_webhook_secret(&SecretString::new((self.new_secret)()?));
        pending.prune_retired(self.clock.unix_seconds(), None);
        // The result must be a service the bridge can load, or the ingest would refuse it.
        let (value, _) = pending
            .to_secret()
            .map_err(|e| RotationError::new(RotationFailure::InvalidServiceSecret, e.to_string()))?;
        self.secrets
            .put_pending(&event.secret_id, &event.token, &value, event.rotation_token.as_deref())
            .await?;
        Ok(StepOutcome::Done(format!(
            "pending version created; {} webhook(s) will be switched",
            webhooks.len()
        )))
    }

    pub(super) async fn set(&self, event: &RotationEvent, service: &str) -> Result<StepOutcome, RotationError> {
        let (pending, created) = self.pending(event, service).await?;
        self.check_age(created, service)?;
        let secret = secret_of(&pending, "the pending version")?;
        let webhooks = self.our_webhooks(&pending).await?;
        // An ingest environment reloads at most once per refresh interval after a mismatch.
        // Once the pending version is older than that, every environment either loaded it or
        // may reload now, so none refuses the first callback Sinch signs with it.
        let wait = created
            .saturating_add(secs(self.config.refresh_wait))
            .saturating_sub(self.clock.unix_seconds());
        if wait > 0 {
            tokio::time::sleep(Duration::from_secs(wait.unsigned_abs())).await;
        }
        let mut patched = 0;
        for (_, webhook) in &webhooks {
            if SecretReading::of(webhook).holds(secret.expose()) == Some(true) {
                continue;
            }
            let update = Webhook {
                secret: Some(secret.clone()),
                ..webhook.clone()
            };
            self.webhooks
                .update(&pending, &update, &["secret"])
                .await
                .map_err(|e| {
                    RotationError::new(
                        RotationFailure::Sinch,
                        format!("webhook {}: {}: {}", webhook.id, e.code(), e.redacted(secret.expose())),
                    )
                })?;
            patched += 1;
        }
        Ok(StepOutcome::Done(format!(
            "{patched} of {} webhook(s) switched",
            webhooks.len()
        )))
    }

    pub(super) async fn test(&self, event: &RotationEvent, service: &str) -> Result<StepOutcome, RotationError> {
        let (pending, created) = self.pending(event, service).await?;
        self.check_age(created, service)?;
        let secret = secret_of(&pending, "the pending version")?;
        let webhooks = self.our_webhooks(&pending).await?;
        let (mut holding, mut unreadable, mut stale) = (0, 0, Vec::new());
        for (_, webhook) in &webhooks {
            match SecretReading::of(webhook).holds(secret.expose()) {
                Some(true) => holding += 1,
                Some(false) => stale.push(webhook.id.clone()),
                None => unreadable += 1,
            }
        }
        if !stale.is_empty() {
            return Err(RotationError::new(
                RotationFailure::WebhookNotUpdated,
                format!(
                    "{} of {} webhook(s) show another secret: {}",
                    stale.len(),
                    webhooks.len(),
                    stale.join(", ")
                ),
            ));
        }
        let seen = self.seen(service, &pending).await;
        if unreadable > 0 {
            // Sinch need not show secrets; setSecret's answers (2xx per webhook) are the evidence.
            tracing::info!(
                service,
                unreadable,
                "Sinch does not show the webhooks' secrets back: not verifiable by reading"
            );
        }
        Ok(StepOutcome::Done(format!(
            "{holding} webhook(s) show the pending secret, {unreadable} cannot be read back; {seen}"
        )))
    }

    pub(super) async fn finish(
        &self,
        event: &RotationEvent,
        versions: &SecretVersions,
        current: super::steps::Current,
    ) -> Result<StepOutcome, RotationError> {
        let (pending, _) = self.pending(event, &current.service.name).await?;
        let new = secret_of(&pending, "the pending version")?;
        let now = self.clock.unix_seconds();
        let until = now.saturating_add(secs(self.config.grace));
        // The service as it is now: an app, a key or a sender changed during the rotation is
        // kept; only the webhook secret, the retired list, the records and the note change.
        let mut merged = current.document.clone();
        let old = current.service.webhook_secret.as_ref().map(|s| s.secret().clone());
        if let Some(old) = old.as_ref().filter(|old| old.expose() != new.expose()) {
            merged.retire(old, until, now);
        }
        merged.prune_retired(now, Some(&new));
        merged.set_webhook_secret(&new);
        for (app_id, settings) in &current.service.apps {
            if let (None, Some(record)) = (&settings.webhook_secret, &settings.webhook) {
                // setSecret switched the recorded webhook: record what it holds now.
                let fingerprint = crate::protocol::signature::WebhookSecret::new(new.clone())
                    .fingerprint()
                    .to_owned();
                merged.record_webhook(
                    app_id,
                    &WebhookRecord {
                        secret_fingerprint: Some(fingerprint),
                        ..record.clone()
                    },
                );
            }
        }
        merged.set_rotation(&event.token, now);
        let (value, _) = merged
            .to_secret()
            .map_err(|e| RotationError::new(RotationFailure::InvalidServiceSecret, e.to_string()))?;
        let version = self.secrets.put_current(&event.secret_id, &value).await?;
        if versions.version_at(Stage::Pending) == Some(event.token.as_str()) {
            self.secrets
                .remove_label(&event.secret_id, Stage::Pending, &event.token)
                .await?;
        }
        let old_seen = match &old {
            Some(old) => self.seen_secret(&current.service.name, old, "the old secret").await,
            None => String::new(),
        };
        Ok(StepOutcome::Done(format!(
            "version {version} is current; the old secret verifies until {until} (grace {} s){old_seen}",
            self.config.grace.as_secs()
        )))
    }

    /// "Sinch has signed N callbacks with the pending secret, the last at T", where the nonce
    /// table keeps sightings.
    async fn seen(&self, service: &str, pending: &MessagingService) -> String {
        match pending.webhook_secret.as_ref() {
            Some(secret) => self.seen_secret(service, secret.secret(), "the pending secret").await,
            None => String::new(),
        }
    }

    async fn seen_secret(&self, service: &str, secret: &SecretString, what: &str) -> String {
        let Some(reader) = &self.sightings else {
            return format!("; no sightings without a nonce table ({what} not checked)");
        };
        let fingerprint = crate::protocol::signature::WebhookSecret::new(secret.clone())
            .fingerprint()
            .to_owned();
        match reader.sighting(service, &fingerprint).await {
            Ok(Some(s)) => format!(
                "; Sinch has signed {} stored callback(s) with {what}, the last at {}",
                s.count, s.last_seen
            ),
            Ok(None) => format!("; Sinch has signed no stored callback with {what} yet"),
            Err(e) => format!("; sightings unavailable ({})", e.code),
        }
    }
}

pub(super) fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}
