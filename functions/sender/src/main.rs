//! sender: wiring only. Configuration, AWS clients and the HTTPS client are built once,
//! before the runtime loop; every batch then runs `sender::handle`.

use std::sync::Arc;
use std::time::Duration;

use sinch_bridge::adapters::{AwsSettings, HttpsPost, SecretsManagerStore, SqsSink, https_client, sdk_config};
use sinch_bridge::clock::SystemClock;
use sinch_bridge::config::{number, process_env};
use sinch_bridge::directory::{DirectoryConfig, ServiceDirectory};
use sinch_bridge::logging::{self, LogSettings};
use sinch_bridge::metrics::Metrics;
use sinch_bridge::send::{Sender, SenderConfig};

// One thread: Lambda hands an environment one invocation at a time and at most a vCPU or two,
// so worker threads only add start-up, memory and cross-thread wake-ups to every I/O wait.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let env = process_env;
    logging::init(LogSettings::from_env(&env));
    let config = SenderConfig::from_env(&env)?;
    let directory_config = DirectoryConfig::from_env(&env)?;
    let send_timeout = Duration::from_millis(number(&env, "SEND_TIMEOUT_MS", 10_000)?);
    let aws_timeout = Duration::from_millis(number(&env, "AWS_TIMEOUT_MS", 5_000)?);
    let https = https_client()?;
    let aws = sdk_config(AwsSettings::from_env(&env, aws_timeout)?, https.clone());
    let metrics = Metrics::stdout("sender");
    let clock = Arc::new(SystemClock);
    let secrets = SecretsManagerStore::new(aws_sdk_secretsmanager::Client::new(&aws));
    let directory =
        Arc::new(ServiceDirectory::new(secrets, clock.clone(), directory_config).with_metrics(metrics.clone()));
    let queues = SqsSink::new(aws_sdk_sqs::Client::new(&aws));
    let http = HttpsPost::new(https, send_timeout);
    let sender = Sender::new(directory, http, queues, clock, config, metrics);
    let sender = &sender;
    lambda_runtime::run(lambda_runtime::service_fn(move |event| sender::handle(sender, event))).await
}
