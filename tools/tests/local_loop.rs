//! The local loop end to end, brought up as `scripts/local.sh` does (moto + `local::start`:
//! template.yaml deployed into moto, the function binaries under the Runtime API emulator),
//! driven through the real `bridgectl` binary: an outbound message enqueued with the CLI reaches
//! the mock on the right region; its signed MESSAGE_DELIVERY callbacks pass the real webhook
//! verification and arrive on the events queue with the original correlation id. Plus each CLI
//! subcommand's happy path and main error.

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::process::Output;
use std::time::{Duration, Instant};

use bridge_tests::{Moto, unique};
use bridge_tools::local::{DEMO_APP_ID, DEMO_WEBHOOK_SECRET, LocalConfig, LocalStack, start};
use bridge_tools::mock::FaultKind;
use serde_json::Value;

/// The function binaries the local loop runs, built once per test run.
fn build_functions() {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
        let status = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "build",
                "--quiet",
                "--manifest-path",
                manifest,
                "-p",
                "webhook-ingest",
                "-p",
                "sender",
                "-p",
                "secret-rotation",
                "--bins",
            ])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "the function binaries build");
    });
}

async fn local(moto: &Moto) -> LocalStack {
    local_with(moto, sinch_bridge::service_cache::DEFAULT_SECRET_PREFIX).await
}

async fn local_with(moto: &Moto, secret_prefix: &str) -> LocalStack {
    tokio::task::spawn_blocking(build_functions).await.expect("join");
    local_from(moto, secret_prefix, None).await
}

/// A local stack on `moto` running the function binaries in `bin_dir` (default: this build's).
async fn local_from(moto: &Moto, secret_prefix: &str, bin_dir: Option<std::path::PathBuf>) -> LocalStack {
    let config = LocalConfig {
        endpoint_url: moto.endpoint.clone(),
        stack_name: unique("local"),
        webhook_port: 0,
        mock_port: 0,
        callback_delay: Duration::from_millis(100),
        retry_base: Duration::from_secs(1),
        secret_prefix: secret_prefix.to_owned(),
        bin_dir,
        ..LocalConfig::default()
    };
    start(config).await.expect("local stack starts")
}

/// Takes up to `max` events off the stack's events queue (deleting them, so a FIFO group's
/// next one is served), as `bridgectl events tail --json` prints them.
async fn take_events(moto: &Moto, stack: &LocalStack, max: usize) -> Output {
    let max = max.to_string();
    ctl(
        moto,
        &[
            "--json",
            "events",
            "tail",
            "--queue-url",
            stack.queue("EventsQueue"),
            "--delete",
            "--max",
            &max,
            "--idle-exit",
            "20",
        ],
    )
    .await
}

/// Runs bridgectl against the emulator, off the async runtime.
async fn ctl(moto: &Moto, args: &[&str]) -> Output {
    ctl_with(moto, args, None).await
}

