//! Hours of a deployed bridge in seconds: the template's stack (its parameters, environment,
//! queues, alarms) run on a compressed clock, the functions' own handlers invoked as Lambda
//! would, Sinch on loopback, SQS, Lambda and API Gateway as models that publish the metrics
//! AWS documents, and a fault schedule. A [`Run`] holds every data point: the functions' EMF
//! lines and the models' metrics, for the template's alarms to be evaluated against.
//!
//! Same code, small durations: nothing sleeps; the clock moves in ten-second ticks, and every
//! timeout, backoff, window and TTL of the bridge reads that clock.

mod aws;
mod sinch;
pub mod sqs;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use serde_json::{Value, json};
use sinch_bridge::adapters::{HttpsSinchClient, https_client};
use sinch_bridge::clock::Clock;
use sinch_bridge::ingest::Ingest;
use sinch_bridge::metrics::Metrics;
use sinch_bridge::send::Sender;
use sinch_bridge::service_cache::ServiceCache;
use sinch_bridge::setup::rotation::{Rotation, RotationConfig};
use sinch_bridge::testing::{
    ManualClock, MemorySecretAdmin, MemorySendState, MemorySightings, MemoryWebhooks, ReadMode, SwitchableNonces,
};

use crate::cfn::{Stack, Template};
use crate::cloudwatch::MetricStore;
use crate::cloudwatch::alarm::{Alarm, History};
use crate::world::signed_headers;
pub use aws::{ApiGateway, LambdaMetrics};
use sinch::SinchDouble;
use sqs::{QueueSpec, Sqs};

/// The app of the run's first service.
pub const APP: &str = "01EUAPPAAAAAAAAAAAAAAAAAAA";
/// The run's first service (the one the webhook and rotation runs use).
pub const SERVICE: &str = "eu1";

/// A messaging service of a run: its name, region, project and one app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    pub name: &'static str,
    pub region: &'static str,
    pub project: &'static str,
    pub app: &'static str,
}

/// The run's first service.
pub const EU: Service = Service {
    name: SERVICE,
    region: "eu",
    project: "proj-eu",
    app: APP,
};
/// A second service, in another region.
pub const US: Service = Service {
    name: "us1",
    region: "us",
    project: "proj-us",
    app: "01USAPPAAAAAAAAAAAAAAAAAAA",
};

/// Outbound messages an upstream system enqueues: `per` every `every_s` seconds from
/// `from_min`, `total` of them at most, for one service's app, spread over `groups` FIFO groups
/// (recipients), the text naming the stream, the group and a sequence number.
#[derive(Debug, Clone, Copy)]
pub struct Outbound {
    pub service: Service,
    pub every_s: u64,
    pub per: u64,
    pub groups: u64,
    pub total: Option<u64>,
    pub from_min: u64,
}

impl Outbound {
    /// One message every `every_s` seconds for `service`, in `groups` groups, without end.
    pub fn every(service: Service, every_s: u64, groups: u64) -> Self {
        Self {
            service,
            every_s,
            per: 1,
            groups,
            total: None,
            from_min: 0,
        }
    }
}
/// What Sinch signs with unless a fault says otherwise.
const SINCH_SECRET: &str = "the-webhook-secret";
/// Where a run's clock starts: a whole hour, so periods line up as CloudWatch's do.
const START: i64 = 1_799_996_400;
const TICK: Duration = Duration::from_secs(10);

/// Something that goes wrong for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The Conversation API answers 503.
    SinchApiDown,
    /// The OAuth endpoint answers 503 (a cached token keeps working until it expires).
    SinchAuthDown,
    /// The OAuth endpoint refuses the access key (401).
    SinchKeyRefused,
    /// The Conversation API refuses every message (400): all poison.
    SinchRefusesMessages,
    /// Sinch's management API is down (webhook-secret rotation steps fail); a scheduled
    /// rotation starts with the fault.
    SinchManagementDown,
    /// Lambda throttles the sender's invocations.
    SenderThrottled,
    /// Every sender invocation fails (a crash, a timeout).
    SenderCrashes,
    /// The sender refuses to start (a setting it cannot run with).
    SenderRefusesToStart,
    /// The ingest refuses to start.
    IngestRefusesToStart,
    OutboundDlqDown,
    SentQueueDown,
    EventsQueueDown,
    NonceTableDown,
    /// Nonce claims lapse before their confirmation (a stalled request's lease ran out and
    /// Sinch's retry took the nonce): the callback is stored twice.
    NonceClaimsLapse,
    EventsConsumerStalled,
    /// Your consumer fails every event (they reach the DLQ).
    EventsConsumerFails,
    SentConsumerStalled,
    SentConsumerFails,
    /// Sinch signs the service's callbacks with a secret the bridge does not hold.
    WrongWebhookSecret,
    /// The Conversation API answers 503 for one project (its region down, say).
    ProjectDown(&'static str),
    /// Junk requests at this many per second on the webhook route.
    Flood(u32),
}

