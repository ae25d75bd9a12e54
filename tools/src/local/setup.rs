//! The local loop's share of setup as code: it registers the demo webhook through the mock's
//! management API (as `bridgectl webhooks sync` would at Sinch), and plays Secrets Manager for
//! a rotation, invoking the secret-rotation function's four steps (moto cannot run a rotation
//! function: it would start it in Docker).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sinch_bridge::adapters::{HttpsSinchClient, https_client};
use sinch_bridge::clock::SystemClock;
use sinch_bridge::protocol::{MessagingService, Trigger};
use sinch_bridge::setup::management::ManagementEndpoints;
use sinch_bridge::setup::sync::sync;

use crate::runtime_api::RuntimeApi;

/// The steps Secrets Manager invokes, in its order.
pub const ROTATION_STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

/// Gives every app of `service` its webhook at `base`, with every trigger, through the API
/// (what `bridgectl webhooks sync` does, without recording them: the loop's rotation finds
/// them by target, `WEBHOOK_BASE_URL`).
pub async fn register_webhooks(mock_url: &str, service: &MessagingService, base: &str) -> Result<(), String> {
    let https = https_client().map_err(|e| e.to_string())?;
    let endpoints = ManagementEndpoints::new(
        HttpsSinchClient::new(https, Duration::from_secs(5)),
        &format!("{mock_url}/oauth2/token"),
        Some(mock_url.to_owned()),
        Arc::new(SystemClock),
    );
    let triggers = Trigger::ALL.iter().map(|t| t.as_str().to_owned()).collect();
    // At start nothing has reloaded the demo secret yet: no wait.
    let report = sync(
        &endpoints,
        service,
        base,
        &triggers,
        false,
        false,
        Duration::ZERO,
        &mut |_, _| {},
    )
    .await;
    match report.apps.iter().find(|a| matches!(a.result, "failed" | "blocked")) {
        Some(app) => Err(format!("app {}: {}", app.app_id, app.change)),
        None => Ok(()),
    }
}

/// One rotation of `secret_id`, step by step, as Secrets Manager runs it: the step outcomes,
/// or the first failure.
pub async fn rotate(rotation: &RuntimeApi, secret_id: &str) -> Result<Vec<String>, String> {
    let token = format!("{:032x}", fastrand::u128(..));
    let mut outcomes = Vec::new();
    for step in ROTATION_STEPS {
        let event = json!({"Step": step, "SecretId": secret_id, "ClientRequestToken": token});
        let answer = rotation.invoke(event).await.map_err(|e| format!("{step}: {e}"))?;
        outcomes.push(format!("{step}: {}", answer["outcome"].as_str().unwrap_or("done")));
    }
    Ok(outcomes)
}
