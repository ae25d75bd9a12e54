//! What `bridgectl webhooks sync` changes: per app, given its webhooks at Sinch, the record
//! the service secret keeps of ours and the webhook the deployment needs, the single create or
//! patch that makes them agree ([`plan`], pure), then [`sync`] applies it to every app and
//! returns the records to keep. Only this deployment's webhook is ever touched
//! (`webhooks::ours`), so other integrations of the app keep working.
//!
//! Sinch need not show a webhook's secret. When it shows one, it is compared; when it masks or
//! omits it, the record says whether sync set this secret on this webhook before (its
//! fingerprint): if so nothing is patched, else the secret is set once and recorded. So a
//! second run changes nothing in every mode; `reset_secrets` sets them again regardless (for a
//! secret changed by hand in the dashboard, which a masked read cannot show).

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Serialize;

use crate::protocol::secret::SecretString;
use crate::protocol::service::{MessagingService, WebhookRecord};
use crate::protocol::signature::WebhookSecret;
use crate::setup::management::Webhook;
use crate::setup::webhooks::{Deployment, Ours, SecretReading, WebhookAdmin, ours};

/// Sinch's limit of webhooks per app.
pub const MAX_WEBHOOKS_PER_APP: usize = 5;
/// Sinch's limit on a webhook target's length.
pub const MAX_TARGET_CHARS: usize = 742;

/// The webhook an app must have.
#[derive(Debug, Clone)]
pub struct Desired {
    pub app_id: String,
    /// The deployment's base URL (its root or `WebhookBaseUrl`).
    pub base: String,
    pub service: String,
    pub secret: Option<SecretString>,
    pub triggers: BTreeSet<String>,
    /// Set the secret even when the record says it is in place.
    pub reset_secret: bool,
}

impl Desired {
    pub fn target(&self) -> String {
        webhook_target(&self.base, &self.service)
    }

    fn deployment(&self) -> Deployment<'_> {
        Deployment {
            base_url: Some(&self.base),
            service: &self.service,
        }
    }
}

/// One app's change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The webhook exists as it should.
    Unchanged {
        id: String,
    },
    Create(Webhook),
    /// `mask` names what differs (`secret`, `triggers`, `target_type`); `added` and `removed`
    /// are the trigger changes, for the diff.
    Update {
        webhook: Webhook,
        mask: Vec<&'static str>,
        added: Vec<String>,
        removed: Vec<String>,
    },
    /// No webhook targets us and the app already has the most Sinch allows.
    LimitReached {
        existing: usize,
    },
    /// The target is longer than Sinch accepts.
    TargetTooLong {
        chars: usize,
    },
    /// Several webhooks target the deployment (each callback would arrive twice).
    Duplicates {
        ids: Vec<String>,
    },
}

impl Plan {
    pub fn changes_something(&self) -> bool {
        matches!(self, Plan::Create(_) | Plan::Update { .. })
    }

    /// Whether Sinch will sign with a secret it did not use before once this is applied.
    pub fn sets_secret(&self) -> bool {
        match self {
            Plan::Create(w) => w.secret.is_some(),
            Plan::Update { mask, .. } => mask.contains(&"secret"),
            _ => false,
        }
    }

    /// One line for people: what would change, never a secret.
    pub fn describe(&self) -> String {
        match self {
            Plan::Unchanged { id } => format!("unchanged (webhook {id})"),
            Plan::Create(w) => format!("create webhook -> {} ({} triggers)", w.target, w.triggers.len()),
            Plan::Update {
                webhook,
                mask,
                added,
                removed,
            } => {
                let mut parts = vec![format!("update webhook {}: {}", webhook.id, mask.join(", "))];
                if !added.is_empty() {
                    parts.push(format!("+{}", added.join(" +")));
                }
                if !removed.is_empty() {
                    parts.push(format!("-{}", removed.join(" -")));
                }
                parts.join(" ")
            }
            Plan::LimitReached { existing } => format!(
                "cannot add: the app has {existing} webhooks (Sinch allows {MAX_WEBHOOKS_PER_APP}) and none targets this deployment; delete one in the dashboard"
            ),
            Plan::TargetTooLong { chars } => {
                format!("cannot add: the target has {chars} characters (Sinch allows {MAX_TARGET_CHARS})")
            }
            Plan::Duplicates { ids } => format!(
                "{} webhooks target this deployment ({}); delete all but one in the dashboard, then sync again",
                ids.len(),
                ids.join(", ")
            ),
        }
    }
}