/// A run: the stack's parameters, the traffic, the faults and how long.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: &'static str,
    pub params: Vec<(&'static str, &'static str)>,
    /// (fault, from minute, to minute)
    pub faults: Vec<(Fault, u64, u64)>,
    pub minutes: u64,
    /// The services; the first is the webhook's and rotation's.
    pub services: Vec<Service>,
    /// What upstream systems enqueue.
    pub outbound: Vec<Outbound>,
    /// A Sinch callback every this many seconds (0: none).
    pub callbacks_every_s: u64,
    /// Idle minutes (no traffic at all) before the run proper: queues fall asleep after six hours.
    pub idle_before_min: u64,
    /// SQS's in-flight limit per queue (120,000; lower it to reach it).
    pub in_flight_limit: Option<usize>,
    /// The retention of every queue records wait on (not the dead-letter queues), compressed.
    pub retention_s: Option<u32>,
}

impl Scenario {
    /// Healthy traffic for `minutes`, the defaults of the template, no fault.
    pub fn healthy(name: &'static str, minutes: u64) -> Self {
        Self {
            name,
            params: Vec::new(),
            faults: Vec::new(),
            minutes,
            services: vec![EU],
            outbound: vec![Outbound::every(EU, 30, 20)],
            callbacks_every_s: 20,
            idle_before_min: 0,
            in_flight_limit: None,
            retention_s: None,
        }
    }

    pub fn with_params(mut self, params: &[(&'static str, &'static str)]) -> Self {
        self.params.extend_from_slice(params);
        self
    }

    pub fn with_fault(mut self, fault: Fault, from_min: u64, to_min: u64) -> Self {
        self.faults.push((fault, from_min, to_min));
        self
    }

    pub fn idle_before(mut self, minutes: u64) -> Self {
        self.idle_before_min = minutes;
        self
    }

    /// `services` instead of the first alone, and `outbound` instead of the default traffic.
    pub fn with_traffic(mut self, services: &[Service], outbound: &[Outbound]) -> Self {
        self.services = services.to_vec();
        self.outbound = outbound.to_vec();
        self
    }
}

/// What a run produced.
pub struct Run {
    pub stack: Stack,
    pub store: MetricStore,
    /// Every line the functions printed as metrics (EMF), in order.
    pub emf_lines: Vec<String>,
    /// When the run proper started (after any idle time), Unix ms.
    pub start_ms: i64,
    pub end_ms: i64,
    /// Counts of what happened, for the run's report.
    pub tally: BTreeMap<&'static str, u64>,
    /// What Sinch accepted, in order: (project, text, when).
    pub delivered: Vec<(String, String, i64)>,
    /// What the outbound DLQ holds at the end.
    pub dead_letters: Vec<sqs::Message>,
    /// Messages still on each queue at the end, by logical id.
    pub left: BTreeMap<&'static str, usize>,
    /// Messages SQS deleted because their retention ran out.
    pub expired: u64,
}

impl Run {
    /// Every alarm of the stack, evaluated over the whole run.
    pub fn alarms(&self) -> Vec<(Alarm, History)> {
        self.stack
            .resources_of_type("AWS::CloudWatch::Alarm")
            .into_iter()
            .map(|(id, resource)| {
                let alarm = Alarm::from_resource(&id, &resource).unwrap_or_else(|e| panic!("{e}"));
                let history = alarm
                    .evaluate(&self.store, self.start_ms, self.end_ms)
                    .unwrap_or_else(|e| panic!("{e}"));
                (alarm, history)
            })
            .collect()
    }

    /// Unix ms of minute `m` of the run proper.
    pub fn at_minute(&self, m: u64) -> i64 {
        self.start_ms + i64::try_from(m).unwrap_or(0) * 60_000
    }
}

/// The functions' metrics, collected in order.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    fn metrics(&self, function: &'static str, clock: &Arc<ManualClock>) -> Metrics {
        let sink = self.0.clone();
        Metrics::with_writer(
            function,
            Arc::new(move |line: &str| {
                sink.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line.to_owned())
            }),
        )
        .with_clock(clock.clone())
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A callback Sinch will post again: (due at ms, attempt, body, headers).
type SinchRetry = (i64, u32, String, Vec<(String, String)>);

type SimSender = Sender<MemorySecretAdmin, HttpsSinchClient, Sqs, MemorySendState>;
type SimIngest = Ingest<MemorySecretAdmin, Sqs, SwitchableNonces>;
type SimRotation = Rotation<MemorySecretAdmin, MemoryWebhooks, MemorySightings>;

