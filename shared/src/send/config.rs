//! The sender function's settings: each declared once as a [`Setting`] (the reference table is
//! rendered from these), parsed through its declaration.

use std::time::Duration;

use crate::config::{ConfigError, Fallback, Kind, Lookup, Setting, Source, Unit};

pub const DEFAULT_AUTH_URL: &str = "https://auth.sinch.com/oauth2/token";
pub const DEFAULT_MAX_IN_FLIGHT: usize = MAX_IN_FLIGHT.default_number() as usize;
pub const DEFAULT_SEND_TIMEOUT: Duration = SEND_TIMEOUT_MS.default_duration();
pub const DEFAULT_RETRY_BASE: Duration = RETRY_BASE_SECONDS.default_duration();
pub const DEFAULT_RETRY_MAX: Duration = RETRY_MAX_SECONDS.default_duration();
pub const DEFAULT_RETRY_FOR: Duration = RETRY_FOR_SECONDS.default_duration();
pub const DEFAULT_FETCH_FAILURE_HOLD: Duration = TOKEN_FAILURE_HOLD_SECONDS.default_duration();
/// Room left after the last possible send for what follows it before the invocation ends:
/// deleting the record (an SQS call of up to `AWS_TIMEOUT_MS`, 5 s) and answering.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(6);

pub const SERVICES: Setting = Setting {
    name: "SERVICES",
    kind: Kind::ServiceNames,
    fallback: Fallback::Required,
    doc: "comma-separated services this sender may use (read by name: no `ListSecrets`)",
    source: Source::Parameter("ServiceNames"),
};
pub const OUTBOUND_QUEUE_URL: Setting = Setting {
    name: "OUTBOUND_QUEUE_URL",
    kind: Kind::Text,
    fallback: Fallback::Required,
    doc: "the queue the records come from (for visibility changes and early deletes)",
    source: Source::Queue("OutboundQueue"),
};
pub const DLQ_URL: Setting = Setting {
    name: "DLQ_URL",
    kind: Kind::Text,
    fallback: Fallback::Required,
    doc: "where records that can never succeed go, with their reason",
    source: Source::Queue("OutboundDeadLetterQueue"),
};
pub const SENT_QUEUE_URL: Setting = Setting {
    name: "SENT_QUEUE_URL",
    kind: Kind::Text,
    fallback: Fallback::Absent,
    doc: "optional: a sent record `{correlation_id, message_id, …}` per message Sinch accepted",
    source: Source::Queue("SentQueue"),
};
pub const SINCH_AUTH_URL: Setting = Setting {
    name: "SINCH_AUTH_URL",
    kind: Kind::Text,
    fallback: Fallback::Text(DEFAULT_AUTH_URL),
    doc: "OAuth2 token endpoint",
    source: Source::Unset,
};
pub const CONVERSATION_API_URL: Setting = Setting {
    name: "CONVERSATION_API_URL",
    kind: Kind::Text,
    fallback: Fallback::Derived("the regional hosts"),
    doc: "base URL override for tests and local runs (`{base}/{region}/v1/projects/…`)",
    source: Source::Unset,
};
pub const SEND_TIMEOUT_MS: Setting = Setting {
    name: "SEND_TIMEOUT_MS",
    kind: Kind::Number {
        unit: Unit::Milliseconds,
        min: 1000,
        max: 60_000,
    },
    fallback: Fallback::Number(10_000),
    doc: "one request to Sinch, connect to last byte; plus 6 s it must fit the function's timeout",
    source: Source::Parameter("SendTimeoutMs"),
};
pub const MAX_IN_FLIGHT: Setting = Setting {
    name: "MAX_IN_FLIGHT",
    kind: Kind::Number {
        unit: Unit::Count,
        min: 1,
        max: 1000,
    },
    fallback: Fallback::Number(64),
    doc: "requests in flight at once per invocation",
    source: Source::Parameter("MaxInFlight"),
};
pub const RETRY_BASE_SECONDS: Setting = Setting {
    name: "RETRY_BASE_SECONDS",
    kind: Kind::Number {
        unit: Unit::Seconds,
        min: 1,
        max: 900,
    },
    fallback: Fallback::Number(10),
    doc: "first retry delay; doubles per receive up to `RETRY_MAX_SECONDS`",
    source: Source::Unset,
};
pub const RETRY_MAX_SECONDS: Setting = Setting {
    name: "RETRY_MAX_SECONDS",
    kind: Kind::Number {
        unit: Unit::Seconds,
        min: 1,
        max: 43_200,
    },
    fallback: Fallback::Number(900),
    doc: "longest retry delay",
    source: Source::Unset,
};
pub const RETRY_FOR_SECONDS: Setting = Setting {
    name: "RETRY_FOR_SECONDS",
    kind: Kind::Number {
        unit: Unit::Seconds,
        min: 60,
        max: 1_209_600,
    },
    fallback: Fallback::Number(86_400),
    doc: "how long a record that can succeed later is retried, from its first receive; then it is dead-lettered with its last cause",
    source: Source::Parameter("RetryForSeconds"),
};
pub const FUNCTION_TIMEOUT_SECONDS: Setting = Setting {
    name: "FUNCTION_TIMEOUT_SECONDS",
    kind: Kind::Number {
        unit: Unit::Seconds,
        min: 1,
        max: 900,
    },
    fallback: Fallback::Absent,
    doc: "the function's timeout (the template sets it); `SEND_TIMEOUT_MS` + 6 s must fit it",
    source: Source::Parameter("SenderTimeoutSeconds"),
};
pub const TOKEN_FAILURE_HOLD_SECONDS: Setting = Setting {
    name: "TOKEN_FAILURE_HOLD_SECONDS",
    kind: Kind::Number {
        unit: Unit::Seconds,
        min: 0,
        max: 300,
    },
    fallback: Fallback::Number(5),
    doc: "a failed token fetch is handed to every caller for this long instead of being repeated",
    source: Source::Unset,
};

