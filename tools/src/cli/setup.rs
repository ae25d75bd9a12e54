//! `bridgectl webhooks sync` and `bridgectl doctor`: the dashboard procedure as commands.
//! The decisions are in `sinch_bridge::setup`; this file fetches, prints and applies.

use std::collections::BTreeSet;
use std::io::Write as _;

use clap::{Args, Subcommand};
use serde_json::json;
use sinch_bridge::adapters::{DynamoNonces, SecretsManagerAdmin};
use sinch_bridge::ports::{SecretAdmin, SightingReader};
use sinch_bridge::protocol::Trigger;
use sinch_bridge::protocol::service::MessagingService;
use sinch_bridge::setup::doctor::{self, PendingRotation, Probe, Status, Subject};
use sinch_bridge::setup::sync::{SyncReport, sync as sync_apps, webhook_target};

use super::sinch::{LoadedService, ServiceArg, SinchArgs, load_service};
use super::{CliError, Output};

#[derive(Subcommand, Debug)]
pub enum WebhooksCommand {
    /// For every app of the service, ensure one webhook of this deployment (BASE/webhooks/
    /// SERVICE, or the one sync recorded) with the service's (or the app's) secret and the
    /// chosen triggers. Creates or patches only that webhook; idempotent; refuses while a
    /// rotation is in progress.
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
    /// Set every webhook's secret again, even where sync recorded setting it (Sinch masks
    /// secrets, so a secret changed by hand in the dashboard cannot be seen).
    #[arg(long)]
    pub reset_secrets: bool,
    /// Seconds to wait, once, before Sinch's first new secret: webhook-ingest's
    /// SECRET_REFRESH_MIN_INTERVAL_SECONDS and a margin (what the rotation's setSecret waits),
    /// so no environment that reloaded before the secret was written still refuses it.
    #[arg(long, env = "BRIDGE_REFRESH_WAIT_SECONDS", default_value_t = default_refresh_wait())]
    pub refresh_wait_seconds: u64,
    #[command(flatten)]
    pub sinch: SinchArgs,
}

fn default_refresh_wait() -> u64 {
    sinch_bridge::service_cache::DEFAULT_REFRESH_MIN_INTERVAL.as_secs()
        + sinch_bridge::setup::rotation::REFRESH_MARGIN.as_secs()
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
    /// The stack's NonceTableName output: shows which secrets Sinch has signed with.
    #[arg(long)]
    pub nonce_table: Option<String>,
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
    let admin = SecretsManagerAdmin::new(aws_sdk_secretsmanager::Client::new(aws));
    let loaded = load_service(&admin, &args.service).await?;
    if let Some(pending) = loaded.versions.pending_rotation() {
        // Setting the current secret now would undo what the rotation's setSecret did, and its
        // finishSecret would then promote a secret Sinch does not sign with.
        return Err(CliError::new(format!(
            "a rotation is in progress (AWSPENDING on version {pending}); let it finish, or end it first: bridgectl service rotate --service {} --cancel",
            args.service.service
        )));
    }
    let wanted = triggers(&args.triggers)?;
    let endpoints = args.sinch.endpoints()?;
    let total = loaded.service.apps.len();
    let mut progress = |i: usize, app_id: &str| {
        if !out.json {
            // Progress on stderr, so stdout stays the result.
            let _ = write!(std::io::stderr(), "\r[{}/{total}] {app_id}", i + 1);
        }
    };
    let report = sync_apps(
        &endpoints,
        &loaded.service,
        &args.url,
        &wanted,
        args.dry_run,
        args.reset_secrets,
        std::time::Duration::from_secs(args.refresh_wait_seconds),
        &mut progress,
    )
    .await;
    if !out.json && total > 0 {
        let _ = writeln!(std::io::stderr());
    }
    let recorded = if args.dry_run {
        false
    } else {
        keep_records(&admin, &args.service, loaded, &report).await?
    };
    print_sync(&args, &report, recorded, out);
    if report.blocked > 0 {
        return Err(CliError::new(format!(
            "{} app(s) could not be synced (see above)",
            report.blocked
        )));
    }
    Ok(())
}