/// Everything a run wires together.
struct World {
    stack: Stack,
    clock: Arc<ManualClock>,
    lines: Lines,
    sqs: Sqs,
    sinch: SinchDouble,
    secrets: MemorySecretAdmin,
    webhooks: MemoryWebhooks,
    nonces: SwitchableNonces,
    sender: SimSender,
    sender_metrics: Metrics,
    ingest: SimIngest,
    ingest_metrics: Metrics,
    rotation: SimRotation,
    lambda: LambdaMetrics,
    api: ApiGateway,
    urls: BTreeMap<&'static str, String>,
    sender_env: BTreeMap<String, String>,
    ingest_env: BTreeMap<String, String>,
    sinch_retries: Vec<SinchRetry>,
    tally: BTreeMap<&'static str, u64>,
    sequence: u64,
    /// Messages enqueued per outbound stream.
    enqueued: Vec<u64>,
    rotation_token: Option<(String, usize, i64)>,
}

fn lookup(env: &BTreeMap<String, String>) -> impl Fn(&str) -> Option<String> + '_ {
    move |k: &str| env.get(k).cloned().filter(|v| !v.is_empty())
}

fn queue_specs(stack: &Stack) -> Vec<QueueSpec> {
    let queues = stack.resources_of_type("AWS::SQS::Queue");
    let arn_to_url: BTreeMap<String, String> = queues
        .iter()
        .map(|(id, _)| (stack.attribute(id, "Arn"), stack.physical_id(id)))
        .collect();
    queues
        .iter()
        .map(|(id, q)| {
            let p = &q["Properties"];
            let number = |v: &Value, default: u32| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .map_or(default, |n| u32::try_from(n).unwrap_or(u32::MAX))
            };
            QueueSpec {
                url: stack.physical_id(id),
                name: stack.attribute(id, "QueueName"),
                arn: stack.attribute(id, "Arn"),
                visibility_s: number(&p["VisibilityTimeout"], 30),
                retention_s: number(&p["MessageRetentionPeriod"], 345_600),
                delay_s: number(&p["DelaySeconds"], 0),
                redrive: p["RedrivePolicy"]["deadLetterTargetArn"].as_str().map(|arn| {
                    (
                        arn_to_url[arn].clone(),
                        number(&p["RedrivePolicy"]["maxReceiveCount"], 10),
                    )
                }),
            }
        })
        .collect()
}

/// The sender as its `main` builds it, from the environment the stack gives it.
fn sim_sender(
    env: &BTreeMap<String, String>,
    secrets: &MemorySecretAdmin,
    sqs: &Sqs,
    state: &MemorySendState,
    clock: &Arc<ManualClock>,
    metrics: &Metrics,
) -> SimSender {
    let (config, cache) = sinch_bridge::send::config::load(&lookup(env)).unwrap_or_else(|e| panic!("{e}"));
    let services = Arc::new(ServiceCache::new(secrets.clone(), clock.clone(), cache).with_metrics(metrics.clone()));
    let http = HttpsSinchClient::new(https_client().expect("https client"), config.send_timeout);
    Sender::new(services, http, sqs.clone(), clock.clone(), config, metrics.clone()).with_state(state.clone())
}

/// The ingest as its `main` builds it (its nonce store is the run's, set by the caller).
fn sim_ingest(
    env: &BTreeMap<String, String>,
    secrets: &MemorySecretAdmin,
    sqs: &Sqs,
    clock: &Arc<ManualClock>,
    metrics: &Metrics,
) -> Ingest<MemorySecretAdmin, Sqs> {
    let (config, cache) = sinch_bridge::ingest::config::load(&lookup(env)).unwrap_or_else(|e| panic!("{e}"));
    let services = Arc::new(ServiceCache::new(secrets.clone(), clock.clone(), cache).with_metrics(metrics.clone()));
    Ingest::new(services, sqs.clone(), clock.clone(), config, metrics.clone())
}

/// The rotation function over the run's secret and Sinch's webhooks, the app's webhook
/// registered with the secret Sinch signs with.
fn sim_rotation(
    env: &BTreeMap<String, String>,
    secrets: &MemorySecretAdmin,
    webhooks: &MemoryWebhooks,
    clock: &Arc<ManualClock>,
) -> SimRotation {
    let config = RotationConfig::from_env(&lookup(env)).unwrap_or_else(|e| panic!("{e}"));
    let target = format!("{}{SERVICE}", config.webhook_base_url.clone().unwrap_or_default());
    webhooks.seed(APP, &target, Some(SINCH_SECRET));
    Rotation::new(
        secrets.clone(),
        Arc::new(webhooks.clone()),
        None,
        config,
        clock.clone(),
        || Ok(format!("rotated-{:016x}", fastrand::u64(..))),
    )
}