/// Every setting of this module, in reference order.
pub const SETTINGS: [&Setting; 13] = [
    &SERVICES,
    &OUTBOUND_QUEUE_URL,
    &DLQ_URL,
    &SENT_QUEUE_URL,
    &SINCH_AUTH_URL,
    &CONVERSATION_API_URL,
    &SEND_TIMEOUT_MS,
    &MAX_IN_FLIGHT,
    &RETRY_BASE_SECONDS,
    &RETRY_MAX_SECONDS,
    &RETRY_FOR_SECONDS,
    &FUNCTION_TIMEOUT_SECONDS,
    &TOKEN_FAILURE_HOLD_SECONDS,
];

/// `Default` has every default and no services or queues: set those (tests, the local loop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderConfig {
    /// [`SERVICES`].
    pub services: Vec<String>,
    /// [`SINCH_AUTH_URL`].
    pub auth_url: String,
    /// [`CONVERSATION_API_URL`]: replaces the regional hosts (tests, local runs).
    pub api_base_override: Option<String>,
    /// [`MAX_IN_FLIGHT`].
    pub max_in_flight: usize,
    /// [`OUTBOUND_QUEUE_URL`].
    pub outbound_queue_url: String,
    /// [`DLQ_URL`].
    pub dlq_url: String,
    /// [`SENT_QUEUE_URL`].
    pub sent_queue_url: Option<String>,
    /// [`RETRY_BASE_SECONDS`] and [`RETRY_MAX_SECONDS`].
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// [`SEND_TIMEOUT_MS`].
    pub send_timeout: Duration,
    /// [`RETRY_FOR_SECONDS`].
    pub retry_for: Duration,
    /// [`TOKEN_FAILURE_HOLD_SECONDS`].
    pub token_failure_hold: Duration,
}

impl Default for SenderConfig {
    fn default() -> Self {
        Self {
            services: Vec::new(),
            auth_url: DEFAULT_AUTH_URL.into(),
            api_base_override: None,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            outbound_queue_url: String::new(),
            dlq_url: String::new(),
            sent_queue_url: None,
            retry_base: DEFAULT_RETRY_BASE,
            retry_max: DEFAULT_RETRY_MAX,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            retry_for: DEFAULT_RETRY_FOR,
            token_failure_hold: DEFAULT_FETCH_FAILURE_HOLD,
        }
    }
}

