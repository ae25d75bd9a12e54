//! sender end to end: records from a real SQS queue (moto) through the Lambda handler, real
//! Secrets Manager, and a mock Conversation API + OAuth endpoint over HTTP (wiremock).

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use bridge_tests::off_task_mock::OffTaskMock;
use bridge_tests::world::*;
use bridge_tests::*;
use serde_json::{Value, json};
use sinch_bridge::adapters::{HttpsSinchClient, SecretsManagerStore, SqsQueues};
use sinch_bridge::send::Sender;
use wiremock::matchers::{body_string, header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const APP_EU: &str = "01EUAPPAAAAAAAAAAAAAAAAAAA";
const APP_US: &str = "01USAPPAAAAAAAAAAAAAAAAAAA";

type RealSender = Sender<SecretsManagerStore, HttpsSinchClient, SqsQueues>;

/// Two services: the world's own in eu (app `APP_EU`, an SMS sender) and one in us given in
/// Contact Pro's packed credential form; a mock Conversation API and OAuth endpoint.
async fn setup(fifo: bool) -> (World, OffTaskMock, RealSender) {
    let w = World::start(|s| {
        s.fifo = fifo;
        s.service_secret = json!({
            "region": "eu", "project_id": "proj-eu", "key_id": "key-eu", "key_secret": "secret-eu",
            "webhook_secret": "w", "sms_sender": "+15550001111", "apps": {APP_EU: {}}
        });
    })
    .await;
    let us = unique("us");
    w.put_service(&us, &json!({
        "region": "us", "project_id": "proj-us", "authentication_id": format!("key-us@{APP_US}"), "password": "secret-us",
        "webhook_secret": "w"
    }))
    .await;
    let mock = OffTaskMock::start().await;
    let sender = w.sender(&mock.uri(), |c, _| c.services.push(us));
    (w, mock, sender)
}

fn token_ok() -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"access_token": "tok-123", "expires_in": 3600, "scope": "", "token_type": "bearer"}))
}

fn accepted(id: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"message_id": id, "accepted_time": "2026-11-26T11:00:00Z"}))
}

/// Answers by the text of the message: `fail-500`, `fail-429`, `fail-400`, `slow`; else 200.
struct ByText;

impl Respond for ByText {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        match body["message"]["text_message"]["text"].as_str().unwrap_or_default() {
            t if t.starts_with("fail-500") => {
                ResponseTemplate::new(500).set_body_json(json!({"error": {"code": 500, "status": "INTERNAL_ERROR"}}))
            }
            t if t.starts_with("fail-429") => ResponseTemplate::new(429).insert_header("Retry-After", "1"),
            t if t.starts_with("fail-400") => ResponseTemplate::new(400).set_body_json(
                json!({"error": {"code": 400, "message": "Invalid argument", "status": "INVALID_ARGUMENT"}}),
            ),
            t if t.starts_with("slow") => accepted("late").set_delay(Duration::from_secs(3)),
            _ => accepted("sinch-ok"),
        }
    }
}

fn text(app: &str, channel: &str, text: &str) -> String {
    json!({"app_id": app, "channel": channel, "to": "+15551230000", "message": {"text_message": {"text": text}}, "correlation_id": format!("corr-{text}")}).to_string()
}

/// Enqueues bodies, receives them like the event source mapping would, runs the handler.
async fn run(
    w: &World,
    sender: &RealSender,
    bodies: &[(String, Option<&str>)],
    visibility: i32,
) -> (Vec<String>, Vec<Received>) {
    for (body, group) in bodies {
        send_body(&w.sqs, &w.outbound, body, *group).await;
    }
    let mut received = Vec::new();
    while received.len() < bodies.len() {
        let batch = receive(&w.sqs, &w.outbound, visibility).await;
        assert!(!batch.is_empty(), "expected {} messages", bodies.len());
        received.extend(batch);
    }
    let failed = run_batch(sender, &w.sqs, &w.outbound, &received).await;
    (failed, received)
}

async fn api_requests(mock: &MockServer) -> Vec<Request> {
    mock.received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path().ends_with("messages:send"))
        .collect()
}

