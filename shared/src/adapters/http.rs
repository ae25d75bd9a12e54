//! [`HttpPost`] over the function's shared HTTPS client (`https.rs`): connections kept alive
//! across invocations, a per-request timeout.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};

use crate::ports::{HttpPost, HttpReply, HttpRequest, TransportError};

/// Sinch's answers are small; anything larger is cut so a misbehaving peer cannot exhaust memory.
const MAX_REPLY_BYTES: usize = 64 * 1024;

#[derive(Clone)]
pub struct ReqwestHttp {
    client: reqwest::Client,
    timeout: Duration,
}

impl ReqwestHttp {
    /// `timeout` bounds each request from connect to the last byte of the answer.
    pub fn new(client: reqwest::Client, timeout: Duration) -> Self {
        Self { client, timeout }
    }
}

impl HttpPost for ReqwestHttp {
    async fn post(&self, request: HttpRequest) -> Result<HttpReply, TransportError> {
        let mut authorization = HeaderValue::from_str(request.authorization.expose())
            .map_err(|_| TransportError::Other("authorization is not a valid header value".into()))?;
        authorization.set_sensitive(true);
        let response = self
            .client
            .post(&request.url)
            .timeout(self.timeout)
            .header(AUTHORIZATION, authorization)
            .header(CONTENT_TYPE, request.content_type)
            .body(request.body)
            .send()
            .await
            .map_err(map_error)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let mut body = Vec::new();
        let mut response = response;
        while let Some(chunk) = response.chunk().await.map_err(map_error)? {
            let room = MAX_REPLY_BYTES.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if room <= chunk.len() {
                break;
            }
        }
        Ok(HttpReply {
            status,
            retry_after,
            body,
        })
    }
}

fn map_error(e: reqwest::Error) -> TransportError {
    if e.is_timeout() {
        TransportError::Timeout
    } else if e.is_connect() {
        TransportError::Connect
    } else {
        // reqwest's messages hold the URL at most (no query secrets here), never headers.
        TransportError::Other(e.without_url().to_string())
    }
}
