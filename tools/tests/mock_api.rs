//! The mock Conversation API answers like Sinch documents: OAuth2 client credentials, then
//! `messages:send` validated (app id, one recipient form, one message kind, app region).

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

use bridge_tools::mock::{MockApp, MockConfig, spawn};
use serde_json::{Value, json};
use sinch_bridge::protocol::{Region, SecretString};

const APP: &str = "01HZX5DEM0APP00000000000AA";

async fn mock() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let config = MockConfig {
        apps: vec![MockApp {
            app_id: APP.into(),
            region: Region::Us,
            project_id: "proj".into(),
            webhook_url: "http://127.0.0.1:9/unused".into(),
            webhook_secret: SecretString::new("w"),
        }],
        credentials: HashMap::from([("key".to_owned(), SecretString::new("secret"))]),
        callback_delay: Duration::from_millis(10),
        send_callbacks: false,
    };
    let (task, _state) = spawn(listener, config, bridge_tools::http::client().unwrap());
    std::mem::forget(task); // lives for the test process
    url
}

async fn token(client: &reqwest::Client, url: &str, secret: &str) -> (u16, Value) {
    let r = client
        .post(format!("{url}/oauth2/token"))
        .basic_auth("key", Some(secret))
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn issues_tokens_only_for_known_keys() {
    let url = mock().await;
    let client = bridge_tools::http::client().unwrap();
    let (status, body) = token(&client, &url, "secret").await;
    assert_eq!(status, 200);
    assert_eq!(body["expires_in"], 3600);
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(token(&client, &url, "wrong").await.0, 401);
}

#[tokio::test]
async fn validates_send_requests_like_the_api() {
    let url = mock().await;
    let client = bridge_tools::http::client().unwrap();
    let (_, t) = token(&client, &url, "secret").await;
    let bearer = format!("Bearer {}", t["access_token"].as_str().unwrap());
    let send = |region: &str, body: Value, auth: &str| {
        client
            .post(format!("{url}/{region}/v1/projects/proj/messages:send"))
            .header("authorization", auth.to_owned())
            .json(&body)
            .send()
    };
    let good = json!({"app_id": APP, "recipient": {"contact_id": "c"}, "message": {"text_message": {"text": "hi"}}});
    let r = send("us", good.clone(), &bearer).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let accepted: Value = r.json().await.unwrap();
    assert!(accepted["message_id"].as_str().is_some_and(|id| id.len() == 26) && accepted["accepted_time"].is_string());

    let cases = [
        (
            "us",
            json!({"recipient": {"contact_id": "c"}, "message": {"text_message": {}}}),
            400,
            "INVALID_ARGUMENT",
        ),
        (
            "us",
            json!({"app_id": "not-a-ulid", "recipient": {"contact_id": "c"}, "message": {"text_message": {}}}),
            400,
            "INVALID_ARGUMENT",
        ),
        (
            "us",
            json!({"app_id": APP, "recipient": {"contact_id": "c", "identified_by": {}}, "message": {"text_message": {}}}),
            400,
            "INVALID_ARGUMENT",
        ),
        (
            "us",
            json!({"app_id": APP, "recipient": {"contact_id": "c"}, "message": {"text_message": {}, "media_message": {}}}),
            400,
            "INVALID_ARGUMENT",
        ),
        (
            "us",
            json!({"app_id": "01HZX5DEM0APP00000000000BB", "recipient": {"contact_id": "c"}, "message": {"text_message": {}}}),
            404,
            "NOT_FOUND",
        ),
        ("eu", good.clone(), 404, "NOT_FOUND"),
    ];
    for (region, body, status, name) in cases {
        let r = send(region, body.clone(), &bearer).await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{body}");
        let error: Value = r.json().await.unwrap();
        assert_eq!(error["error"]["status"], name, "{body}");
        assert_eq!(error["error"]["code"], status);
    }
    let r = send("us", good, "Bearer forged").await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

#[tokio::test]
async fn injects_faults_in_order_then_recovers() {
    let url = mock().await;
    let client = bridge_tools::http::client().unwrap();
    for kind in ["429", "500"] {
        let r = client
            .post(format!("{url}/_mock/faults"))
            .json(&json!({"kind": kind}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
    }
    let (_, t) = token(&client, &url, "secret").await;
    let bearer = format!("Bearer {}", t["access_token"].as_str().unwrap());
    let body = json!({"app_id": APP, "recipient": {"contact_id": "c"}, "message": {"text_message": {"text": "hi"}}});
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = client
            .post(format!("{url}/us/v1/projects/proj/messages:send"))
            .header("authorization", &bearer)
            .json(&body)
            .send()
            .await
            .unwrap();
        if r.status().as_u16() == 429 {
            assert_eq!(r.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
        }
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, vec![429, 500, 200]);
    let recorded: Vec<Value> = client
        .get(format!("{url}/_mock/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(recorded.len(), 3);
}
