//! The sender function's settings.

use std::time::Duration;

use crate::config::{ConfigError, Lookup, number, required, service_list};

pub const DEFAULT_AUTH_URL: &str = "https://auth.sinch.com/oauth2/token";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderConfig {
    /// `SERVICES`: the services this sender may send for (required: no `ListSecrets`).
    pub services: Vec<String>,
    /// `SINCH_AUTH_URL`.
    pub auth_url: String,
    /// `CONVERSATION_API_URL`: replaces the regional hosts (tests, local runs).
    pub api_base_override: Option<String>,
    /// `MAX_IN_FLIGHT` (64): requests in flight at once per invocation.
    pub max_in_flight: usize,
    /// `OUTBOUND_QUEUE_URL`: the queue the records come from (for visibility changes).
    pub outbound_queue_url: String,
    /// `DLQ_URL`: where permanent failures go, with their reason.
    pub dlq_url: String,
    /// `SENT_QUEUE_URL`: optional; gets `{correlation_id, message_id, …}` per sent message.
    pub sent_queue_url: Option<String>,
    /// `RETRY_BASE_SECONDS` (10) and `RETRY_MAX_SECONDS` (900).
    pub retry_base: Duration,
    pub retry_max: Duration,
}

impl SenderConfig {
    pub fn from_env(env: &impl Lookup) -> Result<Self, ConfigError> {
        let services = service_list(env)?.filter(|s| !s.is_empty()).ok_or(ConfigError {
            variable: "SERVICES",
            problem: "is required (comma-separated service names)".into(),
        })?;
        let max_in_flight: usize = number(env, "MAX_IN_FLIGHT", 64)?;
        if max_in_flight == 0 {
            return Err(ConfigError {
                variable: "MAX_IN_FLIGHT",
                problem: "must be at least 1".into(),
            });
        }
        Ok(Self {
            services,
            auth_url: env.get("SINCH_AUTH_URL").unwrap_or_else(|| DEFAULT_AUTH_URL.into()),
            api_base_override: env.get("CONVERSATION_API_URL"),
            max_in_flight,
            outbound_queue_url: required(env, "OUTBOUND_QUEUE_URL")?,
            dlq_url: required(env, "DLQ_URL")?,
            sent_queue_url: env.get("SENT_QUEUE_URL"),
            retry_base: Duration::from_secs(number(env, "RETRY_BASE_SECONDS", 10)?),
            retry_max: Duration::from_secs(number(env, "RETRY_MAX_SECONDS", 900)?),
        })
    }
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
                c.api_base_override,
                c.sent_queue_url
            ),
            (DEFAULT_AUTH_URL, 64, None, None)
        );
        assert_eq!(
            (c.retry_base, c.retry_max),
            (Duration::from_secs(10), Duration::from_secs(900))
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
    }
}
