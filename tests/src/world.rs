//! One bridge on moto, built with one call: the service secret, the queues, and an ingest or a
//! sender wired the way the functions wire them. A closure says what a test changes; everything
//! else starts from the configuration types' defaults.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_secretsmanager::Client as SecretsClient;
use aws_sdk_sqs::Client as SqsClient;
use serde_json::{Value, json};
use sinch_bridge::adapters::{DynamoNonces, HttpsSinchClient, Nonces, SecretsManagerStore, SqsQueues, https_client};
use sinch_bridge::clock::{Clock, SystemClock};
use sinch_bridge::ingest::{Ingest, IngestConfig};
use sinch_bridge::metrics::Metrics;
use sinch_bridge::ports::{NonceStore, QueueControl, QueueWriter, SecretStore, SinchClient};
use sinch_bridge::protocol::{SecretString, sign};
use sinch_bridge::send::{Sender, SenderConfig};
use sinch_bridge::service_cache::{ServiceCache, ServiceCacheConfig};

use crate::apigw::{Payload, webhook_event};
use crate::{
    Moto, Received, create_nonce_table, create_queue, create_queue_with_redrive, create_secret, drain, sqs_event,
    unique,
};

/// The app every default service lists.
pub const APP: &str = "01EUAPPAAAAAAAAAAAAAAAAAAA";
/// The webhook secret of the default service.
pub const WEBHOOK_SECRET: &str = "current-secret";

/// What [`World::start`] creates; change it in the closure.
pub struct Setup {
    /// FIFO queues (names ending in `.fifo`).
    pub fifo: bool,
    /// The service secret's JSON.
    pub service_secret: Value,
    /// The outbound queue's redrive `maxReceiveCount` to the DLQ, as the template sets one.
    pub redrive_max_receives: Option<u32>,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            fifo: false,
            service_secret: service_secret(WEBHOOK_SECRET),
            redrive_max_receives: None,
        }
    }
}

/// A service secret in region eu for [`APP`], signed with `webhook_secret`.
pub fn service_secret(webhook_secret: &str) -> Value {
    json!({"region": "eu", "project_id": "proj", "key_id": "key", "key_secret": "key-secret",
           "webhook_secret": webhook_secret, "apps": {APP: {}}})
}

/// A moto server with one service secret under a unique prefix and four queues: events
/// (the ingest's), outbound, its DLQ and a sent queue (the sender's).
pub struct World {
    pub moto: Moto,
    pub sqs: SqsClient,
    pub secrets: SecretsClient,
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// A nonce table shaped as the template's, for [`World::ingest_on_table`].
    pub nonce_table: String,
    pub prefix: String,
    pub service: String,
    pub events: String,
    pub outbound: String,
    pub dlq: String,
    pub sent: String,
    /// Where the functions built from this world write their metrics (discarded by default).
    pub metrics: Metrics,
    /// The functions' clock (the system's by default; a `ManualClock` compresses time).
    pub clock: Arc<dyn Clock>,
}

impl World {
    pub async fn start(tweak: impl FnOnce(&mut Setup)) -> World {
        let mut setup = Setup::default();
        tweak(&mut setup);
        let moto = Moto::start();
        let sqs = moto.sqs().await;
        let secrets = moto.secrets().await;
        let dynamodb = moto.dynamodb().await;
        let nonce_table = unique("nonces");
        create_nonce_table(&dynamodb, &nonce_table).await;
        let suffix = if setup.fifo { ".fifo" } else { "" };
        let queue = |name: &str| format!("{}{suffix}", unique(name));
        let events = create_queue(&sqs, &queue("events")).await;
        let dlq = create_queue(&sqs, &queue("outbound-dlq")).await;
        let outbound = match setup.redrive_max_receives {
            None => create_queue(&sqs, &queue("outbound")).await,
            Some(max) => create_queue_with_redrive(&sqs, &queue("outbound"), &dlq, max).await,
        };
        let sent = create_queue(&sqs, &unique("sent")).await;
        let prefix = format!("{}/", unique("prefix"));
        let service = unique("svc");
        let world = World {
            moto,
            sqs,
            secrets,
            dynamodb,
            nonce_table,
            prefix,
            service,
            events,
            outbound,
            dlq,
            sent,
            metrics: Metrics::discard("test"),
            clock: Arc::new(SystemClock),
        };
        world.put_service(&world.service, &setup.service_secret).await;
        world
    }