/// The event Lambda builds from a received batch.
fn sqs_event(batch: &[sqs::Message], queue_arn: &str, at_ms: i64) -> SqsEvent {
    let mut event = SqsEvent::default();
    for m in batch {
        let mut record = SqsMessage::default();
        record.message_id = Some(m.id.clone());
        record.receipt_handle = Some(m.receipt.clone());
        record.body = Some(m.body.clone());
        record.event_source = Some("aws:sqs".into());
        record.event_source_arn = Some(queue_arn.to_owned());
        record.message_attributes = m
            .attributes
            .iter()
            .map(|(k, v)| {
                let mut value = aws_lambda_events::event::sqs::SqsMessageAttribute::default();
                value.string_value = Some(v.clone());
                value.data_type = Some("String".into());
                (k.clone(), value)
            })
            .collect();
        let mut attributes: std::collections::HashMap<String, String> = [
            ("ApproximateReceiveCount".to_owned(), m.receive_count.to_string()),
            ("SentTimestamp".to_owned(), m.sent_ms.to_string()),
            (
                "ApproximateFirstReceiveTimestamp".to_owned(),
                m.first_receive_ms.unwrap_or(at_ms).to_string(),
            ),
        ]
        .into();
        if let Some(g) = &m.group {
            attributes.insert("MessageGroupId".into(), g.clone());
        }
        record.attributes = attributes;
        event.records.push(record);
    }
    event
}

/// The stack's queues as the SQS model, with the scenario's retention and in-flight limit, and
/// their URLs by logical id.
fn sim_queues(stack: &Stack, scenario: &Scenario, clock: &Arc<ManualClock>) -> (Sqs, BTreeMap<&'static str, String>) {
    let mut specs = queue_specs(stack);
    if let Some(retention) = scenario.retention_s {
        // The queues records wait on; dead-letter queues keep theirs.
        for spec in specs.iter_mut().filter(|s| s.redrive.is_some()) {
            spec.retention_s = retention;
        }
    }
    let sqs = Sqs::new(clock.clone(), specs);
    if let Some(limit) = scenario.in_flight_limit {
        sqs.set_in_flight_limit(limit);
    }
    let mut urls = BTreeMap::new();
    for id in [
        "EventsQueue",
        "OutboundQueue",
        "OutboundRetryQueue",
        "OutboundDeadLetterQueue",
        "SentQueue",
        "EventsDeadLetterQueue",
    ] {
        if stack.has(id) {
            urls.insert(id, stack.physical_id(id));
        }
    }
    (sqs, urls)
}

/// One service secret per scenario service, under the stack's prefix.
fn service_secrets(stack: &Stack, scenario: &Scenario, clock: &Arc<ManualClock>) -> MemorySecretAdmin {
    let prefix = stack.parameter("ServiceSecretPrefix").to_owned();
    let secret_of = |s: &Service| {
        json!({"region": s.region, "project_id": s.project, "key_id": format!("key-{}", s.name),
            "key_secret": "key-secret", "webhook_secret": SINCH_SECRET, "apps": {s.app: {}}})
        .to_string()
    };
    let first = scenario.services.first().copied().unwrap_or(EU);
    let secrets = MemorySecretAdmin::new(&format!("{prefix}{}", first.name), &secret_of(&first), clock.clone());
    for other in scenario.services.iter().skip(1) {
        secrets.add_secret(&format!("{prefix}{}", other.name), &secret_of(other));
    }
    secrets
}

