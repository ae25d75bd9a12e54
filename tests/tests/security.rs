//! Security checks that span the whole bridge: nothing secret reaches the logs or metrics, and
//! no native TLS or OpenSSL is linked into the function binaries.

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use bridge_tests::captured::Captured;
use bridge_tests::off_task_mock::OffTaskMock;
use bridge_tests::world::*;
use bridge_tests::*;
use serde_json::json;
use sinch_bridge::adapters::HttpsSinchClient;
use sinch_bridge::logging::{self, LogSettings};
use sinch_bridge::metrics::Metrics;
use sinch_bridge::protocol::SecretString;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const WEBHOOK_SECRET: &str = "WEBHOOK-SECRET-CANARY-7f3a";
const KEY_SECRET: &str = "KEY-SECRET-CANARY-91bd";
const TOKEN: &str = "TOKEN-CANARY-c0ffee";
const TEXT: &str = "MESSAGE-TEXT-CANARY-5e1f";
const INBOUND_TEXT: &str = "INBOUND-TEXT-CANARY-0a7d";

/// Answers by text: a 400 whose message echoes the request (as an API might), a 401 once, else 200.
struct Echo;

impl Respond for Echo {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body = String::from_utf8_lossy(&request.body).into_owned();
        if body.contains("reject-me") {
            return ResponseTemplate::new(400).set_body_json(
                json!({"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "bad request"}}),
            );
        }
        ResponseTemplate::new(200).set_body_json(json!({"message_id": "m1"}))
    }
}

#[tokio::test]
async fn no_secret_token_signature_or_message_text_reaches_logs_or_metrics_even_at_trace() {
    let captured = Captured::default();
    // The functions' own log configuration at the most verbose level the template allows.
    let settings = LogSettings {
        level: tracing::level_filters::LevelFilter::TRACE,
        json: true,
    };
    let _guard = tracing::subscriber::set_default(logging::subscriber(settings, captured.clone()));
    let metrics_out = Captured::default();
    let sink = metrics_out.clone();
    let metrics = Metrics::with_writer(
        "test",
        Arc::new(move |line: &str| {
            let _ = writeln!(sink.clone(), "{line}");
        }),
    );

    let mut w = World::start(|s| {
        s.service_secret = json!({
            "region": "eu", "project_id": "proj", "key_id": "key-id", "key_secret": KEY_SECRET,
            "webhook_secret": WEBHOOK_SECRET, "apps": {APP: {}}
        });
    })
    .await;
    w.metrics = metrics;

    // Ingest: a valid callback, a forged one, a signed non-JSON body carrying the canary.
    let ingest = w.ingest(|_, _| {});
    let mut signatures = Vec::new();
    let valid =
        json!({"app_id": APP, "message": {"id": "M", "contact_message": {"text_message": {"text": INBOUND_TEXT}}}})
            .to_string();
    let not_json = format!("{{{INBOUND_TEXT}");
    for (secret, body) in [
        (WEBHOOK_SECRET, &valid),
        ("forged", &valid),
        (WEBHOOK_SECRET, &not_json),
    ] {
        let headers = signed_headers(secret, body.as_bytes(), &unique("n"), now());
        signatures.push(headers[0].1.clone());
        post_webhook(&ingest, &w.service, &headers, body).await;
    }

    // Sender: a sent message, a 400 dead-letter, with OAuth2 tokens.
    let mock = OffTaskMock::start().await;
    Mock::given(path("/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": TOKEN, "expires_in": 3600})))
        .mount(&mock)
        .await;
    Mock::given(path("/eu/v1/projects/proj/messages:send"))
        .respond_with(Echo)
        .mount(&mock)
        .await;
    let sender = w.sender(&mock.uri(), |c, _| {
        c.sent_queue_url = None;
        c.send_timeout = Duration::from_secs(5);
    });
    for text in [TEXT.to_owned(), format!("reject-me {TEXT}")] {
        send_body(
            &w.sqs,
            &w.outbound,
            &json!({"app_id": APP, "channel": "SMS", "to": "+15550001", "message": {"text_message": {"text": text}}})
                .to_string(),
            None,
        )
        .await;
    }
    let batch = drain(&w.sqs, &w.outbound, 30).await;
    invoke_sender(&sender, &batch).await;
    // An envelope error must not quote the message either.
    let bad = json!({"app_id": APP, "to": "+1", "message": {"text_message": {"text": TEXT}}}).to_string();
    send_body(&w.sqs, &w.outbound, &bad, None).await;
    let batch = drain(&w.sqs, &w.outbound, 30).await;
    invoke_sender(&sender, &batch).await;

    // What the runtime and the AWS SDK would print of an invocation or a secret at TRACE.
    tracing::trace!(target: "lambda_runtime", body = WEBHOOK_SECRET, "raw event");
    tracing::debug!(target: "aws_smithy_runtime::client::orchestrator", output = KEY_SECRET, "response");

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let emf = String::from_utf8(metrics_out.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("webhook stored") && logs.contains("message sent") && logs.contains("dead-lettered"),
        "the flows ran and logged:\n{logs}"
    );
    assert!(emf.contains("WebhookAccepted") && emf.contains("MessageSent"));
    let mut canaries = vec![WEBHOOK_SECRET, KEY_SECRET, TOKEN, TEXT, INBOUND_TEXT];
    let sig_refs: Vec<&str> = signatures.iter().map(String::as_str).collect();
    canaries.extend(sig_refs);
    for canary in canaries {
        assert!(!logs.contains(canary), "{canary} leaked into the logs");
        assert!(!emf.contains(canary), "{canary} leaked into the metrics");
    }
}

