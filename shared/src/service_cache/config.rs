//! The service-secret cache's settings, each with its default as a named constant.

use std::time::Duration;

use crate::config::{ConfigError, Lookup, seconds};

pub const DEFAULT_SECRET_PREFIX: &str = "sinch-bridge/services/";
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(300);
pub const DEFAULT_REFRESH_MIN_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_PREVIOUS_GRACE: Duration = Duration::from_secs(3600);
pub const DEFAULT_PENDING_MAX_AGE: Duration = Duration::from_secs(86_400);
pub const DEFAULT_FAILURE_HOLD: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCacheConfig {
    /// `SERVICE_SECRET_PREFIX`: secret name = prefix + service name.
    pub prefix: String,
    /// `SECRET_CACHE_TTL_SECONDS`.
    pub ttl: Duration,
    /// `SECRET_REFRESH_MIN_INTERVAL_SECONDS`.
    pub refresh_min_interval: Duration,
    /// `PREVIOUS_SECRET_GRACE_SECONDS`: how long after the current version was created the
    /// previous one still signs.
    pub previous_grace: Duration,
    /// `PENDING_SECRET_MAX_AGE_SECONDS`: how long after it was created a pending version signs
    /// (an abandoned rotation ends by itself).
    pub pending_max_age: Duration,
    /// `SECRET_FAILURE_HOLD_SECONDS`: how long a failed fetch keeps requests off the store.
    pub failure_hold: Duration,
}

impl Default for ServiceCacheConfig {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_SECRET_PREFIX.into(),
            ttl: DEFAULT_CACHE_TTL,
            refresh_min_interval: DEFAULT_REFRESH_MIN_INTERVAL,
            previous_grace: DEFAULT_PREVIOUS_GRACE,
            pending_max_age: DEFAULT_PENDING_MAX_AGE,
            failure_hold: DEFAULT_FAILURE_HOLD,
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
            previous_grace: seconds(env, "PREVIOUS_SECRET_GRACE_SECONDS", default.previous_grace)?,
            pending_max_age: seconds(env, "PENDING_SECRET_MAX_AGE_SECONDS", default.pending_max_age)?,
            failure_hold: seconds(env, "SECRET_FAILURE_HOLD_SECONDS", default.failure_hold)?,
        })
    }

    /// The secret that holds `service`.
    pub fn secret_name(&self, service: &str) -> String {
        format!("{}{}", self.prefix, service)
    }
}
