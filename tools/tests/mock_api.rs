//! The mock Conversation API answers like Sinch documents: OAuth2 client credentials, then
//! `messages:send` validated (app id, one recipient form, one message kind, app region); the
//! management API (apps per project and region, webhooks with Sinch's limits and every update
//! mask form); and its callbacks go to the registered webhooks subscribed to MESSAGE_DELIVERY,
//! signed with each webhook's secret as it is at send time, unsigned without one, and without
//! conversation ids for Dispatch apps.

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use bridge_tools::mock::{LoopbackMock, MockApp, MockConfig, MockWebhook, ProcessingMode, on_loopback};
use reqwest::Method;
use serde_json::{Value, json};
use sinch_bridge::protocol::signature::{SignatureHeaders, WebhookSecret};
use sinch_bridge::protocol::{Region, SecretString, verify};
use tokio::sync::mpsc;

const APP: &str = "01HZX5DEM0APP00000000000AA";
const EU_APP: &str = "01HZX5DEM0APP00000000000EE";
const DISPATCH_APP: &str = "01HZX5DEM0APP00000000000DD";
const NOT_FOUND: &str = "404 NOT_FOUND";
const INVALID: &str = "400 INVALID_ARGUMENT";

/// A Conversation-mode app in us, a Dispatch app in us, a Dispatch app in eu; project "proj".
fn apps() -> Vec<MockApp> {
    let mut conversation = MockApp::new(APP, Region::Us, "proj");
    conversation.processing_mode = ProcessingMode::Conversation;
    vec![
        conversation,
        MockApp::new(DISPATCH_APP, Region::Us, "proj"),
        MockApp::new(EU_APP, Region::Eu, "proj"),
    ]
}

async fn mock_with(apps: Vec<MockApp>, send_callbacks: bool) -> LoopbackMock {
    on_loopback(MockConfig::for_tests(apps, "key", "secret", send_callbacks))
        .await
        .unwrap()
}

async fn mock() -> LoopbackMock {
    mock_with(apps(), false).await
}

type Answer = (u16, Value);

/// Project "proj" in one region, over Basic auth unless told otherwise.
struct Api {
    client: reqwest::Client,
    url: String,
    base: String,
    auth: String,
}

impl Api {
    fn new(url: &str, region: &str) -> Self {
        let basic = base64::engine::general_purpose::STANDARD.encode("key:secret");
        Self {
            client: bridge_tools::http::client().unwrap(),
            url: url.to_owned(),
            base: format!("{url}/{region}/v1/projects/proj"),
            auth: format!("Basic {basic}"),
        }
    }

    fn with_auth(mut self, auth: &str) -> Self {
        self.auth = auth.to_owned();
        self
    }

    async fn request(&self, method: Method, url: String, auth: bool, body: Option<Value>) -> Answer {
        let mut request = self.client.request(method, url);
        if auth {
            request = request.header("authorization", &self.auth);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let r = request.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.request(method, format!("{}{path}", self.base), true, body).await
    }

    /// A control endpoint of the mock (no credentials).
    async fn control(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let url = format!("{}/_mock/{path}", self.url);
        self.request(method, url, false, body).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    async fn send(&self, body: Value) -> Answer {
        self.call(Method::POST, "/messages:send", Some(body)).await
    }

    async fn create(&self, body: Value) -> Answer {
        self.call(Method::POST, "/webhooks", Some(body)).await
    }

    async fn patch(&self, id: &str, query: &str, body: Value) -> Answer {
        let path = format!("/webhooks/{id}{query}");
        self.call(Method::PATCH, &path, Some(body)).await
    }

    async fn webhook(&self, id: &str) -> Answer {
        self.get(&format!("/webhooks/{id}")).await
    }

    /// The `webhooks` of an app's list answer.
    async fn listed(&self, app: &str) -> Value {
        ok(self.get(&format!("/apps/{app}/webhooks")).await)["webhooks"].take()
    }

    async fn delete(&self, id: &str) -> Answer {
        self.call(Method::DELETE, &format!("/webhooks/{id}"), None).await
    }
}

/// `NOT_FOUND` from Sinch's wrapped error body, its code checked against the status.
fn err((status, body): Answer) -> String {
    assert_eq!(body["error"]["code"], status, "{body}");
    format!("{status} {}", body["error"]["status"].as_str().unwrap_or_default())
}

fn ok((status, body): Answer) -> Value {
    assert_eq!(status, 200, "{body}");
    body
}

fn id(webhook: &Value) -> String {
    webhook["id"].as_str().unwrap().to_owned()
}

async fn token(client: &reqwest::Client, url: &str, secret: &str) -> Answer {
    let r = client.post(format!("{url}/oauth2/token"));
    let r = r.basic_auth("key", Some(secret));
    let r = r.body("grant_type=client_credentials").send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn bearer(url: &str) -> String {
    let (_, t) = token(&bridge_tools::http::client().unwrap(), url, "secret").await;
    format!("Bearer {}", t["access_token"].as_str().unwrap())
}

type Received = (String, HeaderMap, Bytes);

/// A callback receiver: `POST /hooks/{name}` answers 200 (401 for `refuse`) and passes on what came.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handler = move |Path(name): Path<String>, headers: HeaderMap, body: Bytes| {
        let status = if name == "refuse" { 401 } else { 200 };
        tx.send((name, headers, body)).unwrap();
        async move { StatusCode::from_u16(status).unwrap() }
    };
    let router = axum::Router::new().route("/hooks/{name}", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Received>) -> (String, HeaderMap, Value, Bytes) {
    let received = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
    let (name, headers, bytes) = received.expect("a callback arrives").unwrap();
    (name, headers, serde_json::from_slice(&bytes).unwrap(), bytes)
}

fn signed_with(headers: &HeaderMap, body: &[u8], secret: &str) -> bool {
    let headers = SignatureHeaders::extract(headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes()))).unwrap();
    verify(&headers, body, [&WebhookSecret::new(SecretString::new(secret))], 0, 0).is_ok()
}

