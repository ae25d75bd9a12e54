//! Webhook-secret rotation on real parts, as issue-level runs: moto's Secrets Manager and SQS,
//! the mock's management API masking secrets as Sinch documents, the rotation's steps and the
//! ingest's cache in process, and Sinch's callback traffic signed with whatever secret the
//! mock's webhook holds at that moment. Hours are compressed by a manual clock (the rotation's
//! and the ingest's), never slept.

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bridge_tests::world::{World, now, post_webhook, signed_headers};
use bridge_tools::mock::{FaultKind, LoopbackMock, MockApp, MockConfig, SecretReads, on_loopback};
use serde_json::{Value, json};
use sinch_bridge::adapters::{HttpsSinchClient, SecretsManagerAdmin, SecretsManagerStore, SqsQueues, https_client};
use sinch_bridge::clock::Clock;
use sinch_bridge::ingest::Ingest;
use sinch_bridge::protocol::Region;
use sinch_bridge::setup::management::ManagementEndpoints;
use sinch_bridge::setup::rotation::{Rotation, RotationConfig, RotationEvent, Step};
use sinch_bridge::testing::ManualClock;

const APP: &str = "01HZX5R0TATE00000000000AP1";
const BASE: &str = "https://bridge.example";
const GRACE: Duration = Duration::from_secs(86_400);

type Rotor = Rotation<SecretsManagerAdmin, ManagementEndpoints<HttpsSinchClient>, sinch_bridge::adapters::DynamoNonces>;

struct Run {
    w: World,
    clock: Arc<ManualClock>,
    mock: LoopbackMock,
    ingest: Ingest<SecretsManagerStore, SqsQueues>,
    rotation: Rotor,
    sent: std::sync::atomic::AtomicUsize,
}

async fn run() -> Run {
    run_synced_at(BASE).await
}

/// As [`run`], the webhooks synced at `url` (a custom domain in front of the API, say).
async fn run_synced_at(url: &str) -> Run {
    let mut w = World::start(|s| {
        s.fifo = true;
        s.service_secret = json!({"region": "eu", "project_id": "proj", "key_id": "key", "key_secret": "key-secret",
                                  "webhook_secret": "initial-secret", "apps": {APP: {}}});
    })
    .await;
    let clock = ManualClock::new(now());
    w.clock = clock.clone();
    let mut config = MockConfig::for_tests(vec![MockApp::new(APP, Region::Eu, "proj")], "key", "key-secret", false);
    config.secret_reads = SecretReads::Masked;
    let mock = on_loopback(config).await.unwrap();
    let ingest = w.ingest(|c, cache| {
        c.tolerance_seconds = 86_400;
        cache.ttl = Duration::from_secs(300);
        cache.refresh_min_interval = Duration::from_secs(30);
    });
    let sinch = ManagementEndpoints::new(
        HttpsSinchClient::new(https_client().unwrap(), Duration::from_secs(5)),
        &format!("{}/oauth2/token", mock.url),
        Some(mock.url.clone()),
        clock.clone(),
    );
    let rotation = Rotation::new(
        SecretsManagerAdmin::new(w.secrets.clone()),
        Arc::new(sinch),
        None,
        RotationConfig {
            prefix: w.prefix.clone(),
            webhook_base_url: Some(format!("{BASE}/webhooks/")),
            refresh_wait: Duration::ZERO,
            grace: GRACE,
            pending_max_age: Duration::from_secs(86_400),
            auth_url: format!("{}/oauth2/token", mock.url),
            api_base_override: Some(mock.url.clone()),
            sightings_table: None,
        },
        clock.clone(),
        sinch_bridge::adapters::random_webhook_secret,
    );
    let r = Run {
        w,
        clock,
        mock,
        ingest,
        rotation,
        sent: Default::default(),
    };
    let (ok, out, err) = r
        .bridgectl(&["webhooks", "sync", "--service", &r.w.service.clone(), "--url", url])
        .await;
    assert!(ok, "{out} {err}");
    r
}

/// A callback Sinch signed at `at` with `secret`.
struct Signed {
    body: String,
    headers: Vec<(String, String)>,
}

impl Run {
    async fn bridgectl(&self, args: &[&str]) -> (bool, String, String) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_bridgectl"));
        command
            .args(args)
            .args(["--endpoint-url", &self.w.moto.endpoint, "--prefix", &self.w.prefix])
            .env("CONVERSATION_API_URL", &self.mock.url)
            .env("SINCH_AUTH_URL", format!("{}/oauth2/token", self.mock.url))
            .env("BRIDGE_KEY_SECRET", "key-secret")
            .env_remove("BRIDGE_WEBHOOK_SECRET")
            // No ingest reloads between these tests' writes and their syncs.
            .env("BRIDGE_REFRESH_WAIT_SECONDS", "0");
        let output = tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    fn secret_id(&self) -> String {
        self.w.secret_name(&self.w.service)
    }

