//! Setup as code end to end, as the operator runs it: `bridgectl service create`, `webhooks
//! sync`, `doctor` and `service rotate` (the binary, moto's Secrets Manager, the mock's
//! management API over HTTP), in every way Sinch may show webhook secrets back: in full, masked
//! (its documented default) and left out. The rotation's scenarios are unit tests
//! (`shared/src/setup/rotation/tests.rs`); the runs on these parts with callback traffic are in
//! `rotation_runs.rs`.

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bridge_tests::{Moto, unique};
use bridge_tools::mock::{
    ChannelStatus, FaultKind, LoopbackMock, MockApp, MockConfig, MockState, MockWebhook, ProcessingMode, SecretReads,
    on_loopback,
};
use serde_json::{Value, json};
use sinch_bridge::adapters::{HttpsSinchClient, SecretsManagerAdmin, https_client, random_webhook_secret};
use sinch_bridge::clock::SystemClock;
use sinch_bridge::protocol::{Region, SecretString};
use sinch_bridge::setup::management::ManagementEndpoints;
use sinch_bridge::setup::rotation::{Rotation, RotationConfig, RotationEvent, Step};

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

async fn setup_in(mode: SecretReads) -> Setup {
    let moto = Moto::start();
    let mut config = MockConfig::for_tests(apps(), "key", "key-secret", false);
    config.secret_reads = mode;
    let running = on_loopback(config).await.unwrap();
    Setup {
        moto,
        mock_url: running.url.clone(),
        mock: running.state.clone(),
        _mock: running,
        prefix: format!("{}/", unique("setup")),
    }
}

async fn setup() -> Setup {
    setup_in(SecretReads::default()).await
}

/// `bridgectl service create` for project `proj` and key `key` (its secret comes from
/// `BRIDGE_KEY_SECRET`, see [`Setup::bridgectl`]); `rest` starts with the first app's id and
/// may add flags.
fn create_args<'a>(service: &'a str, region: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
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
        "--app",
        app,
    ];
    args.extend(flags);
    args
}

impl Setup {
    /// Runs bridgectl with `args`, the endpoints of this setup and the access key's secret in
    /// `BRIDGE_KEY_SECRET`; (exit ok, stdout, stderr). Off the runtime: the mock serves on this
    /// test's runtime while bridgectl waits for it.
    async fn bridgectl(&self, args: &[&str]) -> (bool, String, String) {
        self.bridgectl_with(args, &[("BRIDGE_KEY_SECRET", "key-secret")], None)
            .await
    }

    async fn bridgectl_with(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> (bool, String, String) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_bridgectl"));
        command
            .args(args)
            .args(["--endpoint-url", &self.moto.endpoint, "--prefix", &self.prefix])
            .env("CONVERSATION_API_URL", &self.mock_url)
            .env("SINCH_AUTH_URL", format!("{}/oauth2/token", self.mock_url))
            .env_remove("BRIDGE_WEBHOOK_SECRET")
            // No ingest reloads between these tests' writes and their syncs.
            .env("BRIDGE_REFRESH_WAIT_SECONDS", "0")
            .env_remove("BRIDGE_KEY_SECRET")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let input = stdin.map(str::to_owned);
        let output = tokio::task::spawn_blocking(move || {
            let mut child = command.spawn().unwrap();
            if let (Some(text), Some(mut pipe)) = (input, child.stdin.take()) {
                use std::io::Write as _;
                pipe.write_all(text.as_bytes()).unwrap();
            }
            child.wait_with_output().unwrap()
        })
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
        let mut args = create_args(service, "us", &[first]);
        for app in more {
            args.extend(["--app", app]);
        }
        args.extend(extra);
        let (ok, out, err) = self.bridgectl(&args).await;
        assert!(ok, "{out} {err}");
    }

