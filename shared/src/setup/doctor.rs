//! `bridgectl doctor`: does Sinch's side of a service agree with the deployment? One check per
//! line, each pass / warn / fail with the fix, so the dashboard procedure's mistakes (wrong
//! region, Conversation mode, a webhook without the secret or a trigger, no US SMS sender, a
//! route that is not there) show before the first customer message instead of as dead letters.

use serde::Serialize;

use crate::ports::SinchClient;
use crate::protocol::Region;
use crate::protocol::service::MessagingService;
use crate::setup::management::{App, ManagementEndpoints, ManagementError, Webhook};
use crate::setup::sync::same_target;

/// The triggers every webhook of a service must carry (the Contact Pro procedure's minimum).
pub const REQUIRED_TRIGGERS: [&str; 2] = ["MESSAGE_DELIVERY", "MESSAGE_INBOUND"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub check: String,
    pub status: Status,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.status == Status::Fail)
    }

    fn add(&mut self, check: String, status: Status, detail: impl Into<String>, fix: Option<String>) {
        self.checks.push(Check {
            check,
            status,
            detail: detail.into(),
            fix,
        });
    }
}

/// What an unsigned `POST {url}/webhooks/{service}` with `{}` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    Status(u16),
    NoAnswer(String),
}

/// What the doctor was asked to check.
pub struct Subject<'a> {
    pub name: &'a str,
    /// The service secret, or why it could not be read or parsed.
    pub service: Result<&'a MessagingService, String>,
    /// The deployment's webhook URL for this service (`BASE/webhooks/S`), when given.
    pub webhook_url: Option<&'a str>,
    /// Channels the service sends on; empty = every channel the app has credentials for.
    pub channels: &'a [String],
    pub probe: Option<Probe>,
    /// The `webhook_secret` of an `AWSPENDING` version other than the current one: webhooks
    /// holding it are mid-rotation, not wrong.
    pub pending_secret: Option<&'a str>,
}

pub async fn diagnose<H: SinchClient>(endpoints: &ManagementEndpoints<H>, subject: &Subject<'_>) -> Report {
    let mut report = Report::default();
    let service = match subject.service {
        Ok(service) => {
            report.add(
                "service secret".into(),
                Status::Pass,
                format!(
                    "parses: region {}, project {}, {} app(s)",
                    service.region,
                    service.project_id,
                    service.apps.len()
                ),
                None,
            );
            service
        }
        Err(ref problem) => {
            report.add(
                "service secret".into(),
                Status::Fail,
                problem.clone(),
                Some(format!(
                    "write it with `bridgectl service create --service {} …` (see docs/operations.md, Set up a service)",
                    subject.name
                )),
            );
            return finish_probe(report, subject);
        }
    };
    if service.apps.is_empty() {
        report.add(
            "apps".into(),
            Status::Fail,
            "the secret lists no app",
            Some("add the Sinch app ids under \"apps\" (bridgectl service create --app …)".into()),
        );
    }
    let api = endpoints.for_service(service);
    for app_id in service.apps.keys() {
        let label = |what: &str| format!("app {app_id}: {what}");
        let app = match api.get_app(app_id).await {
            Ok(Some(app)) => {
                report.add(
                    label("exists"),
                    Status::Pass,
                    format!("in region {}", service.region),
                    None,
                );
                app
            }
            Ok(None) => {
                let mut found = None;
                for region in Region::ALL.into_iter().filter(|r| *r != service.region) {
                    if let Ok(Some(_)) = api.get_app_in(region, app_id).await {
                        found = Some(region);
                        break;
                    }
                }
                let (detail, fix) = match found {
                    Some(region) => (
                        format!("not in {} but in {region}", service.region),
                        format!(
                            "apps of one project in two regions need two services: move this app to a service with \"region\": \"{region}\""
                        ),
                    ),
                    None => (
                        format!("not found in project {} in any region", service.project_id),
                        "check the app id and project_id against the Sinch dashboard".to_owned(),
                    ),
                };
                report.add(label("exists"), Status::Fail, detail, Some(fix));
                continue;
            }
            Err(e) => {
                report.add(label("exists"), Status::Fail, e.to_string(), Some(fix_for(&e)));
                continue;
            }
        };
        check_app(&mut report, service, &app, subject);
        match api.list_webhooks(app_id).await {
            Ok(webhooks) => check_webhooks(
                &mut report,
                service,
                app_id,
                &webhooks,
                subject.webhook_url,
                subject.pending_secret,
            ),
            Err(e) => report.add(label("webhook"), Status::Fail, e.to_string(), Some(fix_for(&e))),
        }
    }
    finish_probe(report, subject)
}

