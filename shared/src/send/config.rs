//! The sender function's settings: each declared once as a [`Setting`] (the reference table is
//! rendered from these), parsed through its declaration.

use std::time::Duration;

use crate::config::{ConfigError, Fallback, Kind, Lookup, Relation, Setting, Source, Unit};

pub const DEFAULT_AUTH_URL: &str = "https://auth.sinch.com/oauth2/token";
pub const DEFAULT_MAX_IN_FLIGHT: usize = MAX_IN_FLIGHT.default_number() as usize;
pub const DEFAULT_SEND_TIMEOUT: Duration = SEND_TIMEOUT_MS.default_duration();
pub const DEFAULT_RETRY_BASE: Duration = RETRY_BASE_SECONDS.default_duration();
pub const DEFAULT_RETRY_MAX: Duration = RETRY_MAX_SECONDS.default_duration();
pub const DEFAULT_RETRY_FOR: Duration = RETRY_FOR_SECONDS.default_duration();
pub const DEFAULT_FETCH_FAILURE_HOLD: Duration = TOKEN_FAILURE_HOLD_SECONDS.default_duration();
/// The AWS calls that may follow a record's send, one after another, before the invocation
/// ends: a sent record is deleted and published; a failed one is counted in its group, moved
/// to the retry queue and deleted. Each may take `AWS_TIMEOUT_MS`.
pub const FOLLOW_UP_CALLS: u32 = 3;
/// Answering Lambda, and the clocks' difference.
pub const DEADLINE_SLACK: Duration = Duration::from_secs(1);

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
pub const RETRY_QUEUE_URL: Setting = Setting {
    name: "RETRY_QUEUE_URL",
    kind: Kind::Text,
    fallback: Fallback::Absent,
    doc: "where a record that failed on the outbound queue waits its retries, off the queue every destination shares; unset, records are retried in place",
    source: Source::Queue("OutboundRetryQueue"),
};
pub const STATE_TABLE_NAME: Setting = Setting {
    name: "STATE_TABLE_NAME",
    kind: Kind::Text,
    fallback: Fallback::Absent,
    doc: "the DynamoDB table of FIFO groups waiting in the retry queue and of records an attempt may have delivered; required with a FIFO retry queue",
    source: Source::Table("SenderStateTable"),
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
    doc: "one request to Sinch, connect to last byte; with 3 AWS calls of `AWS_TIMEOUT_MS` and 1 s it must fit the function's timeout",
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
    doc: "the function's timeout (the template sets it); `SEND_TIMEOUT_MS` + 3 × `AWS_TIMEOUT_MS` + 1 s must fit it",
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

/// The first retry may not wait longer than any retry ([`SenderConfig::from_env`] checks it;
/// `SEND_TIMEOUT_MS` against `FUNCTION_TIMEOUT_SECONDS` is checked there too, with the calls
/// that follow a send).
pub const RETRY_BASE_NOT_ABOVE_MAX: Relation = Relation {
    setting: &RETRY_BASE_SECONDS,
    other: &RETRY_MAX_SECONDS,
    rule: "must not exceed RETRY_MAX_SECONDS: the first retry would wait longer than the longest",
};

/// Every setting of this module, in reference order.
pub const SETTINGS: [&Setting; 15] = [
    &SERVICES,
    &OUTBOUND_QUEUE_URL,
    &RETRY_QUEUE_URL,
    &STATE_TABLE_NAME,
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
    /// [`RETRY_QUEUE_URL`].
    pub retry_queue_url: Option<String>,
    /// [`STATE_TABLE_NAME`].
    pub state_table: Option<String>,
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
    /// `AWS_TIMEOUT_MS`: how long each AWS call after a send may take.
    pub aws_timeout: Duration,
    /// Learn each app's pace from Sinch's 429s (`app_pace.rs`). Off only to measure what it
    /// saves (BENCHMARKS.md); no setting turns it off in a deployment.
    pub pace_apps: bool,
}

impl Default for SenderConfig {
    fn default() -> Self {
        Self {
            services: Vec::new(),
            auth_url: DEFAULT_AUTH_URL.into(),
            api_base_override: None,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            outbound_queue_url: String::new(),
            retry_queue_url: None,
            state_table: None,
            dlq_url: String::new(),
            sent_queue_url: None,
            retry_base: DEFAULT_RETRY_BASE,
            retry_max: DEFAULT_RETRY_MAX,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            retry_for: DEFAULT_RETRY_FOR,
            token_failure_hold: DEFAULT_FETCH_FAILURE_HOLD,
            aws_timeout: crate::config::runtime::AWS_TIMEOUT_MS.default_duration(),
            pace_apps: true,
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
        let aws_timeout = crate::config::runtime::AWS_TIMEOUT_MS.duration(env)?;
        // The template passes the function's timeout: a send and what follows it must fit in an
        // invocation, or no record would ever be tried.
        if FUNCTION_TIMEOUT_SECONDS.raw(env).is_some() {
            let timeout = FUNCTION_TIMEOUT_SECONDS.number(env)?;
            let needed = send_timeout + deadline_margin(aws_timeout);
            if needed >= Duration::from_secs(timeout) {
                return Err(ConfigError::new(
                    SEND_TIMEOUT_MS.name,
                    format!(
                        "plus {FOLLOW_UP_CALLS} AWS calls of AWS_TIMEOUT_MS ({} ms) and {} s ({} ms in all) must be below FUNCTION_TIMEOUT_SECONDS ({timeout} s)",
                        aws_timeout.as_millis(),
                        DEADLINE_SLACK.as_secs(),
                        needed.as_millis()
                    ),
                ));
            }
        }
        let (retry_base, retry_max) = (RETRY_BASE_SECONDS.duration(env)?, RETRY_MAX_SECONDS.duration(env)?);
        RETRY_BASE_NOT_ABOVE_MAX.check(retry_base <= retry_max, retry_base.as_secs(), retry_max.as_secs())?;
        let retry_queue_url = RETRY_QUEUE_URL.optional(env);
        let state_table = STATE_TABLE_NAME.optional(env);
        if retry_queue_url.as_deref().is_some_and(crate::ports::is_fifo) && state_table.is_none() {
            return Err(ConfigError::new(
                STATE_TABLE_NAME.name,
                "is required with a FIFO RETRY_QUEUE_URL: a group's order across the two queues is kept there",
            ));
        }
        Ok(Self {
            services,
            retry_queue_url,
            state_table,
            auth_url: SINCH_AUTH_URL.text(env)?,
            api_base_override: CONVERSATION_API_URL.optional(env),
            max_in_flight: MAX_IN_FLIGHT.count(env)?,
            outbound_queue_url: OUTBOUND_QUEUE_URL.text(env)?,
            dlq_url: DLQ_URL.text(env)?,
            sent_queue_url: SENT_QUEUE_URL.optional(env),
            retry_base,
            retry_max,
            send_timeout,
            retry_for: RETRY_FOR_SECONDS.duration(env)?,
            token_failure_hold: TOKEN_FAILURE_HOLD_SECONDS.duration(env)?,
            aws_timeout,
            pace_apps: true,
        })
    }

    /// What must be left of the invocation when a send starts: the send itself and everything
    /// that can follow it.
    pub fn send_window(&self) -> Duration {
        self.send_timeout + deadline_margin(self.aws_timeout)
    }
}

/// Room after a send for the calls that follow it ([`FOLLOW_UP_CALLS`]) and for answering.
pub fn deadline_margin(aws_timeout: Duration) -> Duration {
    aws_timeout * FOLLOW_UP_CALLS + DEADLINE_SLACK
}

/// Everything the sender reads at start-up but the AWS and log settings.
pub fn load(env: &impl Lookup) -> Result<(SenderConfig, crate::service_cache::ServiceCacheConfig), ConfigError> {
    Ok((
        SenderConfig::from_env(env)?,
        crate::service_cache::ServiceCacheConfig::for_sender(env)?,
    ))
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
