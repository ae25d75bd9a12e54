//! sender: wiring only. Configuration, AWS clients and the HTTPS client are built once,
//! before the runtime loop; every batch then runs `sender::handle`. A configuration it cannot
//! run with is refused at start, logged and counted (`sinch_bridge::startup`).

use std::sync::Arc;

use sinch_bridge::adapters::{
    AwsSettings, DynamoSendState, HttpsSinchClient, SecretsManagerStore, SendStates, SqsQueues, https_client,
    sdk_config,
};
use sinch_bridge::clock::SystemClock;
use sinch_bridge::config::{Lookup, process_env};
use sinch_bridge::logging::{self, LogSettings};
use sinch_bridge::metrics::Metrics;
use sinch_bridge::send::Sender;
use sinch_bridge::service_cache::ServiceCache;
use sinch_bridge::startup::refuse;

type RealSender = Sender<SecretsManagerStore, HttpsSinchClient, SqsQueues, SendStates>;

// One thread: Lambda hands an environment one invocation at a time and at most a vCPU or two,
// so worker threads only add start-up, memory and cross-thread wake-ups to every I/O wait.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let env = process_env;
    logging::init(LogSettings::from_env(&env));
    let metrics = Metrics::stdout("sender");
    let sender = build(&env, metrics.clone()).map_err(|e| refuse(&metrics, e))?;
    let sender = &sender;
    lambda_runtime::run(lambda_runtime::service_fn(move |event| sender::handle(sender, event))).await
}

fn build(env: &impl Lookup, metrics: Metrics) -> Result<RealSender, lambda_runtime::Error> {
    let (config, cache_config) = sinch_bridge::send::config::load(env)?;
    let https = https_client()?;
    let aws = sdk_config(AwsSettings::from_env(env)?, https.clone());
    let clock = Arc::new(SystemClock);
    let secrets = SecretsManagerStore::new(aws_sdk_secretsmanager::Client::new(&aws));
    let services = Arc::new(ServiceCache::new(secrets, clock.clone(), cache_config).with_metrics(metrics.clone()));
    let queues = SqsQueues::new(aws_sdk_sqs::Client::new(&aws));
    let sinch = HttpsSinchClient::new(https, config.send_timeout);
    let state = match &config.state_table {
        Some(table) => SendStates::Table(DynamoSendState::new(aws_sdk_dynamodb::Client::new(&aws), table)),
        None => SendStates::Off,
    };
    Ok(Sender::new(services, sinch, queues, clock, config, metrics).with_state(state))
}
