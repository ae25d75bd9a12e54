use super::*;

fn service() -> MessagingService {
    MessagingService::from_json(
        "svc",
        br#"{"region":"eu","project_id":"p","key_id":"k","key_secret":"s","webhook_secret":"cur","apps":{"A":{}}}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn subject(pending: Option<PendingRotation<'static>>, now: i64, enabled: Option<bool>) -> Subject<'static> {
    Subject {
        name: "svc",
        service: Err(String::new()),
        webhook_base: None,
        channels: &[],
        probe: None,
        pending,
        rotation_enabled: enabled,
        now,
        sightings: None,
    }
}

fn rotation_check(s: &Subject<'_>) -> Option<Check> {
    let mut report = Report::default();
    check_rotation(&mut report, &service(), s);
    report.checks.into_iter().find(|c| c.check == "rotation")
}

#[test]
fn a_pending_secret_past_its_age_fails_with_the_cancel_command_and_one_in_progress_warns() {
    let pending = || PendingRotation {
        secret: "new",
        created: 1000,
        until: 2000,
    };
    let expired = rotation_check(&subject(Some(pending()), 2000, Some(true)));
    assert_eq!(expired.as_ref().map(|c| c.status), Some(Status::Fail));
    assert!(expired.and_then(|c| c.fix).is_some_and(|f| f.contains("--cancel")));
    let running = rotation_check(&subject(Some(pending()), 1999, Some(true)));
    assert_eq!(running.map(|c| c.status), Some(Status::Warn));
    assert_eq!(
        rotation_check(&subject(None, 0, Some(false))).map(|c| c.status),
        Some(Status::Warn)
    );
    assert_eq!(
        rotation_check(&subject(None, 0, Some(true))).map(|c| c.status),
        Some(Status::Pass)
    );
    assert!(rotation_check(&subject(None, 0, None)).is_none());
}
