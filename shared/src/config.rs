//! How settings are read: from any key lookup (the process environment in production, a map
//! in tests), once at start-up, every error naming the variable. Each setting belongs to the
//! config type of what it configures (`ServiceCacheConfig`, `IngestConfig`, `SenderConfig`,
//! `AwsSettings`, `LogSettings`), with its default as a named constant beside it. Secrets are
//! never configured here, only where to find them.

use std::str::FromStr;
use std::time::Duration;

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

/// A duration given in whole seconds.
pub fn seconds(env: &impl Lookup, variable: &'static str, default: Duration) -> Result<Duration, ConfigError> {
    number(env, variable, default.as_secs()).map(Duration::from_secs)
}

/// A duration given in whole milliseconds.
pub fn millis(env: &impl Lookup, variable: &'static str, default: Duration) -> Result<Duration, ConfigError> {
    let default = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
    number(env, variable, default).map(Duration::from_millis)
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

/// A lookup over fixed pairs, for tests of the configuration parsers.
#[cfg(test)]
pub(crate) fn map_env(pairs: &[(&str, &str)]) -> impl Lookup {
    let map: std::collections::HashMap<String, String> =
        pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    move |k: &str| map.get(k).cloned()
}