    /// Creates another service's secret under this world's prefix.
    pub async fn put_service(&self, name: &str, secret: &Value) {
        create_secret(&self.secrets, &self.secret_name(name), &secret.to_string()).await;
    }

    /// Everything stored on the events queue so far, taken off it.
    pub async fn stored(&self) -> Vec<Received> {
        drain(&self.sqs, &self.events, 30).await
    }

    pub fn secret_name(&self, service: &str) -> String {
        self.cache_config().secret_name(service)
    }

    pub fn cache_config(&self) -> ServiceCacheConfig {
        ServiceCacheConfig {
            prefix: self.prefix.clone(),
            ..ServiceCacheConfig::default()
        }
    }

    pub fn store(&self) -> SecretsManagerStore {
        SecretsManagerStore::new(self.secrets.clone())
    }

    pub fn queues(&self) -> SqsQueues {
        SqsQueues::new(self.sqs.clone())
    }

    /// The ingest on this world's Secrets Manager and SQS.
    pub fn ingest(
        &self,
        tweak: impl FnOnce(&mut IngestConfig, &mut ServiceCacheConfig),
    ) -> Ingest<SecretsManagerStore, SqsQueues> {
        self.ingest_with(self.store(), self.queues(), tweak)
    }

    /// The ingest with replay protection in this world's nonce table (`ReplayProtection=table`),
    /// configured as the function configures itself when `NONCE_TABLE_NAME` is set.
    pub fn ingest_on_table(
        &self,
        tweak: impl FnOnce(&mut IngestConfig, &mut ServiceCacheConfig),
    ) -> Ingest<SecretsManagerStore, SqsQueues, Nonces> {
        let table = DynamoNonces::new(self.dynamodb.clone(), &self.nonce_table);
        self.ingest(|c, cache| {
            c.nonce_table = Some(self.nonce_table.clone());
            c.tolerance_seconds = sinch_bridge::ingest::DEFAULT_TABLE_TOLERANCE_SECONDS;
            tweak(c, cache);
        })
        .with_nonce_store(Nonces::Table(table))
    }

    /// The ingest on ports of the test's choosing (a counting store, SQS through a proxy).
    pub fn ingest_with<S: SecretStore, Q: QueueWriter>(
        &self,
        store: S,
        queues: Q,
        tweak: impl FnOnce(&mut IngestConfig, &mut ServiceCacheConfig),
    ) -> Ingest<S, Q> {
        let mut config = IngestConfig {
            events_queue_url: self.events.clone(),
            ..IngestConfig::default()
        };
        let mut cache = self.cache_config();
        tweak(&mut config, &mut cache);
        let clock = self.clock.clone();
        let services = Arc::new(ServiceCache::new(store, clock.clone(), cache).with_metrics(self.metrics.clone()));
        Ingest::new(services, queues, clock, config, self.metrics.clone())
    }

    /// The sender's configuration against a mock Conversation API and OAuth endpoint at
    /// `mock_uri`, with this world's queues and service.
    pub fn sender_config(&self, mock_uri: &str) -> SenderConfig {
        SenderConfig {
            services: vec![self.service.clone()],
            auth_url: format!("{mock_uri}/oauth2/token"),
            api_base_override: Some(mock_uri.to_owned()),
            outbound_queue_url: self.outbound.clone(),
            dlq_url: self.dlq.clone(),
            sent_queue_url: Some(self.sent.clone()),
            send_timeout: Duration::from_millis(800),
            ..SenderConfig::default()
        }
    }

    /// The sender on this world's Secrets Manager and SQS and the real HTTPS client.
    pub fn sender(
        &self,
        mock_uri: &str,
        tweak: impl FnOnce(&mut SenderConfig, &mut ServiceCacheConfig),
    ) -> Sender<SecretsManagerStore, HttpsSinchClient, SqsQueues> {
        let mut config = self.sender_config(mock_uri);
        let mut cache = self.cache_config();
        tweak(&mut config, &mut cache);
        let sinch = HttpsSinchClient::new(https_client().expect("https client"), config.send_timeout);
        build_sender(self.store(), sinch, self.queues(), config, cache, self)
    }

