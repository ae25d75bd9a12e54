//! A Lambda Runtime API emulator: the function binary, started with `AWS_LAMBDA_RUNTIME_API`
//! pointing here, polls `/invocation/next` as it does in Lambda, and [`RuntimeApi::invoke`]
//! hands it one event at a time and waits for its answer. Only what the runtime client uses:
//! `next`, `response`, `error` and `init/error`.
//!
//! Small and our own rather than cargo-lambda's `watch`: that one builds and runs the functions
//! itself, from source, with its own environment; the local loop runs the binaries already
//! built, each with exactly the environment the deployed template gives it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

/// Where each invocation's answer goes, by request id.
type Answers = Arc<Mutex<HashMap<String, oneshot::Sender<Result<Value, String>>>>>;

/// One invocation waiting for the function.
struct Pending {
    request_id: String,
    event: Value,
    deadline_ms: u64,
}

#[derive(Clone)]
struct Shared {
    function_arn: String,
    next: Arc<tokio::sync::Mutex<mpsc::Receiver<Pending>>>,
    answers: Answers,
}

/// The emulator's handle: invoke the function that polls it.
#[derive(Clone)]
pub struct RuntimeApi {
    queue: mpsc::Sender<Pending>,
    answers: Answers,
    /// One invocation at a time, like one execution environment.
    serial: Arc<tokio::sync::Mutex<()>>,
    timeout: Duration,
}

impl RuntimeApi {
    /// Serves the Runtime API on `listener` for a function with this `timeout`.
    pub fn spawn(
        listener: tokio::net::TcpListener,
        function_name: &str,
        timeout: Duration,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (queue, next) = mpsc::channel(64);
        let answers = Arc::new(Mutex::new(HashMap::new()));
        let shared = Shared {
            function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function_name}"),
            next: Arc::new(tokio::sync::Mutex::new(next)),
            answers: answers.clone(),
        };
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared);
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "runtime API emulator stopped");
            }
        });
        let api = Self {
            queue,
            answers,
            serial: Arc::new(tokio::sync::Mutex::new(())),
            timeout,
        };
        (api, task)
    }

    /// Runs one invocation: the function's answer, or why there is none (its error, or the
    /// function timeout passing, as Lambda would report it).
    pub async fn invoke(&self, event: Value) -> Result<Value, String> {
        let _one_at_a_time = self.serial.lock().await;
        let request_id = crate::ulid::generate();
        let deadline_ms = now_ms().saturating_add(u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX));
        let (tx, rx) = oneshot::channel();
        self.answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(request_id.clone(), tx);
        let pending = Pending {
            request_id: request_id.clone(),
            event,
            deadline_ms,
        };
        self.queue
            .send(pending)
            .await
            .map_err(|_| "the runtime API emulator stopped".to_owned())?;
        let answer = tokio::time::timeout(self.timeout, rx).await;
        self.answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&request_id);
        match answer {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err("the invocation was dropped".into()),
            Err(_) => Err(format!("Task timed out after {} seconds", self.timeout.as_secs())),
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

async fn next_invocation(State(shared): State<Shared>) -> axum::response::Response {
    let mut next = shared.next.lock().await;
    let Some(pending) = next.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let mut headers = HeaderMap::new();
    let pairs = [
        ("lambda-runtime-aws-request-id", pending.request_id.clone()),
        ("lambda-runtime-deadline-ms", pending.deadline_ms.to_string()),
        ("lambda-runtime-invoked-function-arn", shared.function_arn.clone()),
        ("lambda-runtime-trace-id", format!("Root=1-{}", pending.request_id)),
    ];
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    (headers, pending.event.to_string()).into_response()
}

fn answer(shared: &Shared, id: &str, result: Result<Value, String>) -> StatusCode {
    let waiting = shared.answers.lock().unwrap_or_else(PoisonError::into_inner).remove(id);
    match waiting {
        Some(tx) => {
            let _ = tx.send(result);
            StatusCode::ACCEPTED
        }
        None => StatusCode::NOT_FOUND,
    }
}

async fn response(State(shared): State<Shared>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    answer(&shared, &id, Ok(value))
}

async fn error(State(shared): State<Shared>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answer(&shared, &id, Err(String::from_utf8_lossy(&body).into_owned()))
}

async fn init_error(body: Bytes) -> StatusCode {
    tracing::error!(error = %String::from_utf8_lossy(&body), "function failed to initialise");
    StatusCode::ACCEPTED
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runtime client's loop in miniature: take the next event, answer it.
    async fn echo_function(api: String) {
        let client = crate::http::client().unwrap_or_else(|e| panic!("{e}"));
        loop {
            let Ok(next) = client
                .get(format!("http://{api}/2018-06-01/runtime/invocation/next"))
                .send()
                .await
            else {
                return;
            };
            let id = next
                .headers()
                .get("lambda-runtime-aws-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let deadline: u64 = next
                .headers()
                .get("lambda-runtime-deadline-ms")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or_default();
            let event: Value = next.json().await.unwrap_or_default();
            let answer = serde_json::json!({"echo": event, "has_deadline": deadline > now_ms()});
            let _ = client
                .post(format!("http://{api}/2018-06-01/runtime/invocation/{id}/response"))
                .json(&answer)
                .send()
                .await;
        }
    }

    #[tokio::test]
    async fn an_invocation_reaches_the_polling_function_and_its_answer_comes_back() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let (api, _task) = RuntimeApi::spawn(listener, "f", Duration::from_secs(5));
        tokio::spawn(echo_function(addr.to_string()));
        for i in 0..3 {
            let answer = api.invoke(serde_json::json!({"n": i})).await;
            assert_eq!(answer, Ok(serde_json::json!({"echo": {"n": i}, "has_deadline": true})));
        }
    }

    #[tokio::test]
    async fn an_invocation_nobody_answers_times_out_like_lambda() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (api, _task) = RuntimeApi::spawn(listener, "f", Duration::from_millis(200));
        let answer = api.invoke(serde_json::json!({})).await;
        assert!(answer.is_err_and(|e| e.contains("timed out")));
    }
}
