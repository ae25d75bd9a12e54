//! What one `messages:send` answer means for the record that caused it, and how long a
//! retried record waits. Policy (sinch-protocol.md section 4): 2xx done; 429, 5xx, 408 and no
//! answer retried; other 4xx never succeed and are dead-lettered with Sinch's reason.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::ports::{HttpReply, TransportError};

/// SQS caps a visibility timeout at 12 hours.
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent {
        message_id: Option<String>,
        accepted_time: Option<String>,
    },
    Retry {
        cause: &'static str,
        retry_after: Option<u64>,
    },
    DeadLetter(DeadLetter),
}

/// Why a record can never succeed, as it is written on the dead-letter message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Stable reason code (`bad_request`, `forbidden`, `not_found`, `invalid_envelope`, …).
    pub reason: &'static str,
    pub detail: String,
    pub http_status: Option<u16>,
    pub sinch_status: Option<String>,
    pub sinch_message: Option<String>,
}

impl DeadLetter {
    pub fn local(reason: &'static str, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
            http_status: None,
            sinch_status: None,
            sinch_message: None,
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

/// Classifies an answer (401 is handled before this, by refreshing the token once).
pub fn classify_reply(reply: &HttpReply) -> Outcome {
    match reply.status {
        200..=299 => {
            let parsed: Option<SendReply> = serde_json::from_slice(&reply.body).ok();
            let (message_id, accepted_time) = parsed.map(|r| (r.message_id, r.accepted_time)).unwrap_or_default();
            Outcome::Sent {
                message_id,
                accepted_time,
            }
        }
        429 => Outcome::Retry {
            cause: "rate_limited",
            retry_after: reply.retry_after,
        },
        408 => Outcome::Retry {
            cause: "request_timeout",
            retry_after: reply.retry_after,
        },
        401 => Outcome::Retry {
            cause: "unauthorized",
            retry_after: reply.retry_after,
        },
        500..=599 => Outcome::Retry {
            cause: "server_error",
            retry_after: reply.retry_after,
        },
        status => {
            let error = parse_error(&reply.body);
            let (reason, detail) = match status {
                400 => ("bad_request", "Sinch refused the request as malformed"),
                403 => (
                    "forbidden",
                    "the credentials are not allowed for this project, or the project is blocked",
                ),
                404 => (
                    "not_found",
                    "the app or project was not found: the app's region may not match the service's region",
                ),
                _ => ("rejected", "Sinch refused the request"),
            };
            Outcome::DeadLetter(DeadLetter {
                reason,
                detail: detail.to_owned(),
                http_status: Some(status),
                sinch_status: error.status,
                sinch_message: error.message.map(|m| truncate(&m, 256)),
            })
        }
    }
}

pub fn transport_outcome(error: &TransportError) -> Outcome {
    Outcome::Retry {
        cause: error.code(),
        retry_after: None,
    }
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// How long a record retried for the `receive_count`-th time stays hidden: exponential from
/// `base`, capped, with jitter in the upper half so retries of a burst spread out. Sinch's
/// `Retry-After` wins when given.
pub fn backoff(receive_count: u32, base: Duration, cap: Duration, retry_after: Option<u64>) -> Duration {
    if let Some(seconds) = retry_after {
        return Duration::from_secs(seconds).min(MAX_VISIBILITY);
    }
    let exponent = receive_count.saturating_sub(1).min(20);
    let full = base.saturating_mul(1u32 << exponent).min(cap).min(MAX_VISIBILITY);
    let millis = u64::try_from(full.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(fastrand::u64(millis / 2..=millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> HttpReply {
        HttpReply {
            status,
            retry_after: None,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn success_reads_message_id_and_accepted_time() {
        let out = classify_reply(&reply(
            200,
            r#"{"message_id":"M1","accepted_time":"2024-06-18T12:34:56Z"}"#,
        ));
        assert_eq!(
            out,
            Outcome::Sent {
                message_id: Some("M1".into()),
                accepted_time: Some("2024-06-18T12:34:56Z".into())
            }
        );
        assert_eq!(
            classify_reply(&reply(202, "not json")),
            Outcome::Sent {
                message_id: None,
                accepted_time: None
            }
        );
    }

    #[test]
    fn transient_statuses_are_retried_with_their_cause() {
        for (status, cause) in [
            (429, "rate_limited"),
            (500, "server_error"),
            (501, "server_error"),
            (503, "server_error"),
            (408, "request_timeout"),
            (401, "unauthorized"),
        ] {
            assert_eq!(
                classify_reply(&reply(status, "")),
                Outcome::Retry {
                    cause,
                    retry_after: None
                },
                "{status}"
            );
        }
        let with_hint = HttpReply {
            status: 429,
            retry_after: Some(7),
            body: vec![],
        };
        assert_eq!(
            classify_reply(&with_hint),
            Outcome::Retry {
                cause: "rate_limited",
                retry_after: Some(7)
            }
        );
        assert_eq!(
            transport_outcome(&TransportError::Timeout),
            Outcome::Retry {
                cause: "timeout",
                retry_after: None
            }
        );
        assert_eq!(
            transport_outcome(&TransportError::Connect),
            Outcome::Retry {
                cause: "connection_error",
                retry_after: None
            }
        );
    }

    #[test]
    fn permanent_statuses_are_dead_lettered_with_sinch_reason_in_either_error_form() {
        let wrapped = r#"{"error":{"code":400,"message":"Invalid argument","status":"INVALID_ARGUMENT","details":[]}}"#;
        let Outcome::DeadLetter(dl) = classify_reply(&reply(400, wrapped)) else {
            panic!("400 is permanent")
        };
        assert_eq!(
            (
                dl.reason,
                dl.http_status,
                dl.sinch_status.as_deref(),
                dl.sinch_message.as_deref()
            ),
            (
                "bad_request",
                Some(400),
                Some("INVALID_ARGUMENT"),
                Some("Invalid argument")
            )
        );
        let flat = r#"{"code":403,"message":"no","status":"BILLING_CREDIT_LIMIT_BREACHED"}"#;
        let Outcome::DeadLetter(dl) = classify_reply(&reply(403, flat)) else {
            panic!("403 is permanent")
        };
        assert_eq!(
            (dl.reason, dl.sinch_status.as_deref()),
            ("forbidden", Some("BILLING_CREDIT_LIMIT_BREACHED"))
        );
        let Outcome::DeadLetter(dl) = classify_reply(&reply(404, "")) else {
            panic!("404 is permanent")
        };
        assert!(dl.detail.contains("region"), "{}", dl.detail);
        assert_eq!(dl.sinch_status, None);
        let Outcome::DeadLetter(dl) = classify_reply(&reply(422, "[]")) else {
            panic!("422 is permanent")
        };
        assert_eq!(dl.reason, "rejected");
    }

    #[test]
    fn long_sinch_messages_are_truncated() {
        let body = format!(r#"{{"error":{{"message":"{}"}}}}"#, "é".repeat(1000));
        let Outcome::DeadLetter(dl) = classify_reply(&reply(400, &body)) else {
            panic!("permanent")
        };
        assert_eq!(dl.sinch_message.map(|m| m.chars().count()), Some(257));
    }

    #[test]
    fn backoff_grows_exponentially_within_jitter_and_cap() {
        let base = Duration::from_secs(10);
        let cap = Duration::from_secs(900);
        for _ in 0..100 {
            let first = backoff(1, base, cap, None);
            assert!(first >= Duration::from_secs(5) && first <= base, "{first:?}");
            let third = backoff(3, base, cap, None);
            assert!(
                third >= Duration::from_secs(20) && third <= Duration::from_secs(40),
                "{third:?}"
            );
            let late = backoff(30, base, cap, None);
            assert!(late >= cap / 2 && late <= cap, "{late:?}");
        }
    }

    #[test]
    fn retry_after_wins_and_is_capped_at_twelve_hours() {
        assert_eq!(
            backoff(1, Duration::from_secs(10), Duration::from_secs(900), Some(3)),
            Duration::from_secs(3)
        );
        assert_eq!(
            backoff(1, Duration::from_secs(10), Duration::from_secs(900), Some(999_999)),
            MAX_VISIBILITY
        );
    }
}
