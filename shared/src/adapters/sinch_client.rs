//! [`SinchClient`] over the function's shared HTTPS client (`https.rs`): connections kept alive
//! across invocations, a per-request timeout.

use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};

use super::https::{HttpsClient, HttpsFailure};
use crate::ports::{HttpReply, HttpRequest, SinchClient, TransportError};

/// Sinch's answers are small; anything larger is cut so a misbehaving peer cannot exhaust memory.
const MAX_REPLY_BYTES: usize = 64 * 1024;

#[derive(Clone)]
pub struct HttpsSinchClient {
    client: HttpsClient,
    timeout: Duration,
}

impl HttpsSinchClient {
    /// `timeout` bounds each request from connect to the last byte of the answer.
    pub fn new(client: HttpsClient, timeout: Duration) -> Self {
        Self { client, timeout }
    }
}

impl SinchClient for HttpsSinchClient {
    async fn post(&self, request: HttpRequest) -> Result<HttpReply, TransportError> {
        let mut authorization = HeaderValue::from_str(request.authorization.expose())
            .map_err(|_| TransportError::Other("authorization is not a valid header value".into()))?;
        authorization.set_sensitive(true);
        let outgoing = http::Request::post(request.url.as_str())
            .header(AUTHORIZATION, authorization)
            .header(CONTENT_TYPE, request.content_type)
            .body(Bytes::from(request.body))
            .map_err(|e| TransportError::Other(format!("cannot build the request: {e}")))?;
        let response = tokio::time::timeout(self.timeout, self.client.send(outgoing, MAX_REPLY_BYTES))
            .await
            .map_err(|_| TransportError::Timeout)?
            .map_err(|e| match e {
                HttpsFailure::Connect(_) => TransportError::Connect,
                HttpsFailure::Io(detail) => TransportError::Other(detail),
            })?;
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        Ok(HttpReply {
            status: response.status().as_u16(),
            retry_after,
            body: response.into_body().into(),
        })
    }
}
