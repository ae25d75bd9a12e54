//! The AWS SDK's HTTP client, on the function's shared HTTPS client: one TLS configuration
//! and one connection pool for SQS, Secrets Manager and Sinch, instead of a second HTTP and TLS
//! stack (and a second root store load) inside the SDK.
//!
//! AWS request and response bodies here are small and in memory; the SDK's orchestrator keeps
//! owning signing, retries and the attempt and operation timeouts.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;

use super::https::HttpsClient;

/// A bound on what an AWS answer may hold in memory, far above the largest one we can get: the
/// tools' `ReceiveMessage` (10 messages of up to 1 MiB each, with attributes). The functions'
/// own answers (queue writes, secrets of at most 64 KiB) are small.
const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct AwsHttpClient {
    client: HttpsClient,
}

impl AwsHttpClient {
    pub fn new(client: HttpsClient) -> Self {
        Self { client }
    }
}

impl HttpClient for AwsHttpClient {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        // The shared client's connect timeout applies; the SDK bounds each attempt as a whole.
        SharedHttpConnector::new(self.clone())
    }
}

impl HttpConnector for AwsHttpClient {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        HttpConnectorFuture::new(async move { send(&client, request).await })
    }
}

async fn send(client: &HttpsClient, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
    let (parts, body) = request.try_into_http1x().map_err(|e| user(e.to_string()))?.into_parts();
    let body = body
        .bytes()
        .map(Bytes::copy_from_slice)
        .ok_or_else(|| user("streaming request bodies are not supported".to_owned()))?;
    // Connection failures are transient to the SDK's retry strategy, as with its own client.
    let response = client
        .send(http::Request::from_parts(parts, body), MAX_RESPONSE_BYTES)
        .await
        .map_err(|e| ConnectorError::io(Box::new(e)))?;
    HttpResponse::try_from(response.map(SdkBody::from)).map_err(|e| user(e.to_string()))
}

fn user(message: String) -> ConnectorError {
    ConnectorError::user(message.into())
}