/// The webhook URL of `service` under `base`: the deployment's root
/// (`https://x.execute-api…amazonaws.com`) or its `WebhookBaseUrl` output (`…/webhooks/`).
pub fn webhook_target(base: &str, service: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/webhooks") {
        format!("{base}/{service}")
    } else {
        format!("{base}/webhooks/{service}")
    }
}

/// Same target, ignoring one trailing slash: Sinch compares targets as given, and a base URL
/// typed with or without the slash should not create a second webhook.
pub fn same_target(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// The change one app needs. `record` is what the service secret says of our webhook.
pub fn plan(existing: &[Webhook], desired: &Desired, record: Option<&WebhookRecord>) -> Plan {
    let target = desired.target();
    let chars = target.chars().count();
    if chars > MAX_TARGET_CHARS {
        return Plan::TargetTooLong { chars };
    }
    let current = match ours(record, existing, &desired.deployment()) {
        Ours::Several(list) => {
            return Plan::Duplicates {
                ids: list.iter().map(|w| w.id.clone()).collect(),
            };
        }
        Ours::One(current) => current,
        Ours::None if existing.len() >= MAX_WEBHOOKS_PER_APP => {
            return Plan::LimitReached {
                existing: existing.len(),
            };
        }
        Ours::None => {
            return Plan::Create(Webhook {
                id: String::new(),
                app_id: desired.app_id.clone(),
                target,
                target_type: "HTTP".into(),
                secret: desired.secret.clone(),
                triggers: desired.triggers.iter().cloned().collect(),
            });
        }
    };
    let have: BTreeSet<String> = current.triggers.iter().cloned().collect();
    let added: Vec<String> = desired.triggers.difference(&have).cloned().collect();
    let removed: Vec<String> = have.difference(&desired.triggers).cloned().collect();
    let mut mask = Vec::new();
    if current.target_type != "HTTP" {
        mask.push("target_type");
    }
    if secret_differs(current, desired, record) {
        mask.push("secret");
    }
    if !added.is_empty() || !removed.is_empty() {
        mask.push("triggers");
    }
    if mask.is_empty() {
        return Plan::Unchanged { id: current.id.clone() };
    }
    Plan::Update {
        webhook: Webhook {
            id: current.id.clone(),
            app_id: current.app_id.clone(),
            target: current.target.clone(),
            target_type: "HTTP".into(),
            secret: desired.secret.clone(),
            triggers: desired.triggers.iter().cloned().collect(),
        },
        mask,
        added,
        removed,
    }
}

/// Whether the webhook's secret must be set: compared when Sinch shows it; otherwise unless
/// the record says sync set exactly this secret on exactly this webhook.
fn secret_differs(current: &Webhook, desired: &Desired, record: Option<&WebhookRecord>) -> bool {
    let Some(want) = &desired.secret else {
        // An unsigned service: only a webhook shown with a secret differs.
        return matches!(
            SecretReading::of(current),
            SecretReading::Shown(_) | SecretReading::Masked
        );
    };
    if desired.reset_secret {
        return true;
    }
    match SecretReading::of(current).holds(want.expose()) {
        Some(holds) => !holds,
        None => !record.is_some_and(|r| {
            r.id == current.id
                && r.secret_fingerprint.as_deref() == Some(WebhookSecret::new(want.clone()).fingerprint())
        }),
    }
}

/// One app's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppSync {
    pub app_id: String,
    /// `unchanged`, `changed`, `would change`, `blocked` or `failed`.
    pub result: &'static str,
    pub change: String,
}

/// What a sync did: per app, and the records the service secret should keep.
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    pub apps: Vec<AppSync>,
    pub changed: usize,
    pub blocked: usize,
    /// The webhook of each app that is ours now, with the fingerprint of the secret it holds.
    pub records: Vec<(String, WebhookRecord)>,
    /// How long sync waited before Sinch's first new secret (see [`sync`]).
    pub waited: Duration,
}

