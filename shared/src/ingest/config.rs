//! The webhook function's settings.

use std::collections::HashMap;

pub use crate::config::ConfigError;
use crate::config::{Lookup, number, required, service_list};
use crate::protocol::Trigger;

/// SQS's message limit is 1 MiB including attributes; ours take well under 2 KiB, so a body
/// of up to 1 MiB - 8 KiB always fits.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024 - 8 * 1024;
/// The signature window with the per-environment nonce cache: short, because a captured
/// request can be replayed once to every other environment inside it.
pub const DEFAULT_TOLERANCE_SECONDS: u64 = 600;
/// The window with the shared nonce table: a day, so Sinch's retries of a callback that met an
/// outage still verify if they are not re-signed (its SMS API retries for almost a day).
pub const DEFAULT_TABLE_TOLERANCE_SECONDS: u64 = 86_400;
/// The longest window accepted: a week (Sinch retries for about a day).
pub const MAX_TOLERANCE_SECONDS: u64 = 604_800;
pub const DEFAULT_NONCE_CAPACITY: usize = 10_000;
pub const DEFAULT_NONCE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
/// How long a nonce claim holds while its event is stored: longer than the function can run
/// (20 s; API Gateway gives up at 25 s), so a live claim never lapses under its holder, and
/// short enough that a retry after a crash waits at most this long.
pub const DEFAULT_CLAIM_LEASE_SECONDS: u64 = 60;

