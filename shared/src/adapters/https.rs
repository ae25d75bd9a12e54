//! The one HTTPS client of a function: a rustls configuration built once (AWS-LC crypto,
//! post-quantum key exchange preferred, Mozilla's roots compiled in) and one hyper connection
//! pool, shared by the AWS SDK clients and the Conversation API calls.
//!
//! Compiled-in roots matter for cold starts: loading the system store means reading and
//! base64-decoding every PEM certificate in it, which was four fifths of a function's start-up
//! work, once for the AWS SDK's own client and again for the Sinch client's.
//!
//! hyper's pooled client rather than reqwest: every request here is a POST of an in-memory body
//! to a URL we built, so reqwest's layers (URL re-parsing with IDNA, a redirect policy that
//! re-parses it again, a retry wrapper) were most of the per-send CPU: 82,000 instructions per
//! request against 36,000 through this client in the sender benchmark (BENCHMARKS.md, section 4).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, USER_AGENT};
use http_body_util::{BodyExt as _, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// A fresh connection's TCP and TLS handshake budget, well inside every per-call timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Lambda freezes idle environments; connections older than this are not worth reusing.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
const USER_AGENT_VALUE: &str = concat!("sinch-bridge/", env!("CARGO_PKG_VERSION"));

/// A cheap-to-clone handle on the shared pool. It never follows a redirect: neither AWS nor
/// Sinch redirects these calls, and a signed request must not be replayed elsewhere, so a 3xx
/// is the answer.
#[derive(Clone, Debug)]
pub struct HttpsClient {
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// The TLS client configuration every connection uses (the tools' clients too): AWS-LC,
/// post-quantum key exchange preferred, the compiled-in roots, no ALPN yet.
pub fn tls_config() -> Result<rustls::ClientConfig, HttpsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpsError(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Builds the shared client. Fails only if the TLS provider rejects its own defaults.
pub fn https_client() -> Result<HttpsClient, HttpsError> {
    let tls = tls_config()?;
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
    // Plain http only reaches loopback mocks (local loop, tests); AWS and Sinch are https.
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(tcp);
    let inner = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(connector);
    Ok(HttpsClient { inner })
}

impl HttpsClient {
    /// Sends one request and reads its answer; a body longer than `max_body` bytes is cut
    /// there (the rest is discarded with the connection). An answer whose body breaks off is a
    /// failure here; [`HttpsClient::exchange`] keeps it.
    pub async fn send(
        &self,
        request: http::Request<Bytes>,
        max_body: usize,
    ) -> Result<http::Response<Bytes>, HttpsFailure> {
        let answer = self.exchange(request, max_body, None).await?;
        if !answer.complete {
            return Err(HttpsFailure::Io("the answer's body broke off".into()));
        }
        Ok(answer.response)
    }

    /// Sends one request; its status and headers must arrive, and its body is read until it
    /// ends, breaks off, or `body_deadline` passes, whichever is first. What a status said
    /// stays said: a body that breaks off gives an answer with `complete: false`.
    pub async fn exchange(
        &self,
        request: http::Request<Bytes>,
        max_body: usize,
        body_deadline: Option<tokio::time::Instant>,
    ) -> Result<Answer, HttpsFailure> {
        let (mut parts, body) = request.into_parts();
        if !parts.headers.contains_key(USER_AGENT) {
            parts
                .headers
                .insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        }
        let response = self
            .inner
            .request(http::Request::from_parts(parts, Full::new(body)))
            .await
            .map_err(|e| {
                if e.is_connect() {
                    HttpsFailure::Connect(chain(&e))
                } else {
                    HttpsFailure::Io(chain(&e))
                }
            })?;
        let (parts, mut incoming) = response.into_parts();
        let mut body = Vec::new();
        let read = async {
            while let Some(frame) = incoming.frame().await {
                let Ok(frame) = frame else {
                    return false;
                };
                if let Ok(data) = frame.into_data() {
                    let room = max_body.saturating_sub(body.len());
                    body.extend_from_slice(&data[..data.len().min(room)]);
                    if room <= data.len() {
                        return true;
                    }
                }
            }
            true
        };
        let complete = match body_deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, read).await.unwrap_or(false),
            None => read.await,
        };
        Ok(Answer {
            response: http::Response::from_parts(parts, Bytes::from(body)),
            complete,
        })
    }
}

/// An answer: its status, headers and as much of its body as arrived.
#[derive(Debug)]
pub struct Answer {
    pub response: http::Response<Bytes>,
    /// False when the body broke off or did not finish in time.
    pub complete: bool,
}

/// No answer: the connection could not be made, or broke before the answer was read.
/// Messages carry the error chain (addresses, OS errors), never headers or bodies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpsFailure {
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("connection broken: {0}")]
    Io(String),
}

fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTPS client: {0}")]
pub struct HttpsError(String);