    async fn sync(&self, service: &str) -> Value {
        let (ok, result) = self
            .json(&["webhooks", "sync", "--service", service, "--url", BASE])
            .await;
        assert!(ok, "{result}");
        result
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

    fn management_writes(&self) -> usize {
        self.mock
            .management_requests()
            .iter()
            .filter(|r| r["method"] != "GET")
            .count()
    }
}

fn check(report: &Value, name: &str) -> (String, String) {
    let c = report["checks"].as_array().unwrap().iter().find(|c| c["check"] == name);
    let c = c.unwrap_or_else(|| panic!("no check {name}: {report}"));
    (
        c["status"].as_str().unwrap().to_owned(),
        c["detail"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn service_create_generates_a_secret_refuses_to_overwrite_and_never_prints_secrets() {
    let s = setup().await;
    let args = create_args("svc", "us", &[US_OK, "--sms-sender", "+15550001111"]);
    let (ok, out, err) = s
        .bridgectl_with(&args, &[("BRIDGE_KEY_SECRET", "key-secret-canary")], None)
        .await;
    assert!(ok, "{out} {err}");
    let stored = s.current_secret("svc").await;
    let generated = stored["webhook_secret"].as_str().unwrap().to_owned();
    assert_eq!(generated.len(), 43, "32 random bytes, base64url");
    assert_eq!(
        (stored["sms_sender"].as_str(), stored["key_secret"].as_str()),
        (Some("+15550001111"), Some("key-secret-canary"))
    );
    for secret in ["key-secret-canary", generated.as_str()] {
        assert!(!out.contains(secret) && !err.contains(secret), "{out} {err}");
    }
    let (ok, _, err) = s.bridgectl(&create_args("svc", "us", &[US_OK])).await;
    assert!(!ok && err.contains("--force"), "{err}");
    assert_eq!(
        s.current_secret("svc").await["webhook_secret"],
        generated.as_str(),
        "unchanged"
    );
    // An invalid service is refused before anything is written.
    let (ok, _, err) = s.bridgectl(&create_args("bad", "mars", &[US_OK])).await;
    assert!(!ok && err.contains("region"), "{err}");
    // Secrets never come as arguments (ps and shell history show those): standard input or a file.
    let mut as_argument = create_args("svc2", "us", &[US_OK]);
    as_argument.extend(["--key-secret", "in-the-clear"]);
    let (ok, _, err) = s.bridgectl_with(&as_argument, &[], None).await;
    assert!(!ok && err.contains("--key-secret"), "{err}");
    let (ok, _, err) = s.bridgectl_with(&create_args("svc2", "us", &[US_OK]), &[], None).await;
    assert!(
        !ok && err.contains("BRIDGE_KEY_SECRET"),
        "says where the key secret can come from: {err}"
    );
    let mut from_stdin = create_args("svc2", "us", &[US_OK]);
    from_stdin.extend(["--key-secret-file", "-"]);
    let (ok, out, err) = s.bridgectl_with(&from_stdin, &[], Some("piped-key\n")).await;
    assert!(ok, "{out} {err}");
    assert_eq!(s.current_secret("svc2").await["key_secret"], "piped-key");
    let file = std::env::temp_dir().join(unique("key"));
    std::fs::write(&file, "file-key\n").unwrap();
    let mut from_file = create_args("svc3", "us", &[US_OK]);
    let path = file.display().to_string();
    from_file.extend(["--key-secret-file", &path]);
    let (ok, out, err) = s.bridgectl_with(&from_file, &[], None).await;
    assert!(ok, "{out} {err}");
    assert_eq!(s.current_secret("svc3").await["key_secret"], "file-key");
    let _ = std::fs::remove_file(file);
}

#[tokio::test]
async fn sync_registers_and_records_our_webhook_once_leaves_others_alone_and_a_second_run_changes_nothing_in_every_mode()
 {
    for mode in SecretReads::ALL {
        let s = setup_in(mode).await;
        s.create_service("svc", &[US_OK, US_CONVERSATION], &[]).await;
        let secret = s.current_secret("svc").await["webhook_secret"]
            .as_str()
            .unwrap()
            .to_owned();

        let (ok, dry) = s
            .json(&["webhooks", "sync", "--service", "svc", "--url", BASE, "--dry-run"])
            .await;
        assert!(ok, "{dry}");
        assert_eq!(dry["changed"], 2, "{mode:?}");
        assert!(s.ours("svc").is_empty(), "a dry run changes nothing");

        let first = s.sync("svc").await;
        assert_eq!(first["changed"], 2, "{mode:?}");
        let ours = s.ours("svc");
        assert_eq!(ours.len(), 2);
        for webhook in &ours {
            assert_eq!(
                webhook.secret.as_ref().map(|s| s.expose().to_owned()),
                Some(secret.clone())
            );
            assert_eq!(
                webhook.triggers.len(),
                sinch_bridge::protocol::Trigger::ALL.len(),
                "every trigger"
            );
        }
        // The service secret records which webhook is ours, and the secret set on it.
        let stored = s.current_secret("svc").await;
        for webhook in &ours {
            let record = &stored["apps"][webhook.app_id.as_str()]["webhook"];
            assert_eq!(
                (record["id"].as_str(), record["target"].as_str()),
                (Some(webhook.id.as_str()), Some(webhook.target.as_str()))
            );
            assert_eq!(record["secret_fingerprint"].as_str().map(str::len), Some(16));
        }
        let crm: Vec<_> = s
            .mock
            .webhooks()
            .into_iter()
            .filter(|w| w.target == "https://crm.example/hook")
            .collect();
        assert_eq!(
            crm[0].secret.as_ref().map(|s| s.expose().to_owned()),
            Some("crm-secret".into())
        );

        let writes = s.management_writes();
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
        assert_eq!(
            second["changed"], 0,
            "{mode:?}: idempotent even when Sinch does not show secrets: {second}"
        );
        assert_eq!(second["recorded"], false, "nothing new to record");
        assert_eq!(
            s.management_writes(),
            writes,
            "{mode:?}: the second run wrote nothing at Sinch"
        );

        // A secret changed in the dashboard: seen and repaired when Sinch shows it; otherwise
        // repaired by --reset-secrets.
        let api = bridge_tests_api(&s);
        api.patch_secret(&ours[0].id, &ours[0].target, "typed-by-hand").await;
        let third = s.sync("svc").await;
        let repaired = mode == SecretReads::Full;
        assert_eq!(third["changed"], u64::from(repaired), "{mode:?}: {third}");
        let (ok, reset) = s
            .json(&["webhooks", "sync", "--service", "svc", "--url", BASE, "--reset-secrets"])
            .await;
        assert!(ok, "{reset}");
        assert!(
            s.ours("svc")
                .iter()
                .all(|w| w.secret.as_ref().map(|x| x.expose()) == Some(secret.as_str()))
        );
    }
}

/// Sinch's first callback signed with a new secret must find every ingest environment able to
/// reload it: sync waits the ingest's reload interval once before it sets a new secret
/// (BRIDGE_REFRESH_WAIT_SECONDS, 1 s here), and not at all when no secret changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_waits_out_the_ingest_reload_interval_once_before_sinch_gets_a_new_secret() {
    let s = setup().await;
    s.create_service("svc", &[US_OK, US_CONVERSATION], &[]).await;
    let wait = [
        ("BRIDGE_REFRESH_WAIT_SECONDS", "1"),
        ("BRIDGE_KEY_SECRET", "key-secret"),
    ];
    let args = ["webhooks", "sync", "--service", "svc", "--url", BASE, "--json"];
    let (ok, out, err) = s.bridgectl_with(&args, &wait, None).await;
    assert!(ok, "{out} {err}");
    let first: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (first["changed"].as_u64(), first["waited_seconds"].as_u64()),
        (Some(2), Some(1)),
        "{first}"
    );
    let (ok, out, err) = s.bridgectl_with(&args, &wait, None).await;
    assert!(ok, "{out} {err}");
    let second: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (second["changed"].as_u64(), second["waited_seconds"].as_u64()),
        (Some(0), Some(0)),
        "{second}"
    );
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
async fn a_create_whose_answer_was_lost_is_found_by_its_target_not_sent_twice() {
    let s = setup().await;
    s.create_service("svc", &[US_OK], &[]).await;
    // Sinch applies the create, then answers 500: the client must not create it again.
    s.mock.inject_management(FaultKind::AppliedThen500, 1, Some("POST"));
    let result = s.sync("svc").await;
    assert_eq!(result["changed"], 1, "{result}");
    assert_eq!(s.ours("svc").len(), 1, "one webhook, not a duplicate-target 400");
    let posts = s
        .mock
        .management_requests()
        .iter()
        .filter(|r| r["method"] == "POST")
        .count();
    assert_eq!(posts, 1, "the create was sent once");
    assert_eq!(s.sync("svc").await["changed"], 0);
}

#[tokio::test]
async fn sync_refuses_while_a_rotation_is_in_progress_and_names_the_command() {
    let s = setup().await;
    s.create_service("svc", &[US_OK], &[]).await;
    s.sync("svc").await;
    let r = rotation(&s, s.moto.secrets().await, SecretReads::Masked);
    let id = format!("{}svc", s.prefix);
    let token = uuid_like();
    for step in [Step::Create, Step::Set] {
        r.run(&event(step, &id, &token)).await.unwrap();
    }
    let writes = s.management_writes();
    let (ok, _, err) = s
        .bridgectl(&["webhooks", "sync", "--service", "svc", "--url", BASE])
        .await;
    assert!(!ok && err.contains("--cancel"), "{err}");
    assert_eq!(s.management_writes(), writes, "nothing changed at Sinch");
}

#[tokio::test]
async fn doctor_names_each_failure_with_its_fix_in_every_mode() {
    for mode in SecretReads::ALL {
        let s = setup_in(mode).await;
        // A US service: an app in eu, one in Conversation mode, one whose SMS channel fails, no
        // SMS sender, and the webhook synced for one app only.
        s.create_service("svc", &[US_OK, US_CONVERSATION, US_FAILING, EU_ELSEWHERE], &[])
            .await;
        let (ok, synced) = s.json(&["webhooks", "sync", "--service", "svc", "--url", BASE]).await;
        assert!(!ok, "the eu app cannot be synced on us: {synced}");
        assert_eq!(
            (synced["changed"].as_u64(), synced["blocked"].as_u64()),
            (Some(3), Some(1))
        );
        let webhook = s.ours("svc").into_iter().find(|w| w.app_id == US_FAILING).unwrap();
        bridge_tests_api(&s).delete(&webhook.id).await;

        let (ok, report) = s.json(&["doctor", "--service", "svc", "--url", BASE]).await;
        assert!(!ok, "failures give a non-zero exit");
        assert_eq!(check(&report, "service secret").0, "pass");
        assert_eq!(check(&report, &format!("app {US_OK}: exists")).0, "pass");
        let (status, detail) = check(&report, &format!("app {US_OK}: webhook"));
        match mode {
            SecretReads::Full => assert_eq!(status, "pass", "{detail}"),
            // Never a FAIL for what Sinch does not show: sync's record says it set the secret.
            _ => assert!(
                status == "warn" && detail.contains("cannot be read back; sync recorded"),
                "{mode:?}: {detail}"
            ),
        }
        assert_eq!(
            check(&report, &format!("app {EU_ELSEWHERE}: exists")),
            ("fail".into(), "not in us but in eu".into())
        );
        assert_eq!(
            check(&report, &format!("app {US_CONVERSATION}: processing mode")),
            ("fail".into(), "CONVERSATION".into())
        );
        assert_eq!(
            check(&report, &format!("app {US_FAILING}: channel SMS")),
            ("fail".into(), "FAILING".into())
        );
        assert_eq!(check(&report, &format!("app {US_OK}: US SMS sender")).0, "fail");
        assert!(
            check(&report, &format!("app {US_FAILING}: webhook"))
                .1
                .starts_with("no webhook targets")
        );
        assert_eq!(
            check(&report, "rotation"),
            ("warn".into(), "the webhook secret is never rotated".into())
        );
        // The probe went to BASE, which does not resolve here.
        assert_eq!(check(&report, "endpoint").0, "fail");
        for c in report["checks"].as_array().unwrap() {
            if c["status"] == "fail" {
                assert!(c["fix"].is_string(), "every failure says how to fix it: {c}");
            }
        }
        assert!(
            !report
                .to_string()
                .contains(s.current_secret("svc").await["webhook_secret"].as_str().unwrap())
        );
    }
}

#[tokio::test]
async fn doctor_probes_a_live_endpoint() {
    let s = setup().await;
    s.create_service("svc", &[US_OK], &[]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let probe_url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(|| async { (axum::http::StatusCode::UNAUTHORIZED, "{}") });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (_, alive) = s.json(&["doctor", "--service", "svc", "--url", &probe_url]).await;
    assert_eq!(check(&alive, "endpoint").0, "pass", "{alive}");
}

#[tokio::test]
async fn doctor_fails_a_shown_secret_that_differs_and_warns_of_another_target_sharing_ours() {
    let s = setup_in(SecretReads::Full).await;
    s.create_service("svc", &[US_OK, US_CONVERSATION], &["--sms-sender", "+15550001111"])
        .await;
    s.sync("svc").await;
    let api = bridge_tests_api(&s);
    let ok_hook = s.ours("svc").into_iter().find(|w| w.app_id == US_OK).unwrap();
    api.patch_secret(&ok_hook.id, &ok_hook.target, "typed-by-hand").await;
    // The CRM's webhook given our secret (a migration): reported, never changed.
    let crm = s
        .mock
        .webhooks()
        .into_iter()
        .find(|w| w.target == "https://crm.example/hook")
        .unwrap();
    let ours = s.current_secret("svc").await["webhook_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    api.patch_secret(&crm.id, &crm.target, &ours).await;
    let (ok, report) = s.json(&["doctor", "--service", "svc", "--url", BASE]).await;
    assert!(!ok);
    assert!(
        check(&report, &format!("app {US_OK}: webhook"))
            .1
            .contains("secret differs"),
        "{report}"
    );
    let (status, detail) = check(&report, &format!("app {US_OK}: webhook {}", crm.id));
    assert!(
        status == "warn" && detail.contains("shares this service's secret"),
        "{detail}"
    );
    assert!(
        !report.to_string().contains("typed-by-hand") && !report.to_string().contains(&ours),
        "never prints a secret"
    );
    // Triggers narrowed by a later sync are a failure too.
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
    let (_, report) = s.json(&["doctor", "--service", "svc", "--url", BASE]).await;
    let (status, text) = check(&report, &format!("app {US_OK}: webhook"));
    assert!(
        status == "fail" && text.contains("missing triggers MESSAGE_DELIVERY, MESSAGE_INBOUND"),
        "{text}"
    );
    assert_eq!(
        s.mock
            .webhook(&crm.id)
            .and_then(|w| w.secret)
            .map(|x| x.expose().to_owned()),
        Some(ours)
    );
}

#[tokio::test]
async fn doctor_warns_of_a_rotation_in_progress() {
    for mode in SecretReads::ALL {
        let s = setup_in(mode).await;
        s.create_service("svc", &[US_OK], &[]).await;
        s.sync("svc").await;
        let r = rotation(&s, s.moto.secrets().await, mode);
        let id = format!("{}svc", s.prefix);
        let token = uuid_like();
        for step in [Step::Create, Step::Set] {
            r.run(&event(step, &id, &token)).await.unwrap();
        }
        let (_, report) = s.json(&["doctor", "--service", "svc", "--url", BASE]).await;
        let (status, detail) = check(&report, "rotation");
        assert!(status == "warn" && detail.contains("in progress"), "{mode:?}: {detail}");
        let (status, detail) = check(&report, &format!("app {US_OK}: webhook"));
        assert_eq!(status, "warn", "{mode:?}: {detail}");
        if mode == SecretReads::Full {
            assert!(detail.contains("rotation is in progress"), "{detail}");
        }
    }
}

#[tokio::test]
async fn service_create_force_keeps_the_webhook_secret_and_the_bridges_state_unless_told() {
    let s = setup().await;
    s.create_service("svc", &[US_OK], &[]).await;
    s.sync("svc").await;
    let first = s.current_secret("svc").await;
    s.create_service("svc", &[US_OK, US_CONVERSATION], &["--force"]).await;
    let kept = s.current_secret("svc").await;
    assert_eq!(kept["webhook_secret"], first["webhook_secret"]);
    assert_eq!(kept["apps"].as_object().unwrap().len(), 2);
    assert_eq!(
        kept["apps"][US_OK]["webhook"], first["apps"][US_OK]["webhook"],
        "the record is kept"
    );
    s.create_service("svc", &[US_OK], &["--force", "--new-webhook-secret"])
        .await;
    let replaced = s.current_secret("svc").await;
    assert_ne!(replaced["webhook_secret"], first["webhook_secret"]);
    // The old secret is retired for a day, so Sinch's callbacks verify until sync runs.
    let retired = &replaced["retired_webhook_secrets"][0];
    assert_eq!(retired["secret"], first["webhook_secret"]);
    assert!(retired["until"].as_i64().unwrap() > bridge_tests::world::now() + 86_000);
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
        "none of --enable, --now and --cancel is refused: {err}"
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
async fn service_rotate_cancel_ends_a_rotation_stopped_after_set_secret_in_every_mode() {
    for mode in SecretReads::ALL {
        cancel_in(mode).await;
    }
}

async fn cancel_in(mode: SecretReads) {
    let s = setup_in(mode).await;
    s.create_service("svc", &[US_OK], &[]).await;
    s.sync("svc").await;
    let old = s.current_secret("svc").await["webhook_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = rotation(&s, s.moto.secrets().await, SecretReads::Masked);
    let id = format!("{}svc", s.prefix);
    let token = uuid_like();
    for step in [Step::Create, Step::Set] {
        r.run(&event(step, &id, &token)).await.unwrap();
    }
    assert_ne!(
        s.ours("svc")[0].secret.as_ref().map(|x| x.expose().to_owned()),
        Some(old.clone()),
        "Sinch switched"
    );
    let (ok, result) = s
        .json(&["service", "rotate", "--service", "svc", "--cancel", "--url", BASE])
        .await;
    assert!(ok, "{result}");
    assert_eq!(
        s.ours("svc")[0].secret.as_ref().map(|x| x.expose().to_owned()),
        Some(old.clone()),
        "Sinch back on the current secret"
    );
    let described = s
        .moto
        .secrets()
        .await
        .describe_secret()
        .secret_id(&id)
        .send()
        .await
        .unwrap();
    let pending = described
        .version_ids_to_stages()
        .unwrap()
        .values()
        .any(|labels| labels.iter().any(|l| l == "AWSPENDING"));
    assert!(!pending, "AWSPENDING removed");
    assert_eq!(s.current_secret("svc").await["webhook_secret"], old.as_str());
    // The cancelled token's steps cannot switch Sinch again.
    assert!(r.run(&event(Step::Set, &id, &token)).await.is_err());
    assert_eq!(
        s.ours("svc")[0].secret.as_ref().map(|x| x.expose().to_owned()),
        Some(old)
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

fn rotation(
    s: &Setup,
    secrets: aws_sdk_secretsmanager::Client,
    mode: SecretReads,
) -> Rotation<SecretsManagerAdmin, ManagementEndpoints<HttpsSinchClient>, sinch_bridge::adapters::DynamoNonces> {
    s.mock.set_secret_reads(mode);
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
        grace: Duration::from_secs(86_400),
        pending_max_age: Duration::from_secs(86_400),
        auth_url: format!("{}/oauth2/token", s.mock_url),
        api_base_override: Some(s.mock_url.clone()),
        sightings_table: None,
    };
    Rotation::new(
        SecretsManagerAdmin::new(secrets),
        Arc::new(sinch),
        None,
        config,
        Arc::new(SystemClock),
        random_webhook_secret,
    )
}

fn event(step: Step, secret_id: &str, token: &str) -> RotationEvent {
    RotationEvent {
        step,
        secret_id: secret_id.into(),
        token: token.into(),
        rotation_token: None,
    }
}

/// A `ClientRequestToken` as Secrets Manager makes them (32 to 64 characters).
fn uuid_like() -> String {
    format!("{:032x}", fastrand::u128(..))
}

/// `RotateSecret` refuses while a rotation holds `AWSPENDING`: `--now` after a rotation that
/// stopped half-way cancels it first (Sinch back on the current secret), then starts anew.
#[tokio::test]
async fn service_rotate_now_after_a_stopped_rotation_cancels_it_first() {
    let s = setup().await;
    s.create_service("svc", &[US_OK], &[]).await;
    s.sync("svc").await;
    let old = s.current_secret("svc").await["webhook_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = rotation(&s, s.moto.secrets().await, SecretReads::Masked);
    let id = format!("{}svc", s.prefix);
    let token = uuid_like();
    for step in [Step::Create, Step::Set] {
        r.run(&event(step, &id, &token)).await.unwrap();
    }
    let arn = moto_function(&s.moto, &unique("rotation")).await;
    let (ok, answer) = s
        .json(&[
            "service",
            "rotate",
            "--service",
            "svc",
            "--region",
            "us-east-1",
            "--enable",
            "--function-arn",
            &arn,
            "--now",
            "--url",
            BASE,
        ])
        .await;
    assert!(ok, "{answer}");
    assert_eq!(answer["cancelled_first"]["pending_removed"], json!([token]), "{answer}");
    assert_eq!(
        s.ours("svc")[0].secret.as_ref().map(|x| x.expose().to_owned()),
        Some(old)
    );
}
