//! The service-secret cache: each messaging service's configuration, read from its secret in
//! a [`SecretStore`] and cached per execution environment.
//!
//! * A warm instance answers from memory until the TTL passes, then makes one `AWSCURRENT`
//!   fetch. Concurrent misses share one fetch.
//! * A signature that matches no cached secret (or an app without one) may force one refresh
//!   per service per `refresh_min_interval`, loading `AWSCURRENT` and `AWSPENDING` at once, so
//!   a rotation is picked up at once while forged traffic cannot amplify into Secrets Manager
//!   calls. A refresh that fails is an error (the ingest answers 503, so Sinch retries) and
//!   does not use up the interval.
//! * Revocation: which secrets verify is in `versions.rs`. The current version names the
//!   secrets a rotation retired and until when; `AWSPENDING` verifies until `pending_max_age`
//!   after it was created (a rotation in progress). Both deadlines come from the store (the
//!   value itself, the version's creation date), so every instance computes the same ones and
//!   no refresh, however triggered, extends them; `AWSPREVIOUS` is never trusted.
//! * Outage: a failed fetch is remembered for `failure_hold`. Meanwhile the cached value is
//!   served however old, without waiting on the store again; with none, the caller learns at
//!   once that the store is unavailable.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

mod config;
mod versions;

pub use config::{
    CACHE_SETTINGS, DEFAULT_REFRESH_MIN_INTERVAL, DEFAULT_SECRET_PREFIX, PENDING_SECRET_MAX_AGE_SECONDS,
    SECRET_CACHE_TTL_SECONDS, SECRET_REFRESH_MIN_INTERVAL_SECONDS, SERVICE_SECRET_PREFIX, ServiceCacheConfig,
    TRUST_SETTINGS,
};
pub use versions::{Candidate, PendingVersion, SecretKind, ServiceVersions};

use crate::clock::Clock;
use crate::metrics::{Metric, Metrics};
use crate::ports::{PortError, SecretStore, SecretVersion, Stage};
use crate::protocol::service::{MessagingService, ServiceConfigError};

/// What [`ServiceCache::refresh_after_mismatch`] knows after it ran.
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub versions: ServiceVersions,
    /// True when this call reloaded from the store (false: rate limited, the cache returned).
    pub fetched: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceCacheError {
    #[error("service not found")]
    NotFound,
    #[error("secret store unavailable: {0}")]
    Unavailable(PortError),
    #[error("service secret is invalid: {0}")]
    Invalid(ServiceConfigError),
}

struct Entry {
    versions: ServiceVersions,
    fetched_at: Instant,
    pending_fetched_at: Option<Instant>,
    last_forced: Option<Instant>,
}

/// One version read from the store and parsed.
struct Fetched {
    service: Arc<MessagingService>,
    version_id: String,
    created: Option<i64>,
}

pub struct ServiceCache<S> {
    store: S,
    clock: Arc<dyn Clock>,
    config: ServiceCacheConfig,
    entries: Mutex<HashMap<String, Entry>>,
    /// Services whose last fetch failed (the store unreachable, or a value that does not
    /// parse with nothing cached), with the error and when.
    failures: Mutex<HashMap<String, (Instant, ServiceCacheError)>>,
    metrics: Metrics,
    /// Serialises fetches so a burst of misses makes one call, not one per request.
    fetch_lock: tokio::sync::Mutex<()>,
}

