use super::*;

fn reply(status: u16, body: &str) -> HttpReply {
    HttpReply {
        status,
        retry_after: None,
        body: body.as_bytes().to_vec(),
        complete: true,
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
            accepted_time: Some("2024-06-18T12:34:56Z".into()),
            answer_complete: true,
        }
    );
    assert_eq!(
        Outcome::from(&reply(202, "not json")),
        Outcome::Sent {
            message_id: None,
            accepted_time: None,
            answer_complete: true,
        }
    );
}

fn cause(outcome: Outcome) -> Option<(RetryCause, Option<u64>, Option<u16>)> {
    match outcome {
        Outcome::Retry {
            cause,
            retry_after,
            http_status,
            ..
        } => Some((cause, retry_after, http_status)),
        _ => None,
    }
}

#[test]
fn transient_statuses_are_retried_with_their_cause() {
    for (status, expected) in [
        (429, RetryCause::RateLimited),
        (500, RetryCause::ServerError),
        (501, RetryCause::ServerError),
        (503, RetryCause::ServerError),
        (408, RetryCause::RequestTimeout),
        (401, RetryCause::AuthRejected),
    ] {
        assert_eq!(
            cause(Outcome::from(&reply(status, ""))),
            Some((expected, None, Some(status)))
        );
    }
    let with_hint = HttpReply {
        status: 429,
        retry_after: Some(7),
        body: vec![],
        complete: true,
    };
    assert_eq!(
        cause(Outcome::from(&with_hint)),
        Some((RetryCause::RateLimited, Some(7), Some(429)))
    );
    let unavailable = reply(503, r#"{"error":{"code":503,"status":"UNAVAILABLE"}}"#);
    let Outcome::Retry { sinch_status, .. } = Outcome::from(&unavailable) else {
        panic!("503 is retried")
    };
    assert_eq!(sinch_status.as_deref(), Some("UNAVAILABLE"));
    assert_eq!(
        cause(Outcome::from(&TransportError::Timeout)),
        Some((RetryCause::Timeout, None, None))
    );
    assert_eq!(
        cause(Outcome::from(&TransportError::Connect)),
        Some((RetryCause::ConnectionError, None, None))
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
fn retry_after_is_a_floor_jittered_and_within_what_sqs_allows() {
    let (base, cap) = (Duration::from_secs(10), Duration::from_secs(900));
    for _ in 0..100 {
        // Sinch asks for more than the backoff: at least that, plus at most half the base.
        let hinted = backoff(1, base, cap, Some(60));
        assert!(
            hinted >= Duration::from_secs(60) && hinted <= Duration::from_secs(65),
            "{hinted:?}"
        );
        // "0" or "1": never sooner than the backoff, so a burst does not return all at once.
        let soon = backoff(1, base, cap, Some(0));
        assert!(soon >= Duration::from_secs(5), "{soon:?}");
        let later = backoff(6, base, cap, Some(1));
        assert!(later >= Duration::from_secs(160), "{later:?}");
    }
    assert_eq!(backoff(1, base, cap, Some(999_999)), MAX_VISIBILITY);
    assert!(MAX_VISIBILITY < Duration::from_secs(12 * 3600));
}

#[test]
fn token_endpoint_failures_are_always_retried_and_a_refused_key_is_named() {
    for (error, expected) in [
        (
            TokenError::Transport(TransportError::Timeout),
            RetryCause::AuthUnavailable,
        ),
        (TokenError::Malformed, RetryCause::AuthUnavailable),
        (TokenError::Status(408), RetryCause::AuthUnavailable),
        (TokenError::Status(429), RetryCause::AuthUnavailable),
        (TokenError::Status(503), RetryCause::AuthUnavailable),
        (TokenError::Status(401), RetryCause::AuthRejected),
        (TokenError::Status(403), RetryCause::AuthRejected),
        (TokenError::Status(404), RetryCause::AuthRejected),
        (TokenError::Status(400), RetryCause::AuthRejected),
        (TokenError::Status(302), RetryCause::AuthRejected),
    ] {
        assert_eq!(cause(Outcome::from(&error)).map(|c| c.0), Some(expected), "{error}");
    }
}

#[test]
fn a_record_that_gives_up_says_why_and_after_what() {
    let dead = DeadLetter::gave_up(
        RetryCause::ServerError,
        Some(503),
        None,
        41,
        Duration::from_secs(86_400),
        false,
    );
    assert_eq!(dead.reason, DeadLetterReason::RetryBudgetExhausted);
    assert_eq!(
        (dead.last_cause, dead.attempts, dead.http_status),
        (Some(RetryCause::ServerError), Some(41), Some(503))
    );
    assert!(
        dead.detail.contains("86400 s") && dead.detail.contains("server_error"),
        "{}",
        dead.detail
    );
    let refused = DeadLetter::gave_up(
        RetryCause::AuthRejected,
        Some(401),
        None,
        3,
        Duration::from_secs(60),
        false,
    );
    assert_eq!(refused.reason, DeadLetterReason::AuthRejected);
    let limit = DeadLetter::gave_up(RetryCause::Timeout, None, None, 1000, Duration::from_secs(60), true);
    assert_eq!(limit.reason, DeadLetterReason::ReceiveLimitReached);
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
    // auth_rejected is both: the cause while retried, the reason once the budget is spent.
    let lists: [Vec<&str>; 2] = [
        RetryCause::ALL.iter().map(RetryCause::as_str).collect(),
        DeadLetterReason::ALL.iter().map(DeadLetterReason::as_str).collect(),
    ];
    for codes in lists {
        let mut seen = std::collections::HashSet::new();
        for code in codes {
            assert!(seen.insert(code), "{code} twice");
            assert!(code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{code}");
        }
    }
}
