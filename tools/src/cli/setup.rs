//! `bridgectl webhooks sync` and `bridgectl doctor`: the dashboard procedure as commands.
//! The decisions are in `sinch_bridge::setup`; this file fetches, prints and applies.

use std::collections::BTreeSet;
use std::io::Write as _;

use clap::{Args, Subcommand};
use serde_json::json;
use sinch_bridge::protocol::Trigger;
use sinch_bridge::setup::doctor::{self, Probe, Status, Subject};
use sinch_bridge::setup::sync::{Desired, Plan, plan, webhook_target};

use super::sinch::{ServiceArg, SinchArgs, read_service};
use super::{CliError, Output};

#[derive(Subcommand, Debug)]
pub enum WebhooksCommand {
    /// For every app of the service, ensure one webhook targeting BASE/webhooks/SERVICE with the
    /// service's (or the app's) secret and the chosen triggers. Creates or patches; never
    /// touches webhooks with other targets; idempotent.
    Sync(SyncArgs),
}

#[derive(Args, Debug)]
pub struct SyncArgs {
    #[command(flatten)]
    pub service: ServiceArg,
    /// The deployment's root or its WebhookBaseUrl output (…/webhooks/).
    #[arg(long)]
    pub url: String,
    /// Comma-separated triggers (default: every trigger; the deployment routes them all).
    #[arg(long, value_delimiter = ',')]
    pub triggers: Vec<String>,
    /// Print what would change and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub sinch: SinchArgs,
}

#[derive(Args, Debug)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub service: ServiceArg,
    /// The deployment's root or WebhookBaseUrl: checks the exact webhook target and probes it.
    #[arg(long)]
    pub url: Option<String>,
    /// A channel the service sends on (repeat; default: every channel the apps have).
    #[arg(long = "channel")]
    pub channels: Vec<String>,
    #[command(flatten)]
    pub sinch: SinchArgs,
}

fn triggers(named: &[String]) -> Result<BTreeSet<String>, CliError> {
    if named.is_empty() {
        return Ok(Trigger::ALL.iter().map(|t| t.as_str().to_owned()).collect());
    }
    named
        .iter()
        .map(|name| {
            let upper = name.trim().to_ascii_uppercase();
            Trigger::from_name(&upper)
                .filter(|t| *t != Trigger::Unknown)
                .map(|t| t.as_str().to_owned())
                .ok_or_else(|| CliError::new(format!("unknown trigger {name:?}")))
        })
        .collect()
}

