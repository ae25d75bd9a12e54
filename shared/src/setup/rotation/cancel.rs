//! Ending a rotation in any state (`bridgectl service rotate --cancel`): Sinch back on the
//! current secret, `AWSPENDING` taken off, and the result verified, so Secrets Manager and
//! Sinch agree on a secret the ingest accepts and the next rotation can start.
//!
//! Order matters: Sinch is switched back first, while the ingest still accepts the pending
//! secret; only when every webhook answered is `AWSPENDING` removed. If Sinch cannot be
//! reached, nothing is removed and the command can simply be run again.

use serde::Serialize;

use super::RotationError;
use super::RotationFailure;
use crate::ports::{SecretAdmin, Stage};
use crate::protocol::service::MessagingService;
use crate::setup::management::Webhook;
use crate::setup::service_document::ServiceDocument;
use crate::setup::webhooks::{Deployment, Ours, SecretReading, WebhookAdmin, ours};

/// What a cancel did and found, for the operator.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CancelReport {
    /// Webhooks given the current secret again.
    pub switched_back: Vec<String>,
    /// Webhooks shown holding it already.
    pub already_current: Vec<String>,
    /// Webhooks whose secret Sinch does not show (switched back, not verifiable by reading).
    pub unreadable: Vec<String>,
    /// Apps without a webhook of this deployment (reported, nothing to switch).
    pub without_webhook: Vec<String>,
    /// Versions `AWSPENDING` was taken off.
    pub pending_removed: Vec<String>,
}

/// Cancels whatever rotation `secret_id` is in; a secret with none is verified and left as it
/// is.
pub async fn cancel<A: SecretAdmin, W: WebhookAdmin>(
    secrets: &A,
    webhooks: &W,
    secret_id: &str,
    service_name: &str,
    deployment: &Deployment<'_>,
) -> Result<CancelReport, RotationError> {
    let versions = secrets.describe(secret_id).await?;
    let current_id = versions
        .version_at(Stage::Current)
        .ok_or_else(|| {
            RotationError::new(
                RotationFailure::NoCurrentVersion,
                "the secret has no AWSCURRENT version",
            )
        })?
        .to_owned();
    let (value, _) = secrets
        .value_of(secret_id, &current_id)
        .await?
        .ok_or_else(|| RotationError::new(RotationFailure::InvalidServiceSecret, "AWSCURRENT holds no string"))?;
    let (_, service) = ServiceDocument::parse(service_name, &value)
        .map_err(|e| RotationError::new(RotationFailure::InvalidServiceSecret, e.to_string()))?;
    let mut report = CancelReport::default();
    switch_back(webhooks, &service, deployment, &mut report, true).await?;
    if let Some(pending) = versions.pending_rotation() {
        secrets.remove_label(secret_id, Stage::Pending, pending).await?;
        report.pending_removed.push(pending.to_owned());
    }
    // Verified, not assumed: no rotation left, and what Sinch shows holds the current secret.
    let after = secrets.describe(secret_id).await?;
    if let Some(left) = after.pending_rotation() {
        return Err(RotationError::new(
            RotationFailure::SecretsManager,
            format!("AWSPENDING is still on version {left}"),
        ));
    }
    let mut check = CancelReport::default();
    switch_back(webhooks, &service, deployment, &mut check, false).await?;
    if !check.switched_back.is_empty() {
        return Err(RotationError::new(
            RotationFailure::WebhookNotUpdated,
            format!(
                "webhook(s) {} still show another secret",
                check.switched_back.join(", ")
            ),
        ));
    }
    Ok(report)
}

/// Gives every webhook of this deployment the current secret, unless Sinch shows it already;
/// without `apply`, only lists those Sinch shows with another secret (in `switched_back`).
async fn switch_back<W: WebhookAdmin>(
    webhooks: &W,
    service: &MessagingService,
    deployment: &Deployment<'_>,
    report: &mut CancelReport,
    apply: bool,
) -> Result<(), RotationError> {
    let secret = service
        .webhook_secret
        .as_ref()
        .map(|s| s.secret().clone())
        .ok_or_else(|| {
            RotationError::new(
                RotationFailure::InvalidServiceSecret,
                "the current version has no webhook_secret",
            )
        })?;
    for (app_id, settings) in &service.apps {
        if settings.webhook_secret.is_some() {
            continue;
        }
        let listed = webhooks
            .list(service, app_id)
            .await
            .map_err(|e| RotationError::new(RotationFailure::Sinch, format!("app {app_id}: {}: {e}", e.code())))?;
        let mine: Vec<&Webhook> = match ours(settings.webhook.as_ref(), &listed, deployment) {
            Ours::One(w) => vec![w],
            Ours::Several(list) => list,
            Ours::None => {
                report.without_webhook.push(app_id.clone());
                continue;
            }
        };
        for webhook in mine {
            let reading = SecretReading::of(webhook);
            if reading.holds(secret.expose()) == Some(true) {
                report.already_current.push(webhook.id.clone());
                continue;
            }
            if !apply {
                if reading.holds(secret.expose()) == Some(false) {
                    report.switched_back.push(webhook.id.clone());
                }
                continue;
            }
            let update = Webhook {
                secret: Some(secret.clone()),
                ..webhook.clone()
            };
            webhooks.update(service, &update, &["secret"]).await.map_err(|e| {
                RotationError::new(
                    RotationFailure::Sinch,
                    format!("webhook {}: {}: {}", webhook.id, e.code(), e.redacted(secret.expose())),
                )
            })?;
            match reading {
                SecretReading::Shown(_) => report.switched_back.push(webhook.id.clone()),
                SecretReading::Masked | SecretReading::Absent => report.unreadable.push(webhook.id.clone()),
            }
        }
    }
    Ok(())
}
