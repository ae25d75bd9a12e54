use super::*;

#[test]
fn a_webhook_body_always_says_http_and_never_prints_its_secret() {
    let webhook = Webhook {
        id: String::new(),
        app_id: "APP".into(),
        target: "https://x/webhooks/s".into(),
        target_type: "HTTP".into(),
        secret: Some(SecretString::new("hush")),
        triggers: vec!["MESSAGE_DELIVERY".into()],
    };
    let json: serde_json::Value = serde_json::to_value(&webhook).unwrap_or_default();
    assert_eq!(
        json,
        serde_json::json!({"app_id":"APP","target":"https://x/webhooks/s","target_type":"HTTP",
                           "secret":"hush","triggers":["MESSAGE_DELIVERY"]})
    );
    assert!(!format!("{webhook:?}").contains("hush"));
}

#[test]
fn reads_wrapped_and_flat_error_bodies() {
    let wrapped = br#"{"error":{"code":400,"message":"bad target","status":"INVALID_ARGUMENT","details":[]}}"#;
    let flat = br#"{"code":400,"message":"bad target","status":"INVALID_ARGUMENT","details":[]}"#;
    for body in [&wrapped[..], &flat[..]] {
        assert_eq!(
            refused(400, body),
            ManagementError::Refused {
                status: 400,
                sinch_status: "INVALID_ARGUMENT".into(),
                message: "bad target".into()
            }
        );
    }
}

use crate::ports::HttpReply;
use crate::testing::{FakeSinch, ManualClock};

fn service() -> MessagingService {
    MessagingService::from_json(
        "svc",
        br#"{"region":"eu","project_id":"P","key_id":"k","key_secret":"s","webhook_secret":"hush-canary","apps":{"01EB37HMH1M6SV18ASNS3G135H":{}}}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn reply(status: u16, body: &str) -> Result<HttpReply, TransportError> {
    Ok(HttpReply {
        status,
        retry_after: None,
        body: body.as_bytes().to_vec(),
        complete: true,
    })
}

/// The token endpoint answers a token; the API answers `api(n)` for its n-th call.
fn sinch(api: impl Fn(usize) -> Result<HttpReply, TransportError> + Send + Sync + 'static) -> FakeSinch {
    let calls = std::sync::atomic::AtomicUsize::new(0);
    FakeSinch::new(move |request, _| {
        if request.url.ends_with("/oauth2/token") {
            return reply(200, r#"{"access_token":"t","expires_in":3600}"#);
        }
        api(calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
    })
}

fn endpoints(http: FakeSinch) -> ManagementEndpoints<FakeSinch> {
    ManagementEndpoints::new(http, "https://auth/oauth2/token", None, ManualClock::new(1_700_000_000))
}

fn api_calls(e: &ManagementEndpoints<FakeSinch>) -> usize {
    e.http
        .recorded()
        .iter()
        .filter(|r| !r.url.ends_with("/oauth2/token"))
        .count()
}

#[tokio::test(start_paused = true)]
async fn a_throttled_or_failing_call_is_tried_three_times() {
    let e = endpoints(sinch(|n| {
        if n == 0 {
            reply(429, "{}")
        } else {
            reply(200, r#"{"webhooks":[]}"#)
        }
    }));
    let service = service();
    assert_eq!(e.for_service(&service).list_webhooks("A").await, Ok(vec![]));
    assert_eq!(api_calls(&e), 2);

    let e = endpoints(sinch(|_| {
        reply(503, r#"{"error":{"status":"UNAVAILABLE","message":"busy"}}"#)
    }));
    let err = e.for_service(&service).list_webhooks("A").await.err();
    assert!(
        matches!(err, Some(ManagementError::Refused { status: 503, .. })),
        "{err:?}"
    );
    assert_eq!(api_calls(&e), 3, "gives up after three tries");
}

#[tokio::test(start_paused = true)]
async fn an_expired_token_is_fetched_again_once_then_a_refusal_is_final() {
    let e = endpoints(sinch(|n| {
        if n == 0 {
            reply(401, "{}")
        } else {
            reply(200, r#"{"apps":[]}"#)
        }
    }));
    let service = service();
    assert_eq!(e.for_service(&service).list_apps().await, Ok(vec![]));
    let tokens = e
        .http
        .recorded()
        .iter()
        .filter(|r| r.url.ends_with("/oauth2/token"))
        .count();
    assert_eq!(tokens, 2, "a new token after the 401");

    let e = endpoints(sinch(|_| reply(401, "{}")));
    let err = e.for_service(&service).list_apps().await.err();
    assert_eq!(err, Some(ManagementError::AuthRejected(401)));
    assert_eq!(api_calls(&e), 2, "one retry with a fresh token, no more");
}

#[tokio::test(start_paused = true)]
async fn a_webhook_id_that_is_not_an_id_never_reaches_a_url() {
    let e = endpoints(sinch(|_| reply(200, "{}")));
    let service = service();
    let webhook = Webhook {
        id: "../apps/X".into(),
        app_id: String::new(),
        target: "https://x".into(),
        target_type: "HTTP".into(),
        secret: None,
        triggers: vec![],
    };
    let err = e
        .for_service(&service)
        .update_webhook(&webhook, &["secret"])
        .await
        .err();
    assert!(matches!(err, Some(ManagementError::Malformed(_))), "{err:?}");
    assert_eq!(api_calls(&e), 0);
}

#[test]
fn an_error_quoting_the_secret_is_redacted() {
    let e = refused(
        400,
        br#"{"error":{"status":"INVALID_ARGUMENT","message":"bad secret hush-canary"}}"#,
    );
    let text = e.redacted("hush-canary");
    assert!(
        !text.contains("hush-canary") && text.contains("bad secret ***"),
        "{text}"
    );
}

#[test]
fn project_urls_follow_the_send_url_override_rule() {
    assert_eq!(
        project_url(Region::Us, None, "P"),
        "https://us.conversation.api.sinch.com/v1/projects/P"
    );
    assert_eq!(
        project_url(Region::Br, Some("http://127.0.0.1:9/"), "P"),
        "http://127.0.0.1:9/br/v1/projects/P"
    );
}
