//! The webhook use case: one Sinch callback in, one stored queue message (or a clear refusal)
//! out. Transport-free: the Lambda handler and the local runner both call [`Ingest::handle`].
//!
//! Order of work, cheapest first: service name, body size, signature headers, classification,
//! secret lookup (cached), MAC (constant time, once per distinct candidate secret), nonce claim,
//! enqueue, nonce confirmed. A nonce counts as used only once the queue accepted its event: a
//! request refused with 5xx succeeds when Sinch retries it with the very same headers, and the
//! claim taken before the enqueue lapses on its own if the environment dies in between
//! (ARCHITECTURE.md, "Replay protection"; README, Security, "Replay").

mod config;
mod error;
mod nonce;
pub mod stored_event;

pub use config::{
    ConfigError, DEFAULT_CLAIM_LEASE_SECONDS, DEFAULT_MAX_BODY_BYTES, DEFAULT_NONCE_TIMEOUT,
    DEFAULT_TABLE_TOLERANCE_SECONDS, DEFAULT_TOLERANCE_SECONDS, IngestConfig,
};
pub use error::IngestError;
pub use nonce::{InstanceNonces, nonce_key};
pub use stored_event::build_message;

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::clock::Clock;
use crate::metrics::{Metric, Metrics};
use crate::ports::{ClaimOutcome, NonceClaim, NonceStore, QUEUE_REJECTED, QueueWriter, SecretStore};
use crate::protocol::callback::{Callback, hex_sha256};
use crate::protocol::service::is_valid_service_name;
use crate::protocol::signature::{Rejection, SIGNATURE_HEADER, SignatureHeaders, WebhookSecret};
use crate::protocol::{classify, verify};
use crate::service_cache::{ServiceCache, ServiceCacheError};

/// One webhook request as the handler received it; `body` is already base64-decoded.
pub struct WebhookRequest<'a> {
    pub service: &'a str,
    pub headers: &'a [(&'a str, &'a [u8])],
    pub body: &'a [u8],
}

/// What was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub trigger: &'static str,
    pub app_id: String,
    pub queue_url: String,
}

/// The webhook use case over its ports: secrets `S`, queue `Q` and nonce store `N` (by default
/// the per-environment one; [`Ingest::with_nonce_store`] puts a shared one in).
pub struct Ingest<S, Q, N = InstanceNonces> {
    service_cache: Arc<ServiceCache<S>>,
    sink: Q,
    clock: Arc<dyn Clock>,
    config: IngestConfig,
    nonces: N,
    metrics: Metrics,
}

impl<S: SecretStore, Q: QueueWriter> Ingest<S, Q, InstanceNonces> {
    pub fn new(
        service_cache: Arc<ServiceCache<S>>,
        sink: Q,
        clock: Arc<dyn Clock>,
        config: IngestConfig,
        metrics: Metrics,
    ) -> Self {
        let nonces = InstanceNonces::new(config.nonce_capacity);
        Self {
            service_cache,
            sink,
            clock,
            config,
            nonces,
            metrics,
        }
    }
}

impl<S: SecretStore, Q: QueueWriter, N: NonceStore> Ingest<S, Q, N> {
    /// The same use case with another nonce store (the shared table).
    pub fn with_nonce_store<M: NonceStore>(self, nonces: M) -> Ingest<S, Q, M> {
        Ingest {
            service_cache: self.service_cache,
            sink: self.sink,
            clock: self.clock,
            config: self.config,
            nonces,
            metrics: self.metrics,
        }
    }

    pub fn nonce_store(&self) -> &N {
        &self.nonces
    }

