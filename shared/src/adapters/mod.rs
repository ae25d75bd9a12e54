//! The real adapters behind the ports: AWS Secrets Manager, Amazon SQS, the DynamoDB nonce
//! table and (for the sender) the Conversation API over HTTPS. Each is a thin translation of a port call into one SDK or
//! HTTP call; no business rules live here.

mod aws_env;
mod aws_http;
mod dynamodb_nonces;
mod dynamodb_send_state;
mod https;
mod sdk_error;
mod secrets_manager;
mod secrets_manager_admin;
mod sinch_client;
mod sqs_queues;

pub use aws_env::{AwsSettings, sdk_config};
pub use aws_http::AwsHttpClient;
pub use aws_types::SdkConfig;
pub use https::{HttpsClient, HttpsError, HttpsFailure, https_client, tls_config};
pub use sinch_client::HttpsSinchClient;

pub use dynamodb_nonces::{DynamoNonces, Nonces};
pub use dynamodb_send_state::{DynamoSendState, SendStates};
pub use secrets_manager::SecretsManagerStore;
pub use secrets_manager_admin::{SecretsManagerAdmin, random_webhook_secret};
pub use sqs_queues::SqsQueues;
