//! The tools' own HTTP client (webhook posts, the mock's callbacks): reqwest, for its
//! convenience, over the bridge's TLS configuration. The functions use hyper directly.

/// A reqwest client that trusts exactly what the functions trust.
pub fn client() -> Result<reqwest::Client, String> {
    let mut tls = sinch_bridge::adapters::tls_config().map_err(|e| e.to_string())?;
    // A preconfigured TLS backend gets no ALPN from reqwest.
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("bridgectl/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.without_url().to_string())
}
