//! What happens to an outbound record, decided here alone: every failure the sender can meet
//! (an envelope, a service lookup, the token endpoint, the transport, Sinch's answer) becomes
//! one [`Outcome`] through one conversion in this file, and how long a retried record waits.
//!
//! Policy: 2xx done; 429, 408, 5xx, no answer at all, and anything the token endpoint or
//! Secrets Manager says are retried (a key or a secret can be fixed), for a retry budget
//! measured in time; other 4xx and 3xx from `messages:send` never succeed and are dead-lettered
//! with Sinch's reason; so are envelopes that do not parse and records whose service or app is
//! not configured. A record still failing when its budget is spent is dead-lettered with the
//! last cause.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::token::TokenError;
use crate::codes::codes;
use crate::ports::{HttpReply, TransportError};
use crate::protocol::EnvelopeError;
use crate::service_cache::ServiceCacheError;

/// SQS caps a message's visibility at 12 hours counted from its receive; the record was received
/// at most a batching window (5 min) and a function timeout (15 min) before its delay is set.
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60 - 20 * 60);

codes! {
    /// Why a record is retried later (the `Cause` of `MessageRetried`).
    RetryCause {
        RateLimited => "rate_limited",
        RequestTimeout => "request_timeout",
        AuthRejected => "auth_rejected",
        ServerError => "server_error",
        Timeout => "timeout",
        ConnectionError => "connection_error",
        TransportError => "transport_error",
        AuthUnavailable => "auth_unavailable",
        SecretsUnavailable => "secrets_unavailable",
        ServiceMisconfigured => "service_misconfigured",
        DlqUnavailable => "dlq_unavailable",
        NotStarted => "not_started",
        Panic => "panic",
        GroupWaiting => "group_waiting",
        StateUnavailable => "state_unavailable",
        RetryQueueUnavailable => "retry_queue_unavailable",
        AppPaced => "app_paced",
    }
}

codes! {
    /// Why a record can never succeed (`dead_letter_reason`, the `Reason` of
    /// `MessageDeadLettered`).
    DeadLetterReason {
        BadRequest => "bad_request",
        Forbidden => "forbidden",
        NotFound => "not_found",
        Rejected => "rejected",
        InvalidEnvelope => "invalid_envelope",
        UnknownService => "unknown_service",
        UnknownApp => "unknown_app",
        AuthRejected => "auth_rejected",
        RetryBudgetExhausted => "retry_budget_exhausted",
        ReceiveLimitReached => "receive_limit_reached",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent {
        message_id: Option<String>,
        accepted_time: Option<String>,
        /// False when Sinch's 2xx answer broke off: accepted, its id unknown.
        answer_complete: bool,
    },
    Retry {
        cause: RetryCause,
        retry_after: Option<u64>,
        /// Sinch's answer, when there was one.
        http_status: Option<u16>,
        sinch_status: Option<String>,
        /// The request may have reached Sinch and been accepted (no answer, or an answer
        /// that broke off before its status): sending again may send it twice.
        maybe_sent: bool,
        /// False when no attempt was made (its service is known to be failing right now).
        attempted: bool,
    },
    DeadLetter(DeadLetter),
    /// Not tried: the invocation's deadline was too close to start a send.
    NotStarted,
    /// Not tried: the app's pace (learned from Sinch's 429s) has no slot for it before this
    /// long.
    Paced(Duration),
}

/// Why a record can never succeed, as it is written on the dead-letter message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub reason: DeadLetterReason,
    pub detail: String,
    pub http_status: Option<u16>,
    pub sinch_status: Option<String>,
    pub sinch_message: Option<String>,
    /// For a record that failed for a while: the cause of its last failure.
    pub last_cause: Option<RetryCause>,
    /// For a record that failed for a while: how often it was tried.
    pub attempts: Option<u32>,
    /// An attempt may have reached Sinch: sending it again may send it twice.
    pub maybe_sent: bool,
}