impl World {
    async fn new(scenario: &Scenario) -> Self {
        let template = Template::load();
        let names: Vec<&str> = scenario.services.iter().map(|s| s.name).collect();
        let names = names.join(",");
        let mut params = vec![("ServiceNames", names.as_str()), ("EnableSentQueue", "true")];
        params.extend_from_slice(&scenario.params);
        let stack = template.stack("sim", &params).unwrap_or_else(|e| panic!("{e}"));
        let clock = ManualClock::new(START);
        let lines = Lines::default();
        let (sqs, urls) = sim_queues(&stack, scenario, &clock);
        let sinch = SinchDouble::start(clock.clone()).await;
        let secrets = service_secrets(&stack, scenario, &clock);
        let overrides = [
            ("SINCH_AUTH_URL".to_owned(), format!("{}/oauth2/token", sinch.uri())),
            ("CONVERSATION_API_URL".to_owned(), sinch.uri()),
        ];
        let mut sender_env = stack.function_environment("SenderFunction");
        sender_env.extend(overrides.clone());
        let mut ingest_env = stack.function_environment("WebhookIngestFunction");
        let mut rotation_env = stack.function_environment("SecretRotationFunction");
        rotation_env.extend(overrides);
        ingest_env.retain(|_, v| !v.is_empty());
        let sender_metrics = lines.metrics("sender", &clock);
        let send_state = MemorySendState::default();
        let sender = sim_sender(&sender_env, &secrets, &sqs, &send_state, &clock, &sender_metrics);
        let ingest_metrics = lines.metrics("webhook-ingest", &clock);
        let nonces = SwitchableNonces::default();
        let ingest = sim_ingest(&ingest_env, &secrets, &sqs, &clock, &ingest_metrics).with_nonce_store(nonces.clone());
        let webhooks = MemoryWebhooks::new(ReadMode::Masked);
        let rotation = sim_rotation(&rotation_env, &secrets, &webhooks, &clock);
        let lambda = LambdaMetrics::default();
        let api = ApiGateway::from_stack(&stack);
        Self {
            stack,
            clock,
            lines,
            sqs,
            sinch,
            secrets,
            webhooks,
            nonces,
            sender,
            sender_metrics,
            ingest,
            ingest_metrics,
            rotation,
            lambda,
            api,
            urls,
            sender_env,
            ingest_env,
            sinch_retries: Vec::new(),
            tally: BTreeMap::new(),
            sequence: 0,
            enqueued: vec![0; scenario.outbound.len()],
            rotation_token: None,
        }
    }

    fn count(&mut self, what: &'static str) {
        *self.tally.entry(what).or_default() += 1;
    }

    fn now_ms(&self) -> i64 {
        self.clock.unix_millis()
    }

    fn url(&self, id: &str) -> Option<String> {
        self.urls.get(id).cloned()
    }

    fn function_name(&self, id: &str) -> String {
        self.stack.physical_id(id)
    }

    /// The queues' and switches' state for this tick's faults.
    fn apply(&mut self, active: &HashSet<Fault>) {
        use std::sync::atomic::Ordering::SeqCst;
        let s = &self.sinch.switches;
        s.api_down.store(active.contains(&Fault::SinchApiDown), SeqCst);
        s.auth_down.store(active.contains(&Fault::SinchAuthDown), SeqCst);
        s.key_refused.store(active.contains(&Fault::SinchKeyRefused), SeqCst);
        s.refuse_messages
            .store(active.contains(&Fault::SinchRefusesMessages), SeqCst);
        let down: Vec<String> = active
            .iter()
            .filter_map(|f| match f {
                Fault::ProjectDown(p) => Some((*p).to_owned()),
                _ => None,
            })
            .collect();
        *s.projects_down.lock().unwrap_or_else(PoisonError::into_inner) = down;
        self.webhooks.set_down(active.contains(&Fault::SinchManagementDown));
        self.nonces.set_down(active.contains(&Fault::NonceTableDown));
        self.nonces.set_claims_lapse(active.contains(&Fault::NonceClaimsLapse));
        for (fault, id) in [
            (Fault::OutboundDlqDown, "OutboundDeadLetterQueue"),
            (Fault::SentQueueDown, "SentQueue"),
            (Fault::EventsQueueDown, "EventsQueue"),
        ] {
            if let Some(url) = self.url(id) {
                self.sqs.set_down(&url, active.contains(&fault));
            }
        }
    }

    /// An upstream system enqueues one message of stream `k` (groups by recipient, as a contact
    /// centre would); its text names the stream, its group and its number in the stream.
    fn enqueue_outbound(&mut self, k: usize, stream: Outbound) {
        let n = self.enqueued[k];
        if stream.total.is_some_and(|total| n >= total) {
            return;
        }
        self.enqueued[k] += 1;
        self.sequence += 1;
        let group = n % stream.groups.max(1);
        let to = format!("+46700{k}{group:04}");
        let text = format!("s{k}-g{group}-{n:06}");
        let body = json!({"app_id": stream.service.app, "channel": "SMS", "to": to, "correlation_id": format!("c{}", self.sequence),
            "message": {"text_message": {"text": text}}})
        .to_string();
        let Some(url) = self.url("OutboundQueue") else { return };
        let group = url.ends_with(".fifo").then_some(to);
        if self.sqs.send(&url, &body, Vec::new(), group).is_ok() {
            self.count("outbound enqueued");
        }
    }

    /// Lambda's event sources for the sender: the outbound queue's and the retry queue's,
    /// batches of each while messages are receivable.
    async fn poll_sender(&mut self, active: &HashSet<Fault>) {
        for (queue, event) in [("OutboundQueue", "Outbound"), ("OutboundRetryQueue", "Retries")] {
            self.poll(queue, event, active).await;
        }
    }

