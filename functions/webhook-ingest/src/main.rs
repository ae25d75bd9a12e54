//! webhook-ingest: wiring only. Configuration and AWS clients are built once, before the
//! runtime loop; every request then runs `webhook_ingest::entry`. A configuration it cannot
//! run with is refused at start, logged and counted (`sinch_bridge::startup`).

use std::sync::Arc;

use lambda_http::lambda_runtime::Runtime;
use lambda_http::lambda_runtime::layers::TracingLayer;

use sinch_bridge::adapters::{
    AwsSettings, DynamoNonces, Nonces, SecretsManagerStore, SqsQueues, https_client, sdk_config,
};
use sinch_bridge::clock::SystemClock;
use sinch_bridge::config::{Lookup, process_env};
use sinch_bridge::ingest::{Ingest, InstanceNonces};
use sinch_bridge::logging::{self, LogSettings};
use sinch_bridge::metrics::Metrics;
use sinch_bridge::service_cache::ServiceCache;
use sinch_bridge::startup::refuse;
use webhook_ingest::after_answer::AfterAnswer;

type RealIngest = Ingest<SecretsManagerStore, SqsQueues, Nonces>;

// One thread: Lambda hands an environment one invocation at a time and at most a vCPU or two,
// so worker threads only add start-up, memory and cross-thread wake-ups to every I/O wait.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let env = process_env;
    logging::init(LogSettings::from_env(&env));
    let metrics = Metrics::stdout("webhook-ingest");
    let ingest = build(&env, metrics.clone()).map_err(|e| refuse(&metrics, e))?;
    let ingest = &ingest;
    // The nonce confirmation runs once the answer is posted, before the next event: the answer
    // waits for one table call instead of two (ARCHITECTURE.md, "Replay protection"). The
    // tracing layer goes around it, so what the confirmation logs carries the request id.
    Runtime::new(lambda_http::service_fn(move |event| {
        webhook_ingest::entry(ingest, event)
    }))
    .layer(AfterAnswer(move || ingest.run_follow_ups()))
    .layer(TracingLayer::new())
    .run()
    .await
}

fn build(env: &impl Lookup, metrics: Metrics) -> Result<RealIngest, lambda_http::Error> {
    let (config, cache_config) = sinch_bridge::ingest::config::load(env)?;
    let settings = AwsSettings::from_env(env)?;
    let https = https_client()?;
    let aws = sdk_config(settings.clone(), https.clone());
    let secrets = SecretsManagerStore::new(aws_sdk_secretsmanager::Client::new(&aws));
    let queues = SqsQueues::new(aws_sdk_sqs::Client::new(&aws));
    let clock = Arc::new(SystemClock);
    let services = Arc::new(ServiceCache::new(secrets, clock.clone(), cache_config).with_metrics(metrics.clone()));
    let nonces = match &config.nonce_table {
        Some(table) => {
            // Its own, shorter timeout: claim + enqueue + confirm must fit the function's.
            let dynamodb = sdk_config(
                AwsSettings {
                    operation_timeout: config.nonce_timeout,
                    ..settings
                },
                https,
            );
            Nonces::Table(DynamoNonces::new(aws_sdk_dynamodb::Client::new(&dynamodb), table))
        }
        None => Nonces::Instance(InstanceNonces::new(config.nonce_capacity)),
    };
    Ok(Ingest::new(services, queues, clock, config, metrics)
        .with_nonce_store(nonces)
        .defer_follow_ups())
}
