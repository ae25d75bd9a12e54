//! The service-secret cache's settings, each declared once as a [`Setting`].

use std::time::Duration;

use crate::config::{ConfigError, Fallback, Kind, Lookup, Setting, Source, Unit};

pub const SERVICE_SECRET_PREFIX: Setting = Setting {
    name: "SERVICE_SECRET_PREFIX",
    kind: Kind::Text,
    fallback: Fallback::Text("sinch-bridge/services/"),
    doc: "secret name prefix: a service's secret is this prefix plus its name",
    source: Source::Parameter("ServiceSecretPrefix"),
};
pub const SECRET_CACHE_TTL_SECONDS: Setting = Setting {
    name: "SECRET_CACHE_TTL_SECONDS",
    kind: Kind::Number {
        unit: Unit::Seconds,
        min: 1,
        max: 86_400,
    },
    fallback: Fallback::Number(300),
    doc: "how long a warm environment trusts its cached service secret",
    source: Source::Unset,
};
pub const SECRET_FAILURE_HOLD_SECONDS: Setting = Setting {
    name: "SECRET_FAILURE_HOLD_SECONDS",
    kind: Kind::Number {
        unit: Unit::Seconds,
        min: 0,
        max: 300,
    },
    fallback: Fallback::Number(10),
    doc: "after a failed Secrets Manager call, serve the cache without calling again for this long",
    source: Source::Unset,
};
pub const SECRET_REFRESH_MIN_INTERVAL_SECONDS: Setting = Setting {
    name: "SECRET_REFRESH_MIN_INTERVAL_SECONDS",
    kind: Kind::Number {
        unit: Unit::Seconds,
        min: 0,
        max: 3600,
    },
    fallback: Fallback::Number(30),
    doc: "at most one forced refresh per service per interval after a signature mismatch",
    source: Source::Unset,
};
pub const PENDING_SECRET_MAX_AGE_SECONDS: Setting = Setting {
    name: "PENDING_SECRET_MAX_AGE_SECONDS",
    kind: Kind::Number {
        unit: Unit::Seconds,
        min: 60,
        max: 1_209_600,
    },
    fallback: Fallback::Number(86_400),
    doc: "how long after it was created an `AWSPENDING` version verifies (an abandoned rotation ends by itself)",
    source: Source::Unset,
};

/// The settings every function with a secret cache reads.
pub const CACHE_SETTINGS: [&Setting; 3] = [
    &SERVICE_SECRET_PREFIX,
    &SECRET_CACHE_TTL_SECONDS,
    &SECRET_FAILURE_HOLD_SECONDS,
];
/// The settings that decide when secret versions are read and how long a pending one verifies
/// (webhook-ingest; the rotation function reads them too, to agree with it).
pub const TRUST_SETTINGS: [&Setting; 2] = [&SECRET_REFRESH_MIN_INTERVAL_SECONDS, &PENDING_SECRET_MAX_AGE_SECONDS];

pub const DEFAULT_SECRET_PREFIX: &str = "sinch-bridge/services/";
pub const DEFAULT_CACHE_TTL: Duration = SECRET_CACHE_TTL_SECONDS.default_duration();
pub const DEFAULT_REFRESH_MIN_INTERVAL: Duration = SECRET_REFRESH_MIN_INTERVAL_SECONDS.default_duration();
pub const DEFAULT_PENDING_MAX_AGE: Duration = PENDING_SECRET_MAX_AGE_SECONDS.default_duration();
pub const DEFAULT_FAILURE_HOLD: Duration = SECRET_FAILURE_HOLD_SECONDS.default_duration();

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCacheConfig {
    /// [`SERVICE_SECRET_PREFIX`]: secret name = prefix + service name.
    pub prefix: String,
    /// [`SECRET_CACHE_TTL_SECONDS`].
    pub ttl: Duration,
    /// [`SECRET_REFRESH_MIN_INTERVAL_SECONDS`].
    pub refresh_min_interval: Duration,
    /// [`PENDING_SECRET_MAX_AGE_SECONDS`]: how long after it was created a pending version
    /// signs (an abandoned rotation ends by itself).
    pub pending_max_age: Duration,
    /// [`SECRET_FAILURE_HOLD_SECONDS`]: how long a failed fetch keeps requests off the store.
    pub failure_hold: Duration,
}

impl Default for ServiceCacheConfig {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_SECRET_PREFIX.into(),
            ttl: DEFAULT_CACHE_TTL,
            refresh_min_interval: DEFAULT_REFRESH_MIN_INTERVAL,
            pending_max_age: DEFAULT_PENDING_MAX_AGE,
            failure_hold: DEFAULT_FAILURE_HOLD,
        }
    }
}

impl ServiceCacheConfig {
    /// The sender's cache: [`CACHE_SETTINGS`]; it never verifies a callback.
    pub fn for_sender(env: &impl Lookup) -> Result<Self, ConfigError> {
        Ok(Self {
            prefix: SERVICE_SECRET_PREFIX.text(env)?,
            ttl: SECRET_CACHE_TTL_SECONDS.duration(env)?,
            failure_hold: SECRET_FAILURE_HOLD_SECONDS.duration(env)?,
            ..Self::default()
        })
    }

    /// The ingest's cache: [`CACHE_SETTINGS`] and [`TRUST_SETTINGS`].
    pub fn for_ingest(env: &impl Lookup) -> Result<Self, ConfigError> {
        Ok(Self {
            refresh_min_interval: SECRET_REFRESH_MIN_INTERVAL_SECONDS.duration(env)?,
            pending_max_age: PENDING_SECRET_MAX_AGE_SECONDS.duration(env)?,
            ..Self::for_sender(env)?
        })
    }

    /// The secret that holds `service`.
    pub fn secret_name(&self, service: &str) -> String {
        format!("{}{}", self.prefix, service)
    }
}
