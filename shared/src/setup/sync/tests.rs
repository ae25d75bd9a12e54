use super::*;

fn hook(id: &str, target: &str, secret: Option<&str>, triggers: &[&str]) -> Webhook {
    Webhook {
        id: id.into(),
        app_id: "APP".into(),
        target: target.into(),
        target_type: "HTTP".into(),
        secret: secret.map(SecretString::new),
        triggers: triggers.iter().map(|t| (*t).to_owned()).collect(),
    }
}

fn desired(secret: &str, triggers: &[&str]) -> Desired {
    Desired {
        app_id: "APP".into(),
        base: "https://api".into(),
        service: "eu1".into(),
        secret: Some(SecretString::new(secret)),
        triggers: triggers.iter().map(|t| (*t).to_owned()).collect(),
        reset_secret: false,
    }
}

fn record(id: &str, secret: &str) -> WebhookRecord {
    WebhookRecord {
        id: id.into(),
        target: "https://api/webhooks/eu1".into(),
        secret_fingerprint: Some(WebhookSecret::new(SecretString::new(secret)).fingerprint().to_owned()),
    }
}

#[test]
fn creates_when_nothing_targets_us_and_leaves_other_targets_alone() {
    let others = vec![hook("o1", "https://crm/hook", Some("s"), &["MESSAGE_INBOUND"])];
    let Plan::Create(w) = plan(&others, &desired("s", &["MESSAGE_DELIVERY"]), None) else {
        panic!("expected a create")
    };
    assert_eq!(
        (w.target.as_str(), w.target_type.as_str()),
        ("https://api/webhooks/eu1", "HTTP")
    );
}

#[test]
fn patches_only_what_differs_and_nothing_when_equal() {
    let ours = vec![hook(
        "w1",
        "https://api/webhooks/eu1/",
        Some("old"),
        &["MESSAGE_DELIVERY"],
    )];
    match plan(&ours, &desired("new", &["MESSAGE_DELIVERY", "MESSAGE_INBOUND"]), None) {
        Plan::Update {
            mask, added, removed, ..
        } => {
            assert_eq!(mask, vec!["secret", "triggers"]);
            assert_eq!((added, removed), (vec!["MESSAGE_INBOUND".to_owned()], vec![]));
        }
        other => panic!("{other:?}"),
    }
    let same = plan(&ours, &desired("old", &["MESSAGE_DELIVERY"]), None);
    assert_eq!(same, Plan::Unchanged { id: "w1".into() });
}

#[test]
fn a_masked_secret_is_set_once_then_trusted_by_its_record() {
    for shown in [Some("***"), None] {
        let ours = vec![hook("w1", "https://api/webhooks/eu1", shown, &["MESSAGE_DELIVERY"])];
        let want = desired("s", &["MESSAGE_DELIVERY"]);
        let first = plan(&ours, &want, None);
        assert!(
            matches!(&first, Plan::Update { mask, .. } if mask == &vec!["secret"]),
            "{first:?}"
        );
        assert_eq!(
            plan(&ours, &want, Some(&record("w1", "s"))),
            Plan::Unchanged { id: "w1".into() }
        );
        // Another secret recorded, or the record of another webhook: set it again.
        assert!(plan(&ours, &want, Some(&record("w1", "other"))).changes_something());
        let reset = Desired {
            reset_secret: true,
            ..want.clone()
        };
        assert!(plan(&ours, &reset, Some(&record("w1", "s"))).changes_something());
    }
}

#[test]
fn a_recorded_webhook_on_a_custom_domain_is_ours() {
    let hooks = vec![hook(
        "w9",
        "https://in.example/sinch",
        Some("***"),
        &["MESSAGE_DELIVERY"],
    )];
    let mut kept = record("w9", "s");
    kept.target = "https://in.example/sinch".into();
    assert_eq!(
        plan(&hooks, &desired("s", &["MESSAGE_DELIVERY"]), Some(&kept)),
        Plan::Unchanged { id: "w9".into() }
    );
}

#[test]
fn respects_the_limit_of_five_and_the_target_length() {
    let full: Vec<Webhook> = (0..5)
        .map(|i| hook(&format!("o{i}"), &format!("https://other/{i}"), None, &[]))
        .collect();
    assert_eq!(
        plan(&full, &desired("s", &[]), None),
        Plan::LimitReached { existing: 5 }
    );
    // An app at the limit whose webhook already targets us is still updated.
    let mut with_ours = full[..4].to_vec();
    with_ours.push(hook("w1", "https://api/webhooks/eu1", Some("old"), &[]));
    assert!(plan(&with_ours, &desired("new", &[]), None).changes_something());
    let mut long = desired("s", &[]);
    long.base = format!("https://api/{}", "x".repeat(740));
    assert!(matches!(plan(&[], &long, None), Plan::TargetTooLong { .. }));
}

#[test]
fn targets_are_built_from_the_root_or_the_webhook_base() {
    for base in [
        "https://x.example",
        "https://x.example/",
        "https://x.example/webhooks",
        "https://x.example/webhooks/",
    ] {
        assert_eq!(webhook_target(base, "eu1"), "https://x.example/webhooks/eu1", "{base}");
    }
}

#[test]
fn descriptions_never_hold_the_secret() {
    let ours = vec![hook("w1", "https://api/webhooks/eu1", Some("old-canary-1"), &[])];
    let text = plan(&ours, &desired("new-canary-2", &["OPT_IN"]), None).describe();
    assert!(!text.contains("canary") && text.contains("secret"), "{text}");
    let twice = vec![ours[0].clone(), hook("w2", "https://api/webhooks/eu1/", None, &[])];
    assert!(matches!(plan(&twice, &desired("s", &[]), None), Plan::Duplicates { ids } if ids.len() == 2));
}
