//! What the setup commands share: where Sinch is (the same overrides as the sender), and the
//! service secret read from Secrets Manager.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use sinch_bridge::adapters::{HttpsSinchClient, https_client};
use sinch_bridge::clock::SystemClock;
use sinch_bridge::protocol::MessagingService;
use sinch_bridge::send::DEFAULT_AUTH_URL;
use sinch_bridge::service_cache::DEFAULT_SECRET_PREFIX;
use sinch_bridge::setup::management::ManagementEndpoints;

use super::CliError;

#[derive(Args, Debug, Clone)]
pub struct SinchArgs {
    /// Replaces the regional Conversation API hosts (the mock: http://127.0.0.1:3010).
    #[arg(long, env = "CONVERSATION_API_URL")]
    pub conversation_api_url: Option<String>,
    /// The OAuth2 token endpoint.
    #[arg(long, env = "SINCH_AUTH_URL", default_value = DEFAULT_AUTH_URL)]
    pub auth_url: String,
}

impl SinchArgs {
    pub fn endpoints(&self) -> Result<ManagementEndpoints<HttpsSinchClient>, CliError> {
        let https = https_client().map_err(|e| CliError::new(format!("TLS: {e}")))?;
        Ok(ManagementEndpoints::new(
            HttpsSinchClient::new(https, Duration::from_secs(15)),
            &self.auth_url,
            self.conversation_api_url.clone(),
            Arc::new(SystemClock),
        ))
    }
}

#[derive(Args, Debug, Clone)]
pub struct ServiceArg {
    /// Service name (the secret is <prefix><service>).
    #[arg(long)]
    pub service: String,
    /// Secret name prefix.
    #[arg(long, default_value = DEFAULT_SECRET_PREFIX)]
    pub prefix: String,
}

impl ServiceArg {
    pub fn secret_name(&self) -> String {
        format!("{}{}", self.prefix, self.service)
    }
}

/// The service secret's current value, parsed; the error says which field is wrong, never a
/// value.
pub async fn read_service(
    secrets: &aws_sdk_secretsmanager::Client,
    service: &ServiceArg,
) -> Result<MessagingService, String> {
    let name = service.secret_name();
    let value = secrets
        .get_secret_value()
        .secret_id(&name)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .map_err(|e| format!("cannot read {name}: {}", aws_code(&e)))?;
    let text = value.secret_string().ok_or_else(|| format!("{name} holds no string"))?;
    MessagingService::from_json(&service.service, text.as_bytes()).map_err(|e| e.to_string())
}

/// The `webhook_secret` of the service's `AWSPENDING` version when one other than the current
/// exists (a rotation in progress); `None` otherwise or when it cannot be read.
pub async fn pending_webhook_secret(secrets: &aws_sdk_secretsmanager::Client, service: &ServiceArg) -> Option<String> {
    let name = service.secret_name();
    let read = |stage: &'static str| {
        let name = name.clone();
        async move {
            secrets
                .get_secret_value()
                .secret_id(name)
                .version_stage(stage)
                .send()
                .await
                .ok()
        }
    };
    let pending = read("AWSPENDING").await?;
    let current = read("AWSCURRENT").await?;
    if pending.version_id() == current.version_id() {
        return None;
    }
    let json: serde_json::Value = serde_json::from_str(pending.secret_string()?).ok()?;
    json["webhook_secret"].as_str().map(str::to_owned)
}

/// An AWS error's code (not its message, which can quote request content).
pub fn aws_code<E: aws_sdk_secretsmanager::error::ProvideErrorMetadata, R>(
    e: &aws_sdk_secretsmanager::error::SdkError<E, R>,
) -> String {
    match e {
        aws_sdk_secretsmanager::error::SdkError::ServiceError(s) => {
            s.err().code().unwrap_or("service error").to_owned()
        }
        aws_sdk_secretsmanager::error::SdkError::TimeoutError(_) => "timed out".to_owned(),
        aws_sdk_secretsmanager::error::SdkError::DispatchFailure(_) => "could not connect".to_owned(),
        _ => "AWS call failed".to_owned(),
    }
}
