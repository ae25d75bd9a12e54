//! The webhook function's settings: each declared once as a [`Setting`] (the reference table
//! is rendered from these), parsed through its declaration.

use std::collections::HashMap;
use std::time::Duration;

use crate::config::{ConfigError, Fallback, Kind, Lookup, Relation, Setting, Source, Unit};
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
pub const DEFAULT_NONCE_CAPACITY: usize = NONCE_CACHE_CAPACITY.default_number() as usize;
pub const DEFAULT_NONCE_TIMEOUT: Duration = NONCE_TIMEOUT_MS.default_duration();
/// How long a nonce claim holds while its event is stored: longer than the function can run
/// (20 s; API Gateway gives up at 25 s), so a live claim never lapses under its holder, and
/// short enough that a retry after a crash waits at most this long.
pub const DEFAULT_CLAIM_LEASE_SECONDS: u64 = NONCE_CLAIM_SECONDS.default_number();

pub const EVENTS_QUEUE_URL: Setting = Setting {
    name: "EVENTS_QUEUE_URL",
    kind: Kind::Text,
    fallback: Fallback::Required,
    doc: "where callbacks go (FIFO when the URL ends in `.fifo`); may be left out when `TRIGGER_QUEUE_URLS` has a `*` route",
    source: Source::Queue("EventsQueue"),
};
pub const TRIGGER_QUEUE_URLS: Setting = Setting {
    name: "TRIGGER_QUEUE_URLS",
    kind: Kind::Json,
    fallback: Fallback::Absent,
    doc: "JSON object, trigger name (or `*`) to queue URL, e.g. `{\"MESSAGE_DELIVERY\":\"https://…/deliveries.fifo\"}`",
    source: Source::Unset,
};
pub const SERVICES: Setting = Setting {
    name: "SERVICES",
    kind: Kind::ServiceNames,
    fallback: Fallback::Absent,
    doc: "comma-separated allow-list of service names; unset, any service with a secret is served",
    source: Source::Parameter("ServiceNames"),
};
pub const NONCE_TABLE_NAME: Setting = Setting {
    name: "NONCE_TABLE_NAME",
    kind: Kind::Text,
    fallback: Fallback::Absent,
    doc: "the DynamoDB nonce table every environment shares; unset or empty, each environment remembers its own nonces",
    source: Source::Table("NonceTable"),
};
pub const SIGNATURE_TOLERANCE_SECONDS: Setting = Setting {
    name: "SIGNATURE_TOLERANCE_SECONDS",
    kind: Kind::Number {
        unit: Unit::Seconds,
        min: 1,
        max: MAX_TOLERANCE_SECONDS,
    },
    fallback: Fallback::Derived("86400 with a nonce table, else 600"),
    doc: "accepted age of the signature timestamp, both directions; no 0: a window of none would make every captured request replayable once its nonce is forgotten",
    source: Source::Parameter("SignatureWindowSeconds"),
};
pub const NONCE_CLAIM_SECONDS: Setting = Setting {
    name: "NONCE_CLAIM_SECONDS",
    kind: Kind::Number {
        unit: Unit::Seconds,
        min: 1,
        max: 3600,
    },
    fallback: Fallback::Number(60),
    doc: "how long a nonce claim holds while its event is stored; a retry after an environment died waits at most this long",
    source: Source::Unset,
};
pub const NONCE_TIMEOUT_MS: Setting = Setting {
    name: "NONCE_TIMEOUT_MS",
    kind: Kind::Number {
        unit: Unit::Milliseconds,
        min: 100,
        max: 60_000,
    },
    fallback: Fallback::Number(2000),
    doc: "one nonce-table call, the SDK's retries included",
    source: Source::Unset,
};
pub const MAX_BODY_BYTES: Setting = Setting {
    name: "MAX_BODY_BYTES",
    kind: Kind::Number {
        unit: Unit::Bytes,
        min: 1024,
        max: DEFAULT_MAX_BODY_BYTES as u64,
    },
    fallback: Fallback::Number(DEFAULT_MAX_BODY_BYTES as u64),
    doc: "larger bodies get 413 before any hashing (the default fits SQS's 1 MiB with attributes)",
    source: Source::Unset,
};
pub const NONCE_CACHE_CAPACITY: Setting = Setting {
    name: "NONCE_CACHE_CAPACITY",
    kind: Kind::Number {
        unit: Unit::Count,
        min: 1,
        max: 1_000_000,
    },
    fallback: Fallback::Number(10_000),
    doc: "nonces remembered per environment without a nonce table (oldest evicted first)",
    source: Source::Unset,
};