/// Writes the webhooks sync now knows as ours into the service secret, when they changed.
async fn keep_records(
    admin: &SecretsManagerAdmin,
    service: &ServiceArg,
    loaded: LoadedService,
    report: &SyncReport,
) -> Result<bool, CliError> {
    let LoadedService {
        mut document,
        service: parsed,
        ..
    } = loaded;
    let mut changed = false;
    for (app_id, record) in &report.records {
        if parsed.apps.get(app_id).and_then(|a| a.webhook.as_ref()) != Some(record) {
            document.record_webhook(app_id, record);
            changed = true;
        }
    }
    if !changed {
        return Ok(false);
    }
    let (value, _) = document.to_secret().map_err(|e| CliError::new(e.to_string()))?;
    admin
        .put_current(&service.secret_name(), &value)
        .await
        .map_err(|e| CliError::new(format!("cannot record the webhooks in {}: {e}", service.secret_name())))?;
    Ok(true)
}

fn print_sync(args: &SyncArgs, report: &SyncReport, recorded: bool, out: Output) {
    let target = webhook_target(&args.url, &args.service.service);
    let verb = if args.dry_run { "would change" } else { "changed" };
    let text = report
        .apps
        .iter()
        .map(|r| format!("{} {}: {}", r.app_id, r.result, r.change))
        .chain([format!(
            "{} of {} app(s) {verb}; {} blocked; target {target}{}",
            report.changed,
            report.apps.len(),
            report.blocked,
            if recorded {
                "; webhooks recorded in the service secret"
            } else {
                ""
            }
        )])
        .collect::<Vec<_>>()
        .join("\n");
    out.emit(
        &text,
        &json!({"service": args.service.service, "target": target, "dry_run": args.dry_run, "changed": report.changed,
                "blocked": report.blocked, "recorded": recorded, "waited_seconds": report.waited.as_secs(), "apps": report.apps}),
    );
}

pub async fn doctor(args: DoctorArgs, out: Output, aws: &aws_config::SdkConfig) -> Result<(), CliError> {
    let admin = SecretsManagerAdmin::new(aws_sdk_secretsmanager::Client::new(aws));
    let loaded = load_service(&admin, &args.service).await;
    let now = super::sinch::unix_now();
    let pending = match &loaded {
        Ok(l) => l.pending.clone(),
        Err(_) => None,
    };
    let probe = match &args.url {
        Some(base) => Some(probe(&webhook_target(base, &args.service.service)).await),
        None => None,
    };
    let sightings = match (&args.nonce_table, &loaded) {
        (Some(table), Ok(l)) => Some(sightings(aws, table, &l.service, pending.as_ref().map(|p| p.0.as_str())).await),
        _ => None,
    };
    let endpoints = args.sinch.endpoints()?;
    let subject = Subject {
        name: &args.service.service,
        service: loaded.as_ref().map(|l| &l.service).map_err(|e| e.to_string()),
        webhook_base: args.url.as_deref(),
        channels: &args.channels,
        probe,
        pending: pending.as_ref().map(|(secret, created)| PendingRotation {
            secret,
            created: *created,
            until: created.saturating_add(args.service.pending_max_age()),
        }),
        rotation_enabled: loaded.as_ref().ok().map(|l| l.versions.rotation_enabled),
        now,
        sightings,
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

/// What the nonce table says each of the service's secrets (current, pending, retired) signed.
async fn sightings(
    aws: &aws_config::SdkConfig,
    table: &str,
    service: &MessagingService,
    pending: Option<&str>,
) -> Vec<(String, Option<sinch_bridge::ports::Sighting>)> {
    let reader = DynamoNonces::new(aws_sdk_dynamodb::Client::new(aws), table);
    let mut secrets: Vec<(String, String)> = Vec::new();
    if let Some(current) = &service.webhook_secret {
        secrets.push(("current secret".into(), current.fingerprint().to_owned()));
    }
    if let Some(pending) = pending {
        secrets.push(("pending secret".into(), doctor::fingerprint(pending)));
    }
    for retired in &service.retired {
        secrets.push((
            format!("retired secret {}", retired.secret.fingerprint()),
            retired.secret.fingerprint().to_owned(),
        ));
    }
    let mut out = Vec::new();
    for (which, fingerprint) in secrets {
        out.push((which, reader.sighting(&service.name, &fingerprint).await.ok().flatten()));
    }
    out
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