impl<S: SecretStore> ServiceCache<S> {
    pub fn new(store: S, clock: Arc<dyn Clock>, config: ServiceCacheConfig) -> Self {
        Self {
            store,
            clock,
            config,
            entries: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            metrics: Metrics::discard("service_cache"),
            fetch_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Records a `SecretFetch` metric per store call.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn config(&self) -> &ServiceCacheConfig {
        &self.config
    }

    /// The service's versions, from cache when fresh.
    pub async fn get(&self, name: &str) -> Result<ServiceVersions, ServiceCacheError> {
        if let Some(fresh) = self.cached(name, false) {
            return Ok(fresh);
        }
        let _guard = self.fetch_lock.lock().await;
        if let Some(fresh) = self.cached(name, false) {
            return Ok(fresh);
        }
        if let Some(failure) = self.recent_failure(name) {
            return self.cached(name, true).ok_or(failure);
        }
        let fetched = self.fetch_current(name).await;
        self.note_outcome(name, [&fetched]);
        match fetched {
            Ok(Some(current)) => Ok(self.store_current(name, current)),
            Ok(None) => {
                self.lock().remove(name);
                Err(ServiceCacheError::NotFound)
            }
            Err(e) => self.cached(name, true).ok_or(e),
        }
    }

    /// Called when a signature matched no cached secret. Reloads all stages unless this
    /// service was refreshed less than `refresh_min_interval` ago, and returns the freshest
    /// versions known either way: a request that waited while another one reloaded must see
    /// what that reload found. [`Refreshed::fetched`] says whether this call reloaded.
    pub async fn refresh_after_mismatch(&self, name: &str) -> Result<Refreshed, ServiceCacheError> {
        let _guard = self.fetch_lock.lock().await;
        if let Some(failure) = self.recent_failure(name) {
            return Err(failure);
        }
        let now = self.clock.now();
        {
            let entries = self.lock();
            let entry = entries.get(name).ok_or(ServiceCacheError::NotFound)?;
            if entry
                .last_forced
                .is_some_and(|t| now.duration_since(t) < self.config.refresh_min_interval)
            {
                return Ok(Refreshed {
                    versions: entry.versions.clone(),
                    fetched: false,
                });
            }
        }
        let (current, pending) = futures::join!(self.fetch_current(name), self.fetch_stage(name, Stage::Pending));
        self.note_outcome(name, [&current, &pending]);
        let current = match current {
            Ok(Some(current)) => current,
            Ok(None) => {
                self.lock().remove(name);
                return Err(ServiceCacheError::NotFound);
            }
            Err(e) => return Err(e),
        };
        // A pending version that cannot be read may be the one that signed: the refresh did
        // not complete. One that does not parse is left out (and logged).
        let pending = self.usable(name, Stage::Pending, pending)?;
        let pending = self.pending_window(name, &current, pending);
        let versions = ServiceVersions {
            current: current.service,
            current_version: current.version_id,
            current_created: current.created,
            pending,
        };
        Ok(Refreshed {
            versions: self.remember_refresh(name, versions, now),
            fetched: true,
        })
    }

    /// The pending version other than the current one, with the deadline until which it may
    /// sign (from the store's creation date; not trusted without one).
    fn pending_window(&self, name: &str, current: &Fetched, pending: Option<Fetched>) -> Option<PendingVersion> {
        let pending = pending.filter(|p| p.version_id != current.version_id)?;
        match pending.created {
            Some(created) => Some(PendingVersion {
                service: pending.service,
                until: created.saturating_add(secs(self.config.pending_max_age)),
            }),
            None => {
                tracing::warn!(service = name, "pending version has no creation date; not trusted");
                None
            }
        }
    }

    /// Caches what a forced refresh found and starts its rate-limit interval.
    fn remember_refresh(&self, name: &str, versions: ServiceVersions, now: Instant) -> ServiceVersions {
        let mut entries = self.lock();
        let entry = entries.entry(name.to_owned()).or_insert_with(|| Entry {
            versions: versions.clone(),
            fetched_at: now,
            pending_fetched_at: None,
            last_forced: None,
        });
        entry.versions = versions;
        entry.fetched_at = now;
        entry.pending_fetched_at = Some(now);
        entry.last_forced = Some(now);
        entry.versions.clone()
    }

    /// Remembers a failed store call (or forgets an old failure after calls that worked).
    fn note_outcome<const N: usize>(&self, name: &str, results: [&Result<Option<Fetched>, ServiceCacheError>; N]) {
        let failed = results.iter().find_map(|r| match r {
            Err(e @ ServiceCacheError::Unavailable(_)) => Some(e.clone()),
            _ => None,
        });
        // A current value that does not parse (with nothing cached to serve) is held too: each
        // request, forged ones included, would otherwise cost a Secrets Manager call.
        let invalid = || match results.first() {
            Some(Err(e @ ServiceCacheError::Invalid(_))) => Some(e.clone()),
            _ => None,
        };
        match failed.or_else(invalid) {
            Some(error) => {
                self.failures().insert(name.to_owned(), (self.clock.now(), error));
            }
            None => {
                self.failures().remove(name);
            }
        }
    }

    fn usable(
        &self,
        name: &str,
        stage: Stage,
        fetched: Result<Option<Fetched>, ServiceCacheError>,
    ) -> Result<Option<Fetched>, ServiceCacheError> {
        match fetched {
            Ok(found) => Ok(found),
            Err(e @ ServiceCacheError::Unavailable(_)) => Err(e),
            Err(e) => {
                tracing::error!(service = name, stage = stage.label(), error = %e, "service secret version is invalid; left out");
                Ok(None)
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // The map holds plain data; a panic elsewhere cannot leave it half-written.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, ServiceCacheError)>> {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The error to answer with while a recent failure holds requests off the store.
    fn recent_failure(&self, name: &str) -> Option<ServiceCacheError> {
        let now = self.clock.now();
        let failures = self.failures();
        let (at, error) = failures.get(name)?;
        (now.duration_since(*at) < self.config.failure_hold).then(|| error.clone())
    }

    fn cached(&self, name: &str, allow_stale: bool) -> Option<ServiceVersions> {
        let now = self.clock.now();
        let mut entries = self.lock();
        let entry = entries.get_mut(name)?;
        // A pending version is forgotten one TTL after it was read: a cancelled rotation's
        // label stops mattering without a refresh.
        if entry
            .pending_fetched_at
            .is_some_and(|t| now.duration_since(t) >= self.config.ttl)
        {
            entry.versions.pending = None;
            entry.pending_fetched_at = None;
        }
        (allow_stale || now.duration_since(entry.fetched_at) < self.config.ttl).then(|| entry.versions.clone())
    }

    fn store_current(&self, name: &str, current: Fetched) -> ServiceVersions {
        let now = self.clock.now();
        let mut entries = self.lock();
        let fresh = ServiceVersions {
            current: current.service,
            current_version: current.version_id,
            current_created: current.created,
            pending: None,
        };
        let entry = entries.entry(name.to_owned()).or_insert_with(|| Entry {
            versions: fresh.clone(),
            fetched_at: now,
            pending_fetched_at: None,
            last_forced: None,
        });
        if entry.versions.current_version != fresh.current_version {
            // A new current version: the pending one known belongs to a finished rotation.
            entry.versions.pending = None;
            entry.pending_fetched_at = None;
        }
        entry.versions.current = fresh.current;
        entry.versions.current_version = fresh.current_version;
        entry.versions.current_created = fresh.current_created;
        entry.fetched_at = now;
        entry.versions.clone()
    }

    /// `AWSCURRENT`. A value that does not parse keeps the cached one in service: a broken
    /// new value must not take a working service down.
    async fn fetch_current(&self, name: &str) -> Result<Option<Fetched>, ServiceCacheError> {
        match self.fetch_stage(name, Stage::Current).await {
            Err(ServiceCacheError::Invalid(e)) => match self.cached(name, true) {
                Some(cached) => Ok(Some(Fetched {
                    service: cached.current,
                    version_id: cached.current_version,
                    created: cached.current_created,
                })),
                None => Err(ServiceCacheError::Invalid(e)),
            },
            other => other,
        }
    }

    async fn fetch_stage(&self, name: &str, stage: Stage) -> Result<Option<Fetched>, ServiceCacheError> {
        let secret_name = self.config.secret_name(name);
        self.metrics.count(Metric::SecretFetch, &[("Stage", stage.label())]);
        let version = self
            .store
            .fetch(&secret_name, stage)
            .await
            .map_err(ServiceCacheError::Unavailable)?;
        let Some(version) = version else { return Ok(None) };
        let SecretVersion {
            value,
            version_id,
            created,
        } = version;
        let Some(value) = value else {
            tracing::error!(
                service = name,
                stage = stage.label(),
                "service secret has no SecretString"
            );
            return Err(ServiceCacheError::Invalid(ServiceConfigError {
                service: name.to_owned(),
                field: "(secret)".into(),
                problem: "holds no SecretString (binary secrets are not supported)",
            }));
        };
        match MessagingService::from_json(name, value.expose().as_bytes()) {
            Ok(service) => Ok(Some(Fetched {
                service: Arc::new(service),
                version_id,
                created,
            })),
            Err(e) => {
                tracing::error!(service = name, stage = stage.label(), error = %e, "service secret is invalid");
                Err(ServiceCacheError::Invalid(e))
            }
        }
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