/// Every setting of this module, in reference order.
pub const SETTINGS: [&Setting; 9] = [
    &EVENTS_QUEUE_URL,
    &TRIGGER_QUEUE_URLS,
    &SERVICES,
    &NONCE_TABLE_NAME,
    &SIGNATURE_TOLERANCE_SECONDS,
    &NONCE_CLAIM_SECONDS,
    &NONCE_TIMEOUT_MS,
    &MAX_BODY_BYTES,
    &NONCE_CACHE_CAPACITY,
];

/// The rules between this function's settings (and the secret cache's and the AWS client's)
/// that no single bound holds; [`load`] checks them.
pub const RELATIONS: [Relation; 2] = [
    Relation {
        setting: &crate::service_cache::SECRET_REFRESH_MIN_INTERVAL_SECONDS,
        other: &crate::service_cache::SECRET_CACHE_TTL_SECONDS,
        rule: "must not exceed SECRET_CACHE_TTL_SECONDS: a reload a signature mismatch asks for may not be rarer than the reload the cache makes by itself",
    },
    Relation {
        setting: &NONCE_CLAIM_SECONDS,
        other: &NONCE_TIMEOUT_MS,
        rule: "must outlast what follows a claim, an SQS call (AWS_TIMEOUT_MS) and the confirmation (NONCE_TIMEOUT_MS): a claim that lapsed under its holder lets a retry store the event twice",
    },
];

/// `Default` has every default and no queue: set `events_queue_url` (tests, the local loop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestConfig {
    /// [`SERVICES`]: when set, only these service names are served.
    pub allowed_services: Option<Vec<String>>,
    /// [`SIGNATURE_TOLERANCE_SECONDS`].
    pub tolerance_seconds: u64,
    /// [`MAX_BODY_BYTES`].
    pub max_body_bytes: usize,
    /// [`EVENTS_QUEUE_URL`]: where every trigger goes unless routed elsewhere.
    pub events_queue_url: String,
    /// [`TRIGGER_QUEUE_URLS`]: trigger name (or `*`) -> queue URL.
    pub trigger_queue_urls: HashMap<String, String>,
    /// [`NONCE_CACHE_CAPACITY`].
    pub nonce_capacity: usize,
    /// [`NONCE_TABLE_NAME`].
    pub nonce_table: Option<String>,
    /// [`NONCE_CLAIM_SECONDS`].
    pub claim_lease_seconds: u64,
    /// [`NONCE_TIMEOUT_MS`]: so claim + enqueue + confirm fit the function's timeout.
    pub nonce_timeout: Duration,
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
        let trigger_queue_urls: HashMap<String, String> = TRIGGER_QUEUE_URLS
            .json(env, "a JSON object of trigger name to queue URL")?
            .unwrap_or_default();
        if let Some(bad) = trigger_queue_urls
            .keys()
            .find(|k| *k != "*" && Trigger::from_name(k).is_none())
        {
            return Err(ConfigError::new(
                TRIGGER_QUEUE_URLS.name,
                format!("{bad:?} is not a trigger name"),
            ));
        }
        let events_queue_url = match EVENTS_QUEUE_URL.raw(env) {
            Some(url) => url,
            None => trigger_queue_urls
                .get("*")
                .cloned()
                .map_or_else(|| EVENTS_QUEUE_URL.text(env), Ok)?,
        };
        let nonce_table = NONCE_TABLE_NAME.optional(env);
        let tolerance_seconds = signature_window(env)?;
        if nonce_table.is_some() && tolerance_seconds < DEFAULT_TABLE_TOLERANCE_SECONDS {
            tracing::warn!(
                tolerance_seconds,
                "signature window shorter than a day with a nonce table: Sinch's retries after a longer outage will be refused"
            );
        }
        Ok(Self {
            allowed_services: SERVICES.service_names(env)?,
            tolerance_seconds,
            max_body_bytes: MAX_BODY_BYTES.count(env)?,
            events_queue_url,
            trigger_queue_urls,
            nonce_capacity: NONCE_CACHE_CAPACITY.count(env)?,
            nonce_table,
            claim_lease_seconds: NONCE_CLAIM_SECONDS.number(env)?,
            nonce_timeout: NONCE_TIMEOUT_MS.duration(env)?,
        })
    }

    /// The queue for a trigger: its own route, else the `*` route, else `EVENTS_QUEUE_URL`.
    pub fn queue_for(&self, trigger: &str) -> &str {
        self.trigger_queue_urls
            .get(trigger)
            .or_else(|| self.trigger_queue_urls.get("*"))
            .map_or(self.events_queue_url.as_str(), String::as_str)
    }
}

