//! The secret-rotation function's edge: a Secrets Manager rotation event in, the step's
//! outcome logged; a failed step returns an error so Secrets Manager retries it. All the work
//! is [`sinch_bridge::setup::rotation::Rotation`].

use serde_json::Value;
use sinch_bridge::ports::{SecretAdmin, SightingReader};
use sinch_bridge::setup::rotation::{Rotation, RotationEvent, StepOutcome};
use sinch_bridge::setup::webhooks::WebhookAdmin;

pub async fn handle<A: SecretAdmin, W: WebhookAdmin, R: SightingReader>(
    rotation: &Rotation<A, W, R>,
    event: lambda_runtime::LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    // An unknown step is refused here, before anything is read or changed.
    let event: RotationEvent = serde_json::from_value(event.payload)
        .map_err(|e| lambda_runtime::Error::from(format!("not a rotation event: {e}")))?;
    // The secret id and token name a version, not its value: safe to log.
    match rotation.run(&event).await {
        Ok(outcome) => {
            let detail = match &outcome {
                StepOutcome::Done(detail) => detail.as_str(),
                StepOutcome::AlreadyFinished => "rotation already finished",
            };
            tracing::info!(step = %event.step, secret_id = %event.secret_id, token = %event.token, outcome = "done", detail, "rotation step");
            Ok(serde_json::json!({"step": event.step.as_str(), "outcome": detail}))
        }
        Err(e) => {
            tracing::error!(step = %event.step, secret_id = %event.secret_id, token = %event.token, outcome = "failed", code = e.code.as_str(), detail = %e.detail, "rotation step");
            Err(lambda_runtime::Error::from(format!("{}: {e}", event.step)))
        }
    }
}
