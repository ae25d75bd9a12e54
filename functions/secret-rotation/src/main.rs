//! secret-rotation: wiring only. Secrets Manager invokes it once per rotation step. A
//! configuration it cannot run with is refused at start, logged and counted.

use std::sync::Arc;
use std::time::Duration;

use sinch_bridge::adapters::{
    AwsSettings, DynamoNonces, HttpsSinchClient, SecretsManagerAdmin, https_client, random_webhook_secret, sdk_config,
};
use sinch_bridge::clock::SystemClock;
use sinch_bridge::config::{Lookup, process_env};
use sinch_bridge::logging::{self, LogSettings};
use sinch_bridge::metrics::Metrics;
use sinch_bridge::setup::management::ManagementEndpoints;
use sinch_bridge::setup::rotation::{Rotation, RotationConfig};
use sinch_bridge::startup::refuse;

/// One management call to Sinch, connect to last byte.
const SINCH_TIMEOUT: Duration = Duration::from_secs(10);

type RealRotation = Rotation<SecretsManagerAdmin, ManagementEndpoints<HttpsSinchClient>, DynamoNonces>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let env = process_env;
    logging::init(LogSettings::from_env(&env));
    let metrics = Metrics::stdout("secret-rotation");
    let rotation = build(&env).map_err(|e| refuse(&metrics, e))?;
    let rotation = &rotation;
    lambda_runtime::run(lambda_runtime::service_fn(move |event| {
        secret_rotation::handle(rotation, event)
    }))
    .await
}

fn build(env: &impl Lookup) -> Result<RealRotation, lambda_runtime::Error> {
    let config = RotationConfig::from_env(env)?;
    let https = https_client()?;
    let aws = sdk_config(AwsSettings::from_env(env)?, https.clone());
    let admin = SecretsManagerAdmin::new(aws_sdk_secretsmanager::Client::new(&aws));
    // Where the ingest records which secret Sinch signs with (read only here).
    let sightings = config
        .sightings_table
        .as_deref()
        .map(|table| DynamoNonces::new(aws_sdk_dynamodb::Client::new(&aws), table));
    let sinch = ManagementEndpoints::new(
        HttpsSinchClient::new(https, SINCH_TIMEOUT),
        &config.auth_url,
        config.api_base_override.clone(),
        Arc::new(SystemClock),
    );
    Ok(Rotation::new(
        admin,
        Arc::new(sinch),
        sightings,
        config,
        Arc::new(SystemClock),
        random_webhook_secret,
    ))
}