    pub fn config(&self) -> &IngestConfig {
        &self.config
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Handles one webhook, logs the outcome and records its metrics.
    pub async fn handle(&self, request: &WebhookRequest<'_>) -> Result<Stored, IngestError> {
        let result = self.process(request).await;
        match &result {
            Ok(stored) => {
                tracing::info!(service = request.service, app_id = %stored.app_id, trigger = stored.trigger, outcome = "stored", "webhook stored");
                self.metrics
                    .count(Metric::WebhookAccepted, &[("Trigger", stored.trigger)]);
            }
            Err(e) => {
                // The service name is only logged once it is known to be well-formed.
                let service = if matches!(e, IngestError::InvalidServiceName) {
                    "-"
                } else {
                    request.service
                };
                if e.status() >= 500 {
                    tracing::error!(
                        service,
                        outcome = "failed",
                        reason = e.reason(),
                        status = e.status(),
                        "webhook not stored"
                    );
                } else {
                    tracing::warn!(
                        service,
                        outcome = "rejected",
                        reason = e.reason(),
                        status = e.status(),
                        "webhook rejected"
                    );
                }
                self.metrics.count(Metric::WebhookRejected, &[("Reason", e.reason())]);
            }
        }
        result
    }

    /// Records an error the handler found before the use case (such as invalid base64).
    pub fn record_rejection(&self, error: &IngestError) {
        tracing::warn!(
            outcome = "rejected",
            reason = error.reason(),
            status = error.status(),
            "webhook rejected"
        );
        self.metrics
            .count(Metric::WebhookRejected, &[("Reason", error.reason())]);
    }

    async fn process(&self, request: &WebhookRequest<'_>) -> Result<Stored, IngestError> {
        let service = request.service;
        if !is_valid_service_name(service) {
            return Err(IngestError::InvalidServiceName);
        }
        if request.body.len() > self.config.max_body_bytes {
            return Err(IngestError::BodyTooLarge);
        }
        let headers = request.headers.iter().copied();
        let unsigned = SignatureHeaders::absent(headers.clone());
        let signature = if unsigned {
            None
        } else {
            Some(SignatureHeaders::extract(headers).map_err(IngestError::Signature)?)
        };
        // What the body says, read before any lookup or hashing. Invalid UTF-8 is read as
        // replacement characters: the event is still Sinch's and is stored as it came.
        let classified = classify(String::from_utf8_lossy(request.body).as_bytes());
        if signature.is_some()
            && let Err(e) = &classified
        {
            // Sinch signs callbacks only: this one cannot verify, so no HMAC is spent on it.
            return Err(IngestError::NotACallback(e.clone()));
        }
        let now = self.clock.unix_seconds();
        let window = self.config.tolerance_seconds;

        let allowed = self
            .config
            .allowed_services
            .as_ref()
            .is_none_or(|list| list.iter().any(|s| s == service));
        let versions = if allowed {
            match self.service_cache.get(service).await {
                Ok(v) => Some(v),
                Err(ServiceCacheError::NotFound) => None,
                Err(e) => return Err(cache_error(e)),
            }
        } else {
            None
        };
        let Some(versions) = versions else {
            // Answer exactly as a configured service without a matching secret would.
            let headers = signature.ok_or(IngestError::Signature(Rejection::MissingHeader(SIGNATURE_HEADER)))?;
            return match verify(&headers, request.body, std::iter::empty(), now, window) {
                Err(Rejection::NoSecret) | Ok(_) => Err(IngestError::UnknownService),
                Err(rejection) => Err(IngestError::Signature(rejection)),
            };
        };

        let Some(headers) = signature else {
            if !versions.current.allow_unsigned_webhooks {
                return Err(IngestError::Signature(Rejection::MissingHeader(SIGNATURE_HEADER)));
            }
            let callback = classified.map_err(IngestError::InvalidCallback)?;
            return self.store(service, request.body, &callback).await;
        };
        let callback = classified.map_err(IngestError::NotACallback)?;

        // Each distinct candidate secret is hashed at most once per request: after a refresh,
        // only the secrets it brought that were not tried already.
        let tried = versions.webhook_secrets(&callback.app_id, now);
        let mut verdict = verify(&headers, request.body, tried.iter().copied(), now, window);
        if matches!(verdict, Err(Rejection::Mismatch | Rejection::NoSecret)) {
            let refreshed = self
                .service_cache
                .refresh_after_mismatch(service)
                .await
                .map_err(cache_error)?;
            if refreshed.fetched {
                self.metrics
                    .count(Metric::SecretRefresh, &[("Cause", "signature_mismatch")]);
            }
            let fresh = untried(refreshed.versions.webhook_secrets(&callback.app_id, now), &tried);
            if !fresh.is_empty() {
                verdict = verify(&headers, request.body, fresh, now, window);
            }
        }
        verdict.map_err(IngestError::Signature)?;

        let key = nonce_key(headers.nonce);
        let lease_until = now.saturating_add(i64::try_from(self.config.claim_lease_seconds).unwrap_or(i64::MAX));
        let claim = match self.nonces.claim(&key, now, lease_until).await {
            Ok(ClaimOutcome::Claimed(claim)) => claim,
            Ok(ClaimOutcome::Used) => return Err(IngestError::Replay),
            Ok(ClaimOutcome::InFlight) => return Err(IngestError::NonceInFlight),
            Err(e) => {
                self.nonce_store_failed("claim", service, &e);
                return Err(IngestError::ReplayCheckUnavailable);
            }
        };
        let stored = match self.store(service, request.body, &callback).await {
            Ok(stored) => stored,
            Err(e) => {
                // Not stored: free the nonce so Sinch's retry need not wait for the lease.
                if let Err(failure) = self.nonces.release(&key, &claim).await {
                    self.nonce_store_failed("release", service, &failure);
                }
                return Err(e);
            }
        };
        let timestamp = crate::protocol::signature::parse_timestamp(headers.timestamp).unwrap_or(now);
        // A shared table keeps nonces for at least the table's default window: an instance
        // deployed later with a wider window must still find what a narrower one stored.
        let kept = if self.config.nonce_table.is_some() {
            window.max(DEFAULT_TABLE_TOLERANCE_SECONDS)
        } else {
            window
        };
        let horizon = if window == 0 {
            now.saturating_add(600)
        } else {
            timestamp.saturating_add(i64::try_from(kept).unwrap_or(i64::MAX))
        };
        self.confirm(&key, &claim, horizon, service).await;
        Ok(stored)
    }

    /// Marks the nonce used, once (the SDK retries the call itself, within `NONCE_TIMEOUT_MS`).
    /// The event is stored whatever happens here, so a failure is not the caller's: it is logged
    /// and counted, and the nonce stays claimed until the lease ends.
    async fn confirm(&self, key: &str, claim: &NonceClaim, horizon: i64, service: &str) {
        if let Err(e) = self.nonces.confirm(key, claim, horizon).await {
            self.nonce_store_failed("confirm", service, &e);
        }
    }

    fn nonce_store_failed(&self, step: &'static str, service: &str, error: &crate::ports::PortError) {
        tracing::error!(service, step, error = %error, "nonce store call failed");
        // One dimension set (Function only), so the template's alarm sees every step.
        self.metrics.count(Metric::NonceStoreFailed, &[]);
    }

    async fn store(&self, service: &str, body: &[u8], callback: &Callback) -> Result<Stored, IngestError> {
        let queue_url = self.config.queue_for(callback.trigger.as_str()).to_owned();
        let message = build_message(&queue_url, service, body, callback, SystemTime::now());
        if message.body.len() > self.config.max_body_bytes {
            // Only a body stored as base64 grows past the limit it was checked against.
            let digest = hex_sha256(body);
            tracing::error!(service, size = body.len(), sha256 = %digest, "base64 body would exceed the queue's limit");
            return Err(IngestError::BodyTooLarge);
        }
        let started = Instant::now();
        self.sink.put(&message).await.map_err(|e| {
            if e.code == QUEUE_REJECTED {
                tracing::error!(service, error = %e, "the queue refused the message");
                IngestError::QueueRejected
            } else {
                tracing::error!(service, error = %e, "enqueue failed");
                IngestError::QueueUnavailable
            }
        })?;
        self.metrics
            .milliseconds(Metric::EnqueueLatency, started.elapsed().as_secs_f64() * 1000.0, &[]);
        Ok(Stored {
            trigger: callback.trigger.as_str(),
            app_id: callback.app_id.clone(),
            queue_url,
        })
    }
}

/// The candidates a refresh brought that were not tried already: a refresh that found nothing
/// new costs no second HMAC pass.
fn untried<'a>(candidates: Vec<&'a WebhookSecret>, tried: &[&WebhookSecret]) -> Vec<&'a WebhookSecret> {
    candidates.into_iter().filter(|s| !tried.contains(s)).collect()
}

fn cache_error(e: ServiceCacheError) -> IngestError {
    match e {
        ServiceCacheError::NotFound => IngestError::UnknownService,
        ServiceCacheError::Unavailable(_) => IngestError::SecretsUnavailable,
        ServiceCacheError::Invalid(_) => IngestError::ServiceMisconfigured,
    }
}

#[cfg(test)]
mod tests;