#[tokio::test]
async fn batch_of_ten_goes_to_the_right_region_project_and_credentials_with_one_token() {
    let (w, mock, sender) = setup(false).await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .and(header("authorization", "Basic a2V5LWV1OnNlY3JldC1ldQ=="))
        .and(body_string("grant_type=client_credentials"))
        .respond_with(token_ok())
        .expect(1)
        .mount(&mock)
        .await;
    Mock::given(method("POST"))
        .and(path("/eu/v1/projects/proj-eu/messages:send"))
        .and(header("authorization", "Bearer tok-123"))
        .respond_with(accepted("sinch-eu"))
        .expect(6)
        .mount(&mock)
        .await;
    // The US service uses Contact Pro's packed credential (key-us@APP), OAuth2 by default.
    Mock::given(method("POST"))
        .and(path("/eu/v1/projects/proj-us/messages:send"))
        .respond_with(accepted("wrong-region"))
        .expect(0)
        .mount(&mock)
        .await;
    Mock::given(method("POST"))
        .and(path("/us/v1/projects/proj-us/messages:send"))
        .and(header("authorization", "Bearer tok-us"))
        .respond_with(accepted("sinch-us"))
        .expect(4)
        .mount(&mock)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .and(header("authorization", "Basic a2V5LXVzOnNlY3JldC11cw=="))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "tok-us", "expires_in": 3600})))
        .expect(1)
        .mount(&mock)
        .await;

    let mut bodies = Vec::new();
    for i in 0..6 {
        bodies.push((json!({"from": format!("{APP_EU}@sms.sinchconversation.com"), "to": "+15551230000", "message": {"text_message": {"text": format!("eu-{i}")}}, "correlation_id": format!("eu-{i}")}).to_string(), None));
    }
    for i in 0..4 {
        bodies.push((json!({"app_id": APP_US, "channel": "WHATSAPP", "to": {"contact_id": format!("contact-{i}")}, "message": {"text_message": {"text": format!("us-{i}")}}}).to_string(), None));
    }
    let (failed, _) = run(&w, &sender, &bodies, 30).await;
    assert!(failed.is_empty(), "{failed:?}");
    let requests = api_requests(&mock).await;
    assert_eq!(requests.len(), 10);
    for r in &requests {
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        if r.url.path().starts_with("/eu/") {
            assert_eq!(body["app_id"], APP_EU);
            assert_eq!(
                body["recipient"]["identified_by"]["channel_identities"][0],
                json!({"channel": "SMS", "identity": "+15551230000"})
            );
            assert_eq!(
                body["channel_properties"]["SMS_SENDER"], "+15550001111",
                "SMS takes the service's default sender"
            );
        } else {
            assert_eq!(body["app_id"], APP_US);
            assert!(
                body["recipient"]["contact_id"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("contact-"))
            );
            assert_eq!(body["channel_priority_order"], json!(["WHATSAPP"]));
            assert!(body.get("channel_properties").is_none());
        }
        assert_eq!(
            r.headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/json")
        );
    }
    let sent = drain(&w.sqs, &w.sent, 30).await;
    assert_eq!(sent.len(), 10);
    let eu_sent: Vec<Value> = sent
        .iter()
        .map(|m| serde_json::from_str::<Value>(&m.body).unwrap())
        .filter(|v| v["service"] == w.service.as_str())
        .collect();
    assert_eq!(eu_sent.len(), 6);
    assert!(
        eu_sent.iter().all(
            |v| v["message_id"] == "sinch-eu" && v["correlation_id"].as_str().is_some_and(|c| c.starts_with("eu-"))
        )
    );
    assert_eq!(depth(&w.sqs, &w.outbound).await, 0, "all deleted");
}

