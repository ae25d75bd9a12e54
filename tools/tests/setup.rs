//! Setup as code against real protocols: `bridgectl service create`, `webhooks sync` and
//! `doctor` as the operator runs them (the binary, moto's Secrets Manager, the mock's
//! management API over HTTP), and the rotation function's steps in process on the same parts,
//! repeated and out of order.

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bridge_tests::{Moto, unique};
use bridge_tools::mock::{
    ChannelStatus, LoopbackMock, MockApp, MockConfig, MockState, MockWebhook, ProcessingMode, on_loopback,
};
use serde_json::{Value, json};
use sinch_bridge::adapters::{HttpsSinchClient, SecretsManagerAdmin, https_client, random_webhook_secret};
use sinch_bridge::clock::SystemClock;
use sinch_bridge::protocol::{Region, SecretString};
use sinch_bridge::setup::management::ManagementEndpoints;
use sinch_bridge::setup::rotation::{Rotation, RotationConfig, RotationError, RotationEvent, StepOutcome};

const US_OK: &str = "01HZX5SETUPAPP0000000000U1";
const US_CONVERSATION: &str = "01HZX5SETUPAPP0000000000U2";
const US_FAILING: &str = "01HZX5SETUPAPP0000000000U3";
const EU_ELSEWHERE: &str = "01HZX5SETUPAPP0000000000E1";
const US_FULL: &str = "01HZX5SETUPAPP0000000000U5";
const BASE: &str = "https://bridge.example";

fn apps() -> Vec<MockApp> {
    let mut conversation = MockApp::new(US_CONVERSATION, Region::Us, "proj");
    conversation.processing_mode = ProcessingMode::Conversation;
    let mut failing = MockApp::new(US_FAILING, Region::Us, "proj");
    failing.channel_credentials = vec![("SMS".into(), ChannelStatus::Failing)];
    let mut full = MockApp::new(US_FULL, Region::Us, "proj");
    full.webhooks = (0..5)
        .map(|i| MockWebhook {
            target: format!("https://other.example/{i}"),
            secret: None,
            triggers: vec!["MESSAGE_INBOUND".into()],
        })
        .collect();
    let mut ok = MockApp::new(US_OK, Region::Us, "proj");
    // Another integration's webhook: sync must leave it alone.
    ok.webhooks = vec![MockWebhook {
        target: "https://crm.example/hook".into(),
        secret: Some(SecretString::new("crm-secret")),
        triggers: vec!["MESSAGE_INBOUND".into()],
    }];
    vec![
        ok,
        conversation,
        failing,
        full,
        MockApp::new(EU_ELSEWHERE, Region::Eu, "proj"),
    ]
}

struct Setup {
    moto: Moto,
    mock_url: String,
    mock: Arc<MockState>,
    /// Keeps the mock serving for the test.
    _mock: LoopbackMock,
    prefix: String,
}

async fn setup() -> Setup {
    let moto = Moto::start();
    let running = on_loopback(MockConfig::for_tests(apps(), "key", "key-secret", false))
        .await
        .unwrap();
    Setup {
        moto,
        mock_url: running.url.clone(),
        mock: running.state.clone(),
        _mock: running,
        prefix: format!("{}/", unique("setup")),
    }
}

/// `bridgectl service create` for project `proj` and key `key`; `rest` starts with the first
/// app's id and may add flags.
fn create_args<'a>(service: &'a str, region: &'a str, key_secret: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let (app, flags) = rest.split_first().unwrap();
    let mut args = vec![
        "service",
        "create",
        "--service",
        service,
        "--sinch-region",
        region,
        "--project",
        "proj",
        "--key-id",
        "key",
        "--key-secret",
        key_secret,
        "--app",
        app,
    ];
    args.extend(flags);
    args
}

