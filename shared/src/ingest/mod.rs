//! The webhook use case: one Sinch callback in, one stored queue message (or a clear refusal)
//! out. Transport-free: the Lambda handler (and the tests) call [`Ingest::handle`].
//!
//! Order of work, cheapest first: service name, body size, signature headers, classification,
//! secret lookup (cached), MAC (constant time, once per distinct candidate secret), nonce claim,
//! enqueue, nonce confirmed (in Lambda: after the answer, before the next request). A nonce
//! counts as used only once the queue accepted its event: a request refused with 5xx succeeds
//! when Sinch retries it with the very same headers, and the claim taken before the enqueue
//! lapses on its own if the environment dies in between (ARCHITECTURE.md, "Replay protection").

pub mod config;
mod error;
mod nonce;
mod replay;
mod sightings;
pub mod stored_event;

pub use config::{
    DEFAULT_CLAIM_LEASE_SECONDS, DEFAULT_NONCE_TIMEOUT, DEFAULT_TABLE_TOLERANCE_SECONDS, IngestConfig,
    MAX_TOLERANCE_SECONDS,
};
pub use error::IngestError;
pub use nonce::{InstanceNonces, nonce_key};
pub use stored_event::build_message;

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use crate::clock::Clock;
use crate::metrics::{Metric, Metrics};
use crate::ports::{NonceStore, QUEUE_REJECTED, QueueWriter, SecretStore};
use crate::protocol::callback::{Callback, CallbackError, hex_sha256};
use crate::protocol::service::is_valid_service_name;
use crate::protocol::signature::{Rejection, SIGNATURE_HEADER, SignatureHeaders};
use crate::protocol::{classify, verify};
use crate::service_cache::{Candidate, SecretKind, ServiceCache, ServiceCacheError, ServiceVersions};

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
    /// Which secret verified it (`current`, `app`, `retired`, `pending`), `unsigned` when the
    /// service accepts unsigned callbacks and this one was.
    pub secret: &'static str,
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
    sightings: sightings::SightingTally,
    /// `Some` when the edge answers before the follow-ups run ([`Ingest::defer_follow_ups`]).
    follow_ups: Option<Mutex<Vec<replay::FollowUp>>>,
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
            sightings: sightings::SightingTally::default(),
            follow_ups: None,
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
            sightings: self.sightings,
            follow_ups: self.follow_ups,
        }
    }

    /// Leaves the nonce confirmation and the sighting of each stored event for
    /// [`Ingest::run_follow_ups`], so the answer goes out after one table call (the claim)
    /// instead of two. Only for an edge that runs them before it takes the next request (the
    /// Lambda function does, after handing the answer to the Runtime API).
    pub fn defer_follow_ups(mut self) -> Self {
        self.follow_ups = Some(Mutex::new(Vec::new()));
        self
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
                tracing::info!(service = request.service, app_id = %stored.app_id, trigger = stored.trigger, secret = stored.secret, outcome = "stored", "webhook stored");
                self.metrics.count_by(
                    Metric::WebhookAccepted,
                    &[
                        ("Service", request.service),
                        ("Secret", stored.secret),
                        ("Trigger", stored.trigger),
                    ],
                    &[&[], &["Service"], &["Service", "Secret"], &["Trigger"]],
                );
            }
            Err(e) => self.record_rejection(Some(request.service), e),
        }
        result
    }

    /// Logs and counts a webhook that was not stored, whether the use case or the handler
    /// (invalid base64, a repeated header) refused it. The service is named in logs once its
    /// name is well-formed, and in metrics only when it is one of the configured services:
    /// a caller cannot mint metrics (each a monthly cost) by inventing service names.
    pub fn record_rejection(&self, service: Option<&str>, error: &IngestError) {
        let service = service.filter(|s| !matches!(error, IngestError::InvalidServiceName) && is_valid_service_name(s));
        let reason = error.reason();
        let status = error.status();
        let logged = service.unwrap_or("-");
        if status >= 500 {
            tracing::error!(
                service = logged,
                outcome = "failed",
                reason,
                status,
                "webhook not stored"
            );
        } else {
            tracing::warn!(
                service = logged,
                outcome = "rejected",
                reason,
                status,
                "webhook rejected"
            );
        }
        match service.filter(|s| self.is_configured(s)) {
            Some(service) => self.metrics.count_by(
                Metric::WebhookRejected,
                &[("Reason", reason), ("Service", service)],
                &[&[], &["Reason"], &["Reason", "Service"]],
            ),
            None => self
                .metrics
                .count_by(Metric::WebhookRejected, &[("Reason", reason)], &[&[], &["Reason"]]),
        }
    }

    /// Whether `service` is in `SERVICES` (unset: none is, for metrics).
    fn is_configured(&self, service: &str) -> bool {
        self.config
            .allowed_services
            .as_ref()
            .is_some_and(|list| list.iter().any(|s| s == service))
    }

    async fn process(&self, request: &WebhookRequest<'_>) -> Result<Stored, IngestError> {
        let service = request.service;
        let (signature, classified) = self.precheck(request)?;
        let now = self.clock.unix_seconds();
        let Some(versions) = self.versions(service).await? else {
            return Err(self.unknown_service(signature.as_ref(), request.body, now));
        };
        let Some(headers) = signature else {
            if !versions.current.allow_unsigned_webhooks {
                return Err(IngestError::Signature(Rejection::MissingHeader(SIGNATURE_HEADER)));
            }
            let callback = classified.map_err(IngestError::InvalidCallback)?;
            return self.store(service, request.body, &callback, "unsigned").await;
        };
        let callback = classified.map_err(IngestError::NotACallback)?;
        let (kind, fingerprint) = self
            .verify_signed(service, &headers, request.body, &versions, &callback.app_id, now)
            .await?;
        let stored = self
            .store_once(service, &headers, request.body, &callback, now, kind.as_str())
            .await?;
        self.after_answer(replay::FollowUp::Sighting {
            service: service.to_owned(),
            fingerprint,
            now,
        })
        .await;
        Ok(stored)
    }

    /// The checks that cost nothing, before any lookup or hashing: the service name, the body's
    /// size, the signature headers, and what the body says (a signed body that is not a
    /// callback is refused here: Sinch signs callbacks only, so no HMAC is spent on it).
    #[allow(clippy::type_complexity)]
    fn precheck<'r>(
        &self,
        request: &WebhookRequest<'r>,
    ) -> Result<(Option<SignatureHeaders<'r>>, Result<Callback, CallbackError>), IngestError> {
        if !is_valid_service_name(request.service) {
            return Err(IngestError::InvalidServiceName);
        }
        if request.body.len() > self.config.max_body_bytes {
            return Err(IngestError::BodyTooLarge);
        }
        let headers = request.headers.iter().copied();
        let signature = if SignatureHeaders::absent(headers.clone()) {
            None
        } else {
            Some(SignatureHeaders::extract(headers).map_err(IngestError::Signature)?)
        };
        // Invalid UTF-8 is read as replacement characters: the event is still Sinch's and is
        // stored as it came.
        let classified = classify(String::from_utf8_lossy(request.body).as_bytes());
        if signature.is_some()
            && let Err(e) = &classified
        {
            return Err(IngestError::NotACallback(e.clone()));
        }
        Ok((signature, classified))
    }

    /// The service's secret versions; `None` for a service that is not allowed or has no secret.
    async fn versions(&self, service: &str) -> Result<Option<ServiceVersions>, IngestError> {
        let allowed = self
            .config
            .allowed_services
            .as_ref()
            .is_none_or(|list| list.iter().any(|s| s == service));
        if !allowed {
            return Ok(None);
        }
        match self.service_cache.get(service).await {
            Ok(v) => Ok(Some(v)),
            // Listed by name, so expected to exist: its secret was deleted or is being
            // recreated, and Sinch's retry will succeed once it is back. Only listed names
            // answer this, so nothing else can be learnt about which services exist.
            Err(ServiceCacheError::NotFound) if self.is_configured(service) => Err(IngestError::ServiceSecretMissing),
            Err(ServiceCacheError::NotFound) => Ok(None),
            Err(e) => Err(cache_error(e)),
        }
    }

    /// What an unknown service answers: exactly what a configured service without a matching
    /// secret would, so services cannot be enumerated.
    fn unknown_service(&self, signature: Option<&SignatureHeaders<'_>>, body: &[u8], now: i64) -> IngestError {
        let Some(headers) = signature else {
            return IngestError::Signature(Rejection::MissingHeader(SIGNATURE_HEADER));
        };
        match verify(headers, body, std::iter::empty(), now, self.config.tolerance_seconds) {
            Err(Rejection::NoSecret) | Ok(_) => IngestError::UnknownService,
            Err(rejection) => IngestError::Signature(rejection),
        }
    }

    /// Verifies the signature against the cached secrets, then, on a mismatch, once against
    /// what a rate-limited refresh brought; says which secret matched. Each distinct candidate
    /// secret is hashed at most once per request.
    async fn verify_signed(
        &self,
        service: &str,
        headers: &SignatureHeaders<'_>,
        body: &[u8],
        versions: &ServiceVersions,
        app_id: &str,
        now: i64,
    ) -> Result<(SecretKind, String), IngestError> {
        let matched = |c: &Candidate<'_>| (c.kind, c.secret.fingerprint().to_owned());
        let window = self.config.tolerance_seconds;
        let tried = versions.webhook_secrets(app_id, now);
        let first = verify(headers, body, tried.iter().map(|c| c.secret), now, window);
        let missed = match first {
            Ok(i) => {
                return tried
                    .get(i)
                    .map(matched)
                    .ok_or(IngestError::Signature(Rejection::NoSecret));
            }
            Err(missed @ (Rejection::Mismatch | Rejection::NoSecret)) => missed,
            Err(rejection) => return Err(IngestError::Signature(rejection)),
        };
        let refreshed = self
            .service_cache
            .refresh_after_mismatch(service)
            .await
            .map_err(cache_error)?;
        if refreshed.fetched {
            self.metrics
                .count(Metric::SecretRefresh, &[("Cause", "signature_mismatch")]);
        }
        let fresh: Vec<Candidate<'_>> = refreshed
            .versions
            .webhook_secrets(app_id, now)
            .into_iter()
            .filter(|c| !tried.iter().any(|t| t.secret == c.secret))
            .collect();
        if fresh.is_empty() {
            return Err(IngestError::Signature(missed));
        }
        match verify(headers, body, fresh.iter().map(|c| c.secret), now, window) {
            Ok(i) => fresh.get(i).map(matched).ok_or(IngestError::Signature(missed)),
            Err(rejection) => Err(IngestError::Signature(rejection)),
        }
    }

    async fn store(
        &self,
        service: &str,
        body: &[u8],
        callback: &Callback,
        secret: &'static str,
    ) -> Result<Stored, IngestError> {
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
            secret,
        })
    }
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
