//! Sinch's webhooks as the setup code uses them: a small port over the management API (so the
//! sync, the doctor and the rotation run on an in-memory double in unit tests), what reading a
//! webhook's secret back can tell, and the one rule for which webhooks are this deployment's.
//!
//! Sinch does not promise to show a webhook's secret: its reference shows `"secret": "***"` for
//! `GET …/apps/{app}/webhooks` ("the secret field will be partially masked for security") and
//! types it `format: password`; whether get, create and patch answers mask it too is not said.
//! So nothing here depends on reading one back: a shown secret is compared, a masked or absent
//! one is "cannot be read back", and the service secret records which webhooks are ours and the
//! fingerprint of the secret last set on each.

use std::future::Future;

use crate::ports::SinchClient;
use crate::protocol::secret::SecretString;
use crate::protocol::service::{MessagingService, WebhookRecord};
use crate::setup::management::{ManagementEndpoints, ManagementError, Webhook};
use crate::setup::sync::same_target;

/// Sinch's webhook management for a service's apps.
pub trait WebhookAdmin: Send + Sync {
    fn list(
        &self,
        service: &MessagingService,
        app_id: &str,
    ) -> impl Future<Output = Result<Vec<Webhook>, ManagementError>> + Send;

    /// Creates a webhook. Idempotent by target: a create whose answer was lost (a 5xx or a
    /// timeout after Sinch applied it) is not sent twice.
    fn create(
        &self,
        service: &MessagingService,
        webhook: &Webhook,
    ) -> impl Future<Output = Result<Webhook, ManagementError>> + Send;

    /// PATCHes the fields named in `mask`.
    fn update(
        &self,
        service: &MessagingService,
        webhook: &Webhook,
        mask: &[&str],
    ) -> impl Future<Output = Result<Webhook, ManagementError>> + Send;
}

impl<H: SinchClient> WebhookAdmin for ManagementEndpoints<H> {
    async fn list(&self, service: &MessagingService, app_id: &str) -> Result<Vec<Webhook>, ManagementError> {
        self.for_service(service).list_webhooks(app_id).await
    }

    async fn create(&self, service: &MessagingService, webhook: &Webhook) -> Result<Webhook, ManagementError> {
        self.for_service(service).create_webhook(webhook).await
    }

    async fn update(
        &self,
        service: &MessagingService,
        webhook: &Webhook,
        mask: &[&str],
    ) -> Result<Webhook, ManagementError> {
        self.for_service(service).update_webhook(webhook, mask).await
    }
}

/// What a webhook read from Sinch says about its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretReading {
    /// Sinch showed it.
    Shown(SecretString),
    /// Sinch masked it (a value with `***` in it, as its reference shows).
    Masked,
    /// Sinch left the field out (or the webhook has none: the two look alike).
    Absent,
}

impl SecretReading {
    pub fn of(webhook: &Webhook) -> Self {
        match &webhook.secret {
            None => SecretReading::Absent,
            Some(s) if s.expose().contains("***") => SecretReading::Masked,
            Some(s) => SecretReading::Shown(s.clone()),
        }
    }

    /// True when the webhook is known to hold `secret`: shown and equal (`Some(false)` when
    /// shown and different); `None` when Sinch does not show it.
    pub fn holds(&self, secret: &str) -> Option<bool> {
        match self {
            SecretReading::Shown(s) => Some(s.expose() == secret),
            SecretReading::Masked | SecretReading::Absent => None,
        }
    }
}

/// Where this deployment's webhooks for a service point.
#[derive(Debug, Clone, Copy)]
pub struct Deployment<'a> {
    /// The deployment's base URL (the stack's `WebhookBaseUrl`, or its root), when known.
    pub base_url: Option<&'a str>,
    pub service: &'a str,
}

impl Deployment<'_> {
    /// The exact target, when the base is known.
    pub fn target(&self) -> Option<String> {
        self.base_url
            .map(|base| crate::setup::sync::webhook_target(base, self.service))
    }

    /// True for a target of this deployment: the exact one when the base is known, else any
    /// whose path ends in `/webhooks/{service}`.
    pub fn is_target(&self, target: &str) -> bool {
        match self.target() {
            Some(ours) => same_target(target, &ours),
            None => target
                .trim_end_matches('/')
                .ends_with(&format!("/webhooks/{}", self.service)),
        }
    }
}

