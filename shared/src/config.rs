//! Environment configuration shared by both functions. Parsed once at start-up from any
//! key lookup (the process environment in production, a map in tests); every error names the
//! variable. Secrets are never configured here, only where to find them.

use std::str::FromStr;
use std::time::Duration;

use crate::directory::DirectoryConfig;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

pub trait Lookup {
    fn get(&self, key: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Lookup for F {
    fn get(&self, key: &str) -> Option<String> {
        self(key)
    }
}

/// The process environment.
pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

pub fn required(env: &impl Lookup, variable: &'static str) -> Result<String, ConfigError> {
    env.get(variable).ok_or(ConfigError {
        variable,
        problem: "is required".into(),
    })
}

pub fn number<T: FromStr>(env: &impl Lookup, variable: &'static str, default: T) -> Result<T, ConfigError> {
    match env.get(variable) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| ConfigError {
            variable,
            problem: "must be a whole number".into(),
        }),
    }
}

/// `SERVICES`: comma-separated service names, or `None` when unset.
pub fn service_list(env: &impl Lookup) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(raw) = env.get("SERVICES") else {
        return Ok(None);
    };
    let names: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if let Some(bad) = names
        .iter()
        .find(|n| !crate::protocol::service::is_valid_service_name(n))
    {
        return Err(ConfigError {
            variable: "SERVICES",
            problem: format!("{bad:?} is not a valid service name"),
        });
    }
    Ok(Some(names))
}

pub const DEFAULT_SECRET_PREFIX: &str = "sinch-bridge/services/";

impl DirectoryConfig {
    /// `SERVICE_SECRET_PREFIX`, `SECRET_CACHE_TTL_SECONDS` (300),
    /// `SECRET_REFRESH_MIN_INTERVAL_SECONDS` (30).
    pub fn from_env(env: &impl Lookup) -> Result<Self, ConfigError> {
        Ok(Self {
            prefix: env
                .get("SERVICE_SECRET_PREFIX")
                .unwrap_or_else(|| DEFAULT_SECRET_PREFIX.into()),
            ttl: Duration::from_secs(number(env, "SECRET_CACHE_TTL_SECONDS", 300)?),
            refresh_min_interval: Duration::from_secs(number(env, "SECRET_REFRESH_MIN_INTERVAL_SECONDS", 30)?),
        })
    }
}

/// A lookup over fixed pairs, for tests of the configuration parsers.
#[cfg(test)]
pub(crate) fn map_env(pairs: &[(&str, &str)]) -> impl Lookup {
    let map: std::collections::HashMap<String, String> =
        pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    move |k: &str| map.get(k).cloned()
}
