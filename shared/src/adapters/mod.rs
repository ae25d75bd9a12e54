//! The real adapters behind the ports: AWS Secrets Manager, Amazon SQS and (for the sender)
//! the Conversation API over HTTPS. Each is a thin translation of a port call into one SDK or
//! HTTP call; no business rules live here.

mod http;
mod secrets_manager;
mod sqs;

pub use http::ReqwestHttp;

pub use secrets_manager::SecretsManagerStore;
pub use sqs::SqsSink;

use std::time::Duration;

/// Shared AWS configuration: default credential chain and region, `AWS_ENDPOINT_URL` honoured
/// (emulators), and timeouts that keep a slow AWS call well inside API Gateway's 30 s and the
/// function's own timeout.
pub async fn aws_config(operation_timeout: Duration) -> aws_config::SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(operation_timeout / 2)
        .operation_timeout(operation_timeout)
        .build();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts)
        .load()
        .await
}
