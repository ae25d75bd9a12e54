//! OAuth2 client-credentials tokens for the Conversation API, cached per access key across
//! invocations. Many records needing a token at once share one refresh; a token is renewed
//! ahead of its expiry; the auth endpoint's 429 (a token bucket with no `Retry-After`, per
//! Sinch's SDK) is retried with full-jitter backoff.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Deserialize;

use crate::clock::Clock;
use crate::ports::{HttpRequest, SinchClient, TransportError};
use crate::protocol::SecretString;

/// Renew this long before expiry (the Node SDK uses 60 s).
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// A token still valid this much longer is used when its renewal fails: a send started now
/// ends well before it expires.
pub const STILL_VALID_FOR: Duration = Duration::from_secs(20);
const RATE_LIMIT_RETRIES: u32 = 3;

#[derive(Clone)]
struct Token {
    value: SecretString,
    expires_at: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token endpoint unreachable: {0}")]
    Transport(TransportError),
    #[error("token endpoint answered {0}")]
    Status(u16),
    #[error("token endpoint answer has no access_token")]
    Malformed,
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// A key's cached token, or its last failure and when it happened.
#[derive(Default)]
struct SlotState {
    token: Option<Token>,
    failed: Option<(TokenError, Instant)>,
}

type Slot = Arc<tokio::sync::Mutex<SlotState>>;

pub struct TokenCache {
    url: String,
    clock: Arc<dyn Clock>,
    slots: Mutex<HashMap<String, Slot>>,
    /// Base delay for the 429 backoff; tests shorten it.
    pub backoff_base: Duration,
    /// How long a failed fetch is handed to every caller instead of being repeated.
    failure_hold: Duration,
}

impl TokenCache {
    pub fn new(url: impl Into<String>, clock: Arc<dyn Clock>) -> Self {
        Self {
            url: url.into(),
            clock,
            slots: Mutex::new(HashMap::new()),
            backoff_base: Duration::from_secs(1),
            failure_hold: Duration::ZERO,
        }
    }

    /// A failed fetch is shared with every record waiting on it, and with those that ask
    /// within `hold`: a dead auth endpoint costs one fetch per key, not one per record.
    pub fn with_failure_hold(mut self, hold: Duration) -> Self {
        self.failure_hold = hold;
        self
    }

    fn slot(&self, key_id: &str) -> Slot {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key_id.to_owned())
            .or_default()
            .clone()
    }

    /// A valid bearer token for this key, fetched only when none is cached or it is about to
    /// expire. Returns whether a fetch happened, for metrics.
    pub async fn bearer<H: SinchClient>(
        &self,
        http: &H,
        key_id: &str,
        key_secret: &SecretString,
    ) -> Result<(SecretString, bool), TokenError> {
        let slot = self.slot(key_id);
        let mut guard = slot.lock().await;
        let now = self.clock.now();
        if let Some(token) = guard.token.as_ref().filter(|t| t.expires_at > now + REFRESH_MARGIN) {
            return Ok((token.value.clone(), false));
        }
        // Renewal is due; if it fails (now, or moments ago), a token that has not expired yet
        // still sends: the endpoint's outage costs nothing until the token runs out.
        let still_valid = guard
            .token
            .as_ref()
            .filter(|t| t.expires_at > now + STILL_VALID_FOR)
            .map(|t| t.value.clone());
        if let Some((error, at)) = &guard.failed
            && now.duration_since(*at) < self.failure_hold
        {
            return still_valid.map(|v| (v, false)).ok_or_else(|| error.clone());
        }
        match self.fetch(http, key_id, key_secret).await {
            Ok(token) => {
                let value = token.value.clone();
                guard.token = Some(token);
                guard.failed = None;
                Ok((value, true))
            }
            Err(e) => {
                guard.failed = Some((e.clone(), self.clock.now()));
                match still_valid {
                    Some(value) => {
                        tracing::warn!(error = %e, "token renewal failed; the current token is still valid and used");
                        Ok((value, false))
                    }
                    None => Err(e),
                }
            }
        }
    }

    /// Drops `rejected` if it is still the cached token, so the next caller refreshes; a
    /// token another record already renewed is kept.
    pub async fn invalidate(&self, key_id: &str, rejected: &SecretString) {
        let slot = self.slot(key_id);
        let mut guard = slot.lock().await;
        if guard.token.as_ref().is_some_and(|t| &t.value == rejected) {
            guard.token = None;
        }
    }

    async fn fetch<H: SinchClient>(
        &self,
        http: &H,
        key_id: &str,
        key_secret: &SecretString,
    ) -> Result<Token, TokenError> {
        let mut attempt = 0;
        loop {
            let request = HttpRequest {
                method: crate::ports::HttpMethod::Post,
                url: self.url.clone(),
                authorization: basic_authorization(key_id, key_secret),
                content_type: "application/x-www-form-urlencoded",
                body: b"grant_type=client_credentials".to_vec(),
            };
            let reply = http.send(request).await.map_err(TokenError::Transport)?;
            if reply.status == 429 && attempt < RATE_LIMIT_RETRIES {
                // Full jitter: uniform in [0, base * 4^attempt).
                let cap = self.backoff_base.saturating_mul(4u32.saturating_pow(attempt));
                let millis = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
                tokio::time::sleep(Duration::from_millis(fastrand::u64(0..=millis))).await;
                attempt += 1;
                continue;
            }
            if !(200..300).contains(&reply.status) {
                return Err(TokenError::Status(reply.status));
            }
            let parsed: TokenReply = serde_json::from_slice(&reply.body).map_err(|_| TokenError::Malformed)?;
            if parsed.access_token.is_empty() {
                return Err(TokenError::Malformed);
            }
            // Whatever the endpoint says, a token is trusted for a day at most (an absurd
            // lifetime cannot overflow the clock).
            let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(3600).min(86_400));
            return Ok(Token {
                value: SecretString::new(format!("Bearer {}", parsed.access_token)),
                expires_at: self.clock.now() + lifetime,
            });
        }
    }
}

/// `Basic base64(key_id:key_secret)`: the token request, and Basic-mode API calls.
pub fn basic_authorization(key_id: &str, key_secret: &SecretString) -> SecretString {
    let raw = format!("{key_id}:{}", key_secret.expose());
    SecretString::new(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    ))
}