#[test]
fn function_binaries_link_no_native_tls_or_openssl() {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    for package in ["webhook-ingest", "sender"] {
        let out = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "tree",
                "--offline",
                "--locked",
                "--manifest-path",
                manifest,
                "-p",
                package,
                "-e",
                "normal,build",
                "--prefix",
                "none",
                "--format",
                "{p}",
            ])
            .output()
            .expect("cargo tree runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let tree = String::from_utf8(out.stdout).unwrap();
        let crates: Vec<&str> = tree.lines().filter_map(|l| l.split_whitespace().next()).collect();
        assert!(crates.contains(&"rustls"), "{package}: expected rustls in the tree");
        for forbidden in [
            "openssl",
            "openssl-sys",
            "native-tls",
            "hyper-tls",
            "tokio-native-tls",
            "schannel",
            "security-framework",
        ] {
            assert!(!crates.contains(&forbidden), "{package} depends on {forbidden}");
        }
        // One HTTPS stack: the SDK's own client and aws-config's provider chains (with STS)
        // are what made start-up slow and the binaries large, and reqwest's layers most of a
        // send's CPU; they must not come back.
        for second_stack in ["aws-smithy-http-client", "aws-config", "aws-sdk-sts", "reqwest"] {
            assert!(!crates.contains(&second_stack), "{package} depends on {second_stack}");
        }
    }
}

/// A TLS server on loopback presenting `tests/fixtures/tls/localhost.pem` (SAN `localhost`,
/// issued by the fixture's throwaway test CA); it answers any request that completes a handshake with `200 ok`. Returns its
/// port and the number of completed handshakes.
async fn self_signed_server() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/tls");
    let cert = CertificateDer::from_pem_file(format!("{dir}/localhost.pem")).expect("fixture cert");
    let key = PrivateKeyDer::from_pem_file(format!("{dir}/localhost.key")).expect("fixture key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handshakes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = handshakes.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, counter) = (acceptor.clone(), counter.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = tls.read(&mut buf).await;
                let _ = tls
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, handshakes)
}

#[tokio::test]
async fn https_client_refuses_a_certificate_outside_its_root_store() {
    let (port, handshakes) = self_signed_server().await;
    let url = format!("https://localhost:{port}/");

    let request = http::Request::get(url.as_str()).body(bytes::Bytes::new()).unwrap();
    let refused = sinch_bridge::adapters::https_client()
        .unwrap()
        .send(request, 1024)
        .await;
    let err = refused.expect_err("a certificate from a CA outside the root store must not be trusted");
    assert!(
        matches!(err, sinch_bridge::adapters::HttpsFailure::Connect(_)),
        "refused during the handshake, not after: {err}"
    );
    assert_eq!(handshakes.load(std::sync::atomic::Ordering::SeqCst), 0);

    // Control: the same server is reachable by a client that trusts the test CA, so the
    // refusal above is about trust, not about a broken server.
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let ca = CertificateDer::from_pem_file(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/tls/test-ca.pem"))
        .expect("fixture CA");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).expect("fixture CA is a valid anchor");
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let trusting = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .expect("client");
    let answer = trusting.get(&url).send().await.expect("trusted handshake succeeds");
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(handshakes.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// One `messages:send` through the sender's HTTP adapter to `mock`.
async fn send_to(mock: &MockServer) -> Result<sinch_bridge::ports::HttpReply, sinch_bridge::ports::TransportError> {
    let http = HttpsSinchClient::new(sinch_bridge::adapters::https_client().unwrap(), Duration::from_secs(5));
    let request = sinch_bridge::ports::HttpRequest {
        method: sinch_bridge::ports::HttpMethod::Post,
        url: format!("{}/v1/projects/p/messages:send", mock.uri()),
        authorization: SecretString::new("Bearer canary-token"),
        content_type: "application/json",
        body: b"{}".to_vec(),
    };
    sinch_bridge::ports::SinchClient::send(&http, request).await
}

#[tokio::test]
async fn https_client_never_follows_redirects() {
    let mock = OffTaskMock::start().await;
    Mock::given(path("/v1/projects/p/messages:send"))
        .respond_with(ResponseTemplate::new(307).insert_header("location", format!("{}/elsewhere", mock.uri())))
        .mount(&mock)
        .await;
    Mock::given(path("/elsewhere"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&mock)
        .await;
    let reply = send_to(&mock).await.expect("the 307 itself is the answer");
    assert_eq!(reply.status, 307);
    let requests = mock.received_requests().await.unwrap_or_default();
    assert!(
        requests.iter().all(|r| r.url.path() != "/elsewhere"),
        "the redirect was followed"
    );
}

#[tokio::test]
async fn answers_longer_than_64_kib_are_cut_there() {
    let mock = OffTaskMock::start().await;
    Mock::given(path("/v1/projects/p/messages:send"))
        .respond_with(ResponseTemplate::new(502).set_body_string("x".repeat(1024 * 1024)))
        .mount(&mock)
        .await;
    let reply = send_to(&mock).await.expect("the answer is read up to the cap");
    assert_eq!(reply.status, 502);
    assert_eq!(
        reply.body.len(),
        64 * 1024,
        "a misbehaving peer's answer is bounded in memory"
    );
}