#[tokio::test]
async fn all_nine_message_kinds_pass_through_unchanged() {
    let (w, mock, sender) = setup(false).await;
    Mock::given(path("/oauth2/token"))
        .respond_with(token_ok())
        .mount(&mock)
        .await;
    Mock::given(method("POST"))
        .and(path("/eu/v1/projects/proj-eu/messages:send"))
        .respond_with(accepted("m"))
        .mount(&mock)
        .await;
    let messages = [
        json!({"text_message": {"text": "hello"}}),
        json!({"media_message": {"url": "https://example.com/a.jpg", "thumbnail_url": "https://example.com/t.jpg"}}),
        json!({"template_message": {"omni_template": {"template_id": "T1", "version": "2", "parameters": {"name": "Ada"}}}}),
        json!({"choice_message": {"text_message": {"text": "pick"}, "choices": [{"text_message": {"text": "a"}, "postback_data": "pa"}]}}),
        json!({"card_message": {"title": "t", "description": "d", "media_message": {"url": "https://example.com/c.png"}, "choices": []}}),
        json!({"carousel_message": {"cards": [{"title": "c1"}, {"title": "c2"}], "choices": [{"url_message": {"title": "u", "url": "https://example.com"}}]}}),
        json!({"location_message": {"coordinates": {"latitude": 47.6279809, "longitude": -2.8229159}, "title": "here", "label": "l"}}),
        json!({"list_message": {"title": "L", "sections": [{"title": "s", "items": [{"choice": {"title": "x", "postback_data": "p"}}]}]}}),
        json!({"contact_info_message": {"name": {"full_name": "Ada Lovelace"}, "phone_numbers": [{"phone_number": "+15551234", "type": "MOBILE"}]}}),
    ];
    let bodies: Vec<(String, Option<&str>)> = messages
        .iter()
        .map(|m| {
            (
                json!({"app_id": APP_EU, "channel": "WHATSAPP", "to": "+1555", "message": m}).to_string(),
                None,
            )
        })
        .collect();
    let (failed, _) = run(&w, &sender, &bodies, 30).await;
    assert!(failed.is_empty());
    let seen: Vec<Value> = api_requests(&mock)
        .await
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["message"].clone())
        .collect();
    assert_eq!(seen.len(), 9);
    for m in &messages {
        assert!(seen.contains(m), "passed through unchanged: {m}");
    }
}

#[tokio::test]
async fn transient_failures_are_reported_with_their_visibility_changed() {
    let (w, mock, sender) = setup(false).await;
    Mock::given(path("/oauth2/token"))
        .respond_with(token_ok())
        .mount(&mock)
        .await;
    Mock::given(method("POST"))
        .and(path("/eu/v1/projects/proj-eu/messages:send"))
        .respond_with(ByText)
        .mount(&mock)
        .await;
    let bodies = vec![
        (text(APP_EU, "SMS", "fail-500"), None),
        (text(APP_EU, "SMS", "fail-429"), None),
        (text(APP_EU, "SMS", "slow"), None),
        (text(APP_EU, "SMS", "fine"), None),
    ];
    // Received with a 1 s visibility timeout: without a change they would be back after 1 s.
    let (failed, received) = run(&w, &sender, &bodies, 1).await;
    let id_of = |t: &str| {
        received
            .iter()
            .find(|m| m.body.contains(t))
            .map(|m| m.message_id.clone())
            .unwrap()
    };
    let mut expected = vec![id_of("fail-500"), id_of("fail-429"), id_of("slow")];
    expected.sort();
    let mut failed_sorted = failed.clone();
    failed_sorted.sort();
    assert_eq!(failed_sorted, expected);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    // None is visible again: the 5xx and the timeout back off >= 5 s, and the 429's
    // `Retry-After: 1` is a floor, not a shortcut (a burst told "1" must not return at once).
    let back: Vec<Received> = receive(&w.sqs, &w.outbound, 30).await;
    let texts: Vec<&str> = back.iter().map(|m| m.body.as_str()).collect();
    assert!(back.is_empty(), "{texts:?}");
    assert_eq!(depth(&w.sqs, &w.outbound).await, 3, "all three wait in the queue");
    assert_eq!(depth(&w.sqs, &w.dlq).await, 0);
}

#[tokio::test]
async fn permanent_failures_land_in_the_dlq_with_reasons_and_are_not_reported() {
    let (w, mock, sender) = setup(false).await;
    Mock::given(path("/oauth2/token"))
        .respond_with(token_ok())
        .mount(&mock)
        .await;
    Mock::given(method("POST"))
        .and(path("/eu/v1/projects/proj-eu/messages:send"))
        .respond_with(ByText)
        .mount(&mock)
        .await;
    let bad_envelope =
        json!({"app_id": APP_EU, "to": "+1", "message": {"text_message": {"text": "no channel"}}}).to_string();
    let bodies = vec![
        (text(APP_EU, "SMS", "fail-400"), None),
        (bad_envelope.clone(), None),
        (text("01UNKNOWNAPP", "SMS", "who"), None),
        (text(APP_EU, "SMS", "fine"), None),
    ];
    let (failed, _) = run(&w, &sender, &bodies, 30).await;
    assert!(failed.is_empty(), "dead-lettered records are finished: {failed:?}");
    let dlq = drain(&w.sqs, &w.dlq, 30).await;
    assert_eq!(dlq.len(), 3);
    let find = |needle: &str| {
        dlq.iter()
            .find(|m| m.body.contains(needle))
            .unwrap_or_else(|| panic!("{needle} not dead-lettered"))
    };
    let bad_request = find("fail-400");
    assert_eq!(bad_request.body, text(APP_EU, "SMS", "fail-400"), "original body");
    assert_eq!(bad_request.attributes["dead_letter_reason"], "bad_request");
    assert_eq!(bad_request.attributes["http_status"], "400");
    assert_eq!(bad_request.attributes["sinch_status"], "INVALID_ARGUMENT");
    // SQS takes ten attributes: Sinch's message rides in the detail.
    assert!(
        bad_request.attributes["dead_letter_detail"].ends_with("; Sinch: Invalid argument"),
        "{:?}",
        bad_request.attributes
    );
    assert!(!bad_request.attributes.contains_key("sinch_message"));
    assert_eq!(find("no channel").attributes["dead_letter_reason"], "invalid_envelope");
    assert!(find("no channel").attributes["dead_letter_detail"].starts_with("to:"));
    assert_eq!(find("who").attributes["dead_letter_reason"], "unknown_app");
    assert_eq!(depth(&w.sqs, &w.outbound).await, 0);
}

