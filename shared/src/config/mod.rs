//! How settings are declared and read. Every environment variable a function reads is one
//! [`Setting`] constant, declared beside the code it configures (name, default, bounds, one line
//! of doc, and how the template sets it), and parsed through that declaration: the default and
//! the bounds cannot drift from what the reference documents, because the reference tables are
//! rendered from the same constants (`manifest`, held by `shared/tests/docs.rs`), and the
//! template and stack checks read them too. Errors name the variable. Settings are read once,
//! at start-up, from any key lookup (the process environment in production, a map in tests).
//! Secrets are never configured here, only where to find them.

mod manifest;
pub mod runtime;

pub use manifest::{FUNCTIONS, FunctionSettings, reference_table};

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl ConfigError {
    pub fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        Self {
            variable,
            problem: problem.into(),
        }
    }
}

pub trait Lookup {
    fn get(&self, key: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Lookup for F {
    fn get(&self, key: &str) -> Option<String> {
        self(key)
    }
}

/// The process environment (an empty value counts as unset).
pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

/// What a setting holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A whole number in `unit`, within `min..=max`.
    Number { unit: Unit, min: u64, max: u64 },
    /// Free text: a URL, a name, a prefix.
    Text,
    /// Comma-separated messaging service names.
    ServiceNames,
    /// A JSON document.
    Json,
    /// A log level (`TRACE` … `ERROR`, or `OFF`).
    Level,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Milliseconds,
    Count,
    Bytes,
}

/// What applies when a setting is not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// The function refuses to start.
    Required,
    /// Nothing: the feature it configures is off.
    Absent,
    Number(u64),
    Text(&'static str),
    /// Computed from other settings at start-up; the text says how.
    Derived(&'static str),
}

/// Where a deployed function's value comes from, for the template and stack checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `!Ref` of this template parameter; an empty parameter leaves the variable unset.
    Parameter(&'static str),
    /// The URL of this queue (logical id), or empty when the stack has no such queue.
    Queue(&'static str),
    /// The name of this table (logical id), or empty when the stack has none.
    Table(&'static str),
    /// The HTTP API's `…/webhooks/` base URL.
    WebhookBase,
    /// This literal value.
    Literal(&'static str),
    /// Set by Lambda itself (region, credentials, logging controls).
    Lambda,
    /// Not set by the template: the default applies (tests and the local loop set it).
    Unset,
}

/// A rule between two settings that their own bounds cannot hold, declared once beside them:
/// checked at start, where a value breaking it is refused with an error naming both variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relation {
    /// The setting refused when the rule is broken.
    pub setting: &'static Setting,
    /// The setting it is measured against.
    pub other: &'static Setting,
    /// The rule and why, completing "`setting` …", e.g. "must not exceed `other`: …".
    pub rule: &'static str,
}

impl Relation {
    /// `Ok` when the rule `holds`; else the error, with both values as read.
    pub fn check(
        &self,
        holds: bool,
        value: impl std::fmt::Display,
        other: impl std::fmt::Display,
    ) -> Result<(), ConfigError> {
        if holds {
            return Ok(());
        }
        Err(ConfigError::new(
            self.setting.name,
            format!("({value}) {} (`{}` is {other})", self.rule, self.other.name),
        ))
    }
}

/// One environment variable of a function: its declaration, and the parser that honours it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub name: &'static str,
    pub kind: Kind,
    pub fallback: Fallback,
    /// One line for the reference table.
    pub doc: &'static str,
    pub source: Source,
}

impl Setting {
    /// The value given, if any.
    pub fn raw(&self, env: &impl Lookup) -> Option<String> {
        env.get(self.name)
    }

    fn error(&self, problem: impl Into<String>) -> ConfigError {
        ConfigError::new(self.name, problem)
    }

    /// A text setting: its value, else its text default; `Err` when required and unset.
    pub fn text(&self, env: &impl Lookup) -> Result<String, ConfigError> {
        match (self.raw(env), self.fallback) {
            (Some(v), _) => Ok(v),
            (None, Fallback::Text(default)) => Ok(default.to_owned()),
            (None, Fallback::Required) => Err(self.error("is required")),
            (None, _) => Err(self.error("is required (no default)")),
        }
    }

    /// An optional text setting: `None` when unset or empty.
    pub fn optional(&self, env: &impl Lookup) -> Option<String> {
        self.raw(env).filter(|v| !v.trim().is_empty())
    }

    /// The number given (within bounds), else `default`.
    pub fn number_or(&self, env: &impl Lookup, default: u64) -> Result<u64, ConfigError> {
        let Some(raw) = self.raw(env) else {
            return Ok(default);
        };
        let value: u64 = raw.trim().parse().map_err(|_| self.error("must be a whole number"))?;
        if let Kind::Number { min, max, .. } = self.kind
            && !(min..=max).contains(&value)
        {
            return Err(self.error(format!("must be between {min} and {max}")));
        }
        Ok(value)
    }

    /// A number with its declared default.
    pub fn number(&self, env: &impl Lookup) -> Result<u64, ConfigError> {
        match self.fallback {
            Fallback::Number(default) => self.number_or(env, default),
            _ => match self.raw(env) {
                Some(_) => self.number_or(env, 0),
                None => Err(self.error("is required")),
            },
        }
    }

    /// A number that must fit `T` (a count or a size).
    pub fn count<T: TryFrom<u64>>(&self, env: &impl Lookup) -> Result<T, ConfigError> {
        T::try_from(self.number(env)?).map_err(|_| self.error("is too large"))
    }

    /// A duration in the declared unit.
    pub fn duration(&self, env: &impl Lookup) -> Result<Duration, ConfigError> {
        self.number(env).map(|n| self.unit_duration(n))
    }

    /// A duration in the declared unit, with a default computed at start-up.
    pub fn duration_or(&self, env: &impl Lookup, default: Duration) -> Result<Duration, ConfigError> {
        let default = match self.kind {
            Kind::Number {
                unit: Unit::Milliseconds,
                ..
            } => u64::try_from(default.as_millis()).unwrap_or(u64::MAX),
            _ => default.as_secs(),
        };
        self.number_or(env, default).map(|n| self.unit_duration(n))
    }

    fn unit_duration(&self, n: u64) -> Duration {
        match self.kind {
            Kind::Number {
                unit: Unit::Milliseconds,
                ..
            } => Duration::from_millis(n),
            _ => Duration::from_secs(n),
        }
    }

    /// The declared default as a duration (for `Default` impls): zero when it has none.
    pub const fn default_duration(&self) -> Duration {
        match (self.fallback, self.kind) {
            (
                Fallback::Number(n),
                Kind::Number {
                    unit: Unit::Milliseconds,
                    ..
                },
            ) => Duration::from_millis(n),
            (Fallback::Number(n), _) => Duration::from_secs(n),
            _ => Duration::ZERO,
        }
    }

    /// The declared default number (for `Default` impls): zero when it has none.
    pub const fn default_number(&self) -> u64 {
        match self.fallback {
            Fallback::Number(n) => n,
            _ => 0,
        }
    }

    /// Comma-separated service names, `None` when unset; each must be a valid name.
    pub fn service_names(&self, env: &impl Lookup) -> Result<Option<Vec<String>>, ConfigError> {
        let Some(raw) = self.raw(env) else {
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
            return Err(self.error(format!("{bad:?} is not a valid service name")));
        }
        Ok(Some(names))
    }

    /// A JSON value, `None` when unset.
    pub fn json<T: serde::de::DeserializeOwned>(
        &self,
        env: &impl Lookup,
        expected: &str,
    ) -> Result<Option<T>, ConfigError> {
        self.raw(env)
            .map(|raw| serde_json::from_str(&raw).map_err(|_| self.error(format!("must be {expected}"))))
            .transpose()
    }
}

/// A lookup over fixed pairs, for tests of the configuration parsers.
#[cfg(test)]
pub(crate) fn map_env(pairs: &[(&str, &str)]) -> impl Lookup {
    let map: std::collections::HashMap<String, String> =
        pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    move |k: &str| map.get(k).cloned()
}
