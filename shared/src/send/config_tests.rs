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
fn a_first_retry_longer_than_the_longest_is_refused_naming_both() {
    let e = SenderConfig::from_env(&env(&[
        ("SERVICES", "a"),
        ("OUTBOUND_QUEUE_URL", "q"),
        ("DLQ_URL", "d"),
        ("RETRY_BASE_SECONDS", "120"),
        ("RETRY_MAX_SECONDS", "60"),
    ]))
    .err()
    .unwrap_or_else(|| panic!("accepted"));
    assert_eq!(e.variable, "RETRY_BASE_SECONDS");
    assert!(e.to_string().contains("RETRY_MAX_SECONDS"), "{e}");
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
    // What follows a send counts too: three AWS calls of 8 s leave no room in 30 s.
    assert_eq!(
        with(&[("FUNCTION_TIMEOUT_SECONDS", "30"), ("AWS_TIMEOUT_MS", "8000")]),
        Some("SEND_TIMEOUT_MS")
    );
}
