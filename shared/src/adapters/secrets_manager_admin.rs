//! [`SecretAdmin`] over AWS Secrets Manager: what the rotation function and the setup
//! commands read and write (`DescribeSecret`, `GetSecretValue` by version, `PutSecretValue`,
//! `UpdateSecretVersionStage`), and the random webhook secrets a rotation creates.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use base64::Engine as _;

use crate::ports::{PortError, SecretAdmin, SecretVersions, Stage};
use crate::protocol::SecretString;

#[derive(Clone)]
pub struct SecretsManagerAdmin {
    client: Client,
}

impl SecretsManagerAdmin {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn failed<E: ProvideErrorMetadata, R>(operation: &str, e: &SdkError<E, R>) -> PortError {
    PortError::new(
        "secrets_manager",
        format!("{operation}: {}", super::sdk_error::describe(e)),
    )
}

impl SecretAdmin for SecretsManagerAdmin {
    async fn describe(&self, secret_id: &str) -> Result<SecretVersions, PortError> {
        let out = self
            .client
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| failed("DescribeSecret", &e))?;
        let mut stages: Vec<(String, Vec<String>)> = out
            .version_ids_to_stages()
            .map(|m| m.iter().map(|(id, labels)| (id.clone(), labels.clone())).collect())
            .unwrap_or_default();
        stages.sort();
        Ok(SecretVersions {
            name: out.name().unwrap_or_default().to_owned(),
            rotation_enabled: out.rotation_enabled().unwrap_or(false),
            stages,
        })
    }

    async fn value_of(
        &self,
        secret_id: &str,
        version_id: &str,
    ) -> Result<Option<(SecretString, Option<i64>)>, PortError> {
        match self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .version_id(version_id)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .secret_string()
                .map(|s| (SecretString::new(s), out.created_date().map(|d| d.secs())))),
            // A version Secrets Manager made for the rotation has no value until createSecret.
            Err(SdkError::ServiceError(e)) if e.err().is_resource_not_found_exception() => Ok(None),
            Err(e) => Err(failed("GetSecretValue", &e)),
        }
    }

    async fn put_pending(
        &self,
        secret_id: &str,
        version_id: &str,
        value: &SecretString,
        rotation_token: Option<&str>,
    ) -> Result<(), PortError> {
        self.client
            .put_secret_value()
            .secret_id(secret_id)
            .client_request_token(version_id)
            .secret_string(value.expose())
            .version_stages(Stage::Pending.label())
            .set_rotation_token(rotation_token.map(str::to_owned))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failed("PutSecretValue", &e))
    }

    async fn put_current(&self, secret_id: &str, value: &SecretString) -> Result<String, PortError> {
        // No client token: every call is a new version (the SDK fills a random one in).
        self.client
            .put_secret_value()
            .secret_id(secret_id)
            .secret_string(value.expose())
            .send()
            .await
            .map(|out| out.version_id().unwrap_or_default().to_owned())
            .map_err(|e| failed("PutSecretValue", &e))
    }

    async fn remove_label(&self, secret_id: &str, stage: Stage, version_id: &str) -> Result<(), PortError> {
        self.client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(stage.label())
            .remove_from_version_id(version_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failed("UpdateSecretVersionStage", &e))
    }
}

/// A new webhook secret: 32 bytes from the TLS stack's CSPRNG (AWS-LC), base64url (43 characters).
pub fn random_webhook_secret() -> Result<String, PortError> {
    let mut bytes = [0u8; 32];
    rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| PortError::new("random_unavailable", "the system random source failed"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}