fn check_app(report: &mut Report, service: &MessagingService, app: &App, subject: &Subject<'_>) {
    let label = |what: &str| format!("app {}: {what}", app.id);
    if app.processing_mode == "DISPATCH" {
        report.add(label("processing mode"), Status::Pass, "DISPATCH", None);
    } else {
        report.add(
            label("processing mode"),
            Status::Fail,
            app.processing_mode.clone(),
            Some("create the app in Dispatch mode (the mode cannot be changed on an existing app in the dashboard; the product's procedure requires it)".into()),
        );
    }
    let wanted: Vec<String> = if subject.channels.is_empty() {
        app.channel_credentials.iter().map(|c| c.channel.clone()).collect()
    } else {
        subject.channels.to_vec()
    };
    if wanted.is_empty() {
        report.add(
            label("channels"),
            Status::Fail,
            "no channel credentials",
            Some("add the channel (SMS, WhatsApp, …) to the app in the Sinch dashboard".into()),
        );
    }
    for channel in &wanted {
        let credential = app
            .channel_credentials
            .iter()
            .find(|c| c.channel.eq_ignore_ascii_case(channel));
        match credential.map(|c| c.status()) {
            Some("ACTIVE") => report.add(label(&format!("channel {channel}")), Status::Pass, "ACTIVE", None),
            Some("PENDING") => report.add(
                label(&format!("channel {channel}")),
                Status::Warn,
                "PENDING",
                Some("Sinch is still provisioning it; sends fail until it is ACTIVE".into()),
            ),
            Some(other) => report.add(
                label(&format!("channel {channel}")),
                Status::Fail,
                other.to_owned(),
                Some("fix the channel credentials in the Sinch dashboard".into()),
            ),
            None => report.add(
                label(&format!("channel {channel}")),
                Status::Fail,
                "no credentials for this channel",
                Some("add the channel to the app in the Sinch dashboard".into()),
            ),
        }
    }
    let sends_sms = wanted.iter().any(|c| c.eq_ignore_ascii_case("SMS"));
    if service.region == Region::Us && sends_sms {
        if service.sms_sender_for(&app.id).is_some() {
            report.add(label("US SMS sender"), Status::Pass, "set", None);
        } else {
            report.add(
                label("US SMS sender"),
                Status::Fail,
                "a US app sending SMS needs a sender number",
                Some("set \"sms_sender\" (service-wide or under the app) in the service secret".into()),
            );
        }
    }
}

