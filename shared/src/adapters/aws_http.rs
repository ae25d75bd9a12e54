//! The AWS SDK's HTTP client, on the function's shared reqwest client: one TLS configuration
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
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

#[derive(Debug, Clone)]
pub struct AwsHttpClient {
    client: reqwest::Client,
}

impl AwsHttpClient {
    pub fn new(client: reqwest::Client) -> Self {
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

async fn send(client: &reqwest::Client, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
    let method = reqwest::Method::from_bytes(request.method().as_bytes()).map_err(|e| user(e.to_string()))?;
    let body = request
        .body()
        .bytes()
        .ok_or_else(|| user("streaming request bodies are not supported".to_owned()))?
        .to_vec();
    let mut outgoing = client.request(method, request.uri()).body(body);
    for (name, value) in request.headers().iter() {
        outgoing = outgoing.header(name, value);
    }
    let response = outgoing.send().await.map_err(connector_error)?;
    let status = StatusCode::try_from(response.status().as_u16()).map_err(|e| user(e.to_string()))?;
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .collect();
    let body = response.bytes().await.map_err(connector_error)?;
    let mut answer = HttpResponse::new(status, SdkBody::from(body));
    for (name, value) in headers {
        answer.headers_mut().append(name, value);
    }
    Ok(answer)
}

/// Timeouts and connection failures are transient to the SDK's retry strategy, as with its
/// own client; anything else is reported as is.
fn connector_error(e: reqwest::Error) -> ConnectorError {
    let timeout = e.is_timeout();
    let io = e.is_connect() || e.is_request() || e.is_body();
    let source = Box::new(e.without_url());
    if timeout {
        ConnectorError::timeout(source)
    } else if io {
        ConnectorError::io(source)
    } else {
        ConnectorError::other(source, None)
    }
}

fn user(message: String) -> ConnectorError {
    ConnectorError::user(message.into())
}
