//! `bridgectl webhook send`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;
use sinch_bridge::protocol::{SecretString, Trigger, sign};
use sinch_bridge::service_cache::{ServiceCache, ServiceCacheConfig};

use super::{CliError, Output, read_file};

#[derive(Subcommand, Debug)]
pub enum WebhookCommand {
    /// Sign a callback with a service's secret and POST it; prints the answer's status.
    Send(SendArgs),
}

#[derive(Args, Debug)]
pub struct SendArgs {
    /// Webhook URL, e.g. http://127.0.0.1:3000/webhooks/demo.
    #[arg(long)]
    pub url: String,
    /// Build a sample body for this trigger (MESSAGE_INBOUND, MESSAGE_DELIVERY, ...).
    #[arg(long, conflicts_with = "body_file")]
    pub trigger: Option<String>,
    /// Send this file's exact bytes instead.
    #[arg(long)]
    pub body_file: Option<PathBuf>,
    /// App id for a built body.
    #[arg(long, default_value = crate::local::DEMO_APP_ID)]
    pub app: String,
    /// Project id for a built body.
    #[arg(long, default_value = crate::local::DEMO_PROJECT)]
    pub project: String,
    /// File holding the webhook secret (- for standard input; else BRIDGE_WEBHOOK_SECRET);
    /// without either, the service's secret is read from Secrets Manager.
    #[arg(long)]
    pub secret_file: Option<PathBuf>,
    /// Service name for the Secrets Manager lookup (default: the URL's last path segment).
    #[arg(long)]
    pub service: Option<String>,
    /// Secret name prefix.
    #[arg(long, default_value = sinch_bridge::service_cache::DEFAULT_SECRET_PREFIX)]
    pub prefix: String,
}

pub async fn run<F, Fut>(cmd: WebhookCommand, out: Output, aws: F) -> Result<(), CliError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = aws_config::SdkConfig>,
{
    let WebhookCommand::Send(args) = cmd;
    let body = body(&args)?;
    let given =
        super::secret_input::read_secret(args.secret_file.as_deref(), "BRIDGE_WEBHOOK_SECRET", "webhook secret")?;
    let secret = match given {
        Some(secret) => secret,
        None => service_secret(&args, &body, &aws().await).await?,
    };
    post(&args, body, &secret, out).await
}

/// The body to send: a sample of the trigger, or a file's exact bytes.
fn body(args: &SendArgs) -> Result<Vec<u8>, CliError> {
    match (&args.trigger, &args.body_file) {
        (Some(name), None) => {
            let trigger = Trigger::from_name(&name.to_ascii_uppercase())
                .filter(|t| *t != Trigger::Unknown)
                .ok_or_else(|| {
                    CliError::new(format!(
                        "unknown trigger {name:?}; one of: {}",
                        Trigger::ALL.map(|t| t.as_str()).join(", ")
                    ))
                })?;
            Ok(crate::samples::callback(trigger, &args.app, &args.project)
                .to_string()
                .into_bytes())
        }
        (None, Some(path)) => read_file(path),
        _ => Err(CliError::new("give --trigger or --body-file")),
    }
}

/// The secret the service's current version signs the body's app with, from Secrets Manager.
async fn service_secret(args: &SendArgs, body: &[u8], aws: &aws_config::SdkConfig) -> Result<SecretString, CliError> {
    let service = args
        .service
        .clone()
        .or_else(|| args.url.trim_end_matches('/').rsplit('/').next().map(str::to_owned))
        .ok_or_else(|| CliError::new("cannot tell the service from the URL; give --service"))?;
    let store = sinch_bridge::adapters::SecretsManagerStore::new(aws_sdk_secretsmanager::Client::new(aws));
    let config = ServiceCacheConfig {
        prefix: args.prefix.clone(),
        ..ServiceCacheConfig::default()
    };
    let clock = std::sync::Arc::new(sinch_bridge::clock::SystemClock);
    let versions = ServiceCache::new(store, clock, config)
        .get(&service)
        .await
        .map_err(|e| CliError::new(format!("service {service:?}: {e}")))?;
    let app = sinch_bridge::protocol::classify(body)
        .map(|c| c.app_id)
        .unwrap_or_default();
    versions
        .current
        .webhook_secret_for(&app)
        .map(|w| w.secret().clone())
        .ok_or_else(|| CliError::new(format!("service {service:?} has no webhook secret")))
}

/// Signs `body` now and POSTs it; prints the answer; fails unless it is 2xx.
async fn post(args: &SendArgs, body: Vec<u8>, secret: &SecretString, out: Output) -> Result<(), CliError> {
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let signed = sign(
        secret,
        &body,
        &crate::ulid::generate(),
        i64::try_from(timestamp).unwrap_or(0),
    );
    let client = crate::http::client().map_err(CliError::new)?;
    let mut request = client
        .post(&args.url)
        .timeout(std::time::Duration::from_secs(30))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in signed.pairs() {
        request = request.header(name, value);
    }
    let response = request
        .send()
        .await
        .map_err(|e| CliError::new(format!("POST {}: {}", args.url, e.without_url())))?;
    let status = response.status().as_u16();
    let answer = response.text().await.unwrap_or_default();
    out.emit(
        &format!("{status} {answer}"),
        &json!({"status": status, "body": serde_json::from_str::<serde_json::Value>(&answer).unwrap_or(json!(answer))}),
    );
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(CliError::new(format!("webhook answered {status}")))
    }
}
