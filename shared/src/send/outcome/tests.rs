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
    let out = Outcome::from(&reply(
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
        Outcome::from(&reply(202, "not json")),
        Outcome::Sent {
            message_id: None,
            accepted_time: None
        }
    );
}

#[test]
fn transient_statuses_are_retried_with_their_cause() {
    for (status, cause) in [
        (429, RetryCause::RateLimited),
        (500, RetryCause::ServerError),
        (501, RetryCause::ServerError),
        (503, RetryCause::ServerError),
        (408, RetryCause::RequestTimeout),
        (401, RetryCause::Unauthorized),
    ] {
        assert_eq!(
            Outcome::from(&reply(status, "")),
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
        Outcome::from(&with_hint),
        Outcome::Retry {
            cause: RetryCause::RateLimited,
            retry_after: Some(7)
        }
    );
    assert_eq!(
        Outcome::from(&TransportError::Timeout),
        Outcome::Retry {
            cause: RetryCause::Timeout,
            retry_after: None
        }
    );
    assert_eq!(
        Outcome::from(&TransportError::Connect),
        Outcome::Retry {
            cause: RetryCause::ConnectionError,
            retry_after: None
        }
    );
}

#[test]
fn permanent_statuses_are_dead_lettered_with_sinch_reason_in_either_error_form() {
    let wrapped = r#"{"error":{"code":400,"message":"Invalid argument","status":"INVALID_ARGUMENT","details":[]}}"#;
    let Outcome::DeadLetter(dl) = Outcome::from(&reply(400, wrapped)) else {
        panic!("400 is permanent")
    };
    assert_eq!(
        (
            dl.reason.as_str(),
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
    let Outcome::DeadLetter(dl) = Outcome::from(&reply(403, flat)) else {
        panic!("403 is permanent")
    };
    assert_eq!(
        (dl.reason.as_str(), dl.sinch_status.as_deref()),
        ("forbidden", Some("BILLING_CREDIT_LIMIT_BREACHED"))
    );
    let Outcome::DeadLetter(dl) = Outcome::from(&reply(404, "")) else {
        panic!("404 is permanent")
    };
    assert!(dl.detail.contains("region"), "{}", dl.detail);
    assert_eq!(dl.sinch_status, None);
    let Outcome::DeadLetter(dl) = Outcome::from(&reply(422, "[]")) else {
        panic!("422 is permanent")
    };
    assert_eq!(dl.reason.as_str(), "rejected");
}

#[test]
fn long_sinch_messages_are_truncated() {
    let body = format!(r#"{{"error":{{"message":"{}"}}}}"#, "é".repeat(1000));
    let Outcome::DeadLetter(dl) = Outcome::from(&reply(400, &body)) else {
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

#[test]
fn token_endpoint_failures_retry_unless_the_key_is_refused() {
    for transient in [
        TokenError::Transport(TransportError::Timeout),
        TokenError::Malformed,
        TokenError::Status(429),
        TokenError::Status(503),
        TokenError::Status(401),
    ] {
        assert_eq!(
            Outcome::from(&transient),
            Outcome::Retry {
                cause: RetryCause::AuthUnavailable,
                retry_after: None
            },
            "{transient}"
        );
    }
    for permanent in [
        TokenError::Status(400),
        TokenError::Status(403),
        TokenError::Status(302),
    ] {
        let Outcome::DeadLetter(dl) = Outcome::from(&permanent) else {
            panic!("{permanent} is permanent")
        };
        assert_eq!(dl.reason, DeadLetterReason::AuthRejected);
    }
}

#[test]
fn service_lookups_dead_letter_what_is_not_configured_and_retry_what_is_broken() {
    use crate::ports::PortError;
    use crate::protocol::ServiceConfigError;
    let reason = |e: ResolveError| match Outcome::from(e) {
        Outcome::DeadLetter(dl) => Some(dl.reason),
        _ => None,
    };
    assert_eq!(
        reason(ResolveError::NotConfigured),
        Some(DeadLetterReason::UnknownService)
    );
    assert_eq!(
        reason(ResolveError::SecretMissing),
        Some(DeadLetterReason::UnknownService)
    );
    assert_eq!(
        reason(ResolveError::Cache(ServiceCacheError::NotFound)),
        Some(DeadLetterReason::UnknownService)
    );
    assert_eq!(
        reason(ResolveError::NoServiceListsApp),
        Some(DeadLetterReason::UnknownApp)
    );
    let retried = |e: ResolveError| match Outcome::from(e) {
        Outcome::Retry { cause, .. } => Some(cause),
        _ => None,
    };
    assert_eq!(
        retried(ResolveError::Cache(ServiceCacheError::Unavailable(PortError::new(
            "x", "y"
        )))),
        Some(RetryCause::SecretsUnavailable)
    );
    let invalid = ServiceConfigError {
        service: "s".into(),
        field: "region".into(),
        problem: "is required",
    };
    assert_eq!(
        retried(ResolveError::Cache(ServiceCacheError::Invalid(invalid))),
        Some(RetryCause::ServiceMisconfigured)
    );
}

#[test]
fn codes_are_unique_snake_case() {
    let mut seen = std::collections::HashSet::new();
    let codes = RetryCause::ALL
        .iter()
        .map(RetryCause::as_str)
        .chain(DeadLetterReason::ALL.iter().map(DeadLetterReason::as_str));
    for code in codes {
        assert!(seen.insert(code), "{code} twice");
        assert!(code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{code}");
    }
}