    async fn poll(&mut self, queue: &str, event: &str, active: &HashSet<Fault>) {
        let Some(url) = self.url(queue) else { return };
        let spec = self.sqs.spec(&url);
        let batch_size = self.stack.resource("SenderFunction")["Properties"]["Events"][event]["Properties"]["BatchSize"]
            .as_u64()
            .unwrap_or(10) as usize;
        let name = self.function_name("SenderFunction");
        for _ in 0..500 {
            let batch = self.sqs.receive(&url, batch_size, None);
            if batch.is_empty() {
                return;
            }
            let at = self.now_ms();
            if active.contains(&Fault::SenderThrottled) {
                // Lambda retries a throttled batch until the visibility timeout, then it comes
                // back: received, never processed.
                self.lambda.throttled(&name, at);
                self.count("sender throttled");
                return;
            }
            if active.contains(&Fault::SenderCrashes) {
                self.lambda.invoked(&name, at, true);
                self.count("sender crashed");
                continue;
            }
            if active.contains(&Fault::SenderRefusesToStart) {
                let mut broken = self.sender_env.clone();
                broken.insert("SEND_TIMEOUT_MS".into(), "999999999".into());
                if let Err(e) = sinch_bridge::send::config::load(&lookup(&broken)) {
                    sinch_bridge::startup::refuse(&self.sender_metrics, e);
                }
                self.lambda.invoked(&name, at, true);
                self.count("sender refused to start");
                continue;
            }
            let event = sqs_event(&batch, &spec.arn, at);
            let response = sender::handle(
                &self.sender,
                lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default()),
            )
            .await;
            match response {
                Ok(response) => {
                    self.lambda.invoked(&name, at, false);
                    let failed: HashSet<String> = response
                        .batch_item_failures
                        .iter()
                        .map(|f| f.item_identifier.clone())
                        .collect();
                    for m in batch.iter().filter(|m| !failed.contains(&m.id)) {
                        let _ = self.sqs.delete(&url, &m.receipt);
                    }
                }
                Err(_) => {
                    self.lambda.invoked(&name, at, true);
                }
            }
        }
    }

    /// Your consumer of the events or sent-records queue.
    fn consume(&mut self, id: &str, stalled: bool, fails: bool) {
        let Some(url) = self.url(id) else { return };
        if stalled {
            return;
        }
        for _ in 0..100 {
            let batch = self.sqs.receive(&url, 10, None);
            if batch.is_empty() {
                return;
            }
            if !fails {
                for m in &batch {
                    let _ = self.sqs.delete(&url, &m.receipt);
                }
            }
        }
    }

    /// Sinch posts a callback (a new one, or one it retries), through API Gateway.
    async fn callback(&mut self, body: String, headers: Vec<(String, String)>, attempt: u32, active: &HashSet<Fault>) {
        let status = self.post(&body, &headers, active).await;
        self.count(match status {
            200..=299 => "callbacks stored",
            429 => "callbacks throttled",
            400..=499 => "callbacks refused",
            _ => "callbacks failed (5xx)",
        });
        // Sinch's only published schedule (SMS): 5xx and 429 retried, from 5 s, doubling, for
        // almost a day; other 4xx not retried (docs/sinch-protocol.md, section 6).
        if (status >= 500 || status == 429) && attempt < 14 {
            let due = self.now_ms() + 5_000 * (1 << attempt);
            self.sinch_retries.push((due, attempt + 1, body, headers));
        }
    }

    async fn new_callback(&mut self, active: &HashSet<Fault>) {
        self.sequence += 1;
        let n = self.sequence;
        let body = json!({"app_id": APP, "project_id": "proj",
            "message": {"id": format!("EVT{n:08}"), "conversation_id": format!("CONV{n}"),
                "contact_message": {"text_message": {"text": format!("event {n}")}},
                "channel_identity": {"channel": "WHATSAPP", "identity": "46732001122"}}})
        .to_string();
        let secret = if active.contains(&Fault::WrongWebhookSecret) {
            "a-secret-the-bridge-does-not-hold".to_owned()
        } else {
            self.webhooks
                .all()
                .first()
                .and_then(|w| self.webhooks.secret_of(&w.id))
                .unwrap_or_else(|| SINCH_SECRET.to_owned())
        };
        let headers = signed_headers(
            &secret,
            body.as_bytes(),
            &format!("nonce-{n}"),
            self.clock.unix_seconds(),
        );
        self.callback(body, headers, 0, active).await;
    }

    /// One request through the HTTP API: its throttle, then the ingest function.
    async fn post(&mut self, body: &str, headers: &[(String, String)], active: &HashSet<Fault>) -> u16 {
        let at = self.now_ms();
        if !self.api.admit(at) {
            self.api.answered(at, 429, 0.0);
            return 429;
        }
        let name = self.function_name("WebhookIngestFunction");
        if active.contains(&Fault::IngestRefusesToStart) {
            let mut broken = self.ingest_env.clone();
            broken.insert("TRIGGER_QUEUE_URLS".into(), "not json".into());
            if let Err(e) = sinch_bridge::ingest::config::load(&lookup(&broken)) {
                sinch_bridge::startup::refuse(&self.ingest_metrics, e);
            }
            self.lambda.invoked(&name, at, true);
            // API Gateway answers 500 when its Lambda integration fails.
            self.api.answered(at, 500, 0.0);
            return 500;
        }
        let event = crate::apigw::webhook_event(
            crate::apigw::Payload::HttpApiV2,
            SERVICE,
            headers,
            body.as_bytes(),
            false,
        );
        let started = std::time::Instant::now();
        let response = webhook_ingest::entry(
            &self.ingest,
            lambda_http::LambdaEvent::new(event, lambda_http::Context::default()),
        )
        .await;
        let status = match response {
            Ok(v) => {
                self.lambda.invoked(&name, at, false);
                v["statusCode"]
                    .as_u64()
                    .and_then(|s| u16::try_from(s).ok())
                    .unwrap_or(500)
            }
            Err(_) => {
                self.lambda.invoked(&name, at, true);
                500
            }
        };
        self.api.answered(at, status, started.elapsed().as_secs_f64() * 1000.0);
        status
    }

    /// Junk on the webhook route: unsigned bodies to the service's URL.
    async fn flood(&mut self, per_second: u32, active: &HashSet<Fault>) {
        let requests = u64::from(per_second) * TICK.as_secs();
        for i in 0..requests {
            let status = self.post(&format!("{{\"junk\":{i}}}"), &[], active).await;
            if status == 429 {
                self.count("flood throttled");
            }
        }
    }

    /// Secrets Manager runs a scheduled rotation; a failed step is retried after 2, 4, 8, 16,
    /// then every 30 minutes (Secrets Manager documents no schedule; this one is frequent
    /// enough to page more than once if the alarm's window were short).
    async fn rotate(&mut self, starting: bool) {
        use sinch_bridge::setup::rotation::Step;
        if starting && self.rotation_token.is_none() {
            let token = format!("rotation-{}", self.now_ms());
            let _ = self.secrets.start_rotation(&token);
            self.rotation_token = Some((token, 0, self.now_ms()));
        }
        let Some((token, step, due)) = self.rotation_token.clone() else {
            return;
        };
        if self.now_ms() < due {
            return;
        }
        let steps = [Step::Create, Step::Set, Step::Test, Step::Finish];
        let Some(current) = steps.get(step) else {
            self.rotation_token = None;
            self.count("rotation completed");
            return;
        };
        let name = self.function_name("SecretRotationFunction");
        let event = json!({
            "Step": current.as_str(),
            "SecretId": format!("{}{SERVICE}", self.stack.parameter("ServiceSecretPrefix")),
            "ClientRequestToken": token,
        });
        let at = self.now_ms();
        match secret_rotation::handle(
            &self.rotation,
            lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default()),
        )
        .await
        {
            Ok(_) => {
                self.lambda.invoked(&name, at, false);
                // The next step a minute later (past the ingest's refresh interval).
                self.rotation_token = Some((token, step + 1, at + 60_000));
            }
            Err(_) => {
                self.lambda.invoked(&name, at, true);
                self.count("rotation steps failed");
                let retries = self.tally.get("rotation steps failed").copied().unwrap_or(1);
                let wait = 60_000 * (1_i64 << retries.min(5)).min(30);
                self.rotation_token = Some((token, step, at + wait));
            }
        }
    }

    async fn tick(&mut self, scenario: &Scenario, elapsed_s: u64, active: &HashSet<Fault>) {
        self.apply(active);
        for (k, stream) in scenario.outbound.iter().enumerate() {
            if stream.every_s > 0 && elapsed_s >= stream.from_min * 60 && elapsed_s.is_multiple_of(stream.every_s) {
                for _ in 0..stream.per.max(1) {
                    self.enqueue_outbound(k, *stream);
                }
            }
        }
        for fault in active {
            if let Fault::Flood(per_second) = fault {
                self.flood(*per_second, active).await;
            }
        }
        let now = self.now_ms();
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.sinch_retries)
            .into_iter()
            .partition(|(at, ..)| *at <= now);
        self.sinch_retries = later;
        for (_, attempt, body, headers) in due {
            self.callback(body, headers, attempt, active).await;
        }
        if scenario.callbacks_every_s > 0 && elapsed_s.is_multiple_of(scenario.callbacks_every_s) {
            self.new_callback(active).await;
        }
        self.poll_sender(active).await;
        self.consume(
            "EventsQueue",
            active.contains(&Fault::EventsConsumerStalled),
            active.contains(&Fault::EventsConsumerFails),
        );
        self.consume(
            "SentQueue",
            active.contains(&Fault::SentConsumerStalled),
            active.contains(&Fault::SentConsumerFails),
        );
        let starting = scenario
            .faults
            .iter()
            .any(|(f, from, _)| *f == Fault::SinchManagementDown && elapsed_s == from * 60);
        self.rotate(starting).await;
    }
}