impl DeadLetter {
    pub fn local(reason: DeadLetterReason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
            http_status: None,
            sinch_status: None,
            sinch_message: None,
            last_cause: None,
            attempts: None,
            maybe_sent: false,
        }
    }

    /// A record still failing with `cause` when it may no longer be retried: its budget is
    /// spent (`retried_for`), or it reached the queue's redrive limit. A key Sinch keeps
    /// refusing is named as such; anything else is an exhausted budget.
    pub fn gave_up(
        cause: RetryCause,
        http_status: Option<u16>,
        sinch_status: Option<String>,
        attempts: u32,
        retried_for: Duration,
        receive_limit: bool,
    ) -> Self {
        let reason = match (receive_limit, cause) {
            (true, _) => DeadLetterReason::ReceiveLimitReached,
            (false, RetryCause::AuthRejected) => DeadLetterReason::AuthRejected,
            (false, _) => DeadLetterReason::RetryBudgetExhausted,
        };
        let detail = if receive_limit {
            format!("reached the outbound queue's maxReceiveCount; last cause {cause}")
        } else {
            format!(
                "still failing {} s after it was enqueued; last cause {cause}",
                retried_for.as_secs()
            )
        };
        Self {
            reason,
            detail,
            http_status,
            sinch_status,
            sinch_message: None,
            last_cause: Some(cause),
            attempts: Some(attempts),
            maybe_sent: false,
        }
    }
}

impl Outcome {
    fn retry(cause: RetryCause) -> Self {
        Outcome::Retry {
            cause,
            retry_after: None,
            http_status: None,
            sinch_status: None,
            maybe_sent: false,
            attempted: true,
        }
    }

    /// Not attempted: the record's service failed moments ago with `cause`.
    pub fn skipped(cause: RetryCause, http_status: Option<u16>) -> Self {
        Outcome::Retry {
            cause,
            retry_after: None,
            http_status,
            sinch_status: None,
            maybe_sent: false,
            attempted: false,
        }
    }

    fn dead(reason: DeadLetterReason, detail: impl Into<String>) -> Self {
        Outcome::DeadLetter(DeadLetter::local(reason, detail))
    }
}

/// Why no messaging service could be picked for a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// The envelope names a service that is not in `SERVICES`.
    NotConfigured,
    /// The named service has no secret.
    SecretMissing,
    /// No configured service lists the record's app.
    NoServiceListsApp,
    /// A service's secret could not be read or does not parse.
    Cache(ServiceCacheError),
}

impl From<ResolveError> for Outcome {
    fn from(error: ResolveError) -> Self {
        use DeadLetterReason::{UnknownApp, UnknownService};
        match error {
            ResolveError::NotConfigured => Outcome::dead(UnknownService, "service is not in SERVICES"),
            ResolveError::SecretMissing | ResolveError::Cache(ServiceCacheError::NotFound) => {
                Outcome::dead(UnknownService, "the service's secret does not exist")
            }
            ResolveError::NoServiceListsApp => Outcome::dead(UnknownApp, "no configured service lists this app"),
            ResolveError::Cache(ServiceCacheError::Unavailable(_)) => Outcome::retry(RetryCause::SecretsUnavailable),
            // A secret being fixed: retry rather than dead-letter every record of the service.
            ResolveError::Cache(ServiceCacheError::Invalid(_)) => Outcome::retry(RetryCause::ServiceMisconfigured),
        }
    }
}

/// An envelope that does not parse will not parse later either.
impl From<&EnvelopeError> for Outcome {
    fn from(error: &EnvelopeError) -> Self {
        Outcome::dead(DeadLetterReason::InvalidEnvelope, error.to_string())
    }
}

/// The token endpoint's answer is never about the message: whatever it says, the record is
/// retried (within its budget). A refusal of the key (401, 403, any other 4xx, a redirect: a
/// wrong `SINCH_AUTH_URL` or a key being rotated) is `auth_rejected`, which an operator must
/// fix; being unreachable, slow, rate limited or failing is `auth_unavailable`.
impl From<&TokenError> for Outcome {
    fn from(error: &TokenError) -> Self {
        let (cause, http_status) = match error {
            TokenError::Transport(_) | TokenError::Malformed => (RetryCause::AuthUnavailable, None),
            TokenError::Status(s @ (408 | 429 | 500..=599)) => (RetryCause::AuthUnavailable, Some(*s)),
            TokenError::Status(s) => (RetryCause::AuthRejected, Some(*s)),
        };
        Outcome::Retry {
            cause,
            retry_after: None,
            http_status,
            sinch_status: None,
            maybe_sent: false,
            attempted: true,
        }
    }
}

