//! The service-secret cache: each messaging service's configuration, read from its secret in
//! a [`SecretStore`] and cached per execution environment.
//!
//! * A warm instance answers from memory until the TTL passes, then makes one `AWSCURRENT`
//!   fetch. Concurrent misses share one fetch.
//! * A signature that fails against the cached values may force one refresh per service per
//!   `refresh_min_interval`, which also loads `AWSPENDING` and `AWSPREVIOUS`, so a rotation is
//!   picked up at once while forged traffic cannot amplify into Secrets Manager calls.
//! * When the store is unreachable, a cached value is served however old; with none, the
//!   caller learns the store is unavailable (the ingest answers 503 so Sinch retries).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::config::{ConfigError, Lookup, seconds};
use crate::metrics::{Metric, Metrics};
use crate::ports::{PortError, SecretStore, Stage};
use crate::protocol::service::{MessagingService, ServiceConfigError};
use crate::protocol::signature::WebhookSecret;

pub const DEFAULT_SECRET_PREFIX: &str = "sinch-bridge/services/";
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(300);
pub const DEFAULT_REFRESH_MIN_INTERVAL: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCacheConfig {
    /// `SERVICE_SECRET_PREFIX`: secret name = prefix + service name.
    pub prefix: String,
    /// `SECRET_CACHE_TTL_SECONDS`.
    pub ttl: Duration,
    /// `SECRET_REFRESH_MIN_INTERVAL_SECONDS`.
    pub refresh_min_interval: Duration,
}

impl Default for ServiceCacheConfig {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_SECRET_PREFIX.into(),
            ttl: DEFAULT_CACHE_TTL,
            refresh_min_interval: DEFAULT_REFRESH_MIN_INTERVAL,
        }
    }
}

impl ServiceCacheConfig {
    pub fn from_env(env: &impl Lookup) -> Result<Self, ConfigError> {
        let default = Self::default();
        Ok(Self {
            prefix: env.get("SERVICE_SECRET_PREFIX").unwrap_or(default.prefix),
            ttl: seconds(env, "SECRET_CACHE_TTL_SECONDS", default.ttl)?,
            refresh_min_interval: seconds(env, "SECRET_REFRESH_MIN_INTERVAL_SECONDS", default.refresh_min_interval)?,
        })
    }

    /// The secret that holds `service`.
    pub fn secret_name(&self, service: &str) -> String {
        format!("{}{}", self.prefix, service)
    }
}

/// The versions of one service known right now: `current` first, then pending and previous
/// while a rotation is in flight.
#[derive(Debug, Clone)]
pub struct ServiceVersions {
    pub current: Arc<MessagingService>,
    pub others: Vec<Arc<MessagingService>>,
}

impl ServiceVersions {
    /// Every webhook secret that may sign a callback from `app_id`, current first, no repeats.
    pub fn webhook_secrets(&self, app_id: &str) -> Vec<&WebhookSecret> {
        let mut out: Vec<&WebhookSecret> = Vec::with_capacity(1 + self.others.len());
        for service in std::iter::once(&self.current).chain(&self.others) {
            if let Some(secret) = service.webhook_secret_for(app_id)
                && !out.contains(&secret)
            {
                out.push(secret);
            }
        }
        out
    }
}

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
    others_fetched_at: Option<Instant>,
    last_forced: Option<Instant>,
}

pub struct ServiceCache<S> {
    store: S,
    clock: Arc<dyn Clock>,
    config: ServiceCacheConfig,
    entries: Mutex<HashMap<String, Entry>>,
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
            metrics: Metrics::discard("directory"),
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
        match self.fetch_stage(name, Stage::Current).await {
            Ok(Some(current)) => Ok(self.store_current(name, current)),
            Ok(None) => {
                self.lock().remove(name);
                Err(ServiceCacheError::NotFound)
            }
            Err(e) => self.cached(name, true).ok_or(e),
        }
    }

    /// Called when a signature failed against every cached secret. Reloads all stages unless
    /// this service was force-refreshed less than `refresh_min_interval` ago, and returns the
    /// freshest versions known either way: a request that waited while another one reloaded
    /// must see what that reload found. [`Refreshed::fetched`] says whether this call reloaded.
    pub async fn refresh_after_mismatch(&self, name: &str) -> Option<Refreshed> {
        let _guard = self.fetch_lock.lock().await;
        let now = self.clock.now();
        {
            let mut entries = self.lock();
            let entry = entries.get_mut(name)?;
            if entry
                .last_forced
                .is_some_and(|t| now.duration_since(t) < self.config.refresh_min_interval)
            {
                return Some(Refreshed {
                    versions: entry.versions.clone(),
                    fetched: false,
                });
            }
            entry.last_forced = Some(now);
        }
        let current = match self.fetch_stage(name, Stage::Current).await {
            Ok(Some(current)) => current,
            _ => return None,
        };
        let mut others = Vec::new();
        for stage in [Stage::Pending, Stage::Previous] {
            if let Ok(Some(service)) = self.fetch_stage(name, stage).await {
                others.push(service);
            }
        }
        let mut entries = self.lock();
        let entry = entries.get_mut(name)?;
        entry.versions = ServiceVersions { current, others };
        entry.fetched_at = now;
        entry.others_fetched_at = Some(now);
        Some(Refreshed {
            versions: entry.versions.clone(),
            fetched: true,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // The map holds plain data; a panic elsewhere cannot leave it half-written.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn cached(&self, name: &str, allow_stale: bool) -> Option<ServiceVersions> {
        let now = self.clock.now();
        let mut entries = self.lock();
        let entry = entries.get_mut(name)?;
        // Pending/previous versions are only trusted for one TTL after they were read.
        if entry
            .others_fetched_at
            .is_some_and(|t| now.duration_since(t) >= self.config.ttl)
        {
            entry.versions.others.clear();
            entry.others_fetched_at = None;
        }
        (allow_stale || now.duration_since(entry.fetched_at) < self.config.ttl).then(|| entry.versions.clone())
    }

    fn store_current(&self, name: &str, current: Arc<MessagingService>) -> ServiceVersions {
        let now = self.clock.now();
        let mut entries = self.lock();
        let entry = entries.entry(name.to_owned()).or_insert_with(|| Entry {
            versions: ServiceVersions {
                current: current.clone(),
                others: Vec::new(),
            },
            fetched_at: now,
            others_fetched_at: None,
            last_forced: None,
        });
        entry.versions.current = current;
        entry.fetched_at = now;
        entry.versions.clone()
    }

    async fn fetch_stage(&self, name: &str, stage: Stage) -> Result<Option<Arc<MessagingService>>, ServiceCacheError> {
        let secret_name = self.config.secret_name(name);
        self.metrics.count(Metric::SecretFetch, &[("Stage", stage.label())]);
        let value = self
            .store
            .fetch(&secret_name, stage)
            .await
            .map_err(ServiceCacheError::Unavailable)?;
        let Some(value) = value else { return Ok(None) };
        match MessagingService::from_json(name, value.expose().as_bytes()) {
            Ok(service) => Ok(Some(Arc::new(service))),
            Err(e) => {
                tracing::error!(service = name, stage = stage.label(), error = %e, "service secret is invalid");
                // A broken new value must not take a working service down: keep serving the
                // cached one if there is one.
                match self.cached(name, true) {
                    Some(cached) if stage == Stage::Current => Ok(Some(cached.current)),
                    _ => Err(ServiceCacheError::Invalid(e)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