/// Runs `scenario`: idle time if asked, then its minutes in ten-second ticks.
pub async fn run(scenario: &Scenario) -> Run {
    let mut world = World::new(scenario).await;
    let mut store = MetricStore::default();
    let idle_ticks = scenario.idle_before_min * 60 / TICK.as_secs();
    for _ in 0..idle_ticks {
        advance(&mut world, &mut store);
    }
    let start_ms = world.now_ms();
    let ticks = scenario.minutes * 60 / TICK.as_secs();
    for k in 0..ticks {
        let elapsed_s = k * TICK.as_secs();
        let minute = elapsed_s / 60;
        let active: HashSet<Fault> = scenario
            .faults
            .iter()
            .filter(|(_, from, to)| (*from..*to).contains(&minute))
            .map(|(f, ..)| *f)
            .collect();
        world.tick(scenario, elapsed_s, &active).await;
        advance(&mut world, &mut store);
    }
    let end_ms = world.now_ms();
    let emf_lines = world.lines.take();
    for line in &emf_lines {
        if let Err(e) = store.put_emf(line) {
            panic!("a metric line CloudWatch would drop: {e}");
        }
    }
    world.lambda.publish(&mut store);
    world.api.publish(&mut store);
    let dead_letters = world
        .url("OutboundDeadLetterQueue")
        .map(|url| world.sqs.messages(&url))
        .unwrap_or_default();
    let left = world.urls.iter().map(|(id, url)| (*id, world.sqs.depth(url))).collect();
    Run {
        stack: world.stack,
        store,
        emf_lines,
        start_ms,
        end_ms,
        tally: world.tally,
        delivered: world.sinch.delivered(),
        dead_letters,
        left,
        expired: world.sqs.expired(),
    }
}