/// No answer at all: Sinch may or may not have the message; retry. Only a connection that was
/// never made is known not to have delivered it.
impl From<&TransportError> for Outcome {
    fn from(error: &TransportError) -> Self {
        let (cause, maybe_sent) = match error {
            TransportError::Timeout => (RetryCause::Timeout, true),
            TransportError::Connect => (RetryCause::ConnectionError, false),
            TransportError::Other(_) => (RetryCause::TransportError, true),
        };
        Outcome::Retry {
            cause,
            retry_after: None,
            http_status: None,
            sinch_status: None,
            maybe_sent,
            attempted: true,
        }
    }
}

/// Sinch's answer to `messages:send` (a first 401 is handled before this, by refreshing the
/// token once; a second one lands here and is retried).
impl From<&HttpReply> for Outcome {
    fn from(reply: &HttpReply) -> Self {
        let retry = |cause| Outcome::Retry {
            cause,
            retry_after: reply.retry_after,
            http_status: Some(reply.status),
            sinch_status: parse_error(&reply.body).status,
            maybe_sent: false,
            attempted: true,
        };
        match reply.status {
            // A 2xx is Sinch's acceptance whatever becomes of its body: sending again would
            // send the message twice.
            200..=299 => {
                let parsed: Option<SendReply> = serde_json::from_slice(&reply.body).ok();
                let (message_id, accepted_time) = parsed.map(|r| (r.message_id, r.accepted_time)).unwrap_or_default();
                Outcome::Sent {
                    message_id,
                    accepted_time,
                    answer_complete: reply.complete,
                }
            }
            429 => retry(RetryCause::RateLimited),
            408 => retry(RetryCause::RequestTimeout),
            // A second 401, after a fresh token: the key itself is refused.
            401 => retry(RetryCause::AuthRejected),
            500..=599 => retry(RetryCause::ServerError),
            status => {
                let error = parse_error(&reply.body);
                let (reason, detail) = match status {
                    400 => (DeadLetterReason::BadRequest, "Sinch refused the request as malformed"),
                    403 => (
                        DeadLetterReason::Forbidden,
                        "the credentials are not allowed for this project, or the project is blocked",
                    ),
                    404 => (
                        DeadLetterReason::NotFound,
                        "the app or project was not found: the app's region may not match the service's region",
                    ),
                    _ => (DeadLetterReason::Rejected, "Sinch refused the request"),
                };
                Outcome::DeadLetter(DeadLetter {
                    reason,
                    detail: detail.to_owned(),
                    http_status: Some(status),
                    sinch_status: error.status,
                    sinch_message: error.message.map(|m| truncate(&m, 256)),
                    last_cause: None,
                    attempts: None,
                    maybe_sent: false,
                })
            }
        }
    }
}

#[derive(Deserialize, Default)]
struct SinchError {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

/// Sinch's error body, wrapped (`{"error":{…}}`, the runtimeError schema) or flat (the spec's
/// examples); anything else yields nothing.
fn parse_error(body: &[u8]) -> SinchError {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return SinchError::default();
    };
    let inner = match value.get("error") {
        Some(inner @ Value::Object(_)) => inner.clone(),
        _ => value,
    };
    serde_json::from_value(inner).unwrap_or_default()
}

#[derive(Deserialize)]
struct SendReply {
    #[serde(default)]
    message_id: Option<String>,
    #[serde(default)]
    accepted_time: Option<String>,
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// How long a record retried for the `receive_count`-th time stays hidden: exponential from
/// `base`, capped at `cap`, with jitter in the upper half so retries of a burst spread out.
/// Sinch's `Retry-After` is a floor, never a shortcut: the delay is the longer of the two (a
/// hint wins with up to `base / 2` of jitter added, so a burst told "0" or "1" does not come
/// back at once, all together). Never more than SQS allows ([`MAX_VISIBILITY`]).
pub fn backoff(receive_count: u32, base: Duration, cap: Duration, retry_after: Option<u64>) -> Duration {
    let exponent = receive_count.saturating_sub(1).min(20);
    let full = base.saturating_mul(1u32 << exponent).min(cap).min(MAX_VISIBILITY);
    let millis = u64::try_from(full.as_millis()).unwrap_or(u64::MAX);
    let computed = Duration::from_millis(fastrand::u64(millis / 2..=millis));
    let delay = match retry_after.map(Duration::from_secs) {
        Some(hint) if hint >= computed => {
            let spread = u64::try_from(base.as_millis() / 2).unwrap_or(0);
            hint.saturating_add(Duration::from_millis(fastrand::u64(0..=spread)))
        }
        _ => computed,
    };
    delay.min(MAX_VISIBILITY)
}

#[cfg(test)]
mod tests;
