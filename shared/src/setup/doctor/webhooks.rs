//! The doctor's checks of an app's webhooks: is there exactly one of this deployment, with the
//! triggers the bridge needs and the service's secret (compared when Sinch shows it, judged by
//! sync's record when it does not), and does another target share one of our secrets.

use super::{REQUIRED_TRIGGERS, Report, Status, Subject};
use crate::protocol::service::MessagingService;
use crate::setup::management::Webhook;
use crate::setup::webhooks::{Deployment, Ours, SecretReading, ours};

pub(super) fn check_webhooks(
    report: &mut Report,
    service: &MessagingService,
    app_id: &str,
    webhooks: &[Webhook],
    subject: &Subject<'_>,
) {
    let label = format!("app {app_id}: webhook");
    let sync = format!(
        "bridgectl webhooks sync --service {} --url {}",
        service.name,
        subject.webhook_base.unwrap_or("<base URL>")
    );
    let record = service.apps.get(app_id).and_then(|a| a.webhook.as_ref());
    let Some(webhook) = our_webhook(report, service, app_id, &sync, webhooks, subject) else {
        return;
    };
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    if webhook.target_type != "HTTP" {
        problems.push(format!("target_type is {}", webhook.target_type));
    }
    secret_check(service, app_id, webhook, subject, &mut problems, &mut notes);
    let missing: Vec<&str> = REQUIRED_TRIGGERS
        .into_iter()
        .filter(|t| !webhook.triggers.iter().any(|have| have == t))
        .collect();
    if !missing.is_empty() {
        problems.push(format!("missing triggers {}", missing.join(", ")));
    }
    let status = match (problems.is_empty(), notes.is_empty()) {
        (false, _) => Status::Fail,
        (true, false) => Status::Warn,
        (true, true) => Status::Pass,
    };
    let fix = (!problems.is_empty() || !notes.is_empty()).then_some(sync);
    let mut detail = if problems.is_empty() {
        format!("{} with {} triggers", webhook.target, webhook.triggers.len())
    } else {
        problems.join("; ")
    };
    for note in &notes {
        detail.push_str("; ");
        detail.push_str(note);
    }
    report.add(label.clone(), status, detail, fix);
    shared_secret_check(report, service, app_id, webhooks, webhook, subject);
    if subject.webhook_base.is_none() && record.is_none() {
        report.add(
            label,
            Status::Warn,
            "checked by path only",
            Some("pass --url <base URL> to check the exact target".into()),
        );
    }
}

/// This deployment's webhook of the app; a FAIL when there is none, or several.
fn our_webhook<'w>(
    report: &mut Report,
    service: &MessagingService,
    app_id: &str,
    sync: &str,
    webhooks: &'w [Webhook],
    subject: &Subject<'_>,
) -> Option<&'w Webhook> {
    let label = format!("app {app_id}: webhook");
    let deployment = Deployment {
        base_url: subject.webhook_base,
        service: &service.name,
    };
    let record = service.apps.get(app_id).and_then(|a| a.webhook.as_ref());
    match ours(record, webhooks, &deployment) {
        Ours::One(webhook) => Some(webhook),
        Ours::Several(list) => {
            report.add(
                label,
                Status::Fail,
                format!(
                    "{} webhooks target this deployment: each callback arrives {} times",
                    list.len(),
                    list.len()
                ),
                Some("delete all but one in the Sinch dashboard".into()),
            );
            None
        }
        Ours::None => {
            let target = deployment
                .target()
                .unwrap_or_else(|| format!("…/webhooks/{}", service.name));
            report.add(
                label,
                Status::Fail,
                format!("no webhook targets {target} ({} other(s))", webhooks.len()),
                Some(sync.to_owned()),
            );
            None
        }
    }
}

/// The webhook's secret: compared when Sinch shows it; otherwise judged by the record sync
/// keeps (never a FAIL for what cannot be read back).
fn secret_check(
    service: &MessagingService,
    app_id: &str,
    webhook: &Webhook,
    subject: &Subject<'_>,
    problems: &mut Vec<String>,
    notes: &mut Vec<String>,
) {
    let expected = service.webhook_secret_for(app_id);
    let reading = SecretReading::of(webhook);
    let Some(want) = expected else {
        if !service.allow_unsigned_webhooks {
            problems.push("the service secret has no webhook secret for this app".into());
        } else if matches!(reading, SecretReading::Shown(_)) {
            problems.push("has a secret the service secret does not know".into());
        }
        return;
    };
    match reading {
        SecretReading::Shown(have) if have.expose() == want.secret().expose() => {}
        SecretReading::Shown(have) => match subject.pending.as_ref().filter(|p| p.secret == have.expose()) {
            Some(p) if subject.now < p.until => {
                notes
                    .push("holds the pending secret: a rotation is in progress (finishSecret makes it current)".into());
            }
            Some(_) => {
                problems.push("holds the pending secret of a rotation that expired: callbacks are refused".into())
            }
            None if service
                .retired
                .iter()
                .any(|r| r.until > subject.now && r.secret.secret().expose() == have.expose()) =>
            {
                notes.push("holds a retired secret that verifies only until its grace ends".into());
            }
            None => problems.push("secret differs from the service secret".into()),
        },
        SecretReading::Masked | SecretReading::Absent => {
            let recorded = service
                .apps
                .get(app_id)
                .and_then(|a| a.webhook.as_ref())
                .is_some_and(|r| r.id == webhook.id && r.secret_fingerprint.as_deref() == Some(want.fingerprint()));
            if recorded {
                notes.push("its secret cannot be read back; sync recorded setting the current one".into());
            } else {
                notes.push("its secret cannot be read back and no sync recorded setting it: run sync once".into());
            }
        }
    }
}

/// A webhook of another target showing one of this service's secrets: left alone by sync and
/// rotation, and it stops matching after the next rotation.
fn shared_secret_check(
    report: &mut Report,
    service: &MessagingService,
    app_id: &str,
    webhooks: &[Webhook],
    ours: &Webhook,
    subject: &Subject<'_>,
) {
    let mut known: Vec<&str> = service
        .webhook_secret_for(app_id)
        .map(|w| w.secret().expose())
        .into_iter()
        .collect();
    known.extend(service.retired.iter().map(|r| r.secret.secret().expose()));
    known.extend(subject.pending.as_ref().map(|p| p.secret));
    for other in webhooks.iter().filter(|w| w.id != ours.id) {
        if let SecretReading::Shown(secret) = SecretReading::of(other)
            && known.contains(&secret.expose())
        {
            report.add(
                format!("app {app_id}: webhook {}", other.id),
                Status::Warn,
                format!(
                    "another target ({}) shares this service's secret: sync and rotation leave it alone, so it stops matching after the next rotation",
                    other.target
                ),
                Some("give it its own secret in the system that owns it".into()),
            );
        }
    }
}