impl SenderConfig {
    pub fn from_env(env: &impl Lookup) -> Result<Self, ConfigError> {
        let services = SERVICES
            .service_names(env)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ConfigError::new(SERVICES.name, "is required (comma-separated service names)"))?;
        let send_timeout = SEND_TIMEOUT_MS.duration(env)?;
        // The template passes the function's timeout: a send must fit in an invocation, or no
        // record would ever be tried.
        if FUNCTION_TIMEOUT_SECONDS.raw(env).is_some() {
            let timeout = FUNCTION_TIMEOUT_SECONDS.number(env)?;
            if send_timeout + DEADLINE_MARGIN >= Duration::from_secs(timeout) {
                return Err(ConfigError::new(
                    SEND_TIMEOUT_MS.name,
                    format!("plus a 6 s margin must be below the function timeout ({timeout} s)"),
                ));
            }
        }
        Ok(Self {
            services,
            auth_url: SINCH_AUTH_URL.text(env)?,
            api_base_override: CONVERSATION_API_URL.optional(env),
            max_in_flight: MAX_IN_FLIGHT.count(env)?,
            outbound_queue_url: OUTBOUND_QUEUE_URL.text(env)?,
            dlq_url: DLQ_URL.text(env)?,
            sent_queue_url: SENT_QUEUE_URL.optional(env),
            retry_base: RETRY_BASE_SECONDS.duration(env)?,
            retry_max: RETRY_MAX_SECONDS.duration(env)?,
            send_timeout,
            retry_for: RETRY_FOR_SECONDS.duration(env)?,
            token_failure_hold: TOKEN_FAILURE_HOLD_SECONDS.duration(env)?,
        })
    }
}

/// Everything the sender reads at start-up but the AWS and log settings.
pub fn load(env: &impl Lookup) -> Result<(SenderConfig, crate::service_cache::ServiceCacheConfig), ConfigError> {
    Ok((
        SenderConfig::from_env(env)?,
        crate::service_cache::ServiceCacheConfig::for_sender(env)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::map_env as env;

    #[test]
    fn reads_defaults_and_required_values() {
        let c = SenderConfig::from_env(&env(&[
            ("SERVICES", "eu1,us1"),
            ("OUTBOUND_QUEUE_URL", "q"),
            ("DLQ_URL", "d"),
        ]));
        let c = c.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.services, vec!["eu1".to_owned(), "us1".to_owned()]);
        assert_eq!(
            (
                c.auth_url.as_str(),
                c.max_in_flight,
                c.api_base_override.clone(),
                c.sent_queue_url.clone()
            ),
            (DEFAULT_AUTH_URL, 64, None, None)
        );
        assert_eq!(
            (c.retry_base, c.retry_max),
            (Duration::from_secs(10), Duration::from_secs(900))
        );
        assert_eq!(c.send_timeout, Duration::from_secs(10));
        assert_eq!(
            SenderConfig {
                services: c.services.clone(),
                outbound_queue_url: "q".into(),
                dlq_url: "d".into(),
                ..SenderConfig::default()
            },
            c,
            "Default and from_env agree"
        );
    }

    #[test]
    fn errors_name_the_variable() {
        let var = |pairs: &[(&str, &str)]| SenderConfig::from_env(&env(pairs)).err().map(|e| e.variable);
        assert_eq!(var(&[("OUTBOUND_QUEUE_URL", "q"), ("DLQ_URL", "d")]), Some("SERVICES"));
        assert_eq!(var(&[("SERVICES", "a"), ("DLQ_URL", "d")]), Some("OUTBOUND_QUEUE_URL"));
        assert_eq!(var(&[("SERVICES", "a"), ("OUTBOUND_QUEUE_URL", "q")]), Some("DLQ_URL"));
        assert_eq!(
            var(&[
                ("SERVICES", "a"),
                ("OUTBOUND_QUEUE_URL", "q"),
                ("DLQ_URL", "d"),
                ("MAX_IN_FLIGHT", "0")
            ]),
            Some("MAX_IN_FLIGHT")
        );
        let base = [("SERVICES", "a"), ("OUTBOUND_QUEUE_URL", "q"), ("DLQ_URL", "d")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            SenderConfig::from_env(&env(&pairs)).err().map(|e| e.variable)
        };
        assert_eq!(with(&[("FUNCTION_TIMEOUT_SECONDS", "30")]), None);
        assert_eq!(
            with(&[("FUNCTION_TIMEOUT_SECONDS", "12"), ("SEND_TIMEOUT_MS", "10000")]),
            Some("SEND_TIMEOUT_MS"),
            "a send that cannot fit an invocation is refused at start"
        );
    }
}