fn check_webhooks(
    report: &mut Report,
    service: &MessagingService,
    app_id: &str,
    webhooks: &[Webhook],
    url: Option<&str>,
    pending: Option<&str>,
) {
    let label = format!("app {app_id}: webhook");
    let sync = format!("bridgectl webhooks sync --service {} --url <base URL>", service.name);
    let ours: Vec<&Webhook> = match url {
        Some(url) => webhooks.iter().filter(|w| same_target(&w.target, url)).collect(),
        None => {
            let suffix = format!("/webhooks/{}", service.name);
            webhooks
                .iter()
                .filter(|w| w.target.trim_end_matches('/').ends_with(&suffix))
                .collect()
        }
    };
    if ours.len() > 1 {
        report.add(
            label.clone(),
            Status::Fail,
            format!(
                "{} webhooks target this deployment: each callback arrives {} times",
                ours.len(),
                ours.len()
            ),
            Some("delete all but one in the Sinch dashboard".into()),
        );
    }
    let Some(webhook) = ours.first() else {
        let target = url.map_or_else(|| format!("…/webhooks/{}", service.name), str::to_owned);
        report.add(
            label,
            Status::Fail,
            format!("no webhook targets {target} ({} other(s))", webhooks.len()),
            Some(sync),
        );
        return;
    };
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    if webhook.target_type != "HTTP" {
        problems.push(format!("target_type is {}", webhook.target_type));
    }
    let expected = service.webhook_secret_for(app_id);
    match (&webhook.secret, expected) {
        (None, None) if service.allow_unsigned_webhooks => {}
        (None, _) => problems.push("has no secret (callbacks arrive unsigned)".into()),
        (Some(_), None) => problems.push("has a secret the service secret does not know".into()),
        (Some(have), Some(_)) if pending == Some(have.expose()) => {
            notes.push(
                "holds the pending secret: a rotation is in progress (finishSecret will make it current)".to_owned(),
            );
        }
        (Some(have), Some(want)) if have.expose() != want.secret().expose() => {
            problems.push("secret differs from the service secret".into());
        }
        _ => {}
    }
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
    let fix = (!problems.is_empty()).then_some(sync);
    let detail = if problems.is_empty() {
        let mut detail = format!("{} with {} triggers", webhook.target, webhook.triggers.len());
        for note in &notes {
            detail.push_str("; ");
            detail.push_str(note);
        }
        detail
    } else {
        problems.into_iter().chain(notes).collect::<Vec<_>>().join("; ")
    };
    report.add(label.clone(), status, detail, fix);
    if url.is_none() {
        report.add(
            label,
            Status::Warn,
            "checked by path only",
            Some("pass --url <base URL> to check the exact target".into()),
        );
    }
}

fn finish_probe(mut report: Report, subject: &Subject<'_>) -> Report {
    let Some(probe) = &subject.probe else {
        return report;
    };
    let unsigned_ok = subject.service.as_ref().is_ok_and(|s| s.allow_unsigned_webhooks);
    let (status, detail, fix) = match probe {
        Probe::Status(401) => (Status::Pass, "unsigned probe refused with 401: route and function alive, nothing stored (a service missing from the stack's ServiceNames answers the same: check it there)".to_owned(), None),
        Probe::Status(400) if unsigned_ok => (Status::Pass, "unsigned probe refused with 400 (the service accepts unsigned callbacks; nothing stored)".to_owned(), None),
        Probe::Status(status @ (403 | 404)) => (
            Status::Fail,
            format!("answered {status}: no such route"),
            Some("check the URL (the stack's WebhookBaseUrl output) and that the stack is deployed".to_owned()),
        ),
        Probe::Status(status @ 500..=599) => (
            Status::Fail,
            format!("answered {status}"),
            Some("read the webhook-ingest logs: the function fails, or cannot reach Secrets Manager, SQS or the nonce table".to_owned()),
        ),
        Probe::Status(status) => (Status::Warn, format!("answered {status}, expected 401"), None),
        Probe::NoAnswer(e) => (Status::Fail, format!("no answer: {e}"), Some("check the URL and the network".to_owned())),
    };
    report.add("endpoint".into(), status, detail, fix);
    report
}

fn fix_for(e: &ManagementError) -> String {
    match e {
        ManagementError::AuthRejected(_) => "the access key (key_id/key_secret) is refused: create a new key in the Sinch dashboard and update the service secret".into(),
        ManagementError::Transport(_) | ManagementError::Token(_) => "Sinch did not answer; retry, or check CONVERSATION_API_URL / SINCH_AUTH_URL".into(),
        _ => "see the detail".into(),
    }
}