/// Makes every app's webhook agree with the deployment (`dry_run`: only says what it would
/// do). One app's failure does not stop the others; Sinch's messages never show the secret.
///
/// Before the first change that makes Sinch sign with a new secret, it waits `refresh_wait`
/// once (the ingest's forced-reload interval and a margin, as the rotation's `setSecret`
/// does): the secret was written before sync started, so an environment that reloaded before
/// then (a forged request is enough) may reload again by the time Sinch's first callback with
/// the new secret arrives, instead of answering 401 — which Sinch does not retry.
#[allow(clippy::too_many_arguments)] // one call site, each a distinct input of the command
pub async fn sync<W: WebhookAdmin>(
    webhooks: &W,
    service: &MessagingService,
    base: &str,
    triggers: &BTreeSet<String>,
    dry_run: bool,
    reset_secrets: bool,
    refresh_wait: Duration,
    progress: &mut dyn FnMut(usize, &str),
) -> SyncReport {
    let mut report = SyncReport::default();
    let mut wait = (!dry_run).then_some(refresh_wait);
    for (i, (app_id, settings)) in service.apps.iter().enumerate() {
        progress(i, app_id);
        let desired = Desired {
            app_id: app_id.clone(),
            base: base.to_owned(),
            service: service.name.clone(),
            secret: service.webhook_secret_for(app_id).map(|s| s.secret().clone()),
            triggers: triggers.clone(),
            reset_secret: reset_secrets,
        };
        let (result, change, record) =
            sync_app(webhooks, service, &desired, settings.webhook.as_ref(), &mut wait).await;
        match result {
            "blocked" | "failed" => report.blocked += 1,
            "changed" | "would change" => report.changed += 1,
            _ => {}
        }
        if let Some(record) = record {
            report.records.push((app_id.clone(), record));
        }
        report.apps.push(AppSync {
            app_id: app_id.clone(),
            result,
            change,
        });
    }
    report.waited = if dry_run {
        Duration::ZERO
    } else {
        refresh_wait.saturating_sub(wait.unwrap_or_default())
    };
    report
}

/// One app: list, plan, apply; the result, what changed, and the record to keep.
async fn sync_app<W: WebhookAdmin>(
    webhooks: &W,
    service: &MessagingService,
    desired: &Desired,
    record: Option<&WebhookRecord>,
    // None: a dry run; Some(wait): waited once before the first new secret, then zero.
    wait: &mut Option<Duration>,
) -> (&'static str, String, Option<WebhookRecord>) {
    let dry_run = wait.is_none();
    let existing = match webhooks.list(service, &desired.app_id).await {
        Ok(existing) => existing,
        Err(e) => {
            let hint = if e.code() == "not_found" {
                " (bridgectl doctor says where it is)"
            } else {
                ""
            };
            return ("failed", format!("{e}{hint}"), None);
        }
    };
    let step = plan(&existing, desired, record);
    let secret_text = desired
        .secret
        .as_ref()
        .map(|s| s.expose().to_owned())
        .unwrap_or_default();
    if step.sets_secret()
        && let Some(pause) = wait.as_mut().filter(|p| !p.is_zero())
    {
        tokio::time::sleep(*pause).await;
        *pause = Duration::ZERO;
    }
    let applied = match &step {
        Plan::Create(webhook) if !dry_run => webhooks.create(service, webhook).await.map(Some),
        Plan::Update { webhook, mask, .. } if !dry_run => webhooks.update(service, webhook, mask).await.map(Some),
        _ => Ok(None),
    };
    let change = step.describe();
    let written = match applied {
        Ok(written) => written,
        Err(e) => return ("failed", format!("{change}: {}", e.redacted(&secret_text)), None),
    };
    let fingerprint = desired
        .secret
        .as_ref()
        .map(|s| WebhookSecret::new(s.clone()).fingerprint().to_owned());
    let keep = |id: &str, target: &str| WebhookRecord {
        id: id.to_owned(),
        target: target.to_owned(),
        secret_fingerprint: fingerprint.clone(),
    };
    match (&step, written) {
        (Plan::Unchanged { id }, _) => {
            let target = existing
                .iter()
                .find(|w| w.id == *id)
                .map_or_else(|| desired.target(), |w| w.target.clone());
            ("unchanged", change, Some(keep(id, &target)))
        }
        (Plan::LimitReached { .. } | Plan::TargetTooLong { .. } | Plan::Duplicates { .. }, _) => {
            ("blocked", change, None)
        }
        (_, Some(w)) => ("changed", change, Some(keep(&w.id, &w.target))),
        (_, None) => ("would change", change, None),
    }
}

#[cfg(test)]
mod tests;