/// Moves the clock one tick; at each minute's end, SQS publishes that minute.
fn advance(world: &mut World, store: &mut MetricStore) {
    let before = world.now_ms();
    world.clock.advance(TICK);
    let after = world.now_ms();
    if before / 60_000 != after / 60_000 {
        let minute = (after / 60_000 - 1) * 60_000;
        world.sqs.publish_minute(minute, store);
    }
}

/// The time stamp of the first data point of `metric` in `run` (any dimensions) at or after `from_ms`.
pub fn first_point(run: &Run, metric: &str, from_ms: i64) -> Option<i64> {
    run.store
        .points()
        .filter(|p| p.name == metric && p.at_ms >= from_ms && p.value > 0.0)
        .map(|p| p.at_ms)
        .min()
}

/// A healthy day and every fault for an hour (with what each needs to show: poison for a DLQ
/// that refuses writes, a small throttle for a flood): together they make every signal the
/// bridge has, for checks of the template's metrics against what is published.
pub fn every_fault() -> Vec<Scenario> {
    use Fault::*;
    let hour = |name, fault| Scenario::healthy(name, 210).with_fault(fault, 30, 90);
    vec![
        Scenario::healthy("healthy", 240),
        hour("api down", SinchApiDown),
        Scenario::healthy("auth down", 270).with_fault(SinchAuthDown, 30, 150),
        Scenario::healthy("key refused", 270).with_fault(SinchKeyRefused, 30, 150),
        hour("poison", SinchRefusesMessages),
        hour("management down", SinchManagementDown),
        hour("sender throttled", SenderThrottled),
        hour("sender crashes", SenderCrashes),
        hour("sender refuses to start", SenderRefusesToStart),
        hour("ingest refuses to start", IngestRefusesToStart),
        Scenario::healthy("dlq down", 270)
            .with_fault(SinchRefusesMessages, 30, 150)
            .with_fault(OutboundDlqDown, 30, 90),
        hour("sent queue down", SentQueueDown),
        hour("events queue down", EventsQueueDown),
        hour("nonce table down", NonceTableDown),
        hour("nonce claims lapse", NonceClaimsLapse),
        hour("events consumer stalled", EventsConsumerStalled),
        hour("events consumer fails", EventsConsumerFails),
        hour("sent consumer stalled", SentConsumerStalled),
        hour("sent consumer fails", SentConsumerFails),
        hour("wrong secret", WrongWebhookSecret),
        Scenario::healthy("flood", 210)
            .with_params(&[("ApiThrottlingRateLimit", "5"), ("ApiThrottlingBurstLimit", "10")])
            .with_fault(Flood(20), 30, 90),
    ]
}
