//! The sender function's settings.

use std::time::Duration;

use crate::config::{ConfigError, Lookup, millis, number, required, seconds, service_list};

pub const DEFAULT_AUTH_URL: &str = "https://auth.sinch.com/oauth2/token";
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_RETRY_BASE: Duration = Duration::from_secs(10);
pub const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(900);
pub const DEFAULT_RETRY_FOR: Duration = Duration::from_secs(86_400);
pub const DEFAULT_FETCH_FAILURE_HOLD: Duration = Duration::from_secs(5);
/// Room left after the last possible send for what follows it before the invocation ends:
/// deleting the record (an SQS call of up to `AWS_TIMEOUT_MS`, 5 s) and answering.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(6);

/// `Default` has every default and no services or queues: set those (tests, the local loop).
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
    /// `SEND_TIMEOUT_MS` (10000): one request to Sinch, connect to last byte.
    pub send_timeout: Duration,
    /// `RETRY_FOR_SECONDS` (86400): how long a record that can succeed later is retried,
    /// counted from its first receive; then it is dead-lettered with its last cause.
    pub retry_for: Duration,
    /// `TOKEN_FAILURE_HOLD_SECONDS` (5): a failed token fetch is handed to every record
    /// waiting on it, and to those that ask within this time, instead of being repeated.
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
        let services = service_list(env)?.filter(|s| !s.is_empty()).ok_or(ConfigError {
            variable: "SERVICES",
            problem: "is required (comma-separated service names)".into(),
        })?;
        let max_in_flight: usize = number(env, "MAX_IN_FLIGHT", DEFAULT_MAX_IN_FLIGHT)?;
        if max_in_flight == 0 {
            return Err(ConfigError {
                variable: "MAX_IN_FLIGHT",
                problem: "must be at least 1".into(),
            });
        }
        let send_timeout = millis(env, "SEND_TIMEOUT_MS", DEFAULT_SEND_TIMEOUT)?;
        // `FUNCTION_TIMEOUT_SECONDS` (the template passes the function's timeout): a send must
        // fit in an invocation, or no record would ever be tried.
        if let Some(timeout) = env.get("FUNCTION_TIMEOUT_SECONDS") {
            let timeout = timeout.trim().parse::<u64>().map_err(|_| ConfigError {
                variable: "FUNCTION_TIMEOUT_SECONDS",
                problem: "must be a whole number".into(),
            })?;
            if send_timeout + DEADLINE_MARGIN >= Duration::from_secs(timeout) {
                return Err(ConfigError {
                    variable: "SEND_TIMEOUT_MS",
                    problem: format!("plus a 6 s margin must be below the function timeout ({timeout} s)"),
                });
            }
        }
        Ok(Self {
            services,
            auth_url: env.get("SINCH_AUTH_URL").unwrap_or_else(|| DEFAULT_AUTH_URL.into()),
            api_base_override: env.get("CONVERSATION_API_URL"),
            max_in_flight,
            outbound_queue_url: required(env, "OUTBOUND_QUEUE_URL")?,
            dlq_url: required(env, "DLQ_URL")?,
            sent_queue_url: env.get("SENT_QUEUE_URL"),
            retry_base: seconds(env, "RETRY_BASE_SECONDS", DEFAULT_RETRY_BASE)?,
            retry_max: seconds(env, "RETRY_MAX_SECONDS", DEFAULT_RETRY_MAX)?,
            send_timeout,
            retry_for: seconds(env, "RETRY_FOR_SECONDS", DEFAULT_RETRY_FOR)?,
            token_failure_hold: seconds(env, "TOKEN_FAILURE_HOLD_SECONDS", DEFAULT_FETCH_FAILURE_HOLD)?,
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
