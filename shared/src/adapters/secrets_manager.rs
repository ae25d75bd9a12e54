//! [`SecretStore`] over AWS Secrets Manager `GetSecretValue`.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::SdkError;

use crate::ports::{PortError, SecretStore, SecretVersion, Stage};
use crate::protocol::SecretString;

#[derive(Clone)]
pub struct SecretsManagerStore {
    client: Client,
}

impl SecretsManagerStore {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

impl SecretStore for SecretsManagerStore {
    async fn fetch(&self, name: &str, stage: Stage) -> Result<Option<SecretVersion>, PortError> {
        // The stage is always named, AWSCURRENT included: after a rotation moto (and any cache
        // in front of the API) could otherwise answer with the version that used to be current.
        let result = self
            .client
            .get_secret_value()
            .secret_id(name)
            .version_stage(stage.label())
            .send()
            .await;
        match result {
            Ok(out) => Ok(Some(SecretVersion {
                value: out.secret_string().map(SecretString::new),
                version_id: out.version_id().unwrap_or_default().to_owned(),
                created: out.created_date().map(|d| d.secs()),
            })),
            Err(SdkError::ServiceError(e)) if e.err().is_resource_not_found_exception() => Ok(None),
            Err(e) => Err(PortError::new(
                "secrets_unavailable",
                format!(
                    "GetSecretValue {stage}: {code}",
                    stage = stage.label(),
                    code = super::sdk_error::describe(&e)
                ),
            )),
        }
    }
}