#[tokio::test]
async fn issues_tokens_only_for_known_keys() {
    let running = mock().await;
    let url = running.url.clone();
    let client = bridge_tools::http::client().unwrap();
    let (status, body) = token(&client, &url, "secret").await;
    assert_eq!(status, 200);
    assert_eq!(body["expires_in"], 3600);
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(token(&client, &url, "wrong").await.0, 401);
}

#[tokio::test]
async fn validates_send_requests_like_the_api() {
    let running = mock().await;
    let url = running.url.clone();
    let bearer = bearer(&url).await;
    let us = Api::new(&url, "us").with_auth(&bearer);
    let (c, text) = (json!({"contact_id": "c"}), json!({"text_message": {"text": "hi"}}));
    let send = |app: &str, recipient: &Value, message: &Value| json!({"app_id": app, "recipient": recipient, "message": message});
    let accepted = ok(us.send(send(APP, &c, &text)).await);
    assert!(accepted["message_id"].as_str().is_some_and(|id| id.len() == 26) && accepted["accepted_time"].is_string());

    let both = json!({"contact_id": "c", "identified_by": {}});
    let two = json!({"text_message": {}, "media_message": {}});
    let cases = [
        (json!({"recipient": c, "message": text}), INVALID),
        (send("not-a-ulid", &c, &text), INVALID),
        (send(APP, &both, &text), INVALID),
        (send(APP, &c, &two), INVALID),
        (send("01HZX5DEM0APP00000000000BB", &c, &text), NOT_FOUND),
    ];
    for (body, expected) in cases {
        assert_eq!(err(us.send(body.clone()).await), expected, "{body}");
    }
    let eu = Api::new(&url, "eu").with_auth(&bearer);
    assert_eq!(err(eu.send(send(APP, &c, &text)).await), NOT_FOUND, "other region");
    let forged = Api::new(&url, "us").with_auth("Bearer forged");
    assert_eq!(err(forged.send(send(APP, &c, &text)).await), "401 UNAUTHENTICATED");
}