impl Setup {
    /// Runs bridgectl with `args` and the endpoints of this setup; (exit ok, stdout, stderr).
    /// Off the runtime: the mock serves on this test's runtime while bridgectl waits for it.
    async fn bridgectl(&self, args: &[&str]) -> (bool, String, String) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_bridgectl"));
        command
            .args(args)
            .args(["--endpoint-url", &self.moto.endpoint, "--prefix", &self.prefix])
            .env("CONVERSATION_API_URL", &self.mock_url)
            .env("SINCH_AUTH_URL", format!("{}/oauth2/token", self.mock_url))
            .env_remove("BRIDGE_WEBHOOK_SECRET");
        let output = tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    async fn json(&self, args: &[&str]) -> (bool, Value) {
        let (ok, out, err) = self.bridgectl(&[args, &["--json"]].concat()).await;
        let value = serde_json::from_str(out.trim()).unwrap_or_else(|_| panic!("not JSON: {out} / {err}"));
        (ok, value)
    }

    async fn create_service(&self, service: &str, apps: &[&str], extra: &[&str]) {
        let (first, more) = apps.split_first().unwrap();
        let mut args = create_args(service, "us", "key-secret", &[first]);
        for app in more {
            args.extend(["--app", app]);
        }
        args.extend(extra);
        let (ok, out, err) = self.bridgectl(&args).await;
        assert!(ok, "{out} {err}");
    }

    async fn current_secret(&self, service: &str) -> Value {
        let secrets = self.moto.secrets().await;
        let value = secrets
            .get_secret_value()
            .secret_id(format!("{}{service}", self.prefix))
            .version_stage("AWSCURRENT")
            .send()
            .await
            .unwrap();
        serde_json::from_str(value.secret_string().unwrap()).unwrap()
    }

    fn ours(&self, service: &str) -> Vec<bridge_tools::mock::Webhook> {
        let target = format!("{BASE}/webhooks/{service}");
        self.mock
            .webhooks()
            .into_iter()
            .filter(|w| w.target == target)
            .collect()
    }
}

#[tokio::test]
async fn service_create_generates_a_secret_refuses_to_overwrite_and_never_prints_secrets() {
    let s = setup().await;
    let (ok, out, err) = s
        .bridgectl(&create_args(
            "svc",
            "us",
            "key-secret-canary",
            &[US_OK, "--sms-sender", "+15550001111"],
        ))
        .await;
    assert!(ok, "{out} {err}");
    let stored = s.current_secret("svc").await;
    let generated = stored["webhook_secret"].as_str().unwrap().to_owned();
    assert_eq!(generated.len(), 43, "32 random bytes, base64url");
    assert_eq!(stored["sms_sender"], "+15550001111");
    for secret in ["key-secret-canary", generated.as_str()] {
        assert!(!out.contains(secret) && !err.contains(secret), "{out} {err}");
    }
    let (ok, _, err) = s.bridgectl(&create_args("svc", "us", "x", &[US_OK])).await;
    assert!(!ok && err.contains("--force"), "{err}");
    assert_eq!(
        s.current_secret("svc").await["webhook_secret"],
        generated.as_str(),
        "unchanged"
    );
    // An invalid service is refused before anything is written.
    let (ok, _, err) = s.bridgectl(&create_args("bad", "mars", "x", &[US_OK])).await;
    assert!(!ok && err.contains("region"), "{err}");
}