/// Which of an app's webhooks belong to this deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ours<'w> {
    One(&'w Webhook),
    None,
    /// Several target the deployment: each callback would arrive several times.
    Several(Vec<&'w Webhook>),
}

/// The one rule `webhooks sync`, the doctor and the rotation share: the webhook the service
/// secret records for the app, when Sinch still has it with the recorded target; else the
/// webhooks whose target is this deployment's. Holding our secret does not make a webhook ours
/// (another system may share it during a migration), so nothing else is ever changed.
pub fn ours<'w>(record: Option<&WebhookRecord>, webhooks: &'w [Webhook], deployment: &Deployment<'_>) -> Ours<'w> {
    if let Some(record) = record
        && let Some(recorded) = webhooks
            .iter()
            .find(|w| w.id == record.id && same_target(&w.target, &record.target))
    {
        return Ours::One(recorded);
    }
    let matching: Vec<&Webhook> = webhooks.iter().filter(|w| deployment.is_target(&w.target)).collect();
    match matching.len() {
        0 => Ours::None,
        1 => Ours::One(matching[0]),
        _ => Ours::Several(matching),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(id: &str, target: &str, secret: Option<&str>) -> Webhook {
        Webhook {
            id: id.into(),
            app_id: "APP".into(),
            target: target.into(),
            target_type: "HTTP".into(),
            secret: secret.map(SecretString::new),
            triggers: vec![],
        }
    }

    const BASE: Deployment<'static> = Deployment {
        base_url: Some("https://api.example/webhooks/"),
        service: "eu1",
    };

    #[test]
    fn a_recorded_webhook_is_ours_while_it_keeps_its_target() {
        let hooks = vec![
            hook("w1", "https://custom.domain/in/eu1", Some("s")),
            hook("w2", "https://crm.example/hook", Some("s")),
        ];
        let record = WebhookRecord {
            id: "w1".into(),
            target: "https://custom.domain/in/eu1".into(),
            secret_fingerprint: None,
        };
        assert_eq!(ours(Some(&record), &hooks, &BASE), Ours::One(&hooks[0]));
        // Repointed elsewhere by someone: no longer ours.
        let moved = vec![hook("w1", "https://crm.example/other", Some("s"))];
        assert_eq!(ours(Some(&record), &moved, &BASE), Ours::None);
    }

    #[test]
    fn without_a_record_only_our_target_counts_never_a_shared_secret() {
        let hooks = vec![
            hook("w1", "https://crm.example/hook", Some("our-secret")),
            hook("w2", "https://api.example/webhooks/eu1/", Some("other")),
        ];
        assert_eq!(ours(None, &hooks, &BASE), Ours::One(&hooks[1]));
        let by_path = Deployment {
            base_url: None,
            service: "eu1",
        };
        assert_eq!(ours(None, &hooks, &by_path), Ours::One(&hooks[1]));
        let twice = vec![hooks[1].clone(), hook("w3", "https://api.example/webhooks/eu1", None)];
        assert!(matches!(ours(None, &twice, &BASE), Ours::Several(v) if v.len() == 2));
        assert_eq!(ours(None, &hooks[..1], &BASE), Ours::None);
    }

    #[test]
    fn a_masked_or_absent_secret_cannot_be_compared() {
        let shown = SecretReading::of(&hook("w", "t", Some("abc")));
        assert_eq!((shown.holds("abc"), shown.holds("x")), (Some(true), Some(false)));
        assert_eq!(SecretReading::of(&hook("w", "t", Some("***"))), SecretReading::Masked);
        assert_eq!(
            SecretReading::of(&hook("w", "t", Some("ab***yz"))).holds("abcxyz"),
            None
        );
        assert_eq!(SecretReading::of(&hook("w", "t", None)), SecretReading::Absent);
    }
}