/// Everything webhook-ingest reads at start-up but the AWS and log settings: its own settings
/// and the secret cache's. Refuses what the function would refuse.
pub fn load(env: &impl Lookup) -> Result<(IngestConfig, crate::service_cache::ServiceCacheConfig), ConfigError> {
    let ingest = IngestConfig::from_env(env)?;
    let cache = crate::service_cache::ServiceCacheConfig::for_ingest(env)?;
    let [refresh_vs_ttl, claim_vs_calls] = &RELATIONS;
    refresh_vs_ttl.check(
        cache.refresh_min_interval <= cache.ttl,
        cache.refresh_min_interval.as_secs(),
        cache.ttl.as_secs(),
    )?;
    let after_claim = crate::config::runtime::AWS_TIMEOUT_MS.duration(env)? + ingest.nonce_timeout;
    claim_vs_calls.check(
        std::time::Duration::from_secs(ingest.claim_lease_seconds) > after_claim,
        format!("{} s", ingest.claim_lease_seconds),
        format!(
            "{} ms, with AWS_TIMEOUT_MS {} ms in all",
            ingest.nonce_timeout.as_millis(),
            after_claim.as_millis()
        ),
    )?;
    Ok((ingest, cache))
}

/// The signature window a deployment uses: `SIGNATURE_TOLERANCE_SECONDS`, else a day with a
/// nonce table and 10 minutes without. The rotation function reads it too, to give a retired
/// secret a grace at least as long.
pub fn signature_window(env: &impl Lookup) -> Result<u64, ConfigError> {
    let default = if NONCE_TABLE_NAME.optional(env).is_some() {
        DEFAULT_TABLE_TOLERANCE_SECONDS
    } else {
        DEFAULT_TOLERANCE_SECONDS
    };
    SIGNATURE_TOLERANCE_SECONDS.number_or(env, default)
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
    fn a_nonce_table_widens_the_default_window() {
        let pairs = [("EVENTS_QUEUE_URL", "q"), ("NONCE_TABLE_NAME", "nonces")];
        let c = IngestConfig::from_env(&env(&pairs)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (c.tolerance_seconds, c.nonce_table.as_deref()),
            (86_400, Some("nonces"))
        );
        assert_eq!(signature_window(&env(&pairs)), Ok(86_400));

        assert_eq!(c.nonce_timeout, DEFAULT_NONCE_TIMEOUT);

        // An empty name (a template that left it blank) is no table.
        let c = IngestConfig::from_env(&env(&[("EVENTS_QUEUE_URL", "q"), ("NONCE_TABLE_NAME", "")]));
        let c = c.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((c.tolerance_seconds, c.nonce_table), (600, None));
    }

    #[test]
    fn settings_that_contradict_each_other_are_refused_at_start_naming_both() {
        let base = [("EVENTS_QUEUE_URL", "q")];
        let refused = |extra: &[(&'static str, &'static str)]| {
            let pairs: Vec<(&str, &str)> = base.iter().chain(extra).copied().collect();
            load(&env(&pairs)).err()
        };
        assert_eq!(refused(&[]), None, "the defaults agree");
        let e = refused(&[
            ("SECRET_CACHE_TTL_SECONDS", "20"),
            ("SECRET_REFRESH_MIN_INTERVAL_SECONDS", "60"),
        ]);
        let e = e.unwrap_or_else(|| panic!("accepted"));
        assert_eq!(e.variable, "SECRET_REFRESH_MIN_INTERVAL_SECONDS");
        assert!(e.to_string().contains("SECRET_CACHE_TTL_SECONDS"), "{e}");
        let e = refused(&[("NONCE_CLAIM_SECONDS", "5"), ("AWS_TIMEOUT_MS", "5000")]);
        let e = e.unwrap_or_else(|| panic!("accepted"));
        assert_eq!(e.variable, "NONCE_CLAIM_SECONDS");
        assert!(
            e.to_string().contains("NONCE_TIMEOUT_MS") && e.to_string().contains("AWS_TIMEOUT_MS"),
            "{e}"
        );
        assert_eq!(
            refused(&[("NONCE_CLAIM_SECONDS", "8"), ("AWS_TIMEOUT_MS", "5000")]),
            None
        );
    }

    /// No window would accept any timestamp while nonces are kept for a bounded time: in
    /// instance mode the same captured request was stored again every 10 minutes, forever.
    #[test]
    fn a_window_of_zero_is_refused_at_start_in_both_replay_modes() {
        for table in [None, Some("nonces")] {
            let mut pairs = vec![("EVENTS_QUEUE_URL", "q"), ("SIGNATURE_TOLERANCE_SECONDS", "0")];
            pairs.extend(table.map(|t| ("NONCE_TABLE_NAME", t)));
            let err = IngestConfig::from_env(&env(&pairs)).err();
            assert_eq!(
                err.map(|e| e.variable),
                Some("SIGNATURE_TOLERANCE_SECONDS"),
                "{table:?}"
            );
        }
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
