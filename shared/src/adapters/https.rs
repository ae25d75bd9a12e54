//! The one HTTPS client of a function: a rustls configuration built once (AWS-LC crypto,
//! post-quantum key exchange preferred, Mozilla's roots compiled in) and one reqwest
//! connection pool, shared by the AWS SDK clients and the Conversation API calls.
//!
//! Compiled-in roots matter for cold starts: loading the system store means reading and
//! base64-decoding every PEM certificate in it, which was four fifths of a function's start-up
//! work, once for the AWS SDK's own client and again for reqwest's.

use std::sync::Arc;
use std::time::Duration;

/// A fresh connection's TCP and TLS handshake budget, well inside every per-call timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Lambda freezes idle environments; connections older than this are not worth reusing.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Builds the shared client. Fails only if the TLS provider rejects its own defaults.
pub fn https_client() -> Result<reqwest::Client, HttpsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpsError(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // A preconfigured TLS backend gets no ALPN from reqwest: offer HTTP/2 (many sends over one
    // connection) and HTTP/1.1 ourselves.
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        // Neither AWS nor Sinch redirects these calls, and the AWS SDK's own client never
        // follows one (a signed request must not be replayed elsewhere): a 3xx is the answer.
        // It also spares every request a second pass over its URL.
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .user_agent(concat!("sinch-bridge/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| HttpsError(e.without_url().to_string()))
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTPS client: {0}")]
pub struct HttpsError(String);