    async fn step(&self, step: Step, token: &str) -> Result<(), String> {
        self.rotation
            .run(&RotationEvent {
                step,
                secret_id: self.secret_id(),
                token: token.into(),
                rotation_token: None,
            })
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Where Secrets Manager's `RotateSecret` would first create an empty `AWSPENDING` version
    /// for the token; moto cannot hold a version without a value, and createSecret serves a
    /// token that is not listed yet, so nothing is needed here.
    async fn start_rotation(&self, _token: &str) {}

    /// The secret the app's webhook holds at Sinch: what Sinch signs with now.
    fn sinch_secret(&self) -> String {
        let hook = self
            .mock
            .state
            .webhooks()
            .into_iter()
            .find(|w| w.app_id == APP)
            .unwrap();
        hook.secret.unwrap().expose().to_owned()
    }

    /// A new callback, signed now with what Sinch signs with now.
    fn sign_now(&self) -> Signed {
        self.sign_with(&self.sinch_secret())
    }

    fn sign_with(&self, secret: &str) -> Signed {
        let i = self.sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let body = json!({"app_id": APP, "message": {"id": format!("EVT{i:06}"), "conversation_id": "C1"}}).to_string();
        let headers = signed_headers(
            secret,
            body.as_bytes(),
            &format!("nonce-{i}-{:x}", fastrand::u64(..)),
            self.clock.unix_seconds(),
        );
        Signed { body, headers }
    }

    async fn deliver(&self, callback: &Signed) -> u16 {
        post_webhook(&self.ingest, &self.w.service, &callback.headers, &callback.body)
            .await
            .0
    }

    fn advance(&self, seconds: u64) {
        self.clock.advance(Duration::from_secs(seconds));
    }

    async fn current(&self) -> Value {
        let value = self
            .w
            .secrets
            .get_secret_value()
            .secret_id(self.secret_id())
            .version_stage("AWSCURRENT")
            .send()
            .await
            .unwrap();
        serde_json::from_str(value.secret_string().unwrap()).unwrap()
    }

    async fn has_pending(&self) -> bool {
        let described = self
            .w
            .secrets
            .describe_secret()
            .secret_id(self.secret_id())
            .send()
            .await
            .unwrap();
        let current = described
            .version_ids_to_stages()
            .unwrap()
            .iter()
            .find(|(_, l)| l.iter().any(|l| l == "AWSCURRENT"))
            .map(|(v, _)| v.clone());
        described
            .version_ids_to_stages()
            .unwrap()
            .iter()
            .any(|(v, l)| l.iter().any(|l| l == "AWSPENDING") && Some(v) != current.as_ref())
    }
}

fn new_token() -> String {
    format!("{:032x}", fastrand::u128(..))
}

/// A scheduled rotation while Sinch keeps sending: callbacks signed before each step and
/// delivered after it (Sinch's queue, its retries) and callbacks signed with the new secret the
/// moment the webhook holds it are all accepted: 0 refused.
#[tokio::test]
async fn a_scheduled_rotation_under_callback_traffic_refuses_no_callback() {
    let r = run().await;
    let token = new_token();
    r.start_rotation(&token).await;
    let mut refused = Vec::new();
    let mut in_flight: Vec<Signed> = Vec::new();
    for step in [Step::Create, Step::Set, Step::Test, Step::Finish] {
        // Signed now, delivered after the step: a callback Sinch queued or retried.
        in_flight.extend((0..3).map(|_| r.sign_now()));
        for callback in (0..3).map(|_| r.sign_now()) {
            let status = r.deliver(&callback).await;
            if status != 200 {
                refused.push((step, "before", status));
            }
        }
        r.step(step, &token).await.unwrap_or_else(|e| panic!("{step}: {e}"));
        r.advance(40);
        for callback in in_flight.drain(..).chain((0..3).map(|_| r.sign_now())) {
            let status = r.deliver(&callback).await;
            if status != 200 {
                refused.push((step, "after", status));
            }
        }
    }
    assert!(refused.is_empty(), "callbacks refused: {refused:?}");
    let delivered = r.sent.load(std::sync::atomic::Ordering::SeqCst);
    println!(
        "rotation under traffic: {delivered} callbacks, {} refused",
        refused.len()
    );
    assert_eq!(delivered, 36);
    let current = r.current().await;
    assert_eq!(
        current["webhook_secret"].as_str(),
        Some(r.sinch_secret().as_str()),
        "Sinch and Secrets Manager agree"
    );
    assert_ne!(r.sinch_secret(), "initial-secret");
    assert!(!r.has_pending().await);
}

/// The old secret verifies for the whole grace after the switch even though the service secret
/// is edited (an app added, as `service create --force` does) 15 minutes after the rotation,
/// and is refused after it.
#[tokio::test]
async fn the_old_secret_verifies_for_its_grace_despite_an_edit_after_the_rotation_and_never_after() {
    let r = run().await;
    let token = new_token();
    r.start_rotation(&token).await;
    for step in [Step::Create, Step::Set, Step::Test, Step::Finish] {
        r.step(step, &token).await.unwrap_or_else(|e| panic!("{step}: {e}"));
    }
    r.advance(15 * 60);
    let service = r.w.service.clone();
    let (ok, out, err) = r
        .bridgectl(&[
            "service",
            "create",
            "--service",
            &service,
            "--sinch-region",
            "eu",
            "--project",
            "proj",
            "--key-id",
            "key",
            "--app",
            APP,
            "--app",
            "01HZX5R0TATE00000000000AP2",
            "--force",
        ])
        .await;
    assert!(ok, "{out} {err}");
    assert_eq!(
        r.current().await["apps"].as_object().unwrap().len(),
        2,
        "the edit landed"
    );
    r.advance(300); // past the cache's TTL: every instance has read the edited version
    assert_eq!(
        r.deliver(&r.sign_with("initial-secret")).await,
        200,
        "still inside the grace"
    );
    r.advance(GRACE.as_secs() - 15 * 60 - 300 - 60);
    assert_eq!(
        r.deliver(&r.sign_with("initial-secret")).await,
        200,
        "a minute before the grace ends"
    );
    r.advance(120);
    assert_eq!(
        r.deliver(&r.sign_with("initial-secret")).await,
        401,
        "refused once the grace is over"
    );
    assert_eq!(r.deliver(&r.sign_now()).await, 200);
}

/// finishSecret three hours late (Secrets Manager retrying it through an outage): the old
/// secret still gets its full grace after the switch.
#[tokio::test]
async fn a_finish_three_hours_late_still_gives_the_old_secret_its_full_grace() {
    let r = run().await;
    let token = new_token();
    r.start_rotation(&token).await;
    for step in [Step::Create, Step::Set, Step::Test] {
        r.step(step, &token).await.unwrap_or_else(|e| panic!("{step}: {e}"));
    }
    r.advance(3 * 3600);
    assert_eq!(
        r.deliver(&r.sign_with("initial-secret")).await,
        200,
        "the old secret is still current"
    );
    r.step(Step::Finish, &token).await.unwrap();
    r.advance(GRACE.as_secs() - 60);
    assert_eq!(
        r.deliver(&r.sign_with("initial-secret")).await,
        200,
        "a full grace after the late finish"
    );
    r.advance(120);
    assert_eq!(r.deliver(&r.sign_with("initial-secret")).await, 401);
}

/// The management API down after setSecret: testSecret fails and Secrets Manager would retry
/// for hours. `bridgectl service rotate --cancel` leaves Sinch and Secrets Manager on the same,
/// accepted secret, and a new rotation then completes.
#[tokio::test]
async fn a_rotation_stopped_after_set_secret_is_ended_by_rotate_cancel_and_a_new_one_completes() {
    let r = run().await;
    let token = new_token();
    r.start_rotation(&token).await;
    r.step(Step::Create, &token).await.unwrap();
    r.step(Step::Set, &token).await.unwrap();
    let switched = r.sinch_secret();
    r.mock.state.inject_management(FaultKind::ServerError, 30, None);
    assert!(r.step(Step::Test, &token).await.is_err(), "Sinch down");
    assert_eq!(
        r.deliver(&r.sign_now()).await,
        200,
        "the pending secret verifies meanwhile"
    );
    let service = r.w.service.clone();
    let (ok, _, err) = r
        .bridgectl(&["service", "rotate", "--service", &service, "--cancel", "--url", BASE])
        .await;
    assert!(
        !ok && err.contains("sinch"),
        "still down: nothing removed, run it again: {err}"
    );
    assert!(r.has_pending().await);
    bridge_tools::http::client()
        .unwrap()
        .delete(format!("{}/_mock/faults", r.mock.url))
        .send()
        .await
        .unwrap();
    let (ok, out, err) = r
        .bridgectl(&["service", "rotate", "--service", &service, "--cancel", "--url", BASE])
        .await;
    assert!(ok, "{out} {err}");
    assert_eq!(r.sinch_secret(), "initial-secret", "Sinch back on the current secret");
    assert_ne!(switched, "initial-secret");
    assert!(!r.has_pending().await, "AWSPENDING removed");
    assert_eq!(r.current().await["webhook_secret"], "initial-secret");
    r.advance(400);
    assert_eq!(r.deliver(&r.sign_now()).await, 200, "the agreed secret is accepted");
    let again = new_token();
    r.start_rotation(&again).await;
    for step in [Step::Create, Step::Set, Step::Test, Step::Finish] {
        r.step(step, &again).await.unwrap_or_else(|e| panic!("{step}: {e}"));
    }
    assert_eq!(
        r.current().await["webhook_secret"].as_str(),
        Some(r.sinch_secret().as_str())
    );
    assert_eq!(r.deliver(&r.sign_now()).await, 200);
}

/// Another system's webhook on the same app that shares our secret (a migration from Contact
/// Pro): neither sync nor the rotation touches it.
#[tokio::test]
async fn a_webhook_of_another_target_sharing_our_secret_is_left_alone() {
    let r = run().await;
    let client = bridge_tools::http::client().unwrap();
    let other: Value = client
        .post(format!("{}/eu/v1/projects/proj/webhooks", r.mock.url))
        .basic_auth("key", Some("key-secret"))
        .json(
            &json!({"app_id": APP, "target": "https://contact-pro.example/hook", "target_type": "HTTP",
                      "secret": "initial-secret", "triggers": ["MESSAGE_INBOUND"]}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = other["id"].as_str().unwrap().to_owned();
    let service = r.w.service.clone();
    assert!(
        r.bridgectl(&[
            "webhooks",
            "sync",
            "--service",
            &service,
            "--url",
            BASE,
            "--reset-secrets"
        ])
        .await
        .0
    );
    let token = new_token();
    r.start_rotation(&token).await;
    for step in [Step::Create, Step::Set, Step::Test, Step::Finish] {
        r.step(step, &token).await.unwrap_or_else(|e| panic!("{step}: {e}"));
    }
    let theirs = r.mock.state.webhook(&id).unwrap();
    assert_eq!(
        theirs.secret.map(|s| s.expose().to_owned()).as_deref(),
        Some("initial-secret")
    );
    assert_eq!(theirs.target, "https://contact-pro.example/hook");
    assert_ne!(r.sinch_secret(), "initial-secret", "ours was rotated");
}

/// Behind a custom domain the webhooks do not target the API's own URL (`WEBHOOK_BASE_URL`);
/// sync recorded them, so the rotation finds them by their record and switches them.
#[tokio::test]
async fn a_rotation_finds_webhooks_behind_a_custom_domain_by_their_record() {
    let r = run_synced_at("https://hooks.custom.example").await;
    let token = new_token();
    for step in [Step::Create, Step::Set, Step::Test, Step::Finish] {
        r.step(step, &token).await.unwrap_or_else(|e| panic!("{step}: {e}"));
    }
    let hook = r.mock.state.webhooks().into_iter().find(|w| w.app_id == APP).unwrap();
    assert_eq!(
        hook.target,
        format!("https://hooks.custom.example/webhooks/{}", r.w.service)
    );
    assert_ne!(r.sinch_secret(), "initial-secret");
    assert_eq!(
        r.current().await["webhook_secret"].as_str(),
        Some(r.sinch_secret().as_str())
    );
}

/// The function's own edge and log configuration at TRACE, through a whole rotation with a
/// failed step and an unknown one: no webhook secret (old or new) and no access key appears in
/// the logs.
#[tokio::test]
async fn a_rotation_logs_no_secret_even_at_trace() {
    let r = run().await;
    r.mock.state.set_secret_reads(SecretReads::Full);
    let captured = bridge_tests::captured::Captured::default();
    let settings = sinch_bridge::logging::LogSettings {
        level: tracing::level_filters::LevelFilter::TRACE,
        json: true,
    };
    let guard = tracing::subscriber::set_default(sinch_bridge::logging::subscriber(settings, captured.clone()));
    let id = r.secret_id();
    let token = new_token();
    let invoke = |step: &'static str| {
        let event = json!({"Step": step, "SecretId": id, "ClientRequestToken": token});
        secret_rotation::handle(
            &r.rotation,
            lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default()),
        )
    };
    assert!(invoke("createSecret").await.is_ok());
    assert!(
        invoke("testSecret").await.is_err(),
        "a failed step is logged too (Sinch shows the old secret)"
    );
    assert!(invoke("dropSecret").await.is_err(), "an unknown step is refused");
    for step in ["setSecret", "testSecret", "finishSecret"] {
        assert!(invoke(step).await.is_ok(), "{step}");
    }
    drop(guard);
    let new = r.current().await["webhook_secret"].as_str().unwrap().to_owned();
    let logs = captured.text();
    assert!(
        logs.contains("rotation step") && logs.contains("webhook_not_updated"),
        "{logs}"
    );
    for secret in ["initial-secret", new.as_str(), "key-secret"] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
}