#[tokio::test]
async fn fifo_failure_in_one_group_holds_back_only_that_group() {
    let (w, mock, sender) = setup(true).await;
    Mock::given(path("/oauth2/token"))
        .respond_with(token_ok())
        .mount(&mock)
        .await;
    Mock::given(method("POST"))
        .and(path("/eu/v1/projects/proj-eu/messages:send"))
        .respond_with(ByText)
        .mount(&mock)
        .await;
    let bodies = vec![
        (text(APP_EU, "SMS", "a-1"), Some("conv-a")),
        (text(APP_EU, "SMS", "fail-500-a-2"), Some("conv-a")),
        (text(APP_EU, "SMS", "a-3"), Some("conv-a")),
        (text(APP_EU, "SMS", "b-1"), Some("conv-b")),
        (text(APP_EU, "SMS", "b-2"), Some("conv-b")),
    ];
    let (failed, received) = run(&w, &sender, &bodies, 30).await;
    let id_of = |t: &str| {
        received
            .iter()
            .find(|m| m.body.contains(&format!("\"{t}\"")))
            .map(|m| m.message_id.clone())
            .unwrap()
    };
    assert_eq!(failed, vec![id_of("fail-500-a-2"), id_of("a-3")]);
    let texts: Vec<String> = api_requests(&mock)
        .await
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["message"]["text_message"]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(!texts.contains(&"a-3".to_owned()), "a-3 must not overtake a-2");
    assert_eq!(texts.iter().filter(|t| t.starts_with("b-")).count(), 2);
}

/// A Conversation API on a raw socket that accepts every message with a 200 whose body breaks
/// off after a few bytes (its Content-Length promises more), and counts the sends.
async fn cutting_sinch() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let sends = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = sends.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let counted = counted.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // Read the head and the (small) body: enough to see the path.
                while let Ok(n) = socket.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request);
                    if let Some(head_end) = text.find("\r\n\r\n") {
                        let length = text[..head_end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if request.len() >= head_end + 4 + length {
                            break;
                        }
                    }
                }
                let text = String::from_utf8_lossy(&request);
                let answer = if text.starts_with("POST /oauth2/token") {
                    let body = r#"{"access_token":"t","expires_in":3600}"#;
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    counted.fetch_add(1, Ordering::SeqCst);
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\nConnection: close\r\n\r\n{\"message_id\":\"01H".to_owned()
                };
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (url, sends)
}

/// Reproduction (#26, item 4): a 200 whose body broke off was retried, and Sinch sent the
/// message twice. A 2xx is Sinch's acceptance: sent once, recorded with its id unknown.
#[tokio::test]
async fn a_2xx_whose_answer_breaks_off_is_sent_once_and_recorded_without_an_id() {
    let w = World::start(|_| {}).await;
    let (url, sends) = cutting_sinch().await;
    let sender = w.sender(&url, |_, _| {});
    let (failed, _) = run(&w, &sender, &[(text(APP, "SMS", "cut"), None)], 30).await;
    assert!(failed.is_empty(), "finished, not retried: {failed:?}");
    assert_eq!(sends.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(depth(&w.sqs, &w.outbound).await, 0);
    let records = drain(&w.sqs, &w.sent, 30).await;
    assert_eq!(records.len(), 1);
    let record: Value = serde_json::from_str(&records[0].body).unwrap();
    assert_eq!(record["answer_complete"], false);
    assert_eq!(record["message_id"], Value::Null);
    assert_eq!(record["correlation_id"], "corr-cut");
}