/// `Default` has every default and no queue: set `events_queue_url` (tests, the local loop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestConfig {
    /// `SERVICES`: when set, only these service names are served.
    pub allowed_services: Option<Vec<String>>,
    /// `SIGNATURE_TOLERANCE_SECONDS` (86400 with a nonce table, else 600; 0 turns the window off).
    pub tolerance_seconds: u64,
    /// `MAX_BODY_BYTES`.
    pub max_body_bytes: usize,
    /// `EVENTS_QUEUE_URL`: where every trigger goes unless routed elsewhere.
    pub events_queue_url: String,
    /// `TRIGGER_QUEUE_URLS`: JSON object, trigger name (or `*`) -> queue URL.
    pub trigger_queue_urls: HashMap<String, String>,
    /// `NONCE_CACHE_CAPACITY` (10000): nonces one environment remembers without a table.
    pub nonce_capacity: usize,
    /// `NONCE_TABLE_NAME`: the DynamoDB table every environment shares; unset, each
    /// environment remembers its own nonces.
    pub nonce_table: Option<String>,
    /// `NONCE_CLAIM_SECONDS` (60).
    pub claim_lease_seconds: u64,
    /// `NONCE_TIMEOUT_MS` (2000): one nonce-table call, retries included, so claim + enqueue +
    /// confirm fit the function's timeout.
    pub nonce_timeout: std::time::Duration,
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
            nonce_table: None,
            claim_lease_seconds: DEFAULT_CLAIM_LEASE_SECONDS,
            nonce_timeout: DEFAULT_NONCE_TIMEOUT,
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
        let nonce_table = env.get("NONCE_TABLE_NAME").filter(|name| !name.is_empty());
        let default_tolerance = if nonce_table.is_some() {
            DEFAULT_TABLE_TOLERANCE_SECONDS
        } else {
            DEFAULT_TOLERANCE_SECONDS
        };
        let claim_lease_seconds = number(env, "NONCE_CLAIM_SECONDS", DEFAULT_CLAIM_LEASE_SECONDS)?;
        if claim_lease_seconds == 0 {
            return Err(ConfigError {
                variable: "NONCE_CLAIM_SECONDS",
                problem: "must be at least 1".into(),
            });
        }
        let tolerance_seconds = number(env, "SIGNATURE_TOLERANCE_SECONDS", default_tolerance)?;
        if tolerance_seconds > MAX_TOLERANCE_SECONDS || (tolerance_seconds == 0 && nonce_table.is_some()) {
            return Err(ConfigError {
                variable: "SIGNATURE_TOLERANCE_SECONDS",
                problem: format!(
                    "must be between 1 and {MAX_TOLERANCE_SECONDS} (0, no window, only without a nonce table: a table keeps nonces for a bounded time)"
                ),
            });
        }
        if nonce_table.is_some() && tolerance_seconds < DEFAULT_TABLE_TOLERANCE_SECONDS {
            tracing::warn!(
                tolerance_seconds,
                "signature window shorter than a day with a nonce table: Sinch's retries after a longer outage will be refused"
            );
        }
        Ok(Self {
            allowed_services: service_list(env)?,
            tolerance_seconds,
            max_body_bytes: number(env, "MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)?,
            events_queue_url,
            trigger_queue_urls,
            nonce_capacity: number(env, "NONCE_CACHE_CAPACITY", DEFAULT_NONCE_CAPACITY)?,
            nonce_table,
            claim_lease_seconds,
            nonce_timeout: crate::config::millis(env, "NONCE_TIMEOUT_MS", DEFAULT_NONCE_TIMEOUT)?,
        })
    }

    /// Settings that only hold together: a previous secret's grace must cover the signature
    /// window, or a callback signed just before a rotation could be refused inside its window
    /// (a retry Sinch did not re-sign). When `PREVIOUS_SECRET_GRACE_SECONDS` is unset the grace
    /// grows to the window; when it is set too short the function refuses to start.
    pub fn fit_grace(
        &self,
        cache: &mut crate::service_cache::ServiceCacheConfig,
        env: &impl Lookup,
    ) -> Result<(), ConfigError> {
        let window = std::time::Duration::from_secs(self.tolerance_seconds);
        if env.get("PREVIOUS_SECRET_GRACE_SECONDS").is_none() {
            cache.previous_grace = cache.previous_grace.max(window);
        }
        if cache.previous_grace < window {
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
        assert_eq!((c.nonce_table.as_deref(), c.claim_lease_seconds), (None, 60));
        assert_eq!(c.queue_for("MESSAGE_DELIVERY"), "q-delivery");
        assert_eq!(c.queue_for("MESSAGE_INBOUND"), "q-default");
    }

    #[test]
    fn a_nonce_table_widens_the_default_window_and_the_grace_follows() {
        let pairs = [("EVENTS_QUEUE_URL", "q"), ("NONCE_TABLE_NAME", "nonces")];
        let c = IngestConfig::from_env(&env(&pairs)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (c.tolerance_seconds, c.nonce_table.as_deref()),
            (86_400, Some("nonces"))
        );
        let mut cache = crate::service_cache::ServiceCacheConfig::default();
        c.fit_grace(&mut cache, &env(&pairs)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cache.previous_grace.as_secs(), 86_400);

        // An explicit grace shorter than the window is refused, not silently raised.
        let explicit = [
            ("EVENTS_QUEUE_URL", "q"),
            ("NONCE_TABLE_NAME", "nonces"),
            ("PREVIOUS_SECRET_GRACE_SECONDS", "3600"),
        ];
        let mut cache =
            crate::service_cache::ServiceCacheConfig::from_env(&env(&explicit)).unwrap_or_else(|e| panic!("{e}"));
        let err = c.fit_grace(&mut cache, &env(&explicit)).err().map(|e| e.variable);
        assert_eq!(err, Some("PREVIOUS_SECRET_GRACE_SECONDS"));

        // No window with a table would keep nonces for a bounded time but accept any timestamp.
        let zero = [
            ("EVENTS_QUEUE_URL", "q"),
            ("NONCE_TABLE_NAME", "t"),
            ("SIGNATURE_TOLERANCE_SECONDS", "0"),
        ];
        assert_eq!(
            IngestConfig::from_env(&env(&zero)).err().map(|e| e.variable),
            Some("SIGNATURE_TOLERANCE_SECONDS")
        );
        assert_eq!(c.nonce_timeout, DEFAULT_NONCE_TIMEOUT);

        // An empty name (a template that left it blank) is no table.
        let c = IngestConfig::from_env(&env(&[("EVENTS_QUEUE_URL", "q"), ("NONCE_TABLE_NAME", "")]));
        let c = c.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((c.tolerance_seconds, c.nonce_table), (600, None));
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
