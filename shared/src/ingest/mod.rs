//! The webhook use case: one Sinch callback in, one stored queue message (or a clear refusal)
//! out. Transport-free: the Lambda handler and the local runner both call [`Ingest::handle`].
//!
//! Order of work, cheapest first: service name, body size, signature headers, classification,
//! secret lookup (cached), MAC (constant time, once per distinct candidate secret), replay,
//! enqueue. A nonce is remembered only
//! after the queue accepted the event, so a request refused with 5xx succeeds when Sinch retries
//! it with the very same headers.

mod config;
mod error;
mod nonce;
pub mod stored_event;

pub use config::{ConfigError, DEFAULT_MAX_BODY_BYTES, IngestConfig};
pub use error::IngestError;
pub use nonce::NonceCache;
pub use stored_event::build_message;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use crate::clock::Clock;
use crate::metrics::{Metric, Metrics};
use crate::ports::{QUEUE_REJECTED, QueueWriter, SecretStore};
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

pub struct Ingest<S, Q> {
    service_cache: Arc<ServiceCache<S>>,
    sink: Q,
    clock: Arc<dyn Clock>,
    config: IngestConfig,
    nonces: Mutex<NonceCache>,
    metrics: Metrics,
}

impl<S: SecretStore, Q: QueueWriter> Ingest<S, Q> {
    pub fn new(
        service_cache: Arc<ServiceCache<S>>,
        sink: Q,
        clock: Arc<dyn Clock>,
        config: IngestConfig,
        metrics: Metrics,
    ) -> Self {
        let nonces = Mutex::new(NonceCache::new(config.nonce_capacity));
        Self {
            service_cache,
            sink,
            clock,
            config,
            nonces,
            metrics,
        }
    }

    pub fn config(&self) -> &IngestConfig {
        &self.config
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Nonces remembered for replay protection (bounded by `NONCE_CACHE_CAPACITY`).
    pub fn remembered_nonces(&self) -> usize {
        self.nonces.lock().unwrap_or_else(PoisonError::into_inner).len()
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

        if self
            .nonces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .seen(headers.nonce, now)
        {
            return Err(IngestError::Replay);
        }
        let stored = self.store(service, request.body, &callback).await?;
        let timestamp = crate::protocol::signature::parse_timestamp(headers.timestamp).unwrap_or(now);
        let horizon = if window == 0 {
            now.saturating_add(600)
        } else {
            timestamp.saturating_add(i64::try_from(window).unwrap_or(i64::MAX))
        };
        self.nonces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remember(headers.nonce, horizon, now);
        Ok(stored)
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
