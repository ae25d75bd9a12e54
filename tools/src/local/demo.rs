//! The demo messaging service the local loop provisions: its names, its secret (written to the
//! emulator's Secrets Manager; the template never holds secrets) and its app at the mock.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use sinch_bridge::protocol::{Region, SecretString};

use super::LocalError;
use crate::mock::{MockApp, MockConfig};

/// The demo messaging service the local loop provisions.
pub const DEMO_SERVICE: &str = "demo";
pub const DEMO_APP_ID: &str = "01HZX5DEM0APP00000000000AA";
pub const DEMO_WEBHOOK_SECRET: &str = "local-demo-webhook-secret";
pub const DEMO_PROJECT: &str = "demo-project";

/// Writes the demo service secret (the template never holds secrets).
pub async fn put_demo_secret(sdk: &aws_config::SdkConfig, prefix: &str) -> Result<(), LocalError> {
    let secrets = aws_sdk_secretsmanager::Client::new(sdk);
    let name = format!("{prefix}{DEMO_SERVICE}");
    let value = demo_secret().to_string();
    if secrets
        .create_secret()
        .name(&name)
        .secret_string(&value)
        .send()
        .await
        .is_err()
    {
        secrets
            .put_secret_value()
            .secret_id(&name)
            .secret_string(&value)
            .send()
            .await
            .map_err(|e| {
                LocalError::Aws(format!(
                    "PutSecretValue {name}: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                ))
            })?;
    }
    Ok(())
}

/// The demo service: region eu, one app, OAuth2 against the mock.
pub fn demo_secret() -> Value {
    json!({
        "region": "eu",
        "project_id": DEMO_PROJECT,
        "key_id": "demo-key",
        "key_secret": "demo-key-secret",
        "webhook_secret": DEMO_WEBHOOK_SECRET,
        "sms_sender": "+15550001111",
        "apps": { DEMO_APP_ID: {} }
    })
}

/// The mock Conversation API with the demo app (its webhook is registered through the mock's
/// management API once the loop listens, as `bridgectl webhooks sync` does at Sinch).
pub fn mock_config(callback_delay: Duration) -> MockConfig {
    MockConfig {
        apps: vec![MockApp {
            display_name: "Local demo".into(),
            webhooks: Vec::new(),
            ..MockApp::new(DEMO_APP_ID, Region::Eu, DEMO_PROJECT)
        }],
        credentials: HashMap::from([("demo-key".to_owned(), SecretString::new("demo-key-secret"))]),
        callback_delay,
        send_callbacks: true,
        secret_reads: crate::mock::SecretReads::default(),
    }
}
