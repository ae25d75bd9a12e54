//! What the setup commands share: where Sinch is (the same overrides as the sender), and the
//! service secret read from Secrets Manager.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use sinch_bridge::adapters::{HttpsSinchClient, https_client};
use sinch_bridge::clock::SystemClock;
use sinch_bridge::ports::{SecretAdmin, Stage};
use sinch_bridge::protocol::MessagingService;
use sinch_bridge::send::DEFAULT_AUTH_URL;
use sinch_bridge::service_cache::DEFAULT_SECRET_PREFIX;
use sinch_bridge::setup::management::ManagementEndpoints;
use sinch_bridge::setup::service_document::ServiceDocument;

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

impl ServiceArg {
    /// How long a pending secret verifies: the ingest's `PENDING_SECRET_MAX_AGE_SECONDS`,
    /// which the template leaves at its default.
    pub fn pending_max_age(&self) -> i64 {
        i64::try_from(sinch_bridge::service_cache::PENDING_SECRET_MAX_AGE_SECONDS.default_number()).unwrap_or(i64::MAX)
    }
}

/// Now, Unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
        .unwrap_or(0)
}

/// A service secret as the setup commands need it: its versions, its current value as a
/// document and parsed, and the pending secret of a rotation in progress (with its creation).
pub struct LoadedService {
    pub versions: sinch_bridge::ports::SecretVersions,
    pub document: ServiceDocument,
    pub service: MessagingService,
    pub pending: Option<(String, i64)>,
}

/// Reads and parses the service secret; the error says which field is wrong, never a value.
pub async fn load_service<A: SecretAdmin>(admin: &A, service: &ServiceArg) -> Result<LoadedService, CliError> {
    let name = service.secret_name();
    let versions = admin
        .describe(&name)
        .await
        .map_err(|e| CliError::new(format!("cannot read {name}: {e}")))?;
    let current = versions
        .version_at(Stage::Current)
        .ok_or_else(|| CliError::new(format!("{name} has no AWSCURRENT version")))?;
    let (value, _) = admin
        .value_of(&name, current)
        .await
        .map_err(|e| CliError::new(format!("cannot read {name}: {e}")))?
        .ok_or_else(|| CliError::new(format!("{name} holds no string")))?;
    let (document, parsed) =
        ServiceDocument::parse(&service.service, &value).map_err(|e| CliError::new(e.to_string()))?;
    let pending = match versions.pending_rotation() {
        Some(id) => admin
            .value_of(&name, id)
            .await
            .ok()
            .flatten()
            .and_then(|(value, created)| {
                let json: serde_json::Value = serde_json::from_str(value.expose()).ok()?;
                Some((json["webhook_secret"].as_str()?.to_owned(), created.unwrap_or(0)))
            }),
        None => None,
    };
    Ok(LoadedService {
        versions,
        document,
        service: parsed,
        pending,
    })
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
