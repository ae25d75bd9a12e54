//! `bridgectl doctor`: does Sinch's side of a service agree with the deployment? One check per
//! line, each pass / warn / fail with the fix, so the dashboard procedure's mistakes (wrong
//! region, Conversation mode, a webhook without the secret or a trigger, no US SMS sender, a
//! route that is not there) show before the first customer message instead of as dead letters.

use serde::Serialize;

use crate::ports::{Sighting, SinchClient};
use crate::protocol::Region;
use crate::protocol::service::MessagingService;
use crate::protocol::signature::WebhookSecret;
use crate::setup::management::{App, ManagementEndpoints, ManagementError};
mod webhooks;

use webhooks::check_webhooks;

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

/// A rotation in progress: its pending secret and until when the ingest accepts it.
pub struct PendingRotation<'a> {
    pub secret: &'a str,
    pub created: i64,
    pub until: i64,
}

/// What the doctor was asked to check.
pub struct Subject<'a> {
    pub name: &'a str,
    /// The service secret, or why it could not be read or parsed.
    pub service: Result<&'a MessagingService, String>,
    /// The deployment's base URL, when given: the webhooks must target `BASE/webhooks/S`.
    pub webhook_base: Option<&'a str>,
    /// Channels the service sends on; empty = every channel the app has credentials for.
    pub channels: &'a [String],
    pub probe: Option<Probe>,
    /// An `AWSPENDING` version other than the current one.
    pub pending: Option<PendingRotation<'a>>,
    /// Whether Secrets Manager rotates the secret on a schedule (`None`: not known).
    pub rotation_enabled: Option<bool>,
    /// Now, Unix seconds.
    pub now: i64,
    /// What the nonce table says each of the service's secrets signed (`None`: no table).
    pub sightings: Option<Vec<(String, Option<Sighting>)>>,
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
        let Some(app) = app_in_region(&mut report, &api, service, app_id).await else {
            continue;
        };
        check_app(&mut report, service, &app, subject);
        match api.list_webhooks(app_id).await {
            Ok(webhooks) => check_webhooks(&mut report, service, app_id, &webhooks, subject),
            Err(e) => report.add(
                format!("app {app_id}: webhook"),
                Status::Fail,
                e.to_string(),
                Some(fix_for(&e)),
            ),
        }
    }
    check_rotation(&mut report, service, subject);
    check_sightings(&mut report, subject);
    finish_probe(report, subject)
}

/// The app, when it is in the service's region; otherwise a FAIL saying where it is, if
/// anywhere.
async fn app_in_region<H: SinchClient>(
    report: &mut Report,
    api: &crate::setup::management::Management<'_, H>,
    service: &MessagingService,
    app_id: &str,
) -> Option<App> {
    let label = format!("app {app_id}: exists");
    match api.get_app(app_id).await {
        Ok(Some(app)) => {
            report.add(label, Status::Pass, format!("in region {}", service.region), None);
            Some(app)
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
            report.add(label, Status::Fail, detail, Some(fix));
            None
        }
        Err(e) => {
            report.add(label, Status::Fail, e.to_string(), Some(fix_for(&e)));
            None
        }
    }
}

/// The rotation's state: a pending secret past its age FAILs (Sinch may sign with a secret the
/// ingest refuses), one in progress warns, and so does a service without a schedule.
fn check_rotation(report: &mut Report, service: &MessagingService, subject: &Subject<'_>) {
    let cancel = format!("bridgectl service rotate --service {} --cancel", service.name);
    match &subject.pending {
        Some(p) if subject.now >= p.until => report.add(
            "rotation".into(),
            Status::Fail,
            format!(
                "a rotation started at {} stopped; its pending secret stopped verifying at {}: callbacks Sinch signs with it are refused",
                p.created, p.until
            ),
            Some(format!("{cancel} (Sinch back on the current secret), then rotate again")),
        ),
        Some(p) => report.add(
            "rotation".into(),
            Status::Warn,
            format!("in progress since {}; its pending secret verifies until {}", p.created, p.until),
            Some(format!("let it finish, or end it with {cancel}")),
        ),
        None => match subject.rotation_enabled {
            Some(true) => report.add("rotation".into(), Status::Pass, "scheduled", None),
            Some(false) => report.add(
                "rotation".into(),
                Status::Warn,
                "the webhook secret is never rotated",
                Some(format!(
                    "bridgectl service rotate --service {} --enable --days 30 --function-arn <SecretRotationFunctionArn>",
                    service.name
                )),
            ),
            None => {}
        },
    }
    for retired in service.retired.iter().filter(|r| r.until > subject.now) {
        report.add(
            "retired secret".into(),
            Status::Pass,
            format!(
                "{} still verifies Sinch's retries until {}",
                retired.secret.fingerprint(),
                retired.until
            ),
            None,
        );
    }
}

/// What Sinch has signed with, by secret, where the nonce table keeps it.
fn check_sightings(report: &mut Report, subject: &Subject<'_>) {
    let Some(sightings) = &subject.sightings else {
        return;
    };
    for (which, seen) in sightings {
        let detail = match seen {
            Some(s) => format!(
                "{} stored callback(s) verified with it, the last at {}",
                s.count, s.last_seen
            ),
            None => "no stored callback verified with it yet".to_owned(),
        };
        report.add(format!("signed with the {which}"), Status::Pass, detail, None);
    }
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

/// The fingerprint the doctor shows for a secret (never the secret).
pub fn fingerprint(secret: &str) -> String {
    WebhookSecret::new(crate::protocol::secret::SecretString::new(secret))
        .fingerprint()
        .to_owned()
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

#[cfg(test)]
mod tests;