#[tokio::test]
async fn sync_registers_the_webhook_once_leaves_others_alone_and_a_second_run_changes_nothing() {
    let s = setup().await;
    s.create_service("svc", &[US_OK, US_CONVERSATION], &[]).await;
    let secret = s.current_secret("svc").await["webhook_secret"]
        .as_str()
        .unwrap()
        .to_owned();

    let (ok, dry) = s
        .json(&["webhooks", "sync", "--service", "svc", "--url", BASE, "--dry-run"])
        .await;
    assert!(ok, "{dry}");
    assert_eq!(dry["changed"], 2);
    assert!(s.ours("svc").is_empty(), "a dry run changes nothing");

    let (ok, first) = s.json(&["webhooks", "sync", "--service", "svc", "--url", BASE]).await;
    assert!(ok, "{first}");
    assert_eq!(first["changed"], 2);
    let ours = s.ours("svc");
    assert_eq!(ours.len(), 2);
    for webhook in &ours {
        assert_eq!(
            webhook.secret.as_ref().map(|s| s.expose().to_owned()),
            Some(secret.clone())
        );
        assert_eq!(webhook.triggers.len(), 21, "every trigger the deployment routes");
    }
    let crm: Vec<_> = s
        .mock
        .webhooks()
        .into_iter()
        .filter(|w| w.target == "https://crm.example/hook")
        .collect();
    assert_eq!(crm.len(), 1);
    assert_eq!(
        crm[0].secret.as_ref().map(|s| s.expose().to_owned()),
        Some("crm-secret".into())
    );

    let (ok, second) = s
        .json(&[
            "webhooks",
            "sync",
            "--service",
            "svc",
            "--url",
            &format!("{BASE}/webhooks/"),
        ])
        .await;
    assert!(ok, "{second}");
    assert_eq!(second["changed"], 0, "idempotent: {second}");
    let writes = s
        .mock
        .management_requests()
        .iter()
        .filter(|r| r["method"] != "GET")
        .count();
    assert_eq!(writes, 2, "only the first run wrote");

    // A narrower trigger list patches only the triggers.
    let (ok, third) = s
        .json(&[
            "webhooks",
            "sync",
            "--service",
            "svc",
            "--url",
            BASE,
            "--triggers",
            "MESSAGE_DELIVERY,MESSAGE_INBOUND",
        ])
        .await;
    assert!(ok, "{third}");
    assert_eq!(third["changed"], 2);
    assert!(s.ours("svc").iter().all(|w| w.triggers.len() == 2));
}