    /// The sender on ports of the test's choosing.
    pub fn sender_with<S: SecretStore, H: SinchClient, Q: QueueWriter + QueueControl>(
        &self,
        store: S,
        sinch: H,
        queues: Q,
        mock_uri: &str,
        tweak: impl FnOnce(&mut SenderConfig, &mut ServiceCacheConfig),
    ) -> Sender<S, H, Q> {
        let mut config = self.sender_config(mock_uri);
        let mut cache = self.cache_config();
        tweak(&mut config, &mut cache);
        build_sender(store, sinch, queues, config, cache, self)
    }
}

fn build_sender<S: SecretStore, H: SinchClient, Q: QueueWriter + QueueControl>(
    store: S,
    sinch: H,
    queues: Q,
    config: SenderConfig,
    cache: ServiceCacheConfig,
    world: &World,
) -> Sender<S, H, Q> {
    let clock = world.clock.clone();
    let services = Arc::new(ServiceCache::new(store, clock.clone(), cache).with_metrics(world.metrics.clone()));
    Sender::new(services, sinch, queues, clock, config, world.metrics.clone())
}

/// The four `x-sinch-webhook-signature*` headers for `body`, as owned pairs.
pub fn signed_headers(secret: &str, body: &[u8], nonce: &str, timestamp: i64) -> Vec<(String, String)> {
    sign(&SecretString::new(secret), body, nonce, timestamp)
        .pairs()
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The webhook function's Lambda entry point with one API Gateway event: the status and the
/// JSON answer.
pub async fn invoke_ingest<S: SecretStore, Q: QueueWriter, N: NonceStore>(
    ingest: &Ingest<S, Q, N>,
    event: Value,
) -> (u16, Value) {
    let ctx = lambda_http::Context::default();
    let response = webhook_ingest::entry(ingest, lambda_http::LambdaEvent::new(event, ctx))
        .await
        .expect("entry never errs");
    let status = response["statusCode"].as_u64().expect("statusCode") as u16;
    let body: Value = serde_json::from_str(response["body"].as_str().unwrap_or("null")).expect("JSON body");
    (status, body)
}

/// POSTs `body` to `/webhooks/{service}` with `headers`, as an HTTP API (v2) event.
pub async fn post_webhook<S: SecretStore, Q: QueueWriter, N: NonceStore>(
    ingest: &Ingest<S, Q, N>,
    service: &str,
    headers: &[(String, String)],
    body: &str,
) -> (u16, Value) {
    invoke_ingest(
        ingest,
        webhook_event(Payload::HttpApiV2, service, headers, body.as_bytes(), false),
    )
    .await
}

/// The sender function's handler with the batch Lambda would build from these received
/// messages: the message ids it reports as failed.
pub async fn invoke_sender<S: SecretStore, H: SinchClient, Q: QueueWriter + QueueControl>(
    sender: &Sender<S, H, Q>,
    messages: &[Received],
) -> Vec<String> {
    let event: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_value(sqs_event(messages)).expect("an SQS event");
    let ctx = lambda_runtime::Context::default();
    let response = sender::handle(sender, lambda_runtime::LambdaEvent::new(event, ctx))
        .await
        .expect("handler");
    response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect()
}

/// What the event source mapping does with one batch: invoke the sender, then delete every
/// record it did not report as failed. Returns the failed ids.
pub async fn run_batch<S: SecretStore, H: SinchClient, Q: QueueWriter + QueueControl>(
    sender: &Sender<S, H, Q>,
    sqs: &SqsClient,
    queue_url: &str,
    messages: &[Received],
) -> Vec<String> {
    let failed = invoke_sender(sender, messages).await;
    for m in messages.iter().filter(|m| !failed.contains(&m.message_id)) {
        crate::delete(sqs, queue_url, m).await;
    }
    failed
}
