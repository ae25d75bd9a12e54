//! `bridgectl service create` (write a service secret) and `bridgectl service rotate` (attach,
//! start or cancel the webhook-secret rotation). Secrets are read from files or the
//! environment, never from arguments, and never printed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use sinch_bridge::adapters::{SecretsManagerAdmin, random_webhook_secret};
use sinch_bridge::protocol::{MessagingService, SecretString};
use sinch_bridge::setup::rotation::cancel;
use sinch_bridge::setup::webhooks::Deployment;

use super::secret_input::{read_secret, require_secret};
use super::sinch::{ServiceArg, SinchArgs, aws_code, load_service, unix_now};
use super::{CliError, Output};

#[derive(Subcommand, Debug)]
pub enum ServiceCommand {
    /// Write a service secret (region, project, access key, apps, SMS sender) with a generated
    /// webhook secret unless one is given. Refuses to overwrite without --force.
    Create(CreateArgs),
    /// Attach the rotation function and rotate on a schedule (--enable), rotate now (--now), or
    /// end a rotation in any state (--cancel).
    Rotate(RotateArgs),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    #[command(flatten)]
    pub service: ServiceArg,
    /// eu, us or br: where the apps were created (`--region` is the AWS region).
    #[arg(long)]
    pub sinch_region: String,
    #[arg(long)]
    pub project: String,
    /// Access key id (Sinch dashboard, Settings, Access keys).
    #[arg(long)]
    pub key_id: String,
    /// File holding the access key secret (- for standard input); else BRIDGE_KEY_SECRET.
    #[arg(long)]
    pub key_secret_file: Option<PathBuf>,
    /// A Sinch app of this project and region (repeat for several).
    #[arg(long = "app", required = true)]
    pub apps: Vec<String>,
    /// Sender number for SMS (required by US SMS).
    #[arg(long)]
    pub sms_sender: Option<String>,
    /// File holding the webhook secret (- for standard input; else BRIDGE_WEBHOOK_SECRET);
    /// generated (32 random bytes) when neither is given.
    #[arg(long)]
    pub webhook_secret_file: Option<PathBuf>,
    /// Replace an existing secret's value (a new version). Its webhook secret, the secrets a
    /// rotation retired, the recorded webhooks and the last rotation are kept.
    #[arg(long)]
    pub force: bool,
    /// With --force: generate a new webhook secret (then run `webhooks sync`); the old one is
    /// retired for --old-secret-grace-seconds, so callbacks keep verifying until sync.
    #[arg(long, requires = "force")]
    pub new_webhook_secret: bool,
    /// How long a replaced webhook secret still verifies (0: revoke it at once).
    #[arg(long, default_value_t = 86_400)]
    pub old_secret_grace_seconds: i64,
}

#[derive(Args, Debug)]
pub struct RotateArgs {
    #[command(flatten)]
    pub service: ServiceArg,
    /// Attach the rotation function and rotate every --days days.
    #[arg(long, requires = "function_arn")]
    pub enable: bool,
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(i64).range(1..=1000))]
    pub days: i64,
    /// The stack's SecretRotationFunctionArn output.
    #[arg(long)]
    pub function_arn: Option<String>,
    /// Start a rotation now (with the rotation already attached, or with --enable); a
    /// rotation that stopped half-way is cancelled first.
    #[arg(long, conflicts_with = "cancel")]
    pub now: bool,
    /// End a rotation in any state: Sinch back on the current secret, AWSPENDING removed,
    /// both checked.
    #[arg(long)]
    pub cancel: bool,
    /// The deployment's root or WebhookBaseUrl (for --cancel and --now: finds this
    /// deployment's webhooks by target when the service secret has no record of them).
    #[arg(long)]
    pub url: Option<String>,
    #[command(flatten)]
    pub sinch: SinchArgs,
}

pub async fn run(cmd: ServiceCommand, out: Output, aws: &aws_config::SdkConfig) -> Result<(), CliError> {
    let secrets = aws_sdk_secretsmanager::Client::new(aws);
    match cmd {
        ServiceCommand::Create(args) => create(args, out, &secrets).await,
        ServiceCommand::Rotate(args) => rotate(args, out, &secrets).await,
    }
}

