//! Replay protection around storing: a nonce is claimed before its event is stored, confirmed
//! as used after (until the widest window the code accepts, with the table), or released when
//! the store failed so Sinch's retry need not wait; and which secret verified a stored callback
//! is recorded for the rotation and the doctor. ARCHITECTURE.md, "Replay protection".

use std::sync::PoisonError;

use super::{Ingest, IngestError, MAX_TOLERANCE_SECONDS, Stored, nonce_key};
use crate::metrics::Metric;
use crate::ports::{ClaimOutcome, Confirmed, NonceClaim, NonceStore, QueueWriter, SecretStore};
use crate::protocol::callback::Callback;
use crate::protocol::signature::SignatureHeaders;

impl<S: SecretStore, Q: QueueWriter, N: NonceStore> Ingest<S, Q, N> {
    /// Stores a verified event at most once per nonce: claim, store, then confirm (or release
    /// when the store failed, so Sinch's retry need not wait for the lease).
    pub(super) async fn store_once(
        &self,
        service: &str,
        headers: &SignatureHeaders<'_>,
        body: &[u8],
        callback: &Callback,
        now: i64,
        secret: &'static str,
    ) -> Result<Stored, IngestError> {
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
        let stored = match self.store(service, body, callback, secret).await {
            Ok(stored) => stored,
            Err(e) => {
                if let Err(failure) = self.nonces.release(&key, &claim).await {
                    self.nonce_store_failed("release", service, &failure);
                }
                return Err(e);
            }
        };
        let timestamp = crate::protocol::signature::parse_timestamp(headers.timestamp).unwrap_or(now);
        self.after_answer(FollowUp::Confirm {
            horizon: self.nonce_horizon(timestamp),
            key,
            claim,
            service: service.to_owned(),
        })
        .await;
        Ok(stored)
    }

    /// Runs `work` now, or, when the edge answers first ([`Ingest::defer_follow_ups`]), keeps it
    /// for [`Ingest::run_follow_ups`].
    pub(super) async fn after_answer(&self, work: FollowUp) {
        match &self.follow_ups {
            Some(kept) => kept.lock().unwrap_or_else(PoisonError::into_inner).push(work),
            None => self.follow_up(work).await,
        }
    }

    /// Runs what [`Ingest::handle`] left for after the answer: the nonce confirmations and the
    /// sightings of the requests handled since the last call. The Lambda edge calls it once the
    /// answer is with the Runtime API and before it asks for the next event, so the environment
    /// is never frozen with a confirmation pending (ARCHITECTURE.md, "Replay protection").
    pub async fn run_follow_ups(&self) {
        let Some(kept) = &self.follow_ups else {
            return;
        };
        let work = std::mem::take(&mut *kept.lock().unwrap_or_else(PoisonError::into_inner));
        for item in work {
            self.follow_up(item).await;
        }
    }

    async fn follow_up(&self, work: FollowUp) {
        match work {
            FollowUp::Confirm {
                key,
                claim,
                horizon,
                service,
            } => self.confirm(&key, &claim, horizon, &service).await,
            FollowUp::Sighting {
                service,
                fingerprint,
                now,
            } => self.sighted(&service, &fingerprint, now).await,
        }
    }

    /// Until when a stored nonce stays used: as long as its signature could verify. A shared
    /// table keeps it for the widest window the code accepts ([`MAX_TOLERANCE_SECONDS`]), so
    /// widening the window later (up to a week) reopens no captured request; an environment's
    /// own memory ends with the environment, which a change of settings replaces.
    fn nonce_horizon(&self, timestamp: i64) -> i64 {
        let kept = if self.config.nonce_table.is_some() {
            MAX_TOLERANCE_SECONDS
        } else {
            self.config.tolerance_seconds
        };
        timestamp.saturating_add(i64::try_from(kept).unwrap_or(i64::MAX))
    }

    /// Marks the nonce used, once (the SDK retries the call itself, within `NONCE_TIMEOUT_MS`).
    /// The event is stored whatever happens here, so a failure is not the caller's: it is logged
    /// and counted, and the nonce stays claimed until the lease ends.
    async fn confirm(&self, key: &str, claim: &NonceClaim, horizon: i64, service: &str) {
        match self.nonces.confirm(key, claim, horizon).await {
            Ok(Confirmed::Used) => {}
            Ok(Confirmed::Lapsed) => {
                // The key is the nonce's hash (no secret, no content): with it the operator
                // finds both copies' log lines, and the consumer's dedup by `event_id` is told why.
                tracing::warn!(
                    service,
                    nonce_key = key,
                    "nonce claim lapsed before its confirmation and was taken over: the event may be stored twice"
                );
                self.metrics.count(Metric::NonceClaimLapsed, &[]);
            }
            Err(e) => self.nonce_store_failed("confirm", service, &e),
        }
    }

    pub(super) fn nonce_store_failed(&self, step: &'static str, service: &str, error: &crate::ports::PortError) {
        tracing::error!(service, step, error = %error, "nonce store call failed");
        // One dimension set (Function only), so the template's alarm sees every step.
        self.metrics.count(Metric::NonceStoreFailed, &[]);
    }

    /// Tells the nonce store (when it keeps them) which secret verified a stored callback.
    async fn sighted(&self, service: &str, fingerprint: &str, now: i64) {
        let at = self.clock.now();
        let Some(count) = self.sightings.note(service, fingerprint, at) else {
            return;
        };
        match self.nonces.record_sighting(service, fingerprint, now, count).await {
            Ok(()) => self.sightings.written(service, fingerprint, count, at),
            // Best effort: the count is kept for the next write; the event is stored.
            Err(e) => tracing::warn!(service, error = %e, "could not record which secret signed"),
        }
    }
}

/// Work on a stored event that its answer need not wait for.
pub(super) enum FollowUp {
    /// Mark the nonce used until `horizon`.
    Confirm {
        key: String,
        claim: NonceClaim,
        horizon: i64,
        service: String,
    },
    /// Record which secret verified it.
    Sighting {
        service: String,
        fingerprint: String,
        now: i64,
    },
}
