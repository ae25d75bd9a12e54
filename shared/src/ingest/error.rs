//! Every way a webhook can fail to be stored, and what each one answers: the HTTP status and
//! code Sinch sees, and the precise reason for logs and metrics. docs/reference.md's "What Sinch sees"
//! table is this file.

use crate::protocol::callback::CallbackError;
use crate::protocol::signature::Rejection;

/// Why a webhook was not stored. [`IngestError::status`] and [`IngestError::code`] are what the
/// caller sees; [`IngestError::reason`] is the precise cause for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    #[error("service name is not valid")]
    InvalidServiceName,
    #[error("body is larger than the limit")]
    BodyTooLarge,
    #[error("body is not valid base64")]
    InvalidBase64,
    #[error("request is not a valid API Gateway event")]
    InvalidRequest,
    #[error("service is not configured")]
    UnknownService,
    #[error("signature rejected: {0}")]
    Signature(Rejection),
    #[error("nonce was already used")]
    Replay,
    /// Another copy of the request is being stored right now; if that fails, this one must be
    /// retried, so it is not refused for good.
    #[error("another request with this nonce is being stored")]
    NonceInFlight,
    /// The nonce table did not answer: fail closed, Sinch retries.
    #[error("nonce store unavailable")]
    ReplayCheckUnavailable,
    #[error("callback rejected: {0}")]
    InvalidCallback(CallbackError),
    /// Signature headers on a body that is not a callback: refused before any hashing, and
    /// answered like a bad signature (Sinch never signs such a body).
    #[error("signed body is not a callback: {0}")]
    NotACallback(CallbackError),
    #[error("secret store unavailable")]
    SecretsUnavailable,
    #[error("service secret is invalid")]
    ServiceMisconfigured,
    /// A service `SERVICES` lists has no secret (deleted, or being recreated): a retry after
    /// the secret is back succeeds, so Sinch is asked to retry.
    #[error("service secret is missing")]
    ServiceSecretMissing,
    #[error("queue unavailable")]
    QueueUnavailable,
    /// SQS refused the message itself (a permanent error: the queue, its policy or key).
    #[error("queue refused the message")]
    QueueRejected,
}

impl IngestError {
    pub fn status(&self) -> u16 {
        match self {
            IngestError::InvalidServiceName
            | IngestError::InvalidBase64
            | IngestError::InvalidRequest
            | IngestError::InvalidCallback(_) => 400,
            IngestError::BodyTooLarge => 413,
            IngestError::UnknownService
            | IngestError::Signature(_)
            | IngestError::Replay
            | IngestError::NotACallback(_) => 401,
            IngestError::SecretsUnavailable
            | IngestError::NonceInFlight
            | IngestError::ReplayCheckUnavailable
            | IngestError::ServiceMisconfigured
            | IngestError::ServiceSecretMissing
            | IngestError::QueueUnavailable
            | IngestError::QueueRejected => 503,
        }
    }

    /// The code returned to the caller. An unknown service, a missing secret and a wrong
    /// signature all read `invalid_signature`, so a caller cannot probe which services exist.
    pub fn code(&self) -> &'static str {
        match self {
            IngestError::UnknownService
            | IngestError::NotACallback(_)
            | IngestError::Signature(Rejection::Mismatch)
            | IngestError::Signature(Rejection::NoSecret) => "invalid_signature",
            // Whatever SQS said, Sinch should retry: the operator can fix a queue.
            IngestError::QueueRejected => "queue_unavailable",
            other => other.reason(),
        }
    }

    /// The precise cause, for logs and metrics only.
    pub fn reason(&self) -> &'static str {
        match self {
            IngestError::InvalidServiceName => "invalid_service_name",
            IngestError::BodyTooLarge => "body_too_large",
            IngestError::InvalidBase64 => "invalid_base64",
            IngestError::InvalidRequest => "invalid_request",
            IngestError::UnknownService => "unknown_service",
            IngestError::Signature(r) => r.code(),
            IngestError::Replay => "replayed_nonce",
            IngestError::NonceInFlight => "nonce_in_flight",
            IngestError::ReplayCheckUnavailable => "replay_check_unavailable",
            IngestError::InvalidCallback(e) => e.code(),
            IngestError::NotACallback(CallbackError::InvalidJson(_)) => "signed_invalid_json",
            IngestError::NotACallback(CallbackError::MissingAppId) => "signed_without_app_id",
            IngestError::SecretsUnavailable => "secrets_unavailable",
            IngestError::ServiceMisconfigured => "service_misconfigured",
            IngestError::ServiceSecretMissing => "service_secret_missing",
            IngestError::QueueUnavailable => "queue_unavailable",
            IngestError::QueueRejected => "queue_rejected",
        }
    }
}

impl IngestError {
    /// One of each variant, with every signature and callback rejection: the list docs/reference.md's
    /// tables are checked against.
    pub fn every() -> Vec<IngestError> {
        use crate::protocol::signature::SIGNATURE_HEADER;
        let mut all = vec![
            IngestError::InvalidServiceName,
            IngestError::BodyTooLarge,
            IngestError::InvalidBase64,
            IngestError::InvalidRequest,
            IngestError::UnknownService,
            IngestError::Replay,
            IngestError::NonceInFlight,
            IngestError::ReplayCheckUnavailable,
            IngestError::SecretsUnavailable,
            IngestError::ServiceMisconfigured,
            IngestError::ServiceSecretMissing,
            IngestError::QueueUnavailable,
            IngestError::InvalidCallback(CallbackError::InvalidJson(String::new())),
            IngestError::InvalidCallback(CallbackError::MissingAppId),
            IngestError::NotACallback(CallbackError::InvalidJson(String::new())),
            IngestError::NotACallback(CallbackError::MissingAppId),
            IngestError::QueueRejected,
        ];
        all.extend(
            [
                Rejection::MissingHeader(SIGNATURE_HEADER),
                Rejection::DuplicateHeader(SIGNATURE_HEADER),
                Rejection::MalformedHeader(SIGNATURE_HEADER),
                Rejection::UnsupportedAlgorithm,
                Rejection::MalformedTimestamp,
                Rejection::Stale,
                Rejection::Future,
                Rejection::Mismatch,
                Rejection::NoSecret,
            ]
            .into_iter()
            .map(IngestError::Signature),
        );
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lists_each_variant_once() {
        let mut reasons: Vec<&str> = IngestError::every().iter().map(IngestError::reason).collect();
        let count = reasons.len();
        reasons.sort_unstable();
        reasons.dedup();
        assert_eq!(reasons.len(), count, "two variants share a reason");
        for e in IngestError::every() {
            // A new variant must be added to `every` (this match stops compiling otherwise).
            match e {
                IngestError::InvalidServiceName
                | IngestError::BodyTooLarge
                | IngestError::InvalidBase64
                | IngestError::InvalidRequest
                | IngestError::UnknownService
                | IngestError::Signature(_)
                | IngestError::Replay
                | IngestError::NonceInFlight
                | IngestError::ReplayCheckUnavailable
                | IngestError::InvalidCallback(_)
                | IngestError::SecretsUnavailable
                | IngestError::ServiceMisconfigured
                | IngestError::ServiceSecretMissing
                | IngestError::QueueUnavailable
                | IngestError::NotACallback(_)
                | IngestError::QueueRejected => {}
            }
        }
    }
}