#[tokio::test]
async fn sync_reports_an_app_at_sinchs_limit_of_five_and_fails() {
    let s = setup().await;
    s.create_service("svc", &[US_OK, US_FULL], &[]).await;
    let (ok, result) = s.json(&["webhooks", "sync", "--service", "svc", "--url", BASE]).await;
    assert!(!ok, "exit code says something was not synced");
    assert_eq!(
        (result["changed"].as_u64(), result["blocked"].as_u64()),
        (Some(1), Some(1))
    );
    let full = result["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["app_id"] == US_FULL)
        .unwrap();
    assert!(full["change"].as_str().unwrap().contains("5 webhooks"), "{full}");
    assert_eq!(s.mock.webhooks().iter().filter(|w| w.app_id == US_FULL).count(), 5);
}

#[tokio::test]
async fn doctor_names_each_failure_with_its_fix() {
    let s = setup().await;
    // A US service: an app in eu, one in Conversation mode, one whose SMS channel fails, no SMS
    // sender, and the webhook synced for one app only.
    s.create_service("svc", &[US_OK, US_CONVERSATION, US_FAILING, EU_ELSEWHERE], &[])
        .await;
    let (ok, synced) = s.json(&["webhooks", "sync", "--service", "svc", "--url", BASE]).await;
    assert!(!ok, "the eu app cannot be synced on us: {synced}");
    assert_eq!(
        (synced["changed"].as_u64(), synced["blocked"].as_u64()),
        (Some(3), Some(1)),
        "the others are"
    );
    let webhook = s.ours("svc").into_iter().find(|w| w.app_id == US_FAILING).unwrap();
    let api = bridge_tests_api(&s);
    api.delete(&webhook.id).await;

    // The endpoint: a listener that answers 401 like a live ingest.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let probe_url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(|| async { (axum::http::StatusCode::UNAUTHORIZED, "{}") });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let (ok, report) = s.json(&["doctor", "--service", "svc", "--url", BASE]).await;
    assert!(!ok, "failures give a non-zero exit");
    let status = |check: &str| -> (String, String) {
        let c = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == check);
        let c = c.unwrap_or_else(|| panic!("no check {check}: {report}"));
        (
            c["status"].as_str().unwrap().to_owned(),
            c["detail"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(status("service secret").0, "pass");
    assert_eq!(status(&format!("app {US_OK}: exists")).0, "pass");
    assert_eq!(status(&format!("app {US_OK}: webhook")).0, "pass");
    let (st, detail) = status(&format!("app {EU_ELSEWHERE}: exists"));
    assert_eq!((st.as_str(), detail.as_str()), ("fail", "not in us but in eu"));
    assert_eq!(
        status(&format!("app {US_CONVERSATION}: processing mode")),
        ("fail".into(), "CONVERSATION".into())
    );
    assert_eq!(
        status(&format!("app {US_FAILING}: channel SMS")),
        ("fail".into(), "FAILING".into())
    );
    assert_eq!(status(&format!("app {US_OK}: US SMS sender")).0, "fail");
    assert!(
        status(&format!("app {US_FAILING}: webhook"))
            .1
            .starts_with("no webhook targets")
    );
    // The probe went to BASE, which does not resolve here.
    assert_eq!(status("endpoint").0, "fail");
    for check in report["checks"].as_array().unwrap() {
        if check["status"] == "fail" {
            assert!(check["fix"].is_string(), "every failure says how to fix it: {check}");
        }
    }
    assert!(
        !report
            .to_string()
            .contains(s.current_secret("svc").await["webhook_secret"].as_str().unwrap())
    );

    // The same service against a live endpoint (its webhooks target BASE, so those still fail).
    let (_, alive) = s.json(&["doctor", "--service", "svc", "--url", &probe_url]).await;
    let endpoint = alive["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "endpoint")
        .unwrap()
        .clone();
    assert_eq!(endpoint["status"], "pass", "{endpoint}");
}

/// Direct calls to the mock's management API for test setup (Basic auth).
struct MockApi {
    client: reqwest::Client,
    base: String,
}

fn bridge_tests_api(s: &Setup) -> MockApi {
    MockApi {
        client: bridge_tools::http::client().unwrap(),
        base: format!("{}/us/v1/projects/proj", s.mock_url),
    }
}

impl MockApi {
    async fn delete(&self, id: &str) {
        let answer = self
            .client
            .delete(format!("{}/webhooks/{id}", self.base))
            .basic_auth("key", Some("key-secret"))
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success());
    }

    async fn patch_secret(&self, id: &str, target: &str, secret: &str) {
        let answer = self
            .client
            .patch(format!("{}/webhooks/{id}?update_mask=secret", self.base))
            .basic_auth("key", Some("key-secret"))
            .json(&json!({"target": target, "secret": secret}))
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success());
    }
}

fn rotation(s: &Setup, secrets: aws_sdk_secretsmanager::Client) -> Rotation<SecretsManagerAdmin, HttpsSinchClient> {
    let sinch = ManagementEndpoints::new(
        HttpsSinchClient::new(https_client().unwrap(), Duration::from_secs(5)),
        &format!("{}/oauth2/token", s.mock_url),
        Some(s.mock_url.clone()),
        Arc::new(SystemClock),
    );
    let config = RotationConfig {
        prefix: s.prefix.clone(),
        webhook_base_url: Some(format!("{BASE}/webhooks/")),
        // Time compressed: the wait for the ingest's refresh interval is configuration.
        refresh_wait: Duration::ZERO,
        auth_url: format!("{}/oauth2/token", s.mock_url),
        api_base_override: Some(s.mock_url.clone()),
    };
    Rotation::new(
        SecretsManagerAdmin::new(secrets),
        Arc::new(sinch),
        config,
        Arc::new(SystemClock),
        random_webhook_secret,
    )
}

fn event(step: &str, secret_id: &str, token: &str) -> RotationEvent {
    RotationEvent {
        step: step.into(),
        secret_id: secret_id.into(),
        token: token.into(),
        rotation_token: None,
    }
}

#[tokio::test]
async fn rotation_steps_are_idempotent_repeated_and_out_of_order() {
    let s = setup().await;
    s.create_service("svc", &[US_OK, US_CONVERSATION], &[]).await;
    assert!(
        s.bridgectl(&["webhooks", "sync", "--service", "svc", "--url", BASE])
            .await
            .0
    );
    let old = s.current_secret("svc").await["webhook_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let secrets = s.moto.secrets().await;
    let id = format!("{}svc", s.prefix);
    let r = rotation(&s, secrets.clone());
    let token = uuid_like();
    let run = |step: &'static str| {
        let r = &r;
        let e = event(step, &id, &token);
        async move { r.run(&e).await }
    };

    // Out of order: nothing to set or test before the pending version exists.
    assert_eq!(run("setSecret").await.map_err(|e| e.code), Err("unknown_version"));
    run("createSecret").await.unwrap();
    let pending = pending_value(&secrets, &id, &token).await;
    run("createSecret").await.unwrap();
    assert_eq!(
        pending_value(&secrets, &id, &token).await,
        pending,
        "a repeated create keeps the value"
    );
    let new = pending["webhook_secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(pending["key_secret"], "key-secret", "everything else is copied");

    // Testing before setting fails, and says why.
    let early: Result<StepOutcome, RotationError> = run("testSecret").await;
    assert_eq!(early.map_err(|e| e.code), Err("webhook_not_updated"));
    run("setSecret").await.unwrap();
    let writes = s
        .mock
        .management_requests()
        .iter()
        .filter(|r| r["method"] == "PATCH")
        .count();
    run("setSecret").await.unwrap();
    assert_eq!(
        s.mock
            .management_requests()
            .iter()
            .filter(|r| r["method"] == "PATCH")
            .count(),
        writes,
        "a repeated set patches nothing"
    );
    assert!(
        s.ours("svc")
            .iter()
            .all(|w| w.secret.as_ref().map(|x| x.expose().to_owned()) == Some(new.clone()))
    );
    let crm = s
        .mock
        .webhooks()
        .into_iter()
        .find(|w| w.target == "https://crm.example/hook")
        .unwrap();
    assert_eq!(
        crm.secret.map(|x| x.expose().to_owned()),
        Some("crm-secret".into()),
        "other targets untouched"
    );
    run("testSecret").await.unwrap();
    run("testSecret").await.unwrap();

    // Someone changes a webhook by hand mid-rotation: test catches it, set repairs it.
    let one = s.ours("svc")[0].clone();
    bridge_tests_api(&s)
        .patch_secret(&one.id, &one.target, "hand-typed")
        .await;
    assert!(run("testSecret").await.is_err());
    run("setSecret").await.unwrap();
    run("testSecret").await.unwrap();

    run("finishSecret").await.unwrap();
    assert_eq!(run("finishSecret").await, Ok(StepOutcome::AlreadyFinished));
    assert_eq!(
        run("setSecret").await,
        Ok(StepOutcome::AlreadyFinished),
        "late steps change nothing"
    );
    assert_eq!(s.current_secret("svc").await["webhook_secret"], new.as_str());
    let previous = secrets
        .get_secret_value()
        .secret_id(&id)
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .unwrap();
    let previous: Value = serde_json::from_str(previous.secret_string().unwrap()).unwrap();
    assert_eq!(
        previous["webhook_secret"],
        old.as_str(),
        "the old secret stays for the grace"
    );
    let stages = secrets.describe_secret().secret_id(&id).send().await.unwrap();
    let pending_left = stages
        .version_ids_to_stages()
        .unwrap()
        .values()
        .any(|labels| labels.iter().any(|l| l == "AWSPENDING"));
    assert!(!pending_left, "the next rotation can start");
}

async fn pending_value(secrets: &aws_sdk_secretsmanager::Client, id: &str, token: &str) -> Value {
    let v = secrets
        .get_secret_value()
        .secret_id(id)
        .version_id(token)
        .send()
        .await
        .unwrap();
    serde_json::from_str(v.secret_string().unwrap()).unwrap()
}

/// A `ClientRequestToken` as Secrets Manager makes them (32 to 64 characters).
fn uuid_like() -> String {
    format!("{:032x}", fastrand::u128(..))
}

#[tokio::test]
async fn a_rotation_stops_before_sinch_changes_when_an_app_has_no_webhook_or_the_service_changed() {
    let s = setup().await;
    s.create_service("svc", &[US_OK, US_CONVERSATION], &[]).await;
    let secrets = s.moto.secrets().await;
    let id = format!("{}svc", s.prefix);
    let r = rotation(&s, secrets.clone());

    // No webhook yet: createSecret refuses, and nothing is written anywhere.
    let token = uuid_like();
    let refused = r.run(&event("createSecret", &id, &token)).await;
    assert_eq!(refused.map_err(|e| e.code), Err("no_webhook"));
    assert!(
        secrets
            .get_secret_value()
            .secret_id(&id)
            .version_id(&token)
            .send()
            .await
            .is_err()
    );

    // Synced, rotated up to testSecret, then someone adds an app: finish refuses to undo it.
    assert!(
        s.bridgectl(&["webhooks", "sync", "--service", "svc", "--url", BASE])
            .await
            .0
    );
    let token = uuid_like();
    for step in ["createSecret", "setSecret", "testSecret"] {
        r.run(&event(step, &id, &token)).await.unwrap();
    }
    s.create_service("svc", &[US_OK, US_CONVERSATION, US_FAILING], &["--force"])
        .await;
    let finish = r.run(&event("finishSecret", &id, &token)).await;
    assert_eq!(finish.map_err(|e| e.code), Err("changed_during_rotation"));
    let current = s.current_secret("svc").await;
    assert_eq!(
        current["apps"].as_object().unwrap().len(),
        3,
        "the operator's change stands"
    );
}

/// A Lambda function in moto for `service rotate --enable` to attach (moto's Lambda and IAM
/// over their own protocols). moto runs functions in Docker, which this machine lacks: its
/// RotateSecret then records the rotation and the step invocation fails quietly, so this checks
/// what the CLI asks of Secrets Manager; the steps themselves are tested in process above.
async fn moto_function(moto: &Moto, name: &str) -> String {
    let http = bridge_tools::http::client().unwrap();
    let auth = |service: &str| {
        format!(
            "AWS4-HMAC-SHA256 Credential=test/20261130/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00"
        )
    };
    let role = http
        .post(format!("{}/", moto.endpoint))
        .header("authorization", auth("iam"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "Action=CreateRole&Version=2010-05-08&RoleName={name}&AssumeRolePolicyDocument=%7B%7D"
        ))
        .send()
        .await
        .unwrap();
    assert!(role.status().is_success(), "{:?}", role.text().await);
    let function: Value = http
        .post(format!("{}/2015-03-31/functions", moto.endpoint))
        .header("authorization", auth("lambda"))
        .json(&json!({
            "FunctionName": name,
            "Runtime": "provided.al2023",
            "Role": format!("arn:aws:iam::123456789012:role/{name}"),
            "Handler": "bootstrap",
            "Code": {"ZipFile": "bm90IHJ1bg=="},
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    function["FunctionArn"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn service_rotate_enable_attaches_the_function_on_its_schedule_and_leaves_the_secret_alone() {
    let s = setup().await;
    s.create_service("svc", &[US_OK], &[]).await;
    let before = s.current_secret("svc").await;
    let arn = moto_function(&s.moto, &unique("rotation")).await;
    fn rotate<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        [
            &["service", "rotate", "--service", "svc", "--region", "us-east-1"],
            extra,
        ]
        .concat()
    }

    let (ok, _, err) = s.bridgectl(&rotate(&[])).await;
    assert!(
        !ok && err.contains("--enable"),
        "neither --enable nor --now is refused: {err}"
    );
    let (ok, _, err) = s.bridgectl(&rotate(&["--enable"])).await;
    assert!(
        !ok && err.contains("--function-arn"),
        "--enable needs the function: {err}"
    );
    let (ok, _, err) = s
        .bridgectl(&rotate(&["--enable", "--function-arn", &arn, "--days", "0"]))
        .await;
    assert!(!ok && err.contains("--days"), "{err}");
    let missing = format!("{arn}-missing");
    let (ok, _, err) = s.bridgectl(&rotate(&["--enable", "--function-arn", &missing])).await;
    assert!(
        !ok && err.contains("ResourceNotFoundException"),
        "AWS's error code is named: {err}"
    );

    let (ok, answer) = s
        .json(&rotate(&["--enable", "--days", "7", "--function-arn", &arn]))
        .await;
    assert!(ok, "{answer}");
    assert_eq!(answer["enabled"], true);
    assert_eq!(answer["days"], 7);
    assert_eq!(answer["rotating_now"], false);
    let described = s
        .moto
        .secrets()
        .await
        .describe_secret()
        .secret_id(format!("{}svc", s.prefix))
        .send()
        .await
        .unwrap();
    assert_eq!(described.rotation_enabled(), Some(true));
    assert_eq!(described.rotation_lambda_arn(), Some(arn.as_str()));
    assert_eq!(
        described.rotation_rules().and_then(|r| r.automatically_after_days()),
        Some(7)
    );
    // Without --now the schedule is attached and nothing rotates yet.
    assert_eq!(s.current_secret("svc").await, before);
}

#[tokio::test]
async fn service_create_force_keeps_the_webhook_secret_unless_told() {
    let s = setup().await;
    s.create_service("svc", &[US_OK], &[]).await;
    let first = s.current_secret("svc").await["webhook_secret"].clone();
    s.create_service("svc", &[US_OK, US_CONVERSATION], &["--force"]).await;
    let kept = s.current_secret("svc").await;
    assert_eq!(
        (kept["webhook_secret"].clone(), kept["apps"].as_object().unwrap().len()),
        (first.clone(), 2)
    );
    s.create_service("svc", &[US_OK], &["--force", "--new-webhook-secret"])
        .await;
    assert_ne!(s.current_secret("svc").await["webhook_secret"], first);
}

#[tokio::test]
async fn doctor_fails_a_webhook_whose_secret_or_triggers_differ() {
    let s = setup().await;
    s.create_service("svc", &[US_OK, US_CONVERSATION], &["--sms-sender", "+15550001111"])
        .await;
    assert!(
        s.bridgectl(&["webhooks", "sync", "--service", "svc", "--url", BASE])
            .await
            .0
    );
    let api = bridge_tests_api(&s);
    let ok_hook = s.ours("svc").into_iter().find(|w| w.app_id == US_OK).unwrap();
    api.patch_secret(&ok_hook.id, &ok_hook.target, "typed-by-hand").await;
    assert!(
        s.bridgectl(&[
            "webhooks",
            "sync",
            "--service",
            "svc",
            "--url",
            BASE,
            "--triggers",
            "OPT_IN"
        ])
        .await
        .0
    );
    let (ok, report) = s.json(&["doctor", "--service", "svc", "--url", BASE]).await;
    assert!(!ok);
    let detail = |app: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == format!("app {app}: webhook"))
            .map(|c| {
                (
                    c["status"].as_str().unwrap().to_owned(),
                    c["detail"].as_str().unwrap().to_owned(),
                )
            })
            .unwrap()
    };
    // sync repaired the secret but narrowed the triggers to OPT_IN.
    let (status, text) = detail(US_OK);
    assert_eq!(status, "fail");
    assert!(
        text.contains("missing triggers MESSAGE_DELIVERY, MESSAGE_INBOUND"),
        "{text}"
    );
    api.patch_secret(&ok_hook.id, &ok_hook.target, "typed-by-hand").await;
    let (_, report) = s.json(&["doctor", "--service", "svc", "--url", BASE]).await;
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == format!("app {US_OK}: webhook"))
        .unwrap()
        .clone();
    assert!(check["detail"].as_str().unwrap().contains("secret differs"), "{check}");
    assert!(!report.to_string().contains("typed-by-hand"), "never prints a secret");
}

/// Behind a custom domain the webhooks do not target the API's own URL; the rotation still
/// finds them by the secret they hold, and switches them.
#[tokio::test]
async fn a_rotation_finds_webhooks_behind_a_custom_domain_by_their_secret() {
    let s = setup().await;
    s.create_service("svc", &[US_OK], &[]).await;
    let custom = "https://hooks.custom.example";
    assert!(
        s.bridgectl(&["webhooks", "sync", "--service", "svc", "--url", custom])
            .await
            .0
    );
    let secrets = s.moto.secrets().await;
    let id = format!("{}svc", s.prefix);
    let r = rotation(&s, secrets.clone());
    let token = uuid_like();
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        r.run(&event(step, &id, &token))
            .await
            .unwrap_or_else(|e| panic!("{step}: {e}"));
    }
    let new = s.current_secret("svc").await["webhook_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let hook = s
        .mock
        .webhooks()
        .into_iter()
        .find(|w| w.target == format!("{custom}/webhooks/svc"))
        .unwrap();
    assert_eq!(hook.secret.map(|x| x.expose().to_owned()), Some(new));
}

/// Mid-rotation (after setSecret, before finishSecret) the webhooks hold the pending secret:
/// doctor warns that a rotation is in progress instead of failing them.
#[tokio::test]
async fn doctor_recognises_a_rotation_in_progress() {
    let s = setup().await;
    s.create_service("svc", &[US_OK], &[]).await;
    assert!(
        s.bridgectl(&["webhooks", "sync", "--service", "svc", "--url", BASE])
            .await
            .0
    );
    let secrets = s.moto.secrets().await;
    let id = format!("{}svc", s.prefix);
    let r = rotation(&s, secrets.clone());
    let token = uuid_like();
    for step in ["createSecret", "setSecret"] {
        r.run(&event(step, &id, &token)).await.unwrap();
    }
    let (_, report) = s.json(&["doctor", "--service", "svc", "--url", BASE]).await;
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == format!("app {US_OK}: webhook"))
        .unwrap()
        .clone();
    assert_eq!(check["status"], "warn", "{check}");
    assert!(
        check["detail"].as_str().unwrap().contains("rotation is in progress"),
        "{check}"
    );
}

/// The function's own edge and log configuration at TRACE, through a whole rotation with a
/// failed step: no webhook secret (old or new) and no access key appears in the logs.
#[tokio::test]
async fn a_rotation_logs_no_secret_even_at_trace() {
    let s = setup().await;
    s.create_service("svc", &[US_OK], &[]).await;
    assert!(
        s.bridgectl(&["webhooks", "sync", "--service", "svc", "--url", BASE])
            .await
            .0
    );
    let old = s.current_secret("svc").await["webhook_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let captured = bridge_tests::captured::Captured::default();
    let settings = sinch_bridge::logging::LogSettings {
        level: tracing::level_filters::LevelFilter::TRACE,
        json: true,
    };
    let guard = tracing::subscriber::set_default(sinch_bridge::logging::subscriber(settings, captured.clone()));
    let secrets = s.moto.secrets().await;
    let id = format!("{}svc", s.prefix);
    let r = rotation(&s, secrets);
    let token = uuid_like();
    let invoke = |step: &'static str| {
        let event = json!({"Step": step, "SecretId": id, "ClientRequestToken": token});
        secret_rotation::handle(
            &r,
            lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default()),
        )
    };
    assert!(invoke("createSecret").await.is_ok());
    assert!(invoke("testSecret").await.is_err(), "a failed step is logged too");
    for step in ["setSecret", "testSecret", "finishSecret"] {
        assert!(invoke(step).await.is_ok(), "{step}");
    }
    drop(guard);
    let new = s.current_secret("svc").await["webhook_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new, old);
    let logs = captured.text();
    assert!(
        logs.contains("rotation step") && logs.contains("webhook_not_updated"),
        "{logs}"
    );
    for secret in [old.as_str(), new.as_str(), "key-secret"] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
}
