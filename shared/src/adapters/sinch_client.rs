//! [`SinchClient`] over the function's shared HTTPS client (`https.rs`): connections kept alive
//! across invocations, a per-request timeout.

use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};

use super::https::{HttpsClient, HttpsFailure};
use crate::ports::{HttpMethod, HttpReply, HttpRequest, SinchClient, TransportError};

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
    async fn send(&self, request: HttpRequest) -> Result<HttpReply, TransportError> {
        let mut authorization = HeaderValue::from_str(request.authorization.expose())
            .map_err(|_| TransportError::Other("authorization is not a valid header value".into()))?;
        authorization.set_sensitive(true);
        let method = match request.method {
            HttpMethod::Get => http::Method::GET,
            HttpMethod::Post => http::Method::POST,
            HttpMethod::Patch => http::Method::PATCH,
            HttpMethod::Delete => http::Method::DELETE,
        };
        let outgoing = http::Request::builder()
            .method(method)
            .uri(request.url.as_str())
            .header(AUTHORIZATION, authorization)
            .header(CONTENT_TYPE, request.content_type)
            .body(Bytes::from(request.body))
            .map_err(|e| TransportError::Other(format!("cannot build the request: {e}")))?;
        // The status must arrive within the timeout; the body is read until the same deadline.
        // A status that arrived stays the answer even if its body then breaks off: a 2xx
        // whose body is lost was still accepted by Sinch, and sending again would duplicate it.
        let deadline = tokio::time::Instant::now() + self.timeout;
        let answer = tokio::time::timeout_at(
            deadline,
            self.client.exchange(outgoing, MAX_REPLY_BYTES, Some(deadline)),
        )
        .await
        .map_err(|_| TransportError::Timeout)?
        .map_err(|e| match e {
            HttpsFailure::Connect(_) => TransportError::Connect,
            HttpsFailure::Io(detail) => TransportError::Other(detail),
        })?;
        let (response, complete) = (answer.response, answer.complete);
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after_seconds(v, std::time::SystemTime::now()));
        Ok(HttpReply {
            status: response.status().as_u16(),
            retry_after,
            body: response.into_body().into(),
            complete,
        })
    }
}

/// `Retry-After` in whole seconds from `now`: delay-seconds, or an HTTP-date (RFC 9110).
fn retry_after_seconds(value: &str, now: std::time::SystemTime) -> Option<u64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).map_or(0, |d| d.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(retry_after_seconds("120", now), Some(120));
        assert_eq!(retry_after_seconds("Sun, 06 Nov 1994 08:51:37 GMT", now), Some(120));
        assert_eq!(
            retry_after_seconds("Sun, 06 Nov 1994 08:40:00 GMT", now),
            Some(0),
            "a date passed"
        );
        assert_eq!(retry_after_seconds("soon", now), None);
    }
}
