//! SQS's message move tasks, which moto does not have, as an HTTP double in front of moto:
//! `StartMessageMoveTask`, `ListMessageMoveTasks` and `CancelMessageMoveTask` answered here,
//! everything else forwarded. It refuses as SQS documents (Amazon SQS developer guide,
//! "Troubleshooting dead-letter queue redrive"; API reference of the three actions):
//!
//! - without a `DestinationArn`, SQS redrives each message to the queue it was moved from, and
//!   cannot for a message written to the DLQ with `SendMessage` — which every dead letter of the
//!   sender is. The task ends `FAILED` with `CouldNotDetermineMessageSource` (the double takes
//!   every message as `SendMessage`d; SQS's own moves, which it could place, never reach it);
//! - the source must be a dead-letter queue of some queue's redrive policy;
//! - one active task per source queue;
//! - a FIFO DLQ moves only to a FIFO queue, and a standard one only to a standard one.
//!
//! A task moves messages with their body, attributes and message group, in order.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
struct Task {
    handle: String,
    source: String,
    destination: Option<String>,
    status: &'static str,
    moved: u64,
    to_move: u64,
    failure: Option<String>,
    started_ms: i64,
}

#[derive(Clone)]
struct State {
    moto: String,
    sqs: Client,
    http: reqwest::Client,
    tasks: Arc<Mutex<Vec<Task>>>,
}

/// A running double: point SQS clients at [`MoveTaskDouble::url`].
pub struct MoveTaskDouble {
    pub addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl MoveTaskDouble {
    pub async fn start(moto_endpoint: &str) -> Self {
        let state = State {
            moto: moto_endpoint.trim_end_matches('/').to_owned(),
            sqs: Client::new(&crate::sdk_config_for(moto_endpoint).await),
            http: reqwest::Client::builder()
                .tls_backend_preconfigured(sinch_bridge::adapters::tls_config().expect("TLS configuration"))
                .build()
                .expect("an HTTP client"),
            tasks: Arc::default(),
        };
        let app = axum::Router::new().fallback(handle).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the double");
        let addr = listener.local_addr().expect("its address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, server }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for MoveTaskDouble {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn error(kind: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [("content-type", "application/x-amz-json-1.0")],
        json!({"__type": format!("com.amazonaws.sqs#{kind}"), "message": message}).to_string(),
    )
        .into_response()
}

fn ok(body: Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.0")],
        body.to_string(),
    )
        .into_response()
}

async fn handle(
    axum::extract::State(state): axum::extract::State<State>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    match target.as_str() {
        "AmazonSQS.StartMessageMoveTask" => start(&state, &request).await,
        "AmazonSQS.ListMessageMoveTasks" => list(&state, &request),
        "AmazonSQS.CancelMessageMoveTask" => cancel(&state, &request),
        _ => forward(&state, method, &uri, &headers, body).await,
    }
}

async fn forward(state: &State, method: Method, uri: &Uri, headers: &HeaderMap, body: Bytes) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = state.http.request(method, format!("{}{path}", state.moto)).body(body);
    for (name, value) in headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            let mut out = HeaderMap::new();
            for (name, value) in response.headers() {
                if name != "content-length" && name != "transfer-encoding" {
                    out.insert(name.clone(), value.clone());
                }
            }
            let bytes = response.bytes().await.unwrap_or_default();
            (status, out, bytes).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// The queue URL of an ARN on moto.
async fn url_of(sqs: &Client, arn: &str) -> Option<String> {
    let name = arn.rsplit(':').next()?;
    sqs.get_queue_url().queue_name(name).send().await.ok()?.queue_url
}

/// Whether some queue's redrive policy names `arn` as its dead-letter queue.
async fn is_dead_letter_queue(sqs: &Client, arn: &str) -> bool {
    let Ok(queues) = sqs.list_queues().send().await else {
        return false;
    };
    for url in queues.queue_urls() {
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .send()
            .await;
        let policy: Value = attributes
            .ok()
            .and_then(|a| a.attributes()?.get(&QueueAttributeName::RedrivePolicy).cloned())
            .and_then(|p| serde_json::from_str(&p).ok())
            .unwrap_or_default();
        if policy["deadLetterTargetArn"] == arn {
            return true;
        }
    }
    false
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0))
}

