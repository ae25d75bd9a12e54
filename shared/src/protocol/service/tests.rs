use super::*;

const FULL: &str = r#"{
  "region": "eu", "project_id": "proj-1", "key_id": "KEY", "key_secret": "KS-do-not-print",
  "webhook_secret": "WH-do-not-print", "sms_sender": "+15550001111",
  "apps": {"APP1": {"webhook_secret": "APP1-override", "sms_sender": "APPSENDER"}, "APP2": {}}
}"#;

fn parse(json: &str) -> Result<MessagingService, ServiceConfigError> {
    MessagingService::from_json("svc", json.as_bytes())
}

fn field_of(json: &str) -> String {
    parse(json).err().map(|e| e.field).unwrap_or_default()
}

#[test]
fn parses_a_full_service() {
    let s = parse(FULL).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.region, Region::Eu);
    assert_eq!(s.project_id, "proj-1");
    assert_eq!(s.key_id, "KEY");
    assert_eq!(s.key_secret.expose(), "KS-do-not-print");
    assert_eq!(s.auth, AuthMode::OAuth2);
    assert!(s.has_app("APP1") && s.has_app("APP2") && !s.has_app("APP3"));
    assert_eq!(
        s.webhook_secret_for("APP1").map(|w| w.secret().expose()),
        Some("APP1-override")
    );
    assert_eq!(
        s.webhook_secret_for("APP2").map(|w| w.secret().expose()),
        Some("WH-do-not-print")
    );
    assert_eq!(
        s.webhook_secret_for("OTHER").map(|w| w.secret().expose()),
        Some("WH-do-not-print")
    );
    assert_eq!(s.sms_sender_for("APP1"), Some("APPSENDER"));
    assert_eq!(s.sms_sender_for("APP2"), Some("+15550001111"));
}

#[test]
fn accepts_contact_pro_packed_credentials() {
    let s = parse(
        r#"{"region":"us","project_id":"p","authentication_id":"KEYID@01APPID","password":"pw","webhook_secret":"w"}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.key_id, "KEYID");
    assert_eq!(s.key_secret.expose(), "pw");
    assert!(s.has_app("01APPID"));
    assert_eq!(s.region, Region::Us);
}

#[test]
fn basic_auth_is_an_option() {
    let s =
        parse(r#"{"region":"br","project_id":"p","key_id":"k","key_secret":"s","auth":"basic","webhook_secret":"w"}"#);
    assert_eq!(s.map(|s| s.auth), Ok(AuthMode::Basic));
}

#[test]
fn errors_name_the_field() {
    let base =
        |extra: &str| format!(r#"{{"project_id":"p","key_id":"k","key_secret":"s","webhook_secret":"w"{extra}}}"#);
    assert_eq!(field_of(&base("")), "region");
    assert_eq!(field_of(&base(r#","region":"in""#)), "region");
    assert_eq!(
        field_of(r#"{"region":"eu","key_id":"k","key_secret":"s","webhook_secret":"w"}"#),
        "project_id"
    );
    assert_eq!(
        field_of(r#"{"region":"eu","project_id":"a/b","key_id":"k","key_secret":"s","webhook_secret":"w"}"#),
        "project_id"
    );
    assert_eq!(
        field_of(r#"{"region":"eu","project_id":"p","key_id":"k","webhook_secret":"w"}"#),
        "key_secret"
    );
    assert_eq!(
        field_of(r#"{"region":"eu","project_id":"p","webhook_secret":"w"}"#),
        "key_id"
    );
    assert_eq!(
        field_of(r#"{"region":"eu","project_id":"p","authentication_id":"nope","password":"x","webhook_secret":"w"}"#),
        "authentication_id"
    );
    assert_eq!(
        field_of(r#"{"region":"eu","project_id":"p","authentication_id":"K@A","webhook_secret":"w"}"#),
        "password"
    );
    assert_eq!(field_of(&base(r#","region":"eu","auth":"digest""#)), "auth");
    assert_eq!(
        field_of(r#"{"region":"eu","project_id":"p","key_id":"k","key_secret":"s"}"#),
        "webhook_secret"
    );
    assert_eq!(
        field_of(&base(r#","region":"eu","apps":{"A":{"webhook_secret":""}}"#)),
        "apps.A.webhook_secret"
    );
    assert_eq!(field_of(&base(r#","region":"eu","apps":{"bad id":{}}"#)), "apps");
    assert_eq!(field_of(&base(r#","region":"eu","regoin":"eu""#)), "(document)");
    assert_eq!(field_of("{not json"), "(json)");
}

#[test]
fn unsigned_webhooks_need_an_explicit_opt_in() {
    let s = parse(r#"{"region":"eu","project_id":"p","key_id":"k","key_secret":"s","allow_unsigned_webhooks":true}"#);
    assert_eq!(
        s.map(|s| (s.allow_unsigned_webhooks, s.webhook_secret)),
        Ok((true, None))
    );
}

#[test]
fn debug_and_errors_never_print_secrets() {
    let s = parse(FULL).unwrap_or_else(|e| panic!("{e}"));
    let dump = format!("{s:?}");
    for secret in ["KS-do-not-print", "WH-do-not-print", "APP1-override"] {
        assert!(!dump.contains(secret), "{dump}");
    }
    let bad = r#"{"region":"eu","project_id":"p","key_id":"k","key_secret":123,"webhook_secret":"WH-do-not-print"}"#;
    let msg = parse(bad).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(!msg.contains("WH-do-not-print") && !msg.is_empty(), "{msg}");
}

#[test]
fn service_names_follow_the_route_charset() {
    for good in ["a", "eu-main", "A_1", &"x".repeat(64)] {
        assert!(is_valid_service_name(good), "{good}");
    }
    for bad in ["", "-a", "_a", "a/b", "..", "a.b", "%2F", "é", &"x".repeat(65)] {
        assert!(!is_valid_service_name(bad), "{bad}");
    }
}