async fn create(args: CreateArgs, out: Output, secrets: &aws_sdk_secretsmanager::Client) -> Result<(), CliError> {
    if !sinch_bridge::protocol::service::is_valid_service_name(&args.service.service) {
        return Err(CliError::new(
            "a service name is 1 to 64 letters, digits, '-' or '_', starting with a letter or digit",
        ));
    }
    let name = args.service.secret_name();
    let key_secret = require_secret(
        args.key_secret_file.as_deref(),
        "BRIDGE_KEY_SECRET",
        "access key secret",
        "--key-secret-file",
    )?;
    let given = read_secret(
        args.webhook_secret_file.as_deref(),
        "BRIDGE_WEBHOOK_SECRET",
        "webhook secret",
    )?;
    // Replacing a service (to add an app, a new key) keeps its webhook secret and the state
    // the bridge keeps in it (retired secrets, recorded webhooks) unless told otherwise.
    let existing = if args.force {
        existing_value(secrets, &name).await
    } else {
        None
    };
    let kept = existing
        .as_ref()
        .filter(|_| given.is_none() && !args.new_webhook_secret)
        .and_then(|v| v["webhook_secret"].as_str())
        .filter(|s| !s.is_empty())
        .map(SecretString::new);
    let generated = given.is_none() && kept.is_none();
    let webhook_secret = match (given, kept) {
        (Some(secret), _) | (None, Some(secret)) => secret,
        (None, None) => SecretString::new(random_webhook_secret().map_err(|e| CliError::new(e.to_string()))?),
    };
    let value = new_value(&args, &key_secret, &webhook_secret, existing.as_ref());
    let text = value.to_string();
    // Exactly what the functions will load, checked before anything is written.
    MessagingService::from_json(&args.service.service, text.as_bytes()).map_err(|e| CliError::new(e.to_string()))?;
    let created = secrets.create_secret().name(&name).secret_string(&text).send().await;
    let (verb, version) = match created {
        Ok(out) => ("created", out.version_id().unwrap_or_default().to_owned()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_exists_exception()) => {
            if !args.force {
                return Err(CliError::new(format!(
                    "{name} exists; pass --force to write a new version (its webhook secret and state are kept)"
                )));
            }
            let put = secrets
                .put_secret_value()
                .secret_id(&name)
                .secret_string(&text)
                .send()
                .await
                .map_err(|e| CliError::new(format!("cannot write {name}: {}", aws_code(&e))))?;
            ("replaced", put.version_id().unwrap_or_default().to_owned())
        }
        Err(e) => return Err(CliError::new(format!("cannot create {name}: {}", aws_code(&e)))),
    };
    let note = match (generated, verb) {
        (true, "replaced") => {
            "new webhook secret generated (not shown); the old one is retired: run `bridgectl webhooks sync` now"
        }
        (true, _) => "webhook secret generated (not shown); `bridgectl webhooks sync` gives it to Sinch",
        (false, "replaced") => "webhook secret kept or as given",
        _ => "webhook secret as given",
    };
    out.emit(
        &format!("{verb} {name} (version {version}); {note}"),
        &json!({"secret": name, "result": verb, "version_id": version, "webhook_secret_generated": generated}),
    );
    Ok(())
}

/// The new value: the configuration from the arguments, and from `existing` the state the
/// bridge keeps (retired secrets, the last rotation, each app's recorded webhook); a webhook
/// secret being replaced is retired for `--old-secret-grace-seconds`.
fn new_value(
    args: &CreateArgs,
    key_secret: &SecretString,
    webhook_secret: &SecretString,
    existing: Option<&Value>,
) -> Value {
    let apps: BTreeMap<&str, Value> = args
        .apps
        .iter()
        .map(|a| {
            let record = existing.and_then(|v| v["apps"][a.as_str()].get("webhook")).cloned();
            (a.as_str(), record.map_or_else(|| json!({}), |r| json!({"webhook": r})))
        })
        .collect();
    let mut value = json!({
        "region": args.sinch_region.to_ascii_lowercase(),
        "project_id": args.project,
        "key_id": args.key_id,
        "key_secret": key_secret.expose(),
        "webhook_secret": webhook_secret.expose(),
        "apps": apps,
    });
    if let Some(sender) = &args.sms_sender {
        value["sms_sender"] = json!(sender);
    }
    let Some(existing) = existing else {
        return value;
    };
    if let Some(rotation) = existing.get("rotation") {
        value["rotation"] = rotation.clone();
    }
    let now = unix_now();
    let mut retired: Vec<Value> = existing["retired_webhook_secrets"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| {
            r["until"].as_i64().is_some_and(|u| u > now) && r["secret"].as_str() != Some(webhook_secret.expose())
        })
        .collect();
    if let Some(old) = existing["webhook_secret"]
        .as_str()
        .filter(|old| *old != webhook_secret.expose())
        && args.old_secret_grace_seconds > 0
    {
        retired.push(json!({"secret": old, "until": now.saturating_add(args.old_secret_grace_seconds)}));
    }
    if !retired.is_empty() {
        value["retired_webhook_secrets"] = Value::Array(retired);
    }
    value
}

