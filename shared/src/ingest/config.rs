//! The webhook function's settings.

use std::collections::HashMap;

pub use crate::config::ConfigError;
use crate::config::{Lookup, number, required, service_list};
use crate::protocol::Trigger;

/// SQS's message limit is 1 MiB including attributes; ours take well under 2 KiB, so a body
/// of up to 1 MiB - 8 KiB always fits.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024 - 8 * 1024;
pub const DEFAULT_TOLERANCE_SECONDS: u64 = 600;
pub const DEFAULT_NONCE_CAPACITY: usize = 10_000;

/// `Default` has every default and no queue: set `events_queue_url` (tests, the local loop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestConfig {
    /// `SERVICES`: when set, only these service names are served.
    pub allowed_services: Option<Vec<String>>,
    /// `SIGNATURE_TOLERANCE_SECONDS` (600; 0 turns the window off).
    pub tolerance_seconds: u64,
    /// `MAX_BODY_BYTES`.
    pub max_body_bytes: usize,
    /// `EVENTS_QUEUE_URL`: where every trigger goes unless routed elsewhere.
    pub events_queue_url: String,
    /// `TRIGGER_QUEUE_URLS`: JSON object, trigger name (or `*`) -> queue URL.
    pub trigger_queue_urls: HashMap<String, String>,
    /// `NONCE_CACHE_CAPACITY` (10000).
    pub nonce_capacity: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            allowed_services: None,
            tolerance_seconds: DEFAULT_TOLERANCE_SECONDS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            events_queue_url: String::new(),
            trigger_queue_urls: HashMap::new(),
            nonce_capacity: DEFAULT_NONCE_CAPACITY,
        }
    }
}

impl IngestConfig {
    pub fn from_env(env: &impl Lookup) -> Result<Self, ConfigError> {
        let trigger_queue_urls: HashMap<String, String> = match env.get("TRIGGER_QUEUE_URLS") {
            None => HashMap::new(),
            Some(raw) => serde_json::from_str(&raw).map_err(|_| ConfigError {
                variable: "TRIGGER_QUEUE_URLS",
                problem: "must be a JSON object of trigger name to queue URL".into(),
            })?,
        };
        if let Some(bad) = trigger_queue_urls
            .keys()
            .find(|k| *k != "*" && Trigger::from_name(k).is_none())
        {
            return Err(ConfigError {
                variable: "TRIGGER_QUEUE_URLS",
                problem: format!("{bad:?} is not a trigger name"),
            });
        }
        let events_queue_url = match env.get("EVENTS_QUEUE_URL") {
            Some(url) => url,
            None => trigger_queue_urls
                .get("*")
                .cloned()
                .map_or_else(|| required(env, "EVENTS_QUEUE_URL"), Ok)?,
        };
        Ok(Self {
            allowed_services: service_list(env)?,
            tolerance_seconds: number(env, "SIGNATURE_TOLERANCE_SECONDS", DEFAULT_TOLERANCE_SECONDS)?,
            max_body_bytes: number(env, "MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)?,
            events_queue_url,
            trigger_queue_urls,
            nonce_capacity: number(env, "NONCE_CACHE_CAPACITY", DEFAULT_NONCE_CAPACITY)?,
        })
    }

    /// Settings that only hold together: a previous secret's grace must cover the signature
    /// window, or a callback signed just before a rotation could be refused inside its window.
    pub fn check_with(&self, cache: &crate::service_cache::ServiceCacheConfig) -> Result<(), ConfigError> {
        if cache.previous_grace.as_secs() < self.tolerance_seconds {
            return Err(ConfigError {
                variable: "PREVIOUS_SECRET_GRACE_SECONDS",
                problem: "must be at least SIGNATURE_TOLERANCE_SECONDS".into(),
            });
        }
        Ok(())
    }

    /// The queue for a trigger: its own route, else the `*` route, else `EVENTS_QUEUE_URL`.
    pub fn queue_for(&self, trigger: &str) -> &str {
        self.trigger_queue_urls
            .get(trigger)
            .or_else(|| self.trigger_queue_urls.get("*"))
            .map_or(self.events_queue_url.as_str(), String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::map_env as env;

    #[test]
    fn defaults_apply_and_routes_resolve() {
        let c = IngestConfig::from_env(&env(&[
            ("EVENTS_QUEUE_URL", "q-default"),
            ("TRIGGER_QUEUE_URLS", r#"{"MESSAGE_DELIVERY":"q-delivery"}"#),
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (c.tolerance_seconds, c.max_body_bytes, c.nonce_capacity),
            (600, DEFAULT_MAX_BODY_BYTES, 10_000)
        );
        assert_eq!(c.allowed_services, None);
        assert_eq!(c.queue_for("MESSAGE_DELIVERY"), "q-delivery");
        assert_eq!(c.queue_for("MESSAGE_INBOUND"), "q-default");
    }

    #[test]
    fn star_route_serves_as_default() {
        let c = IngestConfig::from_env(&env(&[
            ("TRIGGER_QUEUE_URLS", r#"{"*":"q-star"}"#),
            ("SERVICES", "a, b"),
        ]));
        let c = c.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.queue_for("OPT_IN"), "q-star");
        assert_eq!(c.allowed_services, Some(vec!["a".into(), "b".into()]));
    }

    #[test]
    fn errors_name_the_variable() {
        let var = |pairs: &[(&str, &str)]| IngestConfig::from_env(&env(pairs)).err().map(|e| e.variable);
        assert_eq!(var(&[]), Some("EVENTS_QUEUE_URL"));
        assert_eq!(
            var(&[("EVENTS_QUEUE_URL", "q"), ("TRIGGER_QUEUE_URLS", "[1]")]),
            Some("TRIGGER_QUEUE_URLS")
        );
        assert_eq!(
            var(&[("EVENTS_QUEUE_URL", "q"), ("TRIGGER_QUEUE_URLS", r#"{"NOPE":"x"}"#)]),
            Some("TRIGGER_QUEUE_URLS")
        );
        assert_eq!(
            var(&[("EVENTS_QUEUE_URL", "q"), ("SIGNATURE_TOLERANCE_SECONDS", "ten")]),
            Some("SIGNATURE_TOLERANCE_SECONDS")
        );
        assert_eq!(
            var(&[("EVENTS_QUEUE_URL", "q"), ("SERVICES", "ok,../bad")]),
            Some("SERVICES")
        );
    }
}