/// bridgectl with the webhook secret in `BRIDGE_WEBHOOK_SECRET` (never an argument).
async fn ctl_with(moto: &Moto, args: &[&str], secret: Option<&str>) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_bridgectl"));
    command
        .arg("--endpoint-url")
        .arg(&moto.endpoint)
        .args(args)
        .env_remove("BRIDGE_WEBHOOK_SECRET")
        // No ingest reloads between these tests' writes and their syncs.
        .env("BRIDGE_REFRESH_WAIT_SECONDS", "0");
    if let Some(secret) = secret {
        command.env("BRIDGE_WEBHOOK_SECRET", secret);
    }
    tokio::task::spawn_blocking(move || command.output().expect("bridgectl runs"))
        .await
        .expect("join")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_lines(o: &Output) -> Vec<Value> {
    stdout(o).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

async fn wait_for<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_message_round_trips_through_mock_sinch_and_signed_delivery_reports() {
    let moto = Moto::start();
    let stack = local(&moto).await;
    let from = format!("{DEMO_APP_ID}@sms.sinchconversation.com");
    let sent = ctl(
        &moto,
        &[
            "send",
            "--queue-url",
            stack.queue("OutboundQueue"),
            "--from",
            &from,
            "--to",
            "+15551234567",
            "--text",
            "Hello from the test",
            "--correlation-id",
            "corr-e2e",
        ],
    )
    .await;
    assert!(sent.status.success(), "{}", stderr(&sent));
    assert!(!stdout(&sent).trim().is_empty(), "prints the SQS message id");

    let request = wait_for("the mock to receive the send", async || {
        stack.mock.requests().into_iter().next()
    })
    .await;
    assert_eq!(request["region"], "eu");
    assert_eq!(request["project"], "demo-project");
    assert_eq!(request["body"]["app_id"], DEMO_APP_ID);
    assert_eq!(
        request["body"]["recipient"]["identified_by"]["channel_identities"][0]["identity"],
        "+15551234567"
    );
    assert_eq!(request["body"]["channel_properties"]["SMS_SENDER"], "+15550001111");
    assert_eq!(request["body"]["correlation_id"], "corr-e2e");

    let tail = take_events(&moto, &stack, 2).await;
    assert!(tail.status.success(), "{}", stderr(&tail));
    let events = json_lines(&tail);
    assert_eq!(events.len(), 2, "{}", stdout(&tail));
    let statuses: Vec<&str> = events
        .iter()
        .map(|e| {
            e["body"]["message_delivery_report"]["status"]
                .as_str()
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        statuses,
        vec!["QUEUED_ON_CHANNEL", "DELIVERED"],
        "in order on the FIFO queue"
    );
    for e in &events {
        assert_eq!(e["attributes"]["trigger"], "MESSAGE_DELIVERY");
        assert_eq!(e["attributes"]["service"], "demo");
        assert_eq!(e["attributes"]["app_id"], DEMO_APP_ID);
        assert_eq!(e["attributes"]["channel"], "SMS");
        assert_eq!(
            e["body"]["correlation_id"], "corr-e2e",
            "Sinch echoes the correlation id"
        );
        // The demo app is in Dispatch mode (no conversations): ordered per recipient.
        assert_eq!(e["body"]["message_delivery_report"]["conversation_id"], "");
        assert!(
            e["group_id"].as_str().is_some_and(|g| g.starts_with("demo:identity-")),
            "{}",
            e["group_id"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_message_is_dead_lettered_listed_and_redriven() {
    let moto = Moto::start();
    let stack = local(&moto).await;
    stack.mock.inject(FaultKind::BadRequest, 1);
    let sent = ctl(
        &moto,
        &[
            "send",
            "--queue-url",
            stack.queue("OutboundQueue"),
            "--app",
            DEMO_APP_ID,
            "--channel",
            "WHATSAPP",
            "--to",
            "46732001122",
            "--text",
            "poison",
        ],
    )
    .await;
    assert!(sent.status.success(), "{}", stderr(&sent));
    let dlq = stack.queue("OutboundDeadLetterQueue").to_owned();
    let listed = wait_for("the DLQ to hold the message", async || {
        let out = ctl(&moto, &["--json", "dlq", "list", "--queue-url", &dlq]).await;
        json_lines(&out).into_iter().next()
    })
    .await;
    assert_eq!(listed["attributes"]["dead_letter_reason"], "bad_request");
    assert_eq!(listed["attributes"]["http_status"], "400");
    assert_eq!(listed["attributes"]["sinch_status"], "INVALID_ARGUMENT");
    assert_eq!(listed["body"]["message"]["text_message"]["text"], "poison");

    // Listing hides nothing: the redrive right after it moves the message, back to the queue
    // the dead letter names (README's command: no --to-url).
    assert!(
        listed["attributes"]["source_queue"]
            .as_str()
            .is_some_and(|arn| arn.starts_with("arn:aws:sqs:") && arn.ends_with("-outbound.fifo")),
        "{listed}"
    );
    let redrive = ctl(&moto, &["dlq", "redrive", "--dlq-url", &dlq]).await;
    assert!(redrive.status.success(), "{}", stderr(&redrive));
    assert!(stdout(&redrive).contains("1 moved"), "{}", stdout(&redrive));
    assert!(
        stderr(&redrive).ends_with('\n'),
        "the progress line is ended: {:?}",
        stderr(&redrive)
    );
    // No fault left: the redriven message is sent this time.
    wait_for("the redriven message to be accepted", async || {
        (stack.mock.requests().len() >= 2).then_some(())
    })
    .await;
    let last = stack.mock.requests().pop().unwrap();
    assert_eq!(last["fault"], Value::Null);
    assert_eq!(last["body"]["message"]["text_message"]["text"], "poison");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_says_when_messages_are_in_flight_instead_of_reporting_success() {
    let moto = Moto::start();
    let sqs = moto.sqs().await;
    let dlq = bridge_tests::create_queue(&sqs, &unique("dlq")).await;
    let to = bridge_tests::create_queue(&sqs, &unique("to")).await;
    bridge_tests::send_body(&sqs, &dlq, r#"{"app_id":"A"}"#, None).await;
    // Someone else is reading it right now.
    assert_eq!(bridge_tests::receive(&sqs, &dlq, 300).await.len(), 1);
    let redrive = ctl(&moto, &["dlq", "redrive", "--dlq-url", &dlq, "--to-url", &to]).await;
    assert!(!redrive.status.success());
    assert!(
        stdout(&redrive).contains("0 moved, 1 in flight"),
        "{}",
        stdout(&redrive)
    );
    assert!(stderr(&redrive).contains("in flight"), "{}", stderr(&redrive));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_can_leave_out_what_sinch_may_already_have_sent() {
    use aws_sdk_sqs::types::MessageAttributeValue;
    let moto = Moto::start();
    let sqs = moto.sqs().await;
    let dlq = bridge_tests::create_queue(&sqs, &unique("dlq")).await;
    let to = bridge_tests::create_queue(&sqs, &unique("to")).await;
    for (body, maybe_sent) in [(r#"{"n":"timed-out"}"#, true), (r#"{"n":"refused"}"#, false)] {
        let mut send = sqs
            .send_message()
            .queue_url(&dlq)
            .message_body(body)
            .message_attributes(
                "dead_letter_reason",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("retry_budget_exhausted")
                    .build()
                    .unwrap(),
            );
        if maybe_sent {
            send = send.message_attributes(
                "may_have_been_sent",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("true")
                    .build()
                    .unwrap(),
            );
        }
        send.send().await.unwrap();
    }
    let redrive = ctl(
        &moto,
        &[
            "dlq",
            "redrive",
            "--dlq-url",
            &dlq,
            "--to-url",
            &to,
            "--skip-may-have-been-sent",
        ],
    )
    .await;
    assert!(redrive.status.success(), "{}", stderr(&redrive));
    assert!(stdout(&redrive).contains("1 moved, 1 kept"), "{}", stdout(&redrive));
    let moved = bridge_tests::receive(&sqs, &to, 30).await;
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].body, r#"{"n":"refused"}"#);
    // The one left behind is visible again at once, with its marks, for the operator to check.
    let kept = bridge_tests::receive(&sqs, &dlq, 30).await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].body, r#"{"n":"timed-out"}"#);
    assert_eq!(
        kept[0].attributes.get("may_have_been_sent").map(String::as_str),
        Some("true")
    );

    // A move task cannot choose messages: asking for both is refused before anything moves.
    let both = ctl(
        &moto,
        &[
            "dlq",
            "redrive",
            "--dlq-url",
            &dlq,
            "--to-url",
            &to,
            "--skip-may-have-been-sent",
            "--move-task",
        ],
    )
    .await;
    assert!(!both.status.success());
    assert!(stderr(&both).contains("cannot be used with"), "{}", stderr(&both));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_until_sent() {
    let moto = Moto::start();
    let stack = local(&moto).await;
    stack.mock.inject(FaultKind::RateLimited, 1);
    stack.mock.inject(FaultKind::ServerError, 1);
    let sent = ctl(
        &moto,
        &[
            "send",
            "--queue-url",
            stack.queue("OutboundQueue"),
            "--app",
            DEMO_APP_ID,
            "--channel",
            "RCS",
            "--to",
            "+46700000000",
            "--text",
            "retry me",
        ],
    )
    .await;
    assert!(sent.status.success(), "{}", stderr(&sent));
    let requests = wait_for("a successful attempt after two faults", async || {
        let r = stack.mock.requests();
        (r.len() >= 3).then_some(r)
    })
    .await;
    let faults: Vec<&Value> = requests.iter().map(|r| &r["fault"]).collect();
    assert_eq!(
        faults[..3],
        [&Value::from("RateLimited"), &Value::from("ServerError"), &Value::Null]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_send_signs_with_the_service_secret_and_fails_with_a_wrong_one() {
    let moto = Moto::start();
    let stack = local(&moto).await;
    let url = format!("{}demo", stack.webhook_url);
    let ok = ctl(
        &moto,
        &["webhook", "send", "--url", &url, "--trigger", "MESSAGE_INBOUND"],
    )
    .await;
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(stdout(&ok).starts_with("200 "), "{}", stdout(&ok));
    let wrong = ctl_with(
        &moto,
        &["webhook", "send", "--url", &url, "--trigger", "OPT_IN"],
        Some("not-the-secret"),
    )
    .await;
    assert!(!wrong.status.success());
    assert!(stdout(&wrong).contains("invalid_signature"));
    assert_eq!(stderr(&wrong).trim(), "error: webhook answered 401");
    let unknown = ctl(&moto, &["webhook", "send", "--url", &url, "--trigger", "NOPE"]).await;
    assert!(stderr(&unknown).starts_with("error: unknown trigger \"NOPE\""));
}

/// The deployed function answers, then confirms the nonce before it takes the next request
/// (`ReplayProtection=table`, the template's default): the same signed request sent again right
/// after its 200 is a replay, not a request still in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deployed_function_confirms_a_nonce_after_its_answer_and_before_the_next_request() {
    let moto = Moto::start();
    let stack = local_with(&moto, &format!("{}/", unique("replay"))).await;
    let url = format!("{}demo", stack.webhook_url);
    let body = bridge_tools::samples::callback(
        sinch_bridge::protocol::Trigger::MessageInbound,
        DEMO_APP_ID,
        bridge_tools::local::DEMO_PROJECT,
    )
    .to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let signed = sinch_bridge::protocol::sign(
        &sinch_bridge::protocol::SecretString::new(DEMO_WEBHOOK_SECRET),
        body.as_bytes(),
        "local-replay-nonce",
        i64::try_from(now).expect("time"),
    );
    let client = bridge_tools::http::client().expect("client");
    let mut answers = Vec::new();
    for _ in 0..2 {
        let mut request = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone());
        for (name, value) in signed.pairs() {
            request = request.header(name, value);
        }
        let response = request.send().await.expect("webhook answers");
        answers.push((response.status().as_u16(), response.text().await.unwrap_or_default()));
    }
    assert_eq!(answers[0].0, 200, "{answers:?}");
    assert_eq!(answers[1].0, 401, "{answers:?}");
    assert!(answers[1].1.contains("replayed_nonce"), "{answers:?}");
}

#[tokio::test]
async fn sign_then_verify_and_explain_a_mismatch() {
    let dir = std::env::temp_dir().join(unique("ctl"));
    std::fs::create_dir_all(&dir).unwrap();
    let body = dir.join("body.json");
    std::fs::write(&body, br#"{"app_id":"A","message":{}}"#).unwrap();
    let run = |args: Vec<String>| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_bridgectl"))
            .args(args)
            .env("BRIDGE_WEBHOOK_SECRET", DEMO_WEBHOOK_SECRET)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let s = |v: &str| v.to_owned();
    let (ok, signed, _) = run(vec![
        s("sign"),
        s("--body-file"),
        body.display().to_string(),
        s("--nonce"),
        s("N1"),
        s("--timestamp"),
        s("1700000000"),
    ]);
    assert!(ok);
    assert!(
        signed.contains("x-sinch-webhook-signature-nonce: N1")
            && signed.contains("x-sinch-webhook-signature-algorithm: HmacSHA256")
    );
    let headers = dir.join("headers.txt");
    std::fs::write(&headers, &signed).unwrap();
    let verify = |body_path: &std::path::Path| {
        run(vec![
            s("verify"),
            s("--headers-file"),
            headers.display().to_string(),
            s("--body-file"),
            body_path.display().to_string(),
            s("--now"),
            s("1700000000"),
        ])
    };
    let (ok, text, _) = verify(&body);
    assert!(ok, "{text}");
    assert!(text.starts_with("valid"));
    let tampered = dir.join("tampered.json");
    std::fs::write(&tampered, br#"{"app_id":"B","message":{}}"#).unwrap();
    let (ok, text, err) = verify(&tampered);
    assert!(!ok);
    assert!(text.contains("signature_mismatch"), "{text}");
    assert_eq!(err.trim(), "error: signature is not valid: signature_mismatch");
    let (ok, _, err) = run(vec![s("sign"), s("--body-file"), s("/nonexistent/body")]);
    assert!(!ok && err.starts_with("error: cannot read /nonexistent/body"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_commands_fail_with_one_clear_line() {
    let moto = Moto::start();
    let stack = local(&moto).await;
    let outbound = stack.queue("OutboundQueue").to_owned();
    let bad = ctl(
        &moto,
        &[
            "send",
            "--queue-url",
            &outbound,
            "--app",
            DEMO_APP_ID,
            "--to",
            "+1555",
            "--text",
            "no channel",
        ],
    )
    .await;
    assert!(!bad.status.success());
    assert_eq!(
        stderr(&bad).trim(),
        "error: invalid envelope: to: a bare identity needs a channel: give from (queue address) or channel"
    );
    let missing = format!("{}/123456789012/{}", moto.endpoint, unique("missing"));
    for args in [
        vec!["events", "tail", "--queue-url", &missing, "--max", "1"],
        vec!["dlq", "list", "--queue-url", &missing],
    ] {
        let out = ctl(&moto, &args).await;
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(
            err.starts_with("error: ReceiveMessage") && err.trim().lines().count() == 1,
            "{err}"
        );
    }
    // A queue whose message names no source, and that allows no single source queue: the
    // redrive does not guess.
    let sqs = moto.sqs().await;
    let stray = bridge_tests::create_queue(&sqs, &unique("stray")).await;
    bridge_tests::send_body(&sqs, &stray, "{}", None).await;
    let no_target = ctl(&moto, &["dlq", "redrive", "--dlq-url", &stray]).await;
    assert_eq!(
        stderr(&no_target).trim(),
        "error: no dead letter says where it came from and the DLQ allows no single source queue: pass --to-url"
    );
    assert_eq!(bridge_tests::depth(&sqs, &stray).await, 1, "nothing moved");
    let help = ctl(&moto, &["dlq", "redrive", "--help"]).await;
    assert!(help.status.success() && stdout(&help).contains("--to-url"));
}

/// Setup as code end to end: the demo webhook was registered through the API, doctor passes
/// on the loop, and a rotation under callback traffic refuses nothing and leaves the mock
/// signing with the new secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_under_callback_traffic_rejects_nothing_and_the_mock_signs_with_the_new_secret() {
    let moto = Moto::start();
    // Its own secret prefix: the other loops on this emulator keep their demo secret.
    let prefix = format!("{}/", unique("rotation"));
    let stack = local_with(&moto, &prefix).await;
    let sinch = [
        "--conversation-api-url",
        stack.mock_url.as_str(),
        "--auth-url",
        &format!("{}/oauth2/token", stack.mock_url),
    ]
    .map(str::to_owned);
    let base = stack.webhook_url.clone();
    let mut doctor = vec![
        "doctor",
        "--service",
        "demo",
        "--prefix",
        &prefix,
        "--url",
        base.as_str(),
        "--json",
    ];
    doctor.extend(sinch.iter().map(String::as_str));
    let report = ctl(&moto, &doctor).await;
    assert!(report.status.success(), "{} {}", stdout(&report), stderr(&report));

    let registered = stack.mock.webhooks();
    assert_eq!(registered.len(), 1, "registered through the API at start");
    let before = registered[0].secret.as_ref().map(|s| s.expose().to_owned());

    // Callback traffic all through the rotation, from the mock, signed as Sinch signs.
    stack.mock.clear_callback_statuses();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let traffic = {
        let (mock, stop) = (stack.mock.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                mock.send_delivery_callbacks(DEMO_APP_ID, 3).await;
            }
        })
    };
    let steps = stack.rotate("demo").await.expect("rotation succeeds");
    assert_eq!(steps.len(), 4, "{steps:?}");
    // And after it: the mock now signs with the new secret.
    let after = stack
        .mock
        .send_delivery_callbacks(DEMO_APP_ID, 5)
        .await
        .expect("app exists");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    traffic.await.expect("traffic task");
    assert_eq!((after.accepted, after.rejected, after.failed), (5, 0, 0), "{after:?}");

    let statuses = stack.mock.callback_statuses();
    assert!(
        statuses.len() >= 10,
        "traffic ran through the rotation: {}",
        statuses.len()
    );
    let refused: Vec<&u16> = statuses.iter().filter(|s| !(200..300).contains(*s)).collect();
    assert!(
        refused.is_empty(),
        "0 rejected during the rotation, got {refused:?} of {}",
        statuses.len()
    );

    let now = stack.mock.webhooks()[0].secret.as_ref().map(|s| s.expose().to_owned());
    assert_ne!(now, before, "the webhook holds a new secret");
    let secrets = moto.secrets().await;
    let current = secrets
        .get_secret_value()
        .secret_id(format!("{prefix}demo"))
        .version_stage("AWSCURRENT")
        .send()
        .await
        .expect("current");
    let current: Value = serde_json::from_str(current.secret_string().expect("string")).expect("JSON");
    assert_eq!(
        current["webhook_secret"].as_str().map(str::to_owned),
        now,
        "Secrets Manager and Sinch agree"
    );
}

/// Each function binary, given a setting it cannot run with, exits at once with one ERROR line
/// naming the setting and one `StartRefused` metric line that StartRefusedAlarm's query
/// matches (`SCHEMA(SinchBridge, Function)`): what Lambda's log group receives during a failed
/// init.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_cannot_start_says_why_and_counts_it() {
    use bridge_tests::cloudwatch::MetricKey;
    tokio::task::spawn_blocking(build_functions).await.expect("join");
    let dir = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    for (binary, function, logical_id) in [
        ("webhook-ingest", "webhook-ingest", "WebhookIngestFunction"),
        ("sender", "sender", "SenderFunction"),
        ("secret-rotation", "secret-rotation", "SecretRotationFunction"),
    ] {
        let output = std::process::Command::new(dir.join(binary))
            .env_clear()
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
            .env("AWS_REGION", "eu-west-1")
            .env("AWS_ACCESS_KEY_ID", "x")
            .env("AWS_SECRET_ACCESS_KEY", "x")
            .env("EVENTS_QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/1/e")
            .env("SERVICES", "eu1")
            .env("SERVICE_SECRET_PREFIX", "p/")
            // The one setting no function can run with: a timeout that is not a number.
            .env("AWS_TIMEOUT_MS", "soon")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{binary} refuses to start");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let lines: Vec<Value> = stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        let refused = lines
            .iter()
            .find(|l| l["fields"]["code"] == "start_refused")
            .unwrap_or_else(|| panic!("{binary}: no start_refused line in {stdout}"));
        assert_eq!(refused["level"], "ERROR", "{binary}");
        // It names a setting the function declares, and says what is wrong with it.
        let error = refused["fields"]["error"].as_str().unwrap();
        let (variable, problem) = error.split_once(": ").unwrap();
        let declared = sinch_bridge::config::FUNCTIONS
            .iter()
            .find(|f| f.logical_id == logical_id)
            .unwrap();
        assert!(declared.get(variable).is_some(), "{binary}: {error}");
        assert!(!problem.is_empty(), "{binary}: {error}");
        let metrics: Vec<MetricKey> = stdout
            .lines()
            .filter(|l| bridge_tests::cloudwatch::emf::is_emf(l))
            .flat_map(|l| bridge_tests::cloudwatch::emf::parse(l).unwrap())
            .map(|p| MetricKey::new(&p.namespace, &p.name, &p.dimensions))
            .collect();
        let want = MetricKey::new(
            "SinchBridge",
            "StartRefused",
            &[("Function".to_owned(), function.to_owned())].into(),
        );
        assert_eq!(metrics, vec![want], "{binary}: {stdout}");
    }
}

/// The binaries `sam build` packaged, linked by `scripts/check-bootstraps.sh` into
/// `BRIDGE_PACKAGED_BIN_DIR` under the names the loop runs: each starts under the Runtime API
/// emulator with the stack's environment and answers invocations — a send, its delivery
/// reports through the webhook onto the events queue, and a whole rotation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs `sam build`'s output: scripts/check-bootstraps.sh runs it"]
async fn the_packaged_bootstraps_send_verify_and_rotate() {
    let dir = std::env::var("BRIDGE_PACKAGED_BIN_DIR").expect("BRIDGE_PACKAGED_BIN_DIR names the packaged binaries");
    let moto = Moto::start();
    let prefix = format!("{}/", unique("packaged"));
    let stack = local_from(&moto, &prefix, Some(dir.into())).await;
    let sent = ctl(
        &moto,
        &[
            "send",
            "--queue-url",
            stack.queue("OutboundQueue"),
            "--app",
            DEMO_APP_ID,
            "--channel",
            "SMS",
            "--to",
            "+15551234567",
            "--text",
            "packaged",
        ],
    )
    .await;
    assert!(sent.status.success(), "{}", stderr(&sent));
    let request = wait_for("the packaged sender's request", async || {
        stack.mock.requests().into_iter().next()
    })
    .await;
    assert_eq!(request["body"]["message"]["text_message"]["text"], "packaged");
    let tail = take_events(&moto, &stack, 2).await;
    assert_eq!(
        json_lines(&tail).len(),
        2,
        "the packaged ingest stored both reports: {}",
        stdout(&tail)
    );
    let steps = stack.rotate("demo").await.expect("the packaged rotation's four steps");
    assert_eq!(steps.len(), 4, "{steps:?}");
}
