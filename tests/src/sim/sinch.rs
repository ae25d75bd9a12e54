//! Sinch's OAuth endpoint and Conversation API on loopback (wiremock), with switches a fault
//! schedule flips: the API down (503, as Sinch documents for "Something went wrong on our
//! end"), the token endpoint down, the access key refused (401), every message refused (400).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::off_task_mock::OffTaskMock;
use serde_json::{Value, json};
use sinch_bridge::clock::Clock;
use sinch_bridge::testing::ManualClock;
use wiremock::{Mock, Request, Respond, ResponseTemplate};

#[derive(Debug, Default)]
pub struct SinchSwitches {
    pub api_down: AtomicBool,
    pub auth_down: AtomicBool,
    pub key_refused: AtomicBool,
    pub refuse_messages: AtomicBool,
    /// Projects whose sends get 503.
    pub projects_down: Mutex<Vec<String>>,
    pub accepted: AtomicU64,
    pub requests: AtomicU64,
    /// What was accepted, in order: (project, text, when on the run's clock).
    pub delivered: Mutex<Vec<(String, String, i64)>>,
}

struct Responder(Arc<SinchSwitches>, Arc<ManualClock>);

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let s = &self.0;
        s.requests.fetch_add(1, Ordering::Relaxed);
        if request.url.path().ends_with("/oauth2/token") {
            if s.auth_down.load(Ordering::SeqCst) {
                return ResponseTemplate::new(503).set_body_json(json!({"error": "temporarily_unavailable"}));
            }
            if s.key_refused.load(Ordering::SeqCst) {
                return ResponseTemplate::new(401).set_body_json(json!({"error": "invalid_client"}));
            }
            return ResponseTemplate::new(200).set_body_json(json!({"access_token": "t", "expires_in": 3599}));
        }
        // /v1/projects/{project}/messages:send
        let project = request
            .url
            .path()
            .split('/')
            .skip_while(|p| *p != "projects")
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let project_down = s
            .projects_down
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&project);
        if s.api_down.load(Ordering::SeqCst) || project_down {
            return ResponseTemplate::new(503)
                .set_body_json(json!({"error": {"code": 503, "status": "UNAVAILABLE", "message": "try again"}}));
        }
        if s.refuse_messages.load(Ordering::SeqCst) {
            return ResponseTemplate::new(400).set_body_json(
                json!({"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "bad recipient"}}),
            );
        }
        let n = s.accepted.fetch_add(1, Ordering::Relaxed);
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let text = body["message"]["text_message"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        s.delivered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((project, text, self.1.unix_millis()));
        ResponseTemplate::new(200)
            .set_body_json(json!({"message_id": format!("SINCH{n:010}"), "accepted_time": "2026-12-05T00:00:00Z"}))
    }
}

/// A running Sinch double and its switches.
pub struct SinchDouble {
    pub server: OffTaskMock,
    pub switches: Arc<SinchSwitches>,
}

impl SinchDouble {
    pub async fn start(clock: Arc<ManualClock>) -> Self {
        let server = OffTaskMock::unrecorded().await;
        let switches = Arc::new(SinchSwitches::default());
        Mock::given(wiremock::matchers::any())
            .respond_with(Responder(switches.clone(), clock))
            .mount(&server)
            .await;
        Self { server, switches }
    }

    pub fn delivered(&self) -> Vec<(String, String, i64)> {
        self.switches
            .delivered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }
}
