//! `bridgectl service create` (write a service secret) and `bridgectl service rotate` (attach
//! and start the webhook-secret rotation). Secrets are never printed.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use sinch_bridge::adapters::random_webhook_secret;
use sinch_bridge::protocol::MessagingService;

use super::sinch::{ServiceArg, aws_code};
use super::{CliError, Output};

#[derive(Subcommand, Debug)]
pub enum ServiceCommand {
    /// Write a service secret (region, project, access key, apps, SMS sender) with a generated
    /// webhook secret unless one is given. Refuses to overwrite without --force.
    Create(CreateArgs),
    /// Attach the rotation function and rotate on a schedule (--enable), or rotate now (--now).
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
    /// Access key secret.
    #[arg(long, env = "BRIDGE_KEY_SECRET", hide_env_values = true)]
    pub key_secret: String,
    /// A Sinch app of this project and region (repeat for several).
    #[arg(long = "app", required = true)]
    pub apps: Vec<String>,
    /// Sender number for SMS (required by US SMS).
    #[arg(long)]
    pub sms_sender: Option<String>,
    /// The webhook secret; generated (32 random bytes) when absent.
    #[arg(long, env = "BRIDGE_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// Replace an existing secret's value (a new version; the old one becomes AWSPREVIOUS).
    /// Its webhook secret is kept unless --webhook-secret or --new-webhook-secret is given.
    #[arg(long)]
    pub force: bool,
    /// With --force: generate a new webhook secret (then run `webhooks sync`).
    #[arg(long, requires = "force")]
    pub new_webhook_secret: bool,
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
    /// Start a rotation now (with the rotation already attached, or with --enable).
    #[arg(long)]
    pub now: bool,
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
    // Replacing a service (to add an app, a new key) keeps its webhook secret unless told
    // otherwise: a new one here would not reach Sinch, and callbacks would fail after the grace.
    let kept = if args.force && args.webhook_secret.is_none() && !args.new_webhook_secret {
        existing_webhook_secret(secrets, &name).await
    } else {
        None
    };
    let generated = args.webhook_secret.is_none() && kept.is_none();
    let webhook_secret = match (args.webhook_secret, kept) {
        (Some(secret), _) | (None, Some(secret)) => secret,
        (None, None) => random_webhook_secret().map_err(|e| CliError::new(e.to_string()))?,
    };
    let apps: BTreeMap<&str, Value> = args.apps.iter().map(|a| (a.as_str(), json!({}))).collect();
    let mut value = json!({
        "region": args.sinch_region.to_ascii_lowercase(),
        "project_id": args.project,
        "key_id": args.key_id,
        "key_secret": args.key_secret,
        "webhook_secret": webhook_secret,
        "apps": apps,
    });
    if let (Some(sender), Some(object)) = (&args.sms_sender, value.as_object_mut()) {
        object.insert("sms_sender".into(), json!(sender));
    }
    let text = value.to_string();
    // Exactly what the functions will load, checked before anything is written.
    MessagingService::from_json(&args.service.service, text.as_bytes()).map_err(|e| CliError::new(e.to_string()))?;
    let created = secrets.create_secret().name(&name).secret_string(&text).send().await;
    let (verb, version) = match created {
        Ok(out) => ("created", out.version_id().unwrap_or_default().to_owned()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_exists_exception()) => {
            if !args.force {
                return Err(CliError::new(format!(
                    "{name} exists; pass --force to write a new version (the ingest keeps accepting the old webhook secret for its grace)"
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

/// The webhook secret of the service's current value, if it has one.
async fn existing_webhook_secret(secrets: &aws_sdk_secretsmanager::Client, name: &str) -> Option<String> {
    let current = secrets
        .get_secret_value()
        .secret_id(name)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .ok()?;
    let json: Value = serde_json::from_str(current.secret_string()?).ok()?;
    json["webhook_secret"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

async fn rotate(args: RotateArgs, out: Output, secrets: &aws_sdk_secretsmanager::Client) -> Result<(), CliError> {
    if !args.enable && !args.now {
        return Err(CliError::new("say --enable (with --function-arn), --now, or both"));
    }
    let name = args.service.secret_name();
    let mut request = secrets.rotate_secret().secret_id(&name).rotate_immediately(args.now);
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
    let text = match (args.enable, args.now) {
        (true, true) => format!(
            "{name}: rotation every {} days attached; rotating now (version {version})",
            args.days
        ),
        (true, false) => format!("{name}: rotation every {} days attached", args.days),
        _ => format!("{name}: rotating now (version {version})"),
    };
    out.emit(
        &text,
        &json!({"secret": name, "enabled": args.enable, "days": args.enable.then_some(args.days), "rotating_now": args.now, "version_id": version}),
    );
    Ok(())
}