#[tokio::test]
async fn injects_faults_in_order_then_recovers() {
    let running = mock().await;
    let url = running.url.clone();
    let api = Api::new(&url, "us").with_auth(&bearer(&url).await);
    for kind in ["429", "500"] {
        let (status, _) = api.control(Method::POST, "faults", Some(json!({"kind": kind}))).await;
        assert_eq!(status, 204);
    }
    let body = json!({"app_id": APP, "recipient": {"contact_id": "c"}, "message": {"text_message": {"text": "hi"}}});
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = api.client.post(format!("{}/messages:send", api.base));
        let r = r.header("authorization", &api.auth).json(&body).send().await.unwrap();
        if r.status().as_u16() == 429 {
            assert_eq!(r.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
        }
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, vec![429, 500, 200]);
    let (_, recorded) = api.control(Method::GET, "requests", None).await;
    assert_eq!(recorded.as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn apps_are_served_per_project_and_region() {
    let running = mock().await;
    let url = running.url.clone();
    let (us, eu) = (Api::new(&url, "us"), Api::new(&url, "eu"));
    let ids = |body: Value| -> Vec<Value> {
        let apps = body["apps"].as_array().unwrap();
        apps.iter().map(|a| a["id"].clone()).collect()
    };
    assert_eq!(ids(ok(us.get("/apps").await)), [APP, DISPATCH_APP]);
    assert_eq!(ids(ok(eu.get("/apps").await)), [EU_APP]);
    let mut other = Api::new(&url, "us");
    other.base = format!("{url}/us/v1/projects/other");
    assert_eq!(ids(ok(other.get("/apps").await)), Vec::<Value>::new());

    let app = ok(us.get(&format!("/apps/{APP}")).await);
    assert!(app["display_name"].is_string() && app["processing_mode"] == "CONVERSATION");
    let sms = json!([{"channel": "SMS", "state": {"status": "ACTIVE"}, "credential_ordinal_number": 0}]);
    assert_eq!(app["channel_credentials"], sms);
    let dispatch = ok(us.get(&format!("/apps/{DISPATCH_APP}")).await);
    assert_eq!(dispatch["processing_mode"], "DISPATCH");
    ok(eu.get(&format!("/apps/{EU_APP}")).await);
    // An app of another region is not found, as Sinch answers.
    assert_eq!(err(us.get(&format!("/apps/{EU_APP}")).await), NOT_FOUND);
    assert_eq!(err(us.get(&format!("/apps/{EU_APP}/webhooks")).await), NOT_FOUND);
    let create = json!({"app_id": EU_APP, "target": "https://example.com/w", "target_type": "HTTP"});
    assert_eq!(err(us.create(create.clone()).await), NOT_FOUND);
    ok(eu.create(create).await);

    let bearer = Api::new(&url, "us").with_auth(&bearer(&url).await);
    ok(bearer.get("/apps").await);
    let wrong_key = us.with_auth("Basic a2V5Ondyb25n"); // key:wrong
    assert_eq!(err(wrong_key.get("/apps").await), "401 UNAUTHENTICATED");
}

#[tokio::test]
async fn webhooks_round_trip_through_create_get_list_and_delete() {
    let running = mock_with(apps(), false).await;
    let (url, state) = (running.url.clone(), running.state.clone());
    // This test reads secrets back; Sinch's default is to mask them (next test).
    state.set_secret_reads(bridge_tools::mock::SecretReads::Full);
    let api = Api::new(&url, "us");
    let triggers = json!(["MESSAGE_DELIVERY", "MESSAGE_INBOUND"]);
    let target = "https://example.com/webhooks/a";
    let mut body = json!({"app_id": APP, "target": target, "target_type": "HTTP", "secret": "s3cr3t"});
    body["triggers"] = triggers;
    let created = ok(api.create(body.clone()).await);
    let id = id(&created);
    assert!(bridge_tools::ulid::is_ulid(&id), "{id}");
    body["id"] = json!(id);
    assert_eq!(created, body);
    // target_type defaults to DISMISS, as the schema says; without a secret none is returned.
    let defaults = json!({"app_id": APP, "target": "https://example.com/b"});
    let dismissed = ok(api.create(defaults).await);
    let shown = json!([dismissed["target_type"], dismissed.get("secret")]);
    assert_eq!(shown, json!(["DISMISS", null]));

    assert_eq!(ok(api.webhook(&id).await), created);
    assert_eq!(api.listed(APP).await, json!([created, dismissed]));
    assert_eq!(api.listed(DISPATCH_APP).await, json!([]));
    assert_eq!(err(Api::new(&url, "eu").webhook(&id).await), NOT_FOUND);
    assert_eq!(state.webhooks().len(), 2);
    assert_eq!(state.webhook(&id).unwrap().secret.unwrap().expose(), "s3cr3t");
    let inspected = api.control(Method::GET, "webhooks", None).await.1;
    assert_eq!(inspected["webhooks"][0]["secret"], "***", "{inspected}");
    assert!(!inspected.to_string().contains("s3cr3t"));

    assert_eq!(api.delete(&id).await, (200, json!({})));
    assert_eq!(err(api.webhook(&id).await), NOT_FOUND);
    assert_eq!(err(api.delete(&id).await), NOT_FOUND);
    assert_eq!(api.listed(APP).await, json!([dismissed]));
}

/// Sinch's reference shows `"secret": "***"` for a webhook list ("partially masked for
/// security") and does not say whether other answers show it: the mock masks every answer by
/// default, and can omit the field or show it in full.
#[tokio::test]
async fn secrets_are_masked_in_every_answer_by_default_and_the_mode_switches() {
    let running = mock_with(apps(), false).await;
    let (url, state) = (running.url.clone(), running.state.clone());
    let api = Api::new(&url, "us");
    let body = json!({"app_id": APP, "target": "https://example.com/m", "target_type": "HTTP", "secret": "s3cr3t",
                      "triggers": ["MESSAGE_DELIVERY"]});
    let created = ok(api.create(body).await);
    let id = id(&created);
    let patched = ok(api
        .patch(
            &id,
            "?update_mask=secret",
            json!({"target": "https://example.com/m", "secret": "n3w"}),
        )
        .await);
    for answer in [
        created,
        patched,
        ok(api.webhook(&id).await),
        api.listed(APP).await[0].clone(),
    ] {
        assert_eq!(answer["secret"], "***", "{answer}");
    }
    assert_eq!(
        state.webhook(&id).unwrap().secret.unwrap().expose(),
        "n3w",
        "the secret is held, only not shown"
    );
    for (mode, shown) in [
        ("absent", Value::Null),
        ("full", json!("n3w")),
        ("masked", json!("***")),
    ] {
        assert_eq!(
            api.control(Method::POST, "secret-reads", Some(json!({"mode": mode})))
                .await
                .0,
            204
        );
        let answer = ok(api.webhook(&id).await);
        assert_eq!(answer.get("secret").cloned().unwrap_or(Value::Null), shown, "{mode}");
    }
}

#[tokio::test]
async fn webhook_rules_limit_and_unique_targets_are_enforced() {
    let running = mock().await;
    let url = running.url.clone();
    let api = Api::new(&url, "us");
    let longest = format!("https://example.com/{}", "a".repeat(742 - "https://example.com/".len()));
    let to = |target: &str| json!({"app_id": APP, "target": target, "target_type": "HTTP"});
    let with = |key: &str, value: Value| {
        let mut body = to("https://example.com/x");
        body[key] = value;
        body
    };
    let refused = [
        ("no target", json!({"app_id": APP, "target_type": "HTTP"})),
        ("no app_id", json!({"target": "https://example.com/x"})),
        ("743 characters", to(&format!("{longest}a"))),
        ("not a URL", to("example.com/x")),
        ("not http", to("ftp://example.com/x")),
        ("Sinch's own host", to("https://conversation-api.eu1.sinch.com/x")),
        ("target_type", with("target_type", json!("EMAIL"))),
        ("unspecified trigger", with("triggers", json!(["UNSPECIFIED_TRIGGER"]))),
        ("unknown trigger", with("triggers", json!(["NOPE"]))),
        ("unknown field", with("trigger", json!(["MESSAGE_DELIVERY"]))),
    ];
    for (what, body) in refused {
        assert_eq!(err(api.create(body).await), INVALID, "{what}");
    }
    let unknown_app = with("app_id", json!("01HZX5DEM0APP00000000000ZZ"));
    assert_eq!(err(api.create(unknown_app).await), NOT_FOUND);

    let first = ok(api.create(to(&longest)).await);
    assert_eq!(err(api.create(to(&longest)).await), INVALID, "duplicate target");
    ok(api.create(json!({"app_id": DISPATCH_APP, "target": longest})).await); // unique per app only
    for n in 2..=5 {
        ok(api.create(to(&format!("https://example.com/{n}"))).await);
    }
    let sixth = api.create(to("https://example.com/6")).await;
    let message = sixth.1["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("maximum of 5"), "{message}");
    assert_eq!(err(sixth), INVALID);
    ok(api.delete(&id(&first)).await);
    ok(api.create(to("https://example.com/6")).await);
}

#[tokio::test]
async fn patch_changes_only_the_masked_fields_in_every_mask_form() {
    let running = mock_with(apps(), false).await;
    let (url, state) = (running.url.clone(), running.state.clone());
    state.set_secret_reads(bridge_tools::mock::SecretReads::Full);
    let api = Api::new(&url, "us");
    let [a, b, c] = ["a", "b", "c"].map(|p| format!("https://example.com/{p}"));
    let (delivery, inbound) = (json!(["MESSAGE_DELIVERY"]), json!(["MESSAGE_INBOUND"]));
    let body = json!({"app_id": APP, "target": a, "target_type": "HTTP", "secret": "s0", "triggers": delivery});
    let webhook = id(&ok(api.create(body).await));
    let view = |w: Value| json!([w["target"], w["target_type"], w["secret"], w["triggers"]]);

    // One comma-joined value (Node, Java 1.x, .NET SDKs).
    let body = json!({"target": b, "secret": "s1", "triggers": inbound});
    let w = ok(api.patch(&webhook, "?update_mask=secret,triggers", body).await);
    assert_eq!(view(w), json!([a, "HTTP", "s1", inbound]));
    let recorded = state.management_requests().pop().unwrap();
    let shown = json!([recorded["method"], recorded["query"], recorded["body"]["secret"]]);
    assert_eq!(
        shown,
        json!(["PATCH", "update_mask=secret,triggers", "***"]),
        "recorded without the secret"
    );
    // Repeated update_mask.
    let body = json!({"target": b, "target_type": "DISMISS", "secret": "ignored"});
    let mask = "?update_mask=target&update_mask=target_type";
    let w = ok(api.patch(&webhook, mask, body).await);
    assert_eq!(view(w), json!([b, "DISMISS", "s1", inbound]));
    // Repeated update_mask.paths (an older spec copy).
    let body = json!({"target": c, "secret": "s2", "triggers": delivery, "target_type": "HTTP"});
    let mask = "?update_mask.paths=secret&update_mask.paths=triggers";
    let w = ok(api.patch(&webhook, mask, body).await);
    assert_eq!(view(w), json!([b, "DISMISS", "s2", delivery]));
    // No mask: the fields present in the body.
    let w = ok(api.patch(&webhook, "", json!({"secret": "s3"})).await);
    assert_eq!(view(w), json!([b, "DISMISS", "s3", delivery]));
    // A masked field absent from the body is cleared.
    let w = ok(api.patch(&webhook, "?update_mask=secret", json!({"target": b})).await);
    assert!(w.get("secret").is_none(), "{w}");
    assert_eq!(ok(api.webhook(&webhook).await), w);

    let other = ok(api.create(json!({"app_id": APP, "target": c})).await);
    let refused = [
        ("?update_mask=nope", json!({"target": b}), "unknown path"),
        ("", json!({"target": c}), "duplicate target"),
        (
            "",
            json!({"target": "https://conversation-api.us1.sinch.com/x"}),
            "Sinch host",
        ),
        ("?update_mask=target", json!({}), "target cleared"),
        ("", json!({"app_id": DISPATCH_APP}), "moved to another app"),
        ("", json!({"triggers": ["UNSPECIFIED_TRIGGER"]}), "unspecified trigger"),
    ];
    for (query, body, what) in refused {
        assert_eq!(err(api.patch(&webhook, query, body).await), INVALID, "{what}");
    }
    assert_eq!(ok(api.webhook(&webhook).await), w, "refusals change nothing");
    assert_eq!(ok(api.patch(&id(&other), "", json!({"app_id": APP})).await), other);
    let missing = api.patch("01HZX5DEM0WEBH00000000000ZZ", "", json!({"target": a}));
    assert_eq!(err(missing.await), NOT_FOUND);
}

#[tokio::test]
async fn callbacks_go_to_subscribed_webhooks_signed_with_their_current_secret() {
    let running = mock_with(apps(), true).await;
    let (url, state) = (running.url.clone(), running.state.clone());
    let (hooks, mut rx) = receiver().await;
    let api = Api::new(&url, "us");
    let register = |name: &str, target_type: &str, trigger: &str| {
        let target = format!("{hooks}/{name}");
        let mut body = json!({"app_id": APP, "target": target, "target_type": target_type, "secret": "first"});
        body["triggers"] = json!([trigger]);
        api.create(body)
    };
    let main = ok(register("main", "HTTP", "MESSAGE_DELIVERY").await);
    ok(register("inbound-only", "HTTP", "MESSAGE_INBOUND").await);
    ok(register("dismissed", "DISMISS", "MESSAGE_DELIVERY").await);
    let trigger = |count: usize| api.control(Method::POST, "callbacks", Some(json!({"app_id": APP, "count": count})));

    let tally =
        |sent, accepted, rejected| json!({"sent": sent, "accepted": accepted, "rejected": rejected, "failed": 0});
    assert_eq!(ok(trigger(2).await), tally(2, 2, 0));
    for _ in 0..2 {
        let (name, headers, body, bytes) = next(&mut rx).await;
        assert!(name == "main" && signed_with(&headers, &bytes, "first"), "{name}");
        let report = &body["message_delivery_report"];
        let conversation = report["conversation_id"].as_str().unwrap();
        let shown = json!([report["status"], report["processing_mode"]]);
        assert_eq!(shown, json!(["DELIVERED", "CONVERSATION"]));
        assert_eq!(conversation.len(), 26);
    }

    // A rotation: the next callback is signed with the new secret only.
    let rotated = json!({"target": main["target"], "secret": "second"});
    ok(api.patch(&id(&main), "?update_mask=secret", rotated).await);
    assert_eq!(ok(trigger(1).await)["accepted"], 1);
    let (_, headers, _, bytes) = next(&mut rx).await;
    assert!(signed_with(&headers, &bytes, "second") && !signed_with(&headers, &bytes, "first"));

    // messages:send callbacks take the same path.
    let message = json!({"text_message": {"text": "hi"}});
    let send = json!({"app_id": APP, "recipient": {"contact_id": "c"}, "message": message,
        "correlation_id": "corr-1", "message_metadata": "meta"});
    ok(api.send(send).await);
    for status in ["QUEUED_ON_CHANNEL", "DELIVERED"] {
        let (name, headers, body, bytes) = next(&mut rx).await;
        assert!(name == "main" && signed_with(&headers, &bytes, "second"), "{name}");
        assert_eq!(body["correlation_id"], "corr-1");
        let report = &body["message_delivery_report"];
        let echoed = json!([report["status"], report["metadata"], report["contact_id"]]);
        assert_eq!(echoed, json!([status, "meta", "c"]));
    }

    // A webhook answering 401 counts as rejected; nothing goes to unsubscribed or dismissed ones.
    ok(register("refuse", "HTTP", "MESSAGE_DELIVERY").await);
    assert_eq!(ok(trigger(1).await), tally(1, 1, 1));
    let mut names = vec![next(&mut rx).await.0, next(&mut rx).await.0];
    names.sort();
    assert_eq!(names, ["main", "refuse"]);
    assert!(rx.try_recv().is_err());
    let statuses = state.callback_statuses();
    assert_eq!((statuses.len(), statuses.iter().filter(|s| **s == 401).count()), (7, 1));
    let report = api.control(Method::GET, "callbacks", None).await.1;
    assert_eq!(json!([report["accepted"], report["rejected"]]), json!([6, 1]));
}

#[tokio::test]
async fn dispatch_callbacks_carry_no_conversation_and_go_unsigned_without_a_secret() {
    let (hooks, mut rx) = receiver().await;
    let seed = |name: &str, trigger: &str| MockWebhook {
        target: format!("{hooks}/{name}"),
        secret: None,
        triggers: vec![trigger.to_owned()],
    };
    let mut apps = apps();
    let seeds = [("dispatch", "MESSAGE_DELIVERY"), ("inbound-only", "MESSAGE_INBOUND")];
    apps[1].webhooks = seeds.iter().map(|(name, trigger)| seed(name, trigger)).collect();
    let running = mock_with(apps, true).await;
    let (url, state) = (running.url.clone(), running.state.clone());
    assert_eq!(state.webhooks().len(), 2);
    let api = Api::new(&url, "us");
    let listed = api.listed(DISPATCH_APP).await;
    let shown: Vec<Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|w| json!([w["target_type"], w.get("secret")]))
        .collect();
    assert_eq!(shown, [json!(["HTTP", null]), json!(["HTTP", null])]);

    let identity = json!({"channel_identities": [{"channel": "SMS", "identity": "+15551234567"}]});
    let message = json!({"text_message": {"text": "hi"}});
    let recipient = json!({"identified_by": identity});
    ok(api
        .send(json!({"app_id": DISPATCH_APP, "message": message, "recipient": recipient}))
        .await);
    for _ in 0..2 {
        let (name, headers, body, _) = next(&mut rx).await;
        assert_eq!(name, "dispatch");
        let pairs = headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes()));
        assert!(SignatureHeaders::absent(pairs), "unsigned");
        let r = &body["message_delivery_report"];
        let identity = &r["channel_identity"]["identity"];
        let ids = json!([r["conversation_id"], r["contact_id"], r["processing_mode"], identity]);
        assert_eq!(ids, json!(["", "", "DISPATCH", "+15551234567"]));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(rx.try_recv().is_err(), "nothing without MESSAGE_DELIVERY");
}