/// The service's current value as JSON, if it exists and is JSON.
async fn existing_value(secrets: &aws_sdk_secretsmanager::Client, name: &str) -> Option<Value> {
    let current = secrets
        .get_secret_value()
        .secret_id(name)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .ok()?;
    serde_json::from_str(current.secret_string()?).ok()
}

async fn rotate(args: RotateArgs, out: Output, secrets: &aws_sdk_secretsmanager::Client) -> Result<(), CliError> {
    if !args.enable && !args.now && !args.cancel {
        return Err(CliError::new(
            "say --enable (with --function-arn), --now, --cancel, or --enable --now",
        ));
    }
    let name = args.service.secret_name();
    let admin = SecretsManagerAdmin::new(secrets.clone());
    let mut cancelled = None;
    if args.cancel || args.now {
        let loaded = load_service(&admin, &args.service).await?;
        // RotateSecret refuses while AWSPENDING is on another version than AWSCURRENT: a
        // rotation that stopped half-way is ended first, Sinch back on the current secret.
        if args.cancel || loaded.versions.pending_rotation().is_some() {
            let endpoints = args.sinch.endpoints()?;
            let deployment = Deployment {
                base_url: args.url.as_deref(),
                service: &args.service.service,
            };
            let report = cancel(&admin, &endpoints, &name, &args.service.service, &deployment)
                .await
                .map_err(|e| CliError::new(format!("cannot cancel the rotation of {name}: {e}")))?;
            cancelled = Some(report);
        }
    }
    if args.cancel && !args.enable {
        let report = cancelled.unwrap_or_default();
        out.emit(
            &format!(
                "{name}: rotation ended; {} webhook(s) given the current secret ({} not readable back), {} already on it, AWSPENDING removed from {:?}",
                report.switched_back.len() + report.unreadable.len(),
                report.unreadable.len(),
                report.already_current.len(),
                report.pending_removed
            ),
            &json!({"secret": name, "cancelled": report}),
        );
        return Ok(());
    }
    start_rotation(&args, secrets, &name, cancelled, out).await
}

/// `RotateSecret`: attaches the function and schedule (`--enable`) and/or rotates now.
async fn start_rotation(
    args: &RotateArgs,
    secrets: &aws_sdk_secretsmanager::Client,
    name: &str,
    cancelled: Option<sinch_bridge::setup::rotation::CancelReport>,
    out: Output,
) -> Result<(), CliError> {
    let mut request = secrets.rotate_secret().secret_id(name).rotate_immediately(args.now);
    if args.enable {
        let rules = aws_sdk_secretsmanager::types::RotationRulesType::builder()
            .automatically_after_days(args.days)
            .build();
        request = request
            .set_rotation_lambda_arn(args.function_arn.clone())
            .rotation_rules(rules);
    }
    let answer = request
        .send()
        .await
        .map_err(|e| CliError::new(format!("cannot rotate {name}: {}", aws_code(&e))))?;
    let version = answer.version_id().unwrap_or_default();
    let before = if cancelled.is_some() {
        "a rotation that had stopped was cancelled first; "
    } else {
        ""
    };
    let text = match (args.enable, args.now) {
        (true, true) => format!(
            "{name}: {before}rotation every {} days attached; rotating now (version {version})",
            args.days
        ),
        (true, false) => format!("{name}: rotation every {} days attached", args.days),
        _ => format!("{name}: {before}rotating now (version {version})"),
    };
    out.emit(
        &text,
        &json!({"secret": name, "enabled": args.enable, "days": args.enable.then_some(args.days), "rotating_now": args.now,
                "version_id": version, "cancelled_first": cancelled}),
    );
    Ok(())
}