async fn start(state: &State, request: &Value) -> Response {
    let source = request["SourceArn"].as_str().unwrap_or_default().to_owned();
    let destination = request["DestinationArn"].as_str().map(str::to_owned);
    let Some(source_url) = url_of(&state.sqs, &source).await else {
        return error("ResourceNotFoundException", "The specified queue does not exist.");
    };
    if !is_dead_letter_queue(&state.sqs, &source).await {
        return error(
            "InvalidParameterValue",
            "Source queue must be configured as a Dead Letter Queue.",
        );
    }
    let running = state
        .tasks
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .any(|t| t.source == source && t.status == "RUNNING");
    if running {
        return error(
            "UnsupportedOperation",
            "Only one active message movement task is supported per queue at any given time.",
        );
    }
    if let Some(d) = &destination
        && d.ends_with(".fifo") != source.ends_with(".fifo")
    {
        return error(
            "InvalidParameterValue",
            "A FIFO dead-letter queue can only be redriven to a FIFO queue, a standard one to a standard queue.",
        );
    }
    let to_move = depth(&state.sqs, &source_url).await;
    let handle = format!("task-{:016x}", fastrand::u64(..));
    let mut task = Task {
        handle: handle.clone(),
        source: source.clone(),
        destination: destination.clone(),
        status: "RUNNING",
        moved: 0,
        to_move,
        failure: None,
        started_ms: now_ms(),
    };
    let Some(destination) = destination else {
        task.status = "FAILED";
        task.failure = Some("CouldNotDetermineMessageSource".into());
        state.tasks.lock().unwrap_or_else(PoisonError::into_inner).push(task);
        return ok(json!({"TaskHandle": handle}));
    };
    state.tasks.lock().unwrap_or_else(PoisonError::into_inner).push(task);
    let background = state.clone();
    let task_handle = handle.clone();
    tokio::spawn(async move {
        let outcome = move_all(&background, &source_url, &destination, &task_handle).await;
        let mut tasks = background.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = tasks.iter_mut().find(|t| t.handle == task_handle) {
            match outcome {
                Ok(()) => t.status = "COMPLETED",
                Err(e) => {
                    t.status = "FAILED";
                    t.failure = Some(e);
                }
            }
        }
    });
    ok(json!({"TaskHandle": handle}))
}

async fn depth(sqs: &Client, url: &str) -> u64 {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .ok()
        .and_then(|a| {
            a.attributes()?
                .get(&QueueAttributeName::ApproximateNumberOfMessages)
                .cloned()
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn move_all(state: &State, source_url: &str, destination_arn: &str, handle: &str) -> Result<(), String> {
    let destination = url_of(&state.sqs, destination_arn)
        .await
        .ok_or_else(|| "AWS.SimpleQueueService.NonExistentQueue".to_owned())?;
    loop {
        let cancelled = state
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .any(|t| t.handle == handle && t.status == "CANCELLING");
        if cancelled {
            return Err("cancelled".into());
        }
        let batch = state
            .sqs
            .receive_message()
            .queue_url(source_url)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let messages = batch.messages();
        if messages.is_empty() {
            return Ok(());
        }
        for m in messages {
            let attributes: HashMap<String, MessageAttributeValue> =
                m.message_attributes().cloned().unwrap_or_default();
            let mut send = state
                .sqs
                .send_message()
                .queue_url(&destination)
                .message_body(m.body().unwrap_or_default())
                .set_message_attributes(Some(attributes));
            if destination.ends_with(".fifo") {
                let group = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                    .cloned()
                    .unwrap_or_default();
                // "the original message's deduplication ID will be replaced with the original
                // message's ID" (SQS, FIFO redrive).
                send = send
                    .message_group_id(group)
                    .message_deduplication_id(m.message_id().unwrap_or_default());
            }
            send.send().await.map_err(|e| e.to_string())?;
            if let Some(receipt) = m.receipt_handle() {
                state
                    .sqs
                    .delete_message()
                    .queue_url(source_url)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
            }
            if let Some(t) = state
                .tasks
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter_mut()
                .find(|t| t.handle == handle)
            {
                t.moved += 1;
            }
        }
    }
}

fn list(state: &State, request: &Value) -> Response {
    let source = request["SourceArn"].as_str().unwrap_or_default();
    let max = request["MaxResults"].as_u64().unwrap_or(1) as usize;
    let tasks = state.tasks.lock().unwrap_or_else(PoisonError::into_inner);
    let results: Vec<Value> = tasks
        .iter()
        .rev()
        .filter(|t| t.source == source)
        .take(max)
        .map(|t| {
            let mut entry = json!({
                "TaskHandle": t.handle, "Status": t.status, "SourceArn": t.source,
                "ApproximateNumberOfMessagesMoved": t.moved,
                "ApproximateNumberOfMessagesToMove": t.to_move,
                "StartedTimestamp": t.started_ms,
            });
            if let Some(d) = &t.destination {
                entry["DestinationArn"] = json!(d);
            }
            if let Some(f) = &t.failure {
                entry["FailureReason"] = json!(f);
            }
            entry
        })
        .collect();
    ok(json!({"Results": results}))
}

fn cancel(state: &State, request: &Value) -> Response {
    let handle = request["TaskHandle"].as_str().unwrap_or_default();
    let mut tasks = state.tasks.lock().unwrap_or_else(PoisonError::into_inner);
    match tasks.iter_mut().find(|t| t.handle == handle && t.status == "RUNNING") {
        Some(t) => {
            t.status = "CANCELLING";
            ok(json!({"ApproximateNumberOfMessagesMoved": t.moved}))
        }
        None => error("ResourceNotFoundException", "No running task with this handle."),
    }
}