pub async fn sync(cmd: WebhooksCommand, out: Output, aws: &aws_config::SdkConfig) -> Result<(), CliError> {
    let WebhooksCommand::Sync(args) = cmd;
    let secrets = aws_sdk_secretsmanager::Client::new(aws);
    let service = read_service(&secrets, &args.service).await.map_err(CliError::new)?;
    let target = webhook_target(&args.url, &service.name);
    let wanted = triggers(&args.triggers)?;
    let endpoints = args.sinch.endpoints()?;
    let api = endpoints.for_service(&service);
    let total = service.apps.len();
    let (mut rows, mut changed, mut blocked) = (Vec::new(), 0, 0);
    for (i, app_id) in service.apps.keys().enumerate() {
        if !out.json {
            // Progress on stderr, so stdout stays the result.
            let _ = write!(std::io::stderr(), "\r[{}/{total}] {app_id}", i + 1);
        }
        let existing = match api.list_webhooks(app_id).await {
            Ok(existing) => existing,
            // One app's problem (another region, a typo) does not stop the others.
            Err(e) => {
                blocked += 1;
                let hint = if e.code() == "not_found" {
                    " (bridgectl doctor says where it is)"
                } else {
                    ""
                };
                rows.push(json!({"app_id": app_id, "result": "failed", "change": format!("{e}{hint}")}));
                continue;
            }
        };
        let desired = Desired {
            app_id: app_id.clone(),
            target: target.clone(),
            secret: service.webhook_secret_for(app_id).map(|s| s.secret().clone()),
            triggers: wanted.clone(),
        };
        let step = plan(&existing, &desired);
        let secret_text = desired
            .secret
            .as_ref()
            .map(|s| s.expose().to_owned())
            .unwrap_or_default();
        let mut result = if args.dry_run { "would change" } else { "changed" };
        let mut change = step.describe();
        let applied = match &step {
            Plan::Create(webhook) if !args.dry_run => api.create_webhook(webhook).await.map(|_| ()),
            Plan::Update { webhook, mask, .. } if !args.dry_run => api.update_webhook(webhook, mask).await.map(|_| ()),
            _ => Ok(()),
        };
        match (&step, applied) {
            // One app's failure does not stop the others; Sinch's message never shows the secret.
            (_, Err(e)) => {
                result = "failed";
                blocked += 1;
                change = format!("{change}: {}", e.redacted(&secret_text));
                rows.push(json!({"app_id": app_id, "result": result, "change": change}));
                continue;
            }
            (Plan::Unchanged { .. }, _) => result = "unchanged",
            (Plan::LimitReached { .. } | Plan::TargetTooLong { .. } | Plan::Duplicates { .. }, _) => {
                result = "blocked";
                blocked += 1;
            }
            _ => {}
        }
        changed += usize::from(step.changes_something());
        rows.push(json!({"app_id": app_id, "result": result, "change": change}));
    }
    if !out.json && total > 0 {
        let _ = writeln!(std::io::stderr());
    }
    let text = rows
        .iter()
        .map(|r| {
            format!(
                "{} {}: {}",
                r["app_id"].as_str().unwrap_or(""),
                r["result"].as_str().unwrap_or(""),
                r["change"].as_str().unwrap_or("")
            )
        })
        .chain([format!(
            "{changed} of {total} app(s) {}; {blocked} blocked; target {target}",
            if args.dry_run { "would change" } else { "changed" }
        )])
        .collect::<Vec<_>>()
        .join("\n");
    out.emit(
        &text,
        &json!({"service": service.name, "target": target, "dry_run": args.dry_run, "changed": changed, "blocked": blocked, "apps": rows}),
    );
    if blocked > 0 {
        return Err(CliError::new(format!(
            "{blocked} app(s) could not be synced (see above)"
        )));
    }
    Ok(())
}

pub async fn doctor(args: DoctorArgs, out: Output, aws: &aws_config::SdkConfig) -> Result<(), CliError> {
    let secrets = aws_sdk_secretsmanager::Client::new(aws);
    let service = read_service(&secrets, &args.service).await;
    let pending = super::sinch::pending_webhook_secret(&secrets, &args.service).await;
    let url = args
        .url
        .as_deref()
        .map(|base| webhook_target(base, &args.service.service));
    let probe = match &url {
        Some(url) => Some(probe(url).await),
        None => None,
    };
    let endpoints = args.sinch.endpoints()?;
    let subject = Subject {
        name: &args.service.service,
        service: service.as_ref().map_err(Clone::clone),
        webhook_url: url.as_deref(),
        channels: &args.channels,
        probe,
        pending_secret: pending.as_deref(),
    };
    let report = doctor::diagnose(&endpoints, &subject).await;
    let text = report
        .checks
        .iter()
        .map(|c| {
            let mark = match c.status {
                Status::Pass => "pass",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            let fix = c
                .fix
                .as_deref()
                .map(|f| format!("\n       fix: {f}"))
                .unwrap_or_default();
            format!("{mark}  {}: {}{fix}", c.check, c.detail)
        })
        .collect::<Vec<_>>()
        .join("\n");
    out.emit(
        &text,
        &json!({"service": args.service.service, "ok": !report.failed(), "checks": report.checks}),
    );
    if report.failed() {
        return Err(CliError::new("doctor found failures"));
    }
    Ok(())
}

/// An unsigned POST with a body that is not a callback: refused by a live ingest before
/// anything is stored, whatever the service's settings.
async fn probe(url: &str) -> Probe {
    let client = match crate::http::client() {
        Ok(client) => client,
        Err(e) => return Probe::NoAnswer(e),
    };
    match client
        .post(url)
        .header("content-type", "application/json")
        .body("{}")
        .timeout(std::time::Duration::from_secs(20))
        .send()
        .await
    {
        Ok(answer) => Probe::Status(answer.status().as_u16()),
        Err(e) => Probe::NoAnswer(e.without_url().to_string()),
    }
}
